"""Example factories for the tests: the pytest suite, the Node end-to-end
tests (through test/fixtures/python/e2e_factories.py) and the benchmarks.
Not part of the package: whoever uses them puts this directory on the
worker's PYTHONPATH.

All of them run real AgentChat agents and teams on AutoGen's own
ReplayChatCompletionClient, so they need no network and no API key. Replay
streaming splits a string response on whitespace and yields the words joined
by single spaces (then the CreateResult), so each word is one
ModelClientStreamingChunkEvent. A CreateResult response (a tool call, say)
is yielded whole, without chunks.

Use one with ``--factory bridge_examples:<name>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from autogen_agentchat.agents import AssistantAgent, UserProxyAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    CodeExecutionEvent,
    CodeGenerationEvent,
    HandoffMessage,
    MemoryQueryEvent,
    ModelClientStreamingChunkEvent,
    MultiModalMessage,
    SelectorEvent,
    SelectSpeakerEvent,
    StopMessage,
    StructuredMessage,
    TextMessage,
    ThoughtEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
    ToolCallSummaryMessage,
    UserInputRequestedEvent,
)
from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat
from autogen_core import CancellationToken, FunctionCall, Image
from autogen_core.code_executor import CodeBlock, CodeResult
from autogen_core.memory import MemoryContent, MemoryMimeType
from autogen_core.models import (
    CreateResult,
    FunctionExecutionResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.replay import ReplayChatCompletionClient
from PIL import Image as PILImage
from pydantic import BaseModel

from autogen_stream_bridge import RunError, RunRequest

STREAMING_TEXT = (
    "AutoGen streams this answer one word at a time, from a Python worker "
    "through Node to your browser, and backpressure keeps every hop honest."
)


def _assistant(name: str, responses: Sequence[str | CreateResult], **kwargs: Any) -> AssistantAgent:
    return AssistantAgent(
        name,
        model_client=ReplayChatCompletionClient(list(responses), model_info=kwargs.pop("model_info", None)),
        model_client_stream=True,
        **kwargs,
    )


def streaming_agent(request: RunRequest) -> AssistantAgent:
    """One streaming assistant; ``options.text`` replaces its answer."""
    text = request.options.get("text")
    return _assistant("assistant", [text if isinstance(text, str) else STREAMING_TEXT])


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"The weather in {city} is sunny, 21 degrees."


def _weather_call() -> CreateResult:
    """The model's one tool call of the tool examples: get_weather for Paris."""
    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')],
        usage=RequestUsage(prompt_tokens=12, completion_tokens=8),
        cached=False,
    )


def _tool_model_info() -> ModelInfo:
    """A replay model that may call functions."""
    return ModelInfo(
        vision=False,
        function_calling=True,
        json_output=False,
        family=ModelFamily.UNKNOWN,
        structured_output=False,
    )


def tool_agent(request: RunRequest) -> AssistantAgent:
    """Calls get_weather once. AgentChat yields ToolCallRequestEvent,
    ToolCallExecutionEvent, then (reflect_on_tool_use=False) a
    ToolCallSummaryMessage as the answer."""
    call = _weather_call()
    model_info = _tool_model_info()
    return _assistant("assistant", [call], model_info=model_info, tools=[get_weather], reflect_on_tool_use=False)


def round_robin(request: RunRequest) -> RoundRobinGroupChat:
    """writer then critic; the critic approves, which ends the team."""
    writer = _assistant("writer", ["Here is a short draft: streams should respect the slowest reader."])
    critic = _assistant("critic", ["Clear and correct. APPROVE"])
    return RoundRobinGroupChat(
        [writer, critic],
        termination_condition=TextMentionTermination("APPROVE") | MaxMessageTermination(6),
    )


def user_proxy_team(request: RunRequest) -> RoundRobinGroupChat:
    """An assistant and a human. The UserProxyAgent has no input_func on
    purpose: the bridge must replace its console input. The team ends when
    the user's answer contains APPROVE (or after a few rounds)."""
    rounds = 4
    assistant = _assistant(
        "assistant",
        ["I drafted a plan for your task. Reply APPROVE to finish, or tell me what to change."]
        + ["Thanks, I changed the plan. Reply APPROVE if it is good now."] * (rounds - 1),
    )
    user = UserProxyAgent("user")
    return RoundRobinGroupChat(
        [assistant, user],
        # Only the user's word counts; the assistant could say it too.
        termination_condition=TextMentionTermination("APPROVE", sources=["user"])
        | MaxMessageTermination(1 + 2 * rounds),
    )


