"""Applying a ``Ruleset`` to the kernel: one ``iptables-restore --noflush`` per sync.

The only module of the proxy that runs iptables. A full sync first reads
``iptables-save`` (per table) to learn which ``SKIFF-`` chains exist (the stale ones are
deleted) and which jumps from the built-in chains are already there (missing ones are
inserted, never duplicated); an incremental sync sends only the chains that changed
since the last successful apply. Any failure forgets that state, so the next sync is
full. Rules that are not ours are never named, so never touched.

Commands go through a ``Runner`` (a prefix such as ``nsenter --net=/run/netns/N`` runs
them in another network namespace; tests of pure logic use a recording fake).
"""
from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from skiff.proxy.conntrack import stale_flow_commands
from skiff.proxy.model import Family
from skiff.proxy.restore import restore_text
from skiff.proxy.rules import JUMPS, PREFIX, TABLES, Jump, Ruleset, UdpTargets

log = logging.getLogger("skiff.proxy")


class Backend(str, Enum):
    """Which iptables Debian offers: ``auto`` is whatever ``iptables`` points at."""

    AUTO = "auto"
    NFT = "nft"
    LEGACY = "legacy"

    def command(self, family: Family, tool: str) -> str:
        """``tool`` is ``restore`` or ``save``."""
        base = "ip6tables" if family is Family.IPV6 else "iptables"
        return f"{base}-{tool}" if self is Backend.AUTO else f"{base}-{self.value}-{tool}"


class ApplyError(Exception):
    """A step of applying rules failed; ``step`` names it, the message carries iptables' words."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


class Runner(Protocol):
    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> str:
        """Run ``argv`` and return its stdout; raise ``ApplyError`` if it fails."""


@dataclass
class SubprocessRunner:
    prefix: tuple[str, ...] = ()
    timeout: float = 60.0

    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> str:
        cmd = [*self.prefix, *argv]
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ApplyError(argv[0], str(exc)) from exc
        if proc.returncode != 0:
            raise ApplyError(argv[0], (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}")
        return proc.stdout


@dataclass
class KernelState:
    """What ``iptables-save`` says, restricted to what the proxy cares about."""

    chains: dict[str, set[str]] = field(default_factory=dict)  # table -> chain names
    jumps: set[tuple[str, str, str]] = field(default_factory=set)  # (table, built-in chain, target)


def parse_save(table: str, text: str, state: KernelState | None = None) -> KernelState:
    state = state or KernelState()
    chains = state.chains.setdefault(table, set())
    targets = {j.target for j in JUMPS if j.table == table}
    for line in text.splitlines():
        if line.startswith(":"):
            chains.add(line[1:].split(" ", 1)[0])
        elif line.startswith("-A ") and " -j SKIFF-" in line:
            chain = line.split(" ", 2)[1]
            if chain.startswith(PREFIX):
                continue
            target = line.rsplit(" -j ", 1)[1].split(" ", 1)[0]
            if target in targets:
                state.jumps.add((table, chain, target))
    return state


@dataclass
class SyncStats:
    full: bool
    bytes: int
    chains_written: int


class Applier:
    """Keeps the kernel's ``SKIFF-`` chains equal to the last ``Ruleset`` given."""

    def __init__(self, *, family: Family = Family.IPV4, backend: Backend = Backend.AUTO,
                 runner: Runner | None = None, wait_seconds: int = 5) -> None:
        self.family = family
        self.backend = backend
        self.runner: Runner = runner or SubprocessRunner()
        self.wait_seconds = wait_seconds
        self._last: Ruleset | None = None
        self._udp: dict[str, UdpTargets] = {}  # UDP targets of the last ruleset applied

    def read_state(self) -> KernelState:
        state = KernelState()
        for table in TABLES:
            out = self.runner.run([self.backend.command(self.family, "save"), "-t", table])
            parse_save(table, out, state)
        return state

    def apply(self, rs: Ruleset, *, full: bool = False) -> SyncStats:
        if full or self._last is None:
            state = self.read_state()
            stale = {t: {c for c in names if c.startswith(PREFIX) and c not in rs.tables[t]}
                     for t, names in state.chains.items()}
            missing: list[Jump] = [j for j in rs.jumps if (j.table, j.chain, j.target) not in state.jumps]
            text = restore_text(rs, stale=stale, missing_jumps=missing)
            is_full = True
        else:
            text = restore_text(rs, previous=self._last)
            is_full = False
        self._last = None  # until this apply succeeds
        if text:
            self._restore(text)
        self._last = rs
        self._clear_stale_flows(rs)
        return SyncStats(full=is_full, bytes=len(text), chains_written=text.count("\n:"))

    def _clear_stale_flows(self, rs: Ruleset) -> None:
        for argv in stale_flow_commands(self._udp, rs.udp, family=self.family):
            try:
                self.runner.run(argv)
            except ApplyError as exc:
                if "0 flow entries" not in str(exc):
                    log.warning("clearing stale UDP flows: %s", exc)
        self._udp = dict(rs.udp)

    def _restore(self, text: str) -> None:
        argv = [self.backend.command(self.family, "restore"), "--noflush", f"--wait={self.wait_seconds}"]
        self.runner.run(argv, stdin=text)

    def cleanup(self) -> None:
        """Remove every jump into ``SKIFF-`` chains and the chains themselves (``skiff proxy --cleanup``)."""
        state = self.read_state()
        lines: list[str] = []
        for table in TABLES:
            ours = sorted(c for c in state.chains.get(table, ()) if c.startswith(PREFIX))
            jumps = [j for j in JUMPS if j.table == table and (table, j.chain, j.target) in state.jumps]
            if not ours and not jumps:
                continue
            lines.append(f"*{table}")
            lines.extend(f":{c} - [0:0]" for c in ours)
            lines.extend(f"-D {j.chain} {j.rule}" for j in jumps)
            lines.extend(f"-X {c}" for c in ours)
            lines.append("COMMIT")
        if lines:
            self._restore("\n".join(lines) + "\n")
        self._last = None
