"""The worker process: ``python -m autogen_stream_bridge.worker --factory module:callable``.

Only the standard library and the protocol/io modules are imported at the
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
from typing import Any, Mapping, NoReturn, Sequence

from .io import LineReader, LineWriter, isolate_stdio
from .protocol import ProtocolError, decode_op, encode_ev

log = logging.getLogger("autogen_stream_bridge")

FACTORY_ENV = "AUTOGEN_STREAM_FACTORY"
LOG_LEVEL_ENV = "AUTOGEN_STREAM_LOG_LEVEL"
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
    return parser.parse_args(argv)


async def serve(factory_spec: str, in_fd: int, out_fd: int) -> int:
    """Speak the protocol until shutdown or EOF; returns the exit code."""
    writer = await LineWriter.open(out_fd)

    async def send(ev: Mapping[str, Any]) -> None:
        await writer.send(encode_ev(ev))

    try:
        from importlib.metadata import version

        from .factory import load_factory
        from .manager import RunManager

        autogen_version = version("autogen-agentchat")
        factory = load_factory(factory_spec)
    except Exception as e:
        message = str(e) if type(e).__name__ == "FactoryImportError" else f"{type(e).__name__}: {e}"
        log.error("fatal: %s", message)
        await send({"ev": "fatal", "message": message})
        await writer.aclose()
        return 1

    manager = RunManager(factory, send)
    reader = await LineReader.open(in_fd)
    await send({"ev": "ready", "pid": os.getpid(), "python": platform.python_version(), "autogen": autogen_version})
    log.info("ready: factory %s, autogen %s", factory_spec, autogen_version)

    while True:
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
        if not line.strip():
            continue
        try:
            op = decode_op(line)
        except ProtocolError as e:
            log.warning("ignoring stdin line (%s): %.200r", e, line)
            continue
        if op["op"] == "shutdown":
            log.info("shutdown requested")
            break
        manager.dispatch(op)

    await manager.shutdown()
    await writer.aclose()
    return 0


def _run_loop(factory_spec: str, in_fd: int, out_fd: int) -> int:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        code = loop.run_until_complete(serve(factory_spec, in_fd, out_fd))
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
    code = _run_loop(args.factory, in_fd, out_fd)
    logging.shutdown()
    sys.stderr.flush()
    # os._exit: a sync input function or tool still blocked in a worker
    # thread would otherwise hold interpreter exit forever. Everything of
    # ours is flushed by now.
    os._exit(code)


if __name__ == "__main__":
    main()
