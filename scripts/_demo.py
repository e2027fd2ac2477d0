"""What the demo scripts share: running goldenpath commands and a server for the length of a
``with`` block (stopped gracefully, so every buffered log record is written)."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def runner(goldenpath: str) -> Callable[..., None]:
    """A function that prints and runs ``goldenpath <args>``, failing the demo on failure."""

    def run(*args: str) -> None:
        print(f"$ goldenpath {' '.join(args)}", flush=True)
        subprocess.run([goldenpath, *args], check=True)

    return run


TOKEN_FILE = Path("..") / "client.token"  # the demo's API client (made by the Makefile)


def client_token() -> str | None:
    """The demo client's token (scopes predict, feedback, metrics), if the Makefile made one."""
    return TOKEN_FILE.read_text().strip() if TOKEN_FILE.exists() else None


def authorization() -> dict[str, str]:
    token = client_token()
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def fetch(base: str, path: str) -> str:
    request = urllib.request.Request(base + path, headers=authorization())
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def token_options() -> tuple[str, ...]:
    """``replay``'s option that sends the demo client's token."""
    return () if client_token() is None else ("--token-file", str(TOKEN_FILE))


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
