"""The demo team behind the plugin's default Python runner.

With OPENAI_API_KEY set it talks to OpenAI (model from OPENAI_MODEL, default
gpt-4o-mini; needs ``pip install 'autogen-stream-bridge[openai]'``).
Without it, canned replay answers about the task keep the demo offline while
still streaming word by word.

Nothing a client sends sets a size, a delay or a count here: the run's
options are ignored, the team ends after at most 6 messages, and only the
first characters of the task are read for the replay answers.
"""

from __future__ import annotations

import os
import re

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import ChatCompletionClient
from autogen_ext.models.replay import ReplayChatCompletionClient

from .factory import RunRequest

WRITER_PROMPT = (
    "You are a writer. Answer the user's task in one short, concrete paragraph. "
    "When the critic suggests a change, rewrite the paragraph with it."
)
CRITIC_PROMPT = (
    "You are a critic. Review the writer's latest paragraph in two sentences and suggest one improvement. "
    "If the paragraph is already good, say so and end your message with the word APPROVE."
)


def create_team(request: RunRequest) -> RoundRobinGroupChat:
    writer_client, critic_client = _model_clients(request)
    writer = AssistantAgent(
        "writer", model_client=writer_client, system_message=WRITER_PROMPT, model_client_stream=True
    )
    critic = AssistantAgent(
        "critic", model_client=critic_client, system_message=CRITIC_PROMPT, model_client_stream=True
    )
    return RoundRobinGroupChat(
        [writer, critic],
        termination_condition=TextMentionTermination("APPROVE") | MaxMessageTermination(6),
    )


def _model_clients(request: RunRequest) -> tuple[ChatCompletionClient, ChatCompletionClient]:
    if os.environ.get("OPENAI_API_KEY"):
        client = _openai_client()
        return client, client
    topic = _topic(request.task)
    # Replay clients are stateful (they walk their list), so one per agent.
    writer = ReplayChatCompletionClient(
        [
            f"Here is a first take on {topic}. Start small: pick one clear goal, "
            "build the simplest thing that reaches it, and measure what happens before adding anything else.",
            f"Here is the revised take on {topic}. Start small with one clear goal, for example a single "
            "page that works end to end. Build the simplest version, watch how real people use it for a week, "
            "and only then decide what to add.",
        ]
    )
    critic = ReplayChatCompletionClient(
        [
            "The advice is sound but abstract. Add one concrete example and a time frame so the reader "
            "knows what to do tomorrow morning.",
            "Much better: the example makes it actionable and the time frame keeps it honest. APPROVE",
        ]
    )
    return writer, critic


def _openai_client() -> ChatCompletionClient:
    try:
        # Lazy: the openai extra is optional and heavy.
        from autogen_ext.models.openai import OpenAIChatCompletionClient
    except ImportError as e:
        raise RuntimeError(
            "OPENAI_API_KEY is set but the OpenAI client is not installed: pip install 'autogen-stream-bridge[openai]'"
        ) from e
    return OpenAIChatCompletionClient(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))


# The replay answers quote at most this much of the task.
TOPIC_CHARS = 80
# How much of the task is read to find it: a task may be as long as a line
# (16 MiB by default), and none of that need be copied or scanned.
TOPIC_SCAN_CHARS = 1000


def _topic(task: object) -> str:
    text = task if isinstance(task, str) else (task.get("content") if isinstance(task, dict) else None)
    if not isinstance(text, str):
        return "your task"
    # One line of single-spaced words: replay streaming rejoins words with
    # single spaces, and the chunks should add up to the final message.
    words = re.sub(r"\s+", " ", text[:TOPIC_SCAN_CHARS]).strip()
    if not words:
        return "your task"
    if len(words) > TOPIC_CHARS:
        words = words[: TOPIC_CHARS - 3].rstrip() + "..."
    return f'"{words}"'
