"""Size limits: task images (--max-image-pixels, --max-image-bytes), lines
either way (--max-line-bytes), and items that must stay valid JSON."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from autogen_stream_bridge.convert import BadTask, ImageTooLarge, check_images
from autogen_stream_bridge.limits import Limits
from autogen_stream_bridge.stdio import LineReader, OversizedLine
from conftest import Spawn, strict_loads

MiB = 1024 * 1024


def _png(image: PILImage.Image) -> str:
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _multimodal(*images: str) -> dict[str, Any]:
    return {"type": "MultiModalMessage", "content": ["look:", *({"data": data} for data in images)]}


def _peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM): it only ever grows, so a
    full decode of a big image would show in it even after it was freed."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _has_proc() -> bool:
    return Path(f"/proc/{os.getpid()}/status").exists()


# Images ------------------------------------------------------------------


async def test_a_huge_image_is_refused_from_its_header(spawn: Spawn) -> None:
    """8000x8000 pixels in a few KB of PNG: AutoGen would decode it to RGB
    (~190 MiB, plus PIL's own copy). It is refused before the factory runs,
    and the worker never decodes it."""
    # The factory raises FACTORY_CALLED: a run that got that far would say so.
    worker = await spawn("bridge_test_factories:run_error_factory")
    small = _png(PILImage.new("RGB", (4, 4), (0, 128, 255)))
    bomb = _png(PILImage.new("1", (8000, 8000), 1))
    assert len(bomb) < 100_000
    # Warm up the same path (PIL's plugins, pydantic) with a small image first.
    await worker.start("warm", task=_multimodal(small), credit=10, code="FACTORY_CALLED")
    assert (await worker.until_terminal("warm"))[-1]["code"] == "FACTORY_CALLED"
    before = _peak_rss_kib(worker.proc.pid) if _has_proc() else 0

    await worker.start("r1", task=_multimodal(bomb), credit=10, code="FACTORY_CALLED")
    assert await worker.until_terminal("r1") == [
        {
            "ev": "error",
            "run": "r1",
            "code": "AGS_IMAGE_TOO_LARGE",
            "message": "task image 1 is 8000x8000 pixels; the limit is 16777216 (maxImagePixels)",
        }
    ]
    # In a list of messages, after an image that is fine, it is image 2.
    await worker.start("r2", task=["text first", _multimodal(small, bomb)], credit=10, code="FACTORY_CALLED")
    [error] = await worker.until_terminal("r2")
    assert error["message"] == "task image 2 is 8000x8000 pixels; the limit is 16777216 (maxImagePixels)"
    if _has_proc():
        assert _peak_rss_kib(worker.proc.pid) - before < 32 * 1024
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 3


async def test_images_within_the_limits_reach_the_agent(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_task")
    image = _png(PILImage.new("RGB", (64, 32), (255, 0, 0)))
    await worker.start("r1", task=_multimodal(image), credit=10)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "item", "end"]
    message = evs[0]["item"]
    assert message["type"] == "MultiModalMessage" and message["content"][0] == "look:"
    decoded = PILImage.open(BytesIO(base64.b64decode(message["content"][1]["data"])))
    assert decoded.size == (64, 32)


async def test_image_limits_come_from_the_command_line(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_task", "--max-image-pixels", "5000", "--max-image-bytes", "2000")
    fits = _png(PILImage.new("RGB", (50, 50), (1, 2, 3)))  # 2500 pixels, a few hundred bytes
    too_wide = _png(PILImage.new("RGB", (100, 100), (1, 2, 3)))  # 10000 pixels
    await worker.start("fits", task=_multimodal(fits), credit=10)
    assert (await worker.until_terminal("fits"))[-1]["ev"] == "end"
    await worker.start("pixels", task=_multimodal(fits, too_wide), credit=10)
    [error] = await worker.until_terminal("pixels")
    assert (error["code"], error["message"]) == (
        "AGS_IMAGE_TOO_LARGE",
        "task image 2 is 100x100 pixels; the limit is 5000 (maxImagePixels)",
    )
    big = _png(PILImage.frombytes("RGB", (40, 40), os.urandom(4800)))
    raw_big = len(base64.b64decode(big))
    await worker.start("bytes", task=_multimodal(big), credit=10)
    [error] = await worker.until_terminal("bytes")
    assert (error["code"], error["message"]) == (
        "AGS_IMAGE_TOO_LARGE",
        f"task image 1 is {raw_big} bytes; the limit is 2000 (maxImageBytes)",
    )


async def test_unreadable_images_are_bad_requests(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_task")
    cases = {
        "not-base64": ("%%% not base64 %%%", "task image 1 is not valid base64"),
        "not-an-image": (
            base64.b64encode(b"just some bytes, no image").decode(),
            "task image 1 is not an image format the worker can read",
        ),
    }
    for run, (data, _) in cases.items():
        await worker.start(run, task=_multimodal(data), credit=10)
    for run, (_, message) in cases.items():
        assert await worker.until_terminal(run) == [
            {"ev": "error", "run": run, "code": "AGS_BAD_REQUEST", "message": message}
        ]


def test_check_images_in_process() -> None:
    # Per task: two images of 100 pixels fit in 200 (test_image_totals has the totals).
    limits = Limits(max_image_pixels=200, max_image_bytes=10_000)
    ok = _png(PILImage.new("L", (10, 10)))
    wide = _png(PILImage.new("L", (21, 10)))
    check_images(_multimodal(ok, ok), limits)
    check_images({"type": "TextMessage", "content": "no images"}, limits)
    # Images in a HandoffMessage's context (UserMessage content lists) count too, in order.
    handoff = {
        "type": "HandoffMessage",
        "target": "x",
        "content": "over",
        "context": [{"type": "UserMessage", "source": "u", "content": ["hi", {"data": ok}, {"data": wide}]}],
    }
    with pytest.raises(ImageTooLarge, match=r"^task image 2 is 21x10 pixels; the limit is 200 \(maxImagePixels\)$"):
        check_images(handoff, limits)
    # The byte limit is checked from the base64 length, before decoding.
    with pytest.raises(ImageTooLarge, match=r"^task image 1 is 15000 bytes"):
        check_images(_multimodal("A" * 20_000), limits)
    with pytest.raises(BadTask, match="not valid base64"):
        check_images(_multimodal("AAA"), limits)
    # Not an ImageTooLarge: the client sent something that is no image.
    with pytest.raises(BadTask) as info:
        check_images(_multimodal(base64.b64encode(b"GIF89a broken").decode()), limits)
    assert not isinstance(info.value, ImageTooLarge) and info.value.code == "AGS_BAD_REQUEST"


# Items that must stay JSON -------------------------------------------------


async def test_non_finite_numbers_in_custom_items_become_null(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:custom_items")
    await worker.start("r1", credit=10)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "item", "end"]
    assert evs[0]["item"] == {"type": "Custom", "x": None, "nested": [None, {"y": None}], "ok": 1.5}
    assert evs[1]["item"]["type"] == "TaskResult" and evs[1]["item"]["stop_reason"] == "custom done"
    # Every line the worker wrote passed JSON.parse's rules (no NaN, no Infinity).
    assert worker.invalid_lines == []


def test_strict_parser_rejects_nan() -> None:
    with pytest.raises(ValueError):
        strict_loads(b'{"x": NaN}')


# Outgoing lines --------------------------------------------------------------


async def test_an_item_over_the_line_limit_ends_its_run(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:big_item", "--max-line-bytes", "65536")
    await worker.start("big", credit=100, size=100_000)
    await worker.start("fits", credit=100, size=60_000)
    evs = await worker.until_terminal("big")
    assert [e["ev"] for e in evs] == ["item", "error"]
    assert evs[0]["item"]["content"] == "small"
    error = evs[1]
    assert error["code"] == "AGS_ITEM_TOO_LARGE"
    match = re.fullmatch(r"An item of (\d+) bytes exceeds the bridge's line limit \(maxLineBytes\)", error["message"])
    assert match is not None and int(match.group(1)) > 100_000
    assert error["detail"] == f"TextMessage item line of {match.group(1)} bytes; --max-line-bytes is 65536"
    fits = await worker.until_terminal("fits")
    assert [e["ev"] for e in fits] == ["item", "item", "item", "end"]
    assert len(fits[1]["item"]["content"]) == 60_000
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["runs"] == {}
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert worker.pending("big") == 0  # nothing after the error


async def test_an_item_over_the_line_limit_stops_a_team(spawn: Spawn) -> None:
    """The team's next speaker is in an hour-long model call when the big
    item is refused: the run must still unwind (the bridge cancels it)
    rather than wait for the team to finish."""
    worker = await spawn("bridge_test_factories:big_team", "--max-line-bytes", "65536", "--log-level", "DEBUG")
    await worker.start("big", credit=100, size=100_000)
    evs = await worker.until_terminal("big")
    assert [e["ev"] for e in evs] == ["item", "error"]
    assert evs[0]["item"]["source"] == "user" and evs[1]["code"] == "AGS_ITEM_TOO_LARGE"
    assert (await worker.stats())["active"] == 0
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert b"run big: unwound" in worker.stderr


# Incoming lines --------------------------------------------------------------


async def test_an_incoming_line_over_the_limit_ends_the_run_it_names(spawn: Spawn) -> None:
    worker = await spawn("long_stream", "--max-line-bytes", "65536")
    pid = worker.proc.pid
    await worker.start("victim", credit=2)
    await worker.items("victim", 2)
    await worker.start("bystander", credit=2)
    await worker.items("bystander", 2)
    pad = "p" * 200_000
    long_credit = f'{{"op":"credit","run":"victim","n":1,"pad":"{pad}"}}'
    long_start = f'{{"op":"start","run":"big-start","task":"{pad}"}}'
    nameless = f'{{"pad":"{pad}"}}'
    # In one write with ordinary lines before and after: the skip must
    # stop exactly at each long line's end.
    payload = (
        "\n".join(
            [
                long_credit,
                '{"op":"start","run":"after","task":"hi","options":{"words":3}}',
                long_start,
                nameless,
                '{"op":"credit","run":"after","n":100}',
            ]
        )
        + "\n"
    )
    await worker.send_raw(payload.encode())
    assert await worker.until_terminal("victim") == [
        {
            "ev": "error",
            "run": "victim",
            "code": "AGS_LINE_TOO_LONG",
            "message": (
                f"A message of {len(long_credit)} bytes for this run exceeds the bridge's line limit (maxLineBytes)"
            ),
            "detail": f"stdin line of {len(long_credit)} bytes; --max-line-bytes is 65536",
        }
    ]
    [error] = await worker.until_terminal("big-start")
    assert error["code"] == "AGS_LINE_TOO_LONG"
    after = await worker.until_terminal("after")
    assert [e["ev"] for e in after] == ["item"] * 6 + ["end"]
    assert worker.proc.pid == pid and worker.proc.returncode is None
    stats = await worker.stats()
    assert stats["active"] == 1 and stats["runs"] == {"bystander": {"run_id": "bystander", "pulled": 2, "credit": 0}}
    assert stats["started_total"] == 3  # victim, bystander, after
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert worker.stderr.count(b"dropping a stdin line") == 3
    assert worker.stderr.count(b"ignoring stdin line") == 1  # the nameless one


@pytest.mark.skipif(not _has_proc(), reason="needs /proc")
async def test_a_skipped_line_is_never_held_whole(spawn: Spawn) -> None:
    """48 MiB through a 64 KiB limit: the worker's peak memory must not grow
    by anything like the line, which is read and dropped chunk by chunk."""
    worker = await spawn("streaming_agent", "--max-line-bytes", "65536")
    await worker.start("warm", credit=1000)
    assert (await worker.until_terminal("warm"))[-1]["ev"] == "end"
    before = _peak_rss_kib(worker.proc.pid)
    chunk = b"x" * MiB
    head, tail = b'{"op":"start","run":"huge","task":"', b'"}'
    await worker.send_raw(head)
    for _ in range(48):
        await worker.send_raw(chunk)
    await worker.send_raw(tail + b"\n")
    [error] = await worker.until_terminal("huge")
    assert error["code"] == "AGS_LINE_TOO_LONG"
    assert error["message"].startswith(f"A message of {len(head) + 48 * MiB + len(tail)} bytes")
    assert _peak_rss_kib(worker.proc.pid) - before < 8 * 1024


async def test_line_limit_arguments_are_checked(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent", "--max-line-bytes", "10", ready=False)
    assert await worker.wait_exit() == 2
    assert b"--max-line-bytes: must be at least 1024, got 10" in worker.stderr


# The reader itself, in process ---------------------------------------------


async def _read_all(data: bytes, limit: int) -> list[Any]:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    reader = LineReader(stream, limit)
    out: list[Any] = []
    while (line := await reader.readline()) is not None:
        out.append(line)
    return out


def _shape(lines: list[Any], source: bytes) -> list[Any]:
    """Lines as they are; an OversizedLine as ("over", size), after checking
    that its prefix is the start of that line and past the limit's reach."""
    out: list[Any] = []
    for line in lines:
        if isinstance(line, OversizedLine):
            assert line.prefix and source.find(line.prefix) != -1
            out.append(("over", line.size))
        else:
            out.append(line)
    return out


@pytest.mark.parametrize("read_chunk", [1, 7, 64 * 1024])
async def test_line_reader_splits_and_skips(monkeypatch: pytest.MonkeyPatch, read_chunk: int) -> None:
    # However stdin happens to be chunked, the lines are the same.
    monkeypatch.setattr("autogen_stream_bridge.stdio.READ_CHUNK", read_chunk)
    data = b"a\nbbb\n" + b"x" * 25 + b"y" * 25 + b"\nok\n" + b"c" * 10 + b"\n\n" + b"z" * 11 + b"\nlast"
    assert _shape(await _read_all(data, limit=10), data) == [
        b"a\n",
        b"bbb\n",
        ("over", 50),
        b"ok\n",
        b"c" * 10 + b"\n",  # exactly the limit is fine
        b"\n",
        ("over", 11),
        b"last",  # a last line without "\n" still counts
    ]
    # Over the limit at EOF, without a newline.
    tail = b"q\n" + b"w" * 30
    assert _shape(await _read_all(tail, limit=10), tail) == [b"q\n", ("over", 30)]


async def test_line_reader_keeps_only_a_prefix_of_a_long_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("autogen_stream_bridge.stdio.READ_CHUNK", 100)
    long = b'{"op":"credit","run":"k","pad":"' + b"x" * 50_000 + b'"}'
    [oversized, rest] = await _read_all(long + b"\nnext\n", 2000)
    assert isinstance(oversized, OversizedLine)
    assert oversized.size == len(long)
    # Enough of it to name the run, never more than KEPT_PREFIX.
    assert oversized.prefix == long[:1024]
    assert rest == b"next\n"
