"""Lone UTF-16 surrogates: valid JSON ("\\ud800"), not Unicode. pydantic
cannot serialize them, so a run would fail later with an opaque
AGS_TASK_ERROR; they are refused up front, or replaced in an answer."""

from __future__ import annotations

from typing import Any

import pytest
from test_human_input import _until_input_request

from autogen_stream_bridge.convert import BadTask, check_options, task_from_json
from autogen_stream_bridge.protocol import lone_surrogate, replace_lone_surrogates
from conftest import Spawn

# run: (task, options, where the message says the surrogate is)
REFUSED: dict[str, tuple[Any, dict[str, Any], str]] = {
    "task-string": ("x\ud800y", {}, "task contains a lone UTF-16 surrogate (U+D800 in task)"),
    "task-low": ("\udfff", {}, "task contains a lone UTF-16 surrogate (U+DFFF in task)"),
    "message": (
        {"type": "TextMessage", "content": "\ud83d", "source": "\udc00"},
        {},
        "task contains a lone UTF-16 surrogate (U+D83D in task.content)",
    ),
    "list-key": (
        ["fine", {"type": "TextMessage", "content": "ok", "metadata": {"k\ud800": "v"}}],
        {},
        "task contains a lone UTF-16 surrogate (U+D800 in a key of task[1].metadata)",
    ),
    "image-data": (
        {"type": "MultiModalMessage", "content": ["x", {"data": "AAAA\udbff"}]},
        {},
        "task contains a lone UTF-16 surrogate (U+DBFF in task.content[1].data)",
    ),
    "options-value": ("x", {"text": "a\ud800 b"}, "options contain a lone UTF-16 surrogate (U+D800 in options.text)"),
    "options-key": ("x", {"\ud800": 1}, "options contain a lone UTF-16 surrogate (U+D800 in a key of options)"),
    "options-nested": (
        "x",
        {"a b": [{"x": "ok", "y": "\udc00"}]},
        'options contain a lone UTF-16 surrogate (U+DC00 in options["a b"][0].y)',
    ),
}


async def test_lone_surrogates_are_bad_requests_before_the_factory(spawn: Spawn) -> None:
    # The factory raises FACTORY_CALLED: a run that got that far would say so.
    worker = await spawn("bridge_test_factories:run_error_factory")
    pid = worker.proc.pid
    for run, (task, options, _) in REFUSED.items():
        # json.dumps writes a lone surrogate as a \ud800 escape, as Node's JSON.stringify does.
        await worker.send(op="start", run=run, task=task, options={"code": "FACTORY_CALLED", **options})
    for run, (_, _, message) in REFUSED.items():
        assert await worker.until_terminal(run) == [
            {"ev": "error", "run": run, "code": "AGS_BAD_REQUEST", "message": f"{message}; send valid Unicode"}
        ]
    # Valid Unicode, however unusual, reaches the factory: a pair (one code
    # point once parsed), U+2028, NUL, a BOM, a noncharacter.
    task = {"type": "TextMessage", "content": "smile \U0001f600 \u2028 \x00 \ufeff \uffff"}
    await worker.start("valid", task=task, credit=10, code="FACTORY_CALLED", note="\U0001f600")
    assert (await worker.until_terminal("valid"))[-1]["code"] == "FACTORY_CALLED"
    assert worker.proc.pid == pid and worker.proc.returncode is None
    stats = await worker.stats()
    assert stats["active"] == 0 and stats["started_total"] == len(REFUSED) + 1


async def test_valid_unicode_reaches_the_agent_and_back(spawn: Spawn) -> None:
    worker = await spawn("bridge_test_factories:echo_task")
    text = "smile \U0001f600 \u2028 \x00 \ufeff"
    await worker.start("r1", task=[text, {"type": "TextMessage", "content": text}], credit=10)
    evs = await worker.until_terminal("r1")
    assert [e["ev"] for e in evs] == ["item", "item", "item", "end"]
    assert [evs[0]["item"]["content"], evs[1]["item"]["content"]] == [text, text]


async def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(spawn: Spawn) -> None:
    """The answer still reaches the agent, with U+FFFD for what cannot be
    Unicode, and the run ends normally (it used to end with AGS_TASK_ERROR:
    the agent's TextMessage could not be serialized)."""
    worker = await spawn("user_proxy_team")
    pid = worker.proc.pid
    await worker.start("r1", task="Plan my week", credit=1000)
    _, request = await _until_input_request(worker, "r1")
    # A request id that is not Unicode names no request: ignored.
    await worker.send(op="input", run="r1", request_id="\ud800", content="x")
    await worker.send(op="input", run="r1", request_id=request["request_id"], content="APPROVE \ud800 and \udfff!")
    evs = await worker.until_terminal("r1")
    assert evs[-1] == {"ev": "end", "run": "r1"}
    answer = evs[0]["item"]
    assert answer == {**answer, "type": "TextMessage", "source": "user", "content": "APPROVE \ufffd and \ufffd!"}
    assert worker.proc.pid == pid
    await worker.start("r2", task="again", credit=1000)
    _, request = await _until_input_request(worker, "r2")
    await worker.send(op="input", run="r2", request_id=request["request_id"], content="APPROVE")
    assert (await worker.until_terminal("r2"))[-1] == {"ev": "end", "run": "r2"}


def test_surrogate_helpers() -> None:
    assert lone_surrogate("plain ascii") is None
    assert lone_surrogate("é \U0001f600 \uffff") is None
    assert lone_surrogate("a\udc00b\ud800") == "\udc00"
    assert replace_lone_surrogates("a\udc00b\ud800\U0001f600") == "a\ufffdb\ufffd\U0001f600"
    same = "unchanged é"
    assert replace_lone_surrogates(same) == same


@pytest.mark.parametrize(("task", "options", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_the_checks_in_process(task: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(BadTask) as info:
        task_from_json(task)
        check_options(options)
    assert str(info.value) == f"{message}; send valid Unicode"
    assert info.value.code == "AGS_BAD_REQUEST"


def test_where_names_long_and_odd_keys_safely() -> None:
    key = "k" * 100
    with pytest.raises(BadTask) as info:
        check_options({key: {"\n": ["\ud800"]}})
    assert str(info.value) == (
        f'options contain a lone UTF-16 surrogate (U+D800 in options["{"k" * 40}..."]["\\n"][0]); send valid Unicode'
    )
    assert check_options(None) == {}
    with pytest.raises(BadTask, match=r"^options must be a JSON object$"):
        check_options([1])
