"""A worker host: runs AutoGen runs requested through Redis Streams.

    python -m autogen_stream_bridge.redis_host --redis redis://host:6379 \\
        --factory module:callable --concurrency 4

docs/redis.md in the Node package is the contract with the gateways. The
host is the worker's RunManager (the same runs, credit, cancel, stop and
input as over stdio) with Redis in place of stdin and stdout:

    requests stream ──claim──▶ start op ──▶ RunManager ──evs──▶ frames ──▶ run:K:log
    run:K:ctl (cancel, stop, input, ack) ──▶ ops        credit ◀── readers' positions

Tasks of one host, all on one event loop:

- claim: XREADGROUP on the requests stream (group `hosts`) only while a slot
  is free, XAUTOCLAIM for requests another host read and never started;
- writer: the frames of every run, one pipelined round trip per loop turn
  (one APPEND script call per run: frames, the terminal bookkeeping, the
  readers' base for credit, the trim);
- control: one XREAD BLOCK over the ctl streams of all the host's runs;
- heartbeat: SET host:<id> PX ttl.

A thread's run (docs/redis.md, Threads): its gateway claimed the thread and
named its record in the run's meta (``thread``). The host loads the saved
state from the record before the run starts (the RunManager's run loads it
into the team and sends the team's state back when it ends, as over stdio:
run.py), and its APPEND of the terminal frame ends the run in the record
(state, usage, run summary) in the same step.

Interrupted input (docs/redis.md, Threads): the host holds a thread run's
input request for the gateway's holdInputFor (the spec's ``thread``), as
Node's run.ts does in-process, and only a request the run could go on from
(its input_request ev names the asking UserProxyAgent). Then the request
leaves the run's ``inputs`` (SREM: whichever of it and a gateway's ANSWER
comes first wins) and the run is interrupted (``interrupt``, run.py): its
state, then the ``interrupted`` frame, whose APPEND keeps the question
(``pending``) in the record with the state. A later start that answers it
brings the answer in its spec; the run continues from the state as over
stdio (run.py, interrupt.py).

Redis errors are logged and retried with backoff; runs go on (as far as their
credit lets them) while Redis is away. Nothing is ever written to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import itertools
import json
import logging
import os
import random
import signal
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, cast

try:
    from redis import asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import NoScriptError, RedisError, ResponseError
except ModuleNotFoundError as e:  # pragma: no cover - depends on the install
    raise SystemExit(
        "autogen_stream_bridge.redis_host needs redis-py: pip install 'autogen-stream-bridge[redis]'"
    ) from e

from .limits import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_LINE_BYTES, MIN_LINE_BYTES, Limits
from .protocol import ThreadAnswer, dumps, error_ev
from .redis_frames import (
    INTERRUPT_FAILED_CODE,
    STATE_FAILED_CODE,
    STATE_TOO_LARGE_CODE,
    STOPPED_CODE,
    STOPPED_MESSAGE,
    Frame,
    RunFrames,
    encode_frame,
    interrupt_failed_message,
    state_failed_message,
    state_too_large_message,
)
from .redis_keys import DEFAULT_PREFIX, GROUP, RunKeys, host_key, requests_key
from .redis_scripts import APPEND, CLAIM
from .worker import LOG_LEVEL_ENV, _at_least, _hide_cancellation_tracebacks, run_in_new_loop

if TYPE_CHECKING:
    from .factory import Factory
    from .manager import RunManager
    from .protocol import Op, StartOp

log = logging.getLogger("autogen_stream_bridge.redis_host")

# The gateway's defaults (lib/options.ts), for a spec that leaves retain out.
DEFAULT_RETAIN_EVENTS = 1024
DEFAULT_RETAIN_BYTES = 1024 * 1024
DEFAULT_RETAIN_AFTER_END = 60_000
DEFAULT_LAG = 256
# The longest a blocking XREAD on the ctl streams waits before it is issued
# again (with the streams of runs started meanwhile).
CTL_BLOCK_MS = 300
# Frames of one run in one APPEND call; the rest go in the next turn.
MAX_FRAMES_PER_CALL = 512
# How often a run that has no credit left re-reads its readers' positions
# even without an ack (a reader that died no longer holds it back).
STALL_CHECK_SECONDS = 1.0
# Requests claimed concurrently (a round trip each).
CLAIMS_AT_ONCE = 16
# After SIGTERM: how long cancelled runs get to unwind and write their frames.
SHUTDOWN_GRACE_SECONDS = 10.0
# Redis calls of a host that is shutting down, when Redis may be gone.
SHUTDOWN_CALL_SECONDS = 2.0
# After SIGTERM, the host exits by this time whatever it still waits for
# (its runs' grace, its last Redis calls, and a margin): a shutdown that
# hangs (a loop that never sees its cancel) must not keep the process.
SHUTDOWN_DEADLINE_SECONDS = SHUTDOWN_GRACE_SECONDS + SHUTDOWN_CALL_SECONDS + 2.0
BAD_REQUEST_MESSAGE = "The run request could not be read"
# As run.py's, for a saved state that cannot be used.
STATE_NOT_LOADED_MESSAGE = "The thread's saved state could not be loaded"
# The gateway's default maxThreadStateBytes (lib/options.ts), for a spec that leaves it out.
DEFAULT_MAX_STATE_BYTES = 1024 * 1024
# Why the gateways cancel (lib/schemas/frames.ts CANCEL_REASONS).
DEFAULT_CANCEL_REASON = "client"
SHUTDOWN_REASON = "shutdown"

REDIS_ERRORS = (RedisError, OSError)


@dataclass(frozen=True)
class HostOptions:
    redis_url: str
    factory: str
    concurrency: int
    prefix: str = DEFAULT_PREFIX
    host_id: str = ""
    claim_after_ms: int = 5000
    heartbeat_ms: int = 1000
    heartbeat_ttl_ms: int = 3000
    reader_ttl_ms: int = 10_000
    limits: Limits = field(default_factory=Limits)
    # Stop (as on SIGTERM) once this process is no longer our parent: a host
    # started by a supervisor that died does not live on unsupervised.
    parent_pid: int = 0


@dataclass(frozen=True)
class Retain:
    """A spec's `retain`: what the gateway wants kept, and the lag bound."""

    events: int = DEFAULT_RETAIN_EVENTS
    bytes: int = DEFAULT_RETAIN_BYTES
    after_end: int = DEFAULT_RETAIN_AFTER_END
    lag: int = DEFAULT_LAG
    # Milliseconds a run may go with no live reader before it is cancelled
    # (`abandoned`); 0: never (the gateway's detachTimeout, onDisconnect 'continue').
    detach: int = 0

    @classmethod
    def parse(cls, value: Any) -> Retain:
        if not isinstance(value, Mapping):
            return cls()

        def number(name: str, default: int, minimum: int) -> int:
            n = value.get(name)
            if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or n < minimum:
                return default
            return int(min(n, 2**53))

        return cls(
            events=number("events", DEFAULT_RETAIN_EVENTS, 0),
            bytes=number("bytes", DEFAULT_RETAIN_BYTES, 0),
            after_end=number("afterEnd", DEFAULT_RETAIN_AFTER_END, 0),
            lag=number("lag", DEFAULT_LAG, 1),
            detach=number("detach", 0, 0),
        )


