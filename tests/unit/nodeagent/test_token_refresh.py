"""When the agent renews a projected service-account token (the kubelet's token manager)."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from skiff.nodeagent.kubelet.projections import token_refresh_at
from skiff.nodeagent.kubelet.volumes import Volumes


@pytest.mark.parametrize(("issued", "expires", "want"), [
    (1000, 1000 + 3607, 1000 + 0.8 * 3607),
    (0, 600, 480),
    (0, 10 * 24 * 3600, 24 * 3600),  # a long-lived token is still renewed daily
    (50, 40, 50),  # already expired: now
], ids=["kube-api-access", "shortest", "capped-at-a-day", "expired"])
def test_refresh_at(issued: float, expires: float, want: float) -> None:
    assert token_refresh_at(issued, expires) == pytest.approx(want)


class RecordingClient:
    """Answers TokenRequests as the API server does, recording each one."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, req: Any) -> dict[str, Any]:
        body = json.loads(req.body)
        self.sent.append((req.path, body))
        exp = self.clock[0] + body["spec"]["expirationSeconds"]
        return {"status": {"token": f"token-{len(self.sent)}", "expirationTimestamp":
                           dt.datetime.fromtimestamp(exp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}


POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {"serviceAccountName": "sa"}}
SRC = {"path": "token", "expirationSeconds": 3600}


def test_token_is_cached_until_80_percent_of_its_life(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    client = RecordingClient(clock)
    vols = Volumes(client, str(tmp_path), objects=object())
    vols.clock = lambda: clock[0]

    def token() -> bytes:
        return asyncio.run(vols._token(POD, SRC, volume="v"))

    assert token() == b"token-1"
    path, body = client.sent[0]
    assert path == "/api/v1/namespaces/ns/serviceaccounts/sa/token"
    assert body["spec"] == {"audiences": [], "expirationSeconds": 3600,
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1"}}
    assert vols.token_refresh_in("u1") == pytest.approx(0.8 * 3600)
    clock[0] += 0.79 * 3600
    assert token() == b"token-1" and len(client.sent) == 1
    clock[0] += 0.02 * 3600
    assert token() == b"token-2" and len(client.sent) == 2
    assert vols.token_refresh_in("u1") == pytest.approx(0.8 * 3600)
    assert vols.token_refresh_in("other") is None
    vols.remove("u1")
    assert vols.token_refresh_in("u1") is None
