"""``skiff lab up|down|status``: a multi-node cluster on this machine, each node a network namespace.

    skiff lab up [--nodes 3] [--demo] [--data-dir DIR] [--name skiff] [--port 6443]
    skiff lab status [--data-dir DIR]
    skiff lab down [--data-dir DIR]

``up`` wires the namespaces (see :mod:`lab_topology`), opens the API's host listener on
127.0.0.1:PORT *before* starting ``skiff server`` inside the server namespace (the socket
stays in the host's network namespace, so kubectl on the host reaches the server while
nothing else of the host is touched), starts the image registry and, where this build has
the node agent, one ``skiff agent`` per node namespace. Every daemon is started in the
lab's cgroup, so ``down`` finds every process of the lab — containers included — even
after a crash, and removes processes, mounts under DIR, namespaces and cgroups.
The admin kubeconfig is ``DIR/kubeconfig``; state is in ``DIR/lab.json``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skiff.cmd import lab_containerd
from skiff.cmd import lab_topology as topo

REPO = Path(__file__).resolve().parents[2]
STATE = "lab.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/skiff-lab"), help="lab state (default %(default)s)")
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default %(default)s)")
    p.add_argument("--name", default="skiff", help="prefix of the lab's namespaces (default %(default)s)")
    p.add_argument("--port", type=int, default=topo.API_PORT, help="host port of the API on 127.0.0.1")
    p.add_argument("--subnet", default="10.240.0.0/24", help="the lab's node network (inside its namespaces)")
    p.add_argument("--demo", action="store_true", help="build the demo images and apply the demo manifests")
    p.add_argument("--images", action="store_true", help="build the demo images into the lab's registry")
    p.add_argument("--containerd-nodes", type=int, default=0, metavar="K",
                   help="the last K nodes run Debian's containerd as their CRI runtime instead of Skiff's engine")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the cluster to come up")


class LabError(Exception):
    pass


@dataclass
class Proc:
    role: str
    pid: int
    start: str  # /proc/PID/stat start time: a recorded PID is ours only while it matches

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _sh(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip() or f'exit {r.returncode}'}")


# -- cgroups ---------------------------------------------------------------------------------------

def cgroup_roots() -> list[Path]:
    """The launcher's own cgroup in each mounted hierarchy (v1 controllers, cgroup2, or both)."""
    mounts: list[tuple[str, str, set[str]]] = []  # (mount point, root, controllers or {"2"})
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if not rfields or rfields[0] not in ("cgroup", "cgroup2"):
            continue
        opts = set(rfields[2].split(",")) if len(rfields) > 2 else set()
        mounts.append((fields[4], fields[3], {"2"} if rfields[0] == "cgroup2" else opts))
    roots: list[Path] = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        want = {"2"} if hid == "0" and not controllers else set(controllers.split(","))
        for point, root, opts in mounts:
            if want <= opts:
                rel = path[len(root):] if root != "/" and path.startswith(root) else path
                roots.append(Path(point + rel.rstrip("/")))
                break
    return [r for r in dict.fromkeys(roots) if r.is_dir()]


def own_cgroup_path() -> str:
    """The launcher's cgroup as a path inside a hierarchy (the pids controller's on cgroup v1,
    the unified one on v2): what an absolute cgroup path for the lab starts with."""
    lines = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    for hid, controllers, path in lines:
        if "pids" in controllers.split(","):
            return path
    return next((path for hid, controllers, path in lines if hid == "0"), "/")


def _cg_dirs(t: topo.Topology, role: str | None = None) -> list[Path]:
    return [r / t.cgroup / role if role else r / t.cgroup for r in cgroup_roots()]


def make_cgroups(t: topo.Topology, role: str) -> list[Path]:
    dirs = _cg_dirs(t, role)
    for d in dirs:
        for level in (d.parent, d):
            level.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset refuses tasks until these are set
                f = level / name
                if f.exists() and not f.read_text().strip():
                    f.write_text((level.parent / name).read_text())
    return dirs


def _procs_under(top: Path) -> set[int]:
    pids: set[int] = set()
    if not top.is_dir():
        return pids
    for d, _, files in os.walk(top):
        if "cgroup.procs" in files:
            try:
                pids |= {int(x) for x in (Path(d) / "cgroup.procs").read_text().split()}
            except OSError:
                pass
    return pids


