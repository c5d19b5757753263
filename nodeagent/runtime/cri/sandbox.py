"""Pod sandboxes of the CRI server: records on disk and the namespaces they hold.

A sandbox holds the pod's network, IPC and UTS namespaces as bind mounts of nsfs files
under ``<state>/<id>/ns/`` (what ``ip netns add`` does, without a pause process); every
container of the pod joins them by path. The records survive an engine restart.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skiff.nodeagent.runtime import netns
from skiff.nodeagent.runtime.oci import syscalls as sc

NS_KINDS = ("net", "ipc", "uts")


class SandboxError(Exception):
    pass


@dataclass
class Sandbox:
    id: str
    name: str
    uid: str
    namespace: str
    attempt: int
    created_at: int
    hostname: str = ""
    log_directory: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    dns_servers: list[str] = field(default_factory=list)
    dns_searches: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    host_network: bool = False
    ready: bool = True
    ip: str = ""
    runtime_handler: str = ""
    network_attached: bool = False
    port_mappings: list[dict[str, Any]] = field(default_factory=list)  # hostports.Mapping fields
    cgroup_path: str = ""  # the pod's cgroup (its containers' parent), relative to the engine's own
    cpu_shares: int = 0  # the pod cgroup's, for its QoS level's sum

    def ns_path(self, state_dir: Path, kind: str) -> str:
        return str(state_dir / self.id / "ns" / kind)


class SandboxStore:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.items: dict[str, Sandbox] = {}

    def load(self) -> None:
        for d in sorted(self.dir.iterdir()):
            try:
                doc = json.loads((d / "sandbox.json").read_text())
            except (OSError, ValueError):
                continue
            sb = Sandbox(**doc)
            if sb.ready and not self.has_namespaces(sb):
                # its namespaces went with the machine (a reboot, a lab taken down): the pod's
                # processes are gone, so the sandbox is NOTREADY and the kubelet makes a new one
                sb.ready = False
                self.save(sb)
            self.items[sb.id] = sb

    def save(self, sb: Sandbox) -> None:
        d = self.dir / sb.id
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "sandbox.json.tmp"
        tmp.write_text(json.dumps(asdict(sb)))
        os.replace(tmp, d / "sandbox.json")
        self.items[sb.id] = sb

    def get(self, ref: str) -> Sandbox:
        if ref in self.items:
            return self.items[ref]
        matches = [s for sid, s in self.items.items() if ref and sid.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(ref)

    def remove(self, sb: Sandbox) -> None:
        shutil.rmtree(self.dir / sb.id, ignore_errors=True)
        self.items.pop(sb.id, None)

    # -- namespaces ----------------------------------------------------------
    def create_namespaces(self, sb: Sandbox) -> None:
        """Unshare net/ipc/uts once and pin them to files (step named in errors).

        Done in the engine, in a thread of its own that ends once the namespaces are pinned
        (``unshare --net=FILE … hostname NAME`` and ``nsenter … ip link set lo up`` were four
        processes per pod); the engine's other threads never enter them.
        """
        nsdir = self.dir / sb.id / "ns"
        nsdir.mkdir(parents=True, exist_ok=True)
        kinds = [k for k in NS_KINDS if not (k == "net" and sb.host_network)]
        for k in kinds:
            (nsdir / k).touch()
        try:
            netns.in_thread(_pin_namespaces, nsdir, kinds, sb.hostname or sb.name, name=f"sandbox-{sb.id[:12]}")
        except BaseException:
            self.release_namespaces(sb)
            raise

    def release_namespaces(self, sb: Sandbox) -> None:
        nsdir = self.dir / sb.id / "ns"
        for k in NS_KINDS:
            p = nsdir / k
            if p.exists():
                try:
                    netns.syscalls().umount2(str(p), sc.MNT_DETACH)  # umount -l
                except OSError:
                    pass  # not (or no longer) a mount: the file goes all the same
                try:
                    p.unlink()
                except OSError:
                    pass

    def has_namespaces(self, sb: Sandbox) -> bool:
        return os.path.ismount(self.dir / sb.id / "ns" / "ipc")


NS_FLAGS = {"net": sc.CLONE_NEWNET, "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS}


def _pin_namespaces(nsdir: Path, kinds: list[str], hostname: str) -> None:
    """In a thread that ends after it (:func:`netns.in_thread`): unshare ``kinds`` for this
    thread, name the host, bring ``lo`` up, bind the namespaces onto their files, which keep
    them once the thread is gone."""
    s = netns.syscalls()
    step = "create pod namespaces"
    try:
        flags = 0
        for k in kinds:
            flags |= NS_FLAGS[k]
        s.unshare(flags)
        if "uts" in kinds:
            s.sethostname(hostname)
        if "net" in kinds:
            step = "bring up lo in the pod network namespace"
            netns.set_link_up("lo")
            step = "create pod namespaces"
        tid = threading.get_native_id()
        for k in kinds:
            s.mount(f"/proc/self/task/{tid}/ns/{k}", str(nsdir / k), "", sc.MS_BIND, "")
    except OSError as exc:
        raise SandboxError(f"{step}: {exc.strerror or exc}") from None


def resolv_conf(sb: Sandbox, fallback: str) -> str:
    """The pod's resolv.conf: its DNS config when given, else the node's (fallback)."""
    if not sb.dns_servers and not sb.dns_searches:
        return fallback
    lines = [f"nameserver {s}" for s in sb.dns_servers]
    if sb.dns_searches:
        lines.append("search " + " ".join(sb.dns_searches))
    if sb.dns_options:
        lines.append("options " + " ".join(sb.dns_options))
    return "\n".join(lines) + "\n"


def info(sb: Sandbox, state_dir: Path) -> dict[str, Any]:
    return {"netns": "" if sb.host_network else sb.ns_path(state_dir, "net"), "ip": sb.ip}
