"""One run: factory call, credit-gated pulling of run_stream(), cancel, stop.

Invariant: a run sends exactly one terminal event (end, cancelled or error)
and nothing after it. ``_closed`` is set synchronously at the moment the
terminal outcome is decided, and every send checks it first.

A run is known by its key (``run`` on the wire), which the server made and
which is unique there; ``run_id`` is the client's runId, only informational.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import ExternalTermination
from autogen_agentchat.messages import UserInputRequestedEvent
from autogen_core import CancellationToken

from .convert import BadTask, check_options, item_to_raw_json, task_from_json
from .counters import Counters
from .errors import (
    CLIENT_MESSAGE_LIMIT,
    FACTORY_ERROR_MESSAGE,
    TASK_ERROR_MESSAGE,
    cap,
    cap_client_message,
    describe,
    find_run_error,
)
from .factory import Factory, FactoryError, RunRequest
from .input import InputBroker, inject_input_func
from .interrupt import continuable, continue_with
from .limits import DEFAULT_LIMITS, Limits
from .protocol import ErrorCode, LineTooLong, RunStats, StartOp, StateErrorEv, ThreadAnswer, error_ev
from .termination import attach_external_termination

log = logging.getLogger(__name__)

YIELD_EVERY = 64

# How long a cancelled run may take to unwind AutoGen (its finally blocks,
# a team's runtime shutdown) before `cancelled` is sent regardless.
CANCEL_GRACE_SECONDS = 5.0

STATE_FAILED_MESSAGE = "The thread's state could not be saved; the thread keeps its previous state"

Send = Callable[[Mapping[str, Any]], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class ChunkSink(Protocol):
    """Where one run's plain streaming chunks go instead of an ``item`` line
    each: the stdio worker's ``chunks`` lines (chunks.ChunkLines), queued in
    call order with everything else the run sends."""

    def add(self, item: object) -> bool | None:
        """Queue item if it is a plain chunk (as convert.plain_chunk tells): True when
        the caller must await drain() before more, False when not; None (and
        nothing queued) for any other item. Raises LineTooLong, queueing
        nothing, for a chunk whose line alone would exceed the line limit."""
        ...

    async def drain(self) -> None: ...


# Makes a run's ChunkSink, given its key.
ChunkSinks = Callable[[str], ChunkSink]


class Run:
    def __init__(
        self,
        op: StartOp,
        factory: Factory,
        send: Send,
        counters: Counters,
        on_done: Callable[[Run], None],
        spawn: Spawn,
        limits: Limits = DEFAULT_LIMITS,
        chunks: ChunkSinks | None = None,
        compact: bool = True,
    ) -> None:
        self.key = op["run"]
        self.run_id = op.get("run_id", self.key)
        self.credit = 0
        self.pulled = 0
        self._op = op
        self._factory = factory
        self._send = send
        self._counters = counters
        self._on_done = on_done
        self._spawn = spawn
        self._limits = limits
        # Plain chunks go to the sink (stdio), else as compact items (Redis).
        self._chunks = chunks(self.key) if chunks is not None else None
        self._compact = compact
        self._token = CancellationToken()
        self._credit_available = asyncio.Event()
        self._closed = False
        self._cancelling = False
        self._stop_requested = False
        self._target: object | None = None
        self._external: ExternalTermination | None = None
        self._driver: asyncio.Task[None] | None = None
        # A thread's run (docs/bridge.md, Threads): its state is loaded
        # before run_stream() and sent back (``state``) once it is over.
        thread = op.get("thread")
        self._thread: dict[str, Any] | None = thread if isinstance(thread, dict) else None
        # Only a thread's run can be interrupted (its state is what goes on).
        self.input = InputBroker(self.key, self._emit, self._continuable if self._thread is not None else None)
        # A run that continues an interrupted one: the answer, as the asker's reply (interrupt.py).
        self._answer_message: Any = None

    # Ops ------------------------------------------------------------------

    def start(self) -> None:
        self._driver = self._spawn(self._drive())

    def add_credit(self, n: int) -> None:
        self.credit += n
        self._credit_available.set()

    def cancel(self) -> None:
        if self._closed:
            return
        self._counters.cancelled.append(self.key)
        self._abort({"ev": "cancelled", "run": self.key})

    def abort(self, code: ErrorCode, message: str, detail: str | None = None) -> None:
        """End the run from outside (a duplicate start, an unreadable line
        for it) with an error event as its one terminal event."""
        if self._closed:
            return
        self._abort(error_ev(self.key, code, message, detail))

    def _abort(self, terminal: Mapping[str, Any]) -> None:
        self._cancelling = True
        # Closed first: from here on the run itself sends nothing, so the
        # terminal event below is the last one for this key.
        self._close()
        # The token reaches AutoGen's own awaits (model calls, a team's output
        # queue, the input function); cancelling our task covers a run that
        # is waiting for credit or a stream that ignores the token.
        self._token.cancel()
        self.input.cancel_all()
        self._spawn(self._finish_cancel(terminal))

    def interrupt(self, request_id: str) -> None:
        """Node's holdInputFor passed for this input request: end the run
        where it waits, keeping its state (``interrupted``), so that it holds
        no worker until the answer comes, in a later run of its thread."""
        if self._closed:
            return
        if self._thread is None or self.input.asker(request_id) is None:
            # Not a question it could go on from (Node asks only for those
            # whose input_request named their source): it cannot be held.
            log.warning("run %s: interrupt for input request %s, which it cannot hold: cancelled", self.key, request_id)
            self.cancel()
            return
        log.debug("run %s: interrupted at input request %s", self.key, request_id)
        self._abort({"ev": "interrupted", "run": self.key, "request_id": request_id})

    def _continuable(self, source: str) -> bool:
        return self._target is not None and continuable(self._target, source)

    def stop(self) -> None:
        if self._closed:
            return
        if self._external is not None:
            log.info("run %s: external termination set", self.key)
            self._external.set()
        elif self._target is None:
            self._stop_requested = True  # the factory is still running
        else:
            # A single agent has no turn boundary to stop at.
            self.cancel()

    def stats(self) -> RunStats:
        return {"run_id": self.run_id, "pulled": self.pulled, "credit": self.credit}

    # Driving --------------------------------------------------------------

    async def _drive(self) -> None:
        stream: AsyncIterator[Any] | None = None
        try:
            try:
                # Before the factory: a task the run cannot use (or images
                # too large to decode, or text that is not Unicode) must
                # cost nothing but these checks.
                task = task_from_json(self._op["task"], self._limits)
                options = check_options(self._op.get("options"))
            except BadTask as e:
                # About the client's own task, so meant for the client.
                text = str(e)
                detail = text if len(text) > CLIENT_MESSAGE_LIMIT else None
                await self._fail(e.code, cap_client_message(text), detail)
                return
            identity = self._op.get("identity")
            request = RunRequest(
                run_id=self.run_id,
                task=self._op["task"],
                options=options,
                key=self.key,
                identity=identity if isinstance(identity, dict) else {},
            )
            target = await self._factory.create(request, self.input.input_func)
            injected = inject_input_func(target, self.input.input_func)
            if injected:
                log.debug("run %s: bridge input function given to %s", self.key, injected)
            self._external = attach_external_termination(target)
            if self._thread is not None and not await self._load_state(target):
                return
            if self._answer_message is not None:
                task = self._answer_message
            self._target = target
            if self._stop_requested:
                self._stop_requested = False
                self.stop()
                if self._closed:
                    return
            stream = await _open_stream(target, task, self._token)
            await self._pump(stream)
        except FactoryError as e:
            log.debug("run %s: factory failed", self.key, exc_info=True)
            await self._fail_with(e, "AGS_FACTORY_ERROR", FACTORY_ERROR_MESSAGE)
        except asyncio.CancelledError as e:
            if self._cancelling:
                raise
            # Nobody cancelled this run: AutoGen cancelled something itself.
            await self._fail_with(e, "AGS_TASK_ERROR", TASK_ERROR_MESSAGE)
        except Exception as e:
            log.debug("run %s failed", self.key, exc_info=True)
            await self._fail_with(e, "AGS_TASK_ERROR", TASK_ERROR_MESSAGE)
        finally:
            if stream is not None:
                await _close_stream(self.key, stream)
            log.debug("run %s: unwound", self.key)

    async def _pump(self, stream: AsyncIterator[Any]) -> None:
        chunks = self._chunks
        while True:
            # Backpressure: without credit we do not touch the stream, so a
            # single agent's model stream is not read further.
            while self.credit <= 0:
                self._credit_available.clear()
                await self._credit_available.wait()
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                log.warning("run %s: run_stream() ended without a TaskResult", self.key)
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
            try:
                if chunks is not None and not self._closed:
                    # The per-token path: a plain chunk joins the run's open
                    # `chunks` line; no item line, no pydantic.
                    wait = chunks.add(item)
                    if wait is not None:
                        if wait:
                            await chunks.drain()
                        continue
                await self._emit({"ev": "item", "run": self.key, "item": item_to_raw_json(item, self._compact)})
            except LineTooLong as e:
                # Not written, and the stream cannot skip it silently: the
                # client would miss an item without knowing. A team's agents
                # must stop too: closing its stream waits for its runtime to
                # go idle, which a team left running may never do.
                self._token.cancel()
                self.input.cancel_all()
                await self._fail(
                    "AGS_ITEM_TOO_LARGE",
                    f"An item of {e.size} bytes exceeds the bridge's line limit (maxLineBytes)",
                    f"{type(item).__name__} item line of {e.size} bytes; --max-line-bytes is {e.limit}",
                )
                return
            if isinstance(item, UserInputRequestedEvent):
                self.input.event_emitted(item.request_id, item.source)
            if isinstance(item, TaskResult):
                # The stream is closed (not drained) after this: AgentChat
                # yields nothing after its TaskResult.
                if self._thread is not None and not self._closed:
                    # Before `end`: Node takes the state as the run's, and
                    # the team has finished its turn, so the state is whole.
                    await self._save_state(self._emit)
                await self._end()
                return

    async def _finish_cancel(self, terminal: Mapping[str, Any]) -> None:
        driver = self._driver
        if driver is not None and not driver.done():
            driver.cancel()
            done, _ = await asyncio.wait({driver}, timeout=CANCEL_GRACE_SECONDS)
            if not done:
                log.warning("run %s: still unwinding %ss after cancel", self.key, CANCEL_GRACE_SECONDS)
                driver.cancel()
        if self._thread is not None and terminal.get("ev") in ("cancelled", "interrupted") and self._target is not None:
            if driver is None or driver.done():
                # The team has unwound (its runtime stopped), so save_state()
                # may run: the conversation up to the cancel is kept.
                await self._save_state(self._send)
            else:
                await self._send(
                    state_error_ev(
                        self.key,
                        "AGS_THREAD_STATE_FAILED",
                        STATE_FAILED_MESSAGE,
                        f"the run was still unwinding {CANCEL_GRACE_SECONDS}s after its cancel",
                    )
                )
        await send_terminal(self._send, terminal)

    # Threads --------------------------------------------------------------

    async def _load_state(self, target: Any) -> bool:
        """Check that the team can keep a thread's state and load the
        previous run's into it; False when the run has failed instead."""
        if not (callable(getattr(target, "save_state", None)) and callable(getattr(target, "load_state", None))):
            await self._fail(
                "AGS_THREAD_UNSUPPORTED",
                f"Threads are not supported: the factory's {type(target).__name__} has no "
                "save_state()/load_state() to keep a conversation's state",
            )
            return False
        assert self._thread is not None
        state = self._thread.get("state")
        answer: ThreadAnswer | None = self._thread.get("answer")
        if state is None and answer is None:
            return True  # the thread's first run
        if answer is not None:
            try:
                if not isinstance(state, dict):
                    raise ValueError("there is no saved state to answer in")
                state, self._answer_message = continue_with(target, state, answer)
            except ValueError as e:
                # The factory built another team than the one that asked.
                await self._fail(
                    "AGS_THREAD_STATE_FAILED", "The answer cannot continue the thread's saved state", describe(e)
                )
                return False
        try:
            await target.load_state(state)
        except Exception as e:
            log.debug("run %s: load_state failed", self.key, exc_info=True)
            await self._fail("AGS_THREAD_STATE_FAILED", "The thread's saved state could not be loaded", describe(e))
            return False
        return True

    async def _save_state(self, send: Send) -> None:
        """Send the team's state (``state``), or why it cannot be
        (``state_error``): the run's outcome stays its own either way."""
        target = self._target
        try:
            state = await target.save_state()  # type: ignore[union-attr]
            await send({"ev": "state", "run": self.key, "state": state})
        except LineTooLong as e:
            await send(
                state_error_ev(
                    self.key,
                    "AGS_THREAD_STATE_TOO_LARGE",
                    f"The thread's state is {e.size} bytes, over the bridge's line limit (maxLineBytes): "
                    "it was not saved",
                )
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("run %s: the thread's state could not be saved: %s", self.key, describe(e))
            await send(state_error_ev(self.key, "AGS_THREAD_STATE_FAILED", STATE_FAILED_MESSAGE, describe(e)))

    # Sending ------------------------------------------------------------------

    async def _emit(self, ev: Mapping[str, Any]) -> None:
        if not self._closed:
            await self._send(ev)

    async def _end(self) -> None:
        if not self._closed:
            self._close()
            await send_terminal(self._send, {"ev": "end", "run": self.key})

    async def _fail(self, code: str, message: str, detail: str | None = None) -> None:
        if not self._closed:
            self._close()
            await send_terminal(self._send, error_ev(self.key, code, message, detail))

    async def _fail_with(self, exc: BaseException, code: ErrorCode, message: str) -> None:
        """A RunError (raised, wrapped, or turned into text by a team) keeps
        its own code and message; anything else gets the generic message,
        and its text goes to detail only."""
        run_error = find_run_error(exc)
        if run_error is not None:
            await self._fail(run_error.code, run_error.message)
            return
        # The factory's own exception says more than our wrapper of it.
        cause = exc.__cause__ if isinstance(exc, FactoryError) and exc.__cause__ is not None else exc
        await self._fail(code, message, describe(cause))

    def _close(self) -> None:
        self._closed = True
        self._on_done(self)


async def send_terminal(send: Send, ev: Mapping[str, Any]) -> None:
    """Send a run's terminal event, which must never be lost: an error whose
    message or detail makes the line too long is sent again cut short."""
    try:
        await send(ev)
    except LineTooLong as e:
        if ev.get("ev") != "error":
            log.error("run %s: terminal %s not sent: %s", ev.get("run"), ev.get("ev"), e)
            return
        detail = ev.get("detail")
        short = error_ev(
            ev["run"],
            ev["code"],
            cap_client_message(ev["message"]),
            cap(detail, 1000) if isinstance(detail, str) else None,
        )
        try:
            await send(short)
        except LineTooLong:
            log.error("run %s: error %s not sent: %s", ev.get("run"), ev.get("code"), e)


async def send_error(send: Send, run: str, code: ErrorCode, message: str, detail: str | None = None) -> None:
    await send_terminal(send, error_ev(run, code, message, detail))


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


async def _close_stream(key: str, stream: AsyncIterator[Any]) -> None:
    """Run the stream's finally blocks (a team shuts its runtime down there).
    Awaited in the run's own task: AgentChat's tracing spans use context
    variables that must be reset in the context that set them."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except asyncio.CancelledError:
        if _cancel_requested():
            raise
        # Not our task being cancelled: the run's token was (a refused item,
        # say), and a team's shutdown reports that as CancelledError.
        log.debug("run %s: run_stream() closed by its cancellation token", key)
    except Exception as e:  # cleanup must never mask the run's outcome
        log.debug("run %s: closing run_stream() raised %s: %s", key, type(e).__name__, e)


def _cancel_requested() -> bool:
    """Whether the current task itself was asked to cancel (Task.cancelling()
    is 3.11+; before that, assume it was, as the bridge always did)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or bool(cancelling())


def state_error_ev(run: str, code: ErrorCode, message: str, detail: str | None = None) -> StateErrorEv:
    ev: StateErrorEv = {"ev": "state_error", "run": run, "code": code, "message": message}
    if detail is not None:
        ev["detail"] = detail
    return ev
