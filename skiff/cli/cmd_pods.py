"""``logs`` and ``exec``: a pod's output and commands in its containers, through the API server.

The server proxies ``pods/log`` (plain HTTP) and ``pods/exec`` (a WebSocket speaking
``v5.channel.k8s.io``/``v4.channel.k8s.io``) to the node agent. As kubectl does, a
``TYPE/NAME`` target resolves to the pod kubectl would pick (``by_logging``), the container
defaults as kubectl defaults it, and a command's exit status comes back on the error
channel as a ``Status``. Choices are pure functions; the verbs are thin I/O around them.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from skiff.api.resources import Resource, find
from skiff.client import ApiError
from skiff.client import requests as rq
from skiff.machinery.websocket import channel_frames

from .common import Cli, CommandError, parse_duration

Obj = dict[str, Any]
_pods = find("pods")
assert _pods is not None
PODS: Resource = _pods
#: channel numbers of the Kubernetes remote-command stream protocols
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lg = sub.add_parser("logs", help="Print the logs for a container in a pod")
    lg.add_argument("args", nargs="*")
    lg.add_argument("-c", "--container", default="")
    lg.add_argument("-f", "--follow", action="store_true")
    lg.add_argument("-p", "--previous", action="store_true")
    lg.add_argument("--tail", default=None)
    lg.add_argument("--since", default="")
    lg.add_argument("--since-time", default="")
    lg.add_argument("--timestamps", action="store_true")
    lg.add_argument("--limit-bytes", type=int, default=0)
    lg.add_argument("--all-containers", action="store_true")
    lg.add_argument("--prefix", action="store_true")
    lg.add_argument("-l", "--selector", default="")
    lg.add_argument("--max-log-requests", type=int, default=5)
    lg.add_argument("--ignore-errors", action="store_true")
    lg.add_argument("--pod-running-timeout", default="20s")
    lg.set_defaults(run=logs)
    ex = sub.add_parser("exec", help="Execute a command in a container")
    _exec_flags(ex)
    ex.add_argument("rest", nargs=argparse.REMAINDER)
    ex.set_defaults(run=exec_)


def _exec_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--container", default="")
    p.add_argument("-i", "--stdin", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--pod-running-timeout", default="1m0s")


def split_exec_args(rest: list[str], args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """``POD [flags] -- COMMAND...`` -> (positionals before ``--``, command); flags there update ``args``.

    argparse stops at the first positional, but kubectl (cobra) takes flags anywhere before ``--``."""
    if "--" in rest:
        i = rest.index("--")
        before, command = rest[:i], rest[i + 1:]
    else:
        before, command = rest, []
    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    _exec_flags(p)
    p.add_argument("positionals", nargs="*")
    try:
        parsed, unknown = p.parse_known_args(before, namespace=argparse.Namespace(**vars(args)))
    except argparse.ArgumentError as e:
        raise CommandError(str(e)) from e
    if unknown:
        raise CommandError(f"unknown flag: {unknown[0]}\nSee 'skiffctl exec --help' for usage.")
    for key in ("container", "stdin", "tty", "quiet", "pod_running_timeout"):
        setattr(args, key, getattr(parsed, key))
    return list(parsed.positionals), command


# -- decisions (pure) ----------------------------------------------------------------------------

_PHASE_RANK = {"Running": 0, "Unknown": 1, "Pending": 2}


def _ready_since(pod: Obj) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            return str(c.get("lastTransitionTime") or "")
    return None


def _restarts(pod: Obj) -> int:
    return max((int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or []),
               default=0)


def by_logging(pod: Obj) -> tuple[Any, ...]:
    """kubectl's ``podutils.ByLogging`` order as a sort key: the pod ``logs TYPE/NAME`` reads first.

    Assigned before unassigned; Running, Unknown, Pending; ready before not (longer ready
    first); higher container restart count first; older first; ties keep the server's order."""
    spec, st, meta = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
    ready = _ready_since(pod)
    return (not spec.get("nodeName"), _PHASE_RANK.get(str(st.get("phase")), 3), ready is None, ready or "",
            -_restarts(pod), meta.get("creationTimestamp") or "")


#: kinds whose pods ``logs``/``exec`` can find through a selector
SELECTING_KINDS = frozenset(("Service", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                             "ReplicationController"))


