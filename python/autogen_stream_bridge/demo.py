"""The demo team behind the plugin's default Python runner.

A SelectorGroupChat of four: a planner, a researcher with a real Python tool
(``search_notes``), a writer and ``user``, a UserProxyAgent the bridge asks
the human through. One run shows every kind of event the plugin carries:

1. the selector picks the planner (SelectSpeakerEvent, before every turn),
   who streams a plan word by word (ModelClientStreamingChunkEvent), then
   the whole of it (TextMessage);
2. the researcher thinks (ThoughtEvent) and calls ``search_notes``
   (ToolCallRequestEvent, ToolCallExecutionEvent, ToolCallSummaryMessage);
3. the writer streams a draft and asks what to change;
4. the human is asked (UserInputRequestedEvent; the run waits for the
   answer) and replies (TextMessage from ``user``);
5. the writer streams the final version, quoting the reply;
6. the planner streams its approval, which ends the run (TaskResult).

The thought comes with the tool call rather than with streamed text: when a
model result has both, AgentChat 0.7.5 gives the ThoughtEvent the chunks'
``full_message_id`` and the final TextMessage a new id, so a client that
pairs streamed text with its final message by id would find no pair.

With OPENAI_API_KEY set every agent and the selector talk to OpenAI (model
from OPENAI_MODEL, default gpt-4o-mini; needs
``pip install 'autogen-stream-bridge[openai]'``); the tool still runs here.
Without it, canned replay answers about the task keep the demo offline while
still streaming word by word, AUTOGEN_DEMO_DELAY_MS (0 to 1000, default 30)
apart so that people see the tokens arrive.

Nothing a client sends sets a size, a delay or a count here: the run's
options are ignored, the delay comes from the worker's environment, the team
ends after at most MAX_MESSAGES (12) messages, and only the first characters
of the task and of the human's reply are read for the replay answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from autogen_agentchat.agents import AssistantAgent, UserProxyAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.replay import ReplayChatCompletionClient
from pydantic import BaseModel

from .factory import InputFunc, RunRequest

PLANNER_PROMPT = (
    "You are the planner of a small team: the researcher looks up notes with a tool, the writer drafts the "
    "answer, and user is the human who asked. On your first turn, say in two sentences how the team will tackle "
    "the task, without the word APPROVE. Once the writer has given a final version that takes the user's reply "
    "into account, confirm it in one sentence ending with the word APPROVE."
)
RESEARCHER_PROMPT = (
    "You are the researcher. Call the search_notes tool once with a short description of the user's task."
)
WRITER_PROMPT = (
    "You are the writer. The first time, answer the user's task in one short, concrete paragraph that uses the "
    "researcher's notes, and end by asking the user what to change. After the user replies, give the final "
    "version with their reply worked in."
)
SELECTOR_PROMPT = """You choose who speaks next in a small team. The roles are:
{roles}

The team works in this order: planner, researcher, writer, user, writer, planner.

{history}

