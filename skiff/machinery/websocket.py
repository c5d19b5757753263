"""Relaying one WebSocket to another, both ways, until either side ends.

The API server (pods/exec, attach, portforward to the agent) and the agent's kubelet API
(to the engine's streaming server) both splice a client's stream onto an upstream one.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


async def relay(a: Any, b: Any) -> None:
    """Copy text and binary frames a->b and b->a; when one direction ends, close the other."""
    async def pump(src: Any, dst: Any) -> None:
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break
        await dst.close()

    tasks = [asyncio.ensure_future(pump(a, b)), asyncio.ensure_future(pump(b, a))]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