def kill_cgroups(t: topo.Topology, *, timeout: float = 15.0) -> None:
    """SIGKILL whatever still runs in the lab's cgroups (thawed first), then remove them bottom-up."""
    tops = _cg_dirs(t)
    for top in tops:
        for d, _, files in os.walk(top):
            for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if name in files:
                    try:
                        (Path(d) / name).write_text(value)
                    except OSError:
                        pass
    deadline = time.monotonic() + timeout
    while True:
        pids = set().union(*(_procs_under(top) for top in tops)) if tops else set()
        pids.discard(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise LabError(f"processes {sorted(pids)} in the lab's cgroups do not die")
        time.sleep(0.1)
    # a v1 memory cgroup may refuse rmdir (EBUSY) for a moment after its last task died
    deadline = time.monotonic() + 10
    left = [top for top in tops if top.is_dir()]
    while left:
        for top in left:
            for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        left = [top for top in left if top.is_dir()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)


# -- processes -------------------------------------------------------------------------------------

def spawn(role: str, argv: list[str], log: Path, cgroups: list[Path], *, pass_fds: tuple[int, ...] = ()) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")

    def enter() -> None:  # in the child, before exec: its own session, in the lab's cgroup
        os.setsid()
        for d in cgroups:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             preexec_fn=enter, pass_fds=pass_fds, close_fds=True)
    finally:
        out.close()
    return Proc(role, p.pid, _start_time(p.pid) or "?")


def _in_ns(ns: str, argv: list[str]) -> list[str]:
    # nsenter --net, not ip netns exec: that remounts /sys and hides the cgroup mounts
    return ["nsenter", f"--net=/run/netns/{ns}", "--", *argv]


