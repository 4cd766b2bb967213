"""Plain streaming chunks travel as `chunks` lines: several per line, in
order with everything else, one credit each, within the line limit, and
written exactly as json.dumps would write the same ev."""

from __future__ import annotations

import json
from typing import Any

import pytest
from autogen_agentchat.messages import ModelClientStreamingChunkEvent
from autogen_core.models import RequestUsage

from autogen_stream_bridge.convert import item_to_raw_json, plain_chunk
from autogen_stream_bridge.protocol import CHUNKS_TAIL, chunks_head, dumps, json_string
from bridge_examples import TRICKY_TEXTS
from conftest import Spawn


def _kinds(lines: list[dict[str, Any]], run: str) -> list[str]:
    """The run's lines: `chunks:<texts>` or the item's type (or the ev)."""
    out = []
    for ev in lines:
        if ev.get("run") != run:
            continue
        if ev["ev"] == "chunks":
            out.append(f"chunks:{ev['source']}:{ev['full_message_id']}:{'|'.join(ev['content'])}")
        elif ev["ev"] == "item":
            item = ev["item"]
            extra = "+usage" if item.get("models_usage") else "+metadata" if item.get("metadata") else ""
            out.append(f"{item['type']}{extra}")
        else:
            out.append(ev["ev"])
    return out


