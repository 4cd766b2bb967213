"""Failures end one run (or, for a broken factory, the worker) clearly."""

from __future__ import annotations

import asyncio

from conftest import Spawn


async def test_factory_error(spawn: Spawn) -> None:
    worker = await spawn("failing_factory")
    await worker.start("r1", credit=10)
    [error] = await worker.until_terminal("r1")
    # The exception's text is for Node's log (detail), never the client's message.
    assert {k: v for k, v in error.items() if k != "detail"} == {
        "ev": "error",
        "run": "r1",
        "code": "AGS_FACTORY_ERROR",
        "message": "The agent factory failed",
    }
    assert error["detail"].startswith("ValueError: factory failed on purpose\nTraceback (most recent call last):")
    assert "in failing_factory" in error["detail"]
    await worker.start("r2", credit=10)
    assert (await worker.until_terminal("r2"))[-1]["code"] == "AGS_FACTORY_ERROR"
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == 2


async def test_factory_error_from_bad_options(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    await worker.start("r1", credit=10, words="many")
    [error] = await worker.until_terminal("r1")
    assert error["code"] == "AGS_FACTORY_ERROR" and error["message"] == "The agent factory failed"
    assert error["detail"].startswith("ValueError: options.words must be a positive integer")


async def test_factory_result_without_run_stream(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:no_run_stream")
    await worker.start("r1", credit=10)
    [error] = await worker.until_terminal("r1")
    assert error["code"] == "AGS_FACTORY_ERROR" and error["message"] == "The agent factory failed"
    assert error["detail"].startswith("FactoryError: the factory bridge_test_factories:no_run_stream returned object")
    assert "run_stream" in error["detail"]


async def test_task_error(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:raising_stream")
    await worker.start("r1", credit=10)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "error"]
    error = evs[-1]
    assert {k: v for k, v in error.items() if k != "detail"} == {
        "ev": "error",
        "run": "r1",
        "code": "AGS_TASK_ERROR",
        "message": "The run failed",
    }
    assert error["detail"].startswith("RuntimeError: boom\nTraceback (most recent call last):")


async def test_bad_requests(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    cases = {
        "number": 42,
        "unknown-type": {"type": "NoSuchMessage", "content": "x"},
        "no-type": {"content": "x"},
        "invalid": {"type": "TextMessage", "content": 5},
        "event": {"type": "ThoughtEvent", "content": "x"},
        "empty-list": [],
        "bad-entry": ["ok", 3],
        # AutoGen's Image validator raises TypeError for these, not ValueError.
        "image-data-not-text": {"type": "MultiModalMessage", "content": ["x", {"data": 5}]},
        "image-not-a-dict": {"type": "MultiModalMessage", "content": ["x", 7]},
    }
    for run, task in cases.items():
        await worker.start(run, task=task, credit=10)
    for run in cases:
        [error] = await worker.until_terminal(run)
        assert error["ev"] == "error" and error["code"] == "AGS_BAD_REQUEST", (run, error)
        # About the client's own task: the message is meant for the client.
        assert error["message"] and "detail" not in error, (run, error)
    await worker.send(op="start", run="bad-options", task="x", options=[1])
    [error] = await worker.until_terminal("bad-options")
    assert error["code"] == "AGS_BAD_REQUEST" and "options" in error["message"]


async def test_message_tasks(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    await worker.start("dict", task={"type": "TextMessage", "content": "as a message", "source": "alice"}, credit=100)
    await worker.start("nosource", task={"type": "TextMessage", "content": "no source"}, credit=100)
    second = {"type": "TextMessage", "content": "second", "source": "bob"}
    await worker.start("list", task=["first", second], credit=100)
    dict_items = [e["item"] for e in (await worker.until_terminal("dict"))[:-1]]
    assert dict_items[0]["content"] == "as a message" and dict_items[0]["source"] == "alice"
    nosource = [e["item"] for e in (await worker.until_terminal("nosource"))[:-1]]
    assert nosource[0]["source"] == "user"
    list_items = [e["item"] for e in (await worker.until_terminal("list"))[:-1]]
    assert [(i["source"], i["content"]) for i in list_items[:2]] == [("user", "first"), ("bob", "second")]
    assert list_items[-1]["type"] == "TaskResult"


async def test_bad_factory_path_is_fatal(spawn: Spawn) -> None:
    for spec, needle in [
        ("no_such_module_xyz:create", "no_such_module_xyz"),
        ("bridge_examples:nope", "nope"),
        ("bridge_examples", "module:callable"),
        ("bridge_examples:STREAMING_TEXT", "not a callable"),
    ]:
        worker = await spawn("", "--factory", spec, ready=False)
        fatal = await worker.next_other()
        assert fatal["ev"] == "fatal" and needle in fatal["message"], fatal
        assert await worker.wait_exit() == 1


async def test_bad_lines_are_ignored(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    for line in [
        b"this is not json\n",
        b"[1, 2]\n",
        b'{"op": "dance"}\n',
        b'{"no": "op"}\n',
        b'{"op": "credit", "run": "r1", "n": 0}\n',
        b'{"op": "credit", "run": "r1", "n": true}\n',
        b'{"op": "start", "task": "no run"}\n',
        b'{"op": "start", "run": "r0"}\n',
        b"\n",
        b"\xff\xfe\n",
        b'{"op": "cancel", "run": "never-started"}\n',
        b'{"op": "input", "run": "never-started", "request_id": "x", "content": "y"}\n',
    ]:
        await worker.send_raw(line)
    stats = await worker.stats()
    assert stats["started_total"] == 0 and stats["active"] == 0
    # A start that cannot be read is still answered: Node is waiting for it.
    [error] = await worker.until_terminal("r0")
    assert error["code"] == "AGS_BAD_OP" and error["detail"].startswith("ProtocolError: op 'start' needs a 'task'")
    await worker.start("r1", credit=100)
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "end"
    assert b"ignoring stdin line" in worker.stderr
    assert worker.proc.returncode is None


async def test_oversized_line_is_dropped(spawn: Spawn) -> None:
    """Over the default limit (16 MiB): skipped unread, its start refused."""
    worker = await spawn("streaming_agent")
    size = 65 * 1024 * 1024
    huge = b'{"op": "start", "run": "huge", "task": "' + b"x" * size + b'"}\n'
    await worker.send_raw(huge + b'{"op": "start", "run": "after", "task": "hi"}\n')
    await worker.send(op="credit", run="after", n=100)
    assert (await worker.until_terminal("after", timeout=30))[-1]["ev"] == "end"
    [error] = await worker.until_terminal("huge")
    assert error["code"] == "AGS_LINE_TOO_LONG"
    assert error["message"] == (
        f"A message of {len(huge) - 1} bytes for this run exceeds the bridge's line limit (maxLineBytes)"
    )
    stats = await worker.stats()
    assert stats["started_total"] == 1


async def test_prints_do_not_corrupt_the_protocol(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:printing")
    await worker.start("r1", credit=100)
    assert (await worker.until_terminal("r1"))[-1]["ev"] == "end"
    await asyncio.sleep(0.1)
    assert b"factory output that must not reach the protocol" in worker.stderr