Read the conversation above and select the next role from {participants}. Only return the role."""

# The most messages a run has (the task included); the replay script needs 7.
MAX_MESSAGES = 12
# The replay streams one chunk per word, this many milliseconds apart...
DELAY_ENV = "AUTOGEN_DEMO_DELAY_MS"
DEFAULT_DELAY_MS = 30
MAX_DELAY_MS = 1000
# ...and quotes at most this much of the human's reply.
REPLY_CHARS = 200


def create_team(request: RunRequest, input_func: InputFunc | None = None) -> SelectorGroupChat:
    """``input_func`` is the bridge's input function: the human's answers
    come from the client. Without the bridge, ``user`` reads the console."""
    clients = _openai_clients() if os.environ.get("OPENAI_API_KEY") else _replay_clients(request, _delay_seconds())
    planner = AssistantAgent(
        "planner",
        model_client=clients.planner,
        description="Plans how the team tackles the task, and approves the final version.",
        system_message=PLANNER_PROMPT,
        model_client_stream=True,
    )
    researcher = AssistantAgent(
        "researcher",
        model_client=clients.researcher,
        description="Looks up notes about the task with the search_notes tool.",
        system_message=RESEARCHER_PROMPT,
        tools=[search_notes],
        reflect_on_tool_use=False,
        model_client_stream=True,
    )
    writer = AssistantAgent(
        "writer",
        model_client=clients.writer,
        description="Drafts the answer, asks the user what to change, then writes the final version.",
        system_message=WRITER_PROMPT,
        model_client_stream=True,
    )
    user = UserProxyAgent(
        "user",
        description="The human who asked; replies to the writer's draft.",
        input_func=input_func,
    )
    return SelectorGroupChat(
        [planner, researcher, writer, user],
        model_client=clients.selector,
        selector_prompt=SELECTOR_PROMPT,
        # Only the planner's word ends the run: the human may type APPROVE
        # too, and the writer still answers them.
        termination_condition=TextMentionTermination("APPROVE", sources=["planner"])
        | MaxMessageTermination(MAX_MESSAGES),
        # SelectSpeakerEvent before every turn.
        emit_team_events=True,
    )


def search_notes(topic: str) -> str:
    """Look up notes about a topic."""
    about = _excerpt(topic, TOPIC_CHARS) or "the task"
    return (
        f'Notes on "{about}": (1) Write the goal in one line before anything else. '
        "(2) Fix the hard constraints first: dates, budget, and the one thing that must happen. "
        "(3) Leave slack: plans with a free afternoon survive surprises."
    )


class _Clients(NamedTuple):
    planner: ChatCompletionClient
    researcher: ChatCompletionClient
    writer: ChatCompletionClient
    selector: ChatCompletionClient


def _replay_clients(request: RunRequest, delay: float) -> _Clients:
    topic = _topic(request.task)
    # Replay clients are stateful (they walk their list), so one per agent.
    planner = DemoReplayChatCompletionClient(
        [
            "Here is how we will tackle this: the researcher looks up notes, the writer drafts a short answer, "
            "you tell us what to change, and I check the final version.",
            "The final version keeps the notes and works in your reply, so it is ready. APPROVE",
        ],
        delay=delay,
    )
    researcher = DemoReplayChatCompletionClient(
        [_notes_call(_task_excerpt(request.task) or "your task")], delay=delay, model_info=_tool_model_info()
    )
    writer = DemoReplayChatCompletionClient(
        [
            f"Draft for {topic}: write the goal in one line, then fix the hard constraints, dates, budget and the "
            "one thing that must happen, and plan around them. Keep one free afternoon for surprises. "
            "What would you like to change?",
            lambda reply: (
                f"Final version for {topic}, with your reply {reply} worked in: write the goal in one line, fix the "
                "hard constraints first, put what you asked for at the top of the list, and keep one free "
                "afternoon for surprises."
            ),
        ],
        delay=delay,
    )
    # Names, in turn order; the selector reads them without streaming.
    selector = ReplayChatCompletionClient(["planner", "researcher", "writer", "user", "writer", "planner"])
    return _Clients(planner, researcher, writer, selector)


def _openai_clients() -> _Clients:
    try:
        # Lazy: the openai extra is optional and heavy.
        from autogen_ext.models.openai import OpenAIChatCompletionClient
    except ImportError as e:
        raise RuntimeError(
            "OPENAI_API_KEY is set but the OpenAI client is not installed: pip install 'autogen-stream-bridge[openai]'"
        ) from e
    client = OpenAIChatCompletionClient(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    return _Clients(client, client, client, client)


def _delay_seconds() -> float:
    """AUTOGEN_DEMO_DELAY_MS, an integer from 0 to 1000; anything else is
    the default."""
    raw = os.environ.get(DELAY_ENV, "").strip()
    if re.fullmatch(r"[0-9]{1,4}", raw) and int(raw) <= MAX_DELAY_MS:
        return int(raw) / 1000
    return DEFAULT_DELAY_MS / 1000


# A replay turn: a text, a CreateResult (a tool call, or a text with a
# thought), or a function of the human's latest reply (quoted) giving a text.
Turn = str | CreateResult | Callable[[str], str]


class DemoReplayChatCompletionClient(ReplayChatCompletionClient):
    """AutoGen's replay client, paced and a little smarter:

    - a text, also a CreateResult's text (whose ``thought`` then becomes the
      agent's ThoughtEvent), streams one chunk per word, ``delay`` seconds
      apart; the chunks add up to exactly the text, then the CreateResult
      follows (a tool call comes whole, after one delay);
    - a turn may be a function of the human's latest reply, quoted.

    Each wait is linked to the cancellation token, as real clients link their
    HTTP request, so cancel and stop take effect at once."""

    def __init__(self, turns: Sequence[Turn], *, delay: float, model_info: ModelInfo | None = None) -> None:
        # The parent walks a list of the same length (its bookkeeping: index,
        # usage); a function's placeholder is replaced when its turn comes.
        super().__init__([t if isinstance(t, (str, CreateResult)) else "" for t in turns], model_info=model_info)
        self._turns = list(turns)
        self._delay = delay

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
        turn = self._turns[self._current_index] if self._current_index < len(self._turns) else None
        result = await super().create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )
        if callable(turn):
            text = turn(_latest_reply(messages))
            result = result.model_copy(
                update={
                    "content": text,
                    "usage": RequestUsage(
                        prompt_tokens=result.usage.prompt_tokens, completion_tokens=len(text.split())
                    ),
                }
            )
        return result

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
        result = await self.create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )
        if isinstance(result.content, str):
            for chunk in _chunks(result.content):
                await self._wait(cancellation_token)
                yield chunk
        else:
            await self._wait(cancellation_token)
        yield result

    async def _wait(self, cancellation_token: CancellationToken | None) -> None:
        if self._delay <= 0:
            return
        wait = asyncio.ensure_future(asyncio.sleep(self._delay))
        if cancellation_token is not None:
            cancellation_token.link_future(wait)
        await wait


def _chunks(text: str) -> list[str]:
    """Words with the space after each: joined, exactly the text."""
    return [c for c in re.split(r"(?<=\s)(?=\S)", text) if c]


def _notes_call(topic: str) -> CreateResult:
    """The researcher's turn: a thought (its ThoughtEvent), then one call."""
    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id="call_notes", name="search_notes", arguments=json.dumps({"topic": topic}))],
        thought="The task is open-ended: notes first, so that the writer has something concrete to work from.",
        usage=RequestUsage(prompt_tokens=0, completion_tokens=8),
        cached=False,
    )


