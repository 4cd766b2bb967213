"""One run: factory call, credit-gated pulling of run_stream(), cancel, stop.

Invariant: a run sends exactly one terminal event (end, cancelled or error)
and nothing after it. ``_closed`` is set synchronously at the moment the
terminal outcome is decided, and every send checks it first.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Mapping

from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.messages import UserInputRequestedEvent
from autogen_core import CancellationToken

from .convert import BadTask, task_from_json, item_to_raw_json
from .counters import Counters
from .factory import Factory, FactoryError, RunRequest
from .input import InputBroker, inject_input_func
from .protocol import ErrorCode, RunStats, StartOp
from .termination import attach_external_termination

log = logging.getLogger(__name__)

YIELD_EVERY = 64

# How long a cancelled run may take to unwind AutoGen (its finally blocks,
# a team's runtime shutdown) before `cancelled` is sent regardless.
CANCEL_GRACE_SECONDS = 5.0

Send = Callable[[Mapping[str, Any]], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class Run:
    def __init__(
        self,
        op: StartOp,
        factory: Factory,
        send: Send,
        counters: Counters,
        on_done: Callable[[Run], None],
        spawn: Spawn,
    ) -> None:
        self.run_id = op["run"]
        self.credit = 0
        self.pulled = 0
        self._op = op
        self._factory = factory
        self._send = send
        self._counters = counters
        self._on_done = on_done
        self._spawn = spawn
        self._token = CancellationToken()
        self._credit_available = asyncio.Event()
        self._closed = False
        self._cancelling = False
        self._stop_requested = False
        self._target: object | None = None
        self._external: ExternalTermination | None = None
        self._driver: asyncio.Task[None] | None = None
        self.input = InputBroker(self.run_id, self._emit)

    # Ops ------------------------------------------------------------------

    def start(self) -> None:
        self._driver = self._spawn(self._drive())

    def add_credit(self, n: int) -> None:
        self.credit += n
        self._credit_available.set()

    def cancel(self) -> None:
        if self._closed:
            return
        self._cancelling = True
        self._close()
        self._counters.cancelled.append(self.run_id)
        # The token reaches AutoGen's own awaits (model calls, a team's output
        # queue, the input function); cancelling our task covers a run that
        # is waiting for credit or a stream that ignores the token.
        self._token.cancel()
        self.input.cancel_all()
        self._spawn(self._finish_cancel())

    def stop(self) -> None:
        if self._closed:
            return
        if self._external is not None:
            log.info("run %s: external termination set", self.run_id)
            self._external.set()
        elif self._target is None:
            self._stop_requested = True  # the factory is still running
        else:
            # A single agent has no turn boundary to stop at.
            self.cancel()

    def stats(self) -> RunStats:
        return {"pulled": self.pulled, "credit": self.credit}

    # Driving --------------------------------------------------------------

    async def _drive(self) -> None:
        stream: AsyncIterator[Any] | None = None
        try:
            try:
                task = task_from_json(self._op["task"])
                options = self._op.get("options")
                if options is None:
                    options = {}
                if not isinstance(options, dict):
                    raise BadTask("options must be a JSON object")
            except BadTask as e:
                await self._fail("BAD_REQUEST", str(e))
                return
            request = RunRequest(run_id=self.run_id, task=self._op["task"], options=options)
            try:
                target = await self._factory.create(request, self.input.input_func)
            except FactoryError as e:
                await self._fail("FACTORY_ERROR", str(e))
                return
            injected = inject_input_func(target, self.input.input_func)
            if injected:
                log.debug("run %s: bridge input function given to %s", self.run_id, injected)
            self._external = attach_external_termination(target)
            self._target = target
            if self._stop_requested:
                self._stop_requested = False
                self.stop()
                if self._closed:
                    return
            stream = await _open_stream(target, task, self._token)
            await self._pump(stream)
        except FactoryError as e:
            await self._fail("FACTORY_ERROR", str(e))
        except asyncio.CancelledError as e:
            if self._cancelling:
                raise
            # Nobody cancelled this run: AutoGen cancelled something itself.
            await self._fail("TASK_ERROR", f"CancelledError: {e}")
        except Exception as e:
            log.debug("run %s failed", self.run_id, exc_info=True)
            await self._fail("TASK_ERROR", f"{type(e).__name__}: {e}")
        finally:
            if stream is not None:
                await _close_stream(self.run_id, stream)

    async def _pump(self, stream: AsyncIterator[Any]) -> None:
        while True:
            # Backpressure: without credit we do not touch the stream, so a
            # single agent's model stream is not read further.
            while self.credit <= 0:
                self._credit_available.clear()
                await self._credit_available.wait()
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                log.warning("run %s: run_stream() ended without a TaskResult", self.run_id)
                await self._end()
                return
            self.pulled += 1
            self._counters.pulled_total += 1
            self.credit -= 1
            if self.pulled % YIELD_EVERY == 0:
                # A stream that never suspends (the replay client, a cached
                # model) would otherwise keep this loop from reading stdin:
                # no cancel, no credit, no other run would get a turn.
                await asyncio.sleep(0)
            await self._emit({"ev": "item", "run": self.run_id, "item": item_to_raw_json(item)})
            if isinstance(item, UserInputRequestedEvent):
                self.input.event_emitted(item.request_id)
            if isinstance(item, TaskResult):
                # The stream is closed (not drained) after this: AgentChat
                # yields nothing after its TaskResult.
                await self._end()
                return

    async def _finish_cancel(self) -> None:
        driver = self._driver
        if driver is not None and not driver.done():
            driver.cancel()
            done, _ = await asyncio.wait({driver}, timeout=CANCEL_GRACE_SECONDS)
            if not done:
                log.warning("run %s: still unwinding %ss after cancel", self.run_id, CANCEL_GRACE_SECONDS)
                driver.cancel()
        await self._send({"ev": "cancelled", "run": self.run_id})

    # Sending ------------------------------------------------------------------

    async def _emit(self, ev: Mapping[str, Any]) -> None:
        if not self._closed:
            await self._send(ev)

    async def _end(self) -> None:
        if not self._closed:
            self._close()
            await self._send({"ev": "end", "run": self.run_id})

    async def _fail(self, code: ErrorCode, message: str) -> None:
        if not self._closed:
            self._close()
            await self._send({"ev": "error", "run": self.run_id, "code": code, "message": message})

    def _close(self) -> None:
        self._closed = True
        self._on_done(self)


async def _open_stream(target: Any, task: Any, token: CancellationToken) -> AsyncIterator[Any]:
    stream = target.run_stream(task=task, cancellation_token=token)
    # Tolerate a run_stream() that is a coroutine returning an async iterable.
    if inspect.isawaitable(stream) and not hasattr(stream, "__anext__"):
        stream = await stream
    if not hasattr(stream, "__anext__") and hasattr(stream, "__aiter__"):
        stream = stream.__aiter__()
    if not hasattr(stream, "__anext__"):
        raise FactoryError(f"run_stream() returned {type(stream).__name__}, not an async iterator")
    return stream  # type: ignore[no-any-return]


async def _close_stream(run_id: str, stream: AsyncIterator[Any]) -> None:
    """Run the stream's finally blocks (a team shuts its runtime down there).
    Awaited in the run's own task: AgentChat's tracing spans use context
    variables that must be reset in the context that set them."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except asyncio.CancelledError:
        raise
    except Exception as e:  # cleanup must never mask the run's outcome
        log.debug("run %s: closing run_stream() raised %s: %s", run_id, type(e).__name__, e)
