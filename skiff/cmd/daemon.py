"""``skiff daemon``: run the node engine alone, serving the Docker Engine API.

    skiff daemon --root DIR --host unix://PATH [--insecure-registry HOST:PORT|CIDR]...

It touches only ``--root`` and the socket. The socket is mode 0600 (root only).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import stat
from pathlib import Path

log = logging.getLogger("skiff.daemon")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, help="state directory of the engine")
    parser.add_argument("--host", "-H", default="unix:///run/skiff/skiff.sock",
                        help="where to serve the Docker Engine API (unix://PATH)")
    parser.add_argument("--insecure-registry", action="append", default=[],
                        metavar="HOST:PORT|CIDR", help="registry reachable over plain HTTP")
    parser.add_argument("--config-file", default="",
                        help="daemon.json-style settings (only read when given): insecure-registries")
    parser.add_argument("--registry-auth-file", default="",
                        help="credentials (docker config.json format) for pulls that carry none")
    parser.add_argument("--cri", default="", help="also serve CRI v1 on unix://PATH")
    parser.add_argument("--cni-conf-dir", default="",
                        help="CRI pod networks: CNI config dir (default: ROOT/cri/net.d, else bridge over the podCIDR)")
    parser.add_argument("--cni-bin-dir", action="append", default=[],
                        help="CRI pod networks: CNI plugin dir (default /usr/lib/cni, /opt/cni/bin)")
    parser.add_argument("--registry-mirror", action="append", default=[], metavar="HOST:PORT",
                        help="CRI pulls of Docker Hub names try this registry first, as dockerd's registry-mirrors")
    parser.add_argument("--cgroup-parent", default="skiff",
                        help="parent cgroup of containers (relative: under the daemon's own cgroup)")
    parser.add_argument("--bridge", default="auto", choices=["auto", "skiff0", "none"],
                        help="default bridge network (auto: on only inside a namespace made by `ip netns add`)")
    parser.add_argument("--log-level", default="info")


def socket_path(host: str) -> Path:
    if not host.startswith("unix://"):
        raise SystemExit(f"skiff daemon: --host {host!r}: only unix://PATH is supported")
    return Path(host[len("unix://"):])


def read_config_file(path: str) -> dict[str, object]:
    """Read a Docker ``daemon.json``; errors name the file, line and key."""
    import json

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SystemExit(f"skiff daemon: --config-file {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(
            f"skiff daemon: --config-file {path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(doc, dict):
        raise SystemExit(f"skiff daemon: --config-file {path}: must be a JSON object")
    known = {"insecure-registries"}
    unknown = sorted(set(doc) - known)
    if unknown:
        log.warning("daemon.json %s: ignoring settings this engine does not support: %s", path, ", ".join(unknown))
    regs = doc.get("insecure-registries", [])
    if not isinstance(regs, list) or not all(isinstance(r, str) for r in regs):
        raise SystemExit(f"skiff daemon: --config-file {path}: insecure-registries must be a list of strings")
    return doc


def _clear_stale_socket(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SystemExit(f"skiff daemon: --host: {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()
    else:
        raise SystemExit(f"skiff daemon: --host: another daemon is serving {path}")
    finally:
        probe.close()


def _lock_root(root: Path) -> int:
    """One daemon per root, as dockerd's pid file: two would both act on every exit."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "skiff.pid", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(f"skiff daemon: --root {root}: another daemon is running on this root") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from skiff.nodeagent.runtime.dockerapi.app import make_app
    from skiff.nodeagent.runtime.engine import Engine, EngineConfig

    path = socket_path(args.host)
    insecure = list(args.insecure_registry)
    if args.config_file:
        insecure += list(read_config_file(args.config_file).get("insecure-registries", []))  # type: ignore[call-overload]
    config = EngineConfig(
        root=Path(args.root).absolute(), host=args.host,
        insecure_registries=insecure, cri_endpoint=args.cri, cgroup_parent=args.cgroup_parent,
        bridge=args.bridge,
        registry_auth_file=Path(args.registry_auth_file).absolute() if args.registry_auth_file else None,
    )
    lock = _lock_root(config.root)
    engine = Engine(config)
    app = make_app(engine)
    if args.cri:
        from skiff.nodeagent.runtime.cri.server import CriOptions, attach_cri

        attach_cri(engine, CriOptions(endpoint=args.cri, cni_conf_dir=args.cni_conf_dir,
                                      mirrors=list(args.registry_mirror),
                                      **({"cni_bin_dirs": list(args.cni_bin_dir)} if args.cni_bin_dir else {})))
    access = logging.getLogger("aiohttp.access") if log.isEnabledFor(logging.DEBUG) else None
    # Open attach/wait/logs -f streams must not hold a stop for aiohttp's default minute.
    runner = web.AppRunner(app, handle_signals=False, access_log=access, shutdown_timeout=2)
    await runner.setup()
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale_socket(path)
    old_umask = os.umask(0o177)
    try:
        site = web.UnixSite(runner, str(path))
        await site.start()
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    log.info("skiff daemon serving on unix://%s (root %s)", path, config.root)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("skiff daemon stopping")
    await runner.cleanup()
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    os.close(lock)
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(serve(args))
