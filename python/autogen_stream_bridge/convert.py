"""JSON <-> AgentChat: the client's task in, run_stream() items out."""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any, ClassVar, get_args

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    AgentEvent,
    BaseChatMessage,
    ChatMessage,
    ModelClientStreamingChunkEvent,
    TextMessage,
)
from PIL import Image as PILImage
from pydantic import BaseModel, ValidationError

from .limits import DEFAULT_LIMITS, Limits
from .protocol import ErrorCode, dumps, is_unicode, json_string, lone_surrogate

Task = str | BaseChatMessage | list[BaseChatMessage] | None

# What a task message may be: AgentChat's chat messages, looked up by "type"
# before anything is built. Events (MemoryQueryEvent, ...) are run_stream()
# output only, and building one could decode images no check has seen.
_CHAT_TYPES: dict[str, type[BaseChatMessage]] = {cls.__name__: cls for cls in get_args(get_args(ChatMessage)[0])}
_EVENT_TYPES = frozenset(cls.__name__ for cls in get_args(get_args(AgentEvent)[0]))

# A valid task nests 6 levels at most (a list of HandoffMessages whose
# context holds UserMessages with images); the plugin's maxFrameDepth is 32.
MAX_TASK_DEPTH = 32


class BadTask(ValueError):
    """The client's task cannot become an AgentChat task. The text is meant
    for the client: it is about the task the client sent."""

    code: ClassVar[ErrorCode] = "AGS_BAD_REQUEST"


class ImageTooLarge(BadTask):
    """The task's images are over --max-image-bytes or --max-image-pixels."""

    code: ClassVar[ErrorCode] = "AGS_IMAGE_TOO_LARGE"


def task_from_json(task: Any, limits: Limits = DEFAULT_LIMITS) -> Task:
    """A string stays a string (AgentChat wraps it as a user TextMessage);
    a message dict becomes its AgentChat class; a list may mix both.

    Nothing is built before the whole task passed every check: valid
    Unicode, a bounded depth, chat message types only, and images within
    the limits (read from their headers, never decoded)."""
    if task is None:
        return None
    images = _scan(task, "task", MAX_TASK_DEPTH, _metadata_ids(task))
    if isinstance(task, str):
        return task
    if isinstance(task, dict):
        entries: list[Any] = [task]
    elif isinstance(task, list):
        if not task:
            raise BadTask("task list must not be empty")
        entries = task
    else:
        raise BadTask(f"task must be a string, a message object or a list, got {type(task).__name__}")
    classes = [None if isinstance(entry, str) else _chat_class(entry) for entry in entries]
    _check_image_sizes(images, limits)
    messages = [
        TextMessage(content=entry, source="user") if cls is None else _message(cls, entry)
        for entry, cls in zip(entries, classes, strict=True)
    ]
    return messages[0] if isinstance(task, dict) else messages


