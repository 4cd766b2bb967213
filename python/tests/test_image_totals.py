"""Task images: found wherever AutoGen's Image validator would take them,
refused by type before anything is built, and limited per task (the total
of all images), never by decoding them."""

from __future__ import annotations

import base64
import os
from io import BytesIO
from typing import Any

import pytest
from PIL import Image as PILImage
from test_limits import _has_proc, _multimodal, _peak_rss_kib, _png

from autogen_stream_bridge.convert import MAX_TASK_DEPTH, BadTask, ImageTooLarge, check_images, task_from_json
from autogen_stream_bridge.limits import Limits
from conftest import Spawn, Worker

# Peak memory may grow by this much for a refused task: nothing like a decode.
ALLOWED_GROWTH_KIB = 32 * 1024


def _bomb(size: int) -> str:
    """A 1-bit PNG of size x size: a few KB of base64, size*size*3 bytes once
    AutoGen has decoded it to RGB."""
    buffer = BytesIO()
    PILImage.new("1", (size, size), 1).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


async def _warm(worker: Worker) -> int:
    """Warm the image path (PIL's plugins, pydantic) with a small image, then
    return the worker's peak memory so far."""
    small = _png(PILImage.new("RGB", (4, 4), (0, 128, 255)))
    await worker.start("warm", task=_multimodal(small), credit=10)
    assert (await worker.until_terminal("warm"))[-1]["ev"] == "end"
    return _peak_rss_kib(worker.proc.pid) if _has_proc() else 0


async def _assert_serving(worker: Worker, pid: int, before: int) -> None:
    if _has_proc():
        grown = _peak_rss_kib(pid) - before
        assert grown < ALLOWED_GROWTH_KIB, f"peak memory grew by {grown} KiB"
    assert worker.proc.pid == pid and worker.proc.returncode is None
    await worker.start("after", task=_multimodal(_png(PILImage.new("L", (8, 8)))), credit=10)
    evs = await worker.until_terminal("after")
    assert [e["ev"] for e in evs] == ["item", "item", "end"]


async def test_an_event_hiding_an_image_is_refused_before_it_is_built(spawn: Spawn) -> None:
    """The hostile review's payload: a MemoryQueryEvent whose MemoryContent
    holds a 13000x13000 PNG in a dict (not a content list). AutoGen's
    validator decoded it (peak +800 MiB) before the type was refused; now
    the type is looked up first and nothing is built."""
    worker = await spawn("bridge_test_factories:echo_task")
    pid = worker.proc.pid
    before = await _warm(worker)
    bomb = _bomb(13_000)
    assert len(bomb) < 100_000
    event = {"type": "MemoryQueryEvent", "content": [{"content": {"data": bomb}, "mime_type": "image/png"}]}
    await worker.start("event", task=event, credit=10)
    assert await worker.until_terminal("event") == [
        {
            "ev": "error",
            "run": "event",
            "code": "AGS_BAD_REQUEST",
            "message": "MemoryQueryEvent is an event, not a chat message; it cannot be a task",
        }
    ]
    # In a task list, after a string: the same.
    await worker.start("event-in-list", task=["first", event], credit=10)
    [error] = await worker.until_terminal("event-in-list")
    assert (error["code"], error["message"]) == (
        "AGS_BAD_REQUEST",
        "MemoryQueryEvent is an event, not a chat message; it cannot be a task",
    )
    # A chat message with the image where no content list is: any dict with
    # a string "data" counts, wherever it is.
    for run, task in {
        "in-a-dict": {"type": "TextMessage", "content": {"data": bomb}},
        "in-a-handoff": {
            "type": "HandoffMessage",
            "target": "x",
            "content": "over",
            "context": [{"type": "UserMessage", "source": "u", "content": {"nested": [{"data": bomb}]}}],
        },
    }.items():
        await worker.start(run, task=task, credit=10)
        assert await worker.until_terminal(run) == [
            {
                "ev": "error",
                "run": run,
                "code": "AGS_IMAGE_TOO_LARGE",
                "message": "task image 1 is 13000x13000 pixels; the limit is 16777216 (maxImagePixels)",
            }
        ]
    await _assert_serving(worker, pid, before)


