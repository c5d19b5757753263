"""The default bridge network, as Docker's: ``skiff0``, 172.17.0.0/16, ports published with DNAT.

It changes the network namespace the engine runs in (tests always run the engine
in a namespace they made). As a guard, it stays off when the engine runs in the
host's network namespace: with ``--bridge auto`` (the default) it is on only in a
namespace made with ``ip netns add``; ``--bridge skiff0`` forces it on.
Addresses come from .2 up, MACs derive from them (02:42 + the IPv4 bytes). The
NAT rules are rebuilt whole from the running containers and applied with one
``iptables-restore --noflush`` that only touches Skiff's own ``SKIFF-`` chains.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import subprocess
from typing import Any

from skiff.nodeagent.runtime import netns

log = logging.getLogger(__name__)

BRIDGE = "skiff0"
SUBNET = ipaddress.ip_network("172.17.0.0/16")
GATEWAY = ipaddress.ip_address("172.17.0.1")
BRIDGE_MODES = ("", "default", "bridge")


class NetworkError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def mac_of(ip: ipaddress.IPv4Address) -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def in_named_netns() -> bool:
    """Is the engine in a network namespace made with ``ip netns add`` (a lab node, a test)?

    PID 1's namespace cannot always be read (sandboxes), so ``auto`` asks the positive
    question: only a namespace someone made on purpose gets the bridge by default.
    """
    try:
        me = os.stat("/proc/self/ns/net")
        names = os.listdir("/run/netns")
    except OSError:
        return False
    for n in names:
        try:
            st = os.stat(os.path.join("/run/netns", n))
        except OSError:
            continue
        if (st.st_ino, st.st_dev) == (me.st_ino, me.st_dev):
            return True
    return False


def parse_port_bindings(host: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """HostConfig.PortBindings → [(host_ip, host_port, container_port, proto)] (pure)."""
    out = []
    for key, binds in (host.get("PortBindings") or {}).items():
        port, _, proto = key.partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp") or not port.isdigit():
            raise NetworkError(f"invalid port specification: {key!r}")
        for b in binds or [{}]:
            hp = (b or {}).get("HostPort") or ""
            if not hp.isdigit() or not 0 < int(hp) < 65536:
                raise NetworkError(f"invalid host port for {key}: {hp!r} (publishing needs an explicit port)")
            out.append(((b or {}).get("HostIp") or "0.0.0.0", int(hp), int(port), proto))
    return out


def nat_rules(bindings: list[tuple[str, str, int, int, str]]) -> str:
    """The whole nat table part of Skiff's chains, for ``iptables-restore --noflush`` (pure).

    ``bindings``: (container_ip, host_ip, host_port, container_port, proto).
    """
    lines = ["*nat", ":SKIFF-DNAT - [0:0]", ":SKIFF-POSTROUTING - [0:0]"]
    for cip, hip, hp, cp, proto in sorted(bindings, key=lambda b: (b[2], b[4])):
        dst = "" if hip in ("", "0.0.0.0") else f" -d {hip}/32"
        lines.append(f"-A SKIFF-DNAT{dst} -p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {cip}:{cp}")
        # hairpin: a container reaching its own published port through the bridge
        lines.append(f"-A SKIFF-POSTROUTING -s {cip}/32 -d {cip}/32 -p {proto} -m {proto} --dport {cp} "
                     "-j MASQUERADE")
    lines.append(f"-A SKIFF-POSTROUTING -s {SUBNET} ! -o {BRIDGE} -j MASQUERADE")
    # 127.0.0.1:PORT reaches a container too (route_localnet), answered through the bridge
    lines.append(f"-A SKIFF-POSTROUTING -s 127.0.0.0/8 -o {BRIDGE} -j MASQUERADE")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _run(*argv: str) -> None:
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if r.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {r.stderr.strip()}", 500)


class BridgeNetwork:
    """The manager's ``network`` hook: validate at create, setup after create, teardown at exit."""

    def __init__(self, containers: Any, *, enabled: bool) -> None:
        self.containers = containers
        self.enabled = enabled
        self._ready = False
        self._lock = asyncio.Lock()

    def uses_bridge(self, host: dict[str, Any]) -> bool:
        return self.enabled and (host.get("NetworkMode") or "") in BRIDGE_MODES

    def validate(self, host: dict[str, Any]) -> None:
        mode = host.get("NetworkMode") or ""
        if mode not in (*BRIDGE_MODES, "none", "host") and not mode.startswith(("container:", "ns:")):
            raise NetworkError(f"network {mode} not found", 400)  # a 404 would make the CLI pull
        parse_port_bindings(host)

    # -- setup ----------------------------------------------------------------
    def _ensure_bridge(self) -> None:
        if self._ready:
            return
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            _run("ip", "link", "add", BRIDGE, "type", "bridge")
            _run("ip", "addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        # Forwarding and hairpin stay inside this namespace (the engine's).
        for path, value in (("/proc/sys/net/ipv4/ip_forward", "1"),
                            ("/proc/sys/net/ipv4/conf/all/route_localnet", "1"),
                            (f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet", "1")):
            try:
                with open(path, "w") as f:
                    f.write(value)
            except OSError as exc:
                log.warning("%s: %s", path, exc)
        hooks = [("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j SKIFF-DNAT"),
                 ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j SKIFF-DNAT"),
                 ("nat", "POSTROUTING", "-j SKIFF-POSTROUTING")]
        self._apply_rules()
        for table, chain, rule in hooks:
            if subprocess.run(["iptables", "-w", "-t", table, "-C", chain, *rule.split()],
                              capture_output=True).returncode != 0:
                _run("iptables", "-w", "-t", table, "-A", chain, *rule.split())
        self._ready = True

    def _used_ips(self, skip: str = "") -> set[str]:
        return {r["NetworkSettings"].get("IPAddress") for cid, r in self.containers.containers.items()
                if cid != skip and r["State"]["Running"] and r.get("NetworkSettings")} - {None, ""}

    def _allocate(self, cid: str) -> ipaddress.IPv4Address:
        used = self._used_ips(cid)
        for ip in SUBNET.hosts():
            if ip != GATEWAY and str(ip) not in used:
                return ip  # type: ignore[return-value]
        raise NetworkError("no available IPv4 addresses on this network's address pools: bridge", 500)

    def _check_ports(self, rec: dict[str, Any], ports: list[tuple[str, int, int, str]]) -> None:
        taken = {}
        for cid, r in self.containers.containers.items():
            if cid == rec["Id"] or not r["State"]["Running"]:
                continue
            for hip, hp, _, proto in parse_port_bindings(r["HostConfig"]) if self.uses_bridge(r["HostConfig"]) else []:
                taken[(hp, proto)] = hip
        for hip, hp, _, proto in ports:
            if (hp, proto) in taken:
                raise NetworkError(f"driver failed programming external connectivity on endpoint "
                                   f"{rec['Name'].lstrip('/')} ({rec['Id']}): Bind for {hip}:{hp} failed: "
                                   "port is already allocated", 500)

    def _apply_rules(self) -> None:
        binds = []
        for r in self.containers.containers.values():
            ns = r.get("NetworkSettings") or {}
            if r["State"]["Running"] and ns.get("IPAddress") and self.uses_bridge(r["HostConfig"]):
                for hip, hp, cp, proto in parse_port_bindings(r["HostConfig"]):
                    binds.append((ns["IPAddress"], hip, hp, cp, proto))
        r = subprocess.run(["iptables-restore", "-w", "--noflush"], input=nat_rules(binds), capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise NetworkError(f"iptables-restore: {r.stderr.strip()}", 500)

    async def setup(self, rec: dict[str, Any], pid: int) -> None:
        from skiff.nodeagent.runtime.containers.manager import ContainerError

        mode = rec["HostConfig"].get("NetworkMode") or ""
        if mode in (*BRIDGE_MODES, "none"):
            # a network namespace of its own: Docker brings its loopback up, even with --network none
            try:  # in the engine: nsenter + ip were two processes per container
                await asyncio.to_thread(netns.link_up_in, f"/proc/{pid}/ns/net", "lo")
            except OSError as exc:
                raise ContainerError(f"bring up lo in the container's network namespace: {exc}", 500) from None
        if not self.uses_bridge(rec["HostConfig"]):
            return
        async with self._lock:
            try:
                await asyncio.to_thread(self._setup, rec, pid)
            except NetworkError as exc:
                raise ContainerError(exc.message, exc.status) from None

    def _setup(self, rec: dict[str, Any], pid: int) -> None:
        ports = parse_port_bindings(rec["HostConfig"])
        self._check_ports(rec, ports)
        self._ensure_bridge()
        ip = self._allocate(rec["Id"])
        host_if, peer = f"veth{rec['Id'][:8]}", f"vp{rec['Id'][:10]}"
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer)
        try:
            _run("ip", "link", "set", host_if, "master", BRIDGE, "up")
            _run("ip", "link", "set", peer, "netns", str(pid))
            ns = ["nsenter", "-t", str(pid), "-n"]
            _run(*ns, "ip", "link", "set", peer, "name", "eth0")
            _run(*ns, "ip", "link", "set", "eth0", "address", mac_of(ip))
            _run(*ns, "ip", "addr", "add", f"{ip}/{SUBNET.prefixlen}", "dev", "eth0")
            _run(*ns, "ip", "link", "set", "eth0", "up")
            _run(*ns, "ip", "route", "add", "default", "via", str(GATEWAY))
        except NetworkError:
            subprocess.run(["ip", "link", "del", host_if], capture_output=True)
            raise
        port_map: dict[str, Any] = {f"{p}/{proto}": None for p, proto in
                                    ((k.partition("/")[0], k.partition("/")[2] or "tcp")
                                     for k in (rec["Config"].get("ExposedPorts") or {}))}
        for hip, hp, cp, proto in ports:
            port_map.setdefault(f"{cp}/{proto}", None)
            port_map[f"{cp}/{proto}"] = (port_map[f"{cp}/{proto}"] or []) + [{"HostIp": hip, "HostPort": str(hp)}]
        net = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "bridge", "EndpointID": host_if,
               "Gateway": str(GATEWAY), "IPAddress": str(ip), "IPPrefixLen": SUBNET.prefixlen,
               "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": mac_of(ip)}
        rec["NetworkSettings"] = {
            "Bridge": "", "SandboxID": "", "SandboxKey": f"/proc/{pid}/ns/net", "Ports": port_map,
            "Gateway": str(GATEWAY), "IPAddress": str(ip), "IPPrefixLen": SUBNET.prefixlen,
            "MacAddress": mac_of(ip), "EndpointID": host_if, "GlobalIPv6Address": "", "IPv6Gateway": "",
            "Networks": {"bridge": net},
        }
        # The state counts as running for the rule set only once started; include this one now.
        running, rec["State"]["Running"] = rec["State"]["Running"], True
        try:
            self._apply_rules()
        finally:
            rec["State"]["Running"] = running
        self.containers.rewrite_hosts(rec)

    async def teardown(self, rec: dict[str, Any]) -> None:
        if not self.uses_bridge(rec["HostConfig"]) or not (rec.get("NetworkSettings") or {}).get("IPAddress"):
            return
        async with self._lock:
            await asyncio.to_thread(self._teardown, rec)

    def _teardown(self, rec: dict[str, Any]) -> None:
        subprocess.run(["ip", "link", "del", f"veth{rec['Id'][:8]}"], capture_output=True)
        rec["NetworkSettings"] = {"Ports": {}, "Networks": {}}
        running, rec["State"]["Running"] = rec["State"]["Running"], False
        try:
            self._ensure_bridge()
            self._apply_rules()
        finally:
            rec["State"]["Running"] = running
