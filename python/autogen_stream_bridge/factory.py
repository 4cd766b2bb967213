"""Loading the user's factory ("module:callable") and calling it per run."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from autogen_core import CancellationToken

InputFunc = Callable[[str, CancellationToken | None], Awaitable[str]]


@dataclass(frozen=True)
class RunRequest:
    """What a factory gets for each run."""

    # The client's runId, as the client chose it: for logs and for the
    # application's own bookkeeping with that client. Not unique: two
    # clients (or one, twice) may use the same runId.
    run_id: str
    # The task exactly as the client sent it (JSON); the bridge converts it
    # to AgentChat messages itself when it calls run_stream().
    task: Any
    options: dict[str, Any] = field(default_factory=dict)
    # The server-made key of this run, unique on the server: key anything
    # shared between runs (caches, registries, files) by this, never by
    # run_id. Left empty when a RunRequest is built by hand, it is run_id.
    key: str = ""
    # Who started the run: the identity the app's authenticate() gave (at
    # least {"id": ...}), or an anonymous one. Pick models, tools or quotas
    # by it; it comes from the server, not from the client.
    identity: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.run_id)


class FactoryImportError(Exception):
    """The factory spec does not resolve to a callable (the worker is fatal)."""


class FactoryError(Exception):
    """The factory raised (the exception is the __cause__) or returned
    something that cannot run (AGS_FACTORY_ERROR, or the code of a RunError it
    raised)."""


class Factory:
    """A resolved factory; knows whether it wants the bridge's input function."""

    def __init__(self, fn: Callable[..., Any], spec: str) -> None:
        self.fn = fn
        self.spec = spec
        self.wants_input_func = _accepts_keyword(fn, "input_func")

    async def create(self, request: RunRequest, input_func: InputFunc) -> Any:
        """Call the factory (sync or async). Any exception is a FactoryError."""
        try:
            result = self.fn(request, input_func=input_func) if self.wants_input_func else self.fn(request)
            if inspect.isawaitable(result):
                result = await result
        except Exception as e:
            raise FactoryError(f"{type(e).__name__}: {e}") from e
        if not callable(getattr(result, "run_stream", None)):
            raise FactoryError(
                f"the factory {self.spec} returned {type(result).__name__}, which has no run_stream(); "
                "return an AgentChat agent or team"
            )
        return result


def load_factory(spec: str) -> Factory:
    """Resolve "package.module:attr[.attr...]", importing the module now so
    that runs start warm."""
    module_name, sep, attr_path = spec.partition(":")
    if not sep or not module_name or not attr_path:
        raise FactoryImportError(f"factory {spec!r} must look like 'package.module:callable'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as e:
        raise FactoryImportError(f"cannot import factory module {module_name!r}: {type(e).__name__}: {e}") from e
    for name in attr_path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise FactoryImportError(f"factory {spec!r}: {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise FactoryImportError(f"factory {spec!r} is a {type(target).__name__}, not a callable")
    return Factory(target, spec)


def _accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    # Only an explicitly named parameter counts: a generic **kwargs wrapper
    # might forward input_func somewhere that does not expect it.
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    param = parameters.get(name)
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
