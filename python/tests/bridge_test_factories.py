"""Factories used only by the tests (importable because the tests put this
directory on the worker's PYTHONPATH)."""

from __future__ import annotations

import sys
from typing import Any, AsyncGenerator, Awaitable, Callable, Optional

from autogen_agentchat.agents import AssistantAgent, UserProxyAgent
from autogen_agentchat.base import ChatAgent, Team
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken

from autogen_stream_bridge import RunRequest
from autogen_stream_bridge.examples import STREAMING_TEXT, SlowReplayChatCompletionClient, streaming_agent


def input_kwarg(
    request: RunRequest, *, input_func: Callable[[str, Optional[CancellationToken]], Awaitable[str]]
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


__all__ = [
    "STREAMING_TEXT",
    "async_factory",
    "console_input",
    "input_kwarg",
    "no_run_stream",
    "printing",
    "raising_stream",
    "slow_team",
]
