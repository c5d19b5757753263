"""Run CNI plugins (the CNI 1.0 contract) for pod sandboxes: ADD, DEL, CHECK of a conflist.

Decides nothing about addresses: the plugins do (Skiff's default list is the standard
``bridge`` + ``host-local`` plugins over the node's podCIDR; no ``loopback`` plugin, since the
engine brings the sandbox's ``lo`` up itself when it makes the namespace). Pure parts
(:func:`default_conflist`, :func:`plugin_env`, :func:`plugin_config`, :func:`pod_ip`) are
separate from the one function that executes a plugin.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CNI_VERSION = "1.0.0"
DEFAULT_NETWORK = "skiff"
PLUGIN_TIMEOUT = 60


class CniError(Exception):
    """A plugin failed; the message names the plugin, the command and the plugin's own message."""


def default_conflist(pod_cidr: str, *, data_dir: str, bridge: str = "cni0") -> dict[str, Any]:
    """The node's pod network: a bridge with the podCIDR's first address as gateway, no NAT
    (pods reach each other across nodes by routes; SNAT leaving the cluster is the node's job).
    No ``loopback`` entry: the sandbox's ``lo`` is already up (one plugin process less per ADD/DEL)."""
    return {
        "cniVersion": CNI_VERSION, "name": DEFAULT_NETWORK,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": data_dir,
                      "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}]}},
        ],
    }


def load_conflist(conf_dir: Path) -> dict[str, Any] | None:
    """The first ``*.conflist`` / ``*.conf`` in lexical order, as the kubelet's runtimes pick it."""
    if not conf_dir.is_dir():
        return None
    for path in sorted(conf_dir.iterdir()):
        if path.suffix not in (".conflist", ".conf", ".json"):
            continue
        doc = json.loads(path.read_text())
        if "plugins" not in doc:  # a single-plugin .conf
            doc = {"cniVersion": doc.get("cniVersion", CNI_VERSION), "name": doc.get("name", DEFAULT_NETWORK),
                   "plugins": [doc]}
        return doc
    return None


@dataclass(frozen=True)
class Attachment:
    container_id: str
    netns: str
    ifname: str = "eth0"
    args: str = ""
    runtime_config: tuple[tuple[str, Any], ...] = ()  # capability args (portMappings, ...), for plugins that ask


def plugin_env(command: str, att: Attachment, bin_dirs: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    env.update(CNI_COMMAND=command, CNI_CONTAINERID=att.container_id, CNI_NETNS=att.netns,
               CNI_IFNAME=att.ifname, CNI_PATH=":".join(bin_dirs))
    if att.args:
        env["CNI_ARGS"] = att.args
    return env


def capabilities(plugin: dict[str, Any]) -> set[str]:
    return {k for k, v in (plugin.get("capabilities") or {}).items() if v}


def plugin_config(conflist: dict[str, Any], plugin: dict[str, Any], prev: dict[str, Any] | None,
                  runtime_config: dict[str, Any] | None = None) -> bytes:
    """A plugin's stdin; ``runtimeConfig`` carries only the capabilities it declares (CNI conventions)."""
    conf = dict(plugin)
    conf["cniVersion"] = conflist.get("cniVersion", CNI_VERSION)
    conf["name"] = conflist["name"]
    wanted = {k: v for k, v in (runtime_config or {}).items() if k in capabilities(plugin)}
    if wanted:
        conf["runtimeConfig"] = wanted
    if prev is not None:
        conf["prevResult"] = prev
    return json.dumps(conf).encode()


def pod_ip(result: dict[str, Any], ifname: str = "eth0") -> str:
    """The first IPv4 address of the pod's interface in a CNI result ("" when none)."""
    ifaces = result.get("interfaces") or []
    for ip in result.get("ips") or []:
        idx = ip.get("interface")
        if idx is not None and 0 <= idx < len(ifaces) and ifaces[idx].get("name") != ifname:
            continue
        addr = str(ip.get("address", "")).split("/")[0]
        if addr and ":" not in addr:
            return addr
    return ""


def _exec_sync(binary: str, env: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes]:
    try:
        proc = subprocess.run([binary], env=env, input=stdin, capture_output=True, timeout=PLUGIN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return 1, b"", f"timed out after {PLUGIN_TIMEOUT}s".encode()
    except OSError as exc:
        return 1, b"", str(exc).encode()
    return proc.returncode, proc.stdout, proc.stderr


async def _exec(binary: str, env: dict[str, str], stdin: bytes) -> tuple[int, bytes, bytes]:
    # A plain subprocess in a thread: uvloop's subprocess pipes can close stdin under a
    # short-lived child ("the handler is closed"), which failed sandboxes at random.
    return await asyncio.to_thread(_exec_sync, binary, env, stdin)


def find_plugin(kind: str, bin_dirs: list[str]) -> str:
    for d in bin_dirs:
        path = os.path.join(d, kind)
        if os.access(path, os.X_OK):
            return path
    raise CniError(f"CNI plugin {kind!r} not found in {':'.join(bin_dirs)}")


class Cni:
    """One conflist applied to sandboxes with the plugins found in ``bin_dirs``."""

    def __init__(self, conflist: dict[str, Any], bin_dirs: list[str]) -> None:
        self.conflist = conflist
        self.bin_dirs = bin_dirs

    async def _run(self, command: str, plugin: dict[str, Any], att: Attachment,
                   prev: dict[str, Any] | None) -> dict[str, Any] | None:
        binary = find_plugin(plugin["type"], self.bin_dirs)
        code, out, err = await _exec(binary, plugin_env(command, att, self.bin_dirs),
                                     plugin_config(self.conflist, plugin, prev, dict(att.runtime_config)))
        if code != 0:
            try:
                msg = json.loads(out).get("msg") or out.decode(errors="replace")
            except ValueError:
                msg = (out + err).decode(errors="replace")
            raise CniError(f"CNI {command} with plugin {plugin['type']}: {msg.strip()}")
        if command == "ADD" and out.strip():
            return json.loads(out)  # type: ignore[no-any-return]
        return prev

    def handles(self, capability: str) -> bool:
        """Whether a plugin of the list takes this capability (``portMappings``: hostPorts are its job)."""
        return any(capability in capabilities(p) for p in self.conflist["plugins"])

    async def add(self, att: Attachment) -> dict[str, Any]:
        result: dict[str, Any] | None = None
        for plugin in self.conflist["plugins"]:
            result = await self._run("ADD", plugin, att, result)
        return result or {}

    async def delete(self, att: Attachment) -> None:
        """DEL in reverse order; every plugin runs even when one fails (the first error is raised)."""
        first: CniError | None = None
        for plugin in reversed(self.conflist["plugins"]):
            try:
                await self._run("DEL", plugin, att, None)
            except CniError as exc:
                first = first or exc
        if first is not None:
            raise first
