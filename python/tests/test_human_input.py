"""Human in the loop: input_request out, input / input_error in."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import Spawn, Worker, assert_cancels_unwound


async def _until_input_request(worker: Worker, run: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        ev = await worker.next(run)
        if ev["ev"] == "input_request":
            return items, ev
        assert ev["ev"] == "item", ev
        items.append(ev["item"])


async def test_user_proxy_gets_the_bridge_input(spawn: Spawn) -> None:
    worker = await spawn("user_proxy_team")
    await worker.start("r1", task="Plan my week", credit=1000)
    items, request = await _until_input_request(worker, "r1")
    # The request follows its own UserInputRequestedEvent, with AutoGen's id.
    assert items[-1]["type"] == "UserInputRequestedEvent"
    assert items[-1]["source"] == "user"
    assert request == {
        "ev": "input_request",
        "run": "r1",
        "request_id": items[-1]["request_id"],
        "prompt": "Enter your response: ",
    }
    await worker.send(op="input", run="r1", request_id=request["request_id"], content="APPROVE")
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "end"
    after = [e["item"] for e in evs[:-1]]
    assert [i["type"] for i in after] == ["TextMessage", "TaskResult"]
    assert after[0] == {**after[0], "source": "user", "content": "APPROVE"}
    result = after[-1]
    assert "APPROVE" in result["stop_reason"]
    assert [m["source"] for m in result["messages"] if m["type"] == "TextMessage"] == ["user", "assistant", "user"]


async def test_several_rounds_of_input(spawn: Spawn) -> None:
    worker = await spawn("user_proxy_team")
    await worker.start("r1", credit=1000)
    ids = []
    for answer in ("change step two", "APPROVE"):
        _, request = await _until_input_request(worker, "r1")
        ids.append(request["request_id"])
        await worker.send(op="input", run="r1", request_id=request["request_id"], content=answer)
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "end"
    assert len(set(ids)) == 2
    texts = [m["content"] for m in evs[-2]["item"]["messages"] if m["source"] == "user" and m["type"] == "TextMessage"]
    assert texts[-2:] == ["change step two", "APPROVE"]


async def test_input_request_waits_for_its_event_without_credit(spawn: Spawn) -> None:
    """A team runs ahead of credit; the input_request still comes after the
    UserInputRequestedEvent item once credit lets that item out."""
    worker = await spawn("user_proxy_team")
    await worker.start("r1", credit=1)
    [task] = await worker.items("r1", 1)
    assert task["type"] == "TextMessage"
    await asyncio.sleep(0.3)  # the team is already waiting for input by now
    assert worker.pending("r1") == 0
    await worker.send(op="credit", run="r1", n=1000)
    items, request = await _until_input_request(worker, "r1")
    assert items[-1]["type"] == "UserInputRequestedEvent"
    assert items[-1]["request_id"] == request["request_id"]


async def test_input_uses_no_credit(spawn: Spawn) -> None:
    """A single agent only calls its input function when the bridge pulls
    the next item (credit); the input_request itself is free."""
    worker = await spawn("bridge_test_factories:input_kwarg")
    await worker.start("r1", task="name?", credit=2)
    items = await worker.items("r1", 2)
    assert [i["type"] for i in items] == ["TextMessage", "UserInputRequestedEvent"]
    await asyncio.sleep(0.2)
    assert worker.pending("r1") == 0  # not pulled further: no input function call yet
    await worker.send(op="credit", run="r1", n=1)
    request = await worker.next("r1")
    assert request == {
        "ev": "input_request",
        "run": "r1",
        "request_id": items[1]["request_id"],
        "prompt": "Enter your response: ",
    }
    assert (await worker.stats())["runs"]["r1"] == {"run_id": "r1", "pulled": 2, "credit": 1}
    await worker.send(op="input", run="r1", request_id=request["request_id"], content="Ada")
    [answer] = await worker.items("r1", 1)
    assert answer == {**answer, "type": "TextMessage", "source": "human", "content": "Ada"}
    assert (await worker.stats())["runs"]["r1"] == {"run_id": "r1", "pulled": 3, "credit": 0}
    await worker.send(op="credit", run="r1", n=1)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "end"]
    assert evs[0]["item"]["type"] == "TaskResult"


async def test_input_error_fails_the_run(spawn: Spawn) -> None:
    worker = await spawn("user_proxy_team")
    await worker.start("r1", credit=1000)
    _, request = await _until_input_request(worker, "r1")
    await worker.send(op="input", run="r1", request_id="someone-else", content="ignored")
    await worker.send(op="input_error", run="r1", request_id=request["request_id"], message="input timed out")
    evs = await worker.until_terminal("r1")
    error = evs[-1]
    assert error["ev"] == "error" and error["code"] == "AGS_TASK_ERROR" and error["message"] == "The run failed"
    assert error["detail"].startswith("RuntimeError: ")
    assert "input timed out" in error["detail"]


async def test_cancel_while_waiting_for_input(spawn: Spawn) -> None:
    worker = await spawn("user_proxy_team")
    await worker.start("r1", credit=1000)
    await _until_input_request(worker, "r1")
    await worker.send(op="cancel", run="r1")
    assert await worker.until_terminal("r1") == [{"ev": "cancelled", "run": "r1"}]
    # A late answer is ignored; the worker serves the next run.
    await worker.send(op="input", run="r1", request_id="x", content="too late")
    await worker.start("r2", credit=1000)
    _, request = await _until_input_request(worker, "r2")
    await worker.send(op="input", run="r2", request_id=request["request_id"], content="APPROVE")
    assert (await worker.until_terminal("r2"))[-1]["ev"] == "end"
    await assert_cancels_unwound(worker)


async def test_a_custom_console_input_never_reads_the_protocol(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:console_input")
    await worker.start("r1", credit=100)
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "error" and evs[-1]["code"] == "AGS_TASK_ERROR"
    assert "EOF" in evs[-1]["detail"]
    assert (await worker.stats())["active"] == 0
