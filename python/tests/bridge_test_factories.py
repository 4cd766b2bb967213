"""Factories used only by the tests (importable because the tests put this
directory on the worker's PYTHONPATH)."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

from autogen_agentchat.agents import AssistantAgent, BaseChatAgent, UserProxyAgent
from autogen_agentchat.base import ChatAgent, Response, TaskResult, Team
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import BaseChatMessage, ModelClientStreamingChunkEvent, TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken
from autogen_ext.models.replay import ReplayChatCompletionClient

from autogen_stream_bridge import RunError, RunRequest
from bridge_examples import STREAMING_TEXT, SlowReplayChatCompletionClient, streaming_agent


def input_kwarg(
    request: RunRequest, *, input_func: Callable[[str, CancellationToken | None], Awaitable[str]]
) -> UserProxyAgent:
    """The factory asks for the bridge's input function and wires it itself."""
    return UserProxyAgent("human", input_func=input_func)


async def async_factory(request: RunRequest) -> AssistantAgent:
    return streaming_agent(request)


def no_run_stream(request: RunRequest) -> Any:
    return object()


class _Raising:
    async def run_stream(self, *, task: Any = None, cancellation_token: Any = None) -> AsyncGenerator[Any, None]:
        yield TextMessage(content="one", source="raising")
        raise RuntimeError("boom")


def raising_stream(request: RunRequest) -> _Raising:
    return _Raising()


def slow_team(request: RunRequest) -> RoundRobinGroupChat:
    """writer/critic, each model call taking options.delay seconds; 20 turns."""
    delay = float(request.options.get("delay", 3600))
    agents: list[ChatAgent | Team] = [
        AssistantAgent(
            name,
            model_client=SlowReplayChatCompletionClient([f"{name} turn {i}" for i in range(10)], delay=delay),
            model_client_stream=True,
        )
        for name in ("writer", "critic")
    ]
    return RoundRobinGroupChat(agents, termination_condition=MaxMessageTermination(21))


def printing(request: RunRequest) -> AssistantAgent:
    """Prints to stdout, as careless user code does."""
    print("factory output that must not reach the protocol")
    sys.stdout.flush()
    return streaming_agent(request)


def console_input(request: RunRequest) -> UserProxyAgent:
    """A custom (sync, console) input function is left alone by the bridge;
    input() must then see EOF, not the protocol."""
    return UserProxyAgent("human", input_func=input)


def echo_request(request: RunRequest) -> AssistantAgent:
    """Answers with what the factory was told about the run."""
    return AssistantAgent(
        "assistant",
        model_client=ReplayChatCompletionClient([f"run_id={request.run_id} key={request.key}"]),
    )


class _Echo:
    """Yields the task's messages as they were converted, then a TaskResult."""

    async def run_stream(
        self, *, task: Any = None, cancellation_token: Any = None
    ) -> AsyncGenerator[BaseChatMessage | TaskResult, None]:
        messages: list[BaseChatMessage] = []
        if isinstance(task, BaseChatMessage):
            messages = [task]
        elif isinstance(task, list):
            messages = list(task)
        for message in messages:
            yield message
        yield TaskResult(messages=messages, stop_reason="echoed")


def echo_task(request: RunRequest) -> _Echo:
    return _Echo()


class _CustomItems:
    """A custom run_stream() speaking JSON dicts itself, with numbers JSON has no words for."""

    async def run_stream(self, *, task: Any = None, cancellation_token: Any = None) -> AsyncGenerator[Any, None]:
        yield {"type": "Custom", "x": float("nan"), "nested": [float("inf"), {"y": float("-inf")}], "ok": 1.5}
        yield TaskResult(messages=[TextMessage(content="done", source="custom")], stop_reason="custom done")


def custom_items(request: RunRequest) -> _CustomItems:
    return _CustomItems()


class _BigItem:
    def __init__(self, size: int) -> None:
        self._size = size

    async def run_stream(self, *, task: Any = None, cancellation_token: Any = None) -> AsyncGenerator[Any, None]:
        yield TextMessage(content="small", source="big")
        big = TextMessage(content="x" * self._size, source="big")
        yield big
        yield TaskResult(messages=[big], stop_reason="sent")


def big_item(request: RunRequest) -> _BigItem:
    """ "small", then a TextMessage of options.size characters, then a TaskResult."""
    return _BigItem(int(request.options["size"]))


def big_team(request: RunRequest) -> RoundRobinGroupChat:
    """A writer whose one message is options.size characters, then a critic
    whose model takes an hour: the team is still busy after the big item."""
    size = int(request.options["size"])
    writer = AssistantAgent("writer", model_client=ReplayChatCompletionClient(["x" * size]))
    critic = AssistantAgent("critic", model_client=SlowReplayChatCompletionClient(["ok"], delay=3600))
    return RoundRobinGroupChat([writer, critic], termination_condition=MaxMessageTermination(10))


