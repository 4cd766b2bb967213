"""The FastAPI baseline: the AutoGen Studio / AutoGen FastAPI-sample pattern, tuned fairly.

A FastAPI app with a websocket endpoint /ws, served by uvicorn on 127.0.0.1
the way one would deploy it for throughput: ``--workers N`` processes (uvicorn's
own multi-process mode: the parent binds one listening socket and hands it
to N spawned workers, which all accept from it), uvloop as the event loop
and httptools as the HTTP parser. Each message {"type": "start", "runId": ...,
"words": W} (W may also be in "options.words"; default 5000) starts a task
that runs ``bridge_examples.long_stream`` and sends every run_stream() item as
pydantic's ``item.model_dump_json()`` text (with "runId" spliced in front),
``await websocket.send_text(...)`` per event: what the bridge's worker does
per event (model_dump_json straight into its line), with no backpressure and
no batching. The TaskResult is sent as {"type": "TaskResult", "runId",
"worker": <pid>, "messages": [...], "stop_reason": ...}: "worker" tells the
load generator which process ran it. A run that cannot start is answered
with {"type": "error", "runId", "message"}.

GET /stats returns {"pid", "loop", "rss_bytes", "cpu_s"} of the worker that answers
(one of N: the orchestrator reads every process's CPU from /proc instead).

Usage: python fastapi_server.py --port P [--workers N] [--ready-dir DIR]
       [--loop uvloop|asyncio] [--http httptools|h11] [--ws websockets-sansio|websockets]
Prints "READY <port>" once the socket is bound (--port 0 picks a free port);
each worker then writes a file named after its pid into --ready-dir once it
serves. SIGTERM or SIGINT stops it (uvicorn's graceful shutdown, bounded to 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from autogen_agentchat.base import TaskResult
from autogen_stream_bridge.factory import RunRequest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel
from uvicorn.supervisors import Multiprocess

# long_stream is one of the test example factories (python/tests), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
from bridge_examples import long_stream  # noqa: E402

READY_DIR_ENV = "BENCH_FASTAPI_READY_DIR"


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Each worker says it serves: the orchestrator waits for all of them.
    ready_dir = os.environ.get(READY_DIR_ENV)
    if ready_dir:
        Path(ready_dir, str(os.getpid())).write_text("ready\n", encoding="ascii")
    yield


app = FastAPI(lifespan=lifespan)


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    return 0


@app.get("/stats")
async def stats() -> dict[str, Any]:
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    return {"pid": os.getpid(), "loop": loop, "rss_bytes": rss_bytes(), "cpu_s": time.process_time()}


def task_result_json(item: TaskResult, head: str) -> str:
    messages = ",".join(m.model_dump_json() for m in item.messages)
    stop_reason = json.dumps(item.stop_reason)
    return f'{head}"type":"TaskResult","worker":{os.getpid()},"messages":[{messages}],"stop_reason":{stop_reason}}}'


async def stream_run(websocket: WebSocket, run_id: str, words: Any) -> None:
    try:
        agent = long_stream(RunRequest(run_id=run_id, task="go", options={"words": words}))
    except Exception as e:  # noqa: BLE001 - any factory error is reported to the client
        await websocket.send_text(json.dumps({"type": "error", "runId": run_id, "message": f"{type(e).__name__}: {e}"}))
        return
    # Every event is an object: its JSON starts with "{", and the runId goes right after it.
    head = '{"runId":' + json.dumps(run_id) + ","
    # aclosing: the stream is closed in this task if we stop early; AgentChat's
    # tracing spans must be reset in the context that set them.
    async with aclosing(agent.run_stream(task="go")) as stream:
        async for item in stream:
            if isinstance(item, TaskResult):
                await websocket.send_text(task_result_json(item, head))
            elif isinstance(item, BaseModel):
                await websocket.send_text(head + item.model_dump_json()[1:])


async def run_task(websocket: WebSocket, run_id: str, words: Any) -> None:
    try:
        await stream_run(websocket, run_id, words)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client left (or we are shutting down): nobody to tell


@app.websocket("/ws")
async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            msg = await websocket.receive_json()
            if not isinstance(msg, dict) or msg.get("type") != "start":
                await websocket.send_text('{"type":"error","runId":null,"message":"expected a start message"}')
                continue
            options = msg.get("options")
            words = msg.get("words", options.get("words", 5000) if isinstance(options, dict) else 5000)
            task = asyncio.create_task(run_task(websocket, str(msg.get("runId", "")), words))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FastAPI + uvicorn websocket baseline")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--ready-dir", default=None, help="each worker writes <pid> here once it serves")
    parser.add_argument("--loop", default="uvloop", help="uvicorn event loop (default uvloop)")
    parser.add_argument("--http", default="httptools", help="uvicorn HTTP parser (default httptools)")
    parser.add_argument(
        "--ws",
        default="websockets-sansio",
        help="uvicorn websocket implementation (default websockets-sansio, what --ws auto picks)",
    )
    args = parser.parse_args(argv)
    if args.ready_dir:
        # Inherited by the spawned workers.
        os.environ[READY_DIR_ENV] = args.ready_dir
    config = uvicorn.Config(
        "fastapi_server:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        http=args.http,
        ws=args.ws,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    # What uvicorn.run() does for workers > 1, with the bound port printed
    # first (port 0): one listening socket, bound here, shared by the workers.
    sock = config.bind_socket()
    sys.stdout.write(f"READY {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    if args.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
