"""A watcher turns storage events into ADDED/MODIFIED/DELETED as seen through its selector."""
import asyncio

from skiff.apiserver.watchcache import Event, Watcher


def obj(labels):
    return {"metadata": {"name": "x", "labels": labels}}


def drain(w):
    out = []
    while not w.queue.empty():
        item = w.queue.get_nowait()
        out.append(item if item is None else (item[0], item[1]["metadata"]["resourceVersion"]))
    return out


def test_selector_transitions():
    async def run():
        w = Watcher("/registry/pods/", "/registry/pods/ns/", lambda o: o["metadata"]["labels"].get("app") == "a")
        k = "/registry/pods/ns/x"
        w.offer(Event("/registry/pods/", k, obj({"app": "a"}), None, 2))            # created matching
        w.offer(Event("/registry/pods/", k, obj({"app": "a", "v": "2"}), obj({"app": "a"}), 3))  # still matching
        w.offer(Event("/registry/pods/", k, obj({"app": "b"}), obj({"app": "a"}), 4))  # stops matching
        w.offer(Event("/registry/pods/", k, obj({"app": "a"}), obj({"app": "b"}), 5))  # matches again
        w.offer(Event("/registry/pods/", k, None, obj({"app": "a"}), 6))               # deleted
        w.offer(Event("/registry/pods/", "/registry/pods/other/x", obj({"app": "a"}), None, 7))  # other ns
        w.offer(Event("/registry/services/", "/registry/services/ns/x", obj({"app": "a"}), None, 8))
        return drain(w)

    assert asyncio.run(run()) == [("ADDED", "2"), ("MODIFIED", "3"), ("DELETED", "4"), ("ADDED", "5"),
                                  ("DELETED", "6")]


def test_overflowing_watcher_is_closed():
    async def run():
        w = Watcher("/registry/pods/", "/registry/pods/", lambda o: True)
        w.queue = asyncio.Queue(maxsize=2)
        for rv in range(5):
            w.offer(Event("/registry/pods/", "/registry/pods/ns/x", obj({}), None, rv))
        return w.closed

    assert asyncio.run(run())
