"""Worker-wide counters reported by the ``stats`` op."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

# Enough to answer "was run X cancelled?" for recent runs without growing
# forever in a long-lived worker.
CANCELLED_HISTORY = 1000


@dataclass
class Counters:
    pulled_total: int = 0
    started_total: int = 0
    cancelled: deque[str] = field(default_factory=lambda: deque(maxlen=CANCELLED_HISTORY))