def long_stream(request: RunRequest) -> AssistantAgent:
    """A single streaming agent answering ``options.words`` (default 5000)
    words "w0 w1 ...": one chunk event per word."""
    words = request.options.get("words", 5000)
    if not isinstance(words, int) or isinstance(words, bool) or words < 1:
        raise ValueError(f"options.words must be a positive integer, got {words!r}")
    return _assistant("assistant", [" ".join(f"w{i}" for i in range(words))])


class SlowReplayChatCompletionClient(ReplayChatCompletionClient):
    """A replay client whose every call first waits ``delay`` seconds, like
    a slow model. The wait is linked to the cancellation token, as real
    clients link their HTTP request."""

    def __init__(self, chat_completions: Sequence[str | CreateResult], delay: float) -> None:
        super().__init__(chat_completions)
        self._delay = delay

    async def _think(self, cancellation_token: CancellationToken | None) -> None:
        wait = asyncio.ensure_future(asyncio.sleep(self._delay))
        if cancellation_token is not None:
            cancellation_token.link_future(wait)
        await wait

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        await self._think(cancellation_token)
        return await super().create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        await self._think(cancellation_token)
        async for chunk in super().create_stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        ):
            yield chunk


def slow_agent(request: RunRequest) -> AssistantAgent:
    """A streaming agent whose model takes ``options.delay`` seconds
    (default 3600) to answer: for cancelling while inside AutoGen."""
    delay = request.options.get("delay", 3600)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ValueError(f"options.delay must be a number of seconds, got {delay!r}")
    return AssistantAgent(
        "assistant",
        model_client=SlowReplayChatCompletionClient([STREAMING_TEXT], delay=float(delay)),
        model_client_stream=True,
    )


class Weather(BaseModel):
    city: str
    temperature_c: float


class EveryType:
    """Not an agent: a run_stream() yielding one real instance of every
    AgentChat 0.7.5 message and event class, then a TaskResult, to prove
    that the bridge forwards each of them faithfully."""

    async def run_stream(
        self,
        *,
        task: str | BaseChatMessage | Sequence[BaseChatMessage] | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | TaskResult, None]:
        items = every_item()
        for item in items:
            yield item
        yield TaskResult(
            messages=[m for m in items if not isinstance(m, ModelClientStreamingChunkEvent)],
            stop_reason="every type sent",
        )


def every_item(source: str = "every_type") -> list[BaseAgentEvent | BaseChatMessage]:
    image = Image.from_pil(PILImage.new("RGB", (2, 2), (255, 0, 0)))
    call = FunctionCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    result = FunctionExecutionResult(content="sunny", name="get_weather", call_id="call_1", is_error=False)
    code = "print('hi')"
    return [
        TextMessage(content="hello", source=source),
        MultiModalMessage(content=["a red pixel square:", image], source=source),
        StopMessage(content="stopping", source=source),
        HandoffMessage(content="over to you", target="other", source=source),
        ToolCallSummaryMessage(content="sunny", tool_calls=[call], results=[result], source=source),
        StructuredMessage[Weather](content=Weather(city="Paris", temperature_c=21.5), source=source),
        ToolCallRequestEvent(content=[call], source=source),
        ToolCallExecutionEvent(content=[result], source=source),
        MemoryQueryEvent(
            content=[MemoryContent(content="the user likes Paris", mime_type=MemoryMimeType.TEXT)], source=source
        ),
        UserInputRequestedEvent(request_id="req-1", source=source),
        ModelClientStreamingChunkEvent(content="chunk", full_message_id="msg-1", source=source),
        ThoughtEvent(content="thinking", source=source),
        SelectSpeakerEvent(content=["writer"], source=source),
        # In 0.7.5 but missing from MessageFactory and from the Node schemas.
        SelectorEvent(content="selector says hi", source=source),
        CodeGenerationEvent(
            retry_attempt=0,
            content=f"```python\n{code}\n```",
            code_blocks=[CodeBlock(code=code, language="python")],
            source=source,
        ),
        CodeExecutionEvent(retry_attempt=0, result=CodeResult(exit_code=0, output="hi\n"), source=source),
    ]


def every_type(request: RunRequest) -> EveryType:
    return EveryType()


