"""The heartbeat: ``ping`` is answered by ``pong`` from the stdin reader,
while runs stream too (Node takes a worker that stays silent for frozen)."""

from __future__ import annotations

import pytest

from autogen_stream_bridge.protocol import ProtocolError, decode_op
from conftest import Spawn


def test_decode_ping() -> None:
    assert decode_op('{"op":"ping","id":3}') == {"op": "ping", "id": 3}
    for line in ('{"op":"ping"}', '{"op":"ping","id":"3"}', '{"op":"ping","id":true}', '{"op":"ping","id":1.5}'):
        with pytest.raises(ProtocolError):
            decode_op(line)


async def test_ping_is_answered_while_a_run_streams(spawn: Spawn) -> None:
    worker = await spawn("long_stream")
    # A run with more credit than it will use in the time the pings take: it streams all along.
    await worker.start("r1", task="go", credit=100_000, words=20_000)
    await worker.items("r1", 100)
    for ping_id in range(1, 6):
        await worker.send(op="ping", id=ping_id)
        pong = await worker.next_other()
        assert pong == {"ev": "pong", "id": ping_id}
        await worker.items("r1", 100)  # still streaming between the pings
    stats = await worker.stats()
    assert stats["active"] == 1, "the run was streaming when every pong came"
    await worker.send(op="cancel", run="r1")
