"""Quick GETs against an API server that listens inside a test's network namespace.

Polling through ``kubectl`` costs a process start per look; this client runs its requests
on one thread that has entered the namespace (``setns`` is per thread), so waiting on a
condition stays cheap. Tests still drive the cluster with the real kubectl.
"""
from __future__ import annotations

import ctypes
import json
import os
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

CLONE_NEWNET = 0x40000000


def enter_netns(netns: str) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
    finally:
        os.close(fd)


class NetnsApi:
    def __init__(self, netns: str, server: str, token: str, ca_file: str) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.pool = ThreadPoolExecutor(max_workers=1, initializer=enter_netns, initargs=(netns,))

    def _get(self, path: str) -> Any:
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def get(self, path: str) -> Any:
        """The decoded object at ``path`` (None when 404)."""
        return self.pool.submit(self._get, path).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
