"""Informer: list then watch from the list's version, bookmarks, re-list on 410, indexes, handlers."""
from __future__ import annotations

import asyncio
from typing import Any

from skiff.api.resources import find
from skiff.client import Gone
from skiff.machinery.informer import Informer, index_by_controller

PODS = find("pods")


def pod(name: str, rv: str, *, owner: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": f"u-{name}"}
    if owner:
        m["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet", "name": "rs"}]
    return {"metadata": m}


class FakeClient:
    """Scripted list results and watch streams; records the versions watches start from."""

    def __init__(self, lists: list[dict[str, Any]], watches: list[list[Any]]) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str | None] = []
        self.list_calls = 0
        self.done = asyncio.Event()

    async def list(self, resource: Any, **kw: Any) -> dict[str, Any]:
        self.list_calls += 1
        return self.lists.pop(0)

    async def watch(self, resource: Any, *, resource_version: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        self.watched_from.append(resource_version)
        if not self.watches:
            self.done.set()
            await asyncio.Event().wait()
        for ev in self.watches.pop(0):
            if isinstance(ev, BaseException):
                raise ev
            yield ev


async def test_list_watch_bookmark_and_relist_on_gone() -> None:
    client = FakeClient(
        lists=[{"metadata": {"resourceVersion": "10"}, "items": [pod("a", "5"), pod("b", "6", owner="o1")]},
               {"metadata": {"resourceVersion": "30"}, "items": [pod("a", "5"), pod("c", "29")]}],
        watches=[[("ADDED", pod("d", "11")), ("BOOKMARK", {"metadata": {"resourceVersion": "20"}}),
                  ("DELETED", pod("d", "21"))],
                 [Gone({"code": 410, "reason": "Expired", "message": "too old"})]])
    inf = Informer(client, PODS, indexers={"controller": index_by_controller})
    seen: list[tuple[str, str]] = []
    inf.add_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                    on_update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                    on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    stop = asyncio.Event()
    task = asyncio.create_task(inf.run(stop))
    await asyncio.wait_for(client.done.wait(), 5)
    stop.set()
    await task
    # first watch from the list's version, the second from the bookmark, the third after re-listing
    assert client.watched_from == ["10", "21", "30"]
    assert client.list_calls == 2
    assert sorted(inf.store.keys()) == ["ns/a", "ns/c"]
    assert ("delete", "b") in seen and ("add", "c") in seen and ("add", "d") in seen and ("delete", "d") in seen
    assert inf.store.by_index("controller", "o1") == []
    assert inf.store.get("ns/a")["kind"] == "Pod", "list items get their kind filled in"


def test_store_indexes_follow_updates() -> None:
    inf = Informer(None, PODS, indexers={"controller": index_by_controller})
    inf.apply_event("ADDED", pod("a", "1", owner="o1"))
    inf.apply_event("ADDED", pod("b", "2", owner="o1"))
    assert {p["metadata"]["name"] for p in inf.store.by_index("controller", "o1")} == {"a", "b"}
    inf.apply_event("MODIFIED", pod("a", "3", owner="o2"))
    assert [p["metadata"]["name"] for p in inf.store.by_index("controller", "o1")] == ["b"]
    assert [p["metadata"]["name"] for p in inf.store.by_index("controller", "o2")] == ["a"]
    assert len(inf.store.by_index("namespace", "ns")) == 2
