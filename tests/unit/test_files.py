"""One atomic-write helper: whole files, the umask's permissions, nothing left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from goldenpath._files import write_atomic


def test_text_and_bytes_land_whole(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "a" / "doc.json", '{"é": 1}')
    assert target.read_text(encoding="utf-8") == '{"é": 1}'
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["doc.json"]


def test_permissions_follow_the_umask_like_open(tmp_path: Path) -> None:
    written = write_atomic(tmp_path / "report.html", "<html></html>")
    opened = tmp_path / "plain.html"
    opened.write_text("<html></html>")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(opened.stat().st_mode)
    assert stat.S_IMODE(written.stat().st_mode) & 0o044  # readable by others, unlike mkstemp's 0600


def test_a_failed_write_leaves_the_old_file_and_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write_atomic(tmp_path / "doc.json", "old")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]
