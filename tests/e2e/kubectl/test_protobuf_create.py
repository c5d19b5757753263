"""kubectl 1.32 and 1.33 send ``kubectl create ...`` bodies as protobuf: a real ``skiff server`` accepts them.

Each command is checked twice: kubectl reports success, and what the server stored (read back as
JSON) holds the values given on the command line.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

KUBECTLS = {v: f"/usr/lib/google-cloud-sdk/bin/kubectl.1.{v}" for v in (32, 33)}


@pytest.mark.parametrize("minor", sorted(KUBECTLS), ids=lambda v: f"kubectl-1.{v}")
def test_create_subcommands_send_protobuf_and_are_stored(minor: int, skiff_server_session, unique_name: str,
                                                         tmp_path: Path) -> None:
    binary = KUBECTLS[minor]
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is missing: the protobuf check needs it")
    env = dict(skiff_server_session.env(), HOME=str(tmp_path))
    ns = unique_name

    def kubectl(*args: str, namespaced: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [binary, *(["-n", ns] if namespaced else []), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, f"kubectl {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
        return out

    def get(kind: str, name: str) -> dict:
        return json.loads(kubectl("get", kind, name, "-o", "json").stdout)

    created = kubectl("create", "namespace", ns, "-v=8", namespaced=False)
    assert "application/vnd.kubernetes.protobuf" in created.stderr  # else this test checks nothing
    try:
        assert kubectl("get", "namespace", ns, "-o", "jsonpath={.metadata.name}", namespaced=False).stdout == ns

        blob = tmp_path / "blob.bin"
        blob.write_bytes(b"\x00\x01\xfe\xff")
        kubectl("create", "configmap", "conf", "--from-literal=greeting=hello", f"--from-file={blob}")
        cm = get("configmap", "conf")
        assert cm["data"] == {"greeting": "hello"}
        assert base64.b64decode(cm["binaryData"]["blob.bin"]) == b"\x00\x01\xfe\xff"

        kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2")
        deploy = get("deployment", "web")
        assert deploy["spec"]["replicas"] == 2
        assert deploy["spec"]["selector"] == {"matchLabels": {"app": "web"}}
        assert [c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]] == ["busybox"]
        kubectl("create", "deployment", "idle", "--image=busybox", "--replicas=0")
        assert get("deployment", "idle")["spec"]["replicas"] == 0

        kubectl("create", "secret", "generic", "s", "--from-literal=a=b")
        secret = get("secret", "s")
        assert secret["type"] == "Opaque" and base64.b64decode(secret["data"]["a"]) == b"b"

        kubectl("create", "service", "clusterip", "web", "--tcp=80:8080")
        (port,) = get("service", "web")["spec"]["ports"]
        assert (port["port"], port["targetPort"], port["protocol"]) == (80, 8080, "TCP")
    finally:
        subprocess.run([binary, "delete", "namespace", ns, "--wait=false"], capture_output=True, env=env,
                       timeout=60, check=False)
