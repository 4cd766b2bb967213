"""The NDJSON wire protocol between the Node plugin and this worker.

docs/bridge.md in the Node package is the specification; the TypedDicts
below mirror its tables. Only the standard library is imported here so that
the worker can report a broken AutoGen install as ``fatal`` instead of dying
before it can speak.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Literal, Mapping, TypedDict, Union

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pydantic, hence AutoGen, already depends on typing_extensions
    from typing_extensions import NotRequired

# Node to Python ----------------------------------------------------------


class StartOp(TypedDict):
    op: Literal["start"]
    run: str
    # Left as raw JSON: a bad task or options is the run's BAD_REQUEST,
    # not a line to drop, so it is checked where the run can answer.
    task: Any
    options: NotRequired[Any]


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


class StatsOp(TypedDict):
    op: Literal["stats"]
    id: Any


class ShutdownOp(TypedDict):
    op: Literal["shutdown"]


Op = Union[StartOp, CreditOp, CancelOp, StopOp, InputOp, InputErrorOp, StatsOp, ShutdownOp]

# Python to Node ----------------------------------------------------------

ErrorCode = Literal["FACTORY_IMPORT_ERROR", "FACTORY_ERROR", "TASK_ERROR", "BAD_REQUEST"]


class ReadyEv(TypedDict):
    ev: Literal["ready"]
    pid: int
    python: str
    autogen: str


class ItemEv(TypedDict):
    ev: Literal["item"]
    run: str
    item: dict[str, Any]


class InputRequestEv(TypedDict):
    ev: Literal["input_request"]
    run: str
    request_id: str
    prompt: str


class EndEv(TypedDict):
    ev: Literal["end"]
    run: str


class CancelledEv(TypedDict):
    ev: Literal["cancelled"]
    run: str


class ErrorEv(TypedDict):
    ev: Literal["error"]
    run: str
    code: ErrorCode
    message: str


class RunStats(TypedDict):
    pulled: int
    credit: int


class StatsEv(TypedDict):
    ev: Literal["stats"]
    id: Any
    active: int
    runs: dict[str, RunStats]
    pulled_total: int
    started_total: int
    cancelled: list[str]


class FatalEv(TypedDict):
    ev: Literal["fatal"]
    message: str


Ev = Union[ReadyEv, ItemEv, InputRequestEv, EndEv, CancelledEv, ErrorEv, StatsEv, FatalEv]


class ProtocolError(ValueError):
    """A stdin line that is not a valid op; the worker logs it and goes on."""


# Required string fields per op, beyond "op" itself.
_STRING_FIELDS: dict[str, tuple[str, ...]] = {
    "start": ("run",),
    "credit": ("run",),
    "cancel": ("run",),
    "stop": ("run",),
    "input": ("run", "request_id", "content"),
    "input_error": ("run", "request_id"),
    "stats": (),
    "shutdown": (),
}


def decode_op(line: bytes | str) -> Op:
    """Parse and shape-check one stdin line."""
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise ProtocolError("an op must be a JSON object")
    op = value.get("op")
    if not isinstance(op, str) or op not in _STRING_FIELDS:
        raise ProtocolError(f"unknown op {op!r}")
    for field in _STRING_FIELDS[op]:
        if not isinstance(value.get(field), str) or (field == "run" and not value[field]):
            raise ProtocolError(f"op {op!r} needs a string {field!r}")
    if op == "start" and "task" not in value:
        raise ProtocolError("op 'start' needs a 'task'")
    if op == "credit":
        n = value.get("n")
        # bool is an int in Python but never a count on the wire.
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ProtocolError("op 'credit' needs an integer 'n' >= 1")
    if op == "input_error" and not isinstance(value.get("message"), str):
        value["message"] = "input failed"
    if op == "stats":
        value.setdefault("id", None)
    return value  # type: ignore[return-value]


def encode_ev(ev: Mapping[str, Any]) -> bytes:
    """One NDJSON line. json.dumps escapes control characters, so the only
    raw newline is the terminator."""
    item = ev.get("item")
    if isinstance(item, str) and ev.get("ev") == "item":
        # Pre-serialized by convert.item_to_raw_json (pydantic's JSON has no raw newlines).
        run = json.dumps(ev["run"], ensure_ascii=False)
        try:
            return f'{{"ev":"item","run":{run},"item":{item}}}\n'.encode("utf-8")
        except UnicodeEncodeError:
            return (json.dumps({"ev": "item", "run": ev["run"], "item": json.loads(item)}) + "\n").encode("ascii")
    try:
        text = json.dumps(ev, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        # NaN/Infinity are not JSON; Node's JSON.parse would reject the line.
        text = json.dumps(_finite(ev), ensure_ascii=False, separators=(",", ":"))
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8; \u escapes are still valid JSON.
        return (json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