# Chunk texts that JSON writers may well treat differently: non-ASCII (2, 3
# and 4 bytes in UTF-8, the JS line separators), quotes and backslashes,
# control characters, an empty chunk, and what looks like JSON.
TRICKY_TEXTS = [
    "é",
    " 😀 中文",
    " \u2028\u2029",
    ' "quoted" \\ back\\slash',
    "\nnew\nline\t\r",
    "",
    "\x00\x1f\x7f\x80",
    ' {"ev":"end","run":"x"}',
    " \ufeff\U0001f9d1\u200d\U0001f4bb end",
]


class TrickyChunks:
    """Not an agent: a run_stream() of chunk events with the texts above,
    plain ones and ones carrying models_usage or metadata, from two sources,
    with and without a full_message_id, then the message and a TaskResult.
    Every id and time is fixed, so two runs give byte-identical frames."""

    async def run_stream(
        self,
        *,
        task: str | BaseChatMessage | Sequence[BaseChatMessage] | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | TaskResult, None]:
        at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
        asked = TextMessage(id="task-0", content="go", source="user", created_at=at)
        yield asked
        chunks = [
            ModelClientStreamingChunkEvent(
                id=f"c{i}", content=text, source="writer", full_message_id="m1", created_at=at
            )
            for i, text in enumerate(TRICKY_TEXTS)
        ]
        chunks.insert(
            3,
            ModelClientStreamingChunkEvent(
                id="c-usage",
                content=" with usage",
                source="writer",
                full_message_id="m1",
                models_usage=RequestUsage(prompt_tokens=3, completion_tokens=5),
                created_at=at,
            ),
        )
        with_metadata = ModelClientStreamingChunkEvent(
            id="c-meta", content=" with metadata", source="writer", full_message_id="m1", created_at=at
        )
        with_metadata.metadata = {"k": "v"}
        chunks.insert(6, with_metadata)
        other = ModelClientStreamingChunkEvent(
            id="c-other", content="aside", source="critic", full_message_id=None, created_at=at
        )
        chunks.insert(8, other)
        for chunk in chunks:
            yield chunk
        message = TextMessage(
            id="m1", content="".join(c.content for c in chunks if c.source == "writer"), source="writer", created_at=at
        )
        yield message
        yield TaskResult(messages=[asked, message], stop_reason="tricky done")


def tricky_chunks(request: RunRequest) -> TrickyChunks:
    return TrickyChunks()


def failing_factory(request: RunRequest) -> Any:
    raise ValueError("factory failed on purpose")


def _words_option(request: RunRequest, default: int) -> int:
    words = request.options.get("words", default)
    if not isinstance(words, int) or isinstance(words, bool) or words < 1:
        raise ValueError(f"options.words must be a positive integer, got {words!r}")
    return words


def long_team(request: RunRequest) -> RoundRobinGroupChat:
    """Two streaming agents, each answering ``options.words`` (default 2000)
    words: the writer "a0 a1 ...", then the critic "b0 b1 ...". One chunk
    event per word; the team ends after the critic (task + 2 messages)."""
    words = _words_option(request, 2000)
    writer = _assistant("writer", [" ".join(f"a{i}" for i in range(words))])
    critic = _assistant("critic", [" ".join(f"b{i}" for i in range(words))])
    return RoundRobinGroupChat([writer, critic], termination_condition=MaxMessageTermination(3))


def tool_team(request: RunRequest) -> RoundRobinGroupChat:
    """A team whose first agent calls get_weather (ToolCallRequestEvent,
    ToolCallExecutionEvent), then reflects on the result with a streamed
    answer of ``options.words`` (default 2000) words "r0 r1 ..."; then a
    writer streams as many words "s0 s1 ...". Ends after the writer."""
    words = _words_option(request, 2000)
    call = _weather_call()
    model_info = _tool_model_info()
    researcher = _assistant(
        "researcher",
        [call, " ".join(f"r{i}" for i in range(words))],
        model_info=model_info,
        tools=[get_weather],
        reflect_on_tool_use=True,
    )
    writer = _assistant("writer", [" ".join(f"s{i}" for i in range(words))])
    return RoundRobinGroupChat([researcher, writer], termination_condition=MaxMessageTermination(3))


