"""``skiff``: one command for every daemon and node tool.

Each subcommand lives in its own module under ``skiff.cmd`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; this module only dispatches,
so adding a subcommand never touches another's wiring.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "server": ("skiff.cmd.server", "run the API server, scheduler and controllers"),
    "agent": ("skiff.cmd.agent", "join this machine to a cluster as a node"),
    "daemon": ("skiff.cmd.daemon", "run the node engine (Docker Engine API, CRI)"),
    "runtime": ("skiff.cmd.runtime", "the low-level OCI runtime (runc's command line)"),
    "proxy": ("skiff.cmd.proxy", "program iptables for Services on this node"),
    "dns": ("skiff.cmd.dns", "serve cluster DNS"),
    "hollow-nodes": ("skiff.cmd.hollow_nodes", "run simulated nodes for testing"),
    "lab": ("skiff.cmd.lab", "run a multi-node cluster on this machine"),
}


def _load(module: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="skiff", description="Skiff: a small container orchestrator")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loaded = {}
    # Only the module of the chosen subcommand is imported (start-up time matters for
    # `skiff runtime`, which runc-compatible callers invoke per container).
    wanted = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == wanted:
            mod = _load(module)
            if mod is not None:
                mod.add_arguments(p)
                loaded[name] = mod
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    mod = loaded.get(args.command)
    if mod is None:
        print(f"skiff {args.command}: not available in this build yet", file=sys.stderr)
        return 1
    if extra and not getattr(mod, "ACCEPTS_EXTRA_ARGS", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(mod, "ACCEPTS_EXTRA_ARGS", False):
        args.extra = extra
    return int(mod.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
