"""``skiff hollow-nodes``: run N simulated nodes against a cluster (flags → options, then run)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from skiff.client import ApiClient
from skiff.machinery.hollow import HollowCluster, HollowOptions, NodeShape


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig of the cluster (default $KUBECONFIG)")
    p.add_argument("--count", type=int, default=3, help="number of nodes (default %(default)s)")
    p.add_argument("--cpu", default="4", help="CPU capacity of each node (default %(default)s)")
    p.add_argument("--memory", default="16Gi", help="memory capacity of each node (default %(default)s)")
    p.add_argument("--pods", type=int, default=110, help="pod capacity of each node (default %(default)s)")
    p.add_argument("--name-prefix", default="hollow-", help="node names are PREFIX0, PREFIX1, …")
    p.add_argument("--start-index", type=int, default=0, help="number of the first node")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="extra node label")
    p.add_argument("--lease-interval", type=float, default=10.0, help="seconds between Lease renewals")
    p.add_argument("--lease-duration", type=int, default=40, help="leaseDurationSeconds written")
    p.add_argument("--status-interval", type=float, default=60.0, help="seconds between node status posts")
    p.add_argument("--termination-seconds", type=float, default=0.0,
                   help="how long a deleted pod takes to stop (capped by its grace period)")
    p.add_argument("--start-seconds", type=float, default=0.0,
                   help="how long a bound pod takes to become Running and Ready (annotation hollow.skiff.io/start-seconds overrides)")
    p.add_argument("-v", "--verbose", action="store_true")


def options_from_args(args: argparse.Namespace) -> HollowOptions:
    labels = []
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"skiff hollow-nodes: --label {item!r}: expected KEY=VALUE")
        labels.append((key, value))
    if args.count < 1:
        raise SystemExit("skiff hollow-nodes: --count must be at least 1")
    return HollowOptions(shape=NodeShape(cpu=args.cpu, memory=args.memory, pods=args.pods, labels=tuple(labels)),
                         prefix=args.name_prefix, lease_duration=args.lease_duration,
                         lease_interval=args.lease_interval, status_interval=args.status_interval,
                         termination_seconds=args.termination_seconds, start_seconds=args.start_seconds,
                         start_index=args.start_index)


async def _main(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with ApiClient.from_kubeconfig(args.kubeconfig) as client:
        cluster = HollowCluster(client, args.count, options=options)
        await cluster.start()
        logging.getLogger("skiff.hollow").info("%d hollow nodes registered", args.count)
        print(f"{args.count} hollow nodes running ({options.prefix}{options.start_index}…)", flush=True)
        await stop.wait()
        await cluster.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(_main(args))