class HistoryChatCompletionClient(SlowReplayChatCompletionClient):
    """A model that answers with what it was asked: "seen: m1 | m2 | ..."
    (the text of every user message in the request, in order), so a test
    can read a thread's history from the last reply. ``delay`` as for
    SlowReplayChatCompletionClient; ``pad`` adds that many "x" to the
    reply (a state as large as a test needs). Usage: 10 prompt tokens per
    message asked with, 1 completion token per word answered."""

    def __init__(self, delay: float = 0.0, pad: int = 0, sources: bool = False) -> None:
        super().__init__(["unused"], delay=delay)
        self._pad = pad
        # "seen: user: m1 | user: m2": who each message is from, as the model is told.
        self._sources = sources

    def _answer(self, messages: Sequence[LLMMessage]) -> CreateResult:
        seen = [
            f"{m.source}: {m.content}" if self._sources else m.content
            for m in messages
            if isinstance(m, UserMessage) and isinstance(m.content, str)
        ]
        text = "seen: " + " | ".join(seen) + (" " + "x" * self._pad if self._pad else "")
        usage = RequestUsage(prompt_tokens=10 * len(messages), completion_tokens=len(text.split()))
        return CreateResult(finish_reason="stop", content=text, usage=usage, cached=False)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        if self._delay:
            await self._think(cancellation_token)
        return self._answer(messages)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages, cancellation_token=cancellation_token)


def thread_agent(request: RunRequest) -> RoundRobinGroupChat:
    """A team of one assistant whose model answers with the user messages
    it was asked with ("seen: m1 | m2"): run it as a thread and the reply
    shows the history the saved state brought back. ``options.delay``:
    seconds its model waits first (to cancel inside it); ``options.pad``:
    "x"s added to each reply (to grow the state)."""
    delay = request.options.get("delay", 0)
    pad = request.options.get("pad", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ValueError(f"options.delay must be a number of seconds, got {delay!r}")
    if not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
        raise ValueError(f"options.pad must be a non-negative integer, got {pad!r}")
    assistant = AssistantAgent("assistant", model_client=HistoryChatCompletionClient(delay=float(delay), pad=pad))
    return RoundRobinGroupChat([assistant], termination_condition=MaxMessageTermination(2))


# Interrupted input (docs/bridge.md, Threads): teams with a UserProxyAgent
# whose models answer from the conversation alone (never from how many
# calls they had), so a conversation continued by another team built by
# the factory goes on exactly as one that was never interrupted.


def interrupt_round_robin(request: RunRequest) -> RoundRobinGroupChat:
    """assistant, then user (a UserProxyAgent), in turn, until the user says
    APPROVE. The assistant answers with what it was asked, sources
    included: "seen: user: plan | user: change it"."""
    assistant = AssistantAgent("assistant", model_client=HistoryChatCompletionClient(sources=True))
    user = UserProxyAgent("user")
    return RoundRobinGroupChat(
        [assistant, user],
        termination_condition=TextMentionTermination("APPROVE", sources=["user"]) | MaxMessageTermination(12),
    )


class ScriptedSelectorClient(HistoryChatCompletionClient):
    """A SelectorGroupChat's model that picks from the history it is shown
    (selector_prompt "{history}"): the assistant after the task, the user
    after the assistant, the reviewer after the user."""

    def _answer(self, messages: Sequence[LLMMessage]) -> CreateResult:
        prompt = str(messages[-1].content) if messages else ""
        speakers = [line.split(":", 1)[0] for line in prompt.split("\n") if ":" in line]
        last = speakers[-1] if speakers else ""
        name = "user" if last == "assistant" else "reviewer" if last == "user" and len(speakers) > 1 else "assistant"
        usage = RequestUsage(prompt_tokens=1, completion_tokens=1)
        return CreateResult(finish_reason="stop", content=name, usage=usage, cached=False)


def interrupt_selector(request: RunRequest) -> Any:
    """A SelectorGroupChat of assistant, user (a UserProxyAgent) and
    reviewer, whose selector model picks assistant, user, reviewer in that
    order; the reviewer (answering with what it was asked) ends it."""
    from autogen_agentchat.teams import SelectorGroupChat

    assistant = AssistantAgent("assistant", model_client=HistoryChatCompletionClient(sources=True))
    reviewer = AssistantAgent("reviewer", model_client=HistoryChatCompletionClient(sources=True))
    user = UserProxyAgent("user")
    return SelectorGroupChat(
        [assistant, user, reviewer],
        model_client=ScriptedSelectorClient(),
        selector_prompt="{history}",
        termination_condition=TextMentionTermination("seen:", sources=["reviewer"]) | MaxMessageTermination(12),
    )


class HandoffClient(HistoryChatCompletionClient):
    """A Swarm agent's model: hands off to the user while the task is the
    only user message it was asked with, then answers with what it was
    asked (sources included)."""

    def __init__(self) -> None:
        super().__init__(sources=True)
        self._model_info = _tool_model_info()

    def _answer(self, messages: Sequence[LLMMessage]) -> CreateResult:
        if sum(isinstance(m, UserMessage) for m in messages) == 1:
            call = FunctionCall(id="call_handoff", name="transfer_to_user", arguments="{}")
            return CreateResult(
                finish_reason="function_calls",
                content=[call],
                usage=RequestUsage(prompt_tokens=1, completion_tokens=1),
                cached=False,
            )
        return super()._answer(messages)


def interrupt_swarm(request: RunRequest) -> Any:
    """A Swarm: the assistant hands off to the user (a UserProxyAgent),
    whose reply is a HandoffMessage back to it; it then answers with what
    it was asked, which ends the run."""
    from autogen_agentchat.teams import Swarm

    assistant = AssistantAgent(
        "assistant",
        model_client=HandoffClient(),
        handoffs=["user"],
        model_client_stream=False,
    )
    user = UserProxyAgent("user")
    return Swarm(
        [assistant, user],
        termination_condition=TextMentionTermination("seen:", sources=["assistant"]) | MaxMessageTermination(12),
    )


class ThinkingReplayChatCompletionClient(ReplayChatCompletionClient):
    """A replay client that streams its answers word by word as usual, and
    whose CreateResult carries ``thought``, as a reasoning model's does:
    AgentChat then yields the chunks, a ThoughtEvent, and the answer."""

    def __init__(self, chat_completions: Sequence[str | CreateResult], thought: str) -> None:
        super().__init__(chat_completions)
        self._thought = thought

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        async for chunk in super().create_stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        ):
            yield chunk.model_copy(update={"thought": self._thought}) if isinstance(chunk, CreateResult) else chunk