async def test_many_images_each_under_the_limit_are_refused_by_their_total(spawn: Spawn) -> None:
    """20 images of 4096x4096, each exactly at the default limit, in one
    ~57 KB task: AutoGen would decode them all (8 s of CPU, 1.3 GiB)."""
    worker = await spawn("bridge_test_factories:echo_task")
    pid = worker.proc.pid
    before = await _warm(worker)
    image = _bomb(4096)
    task = _multimodal(*[image] * 20)
    await worker.start("twenty", task=task, credit=10)
    assert await worker.until_terminal("twenty") == [
        {
            "ev": "error",
            "run": "twenty",
            "code": "AGS_IMAGE_TOO_LARGE",
            "message": "task images total 335544320 pixels; the limit is 16777216 (maxImagePixels)",
        }
    ]
    # The total is over all the task's messages, not per message.
    await worker.start("spread", task=["text", _multimodal(image), {**_multimodal(image), "source": "u2"}], credit=10)
    [error] = await worker.until_terminal("spread")
    assert (error["code"], error["message"]) == (
        "AGS_IMAGE_TOO_LARGE",
        "task images total 33554432 pixels; the limit is 16777216 (maxImagePixels)",
    )
    await _assert_serving(worker, pid, before)


async def test_images_under_the_totals_pass(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_task", "--max-image-pixels", "7500", "--max-image-bytes", "100000")
    images = [_png(PILImage.new("RGB", (50, 50), (i, 2, 3))) for i in range(3)]  # 2500 pixels each
    # Exactly the limit, over two messages and a string.
    await worker.start("fits", task=["hello", _multimodal(images[0]), _multimodal(images[1], images[2])], credit=10)
    evs = await worker.until_terminal("fits")
    assert [e["ev"] for e in evs] == ["item", "item", "item", "item", "end"]
    echoed = [evs[1]["item"]["content"][1]["data"], *(c["data"] for c in evs[2]["item"]["content"][1:])]
    assert [PILImage.open(BytesIO(base64.b64decode(data))).size for data in echoed] == [(50, 50)] * 3
    # One more pixel's worth is over.
    one_more = _png(PILImage.new("L", (1, 1)))
    await worker.start("over", task=_multimodal(*images, one_more), credit=10)
    [error] = await worker.until_terminal("over")
    assert (error["code"], error["message"]) == (
        "AGS_IMAGE_TOO_LARGE",
        "task images total 7501 pixels; the limit is 7500 (maxImagePixels)",
    )


async def test_image_bytes_are_limited_per_task(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_task", "--max-image-bytes", "5000")
    noisy = [_png(PILImage.frombytes("RGB", (26, 26), os.urandom(26 * 26 * 3))) for _ in range(3)]
    sizes = [len(base64.b64decode(data)) for data in noisy]
    # Each well under the limit, two together too, three not.
    assert all(2028 < size < 2500 for size in sizes) and sum(sizes) > 5000
    await worker.start("two", task=_multimodal(*noisy[:2]), credit=10)
    assert (await worker.until_terminal("two"))[-1]["ev"] == "end"
    await worker.start("three", task=_multimodal(*noisy), credit=10)
    assert await worker.until_terminal("three") == [
        {
            "ev": "error",
            "run": "three",
            "code": "AGS_IMAGE_TOO_LARGE",
            "message": f"task images total {sum(sizes)} bytes; the limit is 5000 (maxImageBytes)",
        }
    ]


# In process ------------------------------------------------------------------


def test_the_limits_are_totals_and_a_single_image_over_is_named() -> None:
    limits = Limits(max_image_pixels=250, max_image_bytes=10_000)
    ok = _png(PILImage.new("L", (10, 10)))  # 100 pixels
    wide = _png(PILImage.new("L", (16, 16)))  # 256: over on its own
    check_images(_multimodal(ok, ok), limits)
    with pytest.raises(ImageTooLarge, match=r"^task images total 300 pixels; the limit is 250 \(maxImagePixels\)$"):
        check_images(_multimodal(ok, ok, ok), limits)
    # An image over the limit on its own is named, though the total is over too.
    with pytest.raises(ImageTooLarge, match=r"^task image 3 is 16x16 pixels; the limit is 250 \(maxImagePixels\)$"):
        check_images(_multimodal(ok, ok, wide), limits)
    # Bytes come from the base64 length: these are not even images, and the
    # total is refused before any is decoded.
    with pytest.raises(ImageTooLarge, match=r"^task images total 12000 bytes; the limit is 10000 \(maxImageBytes\)$"):
        check_images(_multimodal("A" * 8000, "A" * 8000), limits)
    with pytest.raises(ImageTooLarge, match=r"^task image 2 is 15000 bytes; the limit is 10000 \(maxImageBytes\)$"):
        check_images(_multimodal("A" * 100, "A" * 20_000), limits)


def test_every_dict_with_string_data_is_an_image() -> None:
    limits = Limits(max_image_pixels=100)
    wide = _png(PILImage.new("L", (11, 10)))
    over = r"^task image 1 is 11x10 pixels"
    for task in [
        {"type": "MemoryQueryEvent", "content": [{"content": {"data": wide}, "mime_type": "image/png"}]},
        {"type": "TextMessage", "content": {"data": wide}},
        [{"type": "TextMessage", "content": "x", "models_usage": {"deep": [[{"data": wide, "other": 1}]]}}],
    ]:
        with pytest.raises(ImageTooLarge, match=over):
            check_images(task, limits)
    # Not images: "data" that is no string (AutoGen's validator refuses it
    # with a TypeError, decoding nothing), and a message's metadata, which
    # AgentChat types as a dict of strings.
    check_images({"type": "MultiModalMessage", "content": [{"data": 5}, {"data": None}]}, limits)
    check_images({"type": "TextMessage", "content": "x", "metadata": {"data": "not base64 at all"}}, limits)
    message = task_from_json({"type": "TextMessage", "content": "x", "metadata": {"data": "kept"}}, limits)
    assert not isinstance(message, (str, list)) and message is not None and message.metadata == {"data": "kept"}
    # Metadata that is not a dict of strings is walked like everything else.
    with pytest.raises(ImageTooLarge, match=over):
        check_images({"type": "TextMessage", "content": "x", "metadata": {"data": wide, "n": 1}}, limits)


def test_events_are_refused_by_type_before_anything_is_built() -> None:
    for name in ["MemoryQueryEvent", "ToolCallRequestEvent", "UserInputRequestedEvent", "ThoughtEvent"]:
        with pytest.raises(BadTask, match=f"^{name} is an event, not a chat message; it cannot be a task$"):
            # Not valid as the event either: the type alone refuses it.
            task_from_json({"type": name, "content": {"data": "%%%"}})
    with pytest.raises(BadTask, match=r"^Unknown message type: Nope$"):
        task_from_json(["ok", {"type": "Nope"}])
    for name in ["TextMessage", "StopMessage"]:
        message = task_from_json({"type": name, "content": "hi"})
        assert type(message).__name__ == name
    summary = {"type": "ToolCallSummaryMessage", "content": "hi", "tool_calls": [], "results": []}
    assert type(task_from_json(summary)).__name__ == "ToolCallSummaryMessage"


def test_the_task_walk_is_bounded_in_depth() -> None:
    def nested(depth: int) -> dict[str, Any]:
        """A TextMessage (one level) whose content is depth - 1 lists deep."""
        value: Any = "x"
        for _ in range(depth - 1):
            value = [value]
        return {"type": "TextMessage", "content": value}

    with pytest.raises(BadTask, match=f"^task may nest at most {MAX_TASK_DEPTH} levels$"):
        task_from_json(nested(MAX_TASK_DEPTH + 1))
    # Within the depth it is pydantic that refuses a list for a string.
    with pytest.raises(BadTask, match=r"^invalid TextMessage: content: Input should be a valid string$"):
        task_from_json(nested(MAX_TASK_DEPTH))
    # Far past what json.loads would give (it stops at ~1000): still linear, no recursion.
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(BadTask, match="may nest at most"):
        check_images(deep, Limits())
