"""A throwaway HTTP server that answers kubectl's discovery and records the bodies it POSTs.

It lets a test see exactly what the real ``kubectl`` sends for ``kubectl create ...`` (protobuf
for built-in kinds since 1.32) without a cluster: discovery lists a few resources, every POST is
recorded and answered with a minimal object of the kind posted (kubectl only prints its name).
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from contextlib import contextmanager

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")

_CORE = [("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
         ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True),
         ("pods", "Pod", True)]
_GROUPS = {
    "apps/v1": [("deployments", "Deployment", True)],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "rbac.authorization.k8s.io/v1": [("roles", "Role", True), ("rolebindings", "RoleBinding", True),
                                     ("clusterroles", "ClusterRole", False)],
    "scheduling.k8s.io/v1": [("priorityclasses", "PriorityClass", False)],
    "networking.k8s.io/v1": [("ingresses", "Ingress", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
}
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resource_list(group_version: str, resources: list[tuple[str, str, bool]]) -> dict[str, object]:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                           "verbs": _VERBS} for plural, kind, namespaced in resources]}


@dataclass
class Request:
    path: str
    content_type: str
    body: bytes


@dataclass
class CaptureServer:
    url: str
    posts: list[Request] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _json(self, code: int, obj: object) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api":
            self._json(200, {"kind": "APIVersions", "versions": ["v1"]})
        elif path == "/apis":
            groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": "v1"}],
                       "preferredVersion": {"groupVersion": gv, "version": "v1"}} for gv in _GROUPS]
            self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        elif path == "/api/v1":
            self._json(200, _resource_list("v1", _CORE))
        elif path.startswith("/apis/") and path[len("/apis/"):] in _GROUPS:
            gv = path[len("/apis/"):]
            self._json(200, _resource_list(gv, _GROUPS[gv]))
        else:
            self._json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                             "code": 404, "message": f"{path} not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        content_type = self.headers.get("Content-Type", "")
        self.server.capture.posts.append(Request(self.path, content_type, body))
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        plural = parts[-1]
        kinds = {p: (k, gv) for gv, res in [("v1", _CORE), *_GROUPS.items()] for p, k, _n in res}
        kind, gv = kinds.get(plural, ("Unknown", "v1"))
        self._json(201, {"kind": kind, "apiVersion": gv, "metadata": {"name": "captured"}})


class _Server(ThreadingHTTPServer):
    capture: CaptureServer


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.capture = CaptureServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.capture
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def kubectl_path(version: str) -> Path:
    return KUBECTL_DIR / f"kubectl.{version}"


def run_kubectl(version: str, args: list[str], *, server: str | None, home: Path) -> subprocess.CompletedProcess[str]:
    """Run one kubectl with no kubeconfig of the user's (HOME and KUBECONFIG point at ``home``)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(home / "none")}
    cmd = [str(kubectl_path(version))]
    if server:
        cmd += [f"--server={server}", "--cache-dir", str(home / "cache")]
    cmd += args
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
