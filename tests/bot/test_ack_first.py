"""Work after an ack waits while Slack's requests keep coming, and never forever."""

from __future__ import annotations

import asyncio

from bot.ack_first import AckFirst


async def test_work_waits_for_a_pause_in_requests() -> None:
    gate = AckFirst(quiet=0.05, max_wait=5.0)
    loop = asyncio.get_running_loop()
    with gate.request():
        waiting = asyncio.ensure_future(gate.wait())
        await asyncio.sleep(0.1)
        assert not waiting.done()  # a request is being acked
    began = loop.time()
    for _ in range(3):  # a burst: each request pushes the calm back
        await asyncio.sleep(0.02)
        with gate.request():
            pass
    assert not waiting.done()
    await waiting
    assert loop.time() - began >= 0.06 + 0.05


async def test_work_proceeds_after_max_wait_under_sustained_load() -> None:
    gate = AckFirst(quiet=0.05, max_wait=0.2)
    loop = asyncio.get_running_loop()
    with gate.request():
        began = loop.time()
        await gate.wait()
        assert 0.2 <= loop.time() - began < 0.5


async def test_no_requests_no_wait() -> None:
    gate = AckFirst()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await gate.wait()
    assert loop.time() - began < 0.01
