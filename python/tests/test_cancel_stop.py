"""cancel ends a run wherever it waits; stop ends a team after its turn.

No assertion here is about time: that cancel reached AutoGen (rather than
the bridge giving up on it after its grace period) is checked from the
worker's own account, the "still unwinding" warning it logs when the grace
period runs out."""

from __future__ import annotations

import asyncio

from conftest import Spawn, Worker, assert_cancels_unwound


async def _cancel(worker: Worker, run: str) -> None:
    await worker.send(op="cancel", run=run)
    evs = await worker.until_terminal(run)
    assert evs[-1] == {"ev": "cancelled", "run": run}
    assert all(e["ev"] == "item" for e in evs[:-1])


async def test_cancel_while_waiting_for_credit(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", credit=10)
    await worker.items("r1", 10)
    await _cancel(worker, "r1")
    stats = await worker.stats()
    assert stats["cancelled"] == ["r1"]
    assert stats["active"] == 0 and stats["runs"] == {}
    # Ops for the finished run are ignored, nothing more is sent for it.
    await worker.send(op="credit", run="r1", n=5)
    await worker.send(op="cancel", run="r1")
    # The worker keeps serving.
    await worker.start("r2", words=5, credit=100)
    assert (await worker.until_terminal("r2"))[-1]["ev"] == "end"
    await asyncio.sleep(0.1)
    assert worker.pending("r1") == 0
    assert (await worker.stats())["cancelled"] == ["r1"]
    await assert_cancels_unwound(worker)


async def test_cancel_while_streaming(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", words=200_000, credit=1_000_000)
    await worker.items("r1", 100)
    await worker.send(op="cancel", run="r1")
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "cancelled"
    assert all(e["ev"] == "item" for e in evs[:-1])
    assert "TaskResult" not in [e["item"]["type"] for e in evs[:-1]]
    stats = await worker.stats()
    assert stats["cancelled"] == ["r1"] and stats["active"] == 0
    await assert_cancels_unwound(worker)


async def test_cancel_inside_a_model_call(spawn: Spawn) -> None:
    worker = await spawn("slow_agent")
    await worker.start("r1", credit=10)
    [task] = await worker.items("r1", 1)
    assert task["type"] == "TextMessage"
    await asyncio.sleep(0.2)  # now awaiting the (hour-long) model call
    await _cancel(worker, "r1")
    assert (await worker.stats())["cancelled"] == ["r1"]
    await assert_cancels_unwound(worker)


async def test_slow_agent_answers_after_its_delay(spawn: Spawn) -> None:
    worker = await spawn("slow_agent")
    await worker.start("r1", credit=100, delay=0.2)
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "end"


async def test_cancel_a_team_inside_a_model_call(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:slow_team")
    await worker.start("r1", credit=100)
    await worker.items("r1", 1)
    await asyncio.sleep(0.2)
    await _cancel(worker, "r1")
    await worker.start("r2", credit=100, delay=0)
    evs = await worker.until_terminal("r2")
    assert evs[-1]["ev"] == "end"
    await assert_cancels_unwound(worker)


async def test_cancel_before_any_credit(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    await worker.start("r1")
    await _cancel(worker, "r1")
    stats = await worker.stats()
    assert stats["cancelled"] == ["r1"] and stats["pulled_total"] == 0
    await assert_cancels_unwound(worker)


async def test_stop_ends_a_team_after_the_current_turn(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:slow_team")
    await worker.start("r1", task="go", credit=1000, delay=0.3)
    while True:
        ev = await worker.next("r1")
        if ev["item"]["type"] == "TextMessage" and ev["item"]["source"] == "writer":
            break
    await worker.send(op="stop", run="r1")
    evs = await worker.until_terminal("r1")
    assert evs[-1] == {"ev": "end", "run": "r1"}
    result = evs[-2]["item"]
    assert result["type"] == "TaskResult"
    assert result["stop_reason"] == "External termination requested"
    # The critic finished the turn it was in; nobody spoke after it.
    assert [m["source"] for m in result["messages"]] == ["user", "writer", "critic"]
    assert (await worker.stats())["cancelled"] == []


async def test_stop_keeps_the_teams_own_termination(spawn: Spawn) -> None:
    worker = await spawn("round_robin")
    await worker.start("r1", credit=1000)
    evs = await worker.until_terminal("r1")
    assert "APPROVE" in evs[-2]["item"]["stop_reason"]


async def test_stop_on_a_single_agent_cancels(spawn: Spawn) -> None:
    worker = await spawn("slow_agent")
    await worker.start("r1", credit=10)
    await worker.items("r1", 1)
    await worker.send(op="stop", run="r1")
    evs = await worker.until_terminal("r1")
    assert evs == [{"ev": "cancelled", "run": "r1"}]
    assert (await worker.stats())["cancelled"] == ["r1"]
    await assert_cancels_unwound(worker)


async def test_shutdown_cancels_runs_and_exits_0(spawn: Spawn) -> None:
    worker = await spawn("slow_agent")
    await worker.start("r1", credit=10)
    await worker.start("r2", credit=0)
    await worker.items("r1", 1)
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "cancelled"
    assert (await worker.until_terminal("r2"))[-1]["ev"] == "cancelled"


async def test_stdin_eof_exits_0(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", credit=3)
    await worker.items("r1", 3)
    assert worker.proc.stdin is not None
    worker.proc.stdin.close()
    assert await worker.wait_exit() == 0
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "cancelled"
