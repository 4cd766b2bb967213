"""The NDJSON wire protocol between the Node plugin and this worker.

docs/bridge.md in the Node package is the specification; the TypedDicts
below mirror its tables. Only the standard library is imported here so that
the worker can report a broken AutoGen install as ``fatal`` instead of dying
before it can speak.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pydantic, hence AutoGen, already depends on typing_extensions
    from typing_extensions import NotRequired

# Node to Python ----------------------------------------------------------


class StartOp(TypedDict):
    op: Literal["start"]
    # The server-made key of the run, unique on the server; every other op
    # and every ev of the run carries it as ``run``.
    run: str
    # The client's runId: informational (logs, RunRequest.run_id), chosen by
    # the client and not unique. Older callers leave it out: then the key.
    run_id: NotRequired[str]
    # Left as raw JSON: a bad task or options is the run's AGS_BAD_REQUEST,
    # not a line to drop, so it is checked where the run can answer.
    task: Any
    options: NotRequired[Any]
    # Who started the run, as the app's authenticate() said (a JSON object
    # with at least "id"); the factory gets it as RunRequest.identity.
    identity: NotRequired[Any]
    # The run belongs to a thread (docs/protocol.md, Threads): {"state": S},
    # S being what the team's save_state() returned at the end of the
    # thread's previous run (loaded before run_stream), or null for the
    # thread's first run. With it, the run's state is sent back as a
    # ``state`` event before its terminal event. {"state": S, "answer": A}
    # continues a run that was interrupted at a UserProxyAgent's question
    # (``interrupt``): A is ThreadAnswer, S the state saved then.
    thread: NotRequired[Any]


class ThreadAnswer(TypedDict):
    """The human's answer to the question a thread's run was interrupted
    at: it enters the conversation as that UserProxyAgent's own reply."""

    request_id: str
    content: str
    # The name of the UserProxyAgent that asked (the input_request's source).
    source: str


class CreditOp(TypedDict):
    op: Literal["credit"]
    run: str
    n: int


class CancelOp(TypedDict):
    op: Literal["cancel"]
    run: str


class StopOp(TypedDict):
    op: Literal["stop"]
    run: str


class InputOp(TypedDict):
    op: Literal["input"]
    run: str
    request_id: str
    content: str


class InputErrorOp(TypedDict):
    op: Literal["input_error"]
    run: str
    request_id: str
    message: str


class InterruptOp(TypedDict):
    """A thread run's input request waited longer than the plugin's
    holdInputFor: cancel the run where it waits, send its state and end it
    with ``interrupted``; the answer comes with a later ``start``."""

    op: Literal["interrupt"]
    run: str
    request_id: str


class StatsOp(TypedDict):
    op: Literal["stats"]
    id: Any


class PingOp(TypedDict):
    """Node's heartbeat: answered by ``pong`` with the same id from the stdin
    reader, so a worker busy streaming still answers and only a frozen one
    (stopped, deadlocked, its loop blocked) does not."""

    op: Literal["ping"]
    id: int


class ShutdownOp(TypedDict):
    op: Literal["shutdown"]


Op = StartOp | CreditOp | CancelOp | StopOp | InputOp | InputErrorOp | InterruptOp | StatsOp | PingOp | ShutdownOp

# Python to Node ----------------------------------------------------------

# The bridge's own codes, all prefixed AGS_ like the Node plugin's. An
# application's RunError may use any other code of 1-64 characters of A-Z,
# 0-9 and _ (errors.valid_code), so ErrorEv.code is a plain str.
ErrorCode = Literal[
    "AGS_FACTORY_ERROR",
    "AGS_TASK_ERROR",
    "AGS_BAD_REQUEST",
    "AGS_IMAGE_TOO_LARGE",
    "AGS_DUPLICATE_RUN",
    "AGS_BAD_OP",
    "AGS_LINE_TOO_LONG",
    "AGS_ITEM_TOO_LARGE",
    "AGS_THREAD_UNSUPPORTED",
    "AGS_THREAD_STATE_TOO_LARGE",
    "AGS_THREAD_STATE_FAILED",
]


class ReadyEv(TypedDict):
    ev: Literal["ready"]
    pid: int
    python: str
    autogen: str


class ItemEv(TypedDict):
    ev: Literal["item"]
    run: str
    item: dict[str, Any]


class ChunksEv(TypedDict):
    """Consecutive ModelClientStreamingChunkEvents of one run and one message
    (the same ``source`` and ``full_message_id``), one per ``content`` entry,
    in order: each is one item and uses one credit. Only plain chunks travel
    so (no models_usage, no metadata); their id and created_at stay in Python."""

    ev: Literal["chunks"]
    run: str
    source: str
    full_message_id: str | None
    content: list[str]


