"""postStart and preStop hooks (exec, httpGet, sleep) end to end with the kubelet's semantics:
a postStart failure kills the container with a FailedPostStartHook event, a preStop hook runs
before SIGTERM within the grace period. Fixtures of test_agent_pods.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.test_agent_pods import NODE_ADDR, Cluster, cluster, pod_manifest, ready_node  # noqa: F401
from tests.integration.agent.test_agent_volumes import delete_pod, kubelet_events, phase
from tests.support.engine import stop_process

pytestmark = pytest.mark.integration
HOOK_PORT = 18089
# records whether its preStop hook ran before SIGTERM came, then waits for it
TRAP = ("trap 'if [ -e /h/prestop-$C ]; then echo after-prestop > /h/term-$C; else echo no-prestop > /h/term-$C; "
        "fi; exit 0' TERM; echo up-$C; while true; do sleep 0.1; done")


@pytest.fixture
def node_http(cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """An HTTP server on the node's address that logs the paths it is asked for."""
    log = tmp_path / "http.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{cluster.netns}", sys.executable, "-u", "-m",
                                 "http.server", str(HOOK_PORT), "--bind", NODE_ADDR, "--directory", str(tmp_path)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        cluster.wait(lambda: "Serving HTTP" in log.read_text(), "the node's HTTP server")
        yield log
    finally:
        stop_process(proc, 10)


def container(name: str, image: str, lifecycle: dict[str, Any], command: str = TRAP) -> dict[str, Any]:
    return {"name": name, "image": image, "command": ["sh", "-c", command], "env": [{"name": "C", "value": name}],
            "volumeMounts": [{"name": "h", "mountPath": "/h"}], "lifecycle": lifecycle}


def test_post_start_then_pre_stop_before_sigterm(cluster: Cluster, tmp_path: Path, node_http: Path) -> None:
    name = f"hooks-{uuid.uuid4().hex[:6]}"
    shared = tmp_path / "shared"
    shared.mkdir()
    img = cluster.image
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(
        name, img, terminationGracePeriodSeconds=20, volumes=[{"name": "h", "hostPath": {"path": str(shared)}}],
        containers=[
            container("a", img, {"postStart": {"exec": {"command": ["sh", "-c", "echo ran > /h/poststart-a"]}},
                                 "preStop": {"exec": {"command": ["sh", "-c", "echo x > /h/prestop-a; sleep 1"]}}}),
            container("b", img, {"postStart": {"httpGet": {"host": NODE_ADDR, "port": HOOK_PORT,
                                                           "path": "/started-b"}},
                                 "preStop": {"httpGet": {"host": NODE_ADDR, "port": HOOK_PORT, "path": "/stop-b"}}}),
            container("c", img, {"preStop": {"sleep": {"seconds": 1}}}),
        ]))
    cluster.wait(lambda: phase(cluster, name) == "Running", "pod with hooks Running")
    assert (shared / "poststart-a").read_text() == "ran\n"
    cluster.wait(lambda: "GET /started-b" in node_http.read_text(), "the httpGet postStart hook's request")
    assert not list(shared.glob("prestop-*")) and "/stop-b" not in node_http.read_text()

    cluster.kubectl("delete", "pod", name, "--wait=false")
    cluster.wait(lambda: cluster.get("pod", name) is None, "pod gone")
    assert (shared / "term-a").read_text() == "after-prestop\n"  # SIGTERM came after the hook's file
    assert "GET /stop-b" in node_http.read_text()
    assert (shared / "term-c").read_text() == "no-prestop\n"  # a sleep hook, then SIGTERM all the same


def test_failed_post_start_hook_kills_the_container(cluster: Cluster, tmp_path: Path) -> None:
    name = f"badhook-{uuid.uuid4().hex[:6]}"
    shared = tmp_path / "shared"
    shared.mkdir()
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(
        name, cluster.image, volumes=[{"name": "h", "hostPath": {"path": str(shared)}}], containers=[
            container("main", cluster.image, {"postStart": {"exec": {"command": ["sh", "-c", "echo oops; exit 3"]}}},
                      command="echo started >> /h/runs; exec sleep 3600")]))

    def main() -> Any:
        p = cluster.get("pod", name)
        return ((p or {}).get("status") or {}).get("containerStatuses", [{}])[0]

    cluster.wait(lambda: main().get("restartCount", 0) >= 1, "the container killed and restarted")
    pod = cluster.get("pod", name)
    uid = pod["metadata"]["uid"]
    want = (f'Exec lifecycle hook ([sh -c echo oops; exit 3]) for Container "main" in Pod "{name}_default({uid})" '
            "failed - error: command 'sh -c echo oops; exit 3' exited with 3: , message: \"oops\\n\"")
    events = kubelet_events(cluster, name)
    assert ("FailedPostStartHook", want) in events, events
    assert ("Killing", "FailedPostStartHook") in events
    term = main()["lastState"]["terminated"]
    assert term["exitCode"] == 137 or term["exitCode"] == 143, term
    waiting = cluster.wait(lambda: (main().get("state") or {}).get("waiting"), "waiting to start again")
    assert waiting["reason"] in ("PostStartHookError", "CrashLoopBackOff"), waiting
    assert (shared / "runs").read_text().startswith("started\nstarted\n")
    delete_pod(cluster, name)
