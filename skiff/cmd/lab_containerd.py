"""A lab node whose runtime is Debian's containerd (its CRI plugin) instead of Skiff's engine.

The agent speaks only CRI, so such a node runs the same agent with
``--runtime-endpoint unix://ROOT/containerd/containerd.sock``. Everything containerd keeps
lives under the node's root: its content and snapshots, its state, the pods' network
namespaces (``netns_mounts_under_state_dir``), the CNI configuration and the IPAM leases, so
``skiff lab down`` finds every mount under the lab's data directory. Pods get their
addresses from the node's podCIDR through containerd's CNI ``conf_template`` (filled in when
the agent sends the CIDR with UpdateRuntimeConfig), with Debian's ``bridge`` and
``host-local`` plugins. Images come from the lab's registry as the Docker Hub mirror, the
sandbox ("pause") image included.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CNI_BIN_DIR = "/usr/lib/cni"
PAUSE_IMAGE = "pause:latest"  # built by deploy/images/build_images.py, pushed under library/


@dataclass(frozen=True)
class ContainerdNode:
    root: Path  # the node's root directory; containerd's own files go under root/containerd

    @property
    def dir(self) -> Path:
        return self.root / "containerd"

    @property
    def socket(self) -> Path:
        return self.dir / "containerd.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def config(self) -> Path:
        return self.dir / "config.toml"

    @property
    def cni_template(self) -> Path:
        return self.dir / "cni.template"


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def config_toml(node: ContainerdNode, registry: str) -> str:
    """containerd 1.6's configuration (version 2) for one lab node."""
    d = node.dir
    return f"""version = 2
root = {_toml_str(str(d / "root"))}
state = {_toml_str(str(d / "state"))}
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {_toml_str(str(node.socket))}

[ttrpc]
  address = {_toml_str(str(d / "containerd.sock.ttrpc"))}

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_str(str(d / "opt"))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {_toml_str(PAUSE_IMAGE)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  # root here lacks CAP_SYS_RESOURCE: the sandbox's default oom_score_adj of -998 cannot be set
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = {_toml_str(CNI_BIN_DIR)}
  conf_dir = {_toml_str(str(d / "net.d"))}
  conf_template = {_toml_str(str(node.cni_template))}

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = [{_toml_str("http://" + registry)}]
"""


def cni_template(node: ContainerdNode) -> str:
    """The CNI network containerd writes once it knows the node's podCIDR (Go template)."""
    conf = {
        "cniVersion": "0.4.0",
        "name": "skiff-lab",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(node.dir / "ipam"),
                      "ranges": [[{"subnet": "{{.PodCIDR}}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def write_files(node: ContainerdNode, registry: str) -> None:
    for sub in ("root", "state", "net.d", "opt", "ipam"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    node.config.write_text(config_toml(node, registry))
    node.cni_template.write_text(cni_template(node))