class BadThreadSpec(ValueError):
    """A spec's `thread` whose answer cannot be read: the run cannot go on
    from its question, and must not run as something else."""


@dataclass(frozen=True)
class ThreadSpec:
    """A spec's `thread`: {id, maxStateBytes, holdInputFor, answer?}. Which
    thread it is comes from the run's meta (its gateway's record key), not
    from here: `id` is only what the `interrupted` frame shows."""

    id: str = ""
    max_state_bytes: int = DEFAULT_MAX_STATE_BYTES
    # Milliseconds an input request the run could go on from waits before
    # the run is interrupted there (the gateway's holdInputFor); None: never
    # (holdInputFor Infinity, which JSON writes as null, or a gateway that
    # does not say).
    hold_input_for: float | None = None
    # A start that answers the question the thread's state waits at (the
    # record's `pending`, which its gateway's THREAD_START checked): the
    # answer as run.py takes it, the asker's name being the question's source.
    answer: ThreadAnswer | None = None

    @classmethod
    def parse(cls, value: Any) -> ThreadSpec:
        """Raises BadThreadSpec for an answer that is not {requestId,
        content, prompt, source?} of strings."""
        if not isinstance(value, Mapping):
            return cls()
        thread_id = value.get("id")
        limit = value.get("maxStateBytes")
        hold = value.get("holdInputFor")
        answer: ThreadAnswer | None = None
        raw = value.get("answer")
        if raw is not None:
            source = raw.get("source", "") if isinstance(raw, Mapping) else None
            if not (
                isinstance(raw, Mapping)
                and all(isinstance(raw.get(f), str) for f in ("requestId", "content", "prompt"))
                and isinstance(source, str)
            ):
                raise BadThreadSpec("thread.answer is not {requestId, content, prompt, source?} of strings")
            # As Node's channel.ts: the source is always known for a question a run was interrupted at.
            answer = {"request_id": raw["requestId"], "content": raw["content"], "source": source}
        return cls(
            id=thread_id if isinstance(thread_id, str) else "",
            max_state_bytes=limit
            if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 2
            else DEFAULT_MAX_STATE_BYTES,
            hold_input_for=float(hold)
            if isinstance(hold, (int, float)) and not isinstance(hold, bool) and 0 <= hold < float("inf")
            else None,
            answer=answer,
        )


class Sizes:
    """Bytes of a run's frames by seq, as running totals, to find how much
    of the read tail `retain.bytes` keeps (as the Node memory log does)."""

    def __init__(self, first: int = 1) -> None:
        self._first = first  # the seq whose size is _totals[1] - _totals[0]
        self._totals = [0]

    def add(self, seq: int, size: int) -> None:
        if seq != self._first + len(self._totals) - 1:
            return  # not contiguous (cannot happen): no byte bound rather than a wrong one
        self._totals.append(self._totals[-1] + size)

    def floor(self, base: int, limit: int) -> int:
        """The lowest seq to keep so that the frames from it to base hold at
        most `limit` bytes; 0 when nothing needs trimming for bytes."""
        top = min(base - self._first + 1, len(self._totals) - 1)
        if top <= 0:
            return 0
        index = bisect.bisect_left(self._totals, self._totals[top] - limit, 0, top + 1)
        return self._first + index if index > 0 else 0

    def drop_below(self, seq: int) -> None:
        """Forget sizes of frames below seq (trimmed), now and then."""
        count = min(seq - self._first, len(self._totals) - 1)
        if count > 1024 and count * 2 > len(self._totals):
            self._totals = self._totals[count:]
            self._first += count


class HostRun:
    """What the host knows of one of its runs."""

    def __init__(self, keys: RunKeys, run_id: str, retain: Retain, max_frame_bytes: int, head: int = 0) -> None:
        self.keys = keys
        self.run_id = run_id
        self.retain = retain
        self.frames = RunFrames(run_id, max_frame_bytes, head)
        # Made but not yet in the log, oldest first.
        self.pending: deque[Frame] = deque()
        self.head = head  # the last seq in the log (0: the gateway's `started`)
        self.base = 0  # the slowest live reader's position, as last read
        self.granted = 0  # credit given to the run
        self.items = 0  # items it pulled
        self.ctl_last = "0-0"  # the last ctl entry read (0-0: read them all, even from before the start)
        self.cancel_reason: str | None = None
        self.stop_requested = False
        self.terminal_ev = False  # the RunManager sent the run's terminal ev
        self.lost = False  # another writer took the log (a gateway found this host dead)
        self.sizes = Sizes(head + 1)
        # When the run was last seen with no live reader (None: it has one).
        self.unattended_since: float | None = None
        # A thread's run: its record's key (None: no thread), the largest
        # state it may keep, the state to keep (JSON, UTF-8; None: none),
        # and its result frame, held until its state is in.
        self.thread: str | None = None
        self.max_state_bytes = DEFAULT_MAX_STATE_BYTES
        self.state: bytes | None = None
        self.held: Frame | None = None
        # Interrupts (a thread's run): its threadId (for the `interrupted`
        # frame), how long a request is held (ms; None: never), the requests
        # it could go on from (request id -> prompt, source), their hold
        # timers, and the request it was interrupted at (request id, prompt, source).
        self.thread_id = ""
        self.hold_input_for: float | None = None
        self.asking: dict[str, tuple[str, str]] = {}
        self.holds: dict[str, asyncio.TimerHandle] = {}
        self.interrupt: tuple[str, str, str] | None = None

    def keep_state(self, state: Any) -> None:
        """The team's state (a `state` ev), kept if it is JSON within
        maxStateBytes, as Node's run.ts keeps what saveState() is given;
        else the terminal frame's stateError says why."""
        try:
            data = encode_frame(dumps(state))
        except (TypeError, ValueError) as e:
            self.state = None
            self.frames.state_error = (STATE_FAILED_CODE, state_failed_message(f"it cannot be written as JSON ({e})"))
            return
        if len(data) > self.max_state_bytes:
            self.state = None
            self.frames.state_error = (STATE_TOO_LARGE_CODE, state_too_large_message(len(data), self.max_state_bytes))
            return
        self.state = data
        self.frames.state_error = None

    def pending_input(self) -> bytes:
        """The record's `pending` for the run's end: the question its state
        waits at, as JSON (Node's PendingInput); empty unless interrupted."""
        if self.interrupt is None:
            return b""
        request_id, prompt, source = self.interrupt
        return encode_frame(dumps({"requestId": request_id, "prompt": prompt, "source": source}))

    def stop_holding(self) -> None:
        """No request of the run is interrupted from now on."""
        for handle in self.holds.values():
            handle.cancel()
        self.holds.clear()

    @property
    def written(self) -> bool:
        """The run's terminal frame is in the log."""
        return self.frames.ended and not self.pending

    def room(self) -> int:
        """How many more items the run may pull: written - base < lag, with
        the credit already given counted as written."""
        outstanding = self.granted - self.items
        return self.base + self.retain.lag - self.frames.seq - outstanding


