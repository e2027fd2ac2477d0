"""``goldenpath init``: scaffold a project from a bundled example, or from a data file
(``init --from``: the contract, task and gates inferred by :mod:`goldenpath.data.inference`)."""

from __future__ import annotations

import getpass
import math
import os
import re
import shutil
import string
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from goldenpath.data.contract import validate_frame
from goldenpath.data.inference import InferredColumn, InferredProject, TaskChoice, infer_project
from goldenpath.data.sources import read_source
from goldenpath.errors import CannotInfer, ContractViolation, DestinationExists, UnknownExample
from goldenpath.spec.loader import SPEC_FILENAME, parse_spec
from goldenpath.spec.models import Scalar, TaskType

__all__ = ["InitFromData", "available_examples", "init_from_data", "init_project", "spec_text"]

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".goldenpath")


def _examples_root() -> Path:
    return Path(str(resources.files("goldenpath") / "examples"))


def available_examples() -> list[str]:
    """Names of the bundled examples."""
    root = _examples_root()
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILENAME).is_file())


def init_project(destination: Path, example: str) -> Path:
    """Copy ``example`` into ``destination`` (which must not exist or be an empty folder)."""
    names = available_examples()
    if example not in names:
        raise UnknownExample(
            f"there is no bundled example {example!r}",
            hint=f"pick one of: {', '.join(names)}",
            details={"examples": names},
        )
    target = destination.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DestinationExists(
            f"{target} already exists and is not an empty folder",
            hint="choose a new folder name, or remove the existing one first",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_examples_root() / example, target, ignore=_IGNORED, dirs_exist_ok=True)
    (target / ".gitignore").write_text(_GITIGNORE)
    return target


# ------------------------------------------------------------------ init --from


@dataclass(frozen=True)
class InitFromData:
    """What ``init --from`` wrote, and what a person should review in it."""

    project: Path
    source: str
    task: TaskType
    target: str
    positive_label: Scalar | None
    id_column: str | None
    time_column: str | None
    rows: int
    columns: int
    review: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "project": str(self.project),
            "source": self.source,
            "task": self.task,
            "target": self.target,
            "positive_label": self.positive_label,
            "id_column": self.id_column,
            "time_column": self.time_column,
            "rows": self.rows,
            "columns": self.columns,
            "review": list(self.review),
        }


def init_from_data(
    destination: Path,
    data: Path,
    *,
    target: str,
    task: TaskChoice = "auto",
    time_column: str | None = None,
    id_column: str | None = None,
) -> InitFromData:
    """Create a project in ``destination`` from a CSV or Parquet file: a ``goldenpath.yaml`` with
    the contract, task and gates inferred from the data (:mod:`goldenpath.data.inference`), a
    training module ``model.py`` and a ``.gitignore``. Everything is inferred and checked first
    (the spec parses, its contract accepts the file) and written to a temporary folder renamed
    into place, so an error leaves nothing behind."""
    target_dir = _free_destination(destination)
    path = data.expanduser().resolve()
    frame = read_source(str(path), Path.cwd())
    inferred = infer_project(
        frame,
        target=target,
        task=task,
        time_column=time_column,
        id_column=id_column,
        source=str(path),
    )
    name = project_name(target_dir.name)
    try:
        source = os.path.relpath(path, target_dir)
    except ValueError:  # another drive (Windows): no relative path exists
        source = str(path)
    text = spec_text(inferred, name=name, source=source, data_name=path.name)
    spec = parse_spec(text, source=f"{target_dir / SPEC_FILENAME} (generated)")
    try:
        validate_frame(frame, spec.data.contract, source=str(path))
    except ContractViolation as exc:  # pragma: no cover - infer_project already checked it
        raise CannotInfer(
            f"the inferred contract does not accept {path}: {exc.message}",
            hint="please report this as a bug; meanwhile start from --example and edit it",
        ) from None
    module = _model_text(inferred, name)
    _write_atomically(
        target_dir,
        {
            SPEC_FILENAME: text,
            "model.py": module,
            ".gitignore": _GITIGNORE,
        },
    )
    review = [f"{c.name}: {note}" for c in inferred.columns for note in c.notes]
    review += list(inferred.notes)
    return InitFromData(
        project=target_dir,
        source=source,
        task=inferred.task,
        target=inferred.target,
        positive_label=inferred.positive_label,
        id_column=inferred.id_column,
        time_column=inferred.time_column,
        rows=inferred.n_rows,
        columns=len(inferred.columns),
        review=tuple(review),
    )


