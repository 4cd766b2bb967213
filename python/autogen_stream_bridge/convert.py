"""JSON <-> AgentChat: the client's task in, run_stream() items out."""

from __future__ import annotations

import base64
import binascii
import warnings
from collections.abc import Iterator, Mapping
from io import BytesIO
from typing import Any, ClassVar

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseChatMessage, MessageFactory, TextMessage
from PIL import Image as PILImage
from pydantic import BaseModel, ValidationError

from .limits import DEFAULT_LIMITS, Limits
from .protocol import ErrorCode, dumps

Task = str | BaseChatMessage | list[BaseChatMessage] | None

_factory = MessageFactory()


class BadTask(ValueError):
    """The client's task cannot become an AgentChat task. The text is meant
    for the client: it is about the task the client sent."""

    code: ClassVar[ErrorCode] = "AGS_BAD_REQUEST"


class ImageTooLarge(BadTask):
    """An image in the task is over --max-image-bytes or --max-image-pixels."""

    code: ClassVar[ErrorCode] = "AGS_IMAGE_TOO_LARGE"


def task_from_json(task: Any, limits: Limits = DEFAULT_LIMITS) -> Task:
    """A string stays a string (AgentChat wraps it as a user TextMessage);
    a message dict becomes its AgentChat class; a list may mix both.
    Images are checked against limits before AgentChat decodes them."""
    if task is None or isinstance(task, str):
        return task
    check_images(task, limits)
    if isinstance(task, dict):
        return _message(task)
    if isinstance(task, list):
        if not task:
            raise BadTask("task list must not be empty")
        return [TextMessage(content=t, source="user") if isinstance(t, str) else _message(t) for t in task]
    raise BadTask(f"task must be a string, a message object or a list, got {type(task).__name__}")


def _message(data: Any) -> BaseChatMessage:
    if not isinstance(data, dict):
        raise BadTask(f"task list entries must be strings or message objects, got {type(data).__name__}")
    if not isinstance(data.get("type"), str):
        raise BadTask('a task message needs a "type", e.g. {"type": "TextMessage", "content": "..."}')
    # Clients rarely care who "said" the task; AgentChat requires a source.
    data = {"source": "user", **data}
    try:
        message = _factory.create(data)
    except ValidationError as e:
        raise BadTask(f"invalid {data['type']}: {_first_error(e)}") from None
    except (ValueError, TypeError) as e:
        # pydantic passes a validator's TypeError through (AutoGen's Image
        # validator raises one for {"data": 5}): still the client's task.
        raise BadTask(f"invalid {data['type']}: {e}" if isinstance(e, TypeError) else str(e)) from None
    if not isinstance(message, BaseChatMessage):
        # run_stream() only accepts chat messages; events are output only.
        raise BadTask(f"{data['type']} is an event, not a chat message; it cannot be a task")
    return message


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))


def check_images(task: Any, limits: Limits) -> None:
    """Raise ImageTooLarge or BadTask for an image AutoGen must not decode.

    Building a MultiModalMessage validates every image with
    ``Image.from_base64``, which base64-decodes it, and PIL then decodes
    every pixel (``convert("RGB")``): a 10 KB PNG of 8000x8000 pixels costs
    ~271 MiB and seconds of CPU on the loop every run shares. So each image
    is checked first from its size and its header alone."""
    for number, data in enumerate(_image_data(task), start=1):
        # 4 base64 characters are 3 bytes: known before decoding anything.
        padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
        implied = len(data) // 4 * 3 - padding
        if implied > limits.max_image_bytes:
            raise ImageTooLarge(
                f"task image {number} is {implied} bytes; the limit is {limits.max_image_bytes} (maxImageBytes)"
            )
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
        if width * height > limits.max_image_pixels:
            raise ImageTooLarge(
                f"task image {number} is {width}x{height} pixels; "
                f"the limit is {limits.max_image_pixels} (maxImagePixels)"
            )


def _image_data(task: Any) -> Iterator[str]:
    """The base64 ``data`` of every image in the task, in order: every dict
    with a string "data" in a ``content`` list, at any depth (a
    MultiModalMessage's content, the UserMessages of a HandoffMessage's
    context). The walk is iterative: the task may be nested as deep as
    json.loads allows."""
    stack: list[Any] = [task]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
            content = node.get("content")
            if isinstance(content, list):
                for entry in content:
                    if isinstance(entry, dict) and isinstance(entry.get("data"), str):
                        yield entry["data"]
        elif isinstance(node, list):
            children = node
        else:
            continue
        # Reversed onto the stack so that images are numbered in task order.
        stack.extend(reversed(children))


class RawJson(str):
    """JSON text that is put into a line as it is, not serialized again."""


def item_to_raw_json(item: object) -> RawJson:
    """The same JSON as ``item_to_json``, written by pydantic's serializer
    straight to text: no intermediate dict, no second json.dumps. This is
    the per-token path, so it matters."""
    if isinstance(item, TaskResult):
        messages = ",".join(m.model_dump_json() for m in item.messages)
        return RawJson(f'{{"type":"TaskResult","messages":[{messages}],"stop_reason":{dumps(item.stop_reason)}}}')
    if isinstance(item, BaseModel):
        # pydantic writes NaN and Infinity as null (ser_json_inf_nan).
        return RawJson(item.model_dump_json())
    # A custom run_stream()'s dict: json.dumps would write NaN, which is not JSON.
    return RawJson(dumps(item_to_json(item)))


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
