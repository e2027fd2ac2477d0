"""What the demo scripts share: running goldenpath commands and a server for the length of a
``with`` block (stopped gracefully, so every buffered log record is written)."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def runner(goldenpath: str) -> Callable[..., None]:
    """A function that prints and runs ``goldenpath <args>``, failing the demo on failure."""

    def run(*args: str) -> None:
        print(f"$ goldenpath {' '.join(args)}", flush=True)
        subprocess.run([goldenpath, *args], check=True)

    return run


def fetch(base: str, path: str) -> str:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return response.read().decode()


@contextmanager
def serving(goldenpath: str, port: str) -> Iterator[str]:
    """``goldenpath serve --port PORT`` until the block ends; yields its base URL once ready."""
    base = f"http://127.0.0.1:{port}"
    print(f"$ goldenpath serve --port {port} &", flush=True)
    server = subprocess.Popen([goldenpath, "serve", "--port", port])
    try:
        deadline = time.time() + 120
        while True:
            try:
                fetch(base, "/v2/health/ready")
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
