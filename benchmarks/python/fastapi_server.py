"""The FastAPI baseline: the AutoGen Studio / AutoGen FastAPI-sample pattern.

A FastAPI app, served by uvicorn on 127.0.0.1, with a websocket endpoint /ws.
Each message {"type": "start", "runId": ..., "words": W} (W may also be in
"options.words"; default 5000) starts a task that runs ``bridge_examples.long_stream``
and sends every run_stream() item as
``await websocket.send_json(item.model_dump(mode="json"))``; the TaskResult is
sent as {"type": "TaskResult", "stop_reason": ..., "messages": [...]}. Every
message also carries "runId", so that several runs may share one connection.
A run that cannot start is answered with {"type": "error", "runId", "message"}.

GET /stats returns {"rss_bytes", "cpu_s"} for this process.

Usage: python fastapi_server.py --port P [--ws websockets-sansio|websockets]
Prints "READY <port>" once listening (--port 0 picks a free port). SIGTERM or
SIGINT stops it (uvicorn's graceful shutdown, bounded to 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from contextlib import aclosing
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from autogen_agentchat.base import TaskResult
from autogen_stream_bridge.factory import RunRequest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

# long_stream is one of the test example factories (python/tests), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
from bridge_examples import long_stream  # noqa: E402

app = FastAPI()
_server: uvicorn.Server | None = None  # set by serve(); runs stop when it is exiting


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # the value is in kB
    return 0


@app.get("/stats")
async def stats() -> dict[str, Any]:
    return {"rss_bytes": rss_bytes(), "cpu_s": time.process_time()}


async def stream_run(websocket: WebSocket, run_id: str, words: Any) -> None:
    try:
        agent = long_stream(RunRequest(run_id=run_id, task="go", options={"words": words}))
    except Exception as e:  # noqa: BLE001 - any factory error is reported to the client
        await websocket.send_json({"type": "error", "runId": run_id, "message": f"{type(e).__name__}: {e}"})
        return
    # aclosing: the stream is closed in this task if we stop early; AgentChat's
    # tracing spans must be reset in the context that set them.
    async with aclosing(agent.run_stream(task="go")) as stream:
        async for item in stream:
            if _server is not None and _server.should_exit:
                return  # shutting down: the replay model never yields, so stop here
            if isinstance(item, TaskResult):
                await websocket.send_json(
                    {
                        "type": "TaskResult",
                        "runId": run_id,
                        "stop_reason": item.stop_reason,
                        "messages": [m.model_dump(mode="json") for m in item.messages],
                    }
                )
            else:
                data = item.model_dump(mode="json")
                data["runId"] = run_id
                await websocket.send_json(data)


async def run_task(websocket: WebSocket, run_id: str, words: Any) -> None:
    try:
        await stream_run(websocket, run_id, words)
    except WebSocketDisconnect:
        pass  # the client left (or we are shutting down): nobody to tell


@app.websocket("/ws")
async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            msg = await websocket.receive_json()
            if not isinstance(msg, dict) or msg.get("type") != "start":
                await websocket.send_json({"type": "error", "runId": None, "message": "expected a start message"})
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


async def serve(port: int, ws: str) -> None:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws=ws, timeout_graceful_shutdown=5)
    global _server
    server = _server = uvicorn.Server(config)

    # uvicorn swaps in its own handlers while serving, shuts down gracefully
    # on SIGTERM/SIGINT, then re-raises the signal through the handler that
    # was there before: this one, so that the process exits 0, not by signal.
    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # startup failed (port in use, ...): raise or return
            raise SystemExit(1)
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    sys.stdout.write(f"READY {bound}\n")
    sys.stdout.flush()
    await serving


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FastAPI + uvicorn websocket baseline")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--ws",
        default="websockets-sansio",
        help="uvicorn websocket implementation (default websockets-sansio, what --ws auto picks)",
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.ws))
    return 0


if __name__ == "__main__":
    sys.exit(main())
