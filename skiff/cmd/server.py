"""``skiff server``: etcd (embedded unless ``--etcd-servers``), the API server, scheduler and controllers.

Start-up order: data dir → PKI and tokens → etcd → API server listening over HTTPS →
``DATA_DIR/kubeconfig`` written (only now, so its existence means "serving") →
scheduler and controllers as clients of the API → ``--apply`` manifests.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("skiff.server")


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be a whole number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must not be negative")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", required=True, type=Path, help="state directory (etcd data, PKI, kubeconfig)")
    p.add_argument("--listen", default="127.0.0.1:6443", help="HOST:PORT to serve HTTPS on (default %(default)s)")
    p.add_argument("--advertise-address", default=None, help="address agents and the kubeconfig use")
    p.add_argument("--listen-fd", action="append", default=[], type=int, metavar="FD",
                   help="also serve on this inherited listening socket (the lab opens 127.0.0.1:PORT "
                        "on the host before starting the server in its network namespace)")
    p.add_argument("--kubeconfig-address", default=None, metavar="HOST:PORT",
                   help="server address written into DATA_DIR/kubeconfig (default: the first --listen-fd's "
                        "address, else the advertised one)")
    p.add_argument("--etcd-servers", default=None, help="comma-separated etcd client URLs (default: embedded)")
    p.add_argument("--etcd-binary", default=None, help="etcd binary for the embedded etcd")
    p.add_argument("--disable", default="", help="comma-separated parts not to run: scheduler,controllers")
    p.add_argument("--apply", action="append", default=[], type=Path, metavar="PATH",
                   help="apply the manifests in PATH (file or directory) once serving")
    p.add_argument("--default-not-ready-toleration-seconds", type=_seconds, default=300, metavar="SECONDS",
                   help="tolerationSeconds of the not-ready:NoExecute toleration added to pods without one")
    p.add_argument("--default-unreachable-toleration-seconds", type=_seconds, default=300, metavar="SECONDS",
                   help="tolerationSeconds of the unreachable:NoExecute toleration added to pods without one")
    p.add_argument("--compaction-interval", type=float, default=300.0, help="seconds between etcd compactions")
    p.add_argument("--watch-cache-size", type=int, default=50000, help="watch events kept for resuming watches")
    g = p.add_argument_group("scheduler and controllers (Kubernetes' defaults)")
    g.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod network; each node gets a slice")
    g.add_argument("--node-cidr-mask-size", type=int, default=24, help="prefix length of a node's podCIDR")
    g.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                   help="seconds without a heartbeat before a node is Unknown")
    g.add_argument("--node-monitor-period", type=float, default=5.0, help="seconds between node health checks")
    g.add_argument("--pod-eviction-timeout", type=int, default=300,
                   help="seconds a pod without its own toleration stays on a not-ready/unreachable node")
    g.add_argument("--leader-elect-lease-duration", type=int, default=15, help="leader Lease duration (seconds)")
    g.add_argument("--leader-elect-renew-deadline", type=float, default=10.0,
                   help="seconds a leader keeps trying to renew before giving up")
    g.add_argument("--leader-elect-retry-period", type=float, default=2.0,
                   help="seconds between acquire/renew attempts")
    p.add_argument("-v", "--verbose", action="store_true")


def _secret_file(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_hex(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def kubeconfig(server: str, ca_pem: bytes, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "skiff", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "skiff", "context": {"cluster": "skiff", "user": "admin", "namespace": "default"}}],
        "current-context": "skiff",
    }


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"skiff server: --listen {listen!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


async def serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from skiff.apiserver.app import ApiServer, tls_context
    from skiff.apiserver.certs import ensure_pki
    from skiff.apiserver.etcd.embedded import EmbeddedEtcd
    from skiff.apiserver.satokens import ensure_signing_key

    data: Path = args.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    host, port = parse_listen(args.listen)
    advertise = args.advertise_address or (host if host not in ("0.0.0.0", "::") else socket.gethostname())
    extra_socks = [socket.socket(fileno=fd) for fd in args.listen_fd]
    extra_addrs = [sock.getsockname()[:2] for sock in extra_socks]
    kc_host, kc_port = (parse_listen(args.kubeconfig_address) if args.kubeconfig_address else
                        (extra_addrs[0] if extra_addrs else (advertise, port)))
    pki = ensure_pki(data / "pki", hosts=[host, advertise, kc_host, *(a for a, _ in extra_addrs)])
    signing_key = ensure_signing_key(data / "pki" / "sa.key")
    admin_token = _secret_file(data / "admin-token")
    join_token = _secret_file(data / "token")
    disabled = {p.strip() for p in args.disable.split(",") if p.strip()}

    etcd = None
    if args.etcd_servers:
        endpoints = [e.strip() for e in args.etcd_servers.split(",") if e.strip()]
    else:
        etcd = EmbeddedEtcd(data / "etcd" / "data", binary=args.etcd_binary)
        await asyncio.to_thread(etcd.start)
        endpoints = [etcd.endpoint]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = f"https://{advertise}:{port}" if ":" not in advertise else f"https://[{advertise}]:{port}"
    server = ApiServer(endpoints, {admin_token, join_token}, advertise_url=url,
                       compaction_interval=args.compaction_interval, watch_cache_size=args.watch_cache_size,
                       agent_token=join_token, signing_key=signing_key,
                       default_toleration_seconds=(args.default_not_ready_toleration_seconds,
                                                   args.default_unreachable_toleration_seconds))
    runner = None
    tasks: list[asyncio.Task[Any]] = []
    try:
        await server.start()
        runner = web.AppRunner(server.build_app(), access_log=None, handle_signals=False, shutdown_timeout=5)
        await runner.setup()
        tls = tls_context(pki.cert, pki.key)
        site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=1024)
        await site.start()
        for sock in extra_socks:
            await web.SockSite(runner, sock, ssl_context=tls).start()
        kc = data / "kubeconfig"
        tmp = kc.with_suffix(".tmp")
        kc_url = f"https://{kc_host}:{kc_port}" if ":" not in kc_host else f"https://[{kc_host}]:{kc_port}"
        tmp.write_text(yaml.safe_dump(kubeconfig(kc_url, pki.ca_pem, admin_token), sort_keys=False))
        tmp.chmod(0o600)
        # in-process parts and --apply reach the server where it listens in its own network
        # namespace; the user's kubeconfig may name an address only the host can reach
        internal = data / "internal.kubeconfig"
        itmp = internal.with_suffix(".tmp")
        itmp.write_text(yaml.safe_dump(kubeconfig(url, pki.ca_pem, admin_token), sort_keys=False))
        itmp.chmod(0o600)
        os.replace(itmp, internal)
        os.replace(tmp, kc)
        print(f"skiff server: serving on {url}; KUBECONFIG={kc}", flush=True)
        tasks += _start_components(internal, disabled, stop, args, root_ca=pki.ca_pem.decode())
        for path in args.apply:
            await _apply(internal, path)
        await stop.wait()
        return 0
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            # Stopping the cache closes every watch first, so open watch streams end
            # instead of holding the HTTP shutdown for its whole timeout.
            await server.stop()
        except Exception:  # noqa: BLE001 - start may have failed half-way
            pass
        if runner is not None:
            await runner.cleanup()
        if etcd is not None:
            etcd.stop()


def _component_kwargs(module: str, args: argparse.Namespace, *, root_ca: str = "") -> dict[str, Any]:
    """Flags → keyword arguments of ``run_scheduler`` / ``run_controllers``."""
    kwargs: dict[str, Any] = {"lease_duration": args.leader_elect_lease_duration,
                              "renew_deadline": args.leader_elect_renew_deadline,
                              "retry_period": args.leader_elect_retry_period}
    if module == "skiff.controllers.manager":
        from skiff.controllers.manager import ControllerOptions

        kwargs["options"] = ControllerOptions(
            node_monitor_grace_period=args.node_monitor_grace_period, node_monitor_period=args.node_monitor_period,
            pod_eviction_timeout=args.pod_eviction_timeout, cluster_cidr=args.cluster_cidr,
            node_cidr_mask_size=args.node_cidr_mask_size, root_ca=root_ca)
    return kwargs


def _start_components(kc: Path, disabled: set[str], stop: asyncio.Event,
                      args: argparse.Namespace, *, root_ca: str = "") -> list[asyncio.Task[Any]]:
    """Scheduler and controllers run in-process but only as API clients (k3s' shape)."""
    tasks: list[asyncio.Task[Any]] = []
    identity = f"{socket.gethostname()}-{os.getpid()}"
    parts = []
    if "scheduler" not in disabled:
        parts.append(("skiff.scheduler.runner", "run_scheduler"))
    if "controllers" not in disabled:
        parts.append(("skiff.controllers.manager", "run_controllers"))
    for module, func in parts:
        try:
            mod = __import__(module, fromlist=[func])
            from skiff.client.transport import ApiClient
            kwargs = _component_kwargs(module, args, root_ca=root_ca)
        except ImportError as exc:
            log.warning("%s is not available in this build (%s)", module, exc)
            continue

        async def run(mod: Any = mod, func: str = func, kwargs: dict[str, Any] = kwargs) -> None:
            client = ApiClient.from_kubeconfig(str(kc))
            try:
                await getattr(mod, func)(client, stop=stop, identity=identity, **kwargs)
            finally:
                await client.close()

        tasks.append(asyncio.create_task(run(), name=module))
    return tasks


async def _apply(kc: Path, path: Path) -> None:
    """Apply manifests through the public API, as a user's skiffctl would."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "skiff.cli.main", "--kubeconfig", str(kc), "apply", "-R", "-f", str(path))
    if await proc.wait() != 0:
        log.error("applying %s failed", path)


def run(args: argparse.Namespace) -> int:
    # gRPC (etcd) warns on every fork while its threads run; --apply forks skiffctl.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
