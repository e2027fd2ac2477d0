"""PII in the prediction log is an HMAC keyed by ``GOLDENPATH_PII_KEY`` or the project's own key
file (0600, made once), never a plain SHA-256 that a dictionary of values reverses."""

from __future__ import annotations

import hashlib
import hmac
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from goldenpath.serving.pii import KEY_FILE, hash_pii, pii_key
from goldenpath.settings import PII_KEY_VAR


def test_equal_under_one_key_different_under_another_and_not_plain_sha256() -> None:
    email = "jane.doe@example.com"
    one, other = b"k" * 32, b"j" * 32
    assert hash_pii(email, one) == hash_pii(email, one)
    assert hash_pii(email, one) != hash_pii(email, other)
    assert hash_pii(email, one) != hashlib.sha256(email.encode()).hexdigest()
    assert hash_pii(email, one) == hmac.new(one, email.encode(), hashlib.sha256).hexdigest()
    assert hash_pii(None, one) is None
    assert len(hash_pii(1, one) or "") == 64
    assert hash_pii("\ud800", one) is not None  # a lone surrogate still gets a digest


def test_the_project_key_is_generated_once_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PII_KEY_VAR, raising=False)
    state = tmp_path / ".goldenpath"
    first = pii_key(state)
    path = state / KEY_FILE
    assert first.source == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    assert pii_key(state).key == first.key  # kept, not regenerated
    assert first.key.decode() not in repr(first)
    assert [p.name for p in state.iterdir()] == [KEY_FILE]  # no temporary file left

    # processes starting together end with one key
    other = tmp_path / "other"
    with ThreadPoolExecutor(8) as pool:
        keys = {k.key for k in pool.map(lambda _: pii_key(other), range(16))}
    assert len(keys) == 1


def test_the_environment_key_wins_and_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PII_KEY_VAR, "a shared secret of the team")
    key = pii_key(tmp_path)
    assert (key.key, key.source) == (b"a shared secret of the team", PII_KEY_VAR)
    assert not (tmp_path / KEY_FILE).exists()
    # the key file's text as GOLDENPATH_PII_KEY gives the same digests (logs of several machines)
    monkeypatch.delenv(PII_KEY_VAR)
    generated = pii_key(tmp_path / "p")
    monkeypatch.setenv(PII_KEY_VAR, (tmp_path / "p" / KEY_FILE).read_text().strip())
    assert hash_pii("x", pii_key(tmp_path).key) == hash_pii("x", generated.key)


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(PII_KEY_VAR, raising=False)
    pii_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with caplog.at_level(logging.WARNING, "goldenpath.serving"):
        pii_key(tmp_path)
    assert "chmod 600" in caplog.text
