"""The Redis worker host (docs/redis.md), against a real redis-server.

The tests play the gateway's part with redis-py itself: they write a run's
meta, its `started` frame and its request exactly as the contract says, read
the log, and write ctl messages, reader positions and acks. Hosts run as
subprocesses (python -m autogen_stream_bridge.redis_host). Waits are on
conditions, never on fixed sleeps."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis import asyncio as aioredis

from bridge_examples import STREAMING_TEXT
from conftest import TESTS_DIR, RedisServer

# A hang guard, not a speed requirement.
TIMEOUT = 15.0
TERMINAL = {"result", "cancelled", "error", "interrupted"}


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    number, _, suffix = text.partition("-")
    assert suffix == "1", text
    return int(number)


class Gateway:
    """What a gateway writes and reads, per docs/redis.md."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.r = redis
        self.prefix = prefix

    def key(self, k: str, what: str) -> str:
        return f"{self.prefix}run:{k}:{what}"

    async def start(
        self,
        run_id: str = "r1",
        task: Any = "hello",
        *,
        options: dict[str, Any] | None = None,
        lag: int = 256,
        events: int = 1024,
        bytes_: int = 1024 * 1024,
        after_end: int = 60_000,
        state: str = "queued",
        spec: str | None = None,
        thread: str | None = None,
        max_state_bytes: int = 1024 * 1024,
        hold_input_for: float | None = None,
        answer: dict[str, Any] | None = None,
    ) -> str:
        """With `thread` (a threadId), the run is that thread's: claimed as
        the gateway's THREAD_START claims it (lib/redis/scripts.ts), its
        input requests held `hold_input_for` ms (None: never), and with
        `answer` ({requestId, content, prompt, source}) continuing the
        question the thread's state waits at."""
        k = str(uuid.uuid4())
        identity = {"id": "alice"}
        body: dict[str, Any] = {
            "run": k,
            "run_id": run_id,
            "task": task,
            "options": options or {},
            "identity": identity,
            "retain": {"events": events, "bytes": bytes_, "afterEnd": after_end, "lag": lag},
        }
        meta: dict[Any, Any] = {"owner": "alice", "runId": run_id, "state": state, "created": int(time.time() * 1000)}
        if thread is not None:
            body["thread"] = {"id": thread, "maxStateBytes": max_state_bytes, "holdInputFor": hold_input_for}
            if answer is not None:
                body["thread"]["answer"] = answer
            meta["thread"] = self.thread(thread)
            await self.claim(thread, run_id, k)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key(k, "meta"), mapping=meta)
        pipe.set(f"{self.prefix}owner:alice:{run_id}", k)
        pipe.xadd(self.key(k, "log"), {"f": json.dumps({"type": "started", "runId": run_id, "seq": 0})}, id="0-1")
        pipe.xadd(f"{self.prefix}requests", {"key": k, "spec": spec if spec is not None else json.dumps(body)})
        await pipe.execute()
        return k

    def thread(self, thread_id: str) -> str:
        return f"{self.prefix}thread:5:alice:{thread_id}"

    async def claim(self, thread_id: str, run_id: str, k: str) -> None:
        """The thread's record names run k as its active run, its runs list it."""
        key = self.thread(thread_id)
        now = int(time.time() * 1000)
        raw: Any = await self.r.hget(key, "runs")
        runs = json.loads(raw) if raw else []
        runs.append({"runId": run_id, "key": k, "startedAt": now})
        fields: dict[Any, Any] = {"runs": json.dumps(runs), "active": k, "activeRunId": run_id, "updated": now}
        if not await self.r.exists(key):
            fields |= {
                "owner": "alice",
                "threadId": thread_id,
                "index": f"{self.prefix}threads:5:alice",
                "created": now,
                "prompt": 0,
                "completion": 0,
                "stateBytes": 0,
                "retention": 60_000,
            }
        await self.r.hset(key, mapping=fields)
        await self.r.persist(key)

    async def record(self, thread_id: str) -> dict[str, str]:
        raw: Any = await self.r.hgetall(self.thread(thread_id))
        return {a.decode(): b.decode() for a, b in raw.items()}

    async def entries(self, k: str) -> list[tuple[int, dict[str, Any]]]:
        raw: Any = await self.r.xrange(self.key(k, "log"))
        out = []
        for entry_id, fields in raw:
            assert list(fields) == [b"f"], fields
            out.append((_seq(entry_id), json.loads(fields[b"f"])))
        return out

    async def frames(self, k: str) -> list[dict[str, Any]]:
        """The frames the host wrote (seq 1 on), checked to be numbered 1.. without gaps."""
        entries = await self.entries(k)
        assert entries[0] == (0, entries[0][1]) and entries[0][1]["type"] == "started"
        frames = [f for _, f in entries[1:]]
        assert [s for s, _ in entries] == list(range(len(entries)))
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        return frames

    async def last_seq(self, k: str) -> int:
        raw: Any = await self.r.xrevrange(self.key(k, "log"), count=1)
        return _seq(raw[0][0]) if raw else -1

    async def until(self, k: str, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Frames up to the first one matching predicate."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            frames = [f for _, f in await self.entries(k)][1:]
            for i, frame in enumerate(frames):
                if predicate(frame):
                    return frames[: i + 1]
            assert time.monotonic() < deadline, f"no such frame in {frames[-5:]}"
            await asyncio.sleep(0.05)

    async def terminal(self, k: str) -> list[dict[str, Any]]:
        await self.until(k, lambda f: f["type"] in TERMINAL)
        frames = await self.frames(k)
        assert frames[-1]["type"] in TERMINAL
        assert all(f["type"] not in TERMINAL for f in frames[:-1])
        return frames

    async def meta(self, k: str) -> dict[str, str]:
        raw: Any = await self.r.hgetall(self.key(k, "meta"))
        return {a.decode(): b.decode() for a, b in raw.items()}

    async def ctl(self, k: str, **fields: str) -> None:
        entry: dict[Any, Any] = dict(fields)
        await self.r.xadd(self.key(k, "ctl"), entry, maxlen=1000, approximate=True)

    async def answer(self, k: str, request_id: str, content: str) -> bool:
        """The first answer wins: SREM, then the input to ctl."""
        if not await self.r.srem(self.key(k, "inputs"), request_id):
            return False
        await self.ctl(k, op="input", requestId=request_id, content=content)
        return True

    async def commit(self, k: str, reader: str, position: int, *, at: int | None = None) -> None:
        """A reader's committed position (HSET readers, SET far to the max,
        ZADD alive) and the ack that wakes the host."""
        far: Any = await self.r.get(self.key(k, "far"))
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key(k, "readers"), reader, position)
        pipe.set(self.key(k, "far"), max(position, int(far or 0)))
        pipe.zadd(self.key(k, "alive"), {reader: at if at is not None else int(time.time() * 1000)})
        await pipe.execute()
        await self.ctl(k, op="ack")


