"""Graceful stop for teams: an ExternalTermination added to the team's own
termination condition.

AgentChat 0.7.5 teams (every BaseGroupChat: RoundRobinGroupChat,
SelectorGroupChat, Swarm, MagenticOneGroupChat, GraphFlow) take the
condition at construction and keep it in ``_termination_condition``; it is
only handed to the group chat manager in ``_init()``, on the first
``run_stream()``. A fresh team from the factory is not initialized yet, so
replacing the attribute then is enough. ExternalTermination is checked when
a speaker finishes its turn, so a stop ends the team after the current turn,
with a normal TaskResult.
"""

from __future__ import annotations

import logging

from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.teams import BaseGroupChat

log = logging.getLogger(__name__)


def attach_external_termination(target: object) -> ExternalTermination | None:
    """Return the ExternalTermination now guarding target, or None when
    target is not a team (or one we can no longer change)."""
    if not isinstance(target, BaseGroupChat):
        return None
    if getattr(target, "_initialized", False):
        # The manager already holds the old condition; changing ours would
        # silently do nothing. A stop then falls back to cancel.
        log.warning("team %s was already run once; 'stop' will cancel it instead", target.name)
        return None
    external = ExternalTermination()
    existing = target._termination_condition
    target._termination_condition = external if existing is None else existing | external
    return external
