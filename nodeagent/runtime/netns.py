"""Namespace work the engine does in its own process instead of ``nsenter``/``ip``/``unshare``.

Network, IPC and UTS namespaces belong to a thread, not the whole process: :func:`in_thread`
runs a function in a fresh thread that may ``setns``/``unshare`` freely and then ends, so the
engine's other threads never see another namespace (the engine would otherwise fork and
exec two or three helper programs per container or pod).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def in_thread(fn: Callable[..., T], *args: Any, name: str = "netns") -> T:
    """``fn(*args)`` in a thread of its own that ends with it; its result or its exception."""
    out: list[Any] = []
    err: list[BaseException] = []

    def body() -> None:
        try:
            out.append(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            err.append(exc)

    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]  # type: ignore[no-any-return]


def set_link_up(name: str) -> None:
    """``ip link set NAME up`` in the calling thread's network namespace (SIOCSIFFLAGS)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sk:
        req = struct.pack("16sH22x", name.encode(), 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sk.fileno(), SIOCGIFFLAGS, req))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(sk.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags | IFF_UP))


_SYSCALLS: Any = None


def syscalls() -> Any:
    """The runtime's libc calls (unshare, setns, mount, sethostname …), loaded once."""
    global _SYSCALLS
    if _SYSCALLS is None:
        from skiff.nodeagent.runtime.oci.syscalls import LinuxSyscalls

        _SYSCALLS = LinuxSyscalls()
    return _SYSCALLS


def enter(path: str, nstype: int) -> None:
    """``setns`` the calling thread into the namespace at ``path`` (call inside :func:`in_thread`)."""
    syscalls().setns(path, nstype)


def link_up_in(netns_path: str, link: str = "lo") -> None:
    """``nsenter --net=PATH ip link set LINK up``, without the two processes."""
    from skiff.nodeagent.runtime.oci.syscalls import CLONE_NEWNET

    def body() -> None:
        enter(netns_path, CLONE_NEWNET)
        set_link_up(link)

    in_thread(body, name="netns-link-up")
