"""What the real kubectl 1.32/1.33 POSTs as protobuf decodes to what it prints with ``--dry-run=client -o json``.

A throwaway local HTTP server answers discovery and records the bodies (see ``kubectl_capture``);
the same command with ``--dry-run=client -o json`` prints the object kubectl built, which is the
JSON Kubernetes' own decoder would produce from those bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from skiff.api.protobuf import CONTENT_TYPE, decode

from .kubectl_capture import capture_server, kubectl_path, run_kubectl

VERSIONS = ["1.32", "1.33"]

COMMANDS: list[tuple[str, list[str]]] = [
    ("namespace", ["create", "namespace", "x"]),
    ("configmap", ["create", "configmap", "c", "--from-literal=a=b", "--from-literal=empty=",
                   "--from-file={binary}", "--from-file=text.txt={text}"]),
    ("secret-generic", ["create", "secret", "generic", "s", "--from-literal=a=b", "--from-file={binary}",
                        "--type=example.com/custom"]),
    ("secret-docker", ["create", "secret", "docker-registry", "reg", "--docker-server=r.example",
                       "--docker-username=u", "--docker-password=p"]),
    ("deployment", ["create", "deployment", "web", "--image=busybox", "--replicas=2", "--port=8080",
                    "--", "sleep", "3600"]),
    ("deployment-zero", ["create", "deployment", "idle", "--image=busybox", "--replicas=0"]),
    ("service-clusterip", ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=81:http"]),
    ("service-nodeport", ["create", "service", "nodeport", "np", "--tcp=80:http", "--node-port=30080"]),
    ("job", ["create", "job", "j", "--image=busybox", "--", "echo", "hi"]),
    ("cronjob", ["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--restart=OnFailure",
                 "--", "echo", "hi"]),
    ("priorityclass", ["create", "priorityclass", "pc", "--value=0", "--description=zero",
                       "--preemption-policy=Never"]),
    ("role", ["create", "role", "r", "--verb=get,list", "--resource=pods,deployments.apps",
              "--resource-name=one"]),
    ("clusterrole-aggregation", ["create", "clusterrole", "agg", "--aggregation-rule=a=b"]),
    ("rolebinding", ["create", "rolebinding", "rb", "--role=r", "--user=u", "--serviceaccount=ns:sa"]),
    ("serviceaccount", ["create", "serviceaccount", "sa"]),
    ("ingress", ["create", "ingress", "ing", "--class=nginx", "--rule=foo.com/bar*=svc1:8080,tls=cert",
                 "--annotation=a=b"]),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)))
    text = tmp_path / "text"
    text.write_text("héllo\nworld\n")
    return {"binary": str(binary), "text": str(text)}


def _need(version: str) -> None:
    if not kubectl_path(version).exists():
        pytest.skip(f"kubectl {version} is not installed at {kubectl_path(version)}")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name, args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_kubectl_create_body_decodes_like_dry_run(version: str, name: str, args: list[str],
                                                  files: dict[str, str], tmp_path: Path) -> None:
    _need(version)
    args = [a.format(**files) for a in args]
    with capture_server() as server:
        done = run_kubectl(version, args, server=server.url, home=tmp_path)
        assert done.returncode == 0, done.stderr
        printed = run_kubectl(version, ["--dry-run=client", "-o", "json", *args], server=server.url, home=tmp_path)
        assert printed.returncode == 0, printed.stderr
    (post,) = server.posts
    assert post.content_type == CONTENT_TYPE
    assert decode(post.body) == json.loads(printed.stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_kubectl_create_token_request(version: str, tmp_path: Path) -> None:
    _need(version)
    args = ["create", "token", "sa", "--duration=1h", "--audience=a1", "--audience=a2",
            "--bound-object-kind=Pod", "--bound-object-name=p", "--bound-object-uid=u-1"]
    with capture_server() as server:
        run_kubectl(version, args, server=server.url, home=tmp_path)  # our answer is no TokenRequest: ignored
    (post,) = server.posts
    assert post.path.split("?")[0] == "/api/v1/namespaces/default/serviceaccounts/sa/token"
    got = decode(post.body)
    assert got["apiVersion"] == "authentication.k8s.io/v1" and got["kind"] == "TokenRequest"
    assert got["spec"]["audiences"] == ["a1", "a2"]
    assert got["spec"]["expirationSeconds"] == 3600
    assert got["spec"]["boundObjectRef"] == {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u-1"}