def project_name(folder: str) -> str:
    """A valid ``project.name`` from a folder name: letters, digits, ``_ . -``, 100 at most."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder).lstrip("_.-")[:100].rstrip("-")
    return name or "my-project"


def _free_destination(destination: Path) -> Path:
    target = destination.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DestinationExists(
            f"{target} already exists and is not an empty folder",
            hint="choose a new folder name, or remove the existing one first",
        )
    return target


def _write_atomically(target: Path, files: dict[str, str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
    staging.mkdir()  # with the user's umask, like any folder they make
    try:
        for relative, text in files.items():
            (staging / relative).write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()  # an empty folder (checked): replaced by the complete project
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _flow(value: object) -> str:
    """``value`` as one line of YAML (quoted where YAML would misread it: "Yes", "1", ...)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _column_line(column: InferredColumn) -> list[str]:
    spec = column.spec
    fields: dict[str, object] = {"dtype": spec.dtype}
    if spec.nullable:
        fields["nullable"] = True
    for key in ("min", "max"):
        bound = getattr(spec, key)
        if bound is not None:
            fields[key] = int(bound) if bound.is_integer() and abs(bound) < 2**63 else bound
    if spec.allowed is not None:
        fields["allowed"] = list(spec.allowed)
    if spec.pii:
        fields["pii"] = True
    lines = [f"      # {note}" for note in column.notes]
    lines.append(f"      {_flow(column.name)}: {_flow(fields)}   # {column.observed}")
    return lines


def spec_text(inferred: InferredProject, *, name: str, source: str, data_name: str) -> str:
    """The commented ``goldenpath.yaml`` of an inferred project."""
    task = inferred.task
    lines = [
        f"# goldenpath spec inferred by `goldenpath init --from` from {inferred.n_rows:,} rows of",
        f"# {data_name}. Review it (above all the comments that say PII? or review), then run",
        "# `goldenpath validate && goldenpath train`. Reference: docs/spec.md;",
        "# JSON Schema: `goldenpath schema`.",
        "project:",
        f"  name: {_flow(name)}",
        f"  owners: [{_flow(_owner())}]   # the people or teams accountable for the model",
        "  risk_tier: low                 # low: gate, then promote; medium and high ask for more",
        "  description: >-",
        f"    Predicts {inferred.target} from {data_name} ({task.replace('_', ' ')}).",
        "",
        "task:",
        f"  type: {task}   # {inferred.task_reason}",
        f"  target: {_flow(inferred.target)}",
    ]
    if inferred.positive_label is not None:
        share = inferred.class_shares.get(str(inferred.positive_label))
        why = f"{share:.1%} of rows; " if share is not None else ""
        lines.append(
            f"  positive_label: {_flow(inferred.positive_label)}   # {why}the class whose "
            "probability the model scores: change it if the event is the other one"
        )
    lines += ["", "data:", f"  source: {_flow(source)}   # relative to this folder"]
    if inferred.id_column is not None:
        lines.append(f"  id_column: {_flow(inferred.id_column)}")
    if inferred.time_column is not None:
        lines.append(f"  time_column: {_flow(inferred.time_column)}")
    if inferred.sensitive_candidates and task == "binary_classification":
        shown = _flow(list(inferred.sensitive_candidates))
        lines.append(
            f"  # sensitive_features: {shown}   # named like a protected attribute: list them "
            "to assess fairness across their groups"
        )
    lines += _split_lines(inferred)
    lines += ["  contract:", "    allow_extra_columns: false", "    columns:"]
    for column in inferred.columns:
        lines += _column_line(column)
    lines += [
        "",
        "training:",
        "  entrypoint: model:train       # model.py in this folder: edit it freely",
        "  seed: 0",
        "  params:",
        "    learning_rate: 0.1",
        "    max_iter: 100",
        "    max_leaf_nodes: 31",
        "    max_categories: 20          # one-hot columns per text feature, at most",
        "",
        "# Rules a version must pass before it becomes champion (docs/governance.md): lenient",
        "# defaults measured against what a model that learnt nothing would score. Tighten them.",
        "gates:",
        *_gate_lines(inferred),
        "  operations: {max_p95_latency_ms: 250, severity: warn}",
        "  lineage: {contract_validated: true}",
        "",
    ]
    return "\n".join(lines)


