"""The worker process: ``python -m autogen_stream_bridge.worker --factory module:callable``.

Only the standard library and the protocol/stdio modules are imported at the
top: AutoGen and the factory are imported inside ``serve()`` so that any
failure there is reported to Node as ``fatal`` rather than as a traceback on
a dead pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, NoReturn

from .errors import cap_client_message
from .limits import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_IMAGE_BYTES,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_LINE_BYTES,
    MIN_LINE_BYTES,
    Limits,
)
from .protocol import LineTooLong, ProtocolError, decode_op, encode_ev
from .stdio import LineReader, LineWriter, OversizedLine, isolate_stdio

log = logging.getLogger("autogen_stream_bridge")

FACTORY_ENV = "AUTOGEN_STREAM_FACTORY"
LOG_LEVEL_ENV = "AUTOGEN_STREAM_LOG_LEVEL"
FULL_ITEMS_ENV = "AUTOGEN_STREAM_FULL_ITEMS"
DEFAULT_FACTORY = "autogen_stream_bridge.demo:create_team"
# Seconds the loop teardown gives AutoGen's leftover tasks after shutdown.
TEARDOWN_SECONDS = 2.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m autogen_stream_bridge.worker",
        description="Serve AutoGen AgentChat runs to the fastify-autogen-stream plugin over NDJSON stdio.",
    )
    parser.add_argument(
        "--factory",
        default=os.environ.get(FACTORY_ENV) or DEFAULT_FACTORY,
        help=f"module:callable returning an agent or team per run (env {FACTORY_ENV}; default {DEFAULT_FACTORY})",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default=os.environ.get(LOG_LEVEL_ENV, "INFO").upper(),
        help=f"level of the bridge's own stderr logs (env {LOG_LEVEL_ENV}; default INFO)",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=_at_least(MIN_LINE_BYTES),
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help="longest NDJSON line, without its newline, read or written (default %(default)s); "
        "a longer stdin line is skipped and ends its run with AGS_LINE_TOO_LONG, a longer item ends its run "
        "with AGS_ITEM_TOO_LARGE",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=_at_least(1),
        default=DEFAULT_MAX_IMAGE_PIXELS,
        metavar="N",
        help="largest total width*height of all the images in a task, read from their headers "
        "(default %(default)s); more is AGS_IMAGE_TOO_LARGE",
    )
    parser.add_argument(
        "--max-image-bytes",
        type=_at_least(1),
        default=DEFAULT_MAX_IMAGE_BYTES,
        metavar="N",
        help="largest total decoded size in bytes of all the images in a task (default %(default)s); "
        "more is AGS_IMAGE_TOO_LARGE",
    )
    parser.add_argument(
        "--full-items",
        action="store_true",
        default=os.environ.get(FULL_ITEMS_ENV, "") not in ("", "0"),
        help=f"write every item whole, streaming chunks too (pydantic's JSON, one `item` line each) instead of "
        f"`chunks` lines: slower, what the client sees is the same; for comparing (env {FULL_ITEMS_ENV}=1)",
    )
    return parser.parse_args(argv)


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


async def serve(
    factory_spec: str, in_fd: int, out_fd: int, limits: Limits = DEFAULT_LIMITS, full_items: bool = False
) -> int:
    """Speak the protocol until shutdown or EOF; returns the exit code."""
    writer = await LineWriter.open(out_fd)

    async def send(ev: Mapping[str, Any]) -> None:
        line = encode_ev(ev)
        # Checked before anything is queued: a line is written whole or not
        # at all, and Node never has to read past its own limit.
        if len(line) - 1 > limits.max_line_bytes:
            raise LineTooLong(len(line) - 1, limits.max_line_bytes)
        await writer.send(line)

    try:
        from importlib.metadata import version

        from .chunks import ChunkLines
        from .factory import load_factory
        from .manager import RunManager

        autogen_version = version("autogen-agentchat")
        factory = load_factory(factory_spec)
    except Exception as e:
        message = str(e) if type(e).__name__ == "FactoryImportError" else f"{type(e).__name__}: {e}"
        log.error("fatal: %s", message)
        try:
            await send({"ev": "fatal", "message": message})
        except LineTooLong:
            # The full text is in the log line above; Node needs only the gist.
            await send({"ev": "fatal", "message": cap_client_message(message)})
        await writer.aclose()
        return 1

    chunks = ChunkLines.maker(writer, limits.max_line_bytes) if writer.batches and not full_items else None
    manager = RunManager(factory, send, limits, chunks, compact=not full_items)
    reader = await LineReader.open(in_fd, limits.max_line_bytes)
    await send({"ev": "ready", "pid": os.getpid(), "python": platform.python_version(), "autogen": autogen_version})
    log.info("ready: factory %s, autogen %s", factory_spec, autogen_version)

    while True:
        # Lines already read (a credit line per run and half window, many at
        # once under load) are taken without a task and a wait each.
        line: bytes | OversizedLine | None = reader.buffered_line()
        if line is None:
            read = asyncio.ensure_future(reader.readline())
            # Stop too when Node stops reading us: there is nobody left to serve.
            either: set[asyncio.Future[Any]] = {read, writer.lost}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()
                log.warning("stdout closed; shutting down")
                break
            line = read.result()
        if line is None:
            log.info("stdin closed; shutting down")
            break
        if isinstance(line, OversizedLine):
            _guarded(manager.line_too_long, line)
            continue
        if not line.strip():
            continue
        # One line must never end the worker and the other runs with it:
        # json.loads raises RecursionError for deep nesting, a bug in
        # dispatch anything. BaseExceptions (cancellation, Ctrl-C) still stop us.
        op: Any = None
        try:
            op = decode_op(line)
            if op["op"] == "shutdown":
                log.info("shutdown requested")
                break
            manager.dispatch(op)
        except ProtocolError as e:
            _guarded(manager.reject_line, line, e.value, e)
        except Exception as e:
            _guarded(manager.reject_line, line, op, e)

    await manager.shutdown()
    await writer.aclose()
    return 0


def _guarded(handler: Callable[..., None], *args: Any) -> None:
    """Run a bad-line handler; if even that fails, log and go on serving."""
    try:
        handler(*args)
    except Exception:
        log.exception("handling a bad stdin line failed")


def _run_loop(
    factory_spec: str, in_fd: int, out_fd: int, limits: Limits = DEFAULT_LIMITS, full_items: bool = False
) -> int:
    return run_in_new_loop(serve(factory_spec, in_fd, out_fd, limits, full_items))


def run_in_new_loop(main: Coroutine[Any, Any, int]) -> int:
    """Runs a process's main coroutine in a loop of its own, and returns its exit code."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        code = loop.run_until_complete(main)
        # AutoGen runtimes may leave tasks behind; give them a moment to
        # run their finally blocks, but never hang the exit on them.
        leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.wait(leftovers, timeout=TEARDOWN_SECONDS))
        return code
    finally:
        loop.close()


def _hide_cancellation_tracebacks(record: logging.LogRecord) -> bool:
    # A cancelled team makes AutoGen's runtime log every interrupted agent
    # handler at ERROR with a CancelledError traceback; after a `cancel` op
    # that is the expected outcome, not an error worth a page of stderr.
    exc = record.exc_info[1] if record.exc_info else None
    return not (record.name == "autogen_core" and isinstance(exc, asyncio.CancelledError))


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,  # AutoGen's event loggers are very chatty at INFO
        format="%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s",
    )
    log.setLevel(args.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_hide_cancellation_tracebacks)
    in_fd, out_fd = isolate_stdio()
    limits = Limits(
        max_line_bytes=args.max_line_bytes,
        max_image_pixels=args.max_image_pixels,
        max_image_bytes=args.max_image_bytes,
    )
    code = _run_loop(args.factory, in_fd, out_fd, limits, args.full_items)
    logging.shutdown()
    sys.stderr.flush()
    # os._exit: a sync input function or tool still blocked in a worker
    # thread would otherwise hold interpreter exit forever. Everything of
    # ours is flushed by now.
    os._exit(code)


if __name__ == "__main__":
    main()