def _tool_model_info() -> ModelInfo:
    """A replay model that may call functions."""
    return ModelInfo(
        vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
    )


def _latest_reply(messages: Sequence[LLMMessage]) -> str:
    """The human's latest message (from ``user``), quoted and bounded."""
    for message in reversed(messages):
        if isinstance(message, UserMessage) and message.source == "user":
            if not isinstance(message.content, str):
                return "(not text)"
            words = _excerpt(message.content, REPLY_CHARS)
            return f'"{words}"' if words else "(empty)"
    return "(none)"


# The replay answers quote at most this much of the task.
TOPIC_CHARS = 80
# How much of the task (or of the human's reply) is read to find it: a task
# may be as long as a line (16 MiB by default), and none of that need be
# copied or scanned.
TOPIC_SCAN_CHARS = 1000


def _topic(task: object) -> str:
    words = _task_excerpt(task)
    return f'"{words}"' if words else "your task"


def _task_excerpt(task: object) -> str:
    """The start of the task's text (see _excerpt), or empty."""
    text = task if isinstance(task, str) else (task.get("content") if isinstance(task, dict) else None)
    return _excerpt(text, TOPIC_CHARS) if isinstance(text, str) else ""


def _excerpt(text: str, chars: int) -> str:
    """The start of text as one line of single-spaced words, at most chars
    long ("..." marks a cut); empty if it has no words. Only the first
    TOPIC_SCAN_CHARS characters are read."""
    words = re.sub(r"\s+", " ", text[:TOPIC_SCAN_CHARS]).strip()
    if len(words) > chars:
        words = words[: chars - 3].rstrip() + "..."
    return words
