"""v2 frames for a run's Redis log, built as the Node plugin builds them
(lib/run.ts ``nextFrame``): ``type``, ``runId`` and ``seq`` first, then the
frame's own fields.

The worker host turns each ev of a run (protocol.py) into at most one frame:

    item ModelClientStreamingChunkEvent  token {source, full_message_id, text, chunks: 1}
    item TaskResult                      result {result}               (terminal)
    any other item                       event {event}
    input_request                        input_request {requestId, prompt}
    end, after a TaskResult              nothing
    end, without one                     error AGS_RUNNER_NO_RESULT    (terminal)
    cancelled                            cancelled {reason}            (terminal)
    interrupted, its state kept          interrupted {threadId, requestId, prompt, source}  (terminal)
    interrupted, no state kept           error AGS_INTERRUPT_FAILED    (terminal)
    error                                error {code, message}         (terminal; never the detail)

A thread's run whose state was not kept has ``stateError`` {code, message}
on its terminal frame, after ``usage``, as Node's run.ts puts it there.

Items arrive as pydantic's JSON text (convert.item_to_raw_json); an event or
a result is put into its frame as that text, not serialized again.

Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .protocol import LineTooLong, dumps

CHUNK = "ModelClientStreamingChunkEvent"
TASK_RESULT = "TaskResult"

# The Node plugin's messages for these codes (lib/errors.ts).
NO_RESULT_CODE = "AGS_RUNNER_NO_RESULT"
NO_RESULT_MESSAGE = "The runner ended without a TaskResult"
STOPPED_CODE = "AGS_STOPPED"
STOPPED_MESSAGE = "Stopped: a single agent has no turn to finish, so the run was cancelled"
STATE_TOO_LARGE_CODE = "AGS_THREAD_STATE_TOO_LARGE"
STATE_FAILED_CODE = "AGS_THREAD_STATE_FAILED"
INTERRUPT_FAILED_CODE = "AGS_INTERRUPT_FAILED"


def state_too_large_message(size: int, limit: int) -> str:
    return f"The thread's state is {size} bytes, over maxThreadStateBytes ({limit}): it was not saved"


def state_failed_message(why: str) -> str:
    return f"The thread's state could not be saved: {why}"


def interrupt_failed_message(why: str) -> str:
    return f"The run waited for input longer than holdInputFor, but could not be held for the answer: {why}"


Outcome = Literal["result", "cancelled", "error", "interrupted"]


@dataclass(frozen=True)
class Frame:
    seq: int
    # The frame's JSON, UTF-8: the log entry's field `f`.
    data: bytes
    # Set on the run's terminal frame: what meta.outcome becomes.
    outcome: Outcome | None = None
    # Set on an input_request frame: the id SADDed to the run's inputs.
    request_id: str | None = None


class RunFrames:
    """Numbers one run's frames from seq 1 (seq 0, `started`, is the
    gateway's) and knows when the run has had its terminal frame."""

    def __init__(self, run_id: str, max_frame_bytes: int, seq: int = 0) -> None:
        self.run_id = run_id
        self.seq = seq  # the last seq handed out (0: the gateway's `started`)
        self.ended = False
        self.saw_result = False
        self._run_id_json = dumps(run_id)
        self._max = max_frame_bytes
        # The models_usage of the run's events, summed for its terminal
        # frame as Node's run.ts does (each model call's usage is on one
        # event of the stream, never only on the TaskResult's copies).
        # None until a model reports usage: unknown is not 0.
        self.usage: tuple[int, int] | None = None
        # A thread's run whose state was not kept: (code, message), for its terminal frame.
        self.state_error: tuple[str, str] | None = None

    def item(self, item: str | Mapping[str, Any]) -> Frame:
        """A run_stream() item; raises LineTooLong (taking no seq) when its
        frame would exceed the frame limit."""
        raw = item if isinstance(item, str) else dumps(item)
        value = json.loads(raw)
        kind = value.get("type") if isinstance(value, dict) else None
        if kind != TASK_RESULT and isinstance(value, dict):
            self._add_usage(value.get("models_usage"))
        if kind == CHUNK:
            content = value.get("content")
            fields = {
                "source": value.get("source"),
                "full_message_id": value.get("full_message_id"),
                "text": content if isinstance(content, str) else "" if content is None else str(content),
                "chunks": 1,
            }
            return self._frame("token", _fields(fields))
        if kind == TASK_RESULT:
            frame = self._frame("result", f',"result":{raw}{self._ending()}', "result", limited=True)
            self.saw_result = True
            return frame
        return self._frame("event", f',"event":{raw}')

    def input_request(self, request_id: str, prompt: str) -> Frame:
        body = _fields({"requestId": request_id, "prompt": prompt})
        return self._frame("input_request", body, request_id=request_id)

    def end(self) -> Frame | None:
        """The run's `end`: nothing after its result, else the error Node sends."""
        if self.saw_result or self.ended:
            self.ended = True
            return None
        return self.error(NO_RESULT_CODE, NO_RESULT_MESSAGE)

    def cancelled(self, reason: str) -> Frame:
        return self._frame("cancelled", _fields({"reason": reason}) + self._ending(), "cancelled")

    def interrupted(self, thread_id: str, request_id: str, prompt: str, source: str | None) -> Frame:
        """A thread's run ended at input request request_id, its state kept
        (Node's run.ts: threadId, requestId, prompt, source when known, then usage)."""
        fields: dict[str, Any] = {"threadId": thread_id, "requestId": request_id, "prompt": prompt}
        if source is not None:
            fields["source"] = source
        return self._frame("interrupted", _fields(fields) + self._ending(), "interrupted")

    def error(self, code: str, message: str) -> Frame:
        return self._frame("error", _fields({"code": code, "message": message}) + self._ending(), "error")

    def with_state_error(self, frame: Frame) -> Frame:
        """A terminal frame made before its run's state was known (a
        thread's result waits for its state), with the run's stateError
        now, if it has one."""
        extra = self._state_error()
        if not extra:
            return frame
        return Frame(frame.seq, frame.data[:-1] + encode_frame(extra) + b"}", frame.outcome, frame.request_id)

    def _add_usage(self, usage: object) -> None:
        """What is not a count (negative, fractional, a bool) is ignored;
        an object with neither count reports nothing."""
        if not isinstance(usage, dict):
            return
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        prompt_ok = type(prompt) is int and prompt >= 0
        completion_ok = type(completion) is int and completion >= 0
        if not (prompt_ok or completion_ok):
            return
        total = self.usage or (0, 0)
        self.usage = (
            total[0] + (prompt if prompt_ok and isinstance(prompt, int) else 0),
            total[1] + (completion if completion_ok and isinstance(completion, int) else 0),
        )

    def _usage(self) -> str:
        if self.usage is None:
            return ""
        return f',"usage":{{"prompt_tokens":{self.usage[0]},"completion_tokens":{self.usage[1]}}}'

    def _state_error(self) -> str:
        if self.state_error is None:
            return ""
        code, message = self.state_error
        return ',"stateError":' + dumps({"code": code, "message": message})

    def _ending(self) -> str:
        """What a terminal frame has after its own fields."""
        return self._usage() + self._state_error()

    def _frame(
        self,
        kind: str,
        body: str,
        outcome: Outcome | None = None,
        request_id: str | None = None,
        *,
        limited: bool | None = None,
    ) -> Frame:
        """limited: whether the frame limit applies (by default, to every
        frame but cancelled and error, which must never be lost and are small)."""
        if self.ended:
            raise RuntimeError(f"run {self.run_id!r}: a {kind} frame after the terminal one")
        seq = self.seq + 1
        data = encode_frame(f'{{"type":"{kind}","runId":{self._run_id_json},"seq":{seq}{body}}}')
        if (outcome is None if limited is None else limited) and len(data) > self._max:
            raise LineTooLong(len(data), self._max)
        self.seq = seq
        if outcome is not None:
            self.ended = True
        return Frame(seq, data, outcome, request_id)


def _fields(fields: Mapping[str, Any]) -> str:
    """',"a":1,"b":2': fields to append to a frame's head, in order. One
    dumps() of them all (a streamed token is one of these per chunk: one call
    costs a third of one per name and value)."""
    return "," + dumps(dict(fields))[1:-1] if fields else ""


def encode_frame(text: str) -> bytes:
    """UTF-8; a lone surrogate (which UTF-8 cannot carry) as a \\u escape,
    which is still valid JSON, as protocol.encode_ev writes it."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")).encode("ascii")
