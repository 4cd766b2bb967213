"""Wire encoding and decoding, and task/item conversion, in process."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import StopMessage, TextMessage

from autogen_stream_bridge.convert import BadTask, item_to_json, task_from_json
from autogen_stream_bridge.protocol import ProtocolError, decode_op, encode_ev
from conftest import TESTS_DIR


def test_decode_ops() -> None:
    assert decode_op(b'{"op":"credit","run":"r","n":3}\n') == {"op": "credit", "run": "r", "n": 3}
    assert decode_op('{"op":"stats"}') == {"op": "stats", "id": None}
    assert dict(decode_op('{"op":"input_error","run":"r","request_id":"q"}'))["message"] == "input failed"
    start = dict(decode_op('{"op":"start","run":"r","task":{"anything":1}}'))
    assert start["task"] == {"anything": 1}


@pytest.mark.parametrize(
    "line",
    [
        b"nope",
        b"\xff",
        b"1",
        b'{"op":"fly"}',
        b'{"op":"credit","run":"r","n":-1}',
        b'{"op":"credit","run":"r","n":1.5}',
        b'{"op":"credit","run":"","n":1}',
        b'{"op":"cancel"}',
        b'{"op":"input","run":"r","request_id":"q"}',
        b'{"op":"start","run":"r"}',
    ],
)
def test_decode_rejects(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_op(line)


def test_encode_is_one_line_of_valid_json() -> None:
    ev = {"ev": "item", "run": "r", "item": {"content": "two\nlines \u2028 é \ud800", "x": float("nan")}}
    data = encode_ev(ev)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    decoded = json.loads(data)
    assert decoded["item"]["x"] is None
    assert decoded["item"]["content"].startswith("two\nlines \u2028 é ")
    assert encode_ev({"ev": "end", "run": "r"}) == b'{"ev":"end","run":"r"}\n'


def test_task_conversion() -> None:
    assert task_from_json("hi") == "hi"
    assert task_from_json(None) is None
    message = task_from_json({"type": "TextMessage", "content": "hi"})
    assert isinstance(message, TextMessage) and message.source == "user"
    stop = task_from_json({"type": "StopMessage", "content": "bye", "source": "me"})
    assert isinstance(stop, StopMessage) and stop.source == "me"
    mixed = task_from_json(["a", {"type": "TextMessage", "content": "b"}])
    assert isinstance(mixed, list) and [m.content for m in mixed] == ["a", "b"]  # type: ignore[attr-defined]
    for bad in [
        1,
        True,
        [],
        [None],
        {"content": "x"},
        {"type": "Nope"},
        {"type": "TextMessage"},
        {"type": "ModelClientStreamingChunkEvent", "content": "x"},
    ]:
        with pytest.raises(BadTask):
            task_from_json(bad)


def test_item_conversion() -> None:
    message = TextMessage(content="hi", source="a")
    result = item_to_json(TaskResult(messages=[message], stop_reason="done"))
    assert result == {"type": "TaskResult", "messages": [message.model_dump(mode="json")], "stop_reason": "done"}
    assert item_to_json({"type": "Custom", "x": 1}) == {"type": "Custom", "x": 1}
    with pytest.raises(TypeError):
        item_to_json(42)


def _python_path() -> str:
    """The tests' folder, then the caller's PYTHONPATH, as conftest's workers:
    it may name the bridge's sources to test (a checkout other than the one installed)."""
    return os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)


def test_worker_exits_when_node_stops_reading() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "autogen_stream_bridge.worker", "--factory", "bridge_examples:long_stream"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": _python_path()},
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert json.loads(proc.stdout.readline())["ev"] == "ready"
        proc.stdout.close()
        # The worker may see its stdout closed and exit before this is read:
        # both are the behaviour under test, so a broken pipe here is fine.
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b'{"op":"start","run":"r","task":"x"}\n{"op":"credit","run":"r","n":100000}\n')
            proc.stdin.flush()
        # A hang guard only: the worker exits on its own.
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
