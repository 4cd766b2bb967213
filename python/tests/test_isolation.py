"""One run, one client or one bad line never costs the others anything.

- Runs are keyed by the server-made key (``run``), never by the client's
  runId, which reaches the factory only as information.
- A second ``start`` for an active key ends that run with AGS_DUPLICATE_RUN,
  its one terminal event.
- Every stdin line is decoded and dispatched inside a guard: whatever it
  raises, the worker (same pid) and the other runs go on, and the run the
  line names ends with AGS_BAD_OP.
- Ops for unknown or finished keys do nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import Spawn, Worker

BAD_OP_MESSAGE = "The worker could not read a message for this run"


def _final_text(evs: list[dict[str, Any]]) -> str:
    assert evs[-1]["ev"] == "end", evs[-1]
    result = evs[-2]["item"]
    assert result["type"] == "TaskResult"
    return str(result["messages"][-1]["content"])


async def _assert_alive(worker: Worker, pid: int) -> None:
    """Same process, still answering."""
    assert worker.proc.returncode is None
    assert worker.proc.pid == pid
    await worker.stats()


async def test_runs_are_keyed_by_key_and_run_id_is_informational(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_request")
    # Two clients that happen to choose the same runId, at the same time.
    await worker.start("key-1", run_id="same")
    await worker.start("key-2", run_id="same")
    await worker.start("key-3")  # an older caller: no run_id
    stats = await worker.stats()
    assert stats["active"] == 3
    assert stats["runs"] == {
        "key-1": {"run_id": "same", "pulled": 0, "credit": 0},
        "key-2": {"run_id": "same", "pulled": 0, "credit": 0},
        "key-3": {"run_id": "key-3", "pulled": 0, "credit": 0},
    }
    for key in ("key-1", "key-2", "key-3"):
        await worker.send(op="credit", run=key, n=100)
    assert _final_text(await worker.until_terminal("key-1")) == "run_id=same key=key-1"
    assert _final_text(await worker.until_terminal("key-2")) == "run_id=same key=key-2"
    assert _final_text(await worker.until_terminal("key-3")) == "run_id=key-3 key=key-3"
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 3


async def test_a_non_string_run_id_refuses_the_start(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    await worker.send(op="start", run="k", run_id=7, task="hi", options={})
    [error] = await worker.until_terminal("k")
    assert error["code"] == "AGS_BAD_OP" and error["message"] == BAD_OP_MESSAGE
    assert error["detail"].startswith("ProtocolError: op 'start' needs a string 'run_id'")
    assert (await worker.stats())["started_total"] == 0


async def test_a_duplicate_start_ends_the_active_run_once(spawn: Spawn) -> None:
    worker = await spawn("slow_agent")
    pid = worker.proc.pid
    await worker.start("dup", credit=10)
    await worker.start("bystander", credit=10)
    [task] = await worker.items("dup", 1)
    assert task["type"] == "TextMessage"
    # The active run is inside its (hour-long) model call now.
    await worker.start("dup", task="second", credit=10)
    evs = await worker.until_terminal("dup")
    assert evs == [
        {
            "ev": "error",
            "run": "dup",
            "code": "AGS_DUPLICATE_RUN",
            "message": "The run was started twice",
            "detail": "a start for key 'dup' arrived while a run with that key was active",
        }
    ]
    stats = await worker.stats()
    # Neither start runs on; the bystander is untouched.
    assert stats["active"] == 1 and list(stats["runs"]) == ["bystander"]
    assert stats["started_total"] == 2
    assert stats["cancelled"] == []
    await worker.send(op="cancel", run="bystander")
    assert (await worker.until_terminal("bystander"))[-1] == {"ev": "cancelled", "run": "bystander"}
    await _assert_alive(worker, pid)
    # Nothing more for the key: not from the first run, not from the second start.
    assert worker.pending("dup") == 0
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert worker.pending("dup") == 0
    assert b"ERROR autogen_stream_bridge.manager" in worker.stderr
    assert b"start for key dup (runId 'dup'), which is still active: both refused" in worker.stderr


async def test_a_duplicate_start_while_waiting_for_credit(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("dup", credit=3)
    await worker.items("dup", 3)
    await worker.start("dup", credit=3)
    [error] = await worker.until_terminal("dup")
    assert error["code"] == "AGS_DUPLICATE_RUN"
    # Credit for the key now finds no run, and starts nothing.
    await worker.send(op="credit", run="dup", n=100)
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 1 and stats["pulled_total"] == 3
    assert worker.pending("dup") == 0


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_deeply_nested_start_lines_end_only_their_run(spawn: Spawn) -> None:
    """json.loads raises RecursionError (not ValueError) past ~1000 levels:
    it used to escape the worker's loop and kill every run in the worker."""
    worker = await spawn("streaming_agent")
    pid = worker.proc.pid
    await worker.start("other")  # active, waiting for credit, across the bad lines
    for key, depth in (("deep-1500", 1500), ("deep-100000", 100_000)):
        line = f'{{"op":"start","run":"{key}","run_id":"client","task":"hi","options":{{"a":{_nested(depth)}}}}}\n'
        await worker.send_raw(line.encode())
    for key in ("deep-1500", "deep-100000"):
        [error] = await worker.until_terminal(key)
        assert {k: v for k, v in error.items() if k != "detail"} == {
            "ev": "error",
            "run": key,
            "code": "AGS_BAD_OP",
            "message": BAD_OP_MESSAGE,
        }
        assert error["detail"].startswith("RecursionError: maximum recursion depth exceeded")
    await _assert_alive(worker, pid)
    await worker.send(op="credit", run="other", n=1000)
    assert (await worker.until_terminal("other"))[-1] == {"ev": "end", "run": "other"}
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 1
    assert worker.pending("deep-1500") == 0 and worker.pending("deep-100000") == 0


