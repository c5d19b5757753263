"""``skiffctl``: kubectl's everyday verbs against a Skiff (or any Kubernetes) API server."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("skiffctl: not available in this build yet", file=sys.stderr)
    return 1
