"""Streaming chunks in batches: the stdio worker's ChunkSink.

A streamed message is thousands of ModelClientStreamingChunkEvents, and
the client sees each only as a token frame (source, full_message_id, text).
So the consecutive plain chunks of one run and message that a turn of the
loop produces travel as one ``chunks`` line, a JSON string per chunk:

    {"ev":"chunks","run":"<key>","source":"writer","full_message_id":"m1","content":["Hel","lo"," there"]}

Node makes one chunk event of each entry (lib/python/channel.ts), and each
uses one credit, as an ``item`` would. Anything else, including a chunk
with models_usage or metadata, is an ``item`` (convert.item_to_raw_json),
queued in call order between these lines.
"""

from __future__ import annotations

from collections.abc import Callable

from autogen_agentchat.messages import ModelClientStreamingChunkEvent

from .protocol import CHUNKS_TAIL, LineTooLong, chunks_head, is_unicode, json_string
from .stdio import LIST_LINE_BYTES, LineWriter


class ChunkLines:
    """One run's ChunkSink (run.ChunkSink) on the worker's LineWriter."""

    __slots__ = ("_cap", "_head", "_key", "_max", "_message", "_source", "_writer")

    def __init__(self, writer: LineWriter, key: str, max_line_bytes: int) -> None:
        self._writer = writer
        self._key = key
        self._max = max_line_bytes
        # A batch line stays under both LIST_LINE_BYTES and the line limit.
        self._cap = min(LIST_LINE_BYTES, max_line_bytes + 1)
        # The line head for the last chunk's source and message, the very
        # objects (none yet: self stands for no message at all).
        self._head = b""
        self._source: object = self
        self._message: object = self

    @classmethod
    def maker(cls, writer: LineWriter, max_line_bytes: int) -> Callable[[str], ChunkLines]:
        """The RunManager's ``chunks``: a sink per run key."""
        return lambda key: cls(writer, key, max_line_bytes)

    def add(self, item: object) -> bool | None:
        # convert.plain_chunk's test, with the source and message checked
        # only when they change (a streamed message's chunks share both).
        if type(item) is not ModelClientStreamingChunkEvent or item.models_usage is not None or item.metadata:
            return None
        content = item.content
        if type(content) is not str or not (content.isascii() or is_unicode(content)):
            return None  # a lone surrogate is left to pydantic, which refuses it
        source, message = item.source, item.full_message_id
        if source is not self._source or message is not self._message:
            if type(source) is not str or not is_unicode(source):
                return None
            if message is not None and (type(message) is not str or not is_unicode(message)):
                return None
            self._head = chunks_head(self._key, source, message).encode()
            self._source = source
            self._message = message
        part = json_string(content).encode()
        size = len(self._head) + len(part) + len(CHUNKS_TAIL) - 1
        # The check serve()'s send makes, for a line of this chunk alone.
        if size > self._max:
            raise LineTooLong(size, self._max)
        return self._writer.add_part(self._head, CHUNKS_TAIL, part, self._cap)

    async def drain(self) -> None:
        await self._writer.drain()