async def test_the_chunks_of_a_turn_share_a_line(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", words=300, credit=10_000)
    evs = await worker.until_terminal("r1")
    items = [e["item"] for e in evs if e["ev"] == "item"]
    chunks = [i["content"] for i in items if i["type"] == "ModelClientStreamingChunkEvent"]
    assert "".join(chunks) == " ".join(f"w{i}" for i in range(300))
    # The run yields to the loop every 64 items: a line per turn, not per chunk.
    assert 0 < worker.chunk_lines <= 300 // 64 + 2


async def test_other_items_end_a_chunks_line_and_keep_their_place(spawn: Spawn) -> None:
    worker = await spawn("tricky_chunks")
    await worker.start("r1", credit=100)
    await worker.until_terminal("r1")
    t = TRICKY_TEXTS
    assert _kinds(worker.lines, "r1") == [
        "TextMessage",
        f"chunks:writer:m1:{'|'.join(t[:3])}",
        "ModelClientStreamingChunkEvent+usage",
        f"chunks:writer:m1:{'|'.join(t[3:5])}",
        "ModelClientStreamingChunkEvent+metadata",
        f"chunks:writer:m1:{t[5]}",
        "chunks:critic:None:aside",
        f"chunks:writer:m1:{'|'.join(t[6:])}",
        "TextMessage",
        "TaskResult",
        "end",
    ]


async def test_credit_counts_every_chunk_of_a_line(spawn: Spawn) -> None:
    worker = await spawn("tricky_chunks")
    await worker.start("r1", credit=3)  # the task and two chunks
    items = await worker.items("r1", 3)
    assert [i.get("content") for i in items] == ["go", *TRICKY_TEXTS[:2]]
    stats = await worker.stats()
    assert stats["runs"]["r1"]["pulled"] == 3 and stats["runs"]["r1"]["credit"] == 0
    assert worker.pending("r1") == 0
    await worker.send(op="credit", run="r1", n=1)
    assert [i.get("content") for i in await worker.items("r1", 1)] == [TRICKY_TEXTS[2]]


async def test_full_items_writes_every_chunk_whole(spawn: Spawn) -> None:
    worker = await spawn("tricky_chunks", "--full-items")
    await worker.start("r1", credit=100)
    evs = await worker.until_terminal("r1")
    assert worker.chunk_lines == 0
    chunks = [e["item"] for e in evs if e["ev"] == "item" and e["item"]["type"] == "ModelClientStreamingChunkEvent"]
    assert all({"id", "created_at", "metadata", "models_usage"} <= set(c) for c in chunks)
    plain = [c for c in chunks if c["source"] == "writer" and not c["models_usage"] and not c["metadata"]]
    assert [c["content"] for c in plain] == TRICKY_TEXTS


async def test_full_items_from_the_environment(spawn: Spawn) -> None:
    worker = await spawn("tricky_chunks", env={"AUTOGEN_STREAM_FULL_ITEMS": "1"})
    await worker.start("r1", credit=100)
    await worker.until_terminal("r1")
    assert worker.chunk_lines == 0


async def test_chunk_lines_stay_within_the_line_limit(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:chunk_script", "--max-line-bytes", "1024")
    # 4,000 bytes of text (the factory makes it: the start line has a limit too).
    await worker.start("r1", credit=100, count=40, size=100)
    evs = await worker.until_terminal("r1")
    texts = [f"{i:03d}" + "x" * 97 for i in range(40)]
    assert [e["item"]["content"] for e in evs[:-2]] == texts and evs[-1]["ev"] == "end"
    assert worker.chunk_lines >= 4
    assert max(worker.line_lengths) <= 1024


async def test_a_chunk_too_large_for_a_line_ends_the_run(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:chunk_script", "--max-line-bytes", "1024")
    await worker.start("r1", credit=100, texts=["small"], count=2, size=1000)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "error"]
    assert evs[0]["item"]["content"] == "small"
    assert evs[1]["code"] == "AGS_ITEM_TOO_LARGE"
    assert "ModelClientStreamingChunkEvent item line of" in evs[1]["detail"]


@pytest.mark.parametrize("flags", [(), ("--full-items",)])
async def test_a_lone_surrogate_in_a_chunk_fails_the_run_as_pydantic_does(spawn: Spawn, flags: tuple[str, ...]) -> None:
    worker = await spawn("bridge_test_factories:chunk_script", *flags)
    await worker.start("r1", credit=100, texts=["fine"], lone_surrogate=True)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "error"]
    assert evs[0]["item"]["content"] == "fine"
    assert evs[1]["code"] == "AGS_TASK_ERROR"
    assert "surrogates not allowed" in evs[1]["detail"]


def test_a_chunks_line_is_what_json_dumps_writes() -> None:
    """The line is put together by hand (a head, then a JSON string per
    chunk); it must be exactly the compact json.dumps of the same ev."""
    for source, message in (("writer", "m1"), ('é \u2028 "q"', None)):
        parts = [json_string(text) for text in TRICKY_TEXTS]
        line = chunks_head("k-1", source, message).encode() + ",".join(parts).encode() + CHUNKS_TAIL
        ev = {"ev": "chunks", "run": "k-1", "source": source, "full_message_id": message, "content": TRICKY_TEXTS}
        assert line == (dumps(ev) + "\n").encode()
        assert json.loads(line) == ev


def test_compact_items_are_the_four_fields_of_a_plain_chunk() -> None:
    for text in TRICKY_TEXTS:
        chunk = ModelClientStreamingChunkEvent(content=text, source="writer", full_message_id=None)
        compact = item_to_raw_json(chunk)
        assert compact == dumps(
            {"type": "ModelClientStreamingChunkEvent", "source": "writer", "content": text, "full_message_id": None}
        )
        assert json.loads(item_to_raw_json(chunk, compact=False)) == chunk.model_dump(mode="json")
    used = ModelClientStreamingChunkEvent(
        content="x", source="s", models_usage=RequestUsage(prompt_tokens=1, completion_tokens=2)
    )
    tagged = ModelClientStreamingChunkEvent(content="x", source="s", metadata={"k": "v"})
    lone = ModelClientStreamingChunkEvent(content="x", source="s")
    lone.content = "\ud800"  # assignment is not validated
    for whole in (used, tagged, lone):
        assert plain_chunk(whole) is None
    assert json.loads(item_to_raw_json(used))["models_usage"] == {"prompt_tokens": 1, "completion_tokens": 2}
    assert json.loads(item_to_raw_json(tagged))["metadata"] == {"k": "v"}
