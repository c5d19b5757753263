"""Proxy sync time: Skiff's render + one ``iptables-restore --noflush`` beside a naive
peer that programs the same ruleset with one ``iptables`` command per rule, in one run.

For each size (Services x endpoints each; a third of them NodePorts):

* render: the pure renderer, in-process;
* full sync: render + ``iptables-save`` (stale chains, jumps) + one restore, into an empty table;
* restore alone: ``iptables-restore --noflush`` of the same text (the floor);
* one change: one Service's endpoint replaced in the full table, render + incremental restore;
* naive: ``iptables -N``/``-A`` per chain and rule. That takes minutes at these sizes, so it
  runs on ``--naive-services`` Services and the figure beside the big sizes is the per-rule
  time measured there times the rule count (marked ``~``, an extrapolation that flatters
  the naive peer: with the nft back end each command gets slower as the table grows).

Everything runs in network namespaces created here (the host's tables are never touched):
the bench moves its own thread into each, so subprocesses inherit it.

    .venv/bin/python bench/proxy.py [--sizes 1000,5000] [--endpoints 10] [--backend auto|nft|legacy]
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skiff.proxy.iptables import Applier, Backend  # noqa: E402
from skiff.proxy.model import Family, NodeInfo  # noqa: E402
from skiff.proxy.restore import restore_text  # noqa: E402
from skiff.proxy.rules import render  # noqa: E402

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
NODE = NodeInfo("node-a", cluster_cidr="10.244.0.0/16")


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


@contextlib.contextmanager
def fresh_netns() -> Iterator[str]:
    """Run the body with this thread (and the commands it starts) in a new, empty namespace."""
    name = f"skb-{secrets.token_hex(3)}"
    home = os.open("/proc/self/task/%d/ns/net" % _gettid(), os.O_RDONLY)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        _setns(f"/run/netns/{name}")
        try:
            yield name
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
    finally:
        os.close(home)
        subprocess.run(["ip", "netns", "del", name], check=True)


def _gettid() -> int:
    return int(_libc.syscall(186))  # SYS_gettid on x86_64


def cluster(n: int, eps: int, *, changed: int | None = None) -> tuple[list[dict], list[dict]]:
    services, slices = [], []
    for i in range(n):
        ns, name = f"ns{i % 50}", f"svc{i}"
        spec: dict = {"clusterIP": f"10.{96 + i // 65536}.{(i // 256) % 256}.{i % 256}",
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
        spec["clusterIPs"] = [spec["clusterIP"]]
        if i % 3 == 0:
            spec["type"] = "NodePort"
            spec["ports"][0]["nodePort"] = 30000 + i % 2768
        services.append({"metadata": {"name": name, "namespace": ns}, "spec": spec})
        base = i * eps + (1 if i == changed else 0)
        slices.append({"metadata": {"name": f"{name}-1", "namespace": ns,
                                    "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [f"10.{200 + (base + k) // 65536}.{((base + k) // 256) % 256}."
                                                    f"{(base + k) % 256}"], "conditions": {"ready": True},
                                      "nodeName": "node-a" if k % 2 else "node-b"} for k in range(eps)]})
    return services, slices


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def naive_commands(text: str, ipt: str) -> list[list[str]]:
    """The same ruleset as one iptables command per chain and per rule."""
    cmds, table = [], "filter"
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            cmds.append([ipt, "-w", "-t", table, "-N", line[1:].split()[0]])
        elif line.startswith(("-A ", "-I ")):
            cmds.append([ipt, "-w", "-t", table, *shlex.split(line)])
    return cmds


def measure(n: int, eps: int, backend: Backend, *, naive: bool) -> dict:
    services, slices = cluster(n, eps)
    t_render, rs = timed(lambda: render(services, slices, NODE))
    text = restore_text(rs, missing_jumps=rs.jumps)
    restore = backend.command(rs.family, "restore")
    row = {"services": n, "rules": rs.rule_count(), "bytes": len(text), "render": t_render,
           "commands": len(naive_commands(text, "iptables"))}
    with fresh_netns():
        t, _ = timed(lambda: subprocess.run([restore, "--noflush"], input=text, text=True, check=True))
        row["restore_only"] = t
    with fresh_netns():
        applier = Applier(backend=backend)
        cache: dict = {}  # as the proxier keeps between syncs
        t, _ = timed(lambda: applier.apply(render(services, slices, NODE, cache=cache)))
        row["full_sync"] = t
        # as a watch delivers it: one EndpointSlice object replaced, every other object the same
        slices2 = list(slices)
        slices2[n // 2] = cluster(n, eps, changed=n // 2)[1][n // 2]
        t, stats = timed(lambda: applier.apply(render(services, slices2, NODE, cache=cache)))
        assert not stats.full
        row["one_change"] = t
        row["one_change_bytes"] = stats.bytes
    if naive:
        ipt = restore.replace("-restore", "")
        cmds = naive_commands(text, ipt)
        with fresh_netns():
            def run_all() -> None:
                for c in cmds:
                    subprocess.run(c, check=True, capture_output=True)
            t, _ = timed(run_all)
        row["naive"] = t
        row["naive_per_rule"] = t / len(cmds)
        row["naive_cmds"] = len(cmds)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000", help="comma-separated Service counts")
    ap.add_argument("--endpoints", type=int, default=10, help="endpoints per Service")
    ap.add_argument("--naive-services", type=int, default=100, help="size the naive peer really runs at")
    ap.add_argument("--backend", choices=["auto", "nft", "legacy"], default="auto")
    args = ap.parse_args()
    # a SIGTERM (timeout, Ctrl-C from a supervisor) must still run the cleanup of our namespaces
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    backend = Backend(args.backend)
    sizes = [int(s) for s in args.sizes.split(",")]
    naive_row = measure(args.naive_services, args.endpoints, backend, naive=True)
    rows = [naive_row] + [measure(n, args.endpoints, backend, naive=False) for n in sizes]
    per_rule = naive_row["naive_per_rule"]
    ver = subprocess.run([backend.command(Family.IPV4, "restore"), "--version"], capture_output=True,
                         text=True).stdout.strip()
    print(f"# {ver}; {args.endpoints} endpoints per Service; times in ms; naive = one iptables command per rule")
    print(f"{'services':>8} {'rules':>8} {'render':>8} {'restore':>8} {'full sync':>10} {'1 change':>9} "
          f"{'naive':>11} {'naive/full':>11}")
    for r in rows:
        if "naive" in r:
            naive, mark = r["naive"], ""
        else:
            naive, mark = per_rule * r["commands"], "~"
        ratio = naive / r["full_sync"]
        print(f"{r['services']:>8} {r['rules']:>8} {r['render'] * 1e3:>8.1f} {r['restore_only'] * 1e3:>8.1f} "
              f"{r['full_sync'] * 1e3:>10.1f} {r['one_change'] * 1e3:>9.1f} {mark + format(naive * 1e3, '.0f'):>11} "
              f"{mark + format(ratio, '.1f') + 'x':>11}")
    print(f"# naive peer measured at {naive_row['services']} Services: {naive_row['naive_cmds']} commands, "
          f"{per_rule * 1e3:.2f} ms each; '~' rows extrapolate that per-command time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
