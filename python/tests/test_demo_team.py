"""The demo team (autogen_stream_bridge.demo:create_team) offline: one run
shows every kind of event the plugin carries, and the human's reply, given
through the worker protocol, reaches the team."""

from __future__ import annotations

import json
from typing import Any

import pytest
from autogen_core.models import LLMMessage, SystemMessage, UserMessage

from autogen_stream_bridge import demo
from conftest import TERMINAL, Spawn, Worker, assert_cancels_unwound, squash, types

DEMO = "autogen_stream_bridge.demo:create_team"
# No pacing: the tests need no time to read the tokens.
FAST = {"OPENAI_API_KEY": "", "AUTOGEN_DEMO_DELAY_MS": "0"}
TASK = "Plan a weekend in Paris"
REPLY = "Add a museum on Sunday morning"

# One run, chunk runs squashed, with each item's source.
SEQUENCE = [
    ("TextMessage", "user"),
    ("SelectSpeakerEvent", "SelectorGroupChatManager"),
    ("chunks*", "planner"),
    ("TextMessage", "planner"),
    ("SelectSpeakerEvent", "SelectorGroupChatManager"),
    ("ThoughtEvent", "researcher"),
    ("ToolCallRequestEvent", "researcher"),
    ("ToolCallExecutionEvent", "researcher"),
    ("ToolCallSummaryMessage", "researcher"),
    ("SelectSpeakerEvent", "SelectorGroupChatManager"),
    ("chunks*", "writer"),
    ("TextMessage", "writer"),
    ("SelectSpeakerEvent", "SelectorGroupChatManager"),
    ("UserInputRequestedEvent", "user"),
    ("TextMessage", "user"),
    ("SelectSpeakerEvent", "SelectorGroupChatManager"),
    ("chunks*", "writer"),
    ("TextMessage", "writer"),
    ("SelectSpeakerEvent", "SelectorGroupChatManager"),
    ("chunks*", "planner"),
    ("TextMessage", "planner"),
]


async def run_demo(
    worker: Worker, run: str, task: Any = TASK, reply: str = REPLY, started: bool = False
) -> tuple[list[dict[str, Any]], str]:
    """Start a demo run (unless started) and answer its input request as
    Node would; returns the run's items and the terminal event's name.
    Exactly one input request comes, after its UserInputRequestedEvent."""
    if not started:
        await worker.start(run, task=task, credit=1000)
    items: list[dict[str, Any]] = []
    requests = 0
    while True:
        ev = await worker.next(run)
        if ev["ev"] == "input_request":
            requests += 1
            assert items[-1]["type"] == "UserInputRequestedEvent"
            assert ev["request_id"] == items[-1]["request_id"]
            await worker.send(op="input", run=run, request_id=ev["request_id"], content=reply)
        elif ev["ev"] in TERMINAL:
            assert requests == 1
            return items, ev["ev"]
        else:
            assert ev["ev"] == "item", ev
            items.append(ev["item"])


