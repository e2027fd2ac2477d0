"""A goldenpath server running inside the test process: uvicorn on loopback in a thread, with
the app's real lifespan (models loaded at start, logs written at shutdown)."""

from __future__ import annotations

import gc
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

import goldenpath
from goldenpath.serving.app import asgi_app, create_app
from goldenpath.serving.server import Server


@contextmanager
def live_server(project: goldenpath.Project) -> Iterator[tuple[str, Server]]:
    """Serve ``project`` on a free loopback port; yields its base URL and its :class:`Server`.
    Leaving the block shuts it down gracefully (as SIGTERM does), which writes the logs."""
    app = create_app(project)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        asgi_app(app), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    interval = sys.getswitchinterval()  # the lifespan shortens it, and freezes the heap
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}", app.state.server
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        assert not thread.is_alive(), "the server did not shut down"
        sys.setswitchinterval(interval)
        gc.unfreeze()
