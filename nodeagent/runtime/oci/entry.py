"""The engine's entry to ``skiff runtime``: ``python -S entry.py [--root DIR] COMMAND ...``.

The engine runs the runtime once per container start and per exec, so its start-up is
paid per pod. ``-S`` skips ``site`` (the venv's ``.pth`` files and an editable install's
import finder cost ~10 ms of CPU per run), and the shim's own ``create``/``exec`` command
lines are parsed without argparse (``cli.parse_fast``); anything else gets the runtime's
argparse parser, not every ``skiff`` subcommand's. The runtime needs the standard library and
Skiff's packages only; they are located from this file's path. Same command line, output
and exit codes as ``skiff runtime``.
"""
from __future__ import annotations

import os
import sys


def locate_packages(here: str) -> None:
    """Make ``skiff`` and ``skiff.nodeagent`` importable without ``site``.

    Installed, this file is ``.../skiff/nodeagent/runtime/oci/entry.py``; in a source
    checkout (an editable install) ``nodeagent/`` sits beside ``skiff/``.
    """
    nodeagent = os.path.dirname(os.path.dirname(here))
    parent = os.path.dirname(nodeagent)
    if sys.path and os.path.abspath(sys.path[0]) == here:
        sys.path.pop(0)  # this directory's modules (spec, state, init …) are not top-level names
    if os.path.basename(parent) == "skiff" and os.path.isfile(os.path.join(parent, "__init__.py")):
        sys.path.insert(0, os.path.dirname(parent))
        return
    sys.path.insert(0, parent)
    import skiff

    if parent not in skiff.__path__:
        skiff.__path__.append(parent)  # skiff.nodeagent -> <checkout>/nodeagent


def main(argv: list[str]) -> int:
    from skiff.nodeagent.runtime.oci import cli

    args = cli.parse_fast(argv)  # the shim's create/exec, without building argparse's parsers
    if args is None:
        import argparse

        parser = argparse.ArgumentParser(prog="skiff runtime")
        cli.add_arguments(parser)
        args = parser.parse_args(argv)
    return int(cli.run(args) or 0)


if __name__ == "__main__":
    locate_packages(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv[1:]))
