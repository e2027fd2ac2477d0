"""The model artefact digest: every file's path and bytes count, in any order of writing; the
file MLflow writes on download (``registered_model_meta``) does not."""

from __future__ import annotations

import hashlib
from pathlib import Path

from goldenpath.evaluation.artifact import artifact_digest


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir()
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


FILES = {"MLmodel": b"flavors: {}\n", "model.skops": b"\x00\x01weights", "code/m.py": b"x = 1\n"}


def test_the_digest_is_of_sorted_paths_and_file_hashes(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "a", FILES)
    lines = "".join(
        f"{name}\t{hashlib.sha256(FILES[name]).hexdigest()}\n" for name in sorted(FILES)
    )
    assert artifact_digest(folder) == hashlib.sha256(lines.encode()).hexdigest()
    reversed_order = _folder(tmp_path / "b", dict(reversed(FILES.items())))
    assert artifact_digest(reversed_order) == artifact_digest(folder)


def test_any_change_of_bytes_or_paths_changes_it(tmp_path: Path) -> None:
    digest = artifact_digest(_folder(tmp_path / "a", FILES))
    changed = {**FILES, "model.skops": b"\x00\x02weights"}
    renamed = {("code/n.py" if k == "code/m.py" else k): v for k, v in FILES.items()}
    added = {**FILES, "extra.txt": b""}
    for name, files in (("changed", changed), ("renamed", renamed), ("added", added)):
        assert artifact_digest(_folder(tmp_path / name, files)) != digest, name


def test_what_mlflow_writes_on_download_is_left_out(tmp_path: Path) -> None:
    plain = artifact_digest(_folder(tmp_path / "a", FILES))
    meta = {**FILES, "registered_model_meta": b"model_name: small\nmodel_version: '2'\n"}
    assert artifact_digest(_folder(tmp_path / "b", meta)) == plain
    nested = {**FILES, "code/registered_model_meta": b"part of the model"}
    assert artifact_digest(_folder(tmp_path / "c", nested)) != plain
