"""``skiffctl``: kubectl's everyday verbs against a Skiff (or any Kubernetes) API server.

Global flags are taken out of the argument list first (kubectl accepts them anywhere),
then argparse parses the verb. Each verb module registers its parser and an async
``run(cli, args) -> int``. Errors print as kubectl prints them and exit 1.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import IO, Any, NoReturn

from skiff.client import ApiError, KubeconfigError

from . import manifests
from .common import Cli, CommandError, error_message, split_globals

Runner = Callable[[Cli, argparse.Namespace], Awaitable[int]]


class _Parser(argparse.ArgumentParser):
    """argparse that fails like cobra: ``error: ...`` and exit 1."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            first = message.removeprefix("unrecognized arguments: ").split()[0]
            if first.startswith("-"):
                message = f"unknown flag: {first}" if first.startswith("--") else \
                    f"unknown shorthand flag: '{first[1:2]}' in {first}"
            else:
                message = f"unexpected argument: {first}"
        elif message.startswith("argument ") and "invalid choice" in message:
            bad = message.split("invalid choice: ", 1)[1].split(" ")[0].strip("'")
            message = f'unknown command "{bad}" for "skiffctl"'
        verb = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        hint = f"See 'skiffctl {verb} --help' for usage." if verb else "Run 'skiffctl --help' for usage."
        raise CommandError(f"{message}\n{hint}")


#: flags that are booleans in every verb that has them; Go accepts ``--flag=false``, argparse does not
BOOL_FLAGS = frozenset((
    "show-managed-fields", "show-labels", "no-headers", "all-namespaces", "ignore-not-found", "overwrite",
    "server-side", "force-conflicts", "force", "all", "recursive", "show-kind", "now", "ignore-daemonsets",
    "delete-emptydir-data", "delete-local-data", "record", "save-config", "list", "current", "minify", "raw",
    "flatten", "embed-certs", "prune", "watch-only", "output-watch-events", "disable-eviction", "client",
    "cached", "output-patch", "create-annotation", "windows-line-endings", "interactive",
))


def normalize_bools(argv: list[str]) -> list[str]:
    """``--flag=true`` -> ``--flag``; ``--flag=false`` -> dropped (for the flags in ``BOOL_FLAGS``)."""
    out = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        name, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if eq and name in BOOL_FLAGS and value.lower() in ("true", "false", "1", "0", "t", "f"):
            if value.lower() in ("true", "1", "t"):
                out.append(f"--{name}")
            continue
        out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    from . import (cmd_apply, cmd_config, cmd_describe, cmd_get, cmd_info, cmd_modify, cmd_nodes, cmd_pods,
                   cmd_rollout, cmd_stream, cmd_wait)

    parser = _Parser(prog="skiffctl", description="skiffctl controls a Skiff (Kubernetes) cluster.",
                     add_help=True)
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    for module in (cmd_get, cmd_apply, cmd_describe, cmd_modify, cmd_rollout, cmd_nodes, cmd_wait, cmd_config,
                   cmd_info, cmd_pods, cmd_stream):
        module.register(sub)
    return parser


async def _run(cli: Cli, args: argparse.Namespace) -> int:
    runner: Runner = args.run
    try:
        return await runner(cli, args)
    finally:
        cli.print_warnings()
        await cli.close()


def main(argv: list[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None,
         stdin: IO[str] | None = None) -> int:
    """Console-script entry point; returns the exit code (also usable in-process by tests)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = out or sys.stdout, err or sys.stderr
    cli: Cli | None = None
    try:
        flags, rest = split_globals(argv)
        cli = Cli(flags=flags, out=out, err=err, stdin=stdin or sys.stdin)
        parser = build_parser()
        if not rest:
            parser.print_help(out)
            return 0
        rest = normalize_bools(rest)
        args, extras = parser.parse_known_args(rest)
        if extras:
            verb = " ".join(x for x in (getattr(args, "verb", None),) if x)
            first = extras[0]
            what = (f"unknown flag: {first}" if first.startswith("--") else
                    f"unknown shorthand flag: '{first[1:2]}' in {first}" if first.startswith("-") else
                    f"unexpected argument: {first}")
            hint = f"See 'skiffctl {verb} --help' for usage." if verb else "Run 'skiffctl --help' for usage."
            raise CommandError(f"{what}\n{hint}")
        if not getattr(args, "run", None):
            parser.parse_args([*rest, "--help"])
            return 0
        return asyncio.run(_run(cli, args))
    except CommandError as e:
        text = str(e)
        err.write(text if e.raw else f"error: {text}")
        err.write("" if text.endswith("\n") else "\n")
        return e.code
    except ApiError as e:
        err.write(error_message(e) + "\n")
        return 1
    except manifests.ManifestError as e:
        err.write(f"error: {e}\n")
        return 1
    except KubeconfigError as e:
        err.write(f"error: {e}\n")
        return 1
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except KeyboardInterrupt:
        return 130
    except (OSError, asyncio.TimeoutError) as e:
        server = cli.config.server if cli is not None and cli._config is not None else "the server"
        err.write(f"The connection to the server {server.split('://')[-1]} was refused - "
                  f"did you specify the right host or port?\n" if isinstance(e, ConnectionRefusedError) or
                  "Connect call failed" in str(e) else f"error: {e}\n")
        return 1
    finally:
        try:
            out.flush()
        except (OSError, ValueError):
            pass


def not_served(what: str) -> Runner:
    async def run(cli: Cli, args: Any) -> int:
        raise CommandError(f"{what} is not served by this server yet (it arrives with the node agent)")
    return run


if __name__ == "__main__":
    sys.exit(main())