def _split_lines(inferred: InferredProject) -> list[str]:
    lines = ["  split:"]
    classification = inferred.task != "regression"
    if inferred.time_column is not None:
        time = next(c for c in inferred.columns if c.name == inferred.time_column)
        cutoff = None if time.spec.nullable else inferred.time_cutoff
        if cutoff is not None:
            return [
                *lines,
                "    method: time                # the newest quarter of the rows is the test set",
                f"    cutoff: {_flow(cutoff)}",
            ]
        lines.append("    # a time split needs distinct times on every row: split at random")
    lines += ["    method: random", "    test_fraction: 0.25", "    seed: 42"]
    if classification:
        smallest = min(inferred.class_shares.values()) * inferred.n_rows
        stratify = smallest >= 2
        lines.append(f"    stratify: {'true' if stratify else 'false'}")
    return lines


def _gate_lines(inferred: InferredProject) -> list[str]:
    if inferred.task == "binary_classification":
        share = inferred.class_shares.get(str(inferred.positive_label), 0.5)
        brier = math.ceil(share * (1 - share) * 1000) / 1000
        return [
            "  metrics:",
            "    roc_auc: {min: 0.55, on: ci_low}   # ranks better than chance, 95% confident",
            f"    brier_loss: {{max: {brier}, severity: warn}}   # what always predicting the "
            f"base rate ({share:.1%}) scores",
            "  non_regression:",
            "    roc_auc: {max_drop: 0.02}          # no worse than the champion by 0.02",
            "  calibration: {max_ece: 0.1, severity: warn}",
        ]
    if inferred.task == "multiclass_classification":
        majority = max(inferred.class_shares.values())
        floor = math.ceil(majority * 100) / 100
        return [
            "  metrics:",
            f"    accuracy_score: {{min: {floor}, on: ci_low}}   # beats always predicting the "
            f"most frequent class ({majority:.1%}), with 95% confidence",
            "  non_regression:",
            "    accuracy_score: {max_drop: 0.02}",
        ]
    mae = inferred.target_stats.get("mae_of_median", 0.0)
    shown = f"{mae:.4g}"
    return [
        "  metrics:",
        "    r2_score: {min: 0.0, on: ci_low}   # better than predicting the mean, with 95% "
        "confidence",
        f"    mean_absolute_error: {{max: {shown}, severity: warn}}   # what always predicting "
        "the median scores",
        "  non_regression:",
        "    r2_score: {max_drop: 0.02}",
    ]


def _model_text(inferred: InferredProject, name: str) -> str:
    template = (resources.files("goldenpath") / "templates" / "model.py.tmpl").read_text("utf-8")
    estimator = (
        "HistGradientBoostingRegressor"
        if inferred.task == "regression"
        else "HistGradientBoostingClassifier"
    )
    not_features = [c for c in (inferred.id_column, inferred.time_column) if c is not None]
    return string.Template(template).substitute(
        project=name,
        estimator=estimator,
        target=repr(inferred.target),
        not_features=repr(not_features),
    )


def _owner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "owner"


_GITIGNORE = "# goldenpath's embedded stores\n.goldenpath/\n"
