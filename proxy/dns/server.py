"""Cluster DNS over UDP and TCP (dnspython for the wire format), forwarding other names.

Questions for the cluster zone (and PTRs it knows) are answered from ``records.Index``,
authoritatively, with the zone's SOA in the authority section of negative answers;
everything else is sent to the upstream resolvers (the node's) over the same transport,
retrying over TCP when a UDP answer comes back truncated.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from skiff.proxy.dns.records import DEFAULT_TTL, DEFAULT_ZONE, Index, Rcode, build_index, lookup

log = logging.getLogger("skiff.dns")
UDP_PAYLOAD = 1232  # the EDNS buffer size DNS flag day 2020 settled on


class ClusterDNS:
    """State (the index, rebuilt lazily after changes) and the answer for one wire message."""

    def __init__(self, *, zone: str = DEFAULT_ZONE, upstreams: Sequence[tuple[str, int]] = (),
                 ttl: int = DEFAULT_TTL, timeout: float = 2.0) -> None:
        self.zone = zone.strip(".")
        self.upstreams = list(upstreams)
        self.ttl = ttl
        self.timeout = timeout
        self.services: dict[str, Mapping[str, Any]] = {}
        self.slices: dict[str, Mapping[str, Any]] = {}
        self._index: Index | None = None
        self.ready = False

    # watch handlers ---------------------------------------------------------------------
    def on_event(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        store = self.services if kind == "Service" else self.slices
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if event_type == "DELETED":
            store.pop(key, None)
        else:
            store[key] = obj
        self._index = None

    def replace(self, kind: str, objs: Iterable[Mapping[str, Any]]) -> None:
        store = self.services if kind == "Service" else self.slices
        store.clear()
        for o in objs:
            meta = o.get("metadata") or {}
            store[f"{meta.get('namespace')}/{meta.get('name')}"] = o
        self._index = None

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = build_index(self.services.values(), self.slices.values(), zone=self.zone)
        return self._index

    # answering --------------------------------------------------------------------------
    def local_answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """Our answer, or ``None`` if the question is not ours (forward it)."""
        if len(query.question) != 1:
            resp = dns.message.make_response(query)
            resp.set_rcode(dns.rcode.FORMERR)
            return resp
        q = query.question[0]
        ans = lookup(self.index, q.name.to_text(), dns.rdatatype.to_text(q.rdtype))
        if ans.rcode is Rcode.NOTOURS:
            return None
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AA
        resp.flags |= dns.flags.RA
        for rec in ans.records:
            rrset = resp.find_rrset(resp.answer, dns.name.from_text(rec.name), dns.rdataclass.IN,
                                    dns.rdatatype.from_text(rec.rdtype), create=True)
            rrset.update_ttl(self.ttl)
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rec.rdtype), rec.rdata))
        if ans.rcode is Rcode.NXDOMAIN:
            resp.set_rcode(dns.rcode.NXDOMAIN)
        if not ans.records:
            resp.authority.append(self._soa())
        return resp

    def _soa(self) -> dns.rrset.RRset:
        zone = f"{self.zone}."
        return dns.rrset.from_text(zone, self.ttl, "IN", "SOA",
                                   f"ns.dns.{zone} hostmaster.{zone} 1 7200 1800 86400 {self.ttl}")

    async def handle(self, wire: bytes, *, tcp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        resp = self.local_answer(query)
        if resp is None:
            resp = await self.forward(query, tcp=tcp)
        max_size = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
        return resp.to_wire(max_size=max_size) if tcp else _udp_wire(resp, max_size)

    async def forward(self, query: dns.message.Message, *, tcp: bool) -> dns.message.Message:
        for host, port in self.upstreams:
            try:
                if tcp:
                    return await dns.asyncquery.tcp(query, host, port=port, timeout=self.timeout)
                resp = await dns.asyncquery.udp(query, host, port=port, timeout=self.timeout)
                if resp.flags & dns.flags.TC:
                    resp = await dns.asyncquery.tcp(query, host, port=port, timeout=self.timeout)
                return resp
            except (dns.exception.DNSException, OSError) as exc:
                log.warning("upstream %s:%s failed for %s: %s", host, port, query.question, exc)
        resp = dns.message.make_response(query)
        resp.set_rcode(dns.rcode.SERVFAIL)
        return resp


def _udp_wire(resp: dns.message.Message, max_size: int) -> bytes:
    try:
        return resp.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        resp.answer.clear()
        resp.additional.clear()
        resp.flags |= dns.flags.TC
        return resp.to_wire(max_size=max_size)


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    (qid,) = struct.unpack("!H", wire[:2])
    return struct.pack("!HHHHHH", qid, 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, dns_: ClusterDNS) -> None:
        self.dns = dns_
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.ensure_future(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        out = await self.dns.handle(data, tcp=False)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


async def _tcp_client(dns_: ClusterDNS, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
                wire = await reader.readexactly(n)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            out = await dns_.handle(wire, tcp=True)
            if out is None:
                return
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()
    finally:
        writer.close()


async def serve(dns_: ClusterDNS, host: str, port: int, *,
                sockets: tuple[socket.socket, socket.socket] | None = None
                ) -> Callable[[], Awaitable[None]]:
    """Listen on UDP and TCP ``host:port`` (or on ``sockets``, (udp, tcp), already bound);
    returns a coroutine function that stops both and releases the ports."""
    loop = asyncio.get_running_loop()
    if sockets is None:
        udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(dns_), local_addr=(host, port))
        tcp = await asyncio.start_server(lambda r, w: _tcp_client(dns_, r, w), host, port)
    else:
        udp, _ = await loop.create_datagram_endpoint(lambda: _UDP(dns_), sock=sockets[0])
        tcp = await asyncio.start_server(lambda r, w: _tcp_client(dns_, r, w), sock=sockets[1])

    async def close() -> None:
        udp.close()
        tcp.close()
        await tcp.wait_closed()
        await asyncio.sleep(0)  # the datagram transport closes its socket on the next turn
    return close