class InputRequestEv(TypedDict):
    ev: Literal["input_request"]
    run: str
    request_id: str
    prompt: str
    # The asking UserProxyAgent's name, sent only when the run could go on
    # from this request after an ``interrupt`` (a thread's run whose team
    # has that agent as a direct participant).
    source: NotRequired[str]


class EndEv(TypedDict):
    ev: Literal["end"]
    run: str


class CancelledEv(TypedDict):
    ev: Literal["cancelled"]
    run: str


class InterruptedEv(TypedDict):
    """The run ended at its input request ``request_id`` (an ``interrupt``),
    after its ``state``: the answer continues it in a later run."""

    ev: Literal["interrupted"]
    run: str
    request_id: str


class ErrorEv(TypedDict):
    ev: Literal["error"]
    run: str
    code: str
    # Sent to the client as it is: never an exception's raw text.
    message: str
    # What went wrong in full ("ValueError: ..." and a traceback); Node logs
    # it and never forwards it.
    detail: NotRequired[str]


class RunStats(TypedDict):
    # The client's runId, for people reading stats: not unique, never a key.
    run_id: str
    pulled: int
    credit: int


class StateEv(TypedDict):
    """A thread run's state, what the team's save_state() returned, as
    JSON: sent once the run is over (after its TaskResult, or after a
    cancel has unwound it) and before its terminal event."""

    ev: Literal["state"]
    run: str
    state: Any


class StateErrorEv(TypedDict):
    """A thread run whose state could not be sent (too large for a line,
    save_state() raised, not JSON): the thread keeps its previous state.
    Sent instead of ``state``, before the terminal event; the run keeps
    its own outcome."""

    ev: Literal["state_error"]
    run: str
    code: str
    message: str
    detail: NotRequired[str]


class StatsEv(TypedDict):
    ev: Literal["stats"]
    id: Any
    active: int
    runs: dict[str, RunStats]
    pulled_total: int
    started_total: int
    cancelled: list[str]


class PongEv(TypedDict):
    ev: Literal["pong"]
    id: int


class FatalEv(TypedDict):
    ev: Literal["fatal"]
    message: str


Ev = (
    ReadyEv
    | ItemEv
    | ChunksEv
    | InputRequestEv
    | EndEv
    | CancelledEv
    | InterruptedEv
    | ErrorEv
    | StateEv
    | StateErrorEv
    | StatsEv
    | PongEv
    | FatalEv
)


class ProtocolError(ValueError):
    """A stdin line that is not a valid op. ``value`` is the parsed JSON when
    the line was JSON, so the run it names can still be found."""

    def __init__(self, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


class LineTooLong(Exception):
    """An encoded line would exceed the line limit; it was not written."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a line of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


# Required string fields per op, beyond "op" itself.
_STRING_FIELDS: dict[str, tuple[str, ...]] = {
    "start": ("run",),
    "credit": ("run",),
    "cancel": ("run",),
    "stop": ("run",),
    "input": ("run", "request_id", "content"),
    "input_error": ("run", "request_id"),
    "interrupt": ("run", "request_id"),
    "stats": (),
    "ping": (),
    "shutdown": (),
}


def decode_op(line: bytes | str) -> Op:
    """Parse and shape-check one stdin line."""
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ProtocolError("an op must be a JSON object", value)
    op = value.get("op")
    if not isinstance(op, str) or op not in _STRING_FIELDS:
        raise ProtocolError(f"unknown op {op!r:.100}", value)
    for field in _STRING_FIELDS[op]:
        if not isinstance(value.get(field), str) or (field == "run" and not value[field]):
            raise ProtocolError(f"op {op!r} needs a string {field!r}", value)
    if op == "start":
        if "task" not in value:
            raise ProtocolError("op 'start' needs a 'task'", value)
        run_id = value.get("run_id")
        if run_id is None:
            value["run_id"] = value["run"]
        elif not isinstance(run_id, str):
            raise ProtocolError("op 'start' needs a string 'run_id' (or none)", value)
        thread = value.get("thread")
        if thread is not None and not isinstance(thread, dict):
            raise ProtocolError("op 'start' needs an object 'thread' (or none)", value)
        answer = thread.get("answer") if thread is not None else None
        if answer is not None and not (
            isinstance(answer, dict)
            and all(isinstance(answer.get(f), str) for f in ("request_id", "content", "source"))
        ):
            raise ProtocolError(
                "op 'start' needs a 'thread.answer' of strings request_id, content, source (or none)", value
            )
    if op == "credit":
        n = value.get("n")
        # bool is an int in Python but never a count on the wire.
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ProtocolError("op 'credit' needs an integer 'n' >= 1", value)
    if op == "input_error" and not isinstance(value.get("message"), str):
        value["message"] = "input failed"
    if op == "stats":
        value.setdefault("id", None)
    if op == "ping":
        ping_id = value.get("id")
        # Node matches the pong to its ping by this id: anything else could never be matched.
        if not isinstance(ping_id, int) or isinstance(ping_id, bool):
            raise ProtocolError("op 'ping' needs an integer 'id'", value)
    return value  # type: ignore[return-value]


# The start of a line as Node writes it ({"op":"...","run":"...",...});
# whitespace is tolerated for hand-written lines. Only ever matched against
# a bounded prefix, so a line that cannot be parsed costs no more than this.
_TARGET = re.compile(rb'\A\s*\{\s*"op"\s*:\s*"([a-z_]{1,32})"\s*,\s*"run"\s*:\s*"([^"\\]{1,300})"')
TARGET_PREFIX_BYTES = 1024


def recover_target(value: Any, line: bytes) -> tuple[str | None, str] | None:
    """(op, run) named by a line that could not be handled, or None.

    ``value`` is the line's parsed JSON if it parsed; otherwise (not JSON,
    nested too deeply, cut short) the run is read from the line's start."""
    if value is not None:
        if isinstance(value, dict):
            run = value.get("run")
            if isinstance(run, str) and run:
                op = value.get("op")
                return (op if isinstance(op, str) else None, run)
        return None
    match = _TARGET.match(line[:TARGET_PREFIX_BYTES])
    if match is None:
        return None
    try:
        return match.group(1).decode("ascii"), match.group(2).decode("utf-8")
    except UnicodeDecodeError:
        return None