class HostProc:
    def __init__(self, proc: asyncio.subprocess.Process, host_id: str, log_path: Path) -> None:
        self.proc = proc
        self.host_id = host_id
        self.log_path = log_path

    @property
    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_exit(self, timeout: float = TIMEOUT) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stdout(self) -> bytes:
        assert self.proc.stdout is not None
        return await self.proc.stdout.read()

    async def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit()
        assert await self.stdout() == b"", "the host wrote to stdout"
        return code


SpawnHost = Callable[..., Awaitable[HostProc]]


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def gw(redis: aioredis.Redis) -> Gateway:
    return Gateway(redis, "t:")


@pytest.fixture
async def spawn_host(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[SpawnHost]:
    hosts: list[HostProc] = []

    async def _spawn(factory: str, *args: str, concurrency: int = 4, host_id: str | None = None) -> HostProc:
        factory = factory if ":" in factory else f"bridge_examples:{factory}"
        host_id = host_id or f"h{len(hosts) + 1}"
        log_path = tmp_path / f"{host_id}.log"
        # The caller's PYTHONPATH after ours, as conftest's workers: it may name the bridge's sources to test.
        python_path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "autogen_stream_bridge.redis_host",
            "--redis",
            redis_server.url,
            "--factory",
            factory,
            "--concurrency",
            str(concurrency),
            "--prefix",
            "t:",
            "--host-id",
            host_id,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_path.open("wb"),
            env={**os.environ, "PYTHONPATH": python_path},
        )
        host = HostProc(proc, host_id, log_path)
        hosts.append(host)
        return host

    yield _spawn
    for host in hosts:
        if host.proc.returncode is None:
            host.proc.kill()
            await host.proc.wait()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def settled(read: Callable[[], Awaitable[Any]], moved_from: Any = None, gap: float = 0.5) -> Any:
    """The value read once two reads `gap` seconds apart agree; with
    moved_from, only after it first differs from that (the host has reacted)."""
    deadline = time.monotonic() + TIMEOUT
    last = await read()
    while moved_from is not None and last == moved_from:
        assert time.monotonic() < deadline, f"still {last!r}"
        await asyncio.sleep(0.05)
        last = await read()
    while True:
        await asyncio.sleep(gap)
        now = await read()
        if now == last:
            return now
        assert time.monotonic() < deadline, f"never settled: {last!r} -> {now!r}"
        last = now


def tokens_by_message(frames: list[dict[str, Any]]) -> dict[str | None, str]:
    texts: dict[str | None, str] = {}
    for frame in frames:
        if frame["type"] == "token":
            texts[frame["full_message_id"]] = texts.get(frame["full_message_id"], "") + frame["text"]
    return texts


async def expiring(gw: Gateway, k: str, *whats: str) -> None:
    for what in whats:
        ttl = await gw.r.pttl(gw.key(k, what))
        assert 0 < ttl <= 60_000, (what, ttl)


# Frames ---------------------------------------------------------------------


async def test_a_streaming_agent_writes_exact_frames(gw: Gateway, spawn_host: SpawnHost) -> None:
    host = await spawn_host("streaming_agent")
    k = await gw.start("client-run-1", task="Say hi")
    frames = await gw.terminal(k)
    for frame in frames:
        assert list(frame)[:3] == ["type", "runId", "seq"] and frame["runId"] == "client-run-1"
    assert frames[0]["type"] == "event" and frames[0]["event"]["type"] == "TextMessage"
    assert frames[0]["event"]["content"] == "Say hi"
    tokens = frames[1:-2]
    assert tokens and all(f["type"] == "token" for f in tokens)
    assert set(tokens[0]) == {"type", "runId", "seq", "source", "full_message_id", "text", "chunks"}
    assert {(f["source"], f["chunks"]) for f in tokens} == {("assistant", 1)}
    final = frames[-2]["event"]
    assert final["type"] == "TextMessage" and final["content"] == STREAMING_TEXT
    assert tokens_by_message(tokens) == {final["id"]: STREAMING_TEXT}
    result = frames[-1]
    assert list(result) == ["type", "runId", "seq", "result", "usage"]
    # The models_usage of the streamed events, summed (the TaskResult's copies are not counted again).
    reported = [f["event"]["models_usage"] for f in frames if f["type"] == "event" and f["event"].get("models_usage")]
    assert reported and result["usage"] == {
        "prompt_tokens": sum(u["prompt_tokens"] for u in reported),
        "completion_tokens": sum(u["completion_tokens"] for u in reported),
    }
    assert result["result"]["type"] == "TaskResult" and result["result"]["messages"][-1] == final
    meta = await gw.meta(k)
    assert meta["state"] == "ended" and meta["outcome"] == "result" and meta["host"] == host.host_id
    await expiring(gw, k, "log", "meta")
    # The request was taken once, and acknowledged.
    pending: Any = await gw.r.xpending("t:requests", "hosts")
    assert pending["pending"] == 0
    # Nothing more is written after the terminal frame.
    await asyncio.sleep(0.3)
    assert await gw.last_seq(k) == frames[-1]["seq"]
    assert await host.terminate() == 0


