"""``skiff dns``: serve cluster DNS (UDP and TCP) from watched Services and EndpointSlices.

Names outside the cluster zone go to the upstream resolvers: ``--upstream`` or the
nameservers of ``--resolv-conf`` (the node's, default /etc/resolv.conf).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

log = logging.getLogger("skiff.dns")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config)")
    p.add_argument("--listen", default="0.0.0.0:53", help="HOST:PORT to answer on, UDP and TCP (default %(default)s)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster zone (default %(default)s)")
    p.add_argument("--upstream", action="append", default=[], metavar="HOST[:PORT]",
                   help="resolver for other names (repeatable; default: nameservers of --resolv-conf)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf", type=Path, help="where the node's resolvers are")
    p.add_argument("--ttl", type=int, default=5, help="TTL of cluster answers in seconds")
    p.add_argument("-v", "--verbose", action="store_true")


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[V6]:PORT``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def upstreams(args: argparse.Namespace) -> list[tuple[str, int]]:
    from skiff.proxy.dns.resolvconf import parse_resolv_conf

    if args.upstream:
        return [parse_hostport(u, 53) for u in args.upstream]
    try:
        nameservers, _, _ = parse_resolv_conf(args.resolv_conf.read_text())
    except OSError as exc:
        raise SystemExit(f"skiff dns: --resolv-conf: {exc}") from None
    return [(n, 53) for n in nameservers]


async def _main(args: argparse.Namespace) -> int:
    from skiff.client.transport import ApiClient
    from skiff.proxy.dns.server import ClusterDNS, serve
    from skiff.proxy.watch import run_watches

    try:
        host, port = parse_hostport(args.listen, 53)
    except ValueError:
        raise SystemExit(f"skiff dns: --listen: {args.listen!r}: want HOST:PORT") from None
    dns = ClusterDNS(zone=args.cluster_domain, upstreams=upstreams(args), ttl=args.ttl)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    close = await serve(dns, host, port)
    log.info("skiff dns answering %s on %s:%s, upstreams %s", args.cluster_domain, host, port, dns.upstreams)
    try:
        async with ApiClient.from_kubeconfig(args.kubeconfig, timeout=30.0) as client:
            watches = asyncio.ensure_future(run_watches(client, dns, stop))
            await stop.wait()
            watches.cancel()
            await asyncio.gather(watches, return_exceptions=True)
    finally:
        await close()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_main(args))
