"""Python half of fastify-autogen-stream: a worker that runs AutoGen AgentChat
agents and teams and streams run_stream() to Node over NDJSON stdio.

Run it with ``python -m autogen_stream_bridge.worker --factory module:callable``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Standard library only, so exported eagerly.
from .errors import RunError

__version__ = "0.1.0"
__all__ = ["RunError", "RunRequest", "__version__"]

if TYPE_CHECKING:
    from .factory import RunRequest


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not import AutoGen, so the worker can
    # still report a broken AutoGen install as `fatal`.
    if name == "RunRequest":
        from .factory import RunRequest

        return RunRequest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
