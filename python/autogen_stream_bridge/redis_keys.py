"""Key names of docs/redis.md. ``P`` is the prefix (default ``ags:``), ``K``
the run's key, made by the gateway. Thread keys are the gateways' alone to
make (from an identity and a threadId): the host takes a thread's from its
run's meta. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "ags:"
# The consumer group of the worker hosts on the requests stream.
GROUP = "hosts"


def requests_key(prefix: str) -> str:
    return f"{prefix}requests"


def host_key(prefix: str, host_id: str) -> str:
    return f"{prefix}host:{host_id}"


@dataclass(frozen=True)
class RunKeys:
    prefix: str
    key: str

    def _name(self, what: str) -> str:
        return f"{self.prefix}run:{self.key}:{what}"

    @property
    def log(self) -> str:
        return self._name("log")

    @property
    def meta(self) -> str:
        return self._name("meta")

    @property
    def ctl(self) -> str:
        return self._name("ctl")

    @property
    def inputs(self) -> str:
        return self._name("inputs")

    @property
    def readers(self) -> str:
        return self._name("readers")

    @property
    def alive(self) -> str:
        return self._name("alive")

    @property
    def far(self) -> str:
        return self._name("far")

    def all(self) -> list[str]:
        """Every key of the run that expires once it has ended, in the order
        the append script takes them (KEYS[1..7])."""
        return [self.log, self.meta, self.ctl, self.inputs, self.readers, self.alive, self.far]
