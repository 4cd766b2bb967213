"""Interrupted input: a thread's run that waited too long at a
UserProxyAgent's question is cancelled there and its team state saved
(run.py, ``interrupt``); the human's answer, in a later run of the thread,
continues the conversation from that state.

How the answer goes in (AutoGen 0.7.5). When the group chat manager asked
the UserProxyAgent, it had already chosen it: a RoundRobinGroupChatManager
has moved its next speaker index past it, a SelectorGroupChatManager has
made it the previous speaker, a Swarm's last HandoffMessage targets it. So
the saved state is "the user proxy's turn, its reply missing". The answer
is that reply: what UserProxyAgent.on_messages_stream would have returned,
``TextMessage(content=answer, source=<its name>)``, or, when the last
message in its container's buffer is a handoff to it,
``HandoffMessage(content=answer, target=<who handed off>, source=<its
name>)``. The next run is ``run_stream(task=that message)``: the manager
relays it to every participant and adds it to its thread exactly as it
would the agent's reply, applies the termination condition to it, and
picks the next speaker from the state (the one after the user proxy).

Two things a reply does that a task does not are done to the state before
it is loaded: the user proxy's container buffer is emptied (a container
clears it once its agent has replied), and the manager's turn count goes
up by one (a reply counts a turn; a task does not), so ``max_turns`` ends
the conversation where it would have. What differs is only the user proxy's
own buffer, which then holds its reply (the runtime does not deliver an
agent's reply to itself): UserProxyAgent ignores its buffer but for a
handoff in its last message, which its own reply never is.
python/tests/test_interrupted_input.py holds the continued conversation's
final state to an uninterrupted one's.

Only a UserProxyAgent that is a direct participant of a RoundRobinGroupChat,
SelectorGroupChat or Swarm can be continued so: a nested team's user proxy
answers inside the inner team's run, and MagenticOneGroupChat and GraphFlow
take a task as the start of a new plan or graph walk, not as a reply.
continuable() says which; other questions are never interrupted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autogen_agentchat.agents import UserProxyAgent
from autogen_agentchat.messages import BaseChatMessage, HandoffMessage, TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat, Swarm

from .protocol import ThreadAnswer, replace_lone_surrogates

CONTINUABLE_TEAMS = (RoundRobinGroupChat, SelectorGroupChat, Swarm)


def continuable(target: object, source: str) -> bool:
    """Whether a run of target could go on from a question of the agent
    named source after an interrupt: a UserProxyAgent participant of one of
    the teams whose managers pick the next speaker as described above."""
    if not isinstance(target, CONTINUABLE_TEAMS):
        return False
    return any(isinstance(p, UserProxyAgent) and p.name == source for p in target._participants)


def continue_with(
    target: Any, state: Mapping[str, Any], answer: ThreadAnswer
) -> tuple[dict[str, Any], BaseChatMessage]:
    """The state to load and the task to run so that the answer is the
    asking UserProxyAgent's reply. Raises ValueError when the state does not
    hold that agent (it is not a direct participant of this team)."""
    source = answer["source"]
    if not continuable(target, source):
        raise ValueError(f"the team has no UserProxyAgent participant {source!r} to answer for")
    states = state.get("agent_states")
    asker = states.get(source) if isinstance(states, Mapping) else None
    if not isinstance(asker, Mapping) or not isinstance(asker.get("message_buffer"), list):
        raise ValueError(f"the saved state holds no container state of {source!r}")
    # JSON can carry "\ud800", a message cannot (the input op does the same).
    content = replace_lone_surrogates(answer["content"])
    buffer: list[Any] = asker["message_buffer"]
    last = buffer[-1] if buffer else None
    # UserProxyAgent._get_latest_handoff: its reply goes back to whoever handed off to it.
    message: BaseChatMessage
    if isinstance(last, Mapping) and last.get("type") == "HandoffMessage" and last.get("target") == source:
        message = HandoffMessage(content=content, target=str(last.get("source")), source=source)
    else:
        message = TextMessage(content=content, source=source)
    agent_states = dict(states)  # type: ignore[arg-type]
    agent_states[source] = {**asker, "message_buffer": []}
    manager_name = getattr(target, "_group_chat_manager_name", None)
    manager = agent_states.get(manager_name) if isinstance(manager_name, str) else None
    if isinstance(manager, Mapping) and isinstance(manager.get("current_turn"), int):
        agent_states[manager_name] = {**manager, "current_turn": manager["current_turn"] + 1}
    return {**state, "agent_states": agent_states}, message
