"""``port-forward`` and ``attach``: a pod's ports on local sockets, a container's own stdio.

Both go through the API server, which relays them to the node agent. ``attach`` speaks
``v5``/``v4.channel.k8s.io`` like ``exec`` (stdin, stdout/stderr, the end as a Status on
the error channel). ``port-forward`` listens locally as kubectl does and carries every
accepted connection over one ``pods/NAME/portforward`` session, SPDY/3.1 tunnelled in a
WebSocket as kubectl ≥ 1.31 does (:mod:`.spdy_tunnel`), so half-closes reach the pod.
``TYPE/NAME`` resolves to the pod kubectl picks, and a Service's port is translated to its
target port on that pod.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp

from skiff.client import requests as rq

from . import spdy_tunnel
from .cmd_pods import (
    _is_terminal,
    _pump,
    _raw_terminal,
    _resolve,
    _send_size,
    choose_container,
)
from .common import Cli, CommandError, parse_duration

Obj = dict[str, Any]
ATTACH_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pf = sub.add_parser("port-forward", help="Forward one or more local ports to a pod")
    pf.add_argument("target", help="POD or TYPE/NAME")
    pf.add_argument("ports", nargs="*", help="[LOCAL_PORT:]REMOTE_PORT")
    pf.add_argument("--address", action="append", default=None,
                    help="addresses to listen on (comma separated); default localhost")
    pf.add_argument("--pod-running-timeout", default="1m0s")
    pf.set_defaults(run=port_forward)
    at = sub.add_parser("attach", help="Attach to a running container")
    at.add_argument("target", help="POD or TYPE/NAME")
    at.add_argument("-c", "--container", default="")
    at.add_argument("-i", "--stdin", action="store_true")
    at.add_argument("-t", "--tty", action="store_true")
    at.add_argument("-q", "--quiet", action="store_true")
    at.add_argument("--pod-running-timeout", default="1m0s")
    at.set_defaults(run=attach)


# -- decisions (pure) ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PortSpec:
    local: int  # 0: pick a free one
    remote: str  # a number, or a port name to translate


def parse_port_specs(specs: list[str]) -> list[PortSpec]:
    """``8080:80``, ``:80`` (any local port), ``80`` (the same port) -> specs; errors as kubectl's."""
    if not specs:
        raise CommandError("at least 1 PORT is required for port-forward")
    out = []
    for spec in specs:
        local, sep, remote = spec.partition(":")
        if not sep:
            local, remote = spec, spec
        if not remote:
            raise CommandError(f"error parsing remote port '{remote}' of port specification '{spec}'")
        if local:
            if not local.isdigit() or not 0 <= int(local) < 65536:
                raise CommandError(f"Error parsing local port '{local}': strconv.ParseUint: parsing "
                                   f"\"{local}\": invalid syntax")
        if remote.isdigit() and not 0 < int(remote) < 65536:
            raise CommandError(f"Error parsing remote port '{remote}': port must be between 1 and 65535")
        out.append(PortSpec(int(local or 0), remote))
    return out


def listen_addresses(values: list[str] | None) -> list[str]:
    """``--address`` values -> addresses; ``localhost`` is 127.0.0.1 and ::1, as kubectl listens."""
    out: list[str] = []
    for value in values or ["localhost"]:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            for addr in (["127.0.0.1", "::1"] if part == "localhost" else [part]):
                if addr not in out:
                    out.append(addr)
    if not out:
        raise CommandError("--address must not be empty")
    for addr in out:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)
        except OSError:
            raise CommandError(f"{addr} is not a valid IP") from None
    return out


