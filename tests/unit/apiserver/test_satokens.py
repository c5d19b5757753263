"""Service-account JWTs: signing, verification and the claims kube-apiserver puts in them."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from skiff.apiserver import satokens

NOW = 1_800_000_000
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**change: Any) -> dict[str, Any]:
    c = satokens.claims_for(namespace="ns", account="sa", account_uid="u1", audiences=list(satokens.API_AUDIENCES),
                            now=NOW, expiration_seconds=3600,
                            bound=satokens.BoundObject("Pod", "p", "pu"))
    c.update(change)
    return c


def test_claims_are_kubernetes_shaped() -> None:
    c = claims()
    assert c["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert c["sub"] == "system:serviceaccount:ns:sa"
    assert (c["iat"], c["nbf"], c["exp"]) == (NOW, NOW, NOW + 3600)
    assert c["kubernetes.io"] == {"namespace": "ns", "serviceaccount": {"name": "sa", "uid": "u1"},
                                  "pod": {"name": "p", "uid": "pu"}}


def test_round_trip_and_user() -> None:
    token = satokens.sign(KEY, claims())
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert head == {"alg": "RS256", "kid": satokens.key_id(KEY.public_key())}
    user = satokens.user_of(satokens.verify(KEY.public_key(), token, now=NOW + 10))
    assert user.username == "system:serviceaccount:ns:sa"
    assert user.groups == ["system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"]
    assert user.bound == satokens.BoundObject("Pod", "p", "pu")


def _tamper_alg(token: str) -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    return ".".join([head, *token.split(".")[1:]])


@pytest.mark.parametrize(("token", "now", "why"), [
    (satokens.sign(KEY, claims()), NOW + 3600, "expired"),
    (satokens.sign(KEY, claims()), NOW - 120, "not valid yet"),
    (satokens.sign(KEY, claims(iss="https://other")), NOW, "issuer"),
    (satokens.sign(KEY, claims(aud=["vault"])), NOW, "audiences"),
    (satokens.sign(KEY, claims(sub="system:serviceaccount:ns:admin")), NOW, "sub"),
    (satokens.sign(OTHER, claims()), NOW, "signature"),
    (_tamper_alg(satokens.sign(KEY, claims())), NOW, "RS256"),
    ("not.a.jwt", NOW, "malformed"),
], ids=["expired", "future", "issuer", "audience", "sub", "foreign-key", "alg-none", "garbage"])
def test_refused(token: str, now: int, why: str) -> None:
    with pytest.raises(satokens.TokenError, match=why):
        satokens.verify(KEY.public_key(), token, now=now)


def test_signing_key_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "sa.key"
    first = satokens.ensure_signing_key(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = satokens.ensure_signing_key(path)
    assert satokens.key_id(first.public_key()) == satokens.key_id(again.public_key())
