"""What an error event tells the client (``message``) and what only the
server log gets (``detail``).

A RunError raised by the factory or the agent (directly, wrapped, or turned
into text by an AgentChat team) keeps its code and message verbatim; any
other exception becomes AGS_FACTORY_ERROR / AGS_TASK_ERROR with a generic message
and its text in ``detail``."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from autogen_stream_bridge.errors import (
    CLIENT_MESSAGE_LIMIT,
    DETAIL_LIMIT,
    RunError,
    cap,
    describe,
    find_run_error,
    valid_code,
)
from conftest import Spawn


def _without_detail(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if k != "detail"}


@pytest.mark.parametrize("how", ["direct", "cause", "context"])
async def test_run_error_from_the_factory_is_sent_verbatim(spawn: Spawn, how: str) -> None:
    worker = await spawn("bridge_test_factories:run_error_factory")
    await worker.start("r1", credit=10, how=how, code="QUOTA_EXCEEDED", message="You have used all 3 runs today")
    assert await worker.until_terminal("r1") == [
        {"ev": "error", "run": "r1", "code": "QUOTA_EXCEEDED", "message": "You have used all 3 runs today"}
    ]


@pytest.mark.parametrize("code", ["lower_case", "", "A" * 65, "WITH-DASH", "SPACE BAR"])
async def test_run_error_with_an_invalid_code_is_a_plain_exception(spawn: Spawn, code: str) -> None:
    worker = await spawn("bridge_test_factories:run_error_factory")
    await worker.start("r1", credit=10, code=code, message="must not reach the client")
    [error] = await worker.until_terminal("r1")
    assert _without_detail(error) == {
        "ev": "error",
        "run": "r1",
        "code": "AGS_FACTORY_ERROR",
        "message": "The agent factory failed",
    }
    assert error["detail"].startswith(f"RunError: {code}: must not reach the client")


@pytest.mark.parametrize("code", ["AGS_FACTORY_ERROR", "AGS_TASK_ERROR", "AGS_QUOTA_EXCEEDED", "AGS_"])
async def test_run_error_from_the_factory_may_not_use_a_bridge_code(spawn: Spawn, code: str) -> None:
    """AGS_ codes are the product's own: an application cannot pass for the
    bridge (or the plugin), however it raises."""
    worker = await spawn("bridge_test_factories:run_error_factory")
    for how in ["direct", "cause", "context"]:
        await worker.start(how, credit=10, how=how, code=code, message="must not reach the client")
        [error] = await worker.until_terminal(how)
        assert _without_detail(error) == {
            "ev": "error",
            "run": how,
            "code": "AGS_FACTORY_ERROR",
            "message": "The agent factory failed",
        }
        assert "must not reach the client" in error["detail"]
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert f"a RunError with code {code!r} is reported as a plain exception".encode() in worker.stderr


async def test_run_error_from_the_stream_may_not_use_a_bridge_code(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:run_error_stream")
    await worker.start("r1", credit=10, code="AGS_ITEM_TOO_LARGE")
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "error"]
    assert _without_detail(evs[-1]) == {
        "ev": "error",
        "run": "r1",
        "code": "AGS_TASK_ERROR",
        "message": "The run failed",
    }
    assert evs[-1]["detail"].startswith("RunError: AGS_ITEM_TOO_LARGE: The weather service is down")


async def test_run_error_from_a_team_agent_may_not_use_a_bridge_code(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:raising_team")
    await worker.start("r1", credit=100, error="reserved_code")
    error = (await worker.until_terminal("r1"))[-1]
    assert _without_detail(error) == {"ev": "error", "run": "r1", "code": "AGS_TASK_ERROR", "message": "The run failed"}
    assert error["detail"].startswith("RuntimeError: ")
    assert "AGS_BAD_REQUEST: an application posing as the bridge" in error["detail"]


async def test_run_error_from_the_stream_is_sent_verbatim(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:run_error_stream")
    await worker.start("r1", credit=10)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "error"]
    assert evs[-1] == {
        "ev": "error",
        "run": "r1",
        "code": "UPSTREAM_DOWN",
        "message": "The weather service is down; try again later",
    }


async def test_run_error_from_a_team_agent_is_sent_verbatim(spawn: Spawn) -> None:
    """AgentChat turns a team agent's exception into a RuntimeError's text;
    the RunError is recognized in it, multi-line message and all."""
    worker = await spawn("bridge_test_factories:raising_team")
    await worker.start("r1", credit=100, error="run_error")
    evs = await worker.until_terminal("r1")
    assert evs[-1] == {
        "ev": "error",
        "run": "r1",
        "code": "TEAM_REFUSED",
        "message": "The team cannot take this task:\nit is about the weather",
    }
    assert [e["ev"] for e in evs[:-1]] == ["item"] * (len(evs) - 1)


@pytest.mark.parametrize("kind", ["value_error", "lookalike"])
async def test_other_team_agent_errors_stay_on_the_server(spawn: Spawn, kind: str) -> None:
    """A ValueError, and a class that is merely *called* RunError, are not
    forwarded: the client gets the generic message."""
    worker = await spawn("bridge_test_factories:raising_team")
    await worker.start("r1", credit=100, error=kind)
    error = (await worker.until_terminal("r1"))[-1]
    assert _without_detail(error) == {"ev": "error", "run": "r1", "code": "AGS_TASK_ERROR", "message": "The run failed"}
    assert error["detail"].startswith("RuntimeError: ")
    secret = "an internal detail" if kind == "value_error" else "internal text that must stay on the server"
    assert secret in error["detail"]


async def test_bad_request_messages_are_capped(spawn: Spawn) -> None:
    worker = await spawn("streaming_agent")
    long_type = "NoSuchMessage" + "X" * 2000
    await worker.start("r1", task={"type": long_type, "content": "x"}, credit=10)
    [error] = await worker.until_terminal("r1")
    assert error["code"] == "AGS_BAD_REQUEST"
    assert len(error["message"]) == CLIENT_MESSAGE_LIMIT
    assert error["message"].startswith("Unknown message type: NoSuchMessageXXX") and error["message"].endswith("...")
    assert error["detail"] == f"Unknown message type: {long_type}"


def test_run_error_is_exported_without_importing_autogen() -> None:
    code = (
        "import sys\n"
        "from autogen_stream_bridge import RunError\n"
        "assert 'autogen_agentchat' not in sys.modules and 'autogen_core' not in sys.modules\n"
        "e = RunError('CODE_1', 'text')\n"
        "assert (e.code, e.message, str(e)) == ('CODE_1', 'text', 'CODE_1: text')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# In process: the rules themselves ----------------------------------------


def test_valid_codes() -> None:
    assert valid_code("A") and valid_code("QUOTA_EXCEEDED_2") and valid_code("X" * 64)
    for bad in ["", "x", "X" * 65, "A-B", "A B", "É", 5, None, "A\n"]:
        assert not valid_code(bad), bad


def test_bridge_codes_are_reserved() -> None:
    for reserved in ["AGS_", "AGS_TASK_ERROR", "AGS_MY_OWN"]:
        assert not valid_code(reserved), reserved
        assert find_run_error(RunError(reserved, "text")) is None
    # Only the prefix is reserved.
    assert valid_code("AGS") and valid_code("AGSX") and valid_code("MY_AGS_CODE")
    try:
        try:
            raise RunError("AGS_TASK_ERROR", "posing")
        except RunError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert find_run_error(outer) is None


def test_find_run_error_walks_cause_and_context() -> None:
    inner = RunError("INNER", "inner text")
    try:
        try:
            raise inner
        except RunError:
            raise KeyError("during handling") from ValueError("explicit cause")
    except KeyError as e:
        outer = e
    # __cause__ (ValueError) first, then __context__ (the RunError).
    assert find_run_error(outer) is inner
    assert find_run_error(ValueError("plain")) is None
    # A cycle ends the walk.
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert find_run_error(a) is None
    # Too deep a chain is not walked to its end.
    deep: BaseException = RunError("DEEP", "deep")
    for i in range(40):
        wrapper = ValueError(str(i))
        wrapper.__cause__ = deep
        deep = wrapper
    assert find_run_error(deep) is None


def test_find_run_error_ignores_invalid_ones_and_accepts_subclasses() -> None:
    class QuotaError(RunError):
        def __init__(self, user: str) -> None:
            super().__init__("QUOTA", f"{user} has no runs left")

    found = find_run_error(QuotaError("ada"))
    assert found is not None and (found.code, found.message) == ("QUOTA", "ada has no runs left")
    bad = RunError("bad", "x")
    good = RunError("GOOD", "y")
    bad.__cause__ = good
    assert find_run_error(bad) is good
    not_text = RunError("CODE", 5)  # type: ignore[arg-type]
    assert find_run_error(not_text) is None


def test_team_text_needs_the_real_class() -> None:
    tb = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n'
        "autogen_stream_bridge.errors.RunError: CODE: the message\n"
    )
    found = find_run_error(RuntimeError(f"RunError: CODE: the message\nTraceback:\n{tb}"))
    assert found is not None and (found.code, found.message) == ("CODE", "the message")
    for text in [
        # Another module's RunError.
        "RunError: CODE: m\nTraceback:\nTraceback (most recent call last):\nother.module.RunError: CODE: m\n",
        # The traceback names something else.
        "RunError: CODE: m\nTraceback:\nTraceback (most recent call last):\nValueError: CODE: m\n",
        # No traceback part at all.
        "RunError: CODE: m",
        # The right traceback, a different message in front.
        f"RunError: CODE: other\nTraceback:\n{tb}",
    ]:
        assert find_run_error(RuntimeError(text)) is None, text


def test_describe_and_cap() -> None:
    try:
        raise ValueError("the text")
    except ValueError as e:
        detail = describe(e)
    assert detail.startswith("ValueError: the text\nTraceback (most recent call last):\n")
    assert detail.endswith("ValueError: the text\n")
    assert describe(KeyError("k")) == "KeyError: 'k'"
    long = "a" * 10_000 + "b" * 10_000
    capped = cap(long, DETAIL_LIMIT)
    assert len(capped) == DETAIL_LIMIT
    assert capped.startswith("aaa") and capped.endswith("bbb") and "characters cut" in capped
    assert cap("short", 10) == "short"
