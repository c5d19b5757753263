"""``skiff agent``: join this machine to a cluster as a node (flags → options, then run).

    skiff agent --server URL --token T --node-name N --root DIR [--runtime-endpoint unix://PATH]

With no ``--runtime-endpoint`` the agent starts its own engine (``skiff daemon --cri``,
state under ``DIR/engine``) and stops it on exit; containers outlive both.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from skiff.client import ApiClient, ClientConfig

log = logging.getLogger("skiff.agent")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", required=True, help="API server URL (https://HOST:PORT)")
    p.add_argument("--token", required=True, help="the join token (DIR/token of skiff server)")
    p.add_argument("--node-name", default=socket.gethostname(), help="this node's name (default: hostname)")
    p.add_argument("--root", required=True, type=Path, help="state directory (pod logs, engine state)")
    p.add_argument("--runtime-endpoint", default="", help="CRI socket (unix://PATH); default: start an engine")
    p.add_argument("--ca-file", default="", help="CA of the API server (default: ROOT/ca.crt if present, "
                                                 "else the server's certificate is not verified)")
    p.add_argument("--node-ip", default="", help="address reported as InternalIP (default: first global IPv4)")
    p.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--cluster-dns", action="append", default=[], metavar="IP",
                   help="DNS server of ClusterFirst pods (repeatable; the lab's is 10.96.0.10); "
                        "without it pods use the node's resolv.conf")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    p.add_argument("--kubelet-port", type=int, default=10250,
                   help="port of the kubelet API (logs, exec) on all addresses; 0 turns it off")
    p.add_argument("--lease-interval", type=float, default=10.0)
    p.add_argument("--status-interval", type=float, default=10.0)
    p.add_argument("--cgroup-root", default="", metavar="PATH",
                   help="parent cgroup of every pod, by QoS class as the kubelet's (PATH/pod<uid>, "
                        "PATH/burstable/pod<uid>, PATH/besteffort/pod<uid>); a relative PATH nests under the "
                        "runtime's own cgroup (default: kubepods, which Skiff's engine nests under its own)")
    p.add_argument("--engine-arg", action="append", default=[],
                   help="extra argument for the engine the agent starts (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true")


def client_config(args: argparse.Namespace) -> ClientConfig:
    if not args.server.startswith(("https://", "http://")):
        raise SystemExit(f"skiff agent: --server {args.server!r}: expected https://HOST:PORT")
    if args.ca_file:
        try:
            ca = Path(args.ca_file).read_bytes()
        except OSError as exc:
            raise SystemExit(f"skiff agent: --ca-file {args.ca_file}: {exc.strerror}") from None
        return ClientConfig(server=args.server.rstrip("/"), token=args.token, ca_data=ca)
    log.warning("no --ca-file: the API server's certificate is not verified")
    return ClientConfig(server=args.server.rstrip("/"), token=args.token, insecure_skip_tls_verify=True)


def labels_from_args(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"skiff agent: --node-label {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def serving(sock: Path) -> bool:
    """Whether something accepts connections on the unix socket ``sock``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(str(sock))
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_engine(root: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes] | None, str]:
    """``skiff daemon --cri`` under ROOT/engine; returns it and its CRI endpoint once it serves.

    An engine that still serves there (its agent was killed, the engine and its containers were
    not) is used as it is: ``None`` is returned for the process, and it is left running on exit."""
    eng = root / "engine"
    eng.mkdir(parents=True, exist_ok=True)
    cri = eng / "cri.sock"
    if serving(cri):
        log.info("using the engine that already serves %s", cri)
        return None, f"unix://{cri}"
    if cri.exists():
        cri.unlink()
    logf = open(eng / "engine.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "skiff.cmd.main", "daemon", "--root", str(eng / "root"),
                             "--host", f"unix://{eng / 'docker.sock'}", "--cri", f"unix://{cri}", *extra],
                            stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    deadline = time.monotonic() + 60
    while not cri.exists():
        if proc.poll() is not None:
            raise SystemExit(f"skiff agent: the engine exited with {proc.returncode} (see {eng / 'engine.log'})")
        if time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit(f"skiff agent: the engine did not serve CRI within 60s (see {eng / 'engine.log'})")
        time.sleep(0.05)
    return proc, f"unix://{cri}"


def stop_engine(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EngineKeeper:
    """Restarts the agent's own engine when it dies: its containers outlive it (each has its
    own shim), and the new engine finds them again, so the pods keep running."""

    def __init__(self, root: Path, extra: list[str], proc: subprocess.Popen[bytes] | None) -> None:
        self.root, self.extra, self.proc = root, extra, proc
        self.sock = root / "engine" / "cri.sock"

    def dead(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is not None
        return not serving(self.sock)  # an engine adopted from an earlier agent: no process handle

    async def keep(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        from skiff.machinery.stopping import stopped_within

        while not await stopped_within(stop, interval):
            if not await asyncio.to_thread(self.dead):
                continue
            code = self.proc.returncode if self.proc is not None else None
            log.warning("the engine is gone (exit status %s): starting it again", code)
            try:
                self.proc, _ = await asyncio.to_thread(start_engine, self.root, self.extra)
            except SystemExit as exc:
                log.error("%s; trying again", exc)
                await asyncio.sleep(5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_engine(self.proc)


async def _main(args: argparse.Namespace, endpoint: str, keeper: EngineKeeper | None = None) -> int:
    from skiff.nodeagent.kubelet.agent import Agent, AgentOptions
    from skiff.nodeagent.kubelet.cri import CriClient

    options = AgentOptions(node_name=args.node_name, root=str(args.root.resolve()), node_ip=args.node_ip,
                           lease_interval=args.lease_interval, status_interval=args.status_interval,
                           labels=labels_from_args(args.node_label), kubelet_port=args.kubelet_port,
                           token=args.token, cluster_dns=tuple(args.cluster_dns),
                           cluster_domain=args.cluster_domain, cgroup_root=args.cgroup_root)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cri = CriClient(endpoint)
    try:
        async with ApiClient(client_config(args)) as client:
            agent = Agent(client, cri, options)
            run = asyncio.create_task(agent.run(stop))
            waiter = asyncio.create_task(stop.wait())
            kept = asyncio.create_task(keeper.keep(stop)) if keeper is not None else None
            await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            await run
            if kept is not None:
                await kept
    finally:
        await cri.close()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.root.mkdir(parents=True, exist_ok=True)
    if not args.ca_file and (args.root / "ca.crt").exists():
        args.ca_file = str(args.root / "ca.crt")
    keeper = None
    endpoint = args.runtime_endpoint
    if not endpoint:
        engine, endpoint = start_engine(args.root, list(args.engine_arg))
        keeper = EngineKeeper(args.root, list(args.engine_arg), engine)
    try:
        return asyncio.run(_main(args, endpoint, keeper))
    finally:
        if keeper is not None:
            keeper.stop()
