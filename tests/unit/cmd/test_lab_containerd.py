"""The containerd configuration of a lab node: everything under the node's root."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

from skiff.nodeagent.kubelet.specs import pod_cgroup_parent
from skiff.cmd.lab_containerd import ContainerdNode, cni_template, config_toml


def test_config_keeps_every_path_under_the_node_root() -> None:
    node = ContainerdNode(Path("/data/nodes/node2"))
    cfg = tomllib.loads(config_toml(node, "10.240.0.1:5000"))
    assert cfg["version"] == 2
    assert cfg["root"] == "/data/nodes/node2/containerd/root"
    assert cfg["state"] == "/data/nodes/node2/containerd/state"
    assert cfg["grpc"]["address"] == str(node.socket) and node.endpoint == f"unix://{node.socket}"
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["netns_mounts_under_state_dir"] is True  # pods' netns under state, not /run/netns
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "pause:latest"
    assert cri["cni"]["conf_template"] == str(node.cni_template)
    assert cri["registry"]["mirrors"]["docker.io"]["endpoint"] == ["http://10.240.0.1:5000"]
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False


def test_cni_template_fills_the_pod_cidr() -> None:
    node = ContainerdNode(Path("/data/nodes/node2"))
    conf = json.loads(cni_template(node))
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "{{.PodCIDR}}"}]]
    assert bridge["ipam"]["dataDir"].startswith("/data/nodes/node2/")


def test_pod_cgroup_parent_is_the_kubelets_name() -> None:
    pod = {"metadata": {"uid": "abc"}}  # BestEffort: the kubelet's besteffort level
    assert pod_cgroup_parent(pod, "") == "kubepods/besteffort/podabc"
    assert pod_cgroup_parent(pod, "/lab/node2/kubepods/") == "/lab/node2/kubepods/besteffort/podabc"
