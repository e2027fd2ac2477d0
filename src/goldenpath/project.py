"""A project: a folder with ``goldenpath.yaml``, its parsed spec and where its state lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from goldenpath.spec import Spec, find_spec_file, load_spec

__all__ = ["STATE_DIRNAME", "Project", "open_project"]

STATE_DIRNAME = ".goldenpath"


@dataclass(frozen=True)
class Project:
    """A loaded project. Nothing here touches the disk beyond reading the spec."""

    root: Path
    spec_path: Path
    spec: Spec

    @property
    def name(self) -> str:
        return self.spec.project.name

    @property
    def state_dir(self) -> Path:
        """Where goldenpath keeps the embedded stores (MLflow database, artefacts, logs)."""
        return self.root / STATE_DIRNAME

    @property
    def default_tracking_uri(self) -> str:
        return f"sqlite:///{self.state_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.state_dir / "artifacts"


def open_project(where: str | Path | None = None) -> Project:
    """Find and load the project at ``where`` (a folder or spec file), or above the cwd."""
    spec_path = find_spec_file(None if where is None else Path(where))
    spec = load_spec(spec_path)
    return Project(root=spec_path.parent, spec_path=spec_path, spec=spec)