def container_port(pod: Obj, name: str) -> int:
    """A pod's container port by name (``port-forward pod/x 8080:http``)."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name:
                return int(p["containerPort"])
    raise CommandError(f"Pod '{pod['metadata']['name']}' does not have a named port '{name}'")


def service_target(service: Obj, pod: Obj, port: str) -> int:
    """A Service's port -> the pod port it targets (kubectl's translateServicePortToTargetPort)."""
    svc_name = service["metadata"]["name"]
    if not port.isdigit():
        for p in (service.get("spec") or {}).get("ports") or []:
            if p.get("name") == port:
                port = str(p["port"])
                break
        else:
            raise CommandError(f"Service '{svc_name}' does not have a named port '{port}'")
    for p in (service.get("spec") or {}).get("ports") or []:
        if int(p.get("port") or 0) == int(port):
            target = p.get("targetPort", p["port"])
            if isinstance(target, int) or str(target).isdigit():
                return int(target)
            return container_port(pod, str(target))
    raise CommandError(f"Service {svc_name} does not have a service port {port}")


def remote_port(spec: PortSpec, pod: Obj, service: Obj | None) -> int:
    if service is not None:
        return service_target(service, pod, spec.remote)
    return int(spec.remote) if spec.remote.isdigit() else container_port(pod, spec.remote)


def shown(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


# -- port-forward ------------------------------------------------------------------------------

async def _target_pod(cli: Cli, target: str, timeout: float) -> tuple[Obj, Obj | None]:
    """(the pod, the Service when the target is one)."""
    service = None
    if "/" in target:
        kind, _, name = target.partition("/")
        res = await cli.resource(kind)
        if res.kind == "Service":
            service = dict(await cli.api.get(res, name, namespace=cli.namespace))
    pod = await _resolve(cli, target, timeout, announce=False, builder_errors=False)
    return pod, service


async def port_forward(cli: Cli, args: argparse.Namespace) -> int:
    specs = parse_port_specs(list(args.ports))
    addresses = listen_addresses(args.address)
    pod, service = await _target_pod(cli, args.target, parse_duration(args.pod_running_timeout))
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise CommandError(f"unable to forward port because pod is not running. Current status={phase}")
    remotes = [remote_port(spec, pod, service) for spec in specs]  # all checked before listening
    meta = pod["metadata"]
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/portforward"
    ws = await cli.api.websocket(rq.Request("GET", path), protocols=(spdy_tunnel.PROTOCOL,))
    tunnel = spdy_tunnel.Tunnel(ws)
    servers: list[asyncio.AbstractServer] = []
    try:
        for spec, remote in zip(specs, remotes):
            cell = [spec.local]  # the local port, once the first listener has picked it
            errors = []
            for addr in addresses:
                try:
                    server = await asyncio.start_server(
                        lambda r, w, c=cell, rp=remote: _forward(cli, tunnel, c[0], rp, r, w),
                        addr, cell[0], reuse_address=True)
                except OSError as exc:
                    errors.append(f"unable to create listener: Error listen tcp{'6' if ':' in addr else '4'} "
                                  f"{shown(addr)}:{cell[0]}: bind: {(exc.strerror or str(exc)).lower()}")
                    continue
                cell[0] = server.sockets[0].getsockname()[1]
                servers.append(server)
                cli.out.write(f"Forwarding from {shown(addr)}:{cell[0]} -> {remote}\n")
                cli.out.flush()
            if len(errors) == len(addresses):
                raise CommandError(f"Unable to listen on port {spec.local}: Listeners failed to create with the "
                                   f"following errors: [{' '.join(errors)}]\nunable to listen on any of the "
                                   f"requested ports: [{spec.local}:{spec.remote}]")
        if await _until_signalled(tunnel.lost):
            raise CommandError("lost connection to pod")
    finally:
        for server in servers:
            server.close()
        await tunnel.close()
    return 0


async def _until_signalled(lost: asyncio.Event) -> bool:
    """Wait for SIGINT/SIGTERM (False) or the end of the session (True)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return not stop.is_set()
    finally:
        for w in waits:
            w.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def _forward(cli: Cli, tunnel: spdy_tunnel.Tunnel, local: int, remote: int, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
    """One accepted connection: a stream pair of the session. A refused port is reported and
    the listener stays (kubectl gives up the whole session instead)."""
    cli.out.write(f"Handling connection for {local}\n")
    cli.out.flush()
    try:
        error = await tunnel.forward(remote, reader, writer)
    except (ConnectionError, aiohttp.ClientError):
        return
    if error:
        cli.err.write(f"error: an error occurred forwarding {local} -> {remote}: {error}\n")
        cli.err.flush()


# -- attach --------------------------------------------------------------------------------------

async def attach(cli: Cli, args: argparse.Namespace) -> int:
    pod = await _resolve(cli, args.target, parse_duration(args.pod_running_timeout), announce=False,
                         builder_errors=False)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise CommandError(f"cannot attach a container in a completed pod; current phase is {phase}")
    choice = choose_container(pod, args.container, check=False)
    spec = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == choice.name), None)
    if spec is None:
        raise CommandError(f"container not found ({choice.name})")
    if choice.notice and not args.quiet:
        cli.err.write(choice.notice + "\n")
    tty = bool(args.tty)
    if tty and not spec.get("tty"):
        cli.err.write(f"error: Unable to use a TTY - container {choice.name} did not allocate one\n")
        tty = False
    elif not tty and spec.get("tty"):
        tty = True  # the container's stdio is a terminal: its output is not multiplexed
    raw = tty and args.stdin and _is_terminal(cli.stdin)
    if not args.quiet and args.stdin:
        cli.err.write("If you don't see a command prompt, try pressing enter.\n")
        cli.err.flush()
    query = (("container", choice.name), ("stdin", "true" if args.stdin else "false"), ("stdout", "true"),
             ("stderr", "false" if tty else "true"), ("tty", "true" if tty else "false"))
    meta = pod["metadata"]
    ws = await cli.api.websocket(rq.Request("GET", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
                                            "/attach", query), protocols=ATTACH_PROTOCOLS)
    saved = _raw_terminal(cli.stdin) if raw else None
    try:
        if raw:
            await _send_size(cli, ws)
        code = await _pump(cli, ws, send_stdin=args.stdin)
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(cli.stdin.fileno(), termios.TCSADRAIN, saved)
        await ws.close()
    if not args.quiet and raw and (pod.get("spec") or {}).get("restartPolicy", "Always") == "Always":
        cli.out.write(f"Session ended, resume using 'skiffctl attach {meta['name']} -c {choice.name} -i -t' "
                      "command when the pod is running\n")
    return code


__all__ = ["PortSpec", "listen_addresses", "parse_port_specs", "register", "service_target"]
