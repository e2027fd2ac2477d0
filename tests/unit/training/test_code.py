"""Finding the project's own modules an entrypoint imports, and what is packed of them."""

from __future__ import annotations

import textwrap
from pathlib import Path

from goldenpath.training.code import find_local_code, stage_code


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_every_import_form_is_followed_transitively(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "entry.py": """
                import os
                import pandas as pd
                import pkg_a.models
                from pkg_b import tools
                from helpers import clean

                def fit(frame, params):
                    import lazy  # only imported when fit runs
                    return None
            """,
            "pkg_a/__init__.py": "",
            "pkg_a/models.py": "from .sub.deep import VALUE\nfrom . import sibling\n",
            "pkg_a/sibling.py": "",
            "pkg_a/sub/__init__.py": "",
            "pkg_a/sub/deep.py": "from ..sibling import *\nimport transitive\nVALUE = 1\n",
            "pkg_b/__init__.py": "",
            "pkg_b/tools.py": "",
            "helpers.py": "def clean(x):\n    return x\n",
            "lazy.py": "",
            "transitive.py": "",
            "unused.py": "",
        },
    )
    code = find_local_code("entry", tmp_path)
    assert code.relative() == (
        "entry.py",
        "helpers.py",
        "lazy.py",
        "pkg_a/",
        "pkg_b/",
        "transitive.py",
    )
    assert {"pkg_a.models", "pkg_a.sub.deep", "pkg_a.sibling", "pkg_b.tools"} <= set(code.modules)
    assert "unused" not in code.modules
    assert "os" not in code.modules


def test_virtualenvs_hidden_folders_data_and_caches_are_never_packed(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "entry.py": "import mylib\nimport venvlib\n",
            "mylib/__init__.py": "from . import core\n",
            "mylib/core.py": "",
            "mylib/table.csv": "a,b\n1,2\n",
            "mylib/__pycache__/core.cpython-311.py": "",
            "mylib/.hidden/secret.py": "",
            "mylib/env/pyvenv.cfg": "home = /usr\n",
            "mylib/env/lib/site.py": "",
            "venvlib/__init__.py": "",
            "venvlib/pyvenv.cfg": "home = /usr\n",
        },
    )
    code = find_local_code("entry", tmp_path)
    assert code.relative() == ("entry.py", "mylib/")
    staged = stage_code(code, tmp_path / "staged")
    assert staged == [str(tmp_path / "staged" / "entry.py"), str(tmp_path / "staged" / "mylib")]
    files = {
        p.relative_to(tmp_path / "staged").as_posix() for p in (tmp_path / "staged").rglob("*")
    }
    assert files == {"entry.py", "mylib", "mylib/__init__.py", "mylib/core.py"}


def test_an_entrypoint_inside_a_package_packs_the_whole_package(tmp_path: Path) -> None:
    _write(tmp_path, {"proj/__init__.py": "", "proj/train.py": "from proj import util\n"})
    (tmp_path / "proj" / "util.py").write_text("")
    assert find_local_code("proj.train", tmp_path).relative() == ("proj/",)
    assert find_local_code("not_here", tmp_path).paths == ()
