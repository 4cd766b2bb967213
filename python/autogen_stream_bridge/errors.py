"""RunError, the Python counterpart of the plugin's RunError, and the rules
that turn any exception into the ``code``/``message``/``detail`` of an
``error`` event.

The ``message`` of an error event reaches the client; ``detail`` is only
logged by Node. So an arbitrary exception's text (which may hold file paths,
keys or prompts) goes into ``detail``, and only a RunError that the
application raised on purpose chooses what the client reads.

Standard library only: the package exports RunError eagerly, and importing
the package must not import AutoGen (see ``__init__``).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback

# The same shape as the bridge's own codes; anything else cannot be told
# apart from a typo and is treated as a plain exception.
_CODE = re.compile(r"[A-Z0-9_]{1,64}")
# Every code of the bridge and of the Node plugin starts with this. An
# application's RunError may not use it: a client must be able to trust that
# an AGS_ code comes from the product, not from an application imitating it.
RESERVED_PREFIX = "AGS_"

FACTORY_ERROR_MESSAGE = "The agent factory failed"
TASK_ERROR_MESSAGE = "The run failed"

# AGS_BAD_REQUEST text is about the client's own task and meant for it, but it
# can quote that task (a huge type name, say): keep it short.
CLIENT_MESSAGE_LIMIT = 500
# Node logs detail; a traceback is useful, a megabyte of one is not.
DETAIL_LIMIT = 8000

log = logging.getLogger(__name__)

# How far along __cause__/__context__ we look for a wrapped RunError.
_CHAIN_LIMIT = 16
# AgentChat teams re-raise an agent's exception as text with this separator
# before the traceback (SerializableException.__str__ in 0.7.5).
_TEAM_TRACEBACK = "\nTraceback:\n"
_TEAM_CANDIDATES = 8


class RunError(Exception):
    """Raise from a factory or from an agent to end the run with this code and
    message, both sent to the client as they are.

    ``code`` must be 1-64 characters of ``A-Z``, ``0-9`` and ``_``, and must
    not start with ``AGS_`` (the bridge's own codes); a RunError with any
    other code is reported like any other exception.
    """

    def __init__(self, code: str, message: str) -> None:
        # Both in args, so the exception pickles and copies like any other.
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        # "CODE: message" is also how a RunError raised inside a team is
        # recognized again, after AgentChat has turned it into text.
        return f"{self.code}: {self.message}"


def valid_code(code: object) -> bool:
    """Whether an application's RunError may end a run with this code."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None and not code.startswith(RESERVED_PREFIX)


def find_run_error(exc: BaseException) -> RunError | None:
    """The RunError behind exc: exc itself, one in its __cause__/__context__
    chain, or one that an AgentChat team turned into a RuntimeError's text.
    None when there is none with a valid code and a string message."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue and len(seen) < _CHAIN_LIMIT:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RunError):
            if valid_code(current.code) and isinstance(current.message, str):
                return current
            _refused(current.code)
        elif isinstance(current, RuntimeError):
            recovered = _from_team_text(str(current))
            if recovered is not None:
                return recovered
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                queue.append(linked)
    return None


def _refused(code: object) -> None:
    log.warning(
        "a RunError with code %.80r is reported as a plain exception: a code is 1-64 characters of A-Z, 0-9 "
        "and _, and does not start with %s (the bridge's own codes)",
        code,
        RESERVED_PREFIX,
    )


def _from_team_text(text: str) -> RunError | None:
    """A team's agent raised; AgentChat 0.7.5 publishes the error as
    ``SerializableException`` and run_stream() raises
    ``RuntimeError(f"{type name}: {str(exc)}\\nTraceback:\\n{traceback}")``,
    so the exception object is gone. We accept the text only when the
    traceback's own last line names a class that really is a RunError
    (module-qualified, resolved in sys.modules), so another class that
    happens to be called RunError, or a message that merely looks like one,
    is not forwarded to the client."""
    type_name, sep, rest = text.partition(": ")
    if not sep or not type_name.isidentifier():
        return None
    start = 0
    for _ in range(_TEAM_CANDIDATES):
        at = rest.find(_TEAM_TRACEBACK, start)
        if at == -1:
            return None
        head = rest[:at]
        if _traceback_names_run_error(rest[at + len(_TEAM_TRACEBACK) :], type_name, head):
            code, colon, message = head.partition(": ")
            if colon and valid_code(code):
                return RunError(code, message)
            _refused(code)
            return None
        start = at + 1
    return None


def _traceback_names_run_error(tb: str, type_name: str, head: str) -> bool:
    last = tb.rstrip("\n")
    suffix = f"{type_name}: {head}"
    if not last.endswith(suffix):
        return False
    # format_exception writes "package.module.Qualname: text" on a line of
    # its own ("Qualname: text" for builtins and __main__).
    line_start = last[: len(last) - len(suffix)].rpartition("\n")[2]
    if line_start and not line_start.endswith("."):
        return False
    module_name = line_start[:-1] if line_start else "__main__"
    cls = getattr(sys.modules.get(module_name), type_name, None)
    # The module's attribute must be that very class, not a RunError the
    # module merely imported under the same name.
    return (
        isinstance(cls, type)
        and issubclass(cls, RunError)
        and cls.__module__ == module_name
        and cls.__qualname__ == type_name
    )


def describe(exc: BaseException) -> str:
    """``"ValueError: text"`` and the traceback, for ``detail``."""
    summary = f"{type(exc).__name__}: {exc}"
    if exc.__traceback__ is None:
        return cap(summary, DETAIL_LIMIT)
    try:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # a broken __str__ somewhere in the chain must not hide the error
        return cap(summary, DETAIL_LIMIT)
    return cap(f"{summary}\n{tb}", DETAIL_LIMIT)


def cap(text: str, limit: int) -> str:
    """text, cut in the middle to at most limit characters: the start says
    what failed, the end of a traceback says where."""
    if len(text) <= limit:
        return text
    marker = f"\n... [{len(text) - limit} characters cut] ...\n"
    keep = max(limit - len(marker), 0)
    head = keep * 3 // 4
    return text[:head] + marker + text[len(text) - (keep - head) :] if keep > head else text[:limit]


def cap_client_message(text: str) -> str:
    """A client-meant message, at most CLIENT_MESSAGE_LIMIT characters."""
    if len(text) <= CLIENT_MESSAGE_LIMIT:
        return text
    return text[: CLIENT_MESSAGE_LIMIT - 3] + "..."
