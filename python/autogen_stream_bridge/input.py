"""Human in the loop: the bridge's input function and its injection into
UserProxyAgents that would otherwise read the console.

In AgentChat 0.7.5 a UserProxyAgent keeps its callback in the public
attribute ``input_func`` and whether to await it in ``_is_async``; an agent
built without one gets ``autogen_agentchat.agents._user_proxy_agent.
cancellable_input``, i.e. ``input()`` on the worker's stdin. The agent yields a
``UserInputRequestedEvent(request_id=...)`` and then calls the input function
inside ``UserProxyAgent.InputRequestContext.populate_context(request_id)``,
which is how the id reaches us.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from autogen_agentchat.agents import SocietyOfMindAgent, UserProxyAgent
from autogen_agentchat.agents._user_proxy_agent import cancellable_input
from autogen_agentchat.teams import BaseGroupChat
from autogen_core import CancellationToken

from .protocol import lone_surrogate, replace_lone_surrogates

log = logging.getLogger(__name__)

# How long an input request may wait for its UserInputRequestedEvent to reach
# the client first (see InputBroker._wait_for_event).
ORDER_GRACE_SECONDS = 5.0

Emit = Callable[[Mapping[str, Any]], Awaitable[None]]


class InputFailed(Exception):
    """Node said no answer will come (input_error)."""


class InputBroker:
    """One run's pending input requests."""

    def __init__(self, key: str, emit: Emit, continuable: Callable[[str], bool] | None = None) -> None:
        # The run's key, which its input_request events carry as "run".
        self._key = key
        self._emit = emit
        # Whether the run could go on from a question of this UserProxyAgent
        # after an interrupt (run.py decides): its input_request then names it.
        self._continuable = continuable
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._emitted_events: dict[str, asyncio.Event] = {}
        # Who asked, by request id: the source of its UserInputRequestedEvent.
        self._askers: dict[str, str] = {}

    async def input_func(self, prompt: str, cancellation_token: CancellationToken | None = None) -> str:
        """AutoGen's async input_func signature."""
        request_id = _autogen_request_id()
        from_agent = request_id is not None
        if request_id is None:  # called by user code outside a UserProxyAgent
            request_id = str(uuid.uuid4())
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        if cancellation_token is not None:
            cancellation_token.link_future(answer)
        try:
            if from_agent:
                await self._wait_for_event(request_id, answer)
            if not answer.done():
                ev: dict[str, Any] = {
                    "ev": "input_request",
                    "run": self._key,
                    "request_id": request_id,
                    "prompt": prompt,
                }
                asker = self._askers.get(request_id)
                if asker is not None and self._continuable is not None and self._continuable(asker):
                    ev["source"] = asker
                await self._emit(ev)
            return await answer
        finally:
            self._pending.pop(request_id, None)
            self._emitted_events.pop(request_id, None)
            self._askers.pop(request_id, None)

    async def _wait_for_event(self, request_id: str, answer: asyncio.Future[str]) -> None:
        """The protocol promises the UserInputRequestedEvent item precedes the
        input_request. A single agent's stream is pulled lazily, so the event
        is already out when the agent calls us; a team's agents run ahead of
        the stream (and of credit), so we wait for the event to be sent. The
        grace period keeps a custom agent that never surfaces the event from
        blocking forever."""
        seen = self._emitted_events.setdefault(request_id, asyncio.Event())
        if seen.is_set():
            return
        waiter = asyncio.ensure_future(seen.wait())
        either: set[asyncio.Future[Any]] = {waiter, answer}
        try:
            done, _ = await asyncio.wait(either, timeout=ORDER_GRACE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                log.warning("run %s: input request %s sent before its event (no credit?)", self._key, request_id)
        finally:
            waiter.cancel()

    def event_emitted(self, request_id: str, source: str) -> None:
        """The run sent a UserInputRequestedEvent item with this id, from
        the agent named source."""
        self._askers[request_id] = source
        self._emitted_events.setdefault(request_id, asyncio.Event()).set()

    def asker(self, request_id: str) -> str | None:
        """The name of the agent whose request this is, while it is pending
        and its UserInputRequestedEvent has been sent."""
        return self._askers.get(request_id) if request_id in self._pending else None

    def answer(self, request_id: str, content: str) -> None:
        future = self._pending.get(request_id)
        if future is None or future.done():
            log.debug("run %s: no pending input request %s", self._key, request_id)
            return
        if lone_surrogate(content) is not None:
            # JSON can carry "\ud800", Unicode cannot: the agent's message
            # would fail to serialize and end the run. U+FFFD instead, as
            # any UTF-8 decoder would.
            log.debug("run %s: lone surrogates in the answer to %s replaced by U+FFFD", self._key, request_id)
            content = replace_lone_surrogates(content)
        future.set_result(content)

    def fail(self, request_id: str, message: str) -> None:
        future = self._pending.get(request_id)
        if future is None or future.done():
            log.debug("run %s: no pending input request %s", self._key, request_id)
            return
        future.set_exception(InputFailed(message))

    def cancel_all(self) -> None:
        # A team's input function runs in AutoGen's runtime, not in the run's
        # task, so cancelling the run's task alone would not reach it.
        for future in self._pending.values():
            future.cancel()


def _autogen_request_id() -> str | None:
    try:
        return UserProxyAgent.InputRequestContext.request_id()
    except RuntimeError:
        return None


def inject_input_func(root: object, input_func: Callable[..., Awaitable[str]]) -> list[str]:
    """Give every console-reading UserProxyAgent in root (an agent or a team,
    nested teams and SocietyOfMindAgents included) the bridge's input
    function. Returns the names of the agents changed."""
    injected: list[str] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, UserProxyAgent):
            if node.input_func is cancellable_input:
                node.input_func = input_func
                node._is_async = True  # what UserProxyAgent.__init__ derives from iscoroutinefunction
                injected.append(node.name)
        elif isinstance(node, BaseGroupChat):
            stack.extend(node._participants)
        elif isinstance(node, SocietyOfMindAgent):
            stack.append(node._team)
    return injected