def check_options(options: Any) -> dict[str, Any]:
    """The run's options: a JSON object (None is {}) of valid Unicode."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise BadTask("options must be a JSON object")
    _scan(options, "options", None, None)
    return options


def _chat_class(data: Any) -> type[BaseChatMessage]:
    if not isinstance(data, dict):
        raise BadTask(f"task list entries must be strings or message objects, got {type(data).__name__}")
    name = data.get("type")
    if not isinstance(name, str):
        raise BadTask('a task message needs a "type", e.g. {"type": "TextMessage", "content": "..."}')
    cls = _CHAT_TYPES.get(name)
    if cls is not None:
        return cls
    if name in _EVENT_TYPES:
        # run_stream() only accepts chat messages; events are output only.
        raise BadTask(f"{name} is an event, not a chat message; it cannot be a task")
    raise BadTask(f"Unknown message type: {name}")


def _message(cls: type[BaseChatMessage], data: dict[str, Any]) -> BaseChatMessage:
    # Clients rarely care who "said" the task; AgentChat requires a source.
    data = {"source": "user", **data}
    try:
        message = cls.load(data)
    except ValidationError as e:
        raise BadTask(f"invalid {data['type']}: {_first_error(e)}") from None
    except (ValueError, TypeError) as e:
        # pydantic passes a validator's TypeError through (AutoGen's Image
        # validator raises one for {"data": 5}): still the client's task.
        raise BadTask(f"invalid {data['type']}: {e}" if isinstance(e, TypeError) else str(e)) from None
    if not isinstance(message, BaseChatMessage):  # a load() that returns something else
        raise BadTask(f"{data['type']} is not a chat message; it cannot be a task")
    return message


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))


# The walk ------------------------------------------------------------------


def _scan(root: Any, name: str, max_depth: int | None, not_images: frozenset[int] | None) -> list[str]:
    """Walk all of root, every nested dict and list, keys included:
    raise BadTask for a lone surrogate in any string or for nesting deeper
    than max_depth (None: any depth). With not_images (the ids of dicts that
    cannot be images), return the base64 ``data`` of every potential image,
    in order: AutoGen's Image validator takes any dict with a "data" key, so
    every dict with a string "data" is one, wherever it is. Iterative and
    depth-first, so it holds one iterator per level, never the whole task."""
    what = f"{name} contains" if name == "task" else f"{name} contain"
    images: list[str] = []
    if isinstance(root, str):
        _check_text(root, what, name, [], key=False)
        return images
    first = _children(root, images, not_images)
    if first is None:
        return images
    stack = [first]
    path: list[str | int] = []  # path[i] leads from stack[i] to stack[i + 1]
    while stack:
        for key, value in stack[-1]:
            if isinstance(key, str):
                _check_text(key, what, name, path, key=True)
            if isinstance(value, str):
                _check_text(value, what, name, [*path, key], key=False)
                continue
            below = _children(value, images, not_images)
            if below is None:
                continue
            if max_depth is not None and len(stack) >= max_depth:
                raise BadTask(f"{name} may nest at most {max_depth} levels")
            stack.append(below)
            path.append(key)
            break
        else:
            stack.pop()
            if path:
                path.pop()
    return images


def _children(node: Any, images: list[str], not_images: frozenset[int] | None) -> Iterator[tuple[Any, Any]] | None:
    if isinstance(node, dict):
        if not_images is not None and isinstance(node.get("data"), str) and id(node) not in not_images:
            images.append(node["data"])
        return iter(node.items())
    if isinstance(node, list):
        return enumerate(node)
    return None


def _metadata_ids(task: Any) -> frozenset[int]:
    """A task message's ``metadata`` is a dict of strings (Dict[str, str]
    in AgentChat), never an image, though it may have a "data" key."""
    entries = [task] if isinstance(task, dict) else task if isinstance(task, list) else []
    ids = set()
    for entry in entries:
        metadata = entry.get("metadata") if isinstance(entry, dict) else None
        if isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values()):
            ids.add(id(metadata))
    return frozenset(ids)


def _check_text(text: str, what: str, name: str, path: list[str | int], *, key: bool) -> None:
    found = lone_surrogate(text)
    if found is None:
        return
    where = _where(name, path)
    place = f"a key of {where}" if key else where
    raise BadTask(f"{what} a lone UTF-16 surrogate (U+{ord(found):04X} in {place}); send valid Unicode")


def _where(name: str, path: list[str | int]) -> str:
    """task[1].content, options["a key"]: where in the JSON a value is.
    The keys on the path are valid Unicode (each was checked first)."""
    out = name
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step.isidentifier() and len(step) <= 40:
            out += f".{step}"
        else:
            out += f"[{json.dumps(step if len(step) <= 40 else step[:40] + '...')}]"
    return out


# Images ----------------------------------------------------------------------


def check_images(task: Any, limits: Limits) -> None:
    """Raise ImageTooLarge or BadTask for images AutoGen must not decode
    (and BadTask for what the walk refuses; see _scan)."""
    _check_image_sizes(_scan(task, "task", MAX_TASK_DEPTH, _metadata_ids(task)), limits)


def _check_image_sizes(images: list[str], limits: Limits) -> None:
    """The limits are per task: the total of all its images, since AutoGen
    decodes every one (``Image.from_base64``, then PIL decodes every pixel
    for ``convert("RGB")``): a 10 KB PNG of 8000x8000 pixels costs ~271 MiB
    and seconds of CPU on the loop every run shares, and twenty images each
    under a per-image limit cost twenty times that. So the images are
    measured first from their base64 length and their headers alone. An
    image over a limit on its own is named; otherwise the total is."""
    if not images:
        return
    # 4 base64 characters are 3 bytes: known before decoding anything.
    total_bytes = 0
    for number, data in enumerate(images, start=1):
        padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
        implied = len(data) // 4 * 3 - padding
        if implied > limits.max_image_bytes:
            raise ImageTooLarge(
                f"task image {number} is {implied} bytes; the limit is {limits.max_image_bytes} (maxImageBytes)"
            )
        total_bytes += implied
    if total_bytes > limits.max_image_bytes:
        raise ImageTooLarge(
            f"task images total {total_bytes} bytes; the limit is {limits.max_image_bytes} (maxImageBytes)"
        )
    # Now at most max_image_bytes in all are base64-decoded, for headers.
    total_pixels = 0
    for number, data in enumerate(images, start=1):
        width, height = _image_size(number, data, limits)
        if width * height > limits.max_image_pixels:
            raise ImageTooLarge(
                f"task image {number} is {width}x{height} pixels; "
                f"the limit is {limits.max_image_pixels} (maxImagePixels)"
            )
        total_pixels += width * height
    if total_pixels > limits.max_image_pixels:
        raise ImageTooLarge(
            f"task images total {total_pixels} pixels; the limit is {limits.max_image_pixels} (maxImagePixels)"
        )


def _image_size(number: int, data: str, limits: Limits) -> tuple[int, int]:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadTask(f"task image {number} is not valid base64") from None
    try:
        with warnings.catch_warnings():
            # Our own limit is the one that applies; PIL's bomb warning
            # would only repeat it in the logs.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            # open() reads the header only; no pixel is decoded here.
            with PILImage.open(BytesIO(raw)) as image:
                width, height = image.size
    except PILImage.DecompressionBombError:
        # Over PIL's own hard limit (2 x 89478485 pixels), so over ours
        # unless ours was raised above it.
        raise ImageTooLarge(
            f"task image {number} has more than {2 * (PILImage.MAX_IMAGE_PIXELS or 0)} pixels; "
            f"the limit is {limits.max_image_pixels} (maxImagePixels)"
        ) from None
    except Exception:
        raise BadTask(f"task image {number} is not an image format the worker can read") from None
    return width, height


class RawJson(str):
    """JSON text that is put into a line as it is, not serialized again."""


def item_to_raw_json(item: object, compact: bool = True) -> RawJson:
    """The same JSON as ``item_to_json``, written by pydantic's serializer
    straight to text: no intermediate dict, no second json.dumps. This is
    the per-token path, so it matters. With ``compact``, a plain streaming
    chunk (``plain_chunk``) is written as only what a token frame is made
    of: type, source, content and full_message_id."""
    if compact:
        chunk = plain_chunk(item)
        if chunk is not None:
            source, message, content = chunk
            return RawJson(
                f'{{"type":"ModelClientStreamingChunkEvent","source":{json_string(source)},'
                f'"content":{json_string(content)},'
                f'"full_message_id":{"null" if message is None else json_string(message)}}}'
            )
    if isinstance(item, TaskResult):
        messages = ",".join(m.model_dump_json() for m in item.messages)
        return RawJson(f'{{"type":"TaskResult","messages":[{messages}],"stop_reason":{dumps(item.stop_reason)}}}')
    if isinstance(item, BaseModel):
        # pydantic writes NaN and Infinity as null (ser_json_inf_nan).
        return RawJson(item.model_dump_json())
    # A custom run_stream()'s dict: json.dumps would write NaN, which is not JSON.
    return RawJson(dumps(item_to_json(item)))


def plain_chunk(item: object) -> tuple[str, str | None, str] | None:
    """(source, full_message_id, content) of a ModelClientStreamingChunkEvent
    that carries nothing else a client could see: AutoGen's own class (not
    a subclass), no models_usage, no metadata, and text that is Unicode
    (a lone surrogate is left to pydantic, which refuses it as it always
    did). None for anything else, which is then written whole.

    The client sees a chunk only as a token frame (source, full_message_id,
    text), so the chunk's id and created_at, which pydantic would spend
    most of a chunk's serialization on, are not sent."""
    if type(item) is not ModelClientStreamingChunkEvent or item.models_usage is not None or item.metadata:
        return None
    source, message, content = item.source, item.full_message_id, item.content
    if type(source) is not str or type(content) is not str or not (message is None or type(message) is str):
        return None  # built without validation (model_construct): left to pydantic
    if not (is_unicode(content) and is_unicode(source) and (message is None or is_unicode(message))):
        return None
    return source, message, content


def item_to_json(item: object) -> dict[str, Any]:
    """model_dump(mode="json") keeps datetimes and images JSON-safe (images
    become {"data": <base64>}). TaskResult has no type of its own, so it is
    tagged for the client."""
    if isinstance(item, TaskResult):
        return {
            "type": "TaskResult",
            "messages": [m.model_dump(mode="json") for m in item.messages],
            "stop_reason": item.stop_reason,
        }
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    if isinstance(item, Mapping) and isinstance(item.get("type"), str):
        return dict(item)  # a custom run_stream() may already speak JSON
    raise TypeError(f"run_stream() yielded {type(item).__name__}, which is not an AgentChat message")
