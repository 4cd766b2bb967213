"""A factory module that breaks RunManager.dispatch on purpose, to prove that
an exception while handling one stdin line costs only the run it names.

The worker imports the factory module after RunManager and before it builds
one, so patching the class here reaches the worker's manager."""

from __future__ import annotations

from typing import Any

from autogen_stream_bridge.manager import RunManager
from bridge_examples import streaming_agent

_real_dispatch = RunManager.dispatch


def _faulty_dispatch(self: RunManager, op: Any) -> None:
    if str(op.get("run", "")).startswith("boom") or op.get("n") == 13:
        raise TypeError("dispatch broke on purpose")
    _real_dispatch(self, op)


RunManager.dispatch = _faulty_dispatch  # type: ignore[method-assign]

create = streaming_agent