def _wait_port(ns: str, ip: str, port: int, timeout: float, proc: Proc, log: Path) -> None:
    probe = f"import socket; socket.create_connection(('{ip}', {port}), timeout=1).close()"
    deadline = time.monotonic() + timeout
    while subprocess.run(_in_ns(ns, [sys.executable, "-c", probe]), capture_output=True).returncode != 0:
        if not proc.alive():
            raise LabError(f"{proc.role} exited:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise LabError(f"{proc.role} does not listen on {ip}:{port} after {timeout:.0f}s:\n{_tail(log)}")
        time.sleep(0.3)


def _tail(log: Path, n: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# -- state -----------------------------------------------------------------------------------------

def save(data: Path, t: topo.Topology, procs: list[Proc], port: int) -> None:
    state = {"name": t.name, "nodes": len(t.nodes), "subnet": t.subnet, "port": port,
             "procs": [asdict(p) for p in procs]}
    tmp = data / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, data / STATE)


def load(data: Path) -> tuple[topo.Topology, list[Proc], int] | None:
    try:
        state = json.loads((data / STATE).read_text())
    except (OSError, ValueError):
        return None
    t = topo.plan(state["name"], int(state["nodes"]), state["subnet"])
    return t, [Proc(**p) for p in state.get("procs") or []], int(state.get("port") or topo.API_PORT)


def _netns_names() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except OSError:
        return set()


# -- verbs -----------------------------------------------------------------------------------------

def up(args: argparse.Namespace) -> int:
    data: Path = args.data_dir.resolve()
    t = topo.plan(args.name, args.nodes, args.subnet)
    if not 0 <= args.containerd_nodes <= args.nodes:
        raise LabError(f"--containerd-nodes {args.containerd_nodes}: must be between 0 and --nodes ({args.nodes})")
    existing = load(data)
    if existing and any(p.alive() for p in existing[1]):
        print(f"skiff lab: a lab already runs from {data}: `skiff lab status --data-dir {data}` shows it, "
              f"`skiff lab down --data-dir {data}` stops it; KUBECONFIG={data / 'kubeconfig'}")
        return 0
    if existing:  # a lab that died (machine restart, crash): clear what it left, then start afresh
        teardown(data, quiet=True)
    busy = _netns_names() & set(t.namespaces)
    if busy:
        raise LabError(f"network namespaces {sorted(busy)} exist already: `skiff lab down --name {t.name}` "
                       "removes what a crashed lab left")
    data.mkdir(parents=True, exist_ok=True)
    logs = data / "logs"
    procs: list[Proc] = []
    save(data, t, procs, args.port)  # from here on, down can undo everything
    try:
        host_sock = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    except OSError as e:
        raise LabError(f"127.0.0.1:{args.port}: {e.strerror} (choose another --port)") from e
    try:
        for ns in t.namespaces:
            _sh(["ip", "netns", "add", ns])
        for cmd in topo.network_commands(t):
            _sh(cmd)
        # the registry holds the images pods run; agents' engines mirror Docker Hub names to it
        reg = data / "registry"
        (reg / "data").mkdir(parents=True, exist_ok=True)
        (reg / "config.yml").write_text(topo.registry_config(t, str(reg / "data")))
        registry_bin = shutil.which("docker-registry")
        if registry_bin is None:
            raise LabError("docker-registry is not installed (apt-get install docker-registry)")
        procs.append(spawn("registry", _in_ns(t.server.netns, [registry_bin, "serve", str(reg / "config.yml")]),
                           logs / "registry.log", make_cgroups(t, "registry")))
        save(data, t, procs, args.port)
        _wait_port(t.server.netns, t.server.ip, topo.REGISTRY_PORT, 30, procs[-1], logs / "registry.log")
        if args.demo or args.images or args.containerd_nodes:  # containerd needs the pause image
            _build_images(t, logs / "images.log")
        server = [sys.executable, "-m", "skiff.cmd.main", "server", "--data-dir", str(data),
                  "--listen", f"{t.server.ip}:{topo.API_PORT}", "--listen-fd", str(host_sock.fileno()),
                  # a lab reacts faster than Kubernetes' defaults (40 s, 300 s) to a node it lost
                  "--node-monitor-grace-period", "20", "--pod-eviction-timeout", "30",
                  "--default-not-ready-toleration-seconds", "30", "--default-unreachable-toleration-seconds", "30"]
        kc = data / "kubeconfig"
        kc.unlink(missing_ok=True)
        procs.append(spawn("server", _in_ns(t.server.netns, server), logs / "server.log",
                           make_cgroups(t, "server"), pass_fds=(host_sock.fileno(),)))
        save(data, t, procs, args.port)
        deadline = time.monotonic() + args.timeout
        while not kc.exists():
            if not procs[-1].alive():
                raise LabError(f"skiff server exited:\n{_tail(logs / 'server.log')}")
            if time.monotonic() > deadline:
                raise LabError(f"skiff server is not serving after {args.timeout:.0f}s:\n{_tail(logs / 'server.log')}")
            time.sleep(0.2)
        host_sock.close()
        if importlib.util.find_spec("skiff.cmd.agent") is None:
            print("skiff lab: this build has no node agent yet: the nodes' namespaces are up, but no pod runs",
                  file=sys.stderr)
        else:
            token = (data / "token").read_text().strip()
            for i, m in enumerate(t.nodes):
                root = data / "nodes" / m.role
                root.mkdir(parents=True, exist_ok=True)
                agent = [sys.executable, "-m", "skiff.cmd.main", "agent", "--server", t.api_url, "--token", token,
                         "--node-name", m.role, "--root", str(root), "--ca-file", str(data / "pki" / "ca.crt"),
                         "--node-ip", m.ip, "--cluster-dns", topo.CLUSTER_DNS_IP]
                if i >= len(t.nodes) - args.containerd_nodes:
                    # absolute, inside the node's lab cgroup in every hierarchy (runc would put a relative
                    # path for the hybrid cgroup2 hierarchy at its root)
                    pods_cg = f"{own_cgroup_path().rstrip('/')}/{t.cgroup}/{m.role}/kubepods"
                    agent += [f"--runtime-endpoint={_start_containerd(t, m, root, procs, logs)}",
                              f"--cgroup-root={pods_cg}"]
                    save(data, t, procs, args.port)
                else:
                    agent += [f"--engine-arg=--registry-mirror={t.registry}",
                              f"--engine-arg=--insecure-registry={t.registry}"]
                procs.append(spawn(m.role, _in_ns(m.netns, agent), logs / f"{m.role}.log", make_cgroups(t, m.role)))
                save(data, t, procs, args.port)
            cidrs = _wait_nodes_ready(kc, [m.role for m in t.nodes], procs, deadline, logs)
            for cmd in topo.server_routes(t, cidrs):
                _sh(cmd)
            _start_services(t, data, procs, logs, kc, args.port)
        if args.demo:
            # applied once the nodes are Ready, so the scheduler spreads the demo over all of them
            demo = REPO / "manifests" / "demo"
            r = subprocess.run([sys.executable, "-m", "skiff.cli.main", "--kubeconfig", str(kc), "apply", "-R",
                                "-f", str(demo)], capture_output=True, text=True)
            if r.returncode != 0:
                raise LabError(f"applying {demo} failed: {r.stderr.strip()}")
            print(r.stdout, end="")
    except BaseException:
        host_sock.close()
        teardown(data, quiet=True)
        raise
    print(f"skiff lab: {len(t.nodes)} nodes up; export KUBECONFIG={data / 'kubeconfig'}")
    return 0


def _start_containerd(t: topo.Topology, m: topo.Member, root: Path, procs: list[Proc], logs: Path) -> str:
    """containerd for node ``m``, in its namespace and cgroup; returns its CRI endpoint once it serves."""
    binary = shutil.which("containerd")
    if binary is None:
        raise LabError("containerd is not installed (apt-get install containerd)")
    node = lab_containerd.ContainerdNode(root)
    lab_containerd.write_files(node, t.registry)
    log = logs / f"{m.role}-containerd.log"
    procs.append(spawn(f"{m.role}-containerd", _in_ns(m.netns, [binary, "--config", str(node.config)]), log,
                       make_cgroups(t, m.role)))
    deadline = time.monotonic() + 60
    while not node.socket.exists():
        if not procs[-1].alive():
            raise LabError(f"containerd of {m.role} exited:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise LabError(f"containerd of {m.role} does not serve after 60s:\n{_tail(log)}")
        time.sleep(0.1)
    return node.endpoint


def _start_services(t: topo.Topology, data: Path, procs: list[Proc], logs: Path, kc: Path, port: int) -> None:
    """Cluster DNS in the server namespace behind ``kube-dns`` (10.96.0.10), and a proxy on every node."""
    internal = str(data / "internal.kubeconfig")
    skiff = [sys.executable, "-m", "skiff.cmd.main"]
    empty = data / "dns-upstreams.conf"  # the lab reaches no resolver outside itself
    empty.write_text("# no upstream resolvers: names outside the cluster are not resolved in the lab\n")
    dns = [*skiff, "dns", "--kubeconfig", internal, "--listen", f"{t.server.ip}:53", "--resolv-conf", str(empty)]
    procs.append(spawn("dns", _in_ns(t.server.netns, dns), logs / "dns.log", make_cgroups(t, "dns")))
    save(data, t, procs, port)
    for m in t.nodes:
        proxy = [*skiff, "proxy", "--kubeconfig", internal, "--node-name", m.role,
                 "--cluster-cidr", topo.CLUSTER_CIDR]
        procs.append(spawn(f"{m.role}-proxy", _in_ns(m.netns, proxy), logs / f"{m.role}-proxy.log",
                           make_cgroups(t, f"{m.role}-proxy")))
        save(data, t, procs, port)
    r = subprocess.run([*skiff[:2], "skiff.cli.main", "--kubeconfig", str(kc), "apply", "-f", "-"],
                       input=topo.dns_manifests(t), capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"creating kube-system/kube-dns failed: {r.stderr.strip()}")


def usable_nodes(items: list[dict[str, Any]]) -> dict[str, str]:
    """Node name -> podCIDR of the nodes a Deployment can use now: Ready, with a podCIDR, and
    without the node lifecycle controller's ``node.kubernetes.io/*`` taints (which keep
    ordinary pods off a node that just joined). Pure."""
    out = {}
    for n in items:
        spec, st = n.get("spec") or {}, n.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
        tainted = any(str(t.get("key", "")).startswith("node.kubernetes.io/") for t in spec.get("taints") or [])
        if ready and not tainted and spec.get("podCIDR"):
            out[n["metadata"]["name"]] = str(spec["podCIDR"])
    return out


def _wait_nodes_ready(kc: Path, names: list[str], procs: list[Proc], deadline: float,
                      logs: Path) -> dict[str, str]:
    """Until every node is usable through the API (as ``kubectl get nodes`` would show it).
    Returns each node's podCIDR."""
    import asyncio

    from skiff.api.resources import find
    from skiff.client import ApiClient

    nodes_res = find("nodes")
    assert nodes_res is not None

    async def poll() -> dict[str, str]:
        async with ApiClient.from_kubeconfig(str(kc)) as api:
            while True:
                try:
                    found = usable_nodes((await api.list(nodes_res)).get("items") or [])
                except Exception:  # noqa: BLE001 - the server may still be starting its watch caches
                    found = {}
                missing = set(names) - set(found)
                if not missing:
                    return found
                for p in procs:
                    if not p.alive():
                        raise LabError(f"{p.role} exited:\n{_tail(logs / f'{p.role}.log')}")
                if time.monotonic() > deadline:
                    raise LabError(f"nodes {sorted(missing)} are not Ready in time:\n"
                                   + "\n".join(_tail(logs / f"{n}.log", 5) for n in sorted(missing)))
                await asyncio.sleep(0.5)

    return asyncio.run(poll())


def _build_images(t: topo.Topology, log: Path) -> None:
    script = REPO / "deploy" / "images" / "build_images.py"
    if not script.exists():
        raise LabError(f"{script} is missing: --demo needs a checkout of the Skiff repository")
    with open(log, "ab") as out:
        # under library/, where the engines' Docker Hub mirror looks for busybox:1.36 and friends
        r = subprocess.run(_in_ns(t.server.netns, [sys.executable, str(script), "--registry", t.registry,
                                                   "--repo-prefix", "library/", "--tags", "latest,1.36"]),
                           stdout=out, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise LabError(f"building the demo images failed:\n{_tail(log)}")


def teardown(data: Path, *, name: str | None = None, quiet: bool = False) -> list[str]:
    """Undo a lab: its processes, everything in its cgroups, mounts under DATA, namespaces. Returns what it did."""
    done: list[str] = []
    state = load(data)
    if state is None and name is None:
        raise LabError(f"no lab state in {data} (give --name to clean up what a lost lab left)")
    # without state (a lab lost mid-start), the name alone finds its namespaces and cgroups
    t, procs, _ = state if state else (topo.plan(name or "skiff", 1), [], 0)
    for p in reversed(procs):  # agents first, the server and registry last
        if p.alive():
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in procs:
        if p.alive():
            os.kill(p.pid, signal.SIGKILL)
        done.append(f"stopped {p.role} (pid {p.pid})")
    kill_cgroups(t)
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(data) or point.startswith(str(data) + "/"):
            mounts.append(point)
    for point in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
        done.append(f"unmounted {point}")
    ours = {ns for ns in _netns_names()
            if ns in t.namespaces or (ns.startswith(f"{t.name}-") and
                                       (ns[len(t.name) + 1:] in ("net", "server") or
                                        ns[len(t.name) + 1:].removeprefix("node").isdigit()))}
    for ns in sorted(ours):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        done.append(f"deleted netns {ns}")
    (data / STATE).unlink(missing_ok=True)
    if not quiet:
        for line in done:
            print(line)
    return done


def status(args: argparse.Namespace) -> int:
    data: Path = args.data_dir.resolve()
    state = load(data)
    if state is None:
        print(f"no lab in {data}")
        return 1
    t, procs, port = state
    addr = {m.role: (m.netns, m.ip) for m in t.members}
    rows = [("ROLE", "NAMESPACE", "ADDRESS", "PID", "STATUS")]
    for p in procs:
        ns, ip = addr.get(p.role.split("-")[0], (t.server.netns, t.server.ip))
        rows.append((p.role, ns, ip, str(p.pid), "Running" if p.alive() else "Exited"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\nAPI: https://127.0.0.1:{port} (KUBECONFIG={data / 'kubeconfig'})")
    return 0 if procs and all(p.alive() for p in procs) else 1


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("skiff lab: must run as root (it creates network namespaces)", file=sys.stderr)
        return 1
    try:
        if args.action == "up":
            return up(args)
        if args.action == "status":
            return status(args)
        teardown(args.data_dir.resolve(), name=args.name)
        return 0
    except (LabError, ValueError) as e:
        print(f"skiff lab {args.action}: {e}", file=sys.stderr)
        return 1