def _squashed(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    names = squash(types(items))
    sources = []
    i = 0
    for name in names:
        sources.append(items[i]["source"])
        i += 1
        while name == "chunks*" and i < len(items) and items[i]["type"] == "ModelClientStreamingChunkEvent":
            i += 1
    return list(zip(names, sources, strict=True))


async def test_one_run_shows_every_event(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    items, terminal = await run_demo(worker, "r1")
    assert terminal == "end"
    assert _squashed(items[:-1]) == SEQUENCE
    assert set(types(items)) == {
        "TextMessage",
        "SelectSpeakerEvent",
        "ModelClientStreamingChunkEvent",
        "ThoughtEvent",
        "ToolCallRequestEvent",
        "ToolCallExecutionEvent",
        "ToolCallSummaryMessage",
        "UserInputRequestedEvent",
        "TaskResult",
    }
    speakers = [i["content"] for i in items if i["type"] == "SelectSpeakerEvent"]
    assert speakers == [["planner"], ["researcher"], ["writer"], ["user"], ["writer"], ["planner"]]
    result = items[-1]
    assert result["type"] == "TaskResult"
    assert result["stop_reason"] == "Text 'APPROVE' mentioned"
    # The result holds everything but the chunks, in order.
    assert types(result["messages"]) == [t for t in types(items[:-1]) if t != "ModelClientStreamingChunkEvent"]


async def test_streamed_chunks_add_up_to_each_message(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    items, _ = await run_demo(worker, "r1")
    streamed: list[tuple[str, str]] = []  # (source, text) per full_message_id, in order
    ids: list[str] = []
    for item in items:
        if item["type"] == "ModelClientStreamingChunkEvent":
            if item["full_message_id"] not in ids:
                ids.append(item["full_message_id"])
                streamed.append((item["source"], ""))
            source, text = streamed[-1]
            assert item["source"] == source and item["full_message_id"] == ids[-1]
            streamed[-1] = (source, text + item["content"])
    finals = [(i["source"], i["content"]) for i in items if i["type"] == "TextMessage" and i["source"] != "user"]
    assert streamed == finals
    assert [s for s, _ in streamed] == ["planner", "writer", "writer", "planner"]
    # The final message carries the id its chunks announced.
    assert ids == [i["id"] for i in items if i["type"] == "TextMessage" and i["source"] != "user"]
    # Word by word: every chunk is one word and the space after it.
    chunks = [i["content"] for i in items if i["type"] == "ModelClientStreamingChunkEvent"]
    assert all(len(c.split()) == 1 for c in chunks)
    assert len(chunks) == sum(len(text.split()) for _, text in finals)


async def test_the_tool_runs(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    items, _ = await run_demo(worker, "r1")
    by_type = {i["type"]: i for i in items}
    [call] = by_type["ToolCallRequestEvent"]["content"]
    assert call == {"id": "call_notes", "name": "search_notes", "arguments": '{"topic": "Plan a weekend in Paris"}'}
    [result] = by_type["ToolCallExecutionEvent"]["content"]
    assert result["call_id"] == "call_notes" and result["name"] == "search_notes" and result["is_error"] is False
    assert result["content"] == demo.search_notes(TASK)
    assert result["content"].startswith('Notes on "Plan a weekend in Paris": (1) Write the goal in one line')
    summary = by_type["ToolCallSummaryMessage"]
    assert summary["content"] == result["content"]
    assert summary["tool_calls"] == [call] and summary["results"] == [result]
    assert by_type["ThoughtEvent"]["content"].startswith("The task is open-ended")


async def test_the_human_reply_reaches_the_team(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    items, _ = await run_demo(worker, "r1", reply="  Add a museum\n\n on   Sunday morning ")
    messages = [i for i in items if i["type"] in ("TextMessage", "ToolCallSummaryMessage")]
    assert [m["source"] for m in messages] == ["user", "planner", "researcher", "writer", "user", "writer", "planner"]
    # The human's message as typed; the writer quotes it single-spaced.
    assert messages[4]["content"] == "  Add a museum\n\n on   Sunday morning "
    assert '"Plan a weekend in Paris"' in messages[3]["content"]
    assert messages[5]["content"].startswith(
        'Final version for "Plan a weekend in Paris", with your reply "Add a museum on Sunday morning" worked in:'
    )
    assert messages[6]["content"].endswith("APPROVE")


async def test_the_human_may_say_approve_and_the_writer_still_answers(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    items, _ = await run_demo(worker, "r1", reply="APPROVE")
    messages = [i for i in items if i["type"] == "TextMessage"]
    assert [m["source"] for m in messages][-3:] == ["user", "writer", "planner"]
    assert 'your reply "APPROVE"' in messages[-2]["content"]


async def test_runs_are_independent_and_empty_replies_are_said_so(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    for run, reply in (("r1", ""), ("r2", "x" * 3_000_000)):
        items, terminal = await run_demo(worker, run, reply=reply)
        assert terminal == "end"
        final = [i for i in items if i["type"] == "TextMessage" and i["source"] == "writer"][-1]["content"]
        if reply:
            quoted = final.split('"')[3]
            assert quoted == "x" * (demo.REPLY_CHARS - 3) + "..."
        else:
            assert "with your reply (empty) worked in" in final


async def test_demo_team_offline(spawn: Spawn) -> None:
    worker = await spawn(DEMO, env=FAST)
    items, terminal = await run_demo(worker, "r1", task="How do I launch a side project?", reply="Make it cheaper")
    assert terminal == "end"
    messages = [i for i in items if i["type"] in ("TextMessage", "ToolCallSummaryMessage")]
    assert [m["source"] for m in messages] == ["user", "planner", "researcher", "writer", "user", "writer", "planner"]
    assert '"How do I launch a side project?"' in messages[3]["content"]
    assert '"Make it cheaper"' in messages[5]["content"]
    assert "APPROVE" in items[-1]["stop_reason"]


async def test_demo_bounds_what_a_client_sends(spawn: Spawn) -> None:
    """Options are ignored (no size, delay or count comes from the client),
    and only the start of a long task or reply is read for the replay answers."""
    worker = await spawn(DEMO, env=FAST)
    task = "  many\n\n words " * 200_000  # 3.4 MB
    reply = "  long\n reply " * 200_000  # 2.8 MB
    await worker.send(
        op="start",
        run="r1",
        task=task,
        options={"words": 10**9, "delay": 1e308, "rounds": 10**6, "max_messages": 10**6},
    )
    await worker.send(op="credit", run="r1", n=1000)
    items, terminal = await run_demo(worker, "r1", reply=reply, started=True)
    assert terminal == "end"
    messages = [i for i in items if i["type"] in ("TextMessage", "ToolCallSummaryMessage")]
    assert [m["source"] for m in messages] == ["user", "planner", "researcher", "writer", "user", "writer", "planner"]
    topic = messages[3]["content"].split('"')[1]
    assert topic.startswith("many words many words") and topic.endswith("...") and len(topic) <= 80
    [call] = next(i for i in items if i["type"] == "ToolCallRequestEvent")["content"]
    assert json.loads(call["arguments"]) == {"topic": topic}
    quoted = messages[5]["content"].split('"')[3]
    assert quoted.startswith("long reply long reply") and quoted.endswith("...") and len(quoted) <= 200
    assert messages[4]["content"] == reply  # the human's message itself is theirs, whole


async def test_default_factory_is_the_demo(spawn: Spawn) -> None:
    worker = await spawn("", env={**FAST, "AUTOGEN_STREAM_FACTORY": ""})
    _, terminal = await run_demo(worker, "r1")
    assert terminal == "end"


async def test_cancel_mid_stream(spawn: Spawn) -> None:
    """Paced, the run is cancelled while the planner streams; the pause
    between chunks is linked to the cancellation token."""
    worker = await spawn(DEMO, env={"OPENAI_API_KEY": "", "AUTOGEN_DEMO_DELAY_MS": "50"})
    await worker.start("r1", task=TASK, credit=1000)
    while (await worker.next("r1"))["item"]["type"] != "ModelClientStreamingChunkEvent":
        pass
    await worker.send(op="cancel", run="r1")
    evs = await worker.until_terminal("r1")
    assert evs[-1] == {"ev": "cancelled", "run": "r1"}
    assert all(e["ev"] == "item" for e in evs[:-1])
    assert "TaskResult" not in [e["item"]["type"] for e in evs[:-1]]
    await assert_cancels_unwound(worker)


async def test_stop_mid_stream(spawn: Spawn) -> None:
    """A graceful stop while the planner streams: it finishes its message,
    nobody speaks after it."""
    worker = await spawn(DEMO, env={"OPENAI_API_KEY": "", "AUTOGEN_DEMO_DELAY_MS": "50"})
    await worker.start("r1", task=TASK, credit=1000)
    while (await worker.next("r1"))["item"]["type"] != "ModelClientStreamingChunkEvent":
        pass
    await worker.send(op="stop", run="r1")
    evs = await worker.until_terminal("r1")
    assert evs[-1] == {"ev": "end", "run": "r1"}
    result = evs[-2]["item"]
    assert result["stop_reason"] == "External termination requested"
    assert [(m["type"], m["source"]) for m in result["messages"]] == [
        ("TextMessage", "user"),
        ("SelectSpeakerEvent", "SelectorGroupChatManager"),
        ("TextMessage", "planner"),
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 0.03),
        ("0", 0.0),
        ("250", 0.25),
        (" 1000 ", 1.0),
        ("1001", 0.03),
        ("-5", 0.03),
        ("1.5", 0.03),
        ("1e3", 0.03),
        ("", 0.03),
        ("fast", 0.03),
    ],
)
def test_delay_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: float) -> None:
    if value is None:
        monkeypatch.delenv(demo.DELAY_ENV, raising=False)
    else:
        monkeypatch.setenv(demo.DELAY_ENV, value)
    assert demo._delay_seconds() == seconds


def test_chunks_add_up_to_any_text() -> None:
    for text in ("one", "two words", "  lead and  double\nspaces ", ""):
        assert "".join(demo._chunks(text)) == text
    assert demo._chunks("a b  c") == ["a ", "b  ", "c"]


def test_latest_reply_is_the_humans_bounded() -> None:
    messages: list[LLMMessage] = [
        SystemMessage(content="system"),
        UserMessage(content="the task", source="user"),
        UserMessage(content="notes", source="researcher"),
        UserMessage(content="  my\n reply " + "y" * 1000, source="user"),
        UserMessage(content="later, not the human", source="writer"),
    ]
    quoted = demo._latest_reply(messages)
    assert quoted.startswith('"my reply yyy') and quoted.endswith('..."')
    assert len(quoted) == demo.REPLY_CHARS + 2
    assert demo._latest_reply(messages[:1]) == "(none)"