def selector_of(obj: Obj) -> str:
    """A workload's (or Service's) pod selector as a label-selector string; errors name the object."""
    spec, kind = obj.get("spec") or {}, str(obj.get("kind"))
    go_type = f"*{obj.get('apiVersion', 'v1').rpartition('/')[2]}.{kind}"
    if kind not in SELECTING_KINDS:
        raise CommandError(f"cannot get the logs from {go_type}: selector for {go_type} not implemented")
    if kind == "Service":
        sel = spec.get("selector") or {}
        if not sel:
            raise CommandError(f"cannot get the logs from {go_type}: invalid service '{obj['metadata']['name']}': "
                               "Service is defined without a selector")
        return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    sel = spec.get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, values = e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{e['key']} in ({values})", "NotIn": f"{e['key']} notin ({values})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}[op])
    if not parts:
        raise CommandError(f"cannot attach to {obj.get('kind')}: selector for {obj['metadata']['name']} is empty")
    return ",".join(parts)


@dataclass(frozen=True)
class ContainerChoice:
    name: str
    notice: str = ""  # kubectl's "Defaulted container ..." line, to stderr


def choose_container(pod: Obj, wanted: str, *, check: bool = True) -> ContainerChoice:
    """The container kubectl uses: ``-c``, else the default-container annotation, else the first.

    ``check``: ``logs`` refuses an unknown ``-c`` itself; ``exec`` leaves that to the server."""
    spec, name = pod.get("spec") or {}, pod["metadata"]["name"]
    names = [c["name"] for c in spec.get("containers") or []]
    inits = [c["name"] for c in spec.get("initContainers") or []]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    if wanted:
        if check and wanted not in names + inits + ephemeral:
            raise CommandError(f"container {wanted} is not valid for pod {name}")
        return ContainerChoice(wanted)
    if not names:
        raise CommandError(f"pod {name} has no containers")
    annotated = ((pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
    chosen = str(annotated) if annotated in names else names[0]
    if len(names) + len(inits) + len(ephemeral) == 1 or annotated in names:
        return ContainerChoice(chosen)
    listed = ", ".join(names + [f"{n} (init)" for n in inits] + [f"{n} (ephem)" for n in ephemeral])
    return ContainerChoice(chosen, f'Defaulted container "{chosen}" out of: {listed}')


def log_query(args: argparse.Namespace, container: str, *, now: dt.datetime,
              default_tail: int | None) -> dict[str, str]:
    """The ``pods/log`` query for the flags; bad values are errors naming the flag."""
    q: dict[str, str] = {"container": container}
    if args.follow:
        q["follow"] = "true"
    if args.previous:
        q["previous"] = "true"
    if args.timestamps:
        q["timestamps"] = "true"
    tail = default_tail
    if args.tail is not None:
        try:
            tail = int(args.tail)
        except ValueError as e:
            raise CommandError(f'invalid argument "{args.tail}" for "--tail" flag: strconv.ParseInt: parsing '
                               f'"{args.tail}": invalid syntax\nSee \'skiffctl logs --help\' for usage.') from e
    if tail is not None and tail >= 0:
        q["tailLines"] = str(tail)
    if args.limit_bytes:
        if args.limit_bytes <= 0:
            raise CommandError("--limit-bytes must be greater than 0")
        q["limitBytes"] = str(args.limit_bytes)
    if args.since and args.since_time:
        raise CommandError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    if args.since:
        try:
            seconds = parse_duration(args.since)
        except (CommandError, ValueError) as e:
            raise CommandError(f'invalid argument "{args.since}" for "--since" flag: time: invalid duration '
                               f'"{args.since}"\nSee \'skiffctl logs --help\' for usage.') from e
        q["sinceSeconds"] = str(max(1, int(seconds + 0.999)))
    if args.since_time:
        try:
            dt.datetime.fromisoformat(args.since_time.replace("Z", "+00:00"))
        except ValueError as e:
            raise CommandError(f"--since-time only accepts RFC3339 timestamps: {args.since_time}") from e
        q["sinceTime"] = args.since_time
    return q


def exit_status(status: Obj) -> tuple[int, str]:
    """The error channel's ``Status`` -> (exit code, message for stderr)."""
    if status.get("status") == "Success":
        return 0, ""
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                code = int(cause.get("message") or 1)
                return code, f"command terminated with exit code {code}"
    return 1, f"error: {status.get('message') or 'exec failed'}"


# -- I/O -----------------------------------------------------------------------------------------

async def _first_pod(cli: Cli, res: Resource, name: str, timeout: float, *, announce: bool) -> Obj:
    """The pod ``TYPE/NAME`` stands for, waiting up to ``timeout`` for one to exist, as kubectl does."""
    ns = cli.namespace
    obj = await cli.api.get(res, name, namespace=ns)
    obj.setdefault("kind", res.kind)
    obj.setdefault("apiVersion", res.api_version)
    selector = selector_of(obj)
    deadline = time.monotonic() + timeout
    while True:
        pods = (await cli.api.list(PODS, namespace=ns, label_selector=selector)).get("items") or []
        if pods:
            pods.sort(key=by_logging)
            if announce and len(pods) > 1:
                cli.err.write(f"Found {len(pods)} pods, using pod/{pods[0]['metadata']['name']}\n")
            return dict(pods[0])
        if time.monotonic() >= deadline:
            raise CommandError("timed out waiting for the condition")
        await asyncio.sleep(0.5)


async def _resolve(cli: Cli, target: str, timeout: float, *, announce: bool, builder_errors: bool) -> Obj:
    """The pod a target names. ``builder_errors``: kubectl logs reports a missing object through its
    resource builder (``error: error from server (NotFound): ... not found in namespace "ns"``)."""
    res, name = PODS, target
    if "/" in target:
        kind, _, name = target.partition("/")
        res = await cli.resource(kind)
    try:
        if res.kind != "Pod":
            return await _first_pod(cli, res, name, timeout, announce=announce)
        return dict(await cli.api.get(PODS, name, namespace=cli.namespace))
    except ApiError as e:
        if e.code != 404 or not builder_errors:
            raise
        what = f"{res.plural}.{res.group}" if res.group else res.plural
        raise CommandError(f'error from server (NotFound): {what} "{name}" not found in namespace '
                           f'"{cli.namespace}"') from e


async def logs(cli: Cli, args: argparse.Namespace) -> int:
    positional = list(args.args)
    if args.selector and positional:
        raise CommandError("only a selector (-l) or a POD name is allowed")
    if not args.selector and not positional:
        raise CommandError("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
                           "POD or TYPE/NAME is a required argument for the logs command\n"
                           "See 'skiffctl logs -h' for help and examples")
    if len(positional) > 2:
        raise CommandError("expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\n"
                           "POD or TYPE/NAME is a required argument for the logs command\n"
                           "See 'skiffctl logs -h' for help and examples")
    if len(positional) == 2:
        if args.container:
            raise CommandError("only one of -c or an inline [CONTAINER] arg is allowed")
        args.container = positional[1]
    timeout = parse_duration(args.pod_running_timeout)
    if args.selector:
        pods = (await cli.api.list(PODS, namespace=cli.namespace, label_selector=args.selector)).get("items") or []
        if not pods:
            cli.err.write(f"No resources found in {cli.namespace} namespace.\n")
            return 0
        if args.follow and len(pods) > args.max_log_requests:
            raise CommandError(f"you are attempting to follow {len(pods)} log streams, but maximum allowed "
                               f"concurrency is {args.max_log_requests}, use --max-log-requests to increase the limit")
        default_tail: int | None = 10
    else:
        pods = [await _resolve(cli, positional[0], timeout, announce=True, builder_errors=True)]
        default_tail = None
    streams: list[tuple[Obj, str]] = []
    for pod in pods:
        if args.all_containers:
            spec = pod.get("spec") or {}
            streams.extend((pod, c["name"]) for c in (spec.get("initContainers") or []) + (spec.get("containers") or []))
            continue
        choice = choose_container(pod, args.container)
        if choice.notice and not args.selector:
            cli.err.write(choice.notice + "\n")
        streams.append((pod, choice.name))
    now = dt.datetime.now(dt.timezone.utc)
    prefix = bool(args.prefix)

    async def one(pod: Obj, container: str) -> None:
        name = pod["metadata"]["name"]
        req = rq.raw("GET", f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{name}/log",
                     query=log_query(args, container, now=now, default_tail=default_tail), accept="*/*")
        tag = f"[pod/{name}/{container}] " if prefix else ""
        pending = ""
        async for chunk in cli.api.stream_bytes(req):
            text = pending + chunk.decode(errors="replace")
            if tag:
                *lines, pending = text.split("\n")
                cli.out.write("".join(f"{tag}{line}\n" for line in lines))
            else:
                cli.out.write(text)
            cli.out.flush()
        if tag and pending:
            cli.out.write(f"{tag}{pending}\n")

    if args.follow and len(streams) > 1:
        results = await asyncio.gather(*(one(p, c) for p, c in streams), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not args.ignore_errors:
                raise r
        return 0
    for pod, container in streams:
        try:
            await one(pod, container)
        except ApiError:
            if not args.ignore_errors:
                raise
    return 0


async def exec_(cli: Cli, args: argparse.Namespace) -> int:
    positionals, command = split_exec_args(list(args.rest), args)
    if not positionals:
        raise CommandError("pod, type/name or --filename must be specified")
    if len(positionals) > 1:
        raise CommandError("exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\n"
                           "See 'skiffctl exec -h' for help and examples")
    if not command:
        raise CommandError("you must specify at least one command for the container")
    pod = await _resolve(cli, positionals[0], parse_duration(args.pod_running_timeout), announce=False,
                         builder_errors=False)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise CommandError(f"cannot exec into a container in a completed pod; current phase is {phase}")
    choice = choose_container(pod, args.container, check=False)
    if choice.notice and not args.quiet:
        cli.err.write(choice.notice + "\n")
    tty = args.tty
    if tty and not _is_terminal(cli.stdin):
        if not args.quiet:
            cli.err.write("Unable to use a TTY - input is not a terminal or the right kind of file\n")
        tty = False
    query: list[tuple[str, str]] = [("command", c) for c in command]
    query += [("container", choice.name), ("stdin", "true" if args.stdin else "false"), ("stdout", "true"),
              ("stderr", "false" if tty else "true"), ("tty", "true" if tty else "false")]
    meta = pod["metadata"]
    req = rq.Request("GET", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/exec", tuple(query))
    ws = await cli.api.websocket(req, protocols=EXEC_PROTOCOLS)
    saved = _raw_terminal(cli.stdin) if tty else None
    try:
        if tty:
            await _send_size(cli, ws)
        return await _pump(cli, ws, send_stdin=args.stdin)
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(cli.stdin.fileno(), termios.TCSADRAIN, saved)
        await ws.close()


def _raw_terminal(stream: Any) -> Any:
    """Put the local terminal in raw mode for ``-t`` (the remote pty interprets keys), as kubectl does."""
    import termios
    import tty as ttymod

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd, termios.TCSANOW)  # TCSAFLUSH would drop what was typed already
    return saved


async def _send_size(cli: Cli, ws: aiohttp.ClientWebSocketResponse) -> None:
    """The terminal's size on the resize channel, so the remote pty starts with it."""
    try:
        cols, rows = os.get_terminal_size(cli.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        return
    await ws.send_bytes(bytes([RESIZE]) + json.dumps({"Width": cols, "Height": rows}).encode())


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


async def _pump(cli: Cli, ws: aiohttp.ClientWebSocketResponse, *, send_stdin: bool) -> int:
    """Relay the channels: stdin in, stdout/stderr out, until the error channel reports the end."""
    v5 = ws.protocol == "v5.channel.k8s.io"
    feeder = asyncio.create_task(_feed_stdin(cli, ws, v5=v5)) if send_stdin else None
    status: Obj | None = None
    try:
        async for channel, payload in channel_frames(ws):
            if channel == STDOUT:
                cli.out.write(payload.decode(errors="replace"))
                cli.out.flush()
            elif channel == STDERR:
                cli.err.write(payload.decode(errors="replace"))
                cli.err.flush()
            elif channel == ERROR and payload:
                try:
                    status = json.loads(payload)
                except ValueError:
                    status = {"status": "Failure", "message": payload.decode(errors="replace")}
    finally:
        if feeder is not None:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
    code, message = exit_status(status or {"status": "Success"})
    if message:
        cli.err.write(message + "\n")
    return code


async def _feed_stdin(cli: Cli, ws: aiohttp.ClientWebSocketResponse, *, v5: bool) -> None:
    """Send stdin until its end (then, in v5, close the remote stdin). A real file descriptor is
    watched by the event loop, never read in a thread, so the command's end stops it at once."""
    fd = _fileno(cli.stdin)
    if fd is None:  # an in-memory stream (tests)
        for line in cli.stdin:
            await ws.send_bytes(bytes([STDIN]) + line.encode())
    else:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            chunks.put_nowait(data)
            if not data:
                loop.remove_reader(fd)

        try:
            loop.add_reader(fd, readable)
        except (PermissionError, ValueError):  # a regular file cannot be watched: read it whole
            chunks.put_nowait(os.read(fd, 1 << 24))
            chunks.put_nowait(b"")
        try:
            while data := await chunks.get():
                await ws.send_bytes(bytes([STDIN]) + data)
        finally:
            loop.remove_reader(fd)
    if v5:
        await ws.send_bytes(bytes([CLOSE, STDIN]))


def _fileno(stream: Any) -> int | None:
    if stream is not sys.stdin:
        return None
    try:
        return int(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None