class Backoff:
    """Exponential, with jitter: 0.1 s doubling to 2 s."""

    def __init__(self, what: str, first: float = 0.1, cap: float = 2.0) -> None:
        self._what = what
        self._first = first
        self._cap = cap
        self._delay = 0.0

    async def failed(self, exc: BaseException) -> None:
        if self._delay == 0.0:
            log.warning("%s: Redis error (%s: %s); retrying with backoff", self._what, type(exc).__name__, exc)
            self._delay = self._first
        else:
            log.debug("%s: still failing: %s: %s", self._what, type(exc).__name__, exc)
            self._delay = min(self._delay * 2, self._cap)
        await asyncio.sleep(self._delay * (0.5 + random.random() / 2))

    def succeeded(self) -> None:
        if self._delay != 0.0:
            log.warning("%s: Redis is answering again", self._what)
            self._delay = 0.0


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else None


class Host:
    def __init__(self, options: HostOptions, factory: Factory, redis: aioredis.Redis) -> None:
        from .manager import RunManager

        self.options = options
        self.host_id = options.host_id or default_host_id()
        self.redis = redis
        self.manager: RunManager = RunManager(factory, self._send, options.limits)
        self.runs: dict[str, HostRun] = {}
        self._requests = requests_key(options.prefix)
        self._host_key = host_key(options.prefix, self.host_id)
        self._claim = redis.register_script(CLAIM)
        self._append_sha = hashlib.sha1(APPEND.encode()).hexdigest()
        self._dirty: dict[str, HostRun] = {}
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._runs_changed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stop = asyncio.Event()
        self._stopping = False
        # Requests read from the stream but not taken yet (a Redis error in between).
        self._backlog: deque[tuple[str, dict[bytes, bytes]]] = deque()
        self._claim_cursor = "0-0"
        self._taking: asyncio.Future[Any] | None = None
        self._last_autoclaim = 0.0
        # Interrupts under way (strong references: the loop keeps weak ones).
        self._interrupting: set[asyncio.Task[None]] = set()

    # Lifecycle -----------------------------------------------------------

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("host %s: shutting down", self.host_id)
        self._stop.set()

    async def run(self) -> None:
        log.info(
            "host %s: serving %s from %s (prefix %r, concurrency %d)",
            self.host_id,
            self.options.factory,
            _safe_url(self.options.redis_url),
            self.options.prefix,
            self.options.concurrency,
        )
        heartbeat = asyncio.ensure_future(_forever("heartbeat", self._heartbeat))
        writer = asyncio.ensure_future(_forever("writer", self._writer))
        control = asyncio.ensure_future(_forever("control", self._control))
        claim = asyncio.ensure_future(_forever("claim", self._claim_loop))
        await self._stop.wait()
        self._stopping = True
        claim.cancel()
        await asyncio.gather(claim, return_exceptions=True)
        if self._taking is not None:
            await asyncio.gather(self._taking, return_exceptions=True)
        for run in list(self.runs.values()):
            if not run.terminal_ev and run.cancel_reason is None:
                run.cancel_reason = SHUTDOWN_REASON
            self.manager.dispatch({"op": "cancel", "run": run.keys.key})
        try:
            await asyncio.wait_for(self._idle.wait(), SHUTDOWN_GRACE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("host %s: %d runs not ended in the log at shutdown", self.host_id, len(self.runs))
        await self.manager.shutdown()
        loops = [heartbeat, writer, control, *self._interrupting]
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        try:
            await asyncio.wait_for(self.redis.delete(self._host_key), SHUTDOWN_CALL_SECONDS)
        except (*REDIS_ERRORS, asyncio.TimeoutError) as e:
            log.warning("host %s: could not delete %s: %s", self.host_id, self._host_key, e)
        log.info("host %s: stopped", self.host_id)

    # Heartbeat -----------------------------------------------------------

    async def _heartbeat(self) -> None:
        about = {"pid": os.getpid(), "hostname": socket.gethostname(), "started": _now_ms()}
        failing = False
        while True:
            started = time.monotonic()
            # With the runs it holds now: what an operator (or a test) reads to see a slot freed.
            value = json.dumps({**about, "active": len(self.runs), "concurrency": self.options.concurrency})
            try:
                await self.redis.set(self._host_key, value, px=self.options.heartbeat_ttl_ms)
                if failing:
                    log.warning("host %s: heartbeat: Redis is answering again", self.host_id)
                    failing = False
            except REDIS_ERRORS as e:
                if not failing:
                    log.warning("host %s: heartbeat failed: %s: %s", self.host_id, type(e).__name__, e)
                    failing = True
            if self.options.parent_pid and os.getppid() != self.options.parent_pid:
                log.warning("host %s: its parent (pid %d) is gone: stopping", self.host_id, self.options.parent_pid)
                self.request_stop()
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, self.options.heartbeat_ms / 1000 - elapsed))

    # Claiming requests -----------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff(f"host {self.host_id} requests")
        await self._ensure_group(backoff)
        autoclaim_every = max(0.1, self.options.claim_after_ms / 4000)
        block_ms = int(min(1000, autoclaim_every * 1000))
        while True:
            free = self.options.concurrency - len(self.runs)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                if not self._backlog:
                    entries: list[tuple[str, dict[bytes, bytes]]] = []
                    if time.monotonic() - self._last_autoclaim >= autoclaim_every:
                        entries = await self._autoclaim(free)
                    if not entries:
                        entries = await self._read_requests(free, block_ms)
                    self._backlog.extend(entries)
                # The free slots' requests are claimed together: one round
                # trip each, concurrently, not one after the other (a host
                # taking a hundred runs at once would start the last one
                # seconds late).
                batch: list[tuple[str, dict[bytes, bytes]]] = []
                while self._backlog and len(self.runs) + len(batch) < self.options.concurrency and not self._stopping:
                    batch.append(self._backlog.popleft())
                if batch:
                    # Shielded: a shutdown must not cut a claim off between
                    # meta.state running and the run's start (run() waits for it).
                    taking = asyncio.ensure_future(self._take_all(batch))
                    self._taking = taking
                    results = await asyncio.shield(taking)
                    failed: list[tuple[str, dict[bytes, bytes]]] = []
                    redis_error: BaseException | None = None
                    for entry, outcome in zip(batch, results, strict=True):
                        if isinstance(outcome, REDIS_ERRORS):
                            failed.append(entry)  # taken again after the backoff
                            redis_error = outcome
                        elif isinstance(outcome, BaseException):
                            log.error(
                                "host %s: request %s could not be started", self.host_id, entry[0], exc_info=outcome
                            )
                    if failed and redis_error is not None:
                        self._backlog.extendleft(reversed(failed))
                        raise redis_error
                backoff.succeeded()
            except ResponseError as e:
                if "NOGROUP" in str(e):
                    await self._ensure_group(backoff)
                else:
                    await backoff.failed(e)
            except REDIS_ERRORS as e:
                await backoff.failed(e)

    async def _ensure_group(self, backoff: Backoff) -> None:
        while True:
            try:
                # From 0: requests made before any host ran are served too.
                await self.redis.xgroup_create(self._requests, GROUP, id="0", mkstream=True)
                backoff.succeeded()
                return
            except ResponseError as e:
                if "BUSYGROUP" in str(e):
                    backoff.succeeded()
                    return
                await backoff.failed(e)
            except REDIS_ERRORS as e:
                await backoff.failed(e)

    async def _autoclaim(self, count: int) -> list[tuple[str, dict[bytes, bytes]]]:
        self._last_autoclaim = time.monotonic()
        reply: Any = await self.redis.xautoclaim(
            self._requests, GROUP, self.host_id, self.options.claim_after_ms, self._claim_cursor, count=count
        )
        self._claim_cursor = _text(reply[0]) or "0-0"
        entries = [(_text(i) or "", f) for i, f in reply[1] if i is not None and f is not None]
        for entry_id, _ in entries:
            log.info(
                "host %s: claimed request %s, idle for over %d ms", self.host_id, entry_id, self.options.claim_after_ms
            )
        return entries

    async def _read_requests(self, count: int, block_ms: int) -> list[tuple[str, dict[bytes, bytes]]]:
        reply: Any = await self.redis.xreadgroup(
            GROUP, self.host_id, {self._requests: ">"}, count=count, block=block_ms
        )
        entries: list[tuple[str, dict[bytes, bytes]]] = []
        for _stream, stream_entries in reply or []:
            entries.extend((_text(i) or "", f) for i, f in stream_entries if i is not None and f is not None)
        return entries

    async def _take_all(self, batch: list[tuple[str, dict[bytes, bytes]]]) -> list[Any]:
        """Claims a batch of requests, CLAIMS_AT_ONCE at a time (each holds
        one of the client's pooled connections while it waits): the outcome
        of each, an exception for those that failed."""
        results: list[Any] = []
        for i in range(0, len(batch), CLAIMS_AT_ONCE):
            chunk = batch[i : i + CLAIMS_AT_ONCE]
            results += await asyncio.gather(
                *(self._take(entry_id, fields) for entry_id, fields in chunk), return_exceptions=True
            )
        return results

    async def _take(self, entry_id: str, fields: Mapping[bytes, bytes]) -> None:
        """Claim the request's run (meta.state queued -> running, XACK) and start it."""
        key = _text(fields.get(b"key"))
        if not key:
            log.warning("host %s: request %s has no key; dropped", self.host_id, entry_id)
            await self.redis.xack(self._requests, GROUP, entry_id)
            return
        if key in self.runs:
            log.warning("host %s: request %s is for run %s, which this host runs already", self.host_id, entry_id, key)
            await self.redis.xack(self._requests, GROUP, entry_id)
            return
        keys = RunKeys(self.options.prefix, key)
        reply: Any = await self._claim(keys=[self._requests, keys.meta, keys.log], args=[entry_id, self.host_id, GROUP])
        if not int(reply[0]):
            log.info("host %s: run %s is no longer queued; its request %s is dropped", self.host_id, key, entry_id)
            return
        meta_run_id = _text(reply[1])
        head = max(0, int(reply[2]))
        thread_key = _text(reply[3]) if len(reply) > 3 else None
        spec, problem = _parse_spec(fields.get(b"spec"))
        # Before the run is added: a Redis error here takes the request
        # again after the backoff (the claim is this host's already).
        thread: tuple[Any, str | None] | None = None
        if thread_key and spec is not None:
            thread = await self._load_thread_state(thread_key, key)
        run_id = spec.get("run_id") if spec is not None else None
        if not isinstance(run_id, str):
            run_id = meta_run_id or key
        run = HostRun(keys, run_id, Retain.parse(spec.get("retain") if spec else None), self._max_frame_bytes, head)
        # Whatever ends the run ends it in its thread too (a request that
        # cannot be read, a state that cannot be used): the thread is not
        # left busy.
        run.thread = thread_key or None
        self._add(run)
        if spec is None:
            log.error("host %s: run %s: its request %s cannot be read: %s", self.host_id, key, entry_id, problem)
            self._on_ev(error_ev(key, "AGS_BAD_REQUEST", BAD_REQUEST_MESSAGE, problem))
            return
        op: dict[str, Any] = {"op": "start", "run": key, "run_id": run_id, "task": spec.get("task")}
        for name in ("options", "identity"):
            if name in spec:
                op[name] = spec[name]
        if thread is not None:
            try:
                thread_spec = ThreadSpec.parse(spec.get("thread"))
            except BadThreadSpec as e:
                log.error("host %s: run %s: its request %s cannot be read: %s", self.host_id, key, entry_id, e)
                self._on_ev(error_ev(key, "AGS_BAD_REQUEST", BAD_REQUEST_MESSAGE, str(e)))
                return
            run.max_state_bytes = thread_spec.max_state_bytes
            run.thread_id = thread_spec.id
            run.hold_input_for = thread_spec.hold_input_for
            state, unusable = thread
            if unusable is not None:
                log.warning("host %s: run %s: its thread's saved state cannot be read: %s", self.host_id, key, unusable)
                self._on_ev(error_ev(key, "AGS_THREAD_STATE_FAILED", STATE_NOT_LOADED_MESSAGE, unusable))
                return
            # The run loads it into the team before run_stream() and sends the
            # team's state back when it ends (run.py), as over stdio; with an
            # answer, the state is the one saved at its question, and the
            # answer goes in as the asker's reply (run.py, interrupt.py).
            op["thread"] = {"state": state}
            if thread_spec.answer is not None:
                op["thread"]["answer"] = thread_spec.answer
        log.info("host %s: run %s (runId %r) started", self.host_id, key, run_id)
        self.manager.dispatch(cast("StartOp", op))
        self._grant(run)

    async def _load_thread_state(self, thread_key: str, key: str) -> tuple[Any, str | None]:
        """The state the thread's last run saved (None: none yet), parsed,
        or why it cannot be used. Only while the record names this run: a
        thread forgotten meanwhile (an anonymous owner's connection closed)
        gives nothing, and this run's end will keep nothing either."""
        active, text = await self.redis.hmget(thread_key, ["active", "state"])
        if _text(active) != key or text is None:
            return None, None
        try:
            return json.loads(text), None
        except ValueError as e:
            return None, f"the record's state is not JSON: {e}"

    @property
    def _max_frame_bytes(self) -> int:
        return self.options.limits.max_line_bytes

    def _add(self, run: HostRun) -> None:
        self.runs[run.keys.key] = run
        self._idle.clear()
        self._runs_changed.set()

    def _finish(self, run: HostRun) -> None:
        """The run's slot is free: its terminal frame is in the log (or the log
        was taken from it) and the run itself has ended."""
        if self.runs.get(run.keys.key) is not run:
            return
        run.stop_holding()
        del self.runs[run.keys.key]
        self._dirty.pop(run.keys.key, None)
        log.info("host %s: run %s done", self.host_id, run.keys.key)
        self._slot_freed.set()
        self._runs_changed.set()
        if not self.runs:
            self._idle.set()

    def _maybe_finish(self, run: HostRun) -> None:
        if run.terminal_ev and (run.written or run.lost):
            self._finish(run)

    # Evs to frames ----------------------------------------------------------

    async def _send(self, ev: Mapping[str, Any]) -> None:
        """The RunManager's send: frames are made (and numbered) at once and
        written by the writer task. Raises LineTooLong for an item whose
        frame is too large, which ends its run with AGS_ITEM_TOO_LARGE."""
        self._on_ev(ev)

    def _on_ev(self, ev: Mapping[str, Any]) -> None:
        kind = ev.get("ev")
        run = self.runs.get(ev.get("run", ""))
        if run is None:
            log.debug("host %s: %s for a run it no longer has: ignored", self.host_id, kind)
            return
        if kind in ("state", "state_error"):
            # A thread's run ends with one of them, before its terminal ev.
            self._on_state(run, ev)
            return
        terminal = kind in ("end", "cancelled", "interrupted", "error")
        if terminal:
            run.terminal_ev = True
            run.stop_holding()
        if kind == "error":
            detail = ev.get("detail")
            log.log(
                logging.ERROR if detail else logging.INFO,
                "run %s (runId %r) failed: %s %s%s",
                run.keys.key,
                run.run_id,
                ev.get("code"),
                ev.get("message"),
                f"\n{detail}" if detail else "",
            )
        if run.lost or run.frames.ended:
            if kind == "item":
                run.items += 1
            if terminal and run.held is not None and not run.lost:
                # A thread's result, out now that its state is in (its end, or
                # a cancel that came after it: the result stands, as without a thread).
                run.pending.append(run.frames.with_state_error(run.held))
                run.held = None
                self._mark(run)
                return
            self._maybe_finish(run)
            return
        frame: Frame | None = None
        if kind == "item":
            run.items += 1
            frame = run.frames.item(ev["item"])
            if frame.outcome is not None and run.thread is not None:
                # The run saves the thread's state after its TaskResult: the
                # result frame waits for it (its stateError), as in Node's run.ts.
                run.held = frame
                frame = None
        elif kind == "input_request":
            request_id, prompt, source = str(ev["request_id"]), str(ev["prompt"]), ev.get("source")
            frame = run.frames.input_request(request_id, prompt)
            if run.thread is not None and run.hold_input_for is not None and isinstance(source, str):
                # The worker names the asker only when the run could go on
                # from this request after an interrupt: held from when its
                # frame is in the log (_written), as in-process.
                run.asking[request_id] = (prompt, source)
        elif kind == "interrupted":
            frame = self._interrupted(run, str(ev.get("request_id")))
        elif kind == "end":
            frame = run.frames.end()
        elif kind == "cancelled":
            if run.cancel_reason is None and run.stop_requested:
                # A single agent has no turn to finish: Node reports its stop so.
                frame = run.frames.error(STOPPED_CODE, STOPPED_MESSAGE)
            else:
                frame = run.frames.cancelled(run.cancel_reason or DEFAULT_CANCEL_REASON)
        elif kind == "error":
            frame = run.frames.error(str(ev.get("code")), str(ev.get("message")))
        else:
            log.debug("host %s: ev %s ignored", self.host_id, kind)
        if frame is not None:
            run.pending.append(frame)
            self._mark(run)
        else:
            self._maybe_finish(run)

    def _interrupted(self, run: HostRun, request_id: str) -> Frame:
        """The terminal frame of a run that ended at its interrupt: the
        `interrupted` frame when it kept a state to go on from, else (as
        Node's run.ts) an error: the answer could not continue it."""
        interrupt = run.interrupt
        if interrupt is None or interrupt[0] != request_id:
            # Not an interrupt this host asked for: nothing to go on from.
            log.error("run %s: interrupted at %s, which it was not asked to be", run.keys.key, request_id)
            run.interrupt = None
            run.state = None
            run.frames.state_error = None
            return run.frames.error(INTERRUPT_FAILED_CODE, interrupt_failed_message("it was not interrupted there"))
        if run.state is None:
            # Too large, save_state() failed, or nothing came: the thread keeps what it had, pending included.
            run.interrupt = None
            if run.frames.state_error is None:
                run.frames.state_error = (STATE_FAILED_CODE, state_failed_message("the runner saved no state"))
            return run.frames.error(INTERRUPT_FAILED_CODE, interrupt_failed_message(run.frames.state_error[1]))
        _, prompt, source = interrupt
        return run.frames.interrupted(run.thread_id, request_id, prompt, source)

    def _on_state(self, run: HostRun, ev: Mapping[str, Any]) -> None:
        if run.thread is None or (run.frames.ended and run.held is None):
            log.debug("host %s: run %s: %s ignored (no thread, or ended)", self.host_id, run.keys.key, ev.get("ev"))
            return
        if ev.get("ev") == "state":
            run.keep_state(ev.get("state"))
            if run.frames.state_error is not None:
                log.warning("run %s: the thread's state was not saved: %s", run.keys.key, run.frames.state_error[1])
            return
        detail = ev.get("detail")
        log.warning("run %s: the thread's state was not saved: %s %s", run.keys.key, ev.get("code"), detail or "")
        run.state = None
        run.frames.state_error = (str(ev.get("code")), str(ev.get("message")))

    def _mark(self, run: HostRun) -> None:
        self._dirty[run.keys.key] = run
        self._wake.set()

    # Interrupts -------------------------------------------------------------

    def _hold(self, run: HostRun, request_id: str) -> None:
        """The input request's frame is in the log: it waits holdInputFor,
        then the run is interrupted there (unless answered first)."""
        if run.hold_input_for is None or run.interrupt is not None or request_id in run.holds or run.terminal_ev:
            return
        loop = asyncio.get_running_loop()
        run.holds[request_id] = loop.call_later(run.hold_input_for / 1000, self._held, run, request_id)

    def _held(self, run: HostRun, request_id: str) -> None:
        run.holds.pop(request_id, None)
        if not self._interruptible(run):
            return
        task = asyncio.ensure_future(self._interrupt(run, request_id))
        self._interrupting.add(task)
        task.add_done_callback(self._interrupting.discard)

    def _interruptible(self, run: HostRun) -> bool:
        return (
            self.runs.get(run.keys.key) is run
            and run.interrupt is None
            and not (run.terminal_ev or run.frames.ended or run.lost)
        )

    async def _interrupt(self, run: HostRun, request_id: str) -> None:
        """Takes the request out of the run's inputs (SREM), as a gateway's
        ANSWER does: whichever comes first wins. Won, the run is interrupted
        there (run.py: its state, then `interrupted`), and an input for it
        gets AGS_UNKNOWN_REQUEST; lost, its answer is on its way in ctl."""
        backoff = Backoff(f"run {run.keys.key} interrupt")
        while True:
            try:
                removed = await self.redis.srem(run.keys.inputs, request_id)
                break
            except REDIS_ERRORS as e:
                # The request keeps waiting meanwhile, as it would for its answer.
                if not self._interruptible(run):
                    return
                await backoff.failed(e)
        if not removed:
            log.debug("run %s: input request %s was answered before its interrupt", run.keys.key, request_id)
            return
        asked = run.asking.get(request_id)
        if asked is None or not self._interruptible(run):
            # Ended meanwhile (one interrupt per run; or its own end): nothing to hold.
            return
        prompt, source = asked
        log.info(
            "run %s: input request %s waited %d ms (holdInputFor): interrupted",
            run.keys.key,
            request_id,
            run.hold_input_for or 0,
        )
        run.interrupt = (request_id, prompt, source)
        run.stop_holding()
        self._dispatch({"op": "interrupt", "run": run.keys.key, "request_id": request_id})

    def _grant(self, run: HostRun) -> None:
        if run.frames.ended or run.lost or run.terminal_ev:
            return
        room = run.room()
        if room > 0:
            run.granted += room
            self.manager.dispatch({"op": "credit", "run": run.keys.key, "n": room})

    # Writing ------------------------------------------------------------------

    async def _writer(self) -> None:
        backoff = Backoff(f"host {self.host_id} log writes")
        # Runs with nothing to write are looked at again every
        # STALL_CHECK_SECONDS, by the clock: their readers' positions move
        # their credit, and a run nobody reads is abandoned after detach ms
        # (_watch_attendance). Only on an idle second, a host busy with
        # another run never looked, and an unread run held its slot for ever.
        # A timer sets _wake rather than asyncio.wait_for: in Python 3.11,
        # wait_for can lose a cancel that comes as its future completes, and
        # the writer, woken all the time, would then never stop at shutdown.
        loop = asyncio.get_running_loop()
        next_check = loop.time() + STALL_CHECK_SECONDS
        while True:
            timer = loop.call_at(next_check, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
            if loop.time() >= next_check:
                next_check = loop.time() + STALL_CHECK_SECONDS
                for run in self.runs.values():
                    idle = not run.pending and not run.frames.ended and not run.lost
                    if idle and (run.room() <= 0 or run.retain.detach > 0):
                        self._dirty[run.keys.key] = run
            self._wake.clear()
            if not self._dirty:
                continue
            batch = list(self._dirty.values())
            self._dirty.clear()
            calls: list[tuple[HostRun, list[Frame]]] = []
            pipe = self.redis.pipeline(transaction=False)
            for run in batch:
                frames = list(itertools.islice(run.pending, MAX_FRAMES_PER_CALL))
                outcome = frames[-1].outcome if frames and frames[-1].outcome else ""
                args: list[str | int | bytes] = [
                    self.options.prefix,
                    self.options.reader_ttl_ms,
                    run.retain.events,
                    run.sizes.floor(run.base, run.retain.bytes),
                    run.retain.after_end,
                    outcome,
                    run.head,
                    len(frames),
                ]
                for frame in frames:
                    args += [frame.seq, frame.data, frame.request_id or ""]
                keys = run.keys.all()
                if outcome and run.thread is not None:
                    # The run's end in its thread's record, with its terminal frame.
                    keys.append(run.thread)
                    usage = run.frames.usage
                    args += [
                        run.keys.key,
                        run.state if run.state is not None else "",
                        usage[0] if usage is not None else "",
                        usage[1] if usage is not None else "",
                        run.pending_input() if outcome == "interrupted" else b"",
                    ]
                pipe.evalsha(self._append_sha, len(keys), *keys, *args)
                calls.append((run, frames))
            try:
                replies = await pipe.execute(raise_on_error=False)
            except REDIS_ERRORS as e:
                for run in batch:
                    self._again(run)
                await backoff.failed(e)
                self._wake.set()
                continue
            failed: BaseException | None = None
            unloaded = False
            for (run, frames), reply in zip(calls, replies, strict=True):
                if isinstance(reply, BaseException):
                    if isinstance(reply, NoScriptError):
                        unloaded = True
                    else:
                        failed = reply
                        log.debug("run %s: append failed: %s", run.keys.key, reply)
                    self._again(run)
                    continue
                self._written(run, frames, reply)
            if unloaded and failed is None:
                # First use, or Redis restarted: load it and go again at once.
                try:
                    await self.redis.script_load(APPEND)
                except REDIS_ERRORS as e:
                    failed = e
                self._wake.set()
            if failed is not None:
                await backoff.failed(failed)
                self._wake.set()
            else:
                backoff.succeeded()

    def _again(self, run: HostRun) -> None:
        """A write that failed goes again (the script skips what got in)."""
        if self.runs.get(run.keys.key) is run and not run.lost:
            self._dirty.setdefault(run.keys.key, run)

    def _written(self, run: HostRun, frames: list[Frame], reply: Any) -> None:
        written, conflict, base, readers = (int(x) for x in reply)
        for frame in frames[:written]:
            if run.pending and run.pending[0] is frame:
                run.pending.popleft()
            run.sizes.add(frame.seq, len(frame.data))
            run.head = frame.seq
            if frame.request_id is not None and frame.request_id in run.asking:
                self._hold(run, frame.request_id)
        if conflict:
            self._lose(run, frames[written].seq if written < len(frames) else run.head + 1)
            return
        run.base = base
        run.sizes.drop_below(base - run.retain.events + 1)
        self._watch_attendance(run, readers)
        if run.pending:
            self._mark(run)
        if run.written:
            log.debug("run %s: terminal frame written at seq %d", run.keys.key, run.head)
            self._maybe_finish(run)
        else:
            self._grant(run)

    def _watch_attendance(self, run: HostRun, readers: int) -> None:
        """A run nobody has read for retain.detach ms is cancelled
        (`abandoned`), as the gateway's detachTimeout says: a client that
        went away for good does not hold a slot and a model for ever."""
        if readers > 0 or run.retain.detach <= 0:
            run.unattended_since = None
            return
        now = time.monotonic()
        if run.unattended_since is None:
            run.unattended_since = now
        elif (
            (now - run.unattended_since) * 1000 >= run.retain.detach
            and run.cancel_reason is None
            and not run.terminal_ev
        ):
            run.cancel_reason = "abandoned"
            log.info("run %s: no reader for %d ms: cancelled (abandoned)", run.keys.key, run.retain.detach)
            self.manager.dispatch({"op": "cancel", "run": run.keys.key})

    def _lose(self, run: HostRun, seq: int) -> None:
        log.warning(
            "run %s: seq %d of its log holds a frame this host did not write (a gateway took this host for dead?); "
            "the run is abandoned",
            run.keys.key,
            seq,
        )
        run.lost = True
        run.pending.clear()
        self._dirty.pop(run.keys.key, None)
        if not run.terminal_ev:
            self.manager.dispatch({"op": "cancel", "run": run.keys.key})
        self._maybe_finish(run)

    # Control ----------------------------------------------------------------

    async def _control(self) -> None:
        backoff = Backoff(f"host {self.host_id} control")
        while True:
            by_stream = {run.keys.ctl: run for run in self.runs.values() if not run.frames.ended and not run.lost}
            self._runs_changed.clear()
            if not by_stream:
                await self._runs_changed.wait()
                continue
            try:
                reply: Any = await self.redis.xread(
                    {name: run.ctl_last for name, run in by_stream.items()}, count=100, block=CTL_BLOCK_MS
                )
                backoff.succeeded()
            except REDIS_ERRORS as e:
                await backoff.failed(e)
                continue
            for stream, entries in reply or []:
                run = by_stream.get(_text(stream) or "")
                if run is None:
                    continue
                for entry_id, fields in entries:
                    run.ctl_last = _text(entry_id) or run.ctl_last
                    try:
                        self._ctl(run, fields or {})
                    except Exception:
                        log.exception("run %s: ctl entry %s failed", run.keys.key, run.ctl_last)

    def _ctl(self, run: HostRun, fields: Mapping[bytes, bytes]) -> None:
        op = _text(fields.get(b"op"))
        key = run.keys.key
        if run.frames.ended or run.lost or run.terminal_ev:
            return
        if op == "ack":
            self._mark(run)
        elif op == "cancel":
            if run.cancel_reason is None:
                run.cancel_reason = _text(fields.get(b"reason")) or DEFAULT_CANCEL_REASON
            log.info("run %s: cancel (%s)", key, run.cancel_reason)
            self._dispatch({"op": "cancel", "run": key})
        elif op == "stop":
            run.stop_requested = True
            log.info("run %s: stop", key)
            self._dispatch({"op": "stop", "run": key})
        elif op == "input":
            request_id = _text(fields.get(b"requestId"))
            content = _text(fields.get(b"content"))
            if request_id is None or content is None:
                log.warning("run %s: input without requestId or content: ignored", key)
                return
            # Answered: no longer held (its ANSWER took it out of inputs, so an interrupt could not win now anyway).
            run.asking.pop(request_id, None)
            hold = run.holds.pop(request_id, None)
            if hold is not None:
                hold.cancel()
            self._dispatch({"op": "input", "run": key, "request_id": request_id, "content": content})
        else:
            log.debug("run %s: unknown ctl op %r: ignored", key, op)

    def _dispatch(self, op: Op) -> None:
        self.manager.dispatch(op)


async def _forever(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Runs one of the host's loops, again after a bug (its own errors are
    handled inside): a host must not go on half alive."""
    while True:
        try:
            await loop()
        except Exception:
            log.exception("the %s loop failed; restarting it", name)
            await asyncio.sleep(1.0)


def _parse_spec(raw: Any) -> tuple[dict[str, Any] | None, str]:
    text = _text(raw)
    if text is None:
        return None, "the request has no spec"
    try:
        spec = json.loads(text)
    except ValueError as e:
        return None, f"spec is not JSON: {e}"
    if not isinstance(spec, dict):
        return None, f"spec is a JSON {type(spec).__name__}, not an object"
    return spec, ""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, where = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{where}"


def default_host_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# CLI ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m autogen_stream_bridge.redis_host",
        description="Run AutoGen AgentChat runs requested by fastify-autogen-stream gateways through Redis Streams "
        "(docs/redis.md).",
    )
    parser.add_argument("--redis", required=True, metavar="URL", help="Redis URL, e.g. redis://localhost:6379/0")
    parser.add_argument("--factory", required=True, help="module:callable returning an agent or team per run")
    parser.add_argument("--concurrency", type=_at_least(1), required=True, metavar="N", help="runs at a time")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix (default %(default)s)")
    parser.add_argument("--host-id", default="", metavar="ID", help="this host's id (default: hostname-pid-random)")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=0,
        metavar="PID",
        help="stop when this process is no longer the parent (a supervisor that died); 0: never",
    )
    parser.add_argument(
        "--claim-after-ms",
        type=_at_least(1),
        default=5000,
        metavar="MS",
        help="claim a request another host read but never started once idle this long (default %(default)s)",
    )
    parser.add_argument(
        "--heartbeat-ms", type=_at_least(1), default=1000, metavar="MS", help="renew host:<id> (default %(default)s)"
    )
    parser.add_argument(
        "--heartbeat-ttl-ms",
        type=_at_least(1),
        default=3000,
        metavar="MS",
        help="host:<id> expires this long after its last renewal (default %(default)s)",
    )
    parser.add_argument(
        "--reader-ttl-ms",
        type=_at_least(1),
        default=10_000,
        metavar="MS",
        help="a reader not vouched for this long no longer holds a run back (default %(default)s)",
    )
    parser.add_argument(
        "--max-frame-bytes",
        type=_at_least(MIN_LINE_BYTES),
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help="largest frame; a larger item ends its run with AGS_ITEM_TOO_LARGE (default %(default)s)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=_at_least(1),
        default=DEFAULT_MAX_IMAGE_PIXELS,
        metavar="N",
        help="largest total width*height of a task's images (default %(default)s)",
    )
    parser.add_argument(
        "--max-image-bytes",
        type=_at_least(1),
        default=DEFAULT_MAX_IMAGE_BYTES,
        metavar="N",
        help="largest total decoded size of a task's images (default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default=os.environ.get(LOG_LEVEL_ENV, "INFO").upper(),
        help=f"level of the host's own stderr logs (env {LOG_LEVEL_ENV}; default INFO)",
    )
    args = parser.parse_args(argv)
    if args.heartbeat_ttl_ms <= args.heartbeat_ms:
        parser.error("--heartbeat-ttl-ms must be longer than --heartbeat-ms")
    return args


def connect(url: str) -> aioredis.Redis:
    """A client whose own retries are short: the host's loops retry with
    their own backoff, and a shutdown must not wait on a dead server."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        # The replies are parsed as RESP2 shapes (lists, not RESP3 maps).
        protocol=2,
        socket_timeout=10.0,
        socket_connect_timeout=5.0,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
    )


