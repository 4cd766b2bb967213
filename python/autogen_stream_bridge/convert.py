"""JSON <-> AgentChat: the client's task in, run_stream() items out."""

from __future__ import annotations

import json

from typing import Any, List, Mapping, Union

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseChatMessage, MessageFactory, TextMessage
from pydantic import BaseModel, ValidationError

Task = Union[str, BaseChatMessage, List[BaseChatMessage], None]

_factory = MessageFactory()


class BadTask(ValueError):
    """The client's task cannot become an AgentChat task (BAD_REQUEST)."""


def task_from_json(task: Any) -> Task:
    """A string stays a string (AgentChat wraps it as a user TextMessage);
    a message dict becomes its AgentChat class; a list may mix both."""
    if task is None or isinstance(task, str):
        return task
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
    except ValueError as e:
        raise BadTask(str(e)) from None
    if not isinstance(message, BaseChatMessage):
        # run_stream() only accepts chat messages; events are output only.
        raise BadTask(f"{data['type']} is an event, not a chat message; it cannot be a task")
    return message


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))


class RawJson(str):
    """JSON text that is put into a line as it is, not serialized again."""


def item_to_raw_json(item: object) -> RawJson:
    """The same JSON as ``item_to_json``, written by pydantic's serializer
    straight to text: no intermediate dict, no second json.dumps. This is
    the per-token path, so it matters."""
    if isinstance(item, TaskResult):
        messages = ",".join(m.model_dump_json() for m in item.messages)
        return RawJson(f'{{"type":"TaskResult","messages":[{messages}],"stop_reason":{json.dumps(item.stop_reason)}}}')
    if isinstance(item, BaseModel):
        return RawJson(item.model_dump_json())
    return RawJson(json.dumps(item_to_json(item), ensure_ascii=False, separators=(",", ":")))


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
