"""``skiff runtime``: the low-level OCI runtime with runc's command line.

    skiff runtime [--root DIR] create [-b BUNDLE] [--console-socket S] [--pid-file F] ID
    skiff runtime [--root DIR] start|state|delete [-f]|pause|resume|ps ID
    skiff runtime [--root DIR] kill [-a] ID [SIGNAL]
    skiff runtime [--root DIR] run [-b BUNDLE] [-d] ID
    skiff runtime [--root DIR] exec [-p process.json] [-t] [-d] [-e K=V] [--cwd D] [-u UID[:GID]] ID [CMD...]
    skiff runtime [--root DIR] list [-f table|json] [-q]
    skiff runtime [--root DIR] events --stats ID

Errors print as runc does (one line on stderr, exit 1). Imports only what the
chosen command needs so each invocation starts fast. ``skiff.cmd.runtime`` exposes it
as a ``skiff`` subcommand; ``entry`` runs it for the engine without ``site``.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

ACCEPTS_EXTRA_ARGS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    import argparse
    parser.add_argument("--root", default="/run/skiff-runtime", help="state directory")
    parser.add_argument("--log", default="", help="accepted for runc compatibility")
    parser.add_argument("--log-format", default="text", help="accepted for runc compatibility")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--systemd-cgroup", action="store_true", help="accepted; cgroupfs is used")
    sub = parser.add_subparsers(dest="rt_command", metavar="COMMAND")
    for name in ("create", "run"):
        p = sub.add_parser(name)
        p.add_argument("--bundle", "-b", default=".")
        p.add_argument("--console-socket", default=None)
        p.add_argument("--pid-file", default=None)
        p.add_argument("--no-pivot", action="store_true")
        p.add_argument("--no-new-keyring", action="store_true")
        p.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            p.add_argument("--detach", "-d", action="store_true")
            p.add_argument("--keep", action="store_true")
        p.add_argument("id")
    for name in ("start", "state", "pause", "resume", "ps"):
        p = sub.add_parser(name)
        if name == "ps":
            p.add_argument("--format", "-f", default="table")
        p.add_argument("id")
    p = sub.add_parser("delete")
    p.add_argument("--force", "-f", action="store_true")
    p.add_argument("id")
    p = sub.add_parser("kill")
    p.add_argument("--all", "-a", action="store_true")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    p = sub.add_parser("list")
    p.add_argument("--format", "-f", default="table")
    p.add_argument("--quiet", "-q", action="store_true")
    p = sub.add_parser("events")
    p.add_argument("--stats", action="store_true")
    p.add_argument("id")
    p = sub.add_parser("exec")
    p.add_argument("--process", "-p", default=None)
    p.add_argument("--tty", "-t", action="store_true")
    p.add_argument("--detach", "-d", action="store_true")
    p.add_argument("--console-socket", default=None)
    p.add_argument("--pid-file", default=None)
    p.add_argument("--env", "-e", action="append", default=[])
    p.add_argument("--cwd", default=None)
    p.add_argument("--user", "-u", default=None)
    p.add_argument("--additional-gids", "-g", action="append", default=[])
    p.add_argument("--no-new-privs", action="store_true")
    p.add_argument("id")
    p.add_argument("exec_args", nargs=argparse.REMAINDER, metavar="COMMAND")


_FAST_VALUES = {
    "create": {"--bundle": "bundle", "-b": "bundle", "--console-socket": "console_socket", "--pid-file": "pid_file"},
    "exec": {"--process": "process", "-p": "process", "--console-socket": "console_socket", "--pid-file": "pid_file"},
}
_FAST_FLAGS = {"create": {}, "exec": {"--detach": "detach", "-d": "detach"}}
_FAST_DEFAULTS: dict[str, dict[str, Any]] = {
    "create": {"bundle": ".", "console_socket": None, "pid_file": None, "no_pivot": False,
               "no_new_keyring": False, "preserve_fds": 0},
    "exec": {"process": None, "tty": False, "detach": False, "console_socket": None, "pid_file": None, "env": [],
             "cwd": None, "user": None, "additional_gids": [], "no_new_privs": False, "exec_args": []},
}


def parse_fast(argv: list[str]) -> SimpleNamespace | None:
    """The shim's own invocations (``[--root R] create|exec FLAG VALUE … ID``) parsed without
    building argparse's parsers (with what they import, ~10 ms per container start); the
    same attributes :func:`add_arguments`' parser gives. ``None`` for any other command line,
    which argparse then parses (and reports) as always."""
    ns: dict[str, Any] = {"root": "/run/skiff-runtime", "log": "", "log_format": "text", "debug": False,
                          "systemd_cgroup": False}
    i = 0
    while i + 1 < len(argv) and argv[i] == "--root" and not argv[i + 1].startswith("-"):
        ns["root"] = argv[i + 1]
        i += 2
    if i >= len(argv) or argv[i] not in _FAST_VALUES:
        return None
    cmd, rest = argv[i], argv[i + 1:]
    values, flags = _FAST_VALUES[cmd], _FAST_FLAGS[cmd]
    ns["rt_command"] = cmd
    ns.update({k: (list(v) if isinstance(v, list) else v) for k, v in _FAST_DEFAULTS[cmd].items()})
    j = 0
    while j < len(rest) - 1:
        a = rest[j]
        if a in values and j + 2 < len(rest) and not rest[j + 1].startswith("-"):
            ns[values[a]] = rest[j + 1]
            j += 2
        elif a in flags:
            ns[flags[a]] = True
            j += 1
        else:
            return None
    if j != len(rest) - 1 or not rest[j] or rest[j].startswith("-"):
        return None
    ns["id"] = rest[j]
    return SimpleNamespace(**ns)


def parse_signal(text: str) -> int:
    if text.isdigit():
        return int(text)
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


def _exec_process(args: argparse.Namespace, base: dict) -> dict:  # type: ignore[type-arg]
    if args.process:
        with open(args.process) as f:
            return json.load(f)  # type: ignore[no-any-return]
    if not args.exec_args:
        raise ValueError("exec: a command or --process is required")
    proc = dict(base)
    proc["args"] = list(args.exec_args)
    proc["terminal"] = bool(args.tty)
    proc["env"] = list(base.get("env") or []) + list(args.env)
    if args.cwd:
        proc["cwd"] = args.cwd
    if args.user:
        uid, _, gid = args.user.partition(":")
        proc["user"] = {"uid": int(uid), "gid": int(gid or 0),
                        "additionalGids": [int(g) for g in args.additional_gids]}
    if args.no_new_privs:
        proc["noNewPrivileges"] = True
    return proc


def run(args: argparse.Namespace | SimpleNamespace) -> int:
    from skiff.nodeagent.runtime.oci import container as c
    from skiff.nodeagent.runtime.oci.spec import SpecError
    from skiff.nodeagent.runtime.oci.state import RuntimeError_

    root = args.root
    cmd = args.rt_command
    try:
        if cmd == "create":
            c.create(root, args.id, args.bundle, console_socket=args.console_socket, pid_file=args.pid_file)
        elif cmd == "run":
            return c.run(root, args.id, args.bundle, detach=args.detach, console_socket=args.console_socket,
                         pid_file=args.pid_file, keep=args.keep)
        elif cmd == "start":
            c.start(root, args.id)
        elif cmd == "state":
            print(json.dumps(c.state_json(root, args.id), indent=2))
        elif cmd == "kill":
            c.kill(root, args.id, parse_signal(args.signal), all_=args.all)
        elif cmd == "delete":
            c.delete(root, args.id, force=args.force)
        elif cmd in ("pause", "resume"):
            c.pause(root, args.id, cmd == "pause")
        elif cmd == "ps":
            pids = c.ps(root, args.id)
            print(json.dumps(pids) if args.format == "json" else "\n".join(["PID", *map(str, pids)]))
        elif cmd == "events":
            print(json.dumps({"type": "stats", "id": args.id, "data": c.stats(root, args.id)}))
        elif cmd == "list":
            states = c.list_states(root)
            if args.quiet:
                print("\n".join(s["id"] for s in states))
            elif args.format == "json":
                print(json.dumps(states))
            else:
                print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} CREATED")
                for s in states:
                    print(f"{s['id']:<20} {s['pid']:<8} {s['status']:<10} {s['bundle']:<40} {s['created']}")
        elif cmd == "exec":
            st = c.read_state(root, args.id)
            proc = _exec_process(args, (st.get("config") or {}).get("process") or {})
            return c.exec_process(root, args.id, proc, detach=args.detach, pid_file=args.pid_file,
                                  console_socket=args.console_socket)
        else:
            print("skiff runtime: a command is required (create, start, state, kill, delete, run, exec, list)",
                  file=sys.stderr)
            return 2
    except (RuntimeError_, SpecError, ValueError, OSError) as exc:
        print(f"skiff runtime: {exc}", file=sys.stderr)
        return 1
    return 0
