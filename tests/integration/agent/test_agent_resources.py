"""Resources → cgroups with QoS classes end to end: pods in the kubelet's kubepods /
burstable / besteffort hierarchy under the engine's own cgroup, pod-level and container
limits written to real cgroups, a memory limit ending in OOMKilled (exit 137).
Fixtures of test_agent_pods.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent.test_agent_pods import Cluster, cluster, pod_manifest, ready_node  # noqa: F401
from tests.integration.agent.test_agent_volumes import delete_pod, phase, sh

pytestmark = pytest.mark.integration


def engine_cgroup(cluster: Cluster, controller: str) -> Path:
    """The v1 ``controller`` directory of the engine's own cgroup."""
    for line in Path(f"/proc/{cluster.daemon.process.pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            mount = Path("/sys/fs/cgroup") / (ctrls if Path("/sys/fs/cgroup", ctrls).is_dir() else controller)
            return mount / path.lstrip("/")
    raise AssertionError(f"no {controller} cgroup for the engine")


def pod_cgroup(cluster: Cluster, controller: str, pod: dict[str, Any], level: str) -> Path:
    return engine_cgroup(cluster, controller) / "skiff" / "kubepods" / level / f"pod{pod['metadata']['uid']}"


def run(cluster: Cluster, name: str, resources: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "main", "image": cluster.image, "command": ["sleep", "3600"]}
    if resources is not None:
        c["resources"] = resources
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, containers=[c], **extra))
    cluster.wait(lambda: phase(cluster, name) == "Running", f"pod {name} Running")
    return dict(cluster.get("pod", name))


def read(path: Path) -> str:
    return path.read_text().strip()


def test_qos_classes_get_their_cgroups_and_limits(cluster: Cluster) -> None:
    g = f"guar-{uuid.uuid4().hex[:6]}"
    pod = run(cluster, g, {"limits": {"cpu": "500m", "memory": "64Mi"}})
    assert pod["status"]["qosClass"] == "Guaranteed"
    mem = pod_cgroup(cluster, "memory", pod, "")
    cpu = pod_cgroup(cluster, "cpu", pod, "")
    assert int(read(mem / "memory.limit_in_bytes")) == 64 << 20
    assert (read(cpu / "cpu.cfs_quota_us"), read(cpu / "cpu.cfs_period_us"), read(cpu / "cpu.shares")) == (
        "50000", "100000", "512")
    # the container's own cgroup sits inside its pod's, with its own limits
    children = [d for d in mem.iterdir() if d.is_dir()]
    assert len(children) == 1 and int(read(children[0] / "memory.limit_in_bytes")) == 64 << 20
    inside = sh(cluster, g, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    assert inside.stdout.split() == [str(64 << 20), "50000"], inside.stderr

    b = f"burst-{uuid.uuid4().hex[:6]}"
    burst = run(cluster, b, {"requests": {"cpu": "100m", "memory": "16Mi"}})
    assert burst["status"]["qosClass"] == "Burstable"
    bcpu = pod_cgroup(cluster, "cpu", burst, "burstable")
    assert read(bcpu / "cpu.shares") == "102" and read(bcpu / "cpu.cfs_quota_us") == "-1"
    assert read(bcpu.parent / "cpu.shares") == "102"  # the burstable level: the sum of its pods' requests
    assert int(read(pod_cgroup(cluster, "memory", burst, "burstable") / "memory.limit_in_bytes")) > 1 << 40

    e = f"best-{uuid.uuid4().hex[:6]}"
    best = run(cluster, e, None)
    assert best["status"]["qosClass"] == "BestEffort"
    assert read(pod_cgroup(cluster, "cpu", best, "besteffort") / "cpu.shares") == "2"
    assert read(pod_cgroup(cluster, "cpu", best, "besteffort").parent / "cpu.shares") == "2"
    assert sh(cluster, e, "cat /sys/fs/cgroup/cpu/cpu.shares").stdout.strip() == "2"

    for name in (g, b, e):
        delete_pod(cluster, name)
    for p, level in ((pod, ""), (burst, "burstable"), (best, "besteffort")):
        cluster.wait(lambda p=p, level=level: not pod_cgroup(cluster, "memory", p, level).exists(),
                     "the pod's cgroup removed with it")


def test_memory_limit_ends_in_oom_killed(cluster: Cluster) -> None:
    name = f"oom-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input=pod_manifest(name, cluster.image, restartPolicy="Never", containers=[
        {"name": "main", "image": cluster.image, "command": ["sh", "-c", "head -c 400m /dev/zero | tail"],
         "resources": {"limits": {"memory": "32Mi"}}}]))
    pod = cluster.wait(lambda: (p := cluster.get("pod", name)) and (p.get("status") or {}).get("phase") == "Failed"
                       and p, "the pod Failed", timeout=120)
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (137, "OOMKilled"), json.dumps(term)
    assert pod["status"]["qosClass"] == "Burstable"
    delete_pod(cluster, name)
