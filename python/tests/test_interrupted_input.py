"""Interrupted input (docs/bridge.md, Threads): an ``interrupt`` op ends a
thread's run at its UserProxyAgent's question with its state saved
(``state``, then ``interrupted``) and frees the worker; a later ``start``
with ``thread.answer`` continues the conversation from that state, on any
worker, with the answer as the UserProxyAgent's own reply. The continued
conversation ends in the same team state as one that was never
interrupted, for a RoundRobinGroupChat, a SelectorGroupChat and a Swarm."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Spawn, Worker

# The human's answers, in order; the last ends each example's conversation.
ANSWERS = {
    "interrupt_round_robin": ["change it", "APPROVE"],
    "interrupt_selector": ["change it"],
    "interrupt_swarm": ["here you go"],
}


async def _until_input_request(worker: Worker, run: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    evs = []
    while True:
        ev = await worker.next(run)
        evs.append(ev)
        if ev["ev"] == "input_request":
            return evs, ev
        assert ev["ev"] not in ("end", "cancelled", "interrupted", "error"), evs


def _start(worker: Worker, run: str, example: str, task: str, thread: dict[str, Any]) -> Any:
    return worker.send(op="start", run=run, task=task, options={"example": example}, thread=thread)


def _comparable(value: Any) -> Any:
    """A state without what differs between any two runs: message ids and times."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in ("id", "created_at")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


async def _uninterrupted(worker: Worker, example: str) -> tuple[Any, list[dict[str, Any]]]:
    """The conversation with every answer given while the run waits: its final state and messages."""
    await _start(worker, "u1", example, "plan", {"state": None})
    await worker.send(op="credit", run="u1", n=1000)
    for answer in ANSWERS[example]:
        _, request = await _until_input_request(worker, "u1")
        await worker.send(op="input", run="u1", request_id=request["request_id"], content=answer)
    evs = await worker.until_terminal("u1")
    assert evs[-1]["ev"] == "end", evs[-1]
    [state] = [e["state"] for e in evs if e["ev"] == "state"]
    [result] = [e["item"] for e in evs if e["ev"] == "item" and e["item"]["type"] == "TaskResult"]
    return state, result["messages"]


@pytest.mark.parametrize("example", list(ANSWERS))
async def test_an_interrupted_conversation_ends_as_an_uninterrupted_one(spawn: Spawn, example: str) -> None:
    expected_state, expected_messages = await _uninterrupted(await spawn(example), example)

    # Each answer goes to a fresh worker: only the state carries the conversation.
    worker = await spawn(example)
    await _start(worker, "k0", example, "plan", {"state": None})
    await worker.send(op="credit", run="k0", n=1000)
    messages: list[dict[str, Any]] = []
    run = "k0"
    for i, answer in enumerate(ANSWERS[example]):
        evs, request = await _until_input_request(worker, run)
        messages += [e["item"] for e in evs if e["ev"] == "item"]
        # Only a question the run could go on from names its asker.
        assert request["source"] == "user"
        await worker.send(op="interrupt", run=run, request_id=request["request_id"])
        evs = await worker.until_terminal(run)
        assert [e["ev"] for e in evs] == ["state", "interrupted"], evs
        assert evs[-1] == {"ev": "interrupted", "run": run, "request_id": request["request_id"]}
        state = evs[0]["state"]
        # The worker holds nothing of the run: the state is all there is.
        assert (await worker.stats())["active"] == 0
        await worker.close()

        worker = await spawn(example)
        run = f"k{i + 1}"
        thread = {"state": state, "answer": {"request_id": request["request_id"], "content": answer, "source": "user"}}
        await _start(worker, run, example, answer, thread)
        await worker.send(op="credit", run=run, n=1000)
    evs = await worker.until_terminal(run)
    assert evs[-1]["ev"] == "end", evs[-1]
    [state] = [e["state"] for e in evs if e["ev"] == "state"]
    [result] = [e["item"] for e in evs if e["ev"] == "item" and e["item"]["type"] == "TaskResult"]
    messages += result["messages"]

    # One difference, which UserProxyAgent ignores (interrupt.py): the user
    # proxy's own container buffer begins with its reply, which the runtime
    # never delivers to the agent that sent it when it replies in the run.
    own = state["agent_states"]["user"]["message_buffer"]
    assert own[0]["source"] == "user" and own[0]["content"] == ANSWERS[example][-1]
    del own[0]
    assert _comparable(state) == _comparable(expected_state)
    # The answer opens the continued run as the user proxy's own message.
    replies = ("TextMessage", "HandoffMessage")
    answers = [m for m in result["messages"] if m["source"] == "user" and m["type"] in replies]
    assert answers[0]["content"] == ANSWERS[example][-1]
    if example == "interrupt_swarm":
        assert answers[0]["type"] == "HandoffMessage" and answers[0]["target"] == "assistant"
    # What the client saw over the runs: the uninterrupted run's messages, in order.
    assert _shown(messages) == _shown(expected_messages)


