"""``goldenpath serve --ssl-certfile/--ssl-keyfile``: HTTPS on loopback with a self-signed
certificate made here, and clear usage errors for half a pair, a missing file or a key that is
not the certificate's."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import MakeProject

GOLDENPATH = str(Path(sys.executable).parent / "goldenpath")


def _self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_answer(
    url: str, context: ssl.SSLContext, process: subprocess.Popen[str]
) -> tuple[int, bytes]:
    """The first answer of the server starting in ``process`` (waiting for it to listen)."""
    deadline = time.monotonic() + 120
    problem: Exception | None = None
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return response.status, response.read()
        except (urllib.error.URLError, ConnectionError) as exc:
            problem = exc
            time.sleep(0.2)
    raise AssertionError(f"no HTTPS answer ({problem}); exit status {process.poll()}")


def test_serve_answers_over_https(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project()
    cert, key = _self_signed(tmp_path)
    port = _port()
    tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    process = subprocess.Popen(
        [GOLDENPATH, "serve", "--port", str(port), *tls],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        url = f"https://127.0.0.1:{port}/v2/health/live"
        status, body = _first_answer(url, trusted, process)
        assert (status, json.loads(body)) == (200, {"live": True})
        # a client that does not trust the certificate is refused by its own TLS check
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context())
        # plain HTTP on the TLS port gets no HTTP answer
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert f"on https://127.0.0.1:{port}" in stderr


def _refused(root: Path, *args: str) -> str:
    done = subprocess.run(
        [GOLDENPATH, "serve", "--port", str(_port()), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    return " ".join(done.stderr.split())


def test_tls_options_are_checked_before_serving(make_project: MakeProject, tmp_path: Path) -> None:
    root = make_project()
    cert, key = _self_signed(tmp_path)
    other_cert, _ = _self_signed(tmp_path, "other")
    assert "--ssl-certfile needs --ssl-keyfile too" in _refused(root, "--ssl-certfile", str(cert))
    assert "--ssl-keyfile needs --ssl-certfile too" in _refused(root, "--ssl-keyfile", str(key))
    missing = tmp_path / "missing.crt"
    text = _refused(root, "--ssl-certfile", str(missing), "--ssl-keyfile", str(key))
    assert f"no file {missing}" in text
    text = _refused(root, "--ssl-certfile", str(other_cert), "--ssl-keyfile", str(key))
    assert "the key must be the certificate's" in text
