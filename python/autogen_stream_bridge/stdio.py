"""Protocol stdio: private copies of fds 0/1, an async line reader and writer.

The protocol owns the process's stdin and stdout, but AutoGen, user
factories and child processes may ``print()`` or ``input()``. We move the
protocol to private fds and point fds 0/1 at /dev/null and stderr, so a stray
print lands in the logs instead of corrupting the NDJSON stream, and a stray
``input()`` sees EOF instead of eating protocol lines.

The writer never blocks the event loop: pipes go through asyncio pipe
transports; anything else (a regular file, when run by hand) through a
thread.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from .limits import DEFAULT_MAX_LINE_BYTES

log = logging.getLogger(__name__)

# How much is read from stdin at a time.
READ_CHUNK = 256 * 1024
# How much of a skipped line is kept, to tell which run it was for.
KEPT_PREFIX = 1024


def isolate_stdio() -> tuple[int, int]:
    """Return (protocol_in_fd, protocol_out_fd) and neuter fds 0 and 1."""
    sys.stdout.flush()
    in_fd = os.dup(0)  # os.dup fds are non-inheritable: children never see the protocol
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return in_fd, out_fd


@dataclass(frozen=True)
class OversizedLine:
    """A line longer than the limit, skipped without being kept."""

    prefix: bytes  # its first KEPT_PREFIX bytes
    size: int  # its length in bytes, without the "\n"


class LineReader:
    """Reads newline-terminated lines; None means EOF.

    A line longer than ``limit`` bytes (not counting its "\n") is never
    held whole: it is read on in chunks and discarded up to its "\n", in
    time linear in its length and in memory bounded by the limit, and
    returned as an OversizedLine."""

    def __init__(self, reader: asyncio.StreamReader, limit: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._reader = reader
        self._limit = limit
        self._buffer = bytearray()
        # Where to resume looking for "\n": the bytes before it have none.
        self._scanned = 0

    @classmethod
    async def open(cls, fd: int, limit: int = DEFAULT_MAX_LINE_BYTES) -> LineReader:
        loop = asyncio.get_running_loop()
        # The StreamReader's own limit only sets how much it buffers before
        # pausing the pipe; lines are split here, with our limit.
        reader = asyncio.StreamReader(limit=READ_CHUNK, loop=loop)
        pipe = os.fdopen(fd, "rb", buffering=0)
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
        except ValueError:
            # Not a pipe/socket/tty (stdin redirected from a file): feed the
            # same StreamReader from a thread.
            _feed_from_thread(loop, reader, pipe)
        return cls(reader, limit)

    def buffered_line(self) -> bytes | None:
        """The next line if it is already read whole (and within the limit),
        else None: then readline() reads on (and handles long lines)."""
        buffer = self._buffer
        newline = buffer.find(b"\n", self._scanned)
        if newline == -1:
            self._scanned = len(buffer)
            return None
        if newline > self._limit:
            return None
        line = bytes(buffer[: newline + 1])
        del buffer[: newline + 1]
        self._scanned = 0
        return line

    async def readline(self) -> bytes | OversizedLine | None:
        buffer = self._buffer
        while True:
            newline = buffer.find(b"\n", self._scanned)
            if newline != -1:
                if newline > self._limit:
                    # The whole line arrived in one read; it is dropped all the same.
                    oversized = OversizedLine(bytes(buffer[: min(newline, KEPT_PREFIX)]), newline)
                    del buffer[: newline + 1]
                    self._scanned = 0
                    log.warning("dropping a stdin line of %d bytes (limit %d)", oversized.size, self._limit)
                    return oversized
                line = bytes(buffer[: newline + 1])
                # Deleting from the front of a bytearray is O(1) amortized in
                # CPython: no quadratic copying for many short lines.
                del buffer[: newline + 1]
                self._scanned = 0
                return line
            if len(buffer) > self._limit:
                return await self._skip_rest()
            self._scanned = len(buffer)
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                if not buffer:
                    return None
                line = bytes(buffer)  # a last line without "\n" still counts
                buffer.clear()
                self._scanned = 0
                return line
            buffer += chunk

    async def _skip_rest(self) -> OversizedLine:
        """The buffer holds the start of a line already over the limit and no
        "\n": drop it, then read and drop chunks until the "\n"."""
        buffer = self._buffer
        prefix = bytes(buffer[:KEPT_PREFIX])
        size = len(buffer)
        buffer.clear()
        self._scanned = 0
        while True:
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                break  # EOF inside the line; the next readline() says EOF
            newline = chunk.find(b"\n")
            if newline != -1:
                size += newline
                buffer += chunk[newline + 1 :]  # the next lines' start
                break
            size += len(chunk)
        log.warning("dropping a stdin line of %d bytes (limit %d)", size, self._limit)
        return OversizedLine(prefix, size)


def _feed_from_thread(loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader, pipe: BinaryIO) -> None:
    def pump() -> None:
        try:
            while chunk := pipe.read(65536):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
        finally:
            loop.call_soon_threadsafe(reader.feed_eof)

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-stdin")
    loop.run_in_executor(executor, pump)
    executor.shutdown(wait=False)


class _WriteProtocol(asyncio.Protocol):
    """Flow control for the stdout pipe: drain() waits while Node is behind."""

    def __init__(self) -> None:
        self._paused = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            log.warning("stdout closed: %s", exc)
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if not self._paused or self.lost.done():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter


FLUSH_BYTES = 64 * 1024
# The longest list line (see LineWriter.add_part) made of several parts.
LIST_LINE_BYTES = 64 * 1024


class _ListLine:
    """A line made of a head, parts joined by "," and a tail, still open to
    more parts while it is the writer's last pending line."""

    __slots__ = ("head", "parts", "size", "tail")

    def __init__(self, head: bytes, tail: bytes, part: bytes) -> None:
        self.head = head
        self.tail = tail
        self.parts = [part]
        self.size = len(head) + len(part) + len(tail)

    def render(self) -> bytes:
        return self.head + b",".join(self.parts) + self.tail


