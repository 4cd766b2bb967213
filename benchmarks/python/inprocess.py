"""AutoGen's own streaming rate, in process: the ceiling for every bridge.

N concurrent runs of ``bridge_examples.long_stream`` (one ModelClientStreamingChunkEvent
per word), consumed with nothing attached but a counter and a clock. Prints one
JSON line:

    {"runs", "words", "tokens", "seconds", "tokens_per_s",
     "ttft_ms": {"p50", "min", "max"}, "cpu_s", "us_per_token", ...}

Usage: python inprocess.py --runs N --words W [--repeat R]

"ttft_ms" is measured per run from just before its run_stream() call, as
specified. The replay client never suspends, so a run, once started, streams
to its end without yielding to the event loop: gathered runs go one after
another, and each run's run_stream() is only called when the previous run is
done. "ttft_from_gather_ms" (from the start of the gather to each run's first
chunk) shows that queueing, which is what a client who asked at t=0 sees.

One small warm-up run (not counted) goes first, so lazy imports and pydantic
schema building do not land on the first measured run. With --repeat R > 1
the whole gather is done R times and the round with the median tokens_per_s
is printed (all rounds' rates are in "rounds_tokens_per_s").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autogen_agentchat.messages import ModelClientStreamingChunkEvent
from autogen_stream_bridge.factory import RunRequest

# long_stream is one of the test example factories (python/tests), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
from bridge_examples import long_stream  # noqa: E402


@dataclass
class RunStats:
    chunks: int
    ttft_s: float | None  # from just before run_stream() to the first chunk
    first_chunk_at: float | None  # perf_counter() of the first chunk


async def one_run(run_id: str, words: int) -> RunStats:
    agent = long_stream(RunRequest(run_id=run_id, task="go", options={"words": words}))
    chunks = 0
    ttft: float | None = None
    first_at: float | None = None
    start = time.perf_counter()
    async for item in agent.run_stream(task="go"):
        if isinstance(item, ModelClientStreamingChunkEvent):
            if chunks == 0:
                first_at = time.perf_counter()
                ttft = first_at - start
            chunks += 1
    return RunStats(chunks, ttft, first_at)


def _summary(values_ms: list[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"p50": None, "min": None, "max": None}
    return {
        "p50": round(statistics.median(values_ms), 3),
        "min": round(min(values_ms), 3),
        "max": round(max(values_ms), 3),
    }


async def measure(runs: int, words: int) -> dict[str, Any]:
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one_run(f"run-{i}", words) for i in range(runs)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    tokens = sum(r.chunks for r in results)
    ttfts_ms = [r.ttft_s * 1000 for r in results if r.ttft_s is not None]
    queued_ms = [(r.first_chunk_at - t0) * 1000 for r in results if r.first_chunk_at is not None]
    return {
        "runs": runs,
        "words": words,
        "tokens": tokens,
        "seconds": round(wall, 6),
        "tokens_per_s": round(tokens / wall, 1) if wall > 0 else None,
        "ttft_ms": _summary(ttfts_ms),
        "ttft_from_gather_ms": _summary(queued_ms),
        "cpu_s": round(cpu, 6),
        "us_per_token": round(cpu * 1e6 / tokens, 3) if tokens else None,
    }


async def main_async(runs: int, words: int, repeat: int) -> dict[str, Any]:
    await one_run("warmup", 10)
    rounds = [await measure(runs, words) for _ in range(repeat)]
    ranked = sorted(rounds, key=lambda r: r["tokens_per_s"] or 0.0)
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    if repeat > 1:
        chosen["repeat"] = repeat
        chosen["rounds_tokens_per_s"] = [r["tokens_per_s"] for r in rounds]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, required=True, help="concurrent runs (asyncio.gather)")
    parser.add_argument("--words", type=int, required=True, help="words (= chunk events) per run")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the median round is printed")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.words < 1 or args.repeat < 1:
        parser.error("--runs, --words and --repeat must be positive")
    result = asyncio.run(main_async(args.runs, args.words, args.repeat))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