async def test_a_tool_team_and_failures(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("tool_team")
    k = await gw.start(task="Weather in Paris?", options={"words": 30})
    frames = await gw.terminal(k)
    assert frames[-1]["type"] == "result"
    events = [f["event"]["type"] for f in frames if f["type"] == "event"]
    assert "ToolCallRequestEvent" in events and "ToolCallExecutionEvent" in events
    messages = {m["id"]: m["content"] for m in frames[-1]["result"]["messages"] if m["type"] == "TextMessage"}
    texts = tokens_by_message(frames)
    assert len(texts) == 2 and all(messages[i] == text for i, text in texts.items())
    assert sorted(texts.values()) == sorted(
        [" ".join(f"r{i}" for i in range(30)), " ".join(f"s{i}" for i in range(30))]
    )
    # A bad task is the run's AGS_BAD_REQUEST, never a dead host.
    bad = await gw.start("bad", task={"not": "a task"})
    frames = await gw.terminal(bad)
    assert [f["type"] for f in frames] == ["error"] and frames[0]["code"] == "AGS_BAD_REQUEST"
    assert (await gw.meta(bad))["outcome"] == "error"


async def test_a_failing_factory_is_an_error_frame_without_detail(gw: Gateway, spawn_host: SpawnHost) -> None:
    host = await spawn_host("failing_factory")
    k = await gw.start()
    frames = await gw.terminal(k)
    assert frames == [
        {"type": "error", "runId": "r1", "seq": 1, "code": "AGS_FACTORY_ERROR", "message": "The agent factory failed"}
    ]
    meta = await gw.meta(k)
    assert meta["state"] == "ended" and meta["outcome"] == "error"
    await expiring(gw, k, "log", "meta")
    # The detail goes to the host's log only.
    await host.terminate()
    assert "factory failed on purpose" in host.stderr


async def test_requests_not_queued_or_unreadable(gw: Gateway, spawn_host: SpawnHost) -> None:
    gone = await gw.start("gone", state="ended")
    unreadable = await gw.start("unreadable", spec="{not json")
    ok = await gw.start("ok")
    await spawn_host("streaming_agent")
    assert (await gw.terminal(ok))[-1]["type"] == "result"
    # Taken in order: the two before it were handled first.
    assert [f["type"] for f in await gw.frames(gone)] == []
    assert (await gw.meta(gone))["state"] == "ended"
    frames = await gw.terminal(unreadable)
    assert frames == [
        {
            "type": "error",
            "runId": "unreadable",
            "seq": 1,
            "code": "AGS_BAD_REQUEST",
            "message": "The run request could not be read",
        }
    ]
    pending: Any = await gw.r.xpending("t:requests", "hosts")
    assert pending["pending"] == 0


# Control --------------------------------------------------------------------


async def test_cancel_ends_with_cancelled_and_expiring_keys(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("slow_agent")
    k = await gw.start(task="go")
    default = await gw.start("r2", task="go")
    await gw.until(k, lambda f: f["type"] == "event")
    await gw.until(default, lambda f: f["type"] == "event")
    await gw.ctl(k, op="cancel", reason="disconnect")
    await gw.ctl(default, op="cancel")
    frames = await gw.terminal(k)
    assert [f["type"] for f in frames] == ["event", "cancelled"]
    assert frames[-1] == {"type": "cancelled", "runId": "r1", "seq": 2, "reason": "disconnect"}
    assert (await gw.terminal(default))[-1]["reason"] == "client"
    meta = await gw.meta(k)
    assert meta["state"] == "ended" and meta["outcome"] == "cancelled"
    await expiring(gw, k, "log", "meta", "ctl")


async def test_stop_ends_a_team_with_its_result(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("bridge_test_factories:slow_team")
    k = await gw.start(task="go", options={"delay": 0.3})
    await gw.until(k, lambda f: f["type"] == "event" and f["event"]["source"] == "writer")
    await gw.ctl(k, op="stop")
    frames = await gw.terminal(k)
    result = frames[-1]["result"]
    assert frames[-1]["type"] == "result" and result["stop_reason"] == "External termination requested"
    assert [m["source"] for m in result["messages"]] == ["user", "writer", "critic"]
    assert (await gw.meta(k))["outcome"] == "result"


async def test_stop_on_a_single_agent_is_stopped(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("slow_agent")
    k = await gw.start()
    await gw.until(k, lambda f: f["type"] == "event")
    await gw.ctl(k, op="stop")
    frames = await gw.terminal(k)
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "AGS_STOPPED"


async def test_input_reaches_the_user_proxy(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("user_proxy_team")
    k = await gw.start(task="Plan my week")
    before = await gw.until(k, lambda f: f["type"] == "input_request")
    request = before[-1]
    assert before[-2]["type"] == "event" and before[-2]["event"]["type"] == "UserInputRequestedEvent"
    assert request == {
        "type": "input_request",
        "runId": "r1",
        "seq": request["seq"],
        "requestId": before[-2]["event"]["request_id"],
        "prompt": "Enter your response: ",
    }
    assert await gw.r.sismember(gw.key(k, "inputs"), request["requestId"])
    assert await gw.answer(k, request["requestId"], "APPROVE")
    assert not await gw.answer(k, request["requestId"], "too late")
    frames = await gw.terminal(k)
    after = frames[len(before) :]
    assert [f["type"] for f in after] == ["event", "result"]
    assert after[0]["event"]["source"] == "user" and after[0]["event"]["content"] == "APPROVE"
    assert "APPROVE" in after[1]["result"]["stop_reason"]


# Credit ---------------------------------------------------------------------


async def test_backpressure_holds_at_lag_and_acks_release_it(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("long_stream")
    words = 2000
    k = await gw.start(task="go", options={"words": words}, lag=32, events=64)

    async def last() -> int:
        return await gw.last_seq(k)

    # Nobody has read anything: the host writes exactly lag frames and waits.
    assert await settled(last, moved_from=0) == 32
    # A reader-less run counts from `far`.
    await gw.r.set(gw.key(k, "far"), 40)
    await gw.ctl(k, op="ack")
    assert await settled(last, moved_from=32) == 72
    # A live reader behind `far` holds the run; a reader whose gateway stopped
    # vouching for it (older than the reader ttl) does not.
    stale = int(time.time() * 1000) - 60_000
    await gw.commit(k, "dead", 0, at=stale)
    await gw.commit(k, "slow", 50)
    assert await settled(last, moved_from=72) == 82
    # Acks let it run to the end; the read tail is trimmed to `events` entries.
    position = 50
    while True:
        head = await last()
        frames = [f for _, f in await gw.entries(k) if f["seq"] > position]
        if frames and frames[-1]["type"] in TERMINAL:
            break
        if head > position:
            position = head
            await gw.commit(k, "slow", position)
        else:
            await asyncio.sleep(0.01)
    entries = await gw.entries(k)
    last_frame = entries[-1][1]
    assert last_frame["type"] == "result" and last_frame["seq"] == words + 3  # task, chunks, message, result
    seqs = [s for s, _ in entries]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    # Trimmed while running: seq 0 is long gone, at most events + lag kept.
    assert seqs[0] > 0 and len(seqs) <= 64 + 32 + 1
    tokens = "".join(f["text"] for _, f in entries if f["type"] == "token")
    assert (" ".join(f"w{i}" for i in range(words))).endswith(tokens)
    # Every key of the run expires now that it has ended.
    await expiring(gw, k, "log", "meta", "ctl", "readers", "alive", "far")


async def test_the_read_tail_is_trimmed_to_retain_bytes(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("long_stream")
    k = await gw.start(task="go", options={"words": 300}, lag=16, events=10_000, bytes_=1000)
    position = 0
    while True:
        entries = await gw.entries(k)
        if entries[-1][1]["type"] in TERMINAL:
            break
        if entries[-1][0] > position:
            position = entries[-1][0]
            await gw.commit(k, "reader", position)
        else:
            await asyncio.sleep(0.01)
        # What the slowest reader has read is kept up to 1000 bytes; what it
        # has not is never trimmed.
        assert entries[0][0] <= position
    read = [data for seq, data in (await gw.entries(k)) if seq <= position]
    assert len(json.dumps(read)) < 1000 + 200 and len(read) < 20


async def test_concurrency_queues_the_extra_request(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("slow_agent", concurrency=2)
    first = await gw.start("a")
    second = await gw.start("b")
    third = await gw.start("c")
    for k in (first, second):
        await gw.until(k, lambda f: f["type"] == "event")

    async def third_state() -> tuple[str, int]:
        return (await gw.meta(third))["state"], await gw.last_seq(third)

    assert await settled(third_state) == ("queued", 0)
    await gw.ctl(second, op="cancel")
    await gw.terminal(second)
    await gw.until(third, lambda f: f["type"] == "event")
    assert (await gw.meta(third))["state"] == "running"


# Hosts that die, and hosts that stop ----------------------------------------


async def test_a_request_read_by_a_dead_host_is_claimed(gw: Gateway, spawn_host: SpawnHost) -> None:
    await gw.r.xgroup_create("t:requests", "hosts", id="0", mkstream=True)
    k = await gw.start()
    # A host that read the request and died before starting it.
    read_at = time.monotonic()
    taken: Any = await gw.r.xreadgroup("hosts", "dead", {"t:requests": ">"}, count=1)
    assert taken and len(taken[0][1]) == 1
    host = await spawn_host("streaming_agent", "--claim-after-ms", "800")
    await gw.until(k, lambda f: f["type"] == "event")
    assert time.monotonic() - read_at >= 0.8
    frames = await gw.terminal(k)
    assert frames[-1]["type"] == "result"
    assert (await gw.meta(k))["host"] == host.host_id
    pending: Any = await gw.r.xpending("t:requests", "hosts")
    assert pending["pending"] == 0


async def test_heartbeat_and_sigterm(gw: Gateway, spawn_host: SpawnHost) -> None:
    host = await spawn_host("slow_agent", "--heartbeat-ms", "200", "--heartbeat-ttl-ms", "600")
    host_key = f"t:host:{host.host_id}"

    async def beating() -> bool:
        return bool(await gw.r.exists(host_key))

    await eventually(beating, "the host key")
    k = await gw.start()
    await gw.until(k, lambda f: f["type"] == "event")
    ttl = await gw.r.pttl(host_key)
    assert 0 < ttl <= 600
    # Renewed: still there well after its ttl.
    await asyncio.sleep(0.8)
    assert await beating()
    assert await host.terminate() == 0
    frames = await gw.frames(k)
    assert frames[-1] == {"type": "cancelled", "runId": "r1", "seq": 2, "reason": "shutdown"}
    assert (await gw.meta(k))["outcome"] == "cancelled"
    assert not await beating()
    assert "Traceback" not in host.stderr, host.stderr


async def test_a_killed_host_stops_beating(gw: Gateway, spawn_host: SpawnHost) -> None:
    host = await spawn_host("slow_agent", "--heartbeat-ms", "100", "--heartbeat-ttl-ms", "300")
    host_key = f"t:host:{host.host_id}"

    async def beating() -> bool:
        return bool(await gw.r.exists(host_key))

    await eventually(beating, "the host key")
    host.proc.kill()
    await host.wait_exit()
    await eventually(lambda: _not(beating()), "the host key to expire", timeout=2)


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


async def test_runs_survive_dropped_connections(gw: Gateway, spawn_host: SpawnHost) -> None:
    host = await spawn_host("long_stream")
    k = await gw.start(task="go", options={"words": 300}, lag=16)
    position = 0
    kills = 0
    while True:
        frames = [f for _, f in await gw.entries(k) if f["seq"] > position]
        if frames and frames[-1]["type"] in TERMINAL:
            break
        if frames:
            position = frames[-1]["seq"]
            if position > 40 * (kills + 1) and kills < 4:
                # Every connection but this one: the host's blocking reads too.
                await gw.r.client_kill_filter(_type="normal", skipme=True)
                kills += 1
            await gw.commit(k, "reader", position)
        else:
            await asyncio.sleep(0.01)
    assert kills == 4
    frames = await gw.frames(k)
    assert frames[-1]["type"] == "result" and frames[-1]["seq"] == 303
    assert "".join(f["text"] for f in frames if f["type"] == "token") == " ".join(f"w{i}" for i in range(300))
    assert await host.terminate() == 0


async def test_a_run_whose_log_a_gateway_ended_is_abandoned(gw: Gateway, spawn_host: SpawnHost) -> None:
    """A gateway that took the host for dead wrote the terminal frame at the
    next seq: the host writes nothing after it, and frees the slot."""
    await spawn_host("long_stream", concurrency=1)
    k = await gw.start(task="go", lag=8)

    async def last() -> int:
        return await gw.last_seq(k)

    assert await settled(last, moved_from=0) == 8
    died = {"type": "error", "runId": "r1", "seq": 9, "code": "AGS_WORKER_DIED", "message": "gone"}
    await gw.r.xadd(gw.key(k, "log"), {"f": json.dumps(died)}, id="9-1")
    await gw.r.hset(gw.key(k, "meta"), mapping={"state": "ended", "outcome": "error"})
    await gw.commit(k, "reader", 8)
    # The slot is free again: the next request runs.
    other = await gw.start("r2", task="go", options={"words": 3})
    assert (await gw.terminal(other))[-1]["type"] == "result"
    assert (await gw.frames(k))[-1] == died


async def test_a_flushed_redis_is_served_again(gw: Gateway, spawn_host: SpawnHost) -> None:
    """Redis restarted empty: the consumer group is made again."""
    await spawn_host("streaming_agent")
    assert (await gw.terminal(await gw.start()))[-1]["type"] == "result"
    await gw.r.flushall()
    assert (await gw.terminal(await gw.start("again")))[-1]["type"] == "result"


async def test_runs_go_on_when_redis_returns(gw: Gateway, spawn_host: SpawnHost, redis_server: RedisServer) -> None:
    host = await spawn_host("long_stream", "--heartbeat-ms", "200", "--heartbeat-ttl-ms", "5000")
    k = await gw.start(task="go", options={"words": 100}, lag=32)

    async def last() -> int:
        return await gw.last_seq(k)

    assert await settled(last, moved_from=0) == 32
    # Held by its lag: nothing in flight, so a snapshot has all of the run.
    await gw.r.save()
    redis_server.stop()
    await asyncio.sleep(1.5)  # the outage: every loop of the host meets errors
    assert host.proc.returncode is None
    redis_server.start()
    await gw.r.connection_pool.disconnect()  # the test's own connections died with the server
    await gw.commit(k, "reader", 32)
    while (frames := await gw.frames(k))[-1]["type"] not in TERMINAL:
        await gw.commit(k, "reader", frames[-1]["seq"])
        await gw.until(k, lambda f, after=frames[-1]["seq"]: f["seq"] > after)  # type: ignore[misc]
    assert frames[-1]["type"] == "result" and frames[-1]["seq"] == 103
    assert "".join(f["text"] for f in frames if f["type"] == "token") == " ".join(f"w{i}" for i in range(100))

    async def beating() -> bool:
        return bool(await gw.r.exists(f"t:host:{host.host_id}"))

    await eventually(beating, "the heartbeat after the outage")
    assert await host.terminate() == 0
    assert "retrying with backoff" in host.stderr


async def test_an_item_over_the_frame_limit_ends_the_run(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("bridge_test_factories:big_item", "--max-frame-bytes", "2048")
    k = await gw.start(options={"size": 5000})
    frames = await gw.terminal(k)
    assert [f["type"] for f in frames] == ["event", "error"]
    assert frames[-1]["code"] == "AGS_ITEM_TOO_LARGE"


# Threads ----------------------------------------------------------------------


def _reply(frame: dict[str, Any]) -> str:
    assert frame["type"] == "result", frame
    return str(frame["result"]["messages"][-1]["content"])


async def _ended(gw: Gateway, thread_id: str) -> dict[str, str]:
    """The thread's record once its run has left it (its terminal frame is
    written in the same script, so this is at once after it)."""
    record = await gw.record(thread_id)
    assert "active" not in record and "activeRunId" not in record, record
    return record


async def test_a_thread_run_loads_the_saved_state_and_saves_its_own(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("thread_agent")
    k1 = await gw.start("r1", "m1", thread="chat")
    first = (await gw.terminal(k1))[-1]
    assert _reply(first) == "seen: m1" and "stateError" not in first
    record = await _ended(gw, "chat")
    state = json.loads(record["state"])
    assert state["type"] == "TeamState"
    assert int(record["stateBytes"]) == len(record["state"].encode())
    [run] = json.loads(record["runs"])
    assert run["key"] == k1 and run["runId"] == "r1" and run["outcome"] == "result" and run["stateSaved"] is True
    assert run["usage"] == first["usage"] and run["endedAt"] >= run["startedAt"]
    assert (int(record["prompt"]), int(record["completion"])) == (
        first["usage"]["prompt_tokens"],
        first["usage"]["completion_tokens"],
    )
    assert int(record["updated"]) == run["endedAt"]
    # Idle: kept threadRetention (the record's own, 60 s here), the owner's most recently used.
    assert 0 < await gw.r.pttl(gw.thread("chat")) <= 60_000
    assert await gw.r.zrange("t:threads:5:alice", 0, -1) == [b"chat"]

    # The next run, on another host: its model is asked with the first run's message.
    await spawn_host("thread_agent")
    k2 = await gw.start("r2", "m2", thread="chat")
    second = (await gw.terminal(k2))[-1]
    assert _reply(second) == "seen: m1 | m2"
    record = await _ended(gw, "chat")
    assert [(r["runId"], r["outcome"], r["stateSaved"]) for r in json.loads(record["runs"])] == [
        ("r1", "result", True),
        ("r2", "result", True),
    ]
    assert int(record["prompt"]) == first["usage"]["prompt_tokens"] + second["usage"]["prompt_tokens"]


async def test_a_state_over_max_state_bytes_is_not_kept(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("thread_agent")
    k1 = await gw.start("r1", "m1", thread="chat")
    await gw.terminal(k1)
    kept = (await gw.record("chat"))["state"]
    k2 = await gw.start("r2", "m2", thread="chat", max_state_bytes=len(kept) + 10)
    result = (await gw.terminal(k2))[-1]
    assert _reply(result) == "seen: m1 | m2", "the run keeps its own outcome"
    assert list(result) == ["type", "runId", "seq", "result", "usage", "stateError"]
    size = int(result["stateError"]["message"].split(" bytes")[0].rsplit(" ", 1)[1])
    assert size > len(kept) + 10
    assert result["stateError"] == {
        "code": "AGS_THREAD_STATE_TOO_LARGE",
        "message": f"The thread's state is {size} bytes, over maxThreadStateBytes ({len(kept) + 10}): it was not saved",
    }
    record = await _ended(gw, "chat")
    assert record["state"] == kept, "the thread keeps its previous state"
    runs = json.loads(record["runs"])
    assert (runs[-1]["outcome"], runs[-1]["stateSaved"], runs[-1]["usage"]) == ("result", False, result["usage"])


async def test_a_cancelled_thread_run_saves_its_state(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("thread_agent")
    k1 = await gw.start("r1", "m1", thread="chat")
    await gw.terminal(k1)
    k2 = await gw.start("r2", "m2", thread="chat", options={"delay": 3600})
    await gw.until(k2, lambda f: f["type"] == "event")
    await gw.ctl(k2, op="cancel")
    cancelled = (await gw.terminal(k2))[-1]
    assert cancelled == {"type": "cancelled", "runId": "r2", "seq": 2, "reason": "client"}
    runs = json.loads((await _ended(gw, "chat"))["runs"])
    assert [(r["runId"], r["outcome"], r["stateSaved"]) for r in runs] == [
        ("r1", "result", True),
        ("r2", "cancelled", True),
    ]
    assert "usage" not in runs[-1], "its model never answered"
    k3 = await gw.start("r3", "m3", thread="chat")
    # AutoGen 0.7.5 keeps a turn cancelled inside its model call twice (docs/bridge.md, Threads).
    assert _reply((await gw.terminal(k3))[-1]) == "seen: m1 | m2 | m2 | m3"


async def test_a_thread_forgotten_during_its_run_is_not_made_again(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("thread_agent")
    k = await gw.start("r1", "m1", thread="chat", options={"delay": 3600})
    await gw.until(k, lambda f: f["type"] == "event")
    # Its anonymous owner's connection closed: the gateway forgot its threads.
    assert await gw.r.delete(gw.thread("chat")) == 1
    await gw.ctl(k, op="cancel")
    assert (await gw.terminal(k))[-1]["type"] == "cancelled"
    assert await gw.r.exists(gw.thread("chat")) == 0


async def test_a_thread_claimed_by_another_run_keeps_nothing_of_this_one(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("thread_agent")
    k = await gw.start("r1", "m1", thread="chat", options={"delay": 3600})
    await gw.until(k, lambda f: f["type"] == "event")
    # A gateway found its host dead and freed the thread; another run took it.
    await gw.r.hset(gw.thread("chat"), mapping={"active": "another", "activeRunId": "r9"})
    await gw.ctl(k, op="cancel")
    assert (await gw.terminal(k))[-1]["type"] == "cancelled"
    record = await gw.record("chat")
    assert record["active"] == "another" and "state" not in record
    [run] = json.loads(record["runs"])
    assert "outcome" not in run


async def test_a_saved_state_that_is_not_json_fails_the_run(gw: Gateway, spawn_host: SpawnHost) -> None:
    host = await spawn_host("thread_agent")
    k1 = await gw.start("r1", "m1", thread="chat")
    await gw.terminal(k1)
    await gw.r.hset(gw.thread("chat"), "state", "{nope")
    k2 = await gw.start("r2", "m2", thread="chat")
    frames = await gw.terminal(k2)
    assert frames == [
        {
            "type": "error",
            "runId": "r2",
            "seq": 1,
            "code": "AGS_THREAD_STATE_FAILED",
            "message": "The thread's saved state could not be loaded",
        }
    ]
    record = await _ended(gw, "chat")
    assert record["state"] == "{nope", "left as it was"
    assert [(r["outcome"], r["stateSaved"]) for r in json.loads(record["runs"])] == [("result", True), ("error", False)]
    assert "its thread's saved state cannot be read: the record's state is not JSON" in host.stderr


async def test_a_thread_run_whose_request_cannot_be_read_frees_its_thread(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("thread_agent")
    k = await gw.start("r1", "m1", thread="chat", spec="{not json")
    [error] = await gw.terminal(k)
    assert error["code"] == "AGS_BAD_REQUEST"
    record = await _ended(gw, "chat")
    assert [(r["outcome"], r["stateSaved"]) for r in json.loads(record["runs"])] == [("error", False)]
    assert "state" not in record


# Interrupted input ----------------------------------------------------------


def _text_messages(frames: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (f["event"]["source"], f["event"]["content"])
        for f in frames
        if f["type"] == "event" and f["event"]["type"] == "TextMessage"
    ]


async def _host_active(gw: Gateway, host: HostProc) -> int:
    raw: Any = await gw.r.get(f"t:host:{host.host_id}")
    return int(json.loads(raw)["active"])


async def test_a_thread_run_held_past_hold_input_for_is_interrupted_and_the_answer_continues_it(
    gw: Gateway, spawn_host: SpawnHost
) -> None:
    host = await spawn_host("interrupt_round_robin")
    opts = {"example": "interrupt_round_robin"}
    k1 = await gw.start("r1", "plan", options=opts, thread="week", hold_input_for=100)
    frames = await gw.terminal(k1)
    [asked] = [f for f in frames if f["type"] == "input_request"]
    assert _text_messages(frames) == [("user", "plan"), ("assistant", "seen: user: plan")]
    [usage] = [f["event"]["models_usage"] for f in frames if f["type"] == "event" and f["event"].get("models_usage")]
    assert frames[-1] == {
        "type": "interrupted",
        "runId": "r1",
        "seq": asked["seq"] + 1,
        "threadId": "week",
        "requestId": asked["requestId"],
        "prompt": "Enter your response: ",
        "source": "user",
        "usage": {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"]},
    }
    assert (await gw.meta(k1))["outcome"] == "interrupted"
    # The interrupt took the request out of the run's inputs: an input for it finds nothing.
    assert not await gw.answer(k1, asked["requestId"], "too late")
    record = await _ended(gw, "week")
    pending = {"requestId": asked["requestId"], "prompt": "Enter your response: ", "source": "user"}
    assert json.loads(record["pending"]) == pending
    assert json.loads(record["state"])["type"] == "TeamState"
    [run] = json.loads(record["runs"])
    assert (run["outcome"], run["stateSaved"]) == ("interrupted", True)
    await eventually(lambda: _is(_host_active(gw, host), 0), "the host to hold no run")

    # An answer the state cannot go on from (another asker) fails and saves nothing: the question stays.
    wrong = {**pending, "content": "hi", "source": "nobody"}
    k2 = await gw.start("r2", "hi", options=opts, thread="week", hold_input_for=100, answer=wrong)
    failed = (await gw.terminal(k2))[-1]
    assert (failed["code"], failed["message"]) == (
        "AGS_THREAD_STATE_FAILED",
        "The answer cannot continue the thread's saved state",
    )
    record = await _ended(gw, "week")
    assert json.loads(record["pending"]) == pending

    # The answer, on another host, held for ever this time: the user proxy's reply, and the model asked with it.
    await host.terminate()
    await spawn_host("interrupt_round_robin")
    answer = {**pending, "content": "change it"}
    k3 = await gw.start("r3", "change it", options=opts, thread="week", answer=answer)
    before = await gw.until(k3, lambda f: f["type"] == "input_request")
    assert _text_messages(before) == [("user", "change it"), ("assistant", "seen: user: plan | user: change it")]
    assert await gw.answer(k3, before[-1]["requestId"], "APPROVE")
    result = (await gw.terminal(k3))[-1]
    assert result["type"] == "result" and "APPROVE" in result["result"]["stop_reason"]
    record = await _ended(gw, "week")
    assert "pending" not in record, "a run that saved a state answers the question no more"
    assert [(r["runId"], r["outcome"], r["stateSaved"]) for r in json.loads(record["runs"])] == [
        ("r1", "interrupted", True),
        ("r2", "error", False),
        ("r3", "result", True),
    ]


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def test_an_interrupt_whose_state_is_not_kept_is_an_error(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("interrupt_round_robin")
    k = await gw.start(
        "r1", "plan", options={"example": "interrupt_round_robin"}, thread="week", hold_input_for=0, max_state_bytes=64
    )
    frames = await gw.terminal(k)
    last = frames[-1]
    size = int(last["stateError"]["message"].split(" bytes")[0].rsplit(" ", 1)[1])
    reason = f"The thread's state is {size} bytes, over maxThreadStateBytes (64): it was not saved"
    assert last == {
        "type": "error",
        "runId": "r1",
        "seq": frames[-2]["seq"] + 1,
        "code": "AGS_INTERRUPT_FAILED",
        "message": f"The run waited for input longer than holdInputFor, but could not be held for the answer: {reason}",
        "usage": last["usage"],
        "stateError": {"code": "AGS_THREAD_STATE_TOO_LARGE", "message": reason},
    }
    assert frames[-2]["type"] == "input_request"
    record = await _ended(gw, "week")
    assert "pending" not in record and "state" not in record
    assert [(r["outcome"], r["stateSaved"]) for r in json.loads(record["runs"])] == [("error", False)]


async def test_an_input_request_answered_within_hold_input_for_is_not_interrupted(
    gw: Gateway, spawn_host: SpawnHost
) -> None:
    await spawn_host("interrupt_round_robin")
    k = await gw.start(
        "r1", "plan", options={"example": "interrupt_round_robin"}, thread="week", hold_input_for=3_600_000
    )
    asked = (await gw.until(k, lambda f: f["type"] == "input_request"))[-1]
    assert await gw.answer(k, asked["requestId"], "APPROVE")
    assert (await gw.terminal(k))[-1]["type"] == "result"
    assert "pending" not in await _ended(gw, "week")


async def test_a_thread_answer_that_cannot_be_read_is_a_bad_request(gw: Gateway, spawn_host: SpawnHost) -> None:
    await spawn_host("interrupt_round_robin")
    k = await gw.start("r1", "x", thread="week", answer={"requestId": 1, "content": "x", "prompt": "p"})
    [error] = await gw.terminal(k)
    assert (error["code"], error["message"]) == ("AGS_BAD_REQUEST", "The run request could not be read")
    assert [(r["outcome"], r["stateSaved"]) for r in json.loads((await _ended(gw, "week"))["runs"])] == [
        ("error", False)
    ]


def test_a_thread_spec_is_read_as_the_gateway_writes_it() -> None:
    from autogen_stream_bridge.redis_host import BadThreadSpec, ThreadSpec

    spec = ThreadSpec.parse(
        {
            "id": "week",
            "maxStateBytes": 100,
            "holdInputFor": 5000,
            "answer": {"requestId": "q", "content": "c", "prompt": "p", "source": "user"},
        }
    )
    assert spec == ThreadSpec("week", 100, 5000.0, {"request_id": "q", "content": "c", "source": "user"})
    # holdInputFor Infinity is JSON's null; left out (an older gateway), never too.
    assert ThreadSpec.parse({"id": "w", "holdInputFor": None}).hold_input_for is None
    assert ThreadSpec.parse({"id": "w"}).hold_input_for is None
    assert ThreadSpec.parse({"holdInputFor": -1}).hold_input_for is None
    assert ThreadSpec.parse({"holdInputFor": 0}).hold_input_for == 0.0
    # No source: as Node's channel.ts, the empty name.
    no_source = ThreadSpec.parse({"answer": {"requestId": "q", "content": "c", "prompt": "p"}}).answer
    assert no_source == {"request_id": "q", "content": "c", "source": ""}
    for bad in ("x", {"requestId": "q", "content": 1, "prompt": "p"}, {"requestId": "q", "content": "c"}):
        with pytest.raises(BadThreadSpec):
            ThreadSpec.parse({"answer": bad})


# Frames, without Redis -------------------------------------------------------


def test_frames_map_evs_as_the_node_plugin_does() -> None:
    from autogen_stream_bridge.protocol import LineTooLong
    from autogen_stream_bridge.redis_frames import RunFrames

    frames = RunFrames("run-\ud800", 200)
    chunk = '{"source":"a","content":"hi \\ud800","full_message_id":"m1","type":"ModelClientStreamingChunkEvent"}'
    token = frames.item(chunk)
    # A lone surrogate cannot be UTF-8: it stays a \u escape, and the frame valid JSON.
    assert token.seq == 1 and token.data.isascii()
    assert json.loads(token.data) == {
        "type": "token",
        "runId": "run-\ud800",
        "seq": 1,
        "source": "a",
        "full_message_id": "m1",
        "text": "hi \ud800",
        "chunks": 1,
    }
    with pytest.raises(LineTooLong):
        frames.item(json.dumps({"type": "TextMessage", "content": "x" * 500}))
    request = frames.input_request("q1", "Your answer?")
    assert (request.seq, request.request_id, request.outcome) == (2, "q1", None)
    end = frames.end()
    assert end is not None and end.outcome == "error"
    assert json.loads(end.data) == {
        "type": "error",
        "runId": "run-\ud800",
        "seq": 3,
        "code": "AGS_RUNNER_NO_RESULT",
        "message": "The runner ended without a TaskResult",
    }
    with pytest.raises(RuntimeError):
        frames.cancelled("client")

    # Usage: summed from the items' models_usage; what is not a count is ignored.
    counted = RunFrames("u", 10_000)
    assert "usage" not in json.loads(RunFrames("none", 10_000).cancelled("client").data), "no model reported usage"
    for usage in (
        {"prompt_tokens": 7, "completion_tokens": 3},
        {"prompt_tokens": -1, "completion_tokens": True},
        "x",
        None,
    ):
        counted.item(json.dumps({"type": "TextMessage", "source": "a", "content": "c", "models_usage": usage}))
    counted.item(
        json.dumps(
            {
                "type": "ModelClientStreamingChunkEvent",
                "source": "a",
                "content": "c",
                "models_usage": {"prompt_tokens": 1, "completion_tokens": 1},
            }
        )
    )
    ended = json.loads(counted.cancelled("client").data)
    assert ended["usage"] == {"prompt_tokens": 8, "completion_tokens": 4}

    after_result = RunFrames("r", 10_000)
    result = after_result.item('{"type":"TaskResult","messages":[],"stop_reason":null}')
    assert result.outcome == "result" and after_result.end() is None


def test_a_thread_runs_state_and_state_error() -> None:
    from autogen_stream_bridge.redis_frames import RunFrames
    from autogen_stream_bridge.redis_host import HostRun, Retain
    from autogen_stream_bridge.redis_keys import RunKeys

    run = HostRun(RunKeys("t:", "k"), "r", Retain(), 10_000)
    run.max_state_bytes = 20
    run.keep_state({"a": "é"})
    assert run.state == '{"a":"é"}'.encode() and run.frames.state_error is None
    run.keep_state({"a": "x" * 20})
    assert run.state is None
    assert run.frames.state_error == (
        "AGS_THREAD_STATE_TOO_LARGE",
        "The thread's state is 28 bytes, over maxThreadStateBytes (20): it was not saved",
    )
    run.keep_state({"a": object()})
    assert run.state is None and run.frames.state_error is not None
    assert run.frames.state_error[0] == "AGS_THREAD_STATE_FAILED"
    assert run.frames.state_error[1].startswith("The thread's state could not be saved: it cannot be written as JSON (")
    # The last call wins, as saveState() in Node.
    run.keep_state([1])
    assert run.state == b"[1]" and run.frames.state_error is None

    # A thread's result frame, made before its state was known, gets the stateError after its usage.
    frames = run.frames
    usage = {"prompt_tokens": 1, "completion_tokens": 2}
    frames.item(json.dumps({"type": "TextMessage", "source": "a", "content": "c", "models_usage": usage}))
    result = frames.item('{"type":"TaskResult","messages":[],"stop_reason":null}')
    assert frames.with_state_error(result) is result, "no stateError: the frame as it was"
    frames.state_error = ("AGS_THREAD_STATE_FAILED", "nope")
    assert json.loads(frames.with_state_error(result).data) == {
        "type": "result",
        "runId": "r",
        "seq": 2,
        "result": {"type": "TaskResult", "messages": [], "stop_reason": None},
        "usage": usage,
        "stateError": {"code": "AGS_THREAD_STATE_FAILED", "message": "nope"},
    }
    cancelled = RunFrames("r", 10_000)
    cancelled.state_error = ("C", "M")
    assert json.loads(cancelled.cancelled("client").data) == {
        "type": "cancelled",
        "runId": "r",
        "seq": 1,
        "reason": "client",
        "stateError": {"code": "C", "message": "M"},
    }
