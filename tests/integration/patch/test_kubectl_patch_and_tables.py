"""Real kubectl (1.27 and 1.33) against a real skiff server: the three patch types, server-side
apply conflicts, and the server-printed tables kubectl shows."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, skiff_server

pytestmark = pytest.mark.integration

KUBECTLS = {v: Path(f"/usr/lib/google-cloud-sdk/bin/kubectl.1.{v}") for v in ("27", "33")}

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: nginx
        image: nginx:1
"""


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server without controllers, so no status writer races the managedFields checks."""
    with skiff_server(tmp_path_factory.mktemp("patch-server"), args=("--disable", "scheduler,controllers")) as server:
        yield server


@pytest.fixture(params=sorted(KUBECTLS), ids=lambda v: f"kubectl-1.{v}")
def kubectl(request: pytest.FixtureRequest, quiet_server: RunningServer, unique_name: str):
    binary = KUBECTLS[request.param]
    if not binary.exists():
        pytest.skip(f"peer tool absent: {binary}")
    env = dict(os.environ, KUBECONFIG=str(quiet_server.kubeconfig))
    ns = unique_name[:50]

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(binary), "-n", ns, *args], input=stdin, capture_output=True, text=True, env=env,
                              timeout=60)
        if ok and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}\n{quiet_server.log_tail()}")
        return proc

    # apply, not `create namespace`: kubectl 1.33's typed create sends protobuf, which is not this test's subject
    subprocess.run([str(binary), "apply", "-f", "-"], input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n",
                   env=env, check=True, capture_output=True, text=True, timeout=60)
    try:
        yield run
    finally:
        subprocess.run([str(binary), "delete", "namespace", ns, "--wait=false"], env=env, capture_output=True,
                       timeout=60)


POD_AND_SERVICE = """
apiVersion: v1
kind: Pod
metadata: {name: p1, labels: {app: p1}}
spec:
  restartPolicy: Never
  containers: [{name: main, image: busybox, command: [sleep, "1000"]}]
---
apiVersion: v1
kind: Service
metadata: {name: s1}
spec:
  type: NodePort
  selector: {app: p1}
  ports: [{port: 80, targetPort: 8080}]
"""


def header(text: str) -> list[str]:
    return text.splitlines()[0].split()


def test_tables_patches_and_server_side_apply(kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=DEPLOYMENT.format(replicas=2))
    assert header(kubectl("get", "deployments").stdout) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    wide = kubectl("get", "deployments", "-o", "wide").stdout
    assert header(wide)[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide.splitlines()[1].split()[-3:] == ["nginx", "nginx:1", "app=web"]

    kubectl("patch", "deployment", "web", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}')
    kubectl("patch", "deployment", "web", "--type=merge", "-p", '{"metadata":{"labels":{"tier":"front"}}}')
    kubectl("patch", "deployment", "web", "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    obj = json.loads(kubectl("get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    assert sorted(c["name"] for c in obj["spec"]["template"]["spec"]["containers"]) == ["nginx", "side"]
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert obj["spec"]["replicas"] == 4
    managers = {e["manager"] for e in obj["metadata"]["managedFields"]}
    assert "kubectl-patch" in managers

    bad = kubectl("patch", "deployment", "web", "--type=json", "-p", '[{"op":"remove","path":"/spec/nope"}]', ok=False)
    assert bad.returncode != 0 and "nope" in bad.stderr

    conflict = kubectl("apply", "--server-side", "-f", "-", stdin=DEPLOYMENT.format(replicas=2), ok=False)
    assert conflict.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas' in conflict.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=DEPLOYMENT.format(replicas=2))
    obj = json.loads(kubectl("get", "deployment", "web", "-o", "json", "--show-managed-fields").stdout)
    assert obj["spec"]["replicas"] == 2
    assert any(e["manager"] == "kubectl" and e["operation"] == "Apply" for e in obj["metadata"]["managedFields"])


def test_pod_and_service_tables(kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=POD_AND_SERVICE)
    pods = kubectl("get", "pods", "-o", "wide").stdout
    assert header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                            "READINESS", "GATES"]
    assert pods.splitlines()[1].split()[:2] == ["p1", "0/1"]
    svc = kubectl("get", "services").stdout.splitlines()
    assert header("\n".join(svc)) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    cells = svc[1].split()
    assert cells[1] == "NodePort" and cells[4].startswith("80:") and cells[4].endswith("/TCP")
