"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does.

One candidate holds the Lease and renews it every ``retry_period``; the others poll and
take it over once ``renewTime + leaseDurationSeconds`` has passed. Writes are
compare-and-swap on resourceVersion, so two candidates never both win. If the leader
cannot renew within ``renew_deadline`` it stops leading (its work is cancelled) and
competes again. ``decide`` is the pure part.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from skiff.api.resources import find
from skiff.client import ApiError

from .objects import fmt_micro, now_utc, parse_time

log = logging.getLogger(__name__)
LEASES = find("leases.coordination.k8s.io")
NAMESPACES = find("namespaces")


class Decision(str, Enum):
    CREATE = "create"
    TAKE = "take"
    RENEW = "renew"
    WAIT = "wait"


def decide(lease: dict[str, Any] | None, identity: str, now: datetime) -> Decision:
    if lease is None:
        return Decision.CREATE
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if holder == identity:
        return Decision.RENEW
    if not holder:
        return Decision.TAKE
    renew = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 15)
    if renew is None or renew + timedelta(seconds=duration) < now:
        return Decision.TAKE
    return Decision.WAIT


def lease_spec(previous: dict[str, Any] | None, identity: str, now: datetime, *, duration: int,
               decision: Decision) -> dict[str, Any]:
    spec = dict((previous or {}).get("spec") or {})
    stamp = fmt_micro(now)
    if decision in (Decision.CREATE, Decision.TAKE):
        spec["acquireTime"] = stamp
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if decision is Decision.TAKE else 0)
    spec.update(holderIdentity=identity, leaseDurationSeconds=duration, renewTime=stamp)
    return spec


@dataclass
class LeaderElector:
    client: Any
    name: str
    identity: str
    namespace: str = "kube-system"
    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    clock: Callable[[], datetime] = now_utc
    is_leader: bool = False

    async def _try(self) -> bool:
        """One acquire-or-renew attempt; True when we hold the lease afterwards."""
        try:
            lease = await self.client.get(LEASES, self.name, namespace=self.namespace)
        except ApiError as e:
            if e.code != 404:
                raise
            lease = None
        now = self.clock()
        d = decide(lease, self.identity, now)
        if d is Decision.WAIT:
            return False
        spec = lease_spec(lease, self.identity, now, duration=self.lease_duration, decision=d)
        try:
            if lease is None:
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
                await self._create(body)
            else:
                await self.client.update(LEASES, {**lease, "spec": spec}, namespace=self.namespace)
        except ApiError as e:
            if e.code in (409, 422):
                return False  # someone else wrote first
            raise
        return True

    async def _create(self, body: dict[str, Any]) -> None:
        try:
            await self.client.create(LEASES, body, namespace=self.namespace)
        except ApiError as e:
            if e.code != 404:
                raise
            try:
                await self.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": self.namespace}})
            except ApiError as e2:
                if e2.code != 409:
                    raise
            await self.client.create(LEASES, body, namespace=self.namespace)

    async def _acquire(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            try:
                if await self._try():
                    return True
            except Exception as exc:
                log.warning("leader election %s: %s", self.name, exc)
            try:
                await asyncio.wait_for(stop.wait(), self.retry_period)
            except asyncio.TimeoutError:
                pass
        return False

    async def _renew_until_lost(self, stop: asyncio.Event, work: asyncio.Task[None]) -> None:
        last_ok = asyncio.get_running_loop().time()
        while not stop.is_set() and not work.done():
            try:
                await asyncio.wait_for(stop.wait(), self.retry_period)
                return
            except asyncio.TimeoutError:
                pass
            try:
                if await self._try():
                    last_ok = asyncio.get_running_loop().time()
                    continue
                log.warning("leader election %s: lease taken by another candidate", self.name)
                return
            except Exception as exc:
                log.warning("leader election %s: renew failed: %s", self.name, exc)
            if asyncio.get_running_loop().time() - last_ok > self.renew_deadline:
                return

    async def run(self, stop: asyncio.Event, lead: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Compete until ``stop``; while leading, run ``lead(lead_stop)`` and cancel it on loss."""
        while not stop.is_set():
            if not await self._acquire(stop):
                return
            self.is_leader = True
            log.info("%s: %s became leader", self.name, self.identity)
            lead_stop = asyncio.Event()
            work = asyncio.create_task(lead(lead_stop))
            try:
                await self._renew_until_lost(stop, work)
            finally:
                self.is_leader = False
                lead_stop.set()
                try:
                    await asyncio.wait_for(asyncio.shield(work), 5)
                except (asyncio.TimeoutError, Exception):
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
            if work.done() and not work.cancelled() and work.exception() is not None:
                log.error("%s: leader work failed: %r", self.name, work.exception())
            if stop.is_set():
                await self._release()

    async def _release(self) -> None:
        """On a clean stop, hand the lease back so another candidate takes over at once."""
        try:
            lease = await self.client.get(LEASES, self.name, namespace=self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
            await self.client.update(LEASES, {**lease, "spec": spec}, namespace=self.namespace)
        except Exception as exc:  # best effort: the lease lapses anyway
            log.info("leader election %s: release failed: %s", self.name, exc)
