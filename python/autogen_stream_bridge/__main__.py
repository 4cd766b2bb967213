"""``python -m autogen_stream_bridge`` is the worker, too."""

from .worker import main

main()