def run_error_factory(request: RunRequest) -> Any:
    """Raises RunError(options.code, options.message); options.how: "direct"
    (default), "cause" (raise ... from it) or "context" (raised while
    handling it)."""
    error = RunError(request.options.get("code", "QUOTA_EXCEEDED"), request.options.get("message", "No runs left"))
    how = request.options.get("how", "direct")
    if how == "cause":
        raise RuntimeError("wrapped by a library") from error
    if how == "context":
        try:
            raise error
        except RunError:
            raise LookupError("raised while handling it")  # noqa: B904 - the implicit __context__ is the point
    raise error


class _RunErrorStream:
    def __init__(self, code: str) -> None:
        self._code = code

    async def run_stream(self, *, task: Any = None, cancellation_token: Any = None) -> AsyncGenerator[Any, None]:
        yield TextMessage(content="one", source="raising")
        raise RunError(self._code, "The weather service is down; try again later")


def run_error_stream(request: RunRequest) -> _RunErrorStream:
    """One item, then RunError(options.code, default "UPSTREAM_DOWN")."""
    return _RunErrorStream(request.options.get("code", "UPSTREAM_DOWN"))


class RunErrorLookalike(Exception):
    """Not a RunError, though a team reports it in the same words."""


# Same class name as the real one, so that AgentChat's text of it reads
# "RunError: CODE: message" too.
RunErrorLookalike.__name__ = "RunError"
RunErrorLookalike.__qualname__ = "RunError"


class _RaisingAgent(BaseChatAgent):
    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(name, "an agent that raises on its turn")
        self._error = error

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (TextMessage,)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        raise self._error

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        pass


def raising_team(request: RunRequest) -> RoundRobinGroupChat:
    """A team whose agent raises on its turn: options.error is "run_error"
    (default), "value_error", "lookalike" or "reserved_code" (a RunError
    with one of the bridge's own codes)."""
    kind = request.options.get("error", "run_error")
    error: Exception
    if kind == "run_error":
        error = RunError("TEAM_REFUSED", "The team cannot take this task:\nit is about the weather")
    elif kind == "reserved_code":
        error = RunError("AGS_BAD_REQUEST", "an application posing as the bridge")
    elif kind == "lookalike":
        error = RunErrorLookalike("SECRET_CODE: internal text that must stay on the server")
    else:
        error = ValueError("an internal detail")
    return RoundRobinGroupChat([_RaisingAgent("raiser", error)], termination_condition=MaxMessageTermination(3))


__all__ = [
    "STREAMING_TEXT",
    "async_factory",
    "big_item",
    "big_team",
    "console_input",
    "custom_items",
    "echo_request",
    "echo_task",
    "input_kwarg",
    "no_run_stream",
    "printing",
    "raising_stream",
    "raising_team",
    "run_error_factory",
    "run_error_stream",
    "slow_team",
]


class _EnvProbe:
    """Ends at once with a TaskResult whose one message is the JSON of the
    worker's values of options.names (null for a variable it cannot see)."""

    def __init__(self, names: list[str]) -> None:
        self._names = names
        self.content: dict[str, Any] | None = None

    async def run_stream(self, *, task: Any = None, cancellation_token: Any = None) -> AsyncGenerator[TaskResult, None]:
        import json
        import os

        seen = self.content if self.content is not None else {name: os.environ.get(name) for name in self._names}
        yield TaskResult(messages=[TextMessage(content=json.dumps(seen), source="env")], stop_reason="probed")


def env_probe(request: RunRequest) -> _EnvProbe:
    names = request.options.get("names", [])
    return _EnvProbe([str(n) for n in names] if isinstance(names, list) else [])


def echo_identity(request: RunRequest) -> _EnvProbe:
    """Ends at once with a TaskResult whose one message is the JSON of
    request.identity and request.options (what the factory was given)."""
    probe = _EnvProbe([])
    probe.content = {"identity": request.identity, "options": request.options}
    return probe


class _ChunkScript:
    """Chunk events with options.texts (source "s", message "m"), then
    options.count texts of options.size characters ("000xxx...", "001xxx..."),
    then a TaskResult; with options.lone_surrogate, a last chunk whose text
    holds a lone surrogate (which no JSON client could have sent)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = texts

    async def run_stream(self, *, task: Any = None, cancellation_token: Any = None) -> AsyncGenerator[Any, None]:
        for text in self._texts:
            yield ModelClientStreamingChunkEvent(content=text, source="s", full_message_id="m")
        yield TaskResult(messages=[], stop_reason="script done")


def chunk_script(request: RunRequest) -> _ChunkScript:
    texts = [str(t) for t in request.options.get("texts", [])]
    size = int(request.options.get("size", 10))
    texts += [f"{i:03d}" + "x" * (size - 3) for i in range(int(request.options.get("count", 0)))]
    if request.options.get("lone_surrogate"):
        texts.append("bad \ud800 text")
    return _ChunkScript(texts)