# json.loads joins an escaped surrogate pair into one code point, so a
# surrogate left in a parsed string is a lone one: "\ud800" is valid JSON but
# not Unicode, cannot be UTF-8, and pydantic refuses to serialize it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in text, or None."""
    if text.isascii():  # the common case, without a regex pass
        return None
    match = _LONE_SURROGATE.search(text)
    return match.group() if match else None


def is_unicode(text: str) -> bool:
    """Whether text holds no lone surrogate, so that it can be UTF-8."""
    return text.isascii() or _LONE_SURROGATE.search(text) is None


def replace_lone_surrogates(text: str) -> str:
    """text with every lone surrogate replaced by U+FFFD, as a UTF-8 decoder
    replaces what it cannot read."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def error_ev(run: str, code: str, message: str, detail: str | None = None) -> ErrorEv:
    ev: ErrorEv = {"ev": "error", "run": run, "code": code, "message": message}
    if detail is not None:
        ev["detail"] = detail
    return ev


def dumps(value: Any) -> str:
    """Compact JSON that is always valid JSON: NaN and Infinity (which
    json.dumps writes by default, and Node's JSON.parse rejects) become null,
    as pydantic's model_dump_json() writes them."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# A JSON string literal, as json.dumps(text, ensure_ascii=False) writes it
# (control characters escaped, so never a raw newline), without a
# JSONEncoder per call: the C function json.dumps itself ends up in.
json_string: Callable[[str], str] = encode_basestring


def chunks_head(run: str, source: str, full_message_id: str | None) -> str:
    """A ``chunks`` line up to its first content entry, ``ev`` and ``run``
    first, as Node reads a line's target. The key is written ASCII-only
    (it always is ASCII: Node made it), so the head always encodes."""
    message = "null" if full_message_id is None else json_string(full_message_id)
    return (
        f'{{"ev":"chunks","run":{encode_basestring_ascii(run)},"source":{json_string(source)},'
        f'"full_message_id":{message},"content":['
    )


CHUNKS_TAIL = b"]}\n"


def encode_ev(ev: Mapping[str, Any]) -> bytes:
    """One NDJSON line. json.dumps escapes control characters, so the only
    raw newline is the terminator."""
    item = ev.get("item")
    if isinstance(item, str) and ev.get("ev") == "item":
        # Pre-serialized by convert.item_to_raw_json (pydantic's JSON has no raw newlines).
        run = json_string(ev["run"])
        try:
            return f'{{"ev":"item","run":{run},"item":{item}}}\n'.encode()
        except UnicodeEncodeError:
            return (json.dumps({"ev": "item", "run": ev["run"], "item": json.loads(item)}) + "\n").encode("ascii")
    text = dumps(ev)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8; \u escapes are still valid JSON.
        return (json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def finite(value: Any) -> Any:
    """value with every NaN and infinity replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
