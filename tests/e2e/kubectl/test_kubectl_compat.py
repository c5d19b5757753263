"""The real kubectl (1.27 and 1.33) against a real ``skiff server``: everyday verbs and bad input."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

KUBECTLS = {v: f"/usr/lib/google-cloud-sdk/bin/kubectl.1.{v}" for v in (27, 33)}


class Kubectl:
    def __init__(self, binary: str, env: dict[str, str], namespace: str) -> None:
        self.binary, self.env, self.namespace = binary, env, namespace

    def run(self, *args: str, input: str | None = None, check: bool = True, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([self.binary, "-n", self.namespace, *args], input=input, capture_output=True,
                             text=True, env={**self.env, **(env or {})}, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out


def deployment(name: str, *, replicas: int = 2, image: str = "busybox:1.36", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          labels: {{app: {name}}}
        spec:
          replicas: {replicas}
          selector:
            matchLabels: {{app: {name}}}
          template:
            metadata:
              labels: {{app: {name}}}
            spec:
              containers:
              - name: web
                image: {image}
                ports: [{{containerPort: 80}}]
        {extra}""")


@pytest.fixture(params=sorted(KUBECTLS), ids=lambda v: f"kubectl-1.{v}")
def kubectl(request: pytest.FixtureRequest, skiff_server_session, unique_name: str) -> Iterator[Kubectl]:
    binary = KUBECTLS[request.param]
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is missing: the compatibility check needs it")
    env = dict(skiff_server_session.env(), HOME=str(skiff_server_session.data_dir / f"home-{request.param}"))
    k = Kubectl(binary, env, unique_name)
    k.run("create", "namespace", unique_name)
    try:
        yield k
    finally:
        k.run("delete", "namespace", unique_name, "--wait=false", check=False)


def test_version_and_discovery(kubectl: Kubectl) -> None:
    out = kubectl.run("version", "-o", "json")
    assert json.loads(out.stdout)["serverVersion"]["gitVersion"].startswith("v1.")
    resources = kubectl.run("api-resources").stdout
    for line in ("deployments", "deploy", "apps/v1", "pods", "po", "cronjobs", "leases"):
        assert line in resources
    assert "namespaces" in kubectl.run("api-resources", "--namespaced=false", "-o", "name").stdout