class LineWriter:
    """Writes whole lines in call order; ``send`` waits for the pipe to drain."""

    def __init__(
        self,
        transport: asyncio.WriteTransport | None,
        protocol: _WriteProtocol | None,
        fallback: _ThreadWriter | None = None,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._fallback = fallback
        self._closed = False
        # Lines sent in one turn of the loop go out in one write(): a
        # syscall per line was the worker's largest cost per token.
        self._pending: list[bytes | _ListLine] = []
        self._pending_bytes = 0
        self._flush_scheduled = False
        self.lost: asyncio.Future[None] = (
            protocol.lost if protocol is not None else asyncio.get_running_loop().create_future()
        )

    @classmethod
    async def open(cls, fd: int) -> LineWriter:
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(fd, "wb", buffering=0)
        try:
            transport, protocol = await loop.connect_write_pipe(_WriteProtocol, pipe)
        except ValueError:
            return cls(None, None, _ThreadWriter(pipe))
        return cls(transport, protocol)

    @property
    def batches(self) -> bool:
        """Whether add_part() may be used: lines are queued and written per
        turn of the loop (not so when stdout is a regular file)."""
        return self._fallback is None

    async def drain(self) -> None:
        if self._protocol is not None:
            await self._protocol.drain()

    async def send(self, data: bytes) -> None:
        if self._closed or self.lost.done():
            return
        if self._fallback is not None:
            await self._fallback.write(data)
            return
        assert self._transport is not None and self._protocol is not None
        # Lines are queued in call order and written together at the end of
        # this turn of the loop, so they reach the pipe in call order even
        # when several runs are sending at once.
        self._pending.append(data)
        self._queued(len(data))
        if self._protocol._paused:
            await self._protocol.drain()

    def add_part(self, head: bytes, tail: bytes, part: bytes, cap: int = LIST_LINE_BYTES) -> bool:
        """Queues ``part`` in a list line ``head + part + "," + part ... + tail``
        (tail ends with the newline): into the last pending line when that is
        one with the same head and stays within ``cap`` bytes, else as a new
        line. Only while ``batches`` (pipes). Call order is kept: a part never
        joins a line that other lines were queued after. The caller checks
        that a line of its one part fits the line limit. Returns whether the
        pipe is full: then the caller awaits drain() before more."""
        if self._closed or self.lost.done():
            return False
        pending = self._pending
        last = pending[-1] if pending else None
        if type(last) is _ListLine and last.head == head and last.size + len(part) < cap:
            last.parts.append(part)
            size = len(part) + 1
            last.size += size
        else:
            last = _ListLine(head, tail, part)
            pending.append(last)
            size = last.size
        # _queued(), inline: this is once per token.
        self._pending_bytes += size
        if self._pending_bytes >= FLUSH_BYTES:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        protocol = self._protocol
        return protocol is not None and protocol._paused

    def _queued(self, size: int) -> None:
        self._pending_bytes += size
        if self._pending_bytes >= FLUSH_BYTES:
            # A producer that never yields must not pile up lines here: write
            # now, so the pipe's own flow control (drain) applies.
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending or self._transport is None or self.lost.done():
            self._pending.clear()
            self._pending_bytes = 0
            return
        data = b"".join([p if isinstance(p, bytes) else p.render() for p in self._pending])
        self._pending.clear()
        self._pending_bytes = 0
        self._transport.write(data)

    async def aclose(self) -> None:
        """Flush everything written so far, then close."""
        if self._closed:
            return
        self._closed = True
        if self._fallback is not None:
            await self._fallback.aclose()
            return
        assert self._transport is not None
        self._flush()
        self._transport.close()  # the transport flushes its buffer before closing
        await self.lost


class _ThreadWriter:
    def __init__(self, pipe: BinaryIO) -> None:
        self._pipe = pipe
        # One thread keeps writes in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-stdout")

    async def write(self, data: bytes) -> None:
        # Submitted now, so lines keep call order; shielded, so a cancelled
        # sender cannot unqueue a line that is already promised.
        await asyncio.shield(asyncio.wrap_future(self._executor.submit(self._write_all, data)))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._pipe.write(view)  # unbuffered: may be partial
            view = view[written or 0 :]

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._pipe.close)
        self._executor.shutdown(wait=False)
