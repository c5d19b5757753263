from __future__ import annotations

import asyncio

from skiff.machinery.stopping import stopped_within


def test_stopped_within_reports_a_stop_and_a_timeout() -> None:
    async def main() -> tuple[bool, bool]:
        stop = asyncio.Event()
        quiet = await stopped_within(stop, 0.01)
        asyncio.get_running_loop().call_later(0.01, stop.set)
        return quiet, await stopped_within(stop, 30)
    assert asyncio.run(main()) == (False, True)
