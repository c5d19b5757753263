"""Service-account tokens: RS256 JWTs with Kubernetes' claims, signed and checked (pure).

kube-apiserver's ``--service-account-issuer`` is ``https://kubernetes.default.svc.cluster.local``
here, and its API audiences default to the issuer, as they do there. What a token is bound to
(a Pod or a Secret) rides in the private ``kubernetes.io`` claim; whether that object and the
service account still exist is the caller's question (:mod:`.tokenreview`), not this module's.
Only RS256 is produced and accepted: a token whose header names any other algorithm is refused
before its signature is looked at.
"""
from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
MIN_EXPIRATION = 600
DEFAULT_EXPIRATION = 3600
MAX_EXPIRATION = 1 << 32
BINDABLE_KINDS = ("Pod", "Secret")
Claims = dict[str, Any]


class TokenError(Exception):
    """The token is not one this server accepts (the reason is for logs, never for the client)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ensure_signing_key(path: Path) -> rsa.RSAPrivateKey:
    """The service-account key (``pki/sa.key``, as kubeadm names it), made once and kept."""
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        tmp.chmod(0o600)
        tmp.replace(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def key_id(public: rsa.RSAPublicKey) -> str:
    """kube-apiserver's ``kid``: the URL-safe SHA-256 of the public key's DER."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


@dataclass(frozen=True)
class BoundObject:
    kind: str  # Pod | Secret
    name: str
    uid: str


def claims_for(*, namespace: str, account: str, account_uid: str, audiences: list[str], now: int,
               expiration_seconds: int, bound: BoundObject | None = None) -> Claims:
    """The claims kube-apiserver's TokenRequest puts in a token (without ``node`` and
    ``warnafter``: Skiff does not bind to nodes nor extend expirations)."""
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": account, "uid": account_uid}}
    if bound is not None:
        private[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
    return {"aud": list(audiences), "exp": now + expiration_seconds, "iat": now, "nbf": now, "iss": ISSUER,
            "jti": str(uuid.uuid4()), "kubernetes.io": private,
            "sub": f"system:serviceaccount:{namespace}:{account}"}


def sign(key: rsa.RSAPrivateKey, claims: Claims) -> str:
    header = {"alg": "RS256", "kid": key_id(key.public_key())}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def verify(public: rsa.RSAPublicKey, token: str, *, now: int, audiences: tuple[str, ...] = API_AUDIENCES,
           leeway: int = 60) -> Claims:
    """The claims of a token signed by ``public`` for one of ``audiences``, valid at ``now``
    (with kube-apiserver's 60 s leeway on nbf/iat); :class:`TokenError` otherwise."""
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = orjson.loads(_unb64(head_b64))
        claims = orjson.loads(_unb64(body_b64))
        signature = _unb64(sig_b64)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise TokenError(f"malformed token: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise TokenError("token is not signed with RS256")
    try:
        public.verify(signature, f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise TokenError("invalid signature") from None
    if not isinstance(claims, dict):
        raise TokenError("claims are not an object")
    if claims.get("iss") != ISSUER:
        raise TokenError(f"issuer {claims.get('iss')!r} is not {ISSUER}")
    aud = claims.get("aud")
    aud_list = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not set(aud_list) & set(audiences):
        raise TokenError("token audiences are not the server's")
    for field in ("exp", "iat", "nbf"):
        if not isinstance(claims.get(field), int):
            raise TokenError(f"claim {field} missing")
    if now >= claims["exp"]:
        raise TokenError("token has expired")
    if claims["nbf"] > now + leeway or claims["iat"] > now + leeway:
        raise TokenError("token is not valid yet")
    private = claims.get("kubernetes.io")
    if not isinstance(private, dict) or not isinstance(private.get("serviceaccount"), dict):
        raise TokenError("no kubernetes.io service account claim")
    if claims.get("sub") != f"system:serviceaccount:{private.get('namespace')}:{private['serviceaccount'].get('name')}":
        raise TokenError("sub does not match the service account claim")
    return claims


@dataclass(frozen=True)
class ServiceAccountUser:
    """Who a verified token speaks for, as kube-apiserver's authenticator names it."""

    namespace: str
    name: str
    uid: str
    bound: BoundObject | None

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def groups(self) -> list[str]:
        return ["system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated"]


def user_of(claims: Claims) -> ServiceAccountUser:
    private = claims["kubernetes.io"]
    sa = private["serviceaccount"]
    bound = None
    for kind in BINDABLE_KINDS:
        ref = private.get(kind.lower())
        if isinstance(ref, dict):
            bound = BoundObject(kind, str(ref.get("name", "")), str(ref.get("uid", "")))
    return ServiceAccountUser(str(private.get("namespace", "")), str(sa.get("name", "")), str(sa.get("uid", "")),
                              bound)