THOUGHT = "The user wants a short answer; one sentence will do."


def thinking_agent(request: RunRequest) -> AssistantAgent:
    """A streaming assistant whose model thinks (THOUGHT) before its answer
    "Backpressure keeps every hop honest.": chunks, ThoughtEvent, TextMessage."""
    return AssistantAgent(
        "assistant",
        model_client=ThinkingReplayChatCompletionClient(["Backpressure keeps every hop honest."], thought=THOUGHT),
        model_client_stream=True,
    )


def reflecting_tool_agent(request: RunRequest) -> AssistantAgent:
    """Calls get_weather, then reflects on the result with a streamed answer
    (reflect_on_tool_use=True): ToolCallRequestEvent, ToolCallExecutionEvent,
    then the chunks and TextMessage of the reflection."""
    return _assistant(
        "assistant",
        [_weather_call(), "It is sunny in Paris today, 21 degrees."],
        model_info=_tool_model_info(),
        tools=[get_weather],
        reflect_on_tool_use=True,
    )


def selector_team(request: RunRequest) -> SelectorGroupChat:
    """A SelectorGroupChat of a writer and a critic whose (replay) selector
    picks the writer first, then the critic; the critic approves, which
    ends the team. emit_team_events=True: each pick is a SelectSpeakerEvent."""
    writer = _assistant("writer", ["A draft: streams should respect the slowest reader."])
    critic = _assistant("critic", ["Clear and correct. APPROVE"])
    return SelectorGroupChat(
        [writer, critic],
        model_client=ReplayChatCompletionClient(["writer", "critic"]),
        termination_condition=TextMentionTermination("APPROVE") | MaxMessageTermination(6),
        emit_team_events=True,
    )


class BreaksMidAnswer:
    """Not an agent: streams the first words of an answer, then fails with
    a RunError (MODEL_DOWN): the run ends with that code while its message
    is still open."""

    async def run_stream(
        self,
        *,
        task: str | BaseChatMessage | Sequence[BaseChatMessage] | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | TaskResult, None]:
        for word in ["The ", "answer ", "is "]:
            yield ModelClientStreamingChunkEvent(content=word, source="assistant", full_message_id="answer-1")
        raise RunError("MODEL_DOWN", "The model went away mid-answer")


def breaks_mid_answer(request: RunRequest) -> BreaksMidAnswer:
    return BreaksMidAnswer()
