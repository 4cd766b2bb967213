"""The worker's size limits (CLI ``--max-line-bytes``, ``--max-image-pixels``,
``--max-image-bytes``). Standard library only: the worker parses its
arguments before it imports AutoGen."""

from __future__ import annotations

from dataclasses import dataclass

# A line is one message; a task carrying a few base64 images fits easily.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
# 4096 x 4096 in all the images of one task. PIL decodes every task image
# fully (and AutoGen converts it to RGB) when the message is built: an
# 8000x8000 PNG of 10 KB costs ~271 MiB, and twenty 4096x4096 PNGs in one
# 57 KB task cost 1.3 GiB and 8 s of CPU, so the limits are per task.
DEFAULT_MAX_IMAGE_PIXELS = 16_777_216
DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Below this even an error event with its detail might not fit in a line.
MIN_LINE_BYTES = 1024


@dataclass(frozen=True)
class Limits:
    # Bytes of one NDJSON line, not counting its "\n", in either direction.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    # width * height summed over all the images in a task, read from their headers.
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    # Decoded bytes summed over all the images in a task, from their base64 length.
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES


# Frozen, so one shared instance is a safe default argument.
DEFAULT_LIMITS = Limits()
