"""A client for the worker that speaks the protocol over real stdio."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).parent
TERMINAL = {"end", "cancelled", "interrupted", "error"}
# A hang guard, not a speed requirement.
TIMEOUT = 10.0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(line: bytes) -> Any:
    """JSON.parse's rules: NaN and Infinity, which Python's json accepts, are errors."""
    return json.loads(line, parse_constant=_reject_constant)


def chunk_item(ev: dict[str, Any], content: str) -> dict[str, Any]:
    """The item Node makes of one entry of a `chunks` line."""
    return {
        "type": "ModelClientStreamingChunkEvent",
        "source": ev["source"],
        "content": content,
        "full_message_id": ev["full_message_id"],
    }


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._runs: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._other: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self.stderr = b""
        # `chunks` lines read (each is expanded into its items, as Node does).
        self.chunk_lines = 0
        # Every line as the worker wrote it, parsed (a `chunks` line not expanded).
        self.lines: list[dict[str, Any]] = []
        self.line_lengths: list[int] = []
        # Lines that Node's JSON.parse would reject; checked after every test.
        self.invalid_lines: list[bytes] = []
        self._reader = asyncio.ensure_future(self._read())
        self._stderr_reader = asyncio.ensure_future(self._read_stderr())

    @classmethod
    async def spawn(cls, factory: str, *args: str, env: dict[str, str] | None = None) -> Worker:
        # The caller's PYTHONPATH is kept after ours: it may name the bridge
        # package of a checkout the venv's editable install does not point at.
        python_path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
        full_env = {**os.environ, "PYTHONPATH": python_path, **(env or {})}
        cmd = [sys.executable, "-m", "autogen_stream_bridge.worker"]
        if factory:
            cmd += ["--factory", factory]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            limit=64 * 1024 * 1024,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            assert line.endswith(b"\n"), line
            try:
                ev = strict_loads(line)
            except ValueError:
                self.invalid_lines.append(line)
                ev = json.loads(line)
            self.lines.append(ev)
            self.line_lengths.append(len(line) - 1)
            if ev.get("ev") == "chunks":
                # As lib/python/channel.ts reads it: one item per content entry.
                self.chunk_lines += 1
                for content in ev["content"]:
                    self._runs[ev["run"]].put_nowait({"ev": "item", "run": ev["run"], "item": chunk_item(ev, content)})
            elif "run" in ev:
                self._runs[ev["run"]].put_nowait(ev)
            else:
                self._other.put_nowait(ev)

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self.stderr += chunk

    async def send(self, **op: Any) -> None:
        await self.send_raw(json.dumps(op).encode() + b"\n")

    async def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def next_other(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await asyncio.wait_for(self._other.get(), timeout)

    async def ready(self) -> dict[str, Any]:
        ev = await self.next_other()
        assert ev["ev"] == "ready", ev
        return ev

    async def next(self, run: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await asyncio.wait_for(self._runs[run].get(), timeout)

    def pending(self, run: str) -> int:
        """Events received for run but not consumed yet."""
        return self._runs[run].qsize()

    async def items(self, run: str, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            ev = await self.next(run)
            assert ev["ev"] == "item", ev
            out.append(ev["item"])
        return out

    async def until_terminal(self, run: str, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every event of run up to and including its terminal one."""
        evs = []
        while True:
            ev = await self.next(run, timeout)
            evs.append(ev)
            if ev["ev"] in TERMINAL:
                return evs

    async def start(
        self, run: str, task: Any = "hello", credit: int = 0, run_id: str | None = None, **options: Any
    ) -> None:
        """``run`` is the key; ``run_id`` the client's runId (left out if None)."""
        if run_id is None:
            await self.send(op="start", run=run, task=task, options=options)
        else:
            await self.send(op="start", run=run, run_id=run_id, task=task, options=options)
        if credit:
            await self.send(op="credit", run=run, n=credit)

    async def stats(self) -> dict[str, Any]:
        request_id = next(self._ids)
        await self.send(op="stats", id=request_id)
        while True:
            ev = await self.next_other()
            if ev["ev"] == "stats" and ev["id"] == request_id:
                return ev

    async def wait_exit(self, timeout: float = TIMEOUT) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(asyncio.gather(self._reader, self._stderr_reader), timeout)
        return code

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.send(op="shutdown")
                await self.wait_exit()
            except (Exception, asyncio.TimeoutError):
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        self._stderr_reader.cancel()


Spawn = Callable[..., Awaitable[Worker]]


async def assert_cancels_unwound(worker: Worker) -> None:
    """Shut the worker down (so its stderr is complete), then check that no
    cancelled run had to be abandoned after its grace period: cancel reached
    AutoGen itself. The worker logs "still unwinding" when it gives up."""
    await worker.send(op="shutdown")
    assert await worker.wait_exit() == 0
    assert b"still unwinding" not in worker.stderr, worker.stderr.decode(errors="replace")


@pytest.fixture
async def spawn() -> AsyncIterator[Spawn]:
    """spawn("name") starts a ready worker on bridge_examples:name;
    a name with ":" is used as is."""
    workers: list[Worker] = []

    async def _spawn(name: str, *args: str, ready: bool = True, env: dict[str, str] | None = None) -> Worker:
        factory = name if (":" in name or not name) else f"bridge_examples:{name}"
        worker = await Worker.spawn(factory, *args, env=env)
        workers.append(worker)
        if ready:
            await worker.ready()
        return worker

    yield _spawn
    await asyncio.gather(*(w.close() for w in workers))
    for worker in workers:
        assert worker.invalid_lines == [], "the worker wrote lines that are not strict JSON"


def types(items: list[dict[str, Any]]) -> list[str]:
    return [i["type"] for i in items]


def squash(names: list[str]) -> list[str]:
    """Collapse runs of ModelClientStreamingChunkEvent into one "chunks*"."""
    out: list[str] = []
    for name in names:
        name = "chunks*" if name == "ModelClientStreamingChunkEvent" else name
        if not (out and out[-1] == name == "chunks*"):
            out.append(name)
    return out


# Redis --------------------------------------------------------------------


class RedisServer:
    """A private redis-server for one test: nothing saved on its own, nothing
    shared. stop() and start() again on the same port simulate an outage
    (an explicit SAVE before stop() keeps the data across it)."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.dir = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, *args, "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self.proc.poll() is None and time.monotonic() < deadline:
            if _answers_ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        logfile = self.dir / "redis.log"
        log = logfile.read_text(errors="replace") if logfile.exists() else ""
        raise RuntimeError(f"redis-server did not start: {log[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """redis-server on a free port in a tmp dir (`--save '' --appendonly no`),
    stopped after the test (env REDIS_SERVER_PATH: which redis-server).
    Skipped when redis-server is not installed,
    except on CI (env CI set), where that fails the test."""
    # REDIS_SERVER_PATH as the Node tests (test/fixtures/redis.ts) read it.
    binary = os.environ.get("REDIS_SERVER_PATH") or shutil.which("redis-server")
    if binary is None and os.path.exists("/usr/bin/redis-server"):
        binary = "/usr/bin/redis-server"  # not on PATH (a minimal PATH under npm, say)
    if binary is not None and not os.path.exists(binary):
        binary = None
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server); the Redis host tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    directory = tmp_path / "redis"
    directory.mkdir()
    server: RedisServer | None = None
    for attempt in range(5):  # another process may take the free port first
        server = RedisServer(binary, directory)
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 4:
                raise
    assert server is not None
    try:
        yield server
    finally:
        server.stop()