def test_apply_get_and_output_formats(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(deployment("web"))
    assert kubectl.run("apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/web created"
    assert kubectl.run("apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/web unchanged"
    manifest.write_text(deployment("web", replicas=3))
    assert kubectl.run("apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/web configured"
    table = kubectl.run("get", "deployments").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[0] == "web"
    wide = kubectl.run("get", "deploy", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    obj = json.loads(kubectl.run("get", "deploy", "web", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 3 and obj["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    assert "replicas: 3" in kubectl.run("get", "deploy", "web", "-o", "yaml").stdout
    assert kubectl.run("get", "deploy", "-o", "name").stdout.strip() == "deployment.apps/web"
    assert kubectl.run("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout \
        == "busybox:1.36"
    assert kubectl.run("get", "deploy", "-l", "app=web", "-o", "name").stdout.strip() == "deployment.apps/web"
    assert kubectl.run("get", "deploy", "-l", "app=other", "-o", "name").stdout.strip() == ""
    assert "app=web" in kubectl.run("get", "deploy", "--show-labels").stdout
    everywhere = kubectl.run("get", "deploy", "-A").stdout.splitlines()
    assert everywhere[0].split()[0] == "NAMESPACE"
    assert any(line.split()[:2] == [kubectl.namespace, "web"] for line in everywhere[1:])


def test_server_side_apply_and_conflict(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "ssa.yaml"
    manifest.write_text(deployment("ssa"))
    assert "serverside-applied" in kubectl.run("apply", "--server-side", "-f", str(manifest)).stdout
    kubectl.run("scale", "deploy", "ssa", "--replicas=5")
    manifest.write_text(deployment("ssa", replicas=4))
    clash = kubectl.run("apply", "--server-side", "-f", str(manifest), check=False)
    assert clash.returncode != 0 and "conflict" in clash.stderr.lower() and ".spec.replicas" in clash.stderr
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert kubectl.run("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}").stdout == "4"


def test_patch_label_annotate_scale(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=deployment("p"))
    kubectl.run("patch", "deploy", "p", "--type=merge", "-p", '{"spec":{"replicas":4}}')
    kubectl.run("patch", "deploy", "p", "--type=json", "-p",
                '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"busybox:1.37"}]')
    kubectl.run("patch", "deploy", "p", "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.36"}]}}}}')
    obj = json.loads(kubectl.run("get", "deploy", "p", "-o", "json").stdout)
    containers = {c["name"]: c["image"] for c in obj["spec"]["template"]["spec"]["containers"]}
    assert containers == {"web": "busybox:1.37", "side": "busybox:1.36"}  # strategic merge by name
    assert obj["spec"]["replicas"] == 4
    assert kubectl.run("label", "deploy", "p", "tier=web").stdout.strip() == "deployment.apps/p labeled"
    # kubectl 1.27 itself prints "annotate", later versions "annotated"
    assert kubectl.run("annotate", "deploy", "p", "note=hi").stdout.strip().startswith("deployment.apps/p annotate")
    assert kubectl.run("scale", "deploy", "p", "--replicas=1").stdout.strip() == "deployment.apps/p scaled"
    obj = json.loads(kubectl.run("get", "deploy", "p", "-o", "json").stdout)
    assert obj["metadata"]["labels"]["tier"] == "web" and obj["metadata"]["annotations"]["note"] == "hi"
    assert obj["spec"]["replicas"] == 1


def test_describe_diff_explain_edit(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.run("apply", "-f", "-", input=deployment("d"))
    described = kubectl.run("describe", "deploy", "d").stdout
    assert "Name:" in described and "busybox:1.36" in described
    changed = tmp_path / "d.yaml"
    changed.write_text(deployment("d", replicas=7))
    diff = kubectl.run("diff", "-f", str(changed), check=False)
    assert diff.returncode == 1 and "+  replicas: 7" in diff.stdout  # 1 = differences found
    assert kubectl.run("get", "deploy", "d", "-o", "jsonpath={.spec.replicas}").stdout == "2"  # dry run only
    explained = kubectl.run("explain", "deployment.spec.replicas").stdout
    assert "replicas" in explained and "integer" in explained
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 6/' \"$1\"\n")
    editor.chmod(0o755)
    out = kubectl.run("edit", "deploy", "d", env={"KUBE_EDITOR": str(editor), "EDITOR": str(editor)})
    assert out.stdout.strip() == "deployment.apps/d edited"
    assert kubectl.run("get", "deploy", "d", "-o", "jsonpath={.spec.replicas}").stdout == "6"


def test_watch_prints_changes(kubectl: Kubectl) -> None:
    kubectl.run("create", "configmap", "watched", "--from-literal=a=1")
    proc = subprocess.Popen([kubectl.binary, "-n", kubectl.namespace, "get", "configmaps", "-w",
                             "--request-timeout=20s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=kubectl.env)
    try:
        time.sleep(0.5)  # not a timing assertion: give the watch a moment to open before changing things
        kubectl.run("create", "configmap", "later", "--from-literal=b=2")
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("later"):
                break
        assert lines[0].split()[:2] == ["NAME", "DATA"]
        assert any(line.startswith("watched") for line in lines)
    finally:
        proc.kill()
        proc.wait()


def test_delete_with_cascade_foreground(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=deployment("gone"))
    out = kubectl.run("delete", "deploy", "gone", "--cascade=foreground", timeout=90)
    assert out.stdout.strip() == 'deployment.apps "gone" deleted'
    missing = kubectl.run("get", "deploy", "gone", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "gone" not found' in missing.stderr


# -- bad input: a clear error naming the problem, and nothing stored ------------------------------

def _assert_nothing_named(kubectl: Kubectl, kind: str, name: str) -> None:
    assert kubectl.run("get", kind, name, check=False).returncode == 1


def test_malformed_yaml_and_json_are_refused(kubectl: Kubectl, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data: [\n")
    out = kubectl.run("apply", "-f", str(bad), check=False)
    assert out.returncode == 1 and "yaml" in out.stderr.lower()
    _assert_nothing_named(kubectl, "configmap", "broken")
    out = kubectl.run("create", "--raw", f"/api/v1/namespaces/{kubectl.namespace}/configmaps", "-f", "-",
                      input='{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "broken"', check=False)
    assert out.returncode == 1 and "BadRequest" in out.stderr or "decode" in out.stderr
    _assert_nothing_named(kubectl, "configmap", "broken")


def test_unknown_field_is_named(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "-f", "-", input=deployment("typo").replace("replicas: 2", "replicass: 2"),
                      check=False)
    assert out.returncode == 1
    assert 'unknown field "spec.replicass"' in out.stderr
    _assert_nothing_named(kubectl, "deploy", "typo")


def test_invalid_name_and_values(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "-f", "-", input=deployment("Bad_Name"), check=False)
    assert out.returncode == 1 and "metadata.name" in out.stderr and "RFC 1123" in out.stderr
    out = kubectl.run("apply", "-f", "-", input=deployment("neg", replicas=-1), check=False)
    assert out.returncode == 1 and "spec.replicas" in out.stderr
    _assert_nothing_named(kubectl, "deploy", "neg")


def test_wrong_api_version_or_kind(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "-f", "-", input=deployment("v").replace("apps/v1", "apps/v2"), check=False)
    assert out.returncode == 1 and "apps/v2" in out.stderr
    out = kubectl.run("apply", "-f", "-", input=deployment("v").replace("kind: Deployment", "kind: Deploymint"),
                      check=False)
    assert out.returncode == 1 and "Deploymint" in out.stderr
    _assert_nothing_named(kubectl, "deploy", "v")


def test_oversized_body_is_refused(kubectl: Kubectl, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                               "data": {"blob": "x" * (4 * 1024 * 1024)}}))
    out = kubectl.run("create", "-f", str(big), check=False)
    assert out.returncode == 1 and ("too large" in out.stderr.lower() or "RequestEntityTooLarge" in out.stderr)
    _assert_nothing_named(kubectl, "configmap", "big")


def test_immutable_selector(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=deployment("imm"))
    out = kubectl.run("patch", "deploy", "imm", "--type=merge", "-p",
                      '{"spec":{"selector":{"matchLabels":{"app":"other"}},'
                      '"template":{"metadata":{"labels":{"app":"other"}}}}}', check=False)
    assert out.returncode == 1 and "spec.selector" in out.stderr and "immutable" in out.stderr
    sel = kubectl.run("get", "deploy", "imm", "-o", "jsonpath={.spec.selector.matchLabels.app}").stdout
    assert sel == "imm"