async def serve(options: HostOptions) -> int:
    from .factory import load_factory

    try:
        factory = load_factory(options.factory)
    except Exception as e:
        log.error("fatal: %s", e if type(e).__name__ == "FactoryImportError" else f"{type(e).__name__}: {e}")
        return 1
    redis = connect(options.redis_url)
    host = Host(options, factory, redis)
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.error("host %s: second %s; exiting now", host.host_id, signal.Signals(signum).name)
            logging.shutdown()
            os._exit(1)
        deadline.append(loop.call_later(SHUTDOWN_DEADLINE_SECONDS, shutdown_overdue))
        host.request_stop()

    def shutdown_overdue() -> None:
        log.error("host %s: shutdown not done after %.0f s; exiting now", host.host_id, SHUTDOWN_DEADLINE_SECONDS)
        logging.shutdown()
        os._exit(1)

    deadline: list[asyncio.TimerHandle] = []

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await host.run()
    finally:
        close = getattr(redis, "aclose", None) or redis.close  # aclose: redis-py 5.0.1+
        await close()
        for handle in deadline:
            handle.cancel()
    return 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s",
    )
    logging.getLogger("autogen_stream_bridge").setLevel(args.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_hide_cancellation_tracebacks)
    # Nothing of the host's goes to stdout; a stray print() of a factory or a
    # tool lands in the logs, and a stray input() reads EOF instead of waiting.
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    options = HostOptions(
        redis_url=args.redis,
        factory=args.factory,
        concurrency=args.concurrency,
        prefix=args.prefix,
        host_id=args.host_id,
        claim_after_ms=args.claim_after_ms,
        heartbeat_ms=args.heartbeat_ms,
        heartbeat_ttl_ms=args.heartbeat_ttl_ms,
        reader_ttl_ms=args.reader_ttl_ms,
        parent_pid=args.parent_pid,
        limits=Limits(
            max_line_bytes=args.max_frame_bytes,
            max_image_pixels=args.max_image_pixels,
            max_image_bytes=args.max_image_bytes,
        ),
    )
    code = run_in_new_loop(serve(options))
    logging.shutdown()
    sys.stderr.flush()
    # As the worker: a sync tool still blocked in a thread must not hold the exit.
    os._exit(code)


if __name__ == "__main__":
    main()
