"""When the proxier syncs: rate limit, periodic full syncs, recovery after failure."""
from __future__ import annotations

import pytest

from skiff.proxy.iptables import Applier, ApplyError, KernelState, parse_save
from skiff.proxy.model import NodeInfo
from skiff.proxy.proxier import Proxier, SyncPlan, next_sync
from tests.unit.proxy.builders import endpoint, endpoint_slice, service

P = dict(min_sync_period=1.0, sync_period=30.0)


@pytest.mark.parametrize("now,dirty,last_sync,last_full,failed,want", [
    (100.0, True, None, None, False, SyncPlan(0.0, True)),  # first sync: now, full
    (100.0, False, 99.0, 90.0, False, None),  # nothing changed, full not due
    (100.0, True, 99.5, 90.0, False, SyncPlan(0.5, False)),  # rate limited
    (100.0, True, 95.0, 90.0, False, SyncPlan(0.0, False)),
    (121.0, False, 119.0, 90.0, False, SyncPlan(0.0, True)),  # periodic full sync
    (100.0, False, 99.9, 90.0, True, SyncPlan(pytest.approx(0.9), True)),  # failed: full, still rate limited
], ids=["first", "idle", "rate-limited", "dirty", "periodic-full", "after-failure"])
def test_next_sync(now, dirty, last_sync, last_full, failed, want) -> None:
    assert next_sync(now, dirty=dirty, last_sync=last_sync, last_full=last_full, failed=failed, **P) == want


class FakeRunner:
    """Records commands; answers iptables-save with ``save``; fails restores while ``fail``."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.save = {"nat": "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", "filter": "*filter\nCOMMIT\n"}
        self.fail = False

    def run(self, argv, *, stdin=None) -> str:
        self.calls.append((list(argv), stdin))
        if argv[0].endswith("-save"):
            return self.save[argv[argv.index("-t") + 1]]
        if self.fail:
            raise ApplyError(argv[0], "line 3 failed")
        return ""


def test_proxier_partial_after_full_and_full_again_after_failure() -> None:
    runner = FakeRunner()
    p = Proxier(node=NodeInfo("node-a"), appliers=[Applier(runner=runner)])
    p.replace("Service", [service("web")])
    p.replace("EndpointSlice", [endpoint_slice("web", [endpoint("10.244.0.5")])])
    assert [s.full for s in p.sync_once()] == [True]
    p.on_event("EndpointSlice", "MODIFIED", endpoint_slice("web", [endpoint("10.244.0.6")]))
    assert [s.full for s in p.sync_once()] == [False]
    runner.fail = True
    p.on_event("EndpointSlice", "MODIFIED", endpoint_slice("web", [endpoint("10.244.0.7")]))
    with pytest.raises(ApplyError, match="iptables-restore: line 3 failed"):
        p.sync_once()
    runner.fail = False
    runner.calls.clear()
    assert [s.full for s in p.sync_once()] == [True]
    assert [c[0][0] for c in runner.calls] == ["iptables-save", "iptables-save", "iptables-restore"]
    assert runner.calls[-1][0][1] == "--noflush"


def test_parse_save_finds_our_chains_and_jumps_only() -> None:
    text = """*nat
:PREROUTING ACCEPT [0:0]
:SKIFF-SERVICES - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "skiff service portals" -j SKIFF-SERVICES
-A PREROUTING -j KUBE-SERVICES
-A SKIFF-SERVICES -d 10.96.0.1/32 -j SKIFF-SVC-X
COMMIT
"""
    state = parse_save("nat", text, KernelState())
    assert state.chains["nat"] == {"PREROUTING", "SKIFF-SERVICES", "KUBE-SERVICES"}
    assert state.jumps == {("nat", "PREROUTING", "SKIFF-SERVICES")}


async def test_run_loop_waits_for_both_lists_then_syncs_on_changes_and_stops() -> None:
    import asyncio

    runner = FakeRunner()
    p = Proxier(node=NodeInfo("node-a"), appliers=[Applier(runner=runner)], min_sync_period=0.0)
    stop = asyncio.Event()
    task = asyncio.ensure_future(p.run(stop))

    async def until(cond) -> None:  # type: ignore[no-untyped-def]
        for _ in range(500):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached")

    p.replace("Service", [service("web")])
    await asyncio.sleep(0.05)
    assert p.syncs == 0  # slices not listed yet: no sync of a half-known world
    p.replace("EndpointSlice", [endpoint_slice("web", [endpoint("10.244.0.5")])])
    await until(lambda: p.syncs == 1)
    p.on_event("EndpointSlice", "MODIFIED", endpoint_slice("web", [endpoint("10.244.0.6")]))
    await until(lambda: p.syncs == 2)
    restores = [stdin for argv, stdin in runner.calls if argv[0] == "iptables-restore"]
    assert len(restores) == 2 and "--to-destination 10.244.0.6:8080" in restores[-1]
    assert "--to-destination 10.244.0.5:8080" not in restores[-1]
    stop.set()
    await asyncio.wait_for(task, 5)
