"""``skiff runtime``: the low-level OCI runtime with runc's command line.

The command line itself lives with the runtime (``skiff.nodeagent.runtime.oci.cli``), so
the engine runs the same CLI through ``oci/entry.py`` without this package's start-up.
"""
from __future__ import annotations

from skiff.nodeagent.runtime.oci.cli import ACCEPTS_EXTRA_ARGS, add_arguments, parse_signal, run

__all__ = ["ACCEPTS_EXTRA_ARGS", "add_arguments", "parse_signal", "run"]
