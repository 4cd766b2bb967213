"""What run_stream() yields reaches Node complete, in order, as JSON."""

from __future__ import annotations

import base64

from bridge_examples import STREAMING_TEXT
from conftest import Spawn, squash, types


async def test_ready_reports_versions(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent", ready=False)
    ready = await worker.ready()
    assert ready["pid"] == worker.proc.pid
    assert ready["python"].startswith("3.")
    assert ready["autogen"] == "0.7.5"


async def test_streaming_agent_chunks_add_up_to_the_message(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    await worker.start("r1", task="Say something", credit=1000)
    evs = await worker.until_terminal("r1")
    assert evs[-1] == {"ev": "end", "run": "r1"}
    items = [e["item"] for e in evs[:-1]]
    assert all(e["ev"] == "item" for e in evs[:-1])
    assert squash(types(items)) == ["TextMessage", "chunks*", "TextMessage", "TaskResult"]
    chunks = [i for i in items if i["type"] == "ModelClientStreamingChunkEvent"]
    final = items[-2]
    assert len(chunks) == len(STREAMING_TEXT.split())
    assert "".join(c["content"] for c in chunks) == final["content"] == STREAMING_TEXT
    assert {c["full_message_id"] for c in chunks} == {final["id"]}
    assert items[0]["content"] == "Say something" and items[0]["source"] == "user"
    result = items[-1]
    assert [m["type"] for m in result["messages"]] == ["TextMessage", "TextMessage"]
    assert result["messages"][1] == final
    assert result["stop_reason"] is None
    assert isinstance(final["created_at"], str)


async def test_options_text_replaces_the_answer(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    await worker.start("r1", credit=100, text="just four words here")
    items = [e["item"] for e in (await worker.until_terminal("r1"))[:-1]]
    assert [i["content"] for i in items if i["type"] == "ModelClientStreamingChunkEvent"] == [
        "just ",
        "four ",
        "words ",
        "here",
    ]
    assert items[-2]["content"] == "just four words here"


async def test_async_factory(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:async_factory")
    await worker.start("r1", credit=100)
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "end"


async def test_tool_call_order(spawn: Spawn) -> None:
    worker = await spawn("tool_agent")
    await worker.start("r1", task="Weather in Paris?", credit=100)
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "end"
    items = [e["item"] for e in evs[:-1]]
    assert types(items) == [
        "TextMessage",
        "ToolCallRequestEvent",
        "ToolCallExecutionEvent",
        "ToolCallSummaryMessage",
        "TaskResult",
    ]
    assert items[1]["content"] == [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert items[2]["content"] == [
        {
            "content": "The weather in Paris is sunny, 21 degrees.",
            "name": "get_weather",
            "call_id": "call_1",
            "is_error": False,
        }
    ]
    assert items[3]["content"] == "The weather in Paris is sunny, 21 degrees."
    assert types(items[4]["messages"]) == types(items[:4])


async def test_round_robin_stops_on_approve(spawn: Spawn) -> None:
    worker = await spawn("round_robin")
    await worker.start("r1", task="Write about streams", credit=1000)
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "end"
    items = [e["item"] for e in evs[:-1]]
    assert squash(types(items)) == ["TextMessage", "chunks*", "TextMessage", "chunks*", "TextMessage", "TaskResult"]
    messages = [i for i in items if i["type"] == "TextMessage"]
    assert [m["source"] for m in messages] == ["user", "writer", "critic"]
    assert "APPROVE" in messages[-1]["content"]
    assert "APPROVE" in items[-1]["stop_reason"]
    assert [m["source"] for m in items[-1]["messages"]] == ["user", "writer", "critic"]


async def test_factory_from_environment(spawn: Spawn) -> None:
    worker = await spawn("", env={"AUTOGEN_STREAM_FACTORY": "bridge_examples:tool_agent"})
    await worker.start("r1", credit=100)
    items = [e["item"] for e in (await worker.until_terminal("r1"))[:-1]]
    assert "ToolCallRequestEvent" in types(items)


async def test_every_type_arrives_intact(spawn: Spawn) -> None:
    worker = await spawn("every_type")
    await worker.start("r1", credit=100)
    evs = await worker.until_terminal("r1")
    assert evs[-1]["ev"] == "end"
    items = [e["item"] for e in evs[:-1]]
    assert types(items) == [
        "TextMessage",
        "MultiModalMessage",
        "StopMessage",
        "HandoffMessage",
        "ToolCallSummaryMessage",
        "StructuredMessage[Weather]",
        "ToolCallRequestEvent",
        "ToolCallExecutionEvent",
        "MemoryQueryEvent",
        "UserInputRequestedEvent",
        "ModelClientStreamingChunkEvent",
        "ThoughtEvent",
        "SelectSpeakerEvent",
        "SelectorEvent",
        "CodeGenerationEvent",
        "CodeExecutionEvent",
        "TaskResult",
    ]
    by_type = {i["type"]: i for i in items}
    text, image = by_type["MultiModalMessage"]["content"]
    assert text == "a red pixel square:"
    assert set(image) == {"data"}
    assert base64.b64decode(image["data"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert by_type["StructuredMessage[Weather]"]["content"] == {"city": "Paris", "temperature_c": 21.5}
    assert by_type["HandoffMessage"]["target"] == "other"
    assert by_type["MemoryQueryEvent"]["content"][0]["mime_type"] == "text/plain"
    assert by_type["UserInputRequestedEvent"]["request_id"] == "req-1"
    assert by_type["CodeGenerationEvent"]["code_blocks"] == [{"code": "print('hi')", "language": "python"}]
    assert by_type["CodeExecutionEvent"]["result"] == {"exit_code": 0, "output": "hi\n"}
    result = by_type["TaskResult"]
    assert result["stop_reason"] == "every type sent"
    assert types(result["messages"]) == [t for t in types(items[:-1]) if t != "ModelClientStreamingChunkEvent"]
    assert result["messages"][1]["content"][1] == image
    for item in items[:-1]:
        if item["type"] == "ModelClientStreamingChunkEvent":
            # A plain chunk travels as what its token frame is made of (a `chunks` line).
            assert item == {
                "type": "ModelClientStreamingChunkEvent",
                "source": "every_type",
                "content": "chunk",
                "full_message_id": "msg-1",
            }
            continue
        assert {"id", "source", "created_at", "metadata", "models_usage"} <= set(item), item["type"]


async def test_demo_with_openai_key_but_no_openai_extra(spawn: Spawn) -> None:
    import importlib.util

    if importlib.util.find_spec("openai") is not None:
        import pytest

        pytest.skip("the openai extra is installed; this checks the hint shown without it")
    worker = await spawn("autogen_stream_bridge.demo:create_team", env={"OPENAI_API_KEY": "sk-test"})
    await worker.start("r1", credit=10)
    [error] = await worker.until_terminal("r1")
    assert error["code"] == "AGS_FACTORY_ERROR" and error["message"] == "The agent factory failed"
    assert "pip install 'autogen-stream-bridge[openai]'" in error["detail"]