def _shown(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(m["type"], m["source"], m.get("content")) for m in messages if m["type"] != "UserInputRequestedEvent"]


async def test_the_model_is_asked_with_the_answer_as_the_user_proxys_message(spawn: Spawn) -> None:
    worker = await spawn("interrupt_round_robin")
    await _start(worker, "k1", "interrupt_round_robin", "plan", {"state": None})
    await worker.send(op="credit", run="k1", n=1000)
    _, request = await _until_input_request(worker, "k1")
    await worker.send(op="interrupt", run="k1", request_id=request["request_id"])
    evs = await worker.until_terminal("k1")
    state = evs[0]["state"]
    answer = {"request_id": request["request_id"], "content": "Tuesday, \ud800 not Monday", "source": "user"}
    await _start(worker, "k2", "interrupt_round_robin", "x", {"state": state, "answer": answer})
    await worker.send(op="credit", run="k2", n=1000)
    evs, _ = await _until_input_request(worker, "k2")
    items = [e["item"] for e in evs if e["ev"] == "item"]
    # The answer (a lone surrogate made U+FFFD, as for an input op), then the assistant, asked with it.
    first = items[0]
    assert (first["type"], first["source"], first["content"]) == ("TextMessage", "user", "Tuesday, \ufffd not Monday")
    reply = next(i for i in items if i["type"] == "TextMessage" and i["source"] == "assistant")
    assert reply["content"] == "seen: user: plan | user: Tuesday, \ufffd not Monday"
    await worker.send(op="cancel", run="k2")
    await worker.until_terminal("k2")


async def test_an_interrupt_for_a_question_it_cannot_hold_cancels(spawn: Spawn) -> None:
    # Not a thread's run: its input_request names no source, and nothing would keep its state.
    worker = await spawn("interrupt_round_robin")
    await worker.start("k1", "plan", credit=1000, example="interrupt_round_robin")
    _, request = await _until_input_request(worker, "k1")
    assert "source" not in request
    await worker.send(op="interrupt", run="k1", request_id=request["request_id"])
    evs = await worker.until_terminal("k1")
    assert evs[-1] == {"ev": "cancelled", "run": "k1"}


async def test_an_answer_for_another_team_fails_the_run(spawn: Spawn) -> None:
    worker = await spawn("interrupt_round_robin")
    await _start(worker, "k1", "interrupt_round_robin", "plan", {"state": None})
    await worker.send(op="credit", run="k1", n=1000)
    _, request = await _until_input_request(worker, "k1")
    await worker.send(op="interrupt", run="k1", request_id=request["request_id"])
    state = (await worker.until_terminal("k1"))[0]["state"]
    answer = {"request_id": request["request_id"], "content": "hi", "source": "nobody"}
    await _start(worker, "k2", "interrupt_round_robin", "hi", {"state": state, "answer": answer})
    evs = await worker.until_terminal("k2")
    assert evs[-1]["ev"] == "error" and evs[-1]["code"] == "AGS_THREAD_STATE_FAILED"
    assert "nobody" in evs[-1]["detail"]


async def test_a_thread_answer_must_be_strings(spawn: Spawn) -> None:
    worker = await spawn("interrupt_round_robin")
    await worker.send(op="start", run="k1", task="x", thread={"state": None, "answer": {"request_id": 1}})
    evs = await worker.until_terminal("k1")
    assert evs[-1]["ev"] == "error" and evs[-1]["code"] == "AGS_BAD_OP"


async def test_a_question_it_could_not_go_on_from_names_no_asker(spawn: Spawn) -> None:
    # A thread's run of a lone UserProxyAgent: no team to answer in, so Node never interrupts it.
    worker = await spawn("bridge_test_factories:input_kwarg")
    await worker.send(op="start", run="k1", task="hi", thread={"state": None})
    await worker.send(op="credit", run="k1", n=1000)
    _, request = await _until_input_request(worker, "k1")
    assert "source" not in request
    await worker.send(op="input", run="k1", request_id=request["request_id"], content="hello")
    evs = await worker.until_terminal("k1")
    assert [e["ev"] for e in evs[-2:]] == ["state", "end"]