async def test_an_unreadable_line_for_an_active_run_ends_it(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    pid = worker.proc.pid
    victims = {
        # Deep nesting after the run was named.
        "v-deep": f'{{"op":"credit","run":"v-deep","n":1,"x":{_nested(5000)}}}',
        # Cut short: not JSON at all.
        "v-cut": '{"op":"credit","run":"v-cut","n":1',
        # JSON, but an int json refuses (over 4300 digits).
        "v-digits": '{"op":"credit","run":"v-digits","n":' + "9" * 5000 + "}",
        # JSON, but not a valid op (an infinite credit).
        "v-shape": '{"op":"credit","run":"v-shape","n":1e999}',
    }
    for key in victims:
        await worker.start(key, credit=2)
        await worker.items(key, 2)
    await worker.start("bystander", credit=2)
    await worker.items("bystander", 2)
    for line in victims.values():
        await worker.send_raw(line.encode() + b"\n")
    for key in victims:
        evs = await worker.until_terminal(key)
        assert [e["ev"] for e in evs] == ["error"], (key, evs)
        assert evs[0]["code"] == "AGS_BAD_OP" and evs[0]["message"] == BAD_OP_MESSAGE
    await _assert_alive(worker, pid)
    stats = await worker.stats()
    assert stats["active"] == 1 and stats["runs"] == {"bystander": {"run_id": "bystander", "pulled": 2, "credit": 0}}
    assert stats["cancelled"] == []
    await worker.send(op="credit", run="bystander", n=10)
    assert len(await worker.items("bystander", 10)) == 10


async def test_an_exception_in_dispatch_costs_only_its_run(spawn: Spawn) -> None:
    """Any exception, not only the decoder's: RunManager.dispatch is broken on
    purpose for keys starting with "boom" and for credit n=13."""
    worker = await spawn("bridge_test_faulty_dispatch:create")
    pid = worker.proc.pid
    await worker.start("victim", credit=1)
    await worker.items("victim", 1)
    await worker.start("boom-1", credit=5)
    [error] = await worker.until_terminal("boom-1")
    assert error["code"] == "AGS_BAD_OP" and error["message"] == BAD_OP_MESSAGE
    assert error["detail"].startswith("TypeError: dispatch broke on purpose")
    await worker.send(op="credit", run="victim", n=13)
    [error] = await worker.until_terminal("victim")
    assert error["code"] == "AGS_BAD_OP"
    await _assert_alive(worker, pid)
    await worker.start("fine", credit=1000)
    assert (await worker.until_terminal("fine"))[-1]["ev"] == "end"
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 2  # victim, fine


async def test_lines_naming_no_active_run_are_only_logged(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    for line in [
        f'{{"op":"credit","run":"nobody","n":1,"x":{_nested(3000)}}}',
        '{"op":"cancel","run":"nobody"',
        f'{{"x":{_nested(3000)}}}',
        '{"op":"credit","run":"nobody","n":0}',
    ]:
        await worker.send_raw(line.encode() + b"\n")
    await worker.start("r1", credit=1000)
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "end"
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert worker.pending("nobody") == 0
    assert worker.stderr.count(b"ignoring stdin line") == 4


async def test_ops_for_unknown_and_finished_keys_do_nothing(spawn: Spawn) -> None:
    worker = await spawn("long_stream", "--log-level", "DEBUG")
    await worker.start("done", words=3, credit=100)
    assert (await worker.until_terminal("done"))[-1]["ev"] == "end"
    await worker.start("cancelled", credit=1)
    await worker.items("cancelled", 1)
    await worker.send(op="cancel", run="cancelled")
    assert await worker.until_terminal("cancelled") == [{"ev": "cancelled", "run": "cancelled"}]
    before = await worker.stats()
    for key in ("done", "cancelled", "never-started"):
        await worker.send(op="credit", run=key, n=5)
        await worker.send(op="cancel", run=key)
        await worker.send(op="stop", run=key)
        await worker.send(op="input", run=key, request_id="q", content="late")
        await worker.send(op="input_error", run=key, request_id="q", message="late")
    after = await worker.stats()
    assert {k: v for k, v in after.items() if k != "id"} == {k: v for k, v in before.items() if k != "id"}
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    for key in ("done", "cancelled", "never-started"):
        assert worker.pending(key) == 0, key
    assert worker.stderr.count(b"for unknown or finished run") == 15


async def test_many_bad_lines_between_good_ones(spawn: Spawn) -> None:
    """Interleaved in one write: every good op is still served in order."""
    worker = await spawn("streaming_agent")
    good = [json.dumps({"op": "start", "run": f"g{i}", "task": "hi", "options": {}}) for i in range(5)]
    bad = [f'{{"op":"start","run":"b{i}","task":{_nested(2000)}}}' for i in range(5)]
    payload = "\n".join(line for pair in zip(good, bad, strict=True) for line in pair) + "\n"
    await worker.send_raw(payload.encode())
    for i in range(5):
        await worker.send(op="credit", run=f"g{i}", n=1000)
    results = await asyncio.gather(*(worker.until_terminal(f"g{i}") for i in range(5)))
    assert all(evs[-1]["ev"] == "end" for evs in results)
    for i in range(5):
        assert [e["code"] for e in await worker.until_terminal(f"b{i}")] == ["AGS_BAD_OP"]
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 5
