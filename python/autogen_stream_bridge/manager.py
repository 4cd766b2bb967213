"""Routes ops to runs and owns every task the worker starts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine

from .counters import Counters
from .factory import Factory
from .protocol import Op, StatsEv
from .run import CANCEL_GRACE_SECONDS, Run, Send

log = logging.getLogger(__name__)


class RunManager:
    def __init__(self, factory: Factory, send: Send) -> None:
        self._factory = factory
        self._send = send
        self.counters = Counters()
        # Runs that have not sent their terminal event yet.
        self.runs: dict[str, Run] = {}
        # Strong references: the loop only keeps weak ones, and shutdown must
        # be able to wait for runs that are still cleaning up after `end`.
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, op: Op) -> None:
        """Handle one op. Never awaits, so a slow run cannot hold up stdin."""
        if op["op"] == "start":
            if op["run"] in self.runs:
                log.error("start for run %s, which is still active: ignored", op["run"])
                return
            run = Run(op, self._factory, self._send, self.counters, self._forget, self._spawn)
            self.runs[run.run_id] = run
            self.counters.started_total += 1
            run.start()
        elif op["op"] == "stats":
            self._spawn(self._reply(self.stats(op["id"])))
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

    def stats(self, request_id: Any) -> StatsEv:
        return {
            "ev": "stats",
            "id": request_id,
            "active": len(self.runs),
            "runs": {run_id: run.stats() for run_id, run in self.runs.items()},
            "pulled_total": self.counters.pulled_total,
            "started_total": self.counters.started_total,
            "cancelled": list(self.counters.cancelled),
        }

    async def shutdown(self) -> None:
        """Cancel every run and wait (bounded) for them to unwind."""
        for run in list(self.runs.values()):
            run.cancel()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=CANCEL_GRACE_SECONDS + 1)
            for task in still:
                task.cancel()

    async def _reply(self, ev: StatsEv) -> None:
        await self._send(ev)

    def _forget(self, run: Run) -> None:
        self.runs.pop(run.run_id, None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reaped)
        return task

    def _reaped(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker task failed", exc_info=task.exception())
