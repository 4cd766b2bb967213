"""Routes ops to runs and owns every task the worker starts.

Runs are keyed by the server-made key (``run`` on the wire), never by the
client's runId: two clients may well pick the same runId."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from .counters import Counters
from .errors import describe
from .factory import Factory
from .limits import DEFAULT_LIMITS, Limits
from .protocol import ErrorCode, Op, PongEv, StatsEv, recover_target
from .run import CANCEL_GRACE_SECONDS, ChunkSinks, Run, Send, send_error
from .stdio import OversizedLine

log = logging.getLogger(__name__)

BAD_OP_MESSAGE = "The worker could not read a message for this run"
DUPLICATE_RUN_MESSAGE = "The run was started twice"


class RunManager:
    def __init__(
        self,
        factory: Factory,
        send: Send,
        limits: Limits = DEFAULT_LIMITS,
        chunks: ChunkSinks | None = None,
        compact: bool = True,
    ) -> None:
        """``chunks`` makes each run's sink for plain streaming chunks, which
        then go in batches (the stdio worker); without it they are ``item``s,
        compact unless ``compact`` is False (then every item is pydantic's
        whole JSON)."""
        self._factory = factory
        self._send = send
        self._limits = limits
        self._chunks = chunks
        self._compact = compact
        self.counters = Counters()
        # Runs that have not sent their terminal event yet, by key.
        self.runs: dict[str, Run] = {}
        # Strong references: the loop only keeps weak ones, and shutdown must
        # be able to wait for runs that are still cleaning up after `end`.
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, op: Op) -> None:
        """Handle one op. Never awaits, so a slow run cannot hold up stdin."""
        if op["op"] == "start":
            existing = self.runs.get(op["run"])
            if existing is not None:
                # Keys are unique, so Node's bookkeeping for this key is
                # broken: whichever run it now means, neither can be trusted.
                # The active run ends with this error as its one terminal
                # event, which also answers the second start.
                log.error(
                    "start for key %s (runId %r), which is still active: both refused",
                    op["run"],
                    op.get("run_id"),
                )
                existing.abort(
                    "AGS_DUPLICATE_RUN",
                    DUPLICATE_RUN_MESSAGE,
                    f"a start for key {op['run']!r} arrived while a run with that key was active",
                )
                return
            run = Run(
                op,
                self._factory,
                self._send,
                self.counters,
                self._forget,
                self._spawn,
                self._limits,
                self._chunks,
                self._compact,
            )
            self.runs[run.key] = run
            self.counters.started_total += 1
            run.start()
        elif op["op"] == "stats":
            self._spawn(self._reply(self.stats(op["id"])))
        elif op["op"] == "ping":
            # Answered here, from the stdin reader, whatever the runs are
            # doing: Node's heartbeat takes silence for a frozen worker.
            self._spawn(self._reply({"ev": "pong", "id": op["id"]}))
        elif op["op"] == "shutdown":
            pass  # the worker loop handles it
        else:
            target = self.runs.get(op["run"])
            if target is None:
                log.debug("%s for unknown or finished run %s: ignored", op["op"], op["run"])
            elif op["op"] == "credit":
                target.add_credit(op["n"])
            elif op["op"] == "cancel":
                target.cancel()
            elif op["op"] == "stop":
                target.stop()
            elif op["op"] == "input":
                target.input.answer(op["request_id"], op["content"])
            elif op["op"] == "input_error":
                target.input.fail(op["request_id"], op["message"])
            elif op["op"] == "interrupt":
                target.interrupt(op["request_id"])

    def stats(self, request_id: Any) -> StatsEv:
        return {
            "ev": "stats",
            "id": request_id,
            "active": len(self.runs),
            "runs": {key: run.stats() for key, run in self.runs.items()},
            "pulled_total": self.counters.pulled_total,
            "started_total": self.counters.started_total,
            "cancelled": list(self.counters.cancelled),
        }

    def reject_line(self, line: bytes, value: Any, exc: Exception) -> None:
        """A stdin line that could not be decoded or dispatched. It must not
        cost the worker (or any other run) anything; the run it names, if
        one can be told, ends with AGS_BAD_OP rather than waiting forever for
        whatever the line meant."""
        detail = describe(exc)
        self._fail_named(
            recover_target(value, line), "AGS_BAD_OP", BAD_OP_MESSAGE, detail, f"{type(exc).__name__}: {exc}", line
        )

    def line_too_long(self, line: OversizedLine) -> None:
        """A stdin line over --max-line-bytes was skipped unread."""
        detail = f"stdin line of {line.size} bytes; --max-line-bytes is {self._limits.max_line_bytes}"
        self._fail_named(
            recover_target(None, line.prefix),
            "AGS_LINE_TOO_LONG",
            f"A message of {line.size} bytes for this run exceeds the bridge's line limit (maxLineBytes)",
            detail,
            detail,
            line.prefix,
        )

    def _fail_named(
        self,
        target: tuple[str | None, str] | None,
        code: ErrorCode,
        message: str,
        detail: str,
        reason: str,
        line: bytes,
    ) -> None:
        op, key = target if target is not None else (None, None)
        run = self.runs.get(key) if key is not None else None
        if run is not None:
            log.warning("run %s: ending it with %s; its %s line failed: %s", key, code, op, reason)
            run.abort(code, message, detail)
        elif op == "start" and key is not None:
            # The run never became active, but Node is waiting for it.
            log.warning("run %s: refusing its start with %s: %s", key, code, reason)
            self._spawn(send_error(self._send, key, code, message, detail))
        else:
            log.warning("ignoring stdin line (%s): %.200r", reason, line)

    async def shutdown(self) -> None:
        """Cancel every run and wait (bounded) for them to unwind."""
        for run in list(self.runs.values()):
            run.cancel()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=CANCEL_GRACE_SECONDS + 1)
            for task in still:
                task.cancel()

    async def _reply(self, ev: StatsEv | PongEv) -> None:
        await self._send(ev)

    def _forget(self, run: Run) -> None:
        self.runs.pop(run.key, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reaped)
        return task

    def _reaped(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker task failed", exc_info=task.exception())
