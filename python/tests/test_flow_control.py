"""Credit: the worker pulls from run_stream() only while a run has credit."""

from __future__ import annotations

import asyncio

from conftest import Spawn


async def test_credit_bounds_pulling(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", task="go", credit=5)
    items = await worker.items("r1", 5)
    assert [i["type"] for i in items] == ["TextMessage"] + ["ModelClientStreamingChunkEvent"] * 4
    assert [i["content"] for i in items[1:]] == ["w0 ", "w1 ", "w2 ", "w3 "]
    for _ in range(2):
        stats = await worker.stats()
        assert stats["runs"]["r1"] == {"run_id": "r1", "pulled": 5, "credit": 0}
        assert stats["pulled_total"] == 5
        await asyncio.sleep(0.3)
    assert worker.pending("r1") == 0

    await worker.send(op="credit", run="r1", n=3)
    items = await worker.items("r1", 3)
    assert [i["content"] for i in items] == ["w4 ", "w5 ", "w6 "]
    await asyncio.sleep(0.2)
    stats = await worker.stats()
    assert stats["runs"]["r1"] == {"run_id": "r1", "pulled": 8, "credit": 0}
    assert worker.pending("r1") == 0


async def test_credit_sums_and_the_run_completes(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", words=50)
    for _ in range(53):  # task + 50 chunks + TextMessage + TaskResult
        await worker.send(op="credit", run="r1", n=1)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item"] * 53 + ["end"]
    assert evs[-2]["item"]["type"] == "TaskResult"
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["runs"] == {} and stats["pulled_total"] == 53


async def test_end_needs_no_extra_credit(spawn: Spawn) -> None:
    """Exactly as much credit as there are items is enough to see `end`."""
    worker = await spawn("long_stream")
    await worker.start("r1", words=3, credit=6)  # task, 3 chunks, TextMessage, TaskResult
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item"] * 6 + ["end"]


async def test_a_stalled_run_does_not_block_another(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("stalled", credit=2)
    await worker.items("stalled", 2)
    await worker.start("fast", words=200, credit=1000)
    evs = await worker.until_terminal("fast")
    assert evs[-1]["ev"] == "end" and len(evs) == 204
    stats = await worker.stats()
    assert stats["active"] == 1
    assert stats["runs"] == {"stalled": {"run_id": "stalled", "pulled": 2, "credit": 0}}
    assert stats["pulled_total"] == 205
    assert stats["started_total"] == 2
    assert worker.pending("stalled") == 0


async def test_many_concurrent_runs_interleave(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    runs = [f"r{i}" for i in range(10)]
    for run in runs:
        await worker.start(run, words=100, credit=10_000)
    results = await asyncio.gather(*(worker.until_terminal(run) for run in runs))
    for evs in results:
        assert len(evs) == 104 and evs[-1]["ev"] == "end"
        chunks = [e["item"]["content"] for e in evs[1:101]]
        assert "".join(chunks) == " ".join(f"w{i}" for i in range(100))
    stats = await worker.stats()
    assert stats["pulled_total"] == 10 * 103 and stats["started_total"] == 10
