"""``skiff proxy``: program this node's iptables for Services (kube-proxy's iptables mode).

Flags -> ``NodeInfo`` + appliers (a small checked step), then list+watch Services and
EndpointSlices into the ``Proxier`` and let it sync until SIGTERM/SIGINT.
``--cleanup`` removes every ``SKIFF-`` chain and jump and exits.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys

log = logging.getLogger("skiff.proxy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--node-name", default=socket.gethostname(), help="this node's name (default: the host name)")
    p.add_argument("--cluster-cidr", default=None,
                   help="the pod network, e.g. 10.244.0.0/16: traffic to a ClusterIP from outside it is masqueraded")
    p.add_argument("--iptables-backend", choices=["auto", "nft", "legacy"], default="auto",
                   help="iptables flavour (default: whatever `iptables` is)")
    p.add_argument("--ip-families", default="IPv4", help="comma-separated: IPv4, IPv6 (default %(default)s)")
    p.add_argument("--min-sync-period", type=float, default=1.0, help="seconds between syncs at least")
    p.add_argument("--sync-period", type=float, default=30.0, help="seconds between full syncs at most")
    p.add_argument("--masquerade-bit", type=int, default=14, help="bit of the packet mark asking for SNAT")
    p.add_argument("--iptables-netns", default=None, metavar="PATH",
                   help="run iptables in this network namespace (e.g. /run/netns/node-1), while the API is "
                        "reached from the current one (how the lab runs a proxy per node)")
    p.add_argument("--cleanup", action="store_true", help="remove Skiff's rules and exit")
    p.add_argument("-v", "--verbose", action="store_true")


def _build(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from skiff.proxy.iptables import Applier, Backend, SubprocessRunner
    from skiff.proxy.model import Family, NodeInfo

    try:
        spelled = {"ipv4": Family.IPV4, "ipv6": Family.IPV6}
        families = [spelled[f.strip().lower()] for f in args.ip_families.split(",") if f.strip()]
    except KeyError:
        raise SystemExit(f"skiff proxy: --ip-families: {args.ip_families!r}: want IPv4, IPv6 or IPv4,IPv6") from None
    if not 0 <= args.masquerade_bit <= 31:
        raise SystemExit("skiff proxy: --masquerade-bit: must be within 0..31")
    node = NodeInfo(args.node_name, cluster_cidr=args.cluster_cidr, masquerade_bit=args.masquerade_bit)
    prefix = ("nsenter", f"--net={args.iptables_netns}") if args.iptables_netns else ()
    appliers = [Applier(family=f, backend=Backend(args.iptables_backend), runner=SubprocessRunner(prefix=prefix))
                for f in families]
    return node, appliers


async def _main(args: argparse.Namespace) -> int:
    from skiff.client.transport import ApiClient
    from skiff.proxy.proxier import Proxier
    from skiff.proxy.watch import run_watches

    node, appliers = _build(args)
    proxier = Proxier(node=node, appliers=appliers, min_sync_period=args.min_sync_period,
                      sync_period=args.sync_period)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with ApiClient.from_kubeconfig(args.kubeconfig, timeout=30.0) as client:
        watches = asyncio.ensure_future(run_watches(client, proxier, stop))
        syncer = asyncio.ensure_future(proxier.run(stop))
        log.info("skiff proxy on node %s (%s)", node.name, ", ".join(a.family.value for a in appliers))
        await stop.wait()
        for task in (watches, syncer):
            task.cancel()
        await asyncio.gather(watches, syncer, return_exceptions=True)
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.cleanup:
        from skiff.proxy.iptables import ApplyError

        _, appliers = _build(args)
        try:
            for a in appliers:
                a.cleanup()
        except ApplyError as exc:
            print(f"skiff proxy --cleanup: {exc}", file=sys.stderr)
            return 1
        return 0
    return asyncio.run(_main(args))
