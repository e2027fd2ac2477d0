"""Infer a data contract and a task from a table, for ``goldenpath init --from``.

The rules (docs/cli.md, section ``init``, says the same):

- **dtype**: pandas' own dtype as the file reader gave it: integers -> ``int``, floats -> ``float``
  (never narrowed to ``int``, even when every value is whole), booleans -> ``bool``,
  date-times -> ``datetime``; text is ``datetime`` only when every value is ISO-8601 text
  (``2024-03-01``, ``2024-03-01T12:00:00``) that parses; any other text is ``str``.
- **nullable** where at least one value is missing.
- **ranges** of numeric columns: the observed ``[lo, hi]`` widened on each side by
  :data:`RANGE_MARGIN` (20 %) of its width (of ``|value|``, or 1, when every value is the same),
  rounded outwards to a round number; ``min`` stays 0 when every value is >= 0 (counts, amounts).
  An id column keeps only its ``min``. A side with an infinite value gets no bound. Integer
  columns whose values are only 0 and 1 get ``allowed: [0, 1]`` instead.
- **allowed** values for text with at most :data:`MAX_ALLOWED` (20) distinct values, each seen
  on average at least :data:`MIN_ROWS_PER_VALUE` (2) times (else it is free text or an id).
- **PII** is flagged, never silently trusted: a name that suggests personal data (email, phone,
  name, address, ssn, ip, birth, ...) gets a review comment; values that look like e-mail
  addresses, phone numbers, IP addresses or social security numbers (80 % of a sample) also set
  ``pii: true`` (hashed in prediction logs), with a comment to review it.
- **id column**: ``--id``, or a column named like an id (``id``, ``*_id``, ``uuid``, ``rownames``)
  that is unique, never missing, and the only such column.
- **task** (``auto``): two distinct target values -> binary classification; text or boolean with
  3 to :data:`MAX_CLASSES` values, or integers with 3 to :data:`MAX_INT_CLASSES` values ->
  multiclass; other numbers -> regression. The positive label of a binary target is a value
  that names the event (``1``, ``true``, ``yes``, ``bad``, ``churn``, ``fraud``, ...) or else the
  rarer class.

Whatever the rules produce, the contract is finally checked against the frame it came from with
the real validator, and a rule the frame breaks is dropped: the inferred contract always accepts
its own data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from goldenpath.data.contract import to_datetimes, validate_frame
from goldenpath.errors import CannotInfer, ContractViolation
from goldenpath.spec.models import ColumnSpec, ContractSpec, Dtype, Scalar, TaskType

__all__ = [
    "MAX_ALLOWED",
    "MAX_CLASSES",
    "MAX_INT_CLASSES",
    "MIN_ROWS_PER_VALUE",
    "RANGE_MARGIN",
    "InferredColumn",
    "InferredProject",
    "TaskChoice",
    "infer_column",
    "infer_project",
]

TaskChoice = Literal["auto", "binary", "multiclass", "regression"]

RANGE_MARGIN = 0.2
MAX_ALLOWED = 20
MIN_ROWS_PER_VALUE = 2
MAX_CLASSES = 50
MAX_INT_CLASSES = 10
_PII_SHARE = 0.8
_PII_SAMPLE = 1000

_TASKS: dict[str, TaskType] = {
    "binary": "binary_classification",
    "multiclass": "multiclass_classification",
    "regression": "regression",
}
_PII_NAMES = {
    "email": "e-mail",
    "mail": "e-mail",
    "phone": "phone number",
    "mobile": "phone number",
    "tel": "phone number",
    "fax": "phone number",
    "name": "a person's name",
    "firstname": "a person's name",
    "lastname": "a person's name",
    "surname": "a person's name",
    "fullname": "a person's name",
    "address": "address",
    "street": "address",
    "zip": "address",
    "zipcode": "address",
    "postcode": "address",
    "postal": "address",
    "ssn": "social security number",
    "ip": "IP address",
    "birth": "birth date",
    "birthday": "birth date",
    "dob": "birth date",
    "passport": "document number",
    "iban": "bank account",
    "card": "card number",
    "license": "document number",
}
_PII_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("e-mail addresses", re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")),
    ("social security numbers", re.compile(r"^\d{3}-\d{2}-\d{4}$")),
    ("IP addresses", re.compile(r"^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]{2,39}:[0-9a-fA-F]{1,4}$")),
    ("phone numbers", re.compile(r"^\+?\(?\d[\d ().-]{6,18}\d$")),
)
_SENSITIVE_NAMES = {"sex", "gender", "race", "ethnicity", "religion", "nationality", "age"}
_ID_NAMES = {"id", "uuid", "guid", "rownames"}
_POSITIVE_WORDS = (
    "1",
    "true",
    "yes",
    "y",
    "t",
    "positive",
    "pos",
    "bad",
    "default",
    "churn",
    "fraud",
    "spam",
    "event",
    "failure",
    "fail",
    "died",
    "dead",
)
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class InferredColumn:
    """One column's inferred contract, what was observed, and what a person should review."""

    name: str
    spec: ColumnSpec
    observed: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InferredProject:
    """Everything ``init --from`` infers from a table."""

    columns: tuple[InferredColumn, ...]
    target: str
    task: TaskType
    positive_label: Scalar | None
    id_column: str | None
    time_column: str | None
    n_rows: int
    task_reason: str
    class_shares: dict[str, float]
    target_stats: dict[str, float]
    sensitive_candidates: tuple[str, ...]
    time_cutoff: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def contract(self) -> ContractSpec:
        return ContractSpec(columns={c.name: c.spec for c in self.columns})


def infer_project(
    frame: pd.DataFrame,
    *,
    target: str,
    task: TaskChoice = "auto",
    time_column: str | None = None,
    id_column: str | None = None,
    source: str = "the data",
) -> InferredProject:
    """Infer the contract, the task, the id and time columns of ``frame``; raise
    :class:`CannotInfer` when the target or a named column cannot be what it is asked to be."""
    frame = frame.reset_index(drop=True)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise CannotInfer(
            f"{source} has no rows or no columns", hint="point --from at a table with data"
        )
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        dupes = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
        raise CannotInfer(
            f"{source} has duplicate column names: {', '.join(dupes)}",
            hint="give every column its own name",
        )
    for option, name in (("--target", target), ("--time", time_column), ("--id", id_column)):
        if name is not None and name not in frame.columns:
            raise CannotInfer(
                f"{option} {name!r} is not a column of {source}",
                hint=f"columns: {', '.join(frame.columns)}",
                details={"column": name, "columns": list(frame.columns)},
            )
    if len({target, time_column, id_column} - {None}) != len(
        [c for c in (target, time_column, id_column) if c is not None]
    ):
        raise CannotInfer(
            "--target, --time and --id must name different columns",
            hint="the target is what the model predicts; id and time columns are not features",
        )
    columns = {name: infer_column(frame[name], name) for name in frame.columns}
    label = frame[target]
    chosen_task, reason = _infer_task(label, columns[target].spec.dtype, task, target)
    positive = (
        _positive_label(label, columns[target].spec) if chosen_task == _TASKS["binary"] else None
    )
    columns[target] = _target_column(columns[target], label, chosen_task)
    if time_column is not None:
        columns[time_column] = _time_column(frame[time_column], columns[time_column], source)
    notes: list[str] = []
    id_column = _id_column(
        frame, columns, chosen=id_column, taken={target, time_column}, source=source, notes=notes
    )
    if id_column is not None:
        columns[id_column] = _as_id(columns[id_column])
    inferred = _accepted(frame, list(columns.values()), source)
    classes = (
        label.astype("str").value_counts(normalize=True).to_dict()
        if chosen_task != "regression"
        else {}
    )
    stats: dict[str, float] = {}
    if chosen_task == "regression":
        numbers = pd.to_numeric(label, errors="coerce").astype("float64")
        stats = {"mae_of_median": float((numbers - numbers.median()).abs().mean())}
    sensitive = tuple(
        c
        for c in frame.columns
        if c not in {target, time_column, id_column} and set(_tokens(c)) & _SENSITIVE_NAMES
    )
    return InferredProject(
        columns=tuple(inferred),
        target=target,
        task=chosen_task,
        positive_label=positive,
        id_column=id_column,
        time_column=time_column,
        n_rows=len(frame),
        task_reason=reason,
        class_shares={str(k): float(v) for k, v in classes.items()},
        target_stats=stats,
        sensitive_candidates=sensitive,
        time_cutoff=_cutoff(frame[time_column]) if time_column is not None else None,
        notes=tuple(notes),
    )


def infer_column(values: pd.Series, name: str) -> InferredColumn:
    """The contract of one column, by the rules of this module's docstring."""
    present = values.dropna()
    nullable = bool(len(present) < len(values))
    notes: list[str] = []
    dtype = _dtype(values, present)
    spec: dict[str, Any] = {"dtype": dtype, "nullable": nullable}
    observed = f"{len(values) - len(present)} missing" if nullable else "no missing values"
    if len(present) == 0:
        notes.append("every value is missing: it carries no signal (drop it from the data?)")
        return InferredColumn(name, ColumnSpec(**spec), observed, tuple(notes))
    distinct = _distinct(present, dtype)
    if distinct == 1:
        notes.append(
            f"constant (always {_shown(present.iloc[0])}): it carries no signal (drop it?)"
        )
    if dtype in ("int", "float"):
        numbers = pd.to_numeric(present, errors="coerce").astype("float64")
        lo, hi = float(numbers.min()), float(numbers.max())
        observed = f"seen {_number(lo)} .. {_number(hi)}; {observed}"
        if dtype == "int" and set(np.unique(numbers)) <= {0.0, 1.0}:
            spec["allowed"] = sorted(int(v) for v in np.unique(numbers))
        else:
            spec.update(_bounds(lo, hi, integer=dtype == "int"))
    elif dtype == "str":
        text = present.astype("str")
        observed = f"{distinct} distinct values; {observed}"
        if distinct <= MAX_ALLOWED and len(text) >= MIN_ROWS_PER_VALUE * distinct:
            spec["allowed"] = sorted(text.unique().tolist())
    elif dtype == "datetime":
        times = to_datetimes(present)
        observed = f"seen {times.min().isoformat()} .. {times.max().isoformat()}; {observed}"
    pii_note, pii_sure = _pii(name, present if dtype == "str" else None)
    if pii_note:
        notes.append(pii_note)
        spec["pii"] = pii_sure
    return InferredColumn(name, ColumnSpec(**spec), observed, tuple(notes))


# ----------------------------------------------------------------------------- columns


def _dtype(values: pd.Series, present: pd.Series) -> Dtype:
    kind = values.dtype
    if pd.api.types.is_bool_dtype(kind):
        return "bool"
    if pd.api.types.is_integer_dtype(kind):
        if len(present) and int(present.max()) > np.iinfo(np.int64).max:
            return "float"  # beyond int64: the contract reads int columns as int64
        return "int"
    if pd.api.types.is_float_dtype(kind):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(kind):
        return "datetime"
    if len(present) == 0:
        return "str"
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return "bool"
    if all(isinstance(v, str) for v in present) and present.str.match(_ISO_DATE).all():
        try:
            parsed = to_datetimes(present)
        except (TypeError, ValueError, OverflowError):
            return "str"
        if parsed.notna().all():
            return "datetime"
    return "str"


def _distinct(present: pd.Series, dtype: Dtype) -> int:
    if dtype == "str":
        return int(present.astype("str").nunique())
    return int(present.nunique())


def _bounds(lo: float, hi: float, *, integer: bool) -> dict[str, float | int]:
    """The observed range widened by RANGE_MARGIN of its width, rounded outwards."""
    width = hi - lo if math.isfinite(hi - lo) else max(abs(lo), abs(hi))
    if not math.isfinite(width):  # one side is infinite: widen the other by its own size
        width = abs(lo) if math.isfinite(lo) else abs(hi) if math.isfinite(hi) else 0.0
    margin = RANGE_MARGIN * (width if width > 0 else max(abs(lo), abs(hi), 1.0))
    if not math.isfinite(margin):
        margin = 0.0
    bounds: dict[str, float | int] = {}
    if math.isfinite(lo):
        low = _round_out(lo - margin, margin, down=True)
        if lo >= 0:
            low = max(low, 0.0)
        low = min(low, lo) if math.isfinite(low) else lo
        bounds["min"] = _tidy(math.floor(low) if integer else low)
    if math.isfinite(hi):
        high = _round_out(hi + margin, margin, down=False)
        high = max(high, hi) if math.isfinite(high) else hi
        bounds["max"] = _tidy(math.ceil(high) if integer else high)
    return bounds


def _round_out(value: float, margin: float, *, down: bool) -> float:
    if not math.isfinite(value) or margin <= 0:
        return value
    exponent = math.floor(math.log10(margin))
    step = 10.0**exponent
    scaled = value / step
    if not math.isfinite(scaled):
        return value
    rounded = (math.floor(scaled) if down else math.ceil(scaled)) * step
    if exponent < 0:
        rounded = round(rounded, -exponent)
    return float(rounded)


def _tidy(value: float) -> float | int:
    """Whole bounds as integers (``min: 0``, not ``min: 0.0``)."""
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _pii(name: str, text: pd.Series | None) -> tuple[str, bool]:
    """A review comment when the name or the values suggest personal data, and whether the
    values themselves look personal (then ``pii: true`` is set, still with the comment)."""
    if text is not None:
        sample = text.astype("str").str.strip().head(_PII_SAMPLE)
        for kind, pattern in _PII_VALUES:
            if len(sample) and float(sample.str.match(pattern).mean()) >= _PII_SHARE:
                return (
                    f"PII? values look like {kind}: pii: true hashes them in prediction logs; "
                    "review it",
                    True,
                )
    hits = sorted({_PII_NAMES[t] for t in _tokens(name) if t in _PII_NAMES})
    if hits:
        return (
            f"PII? the name suggests {' or '.join(hits)}: review, and set pii: true to hash it "
            "in prediction logs",
            False,
        )
    return "", False


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]
    joined = "".join(tokens)
    return [*tokens, joined] if len(tokens) > 1 else tokens


def _shown(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**63 else f"{value:g}"


# ----------------------------------------------------------------------------- target


def _infer_task(
    label: pd.Series, dtype: Dtype, task: TaskChoice, name: str
) -> tuple[TaskType, str]:
    present = label.dropna()
    if len(present) == 0:
        raise CannotInfer(
            f"the target {name!r} has no values (every row is missing)",
            hint="pick the column the model should predict with --target",
        )
    if len(present) < len(label):
        missing = len(label) - len(present)
        raise CannotInfer(
            f"the target {name!r} is missing in {missing} of {len(label)} rows",
            hint="drop the rows without a target from the file (a model learns only from "
            "labelled rows), then run init again",
            details={"missing": missing},
        )
    distinct = _distinct(present, dtype)
    if distinct < 2:
        raise CannotInfer(
            f"the target {name!r} is constant (always {_shown(present.iloc[0])}): there is "
            "nothing to predict",
            hint="pick another --target, or use data with more than one outcome",
        )
    numeric = dtype in ("int", "float")
    if task != "auto":
        chosen = _TASKS[task]
        if chosen == "binary_classification" and distinct != 2:
            raise CannotInfer(
                f"--task binary, but the target {name!r} has {distinct} distinct values",
                hint="use --task multiclass (or regression), or a two-valued target",
            )
        if chosen == "regression" and not numeric:
            raise CannotInfer(
                f"--task regression, but the target {name!r} is {dtype}, not numeric",
                hint="use --task binary or multiclass, or a numeric target",
            )
        return chosen, f"--task {task}"
    if distinct == 2:
        return "binary_classification", "the target has 2 distinct values"
    if not numeric:
        if distinct > MAX_CLASSES:
            raise CannotInfer(
                f"the target {name!r} is text with {distinct} distinct values: too many classes "
                f"to guess a task (at most {MAX_CLASSES})",
                hint="pass --task multiclass if you mean it, or pick another --target",
            )
        return "multiclass_classification", f"the target is {dtype} with {distinct} values"
    if dtype == "int" and distinct <= MAX_INT_CLASSES:
        return (
            "multiclass_classification",
            f"the target is int with {distinct} distinct values (<= {MAX_INT_CLASSES}); "
            "pass --task regression for a count or a score",
        )
    return "regression", f"the target is numeric with {distinct} distinct values"


def _positive_label(label: pd.Series, spec: ColumnSpec) -> Scalar:
    if spec.dtype == "bool":
        return True
    counts = label.value_counts()
    values = list(counts.index)
    if spec.dtype == "str":
        values = [str(v) for v in values]
    for word in _POSITIVE_WORDS:
        for value in values:
            if str(value).strip().lower() == word:
                return _plain(value)
    smallest = counts.min()
    rare = sorted(str(v) for v, n in counts.items() if n == smallest)[-1]
    return _plain(next(v for v in values if str(v) == rare))


def _plain(value: object) -> Scalar:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _target_column(column: InferredColumn, label: pd.Series, task: TaskType) -> InferredColumn:
    spec = column.spec
    if task == "regression" or spec.dtype == "bool":
        return replace(column, notes=())
    values = label.dropna().unique().tolist()
    allowed: list[Scalar] = sorted(
        {str(v) if spec.dtype == "str" else _plain(v) for v in values}, key=str
    )
    changed = spec.model_copy(update={"allowed": allowed, "min": None, "max": None})
    return replace(column, spec=ColumnSpec.model_validate(changed.model_dump()), notes=())


def _time_column(values: pd.Series, column: InferredColumn, source: str) -> InferredColumn:
    if column.spec.dtype == "datetime":
        return column
    present = values.dropna()
    try:
        parsed = to_datetimes(present)
    except (TypeError, ValueError, OverflowError):
        parsed = pd.Series(pd.NaT, index=present.index)
    bad = present[parsed.isna().to_numpy()]
    if len(present) == 0 or len(bad):
        examples = ", ".join(_shown(v) for v in bad.head(3)) or "every value is missing"
        raise CannotInfer(
            f"--time {values.name!r}: {len(bad)} value(s) of {source} are not date-times "
            f"({examples})",
            hint="use ISO-8601 text (2024-03-01 or 2024-03-01T12:00:00) or a Parquet timestamp",
        )
    spec = ColumnSpec(dtype="datetime", nullable=column.spec.nullable)
    observed = f"seen {parsed.min().isoformat()} .. {parsed.max().isoformat()}"
    return InferredColumn(column.name, spec, observed, ())


def _cutoff(values: pd.Series) -> str | None:
    """The time from which the newest quarter of the rows on: a time split's cutoff (None when
    no earlier row would be left to train on)."""
    times = to_datetimes(values).dropna().sort_values().reset_index(drop=True)
    if len(times) < 2:
        return None
    cutoff = times.iloc[int(len(times) * 0.75)]
    return None if cutoff <= times.iloc[0] else cutoff.isoformat()


def _id_column(
    frame: pd.DataFrame,
    columns: dict[str, InferredColumn],
    *,
    chosen: str | None,
    taken: set[str | None],
    source: str,
    notes: list[str],
) -> str | None:
    if chosen is not None:
        values = frame[chosen]
        duplicated = int(values.duplicated().sum())
        if duplicated or values.isna().any():
            raise CannotInfer(
                f"--id {chosen!r} does not identify rows in {source}: "
                f"{duplicated} duplicate(s), {int(values.isna().sum())} missing",
                hint="an id column holds one distinct value per row; leave --id out if there "
                "is none",
            )
        return chosen
    candidates = [
        name
        for name in frame.columns
        if name not in taken
        and set(_tokens(name)) & _ID_NAMES
        and columns[name].spec.dtype in ("int", "str")
        and not frame[name].isna().any()
        and not frame[name].duplicated().any()
    ]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        notes.append(
            f"possible id columns (unique, named like an id): {', '.join(candidates)}; "
            "set data.id_column if one is"
        )
    return None


def _as_id(column: InferredColumn) -> InferredColumn:
    spec = column.spec
    update: dict[str, Any] = {"max": None, "allowed": None, "pii": spec.pii}
    if spec.dtype == "int" and spec.min is not None:
        update["min"] = spec.min
    note = "row identifier: not a feature; no max, since new rows get new ids"
    return InferredColumn(
        column.name,
        ColumnSpec.model_validate({**spec.model_dump(), **update}),
        column.observed,
        (note, *column.notes),
    )


# ----------------------------------------------------------------------------- safety net


def _accepted(
    frame: pd.DataFrame, columns: Sequence[InferredColumn], source: str
) -> list[InferredColumn]:
    """Drop the rules the frame itself breaks, so that the contract accepts its own data."""
    current = list(columns)
    for _ in range(3):
        contract = ContractSpec(columns={c.name: c.spec for c in current})
        try:
            validate_frame(frame, contract, source=source)
        except ContractViolation as exc:
            failures = exc.details.get("failures")
            if not isinstance(failures, list):
                raise
            broken = {str(f["column"]) for f in failures if isinstance(f, dict)}
            current = [_loosen(c) if c.name in broken else c for c in current]
            continue
        return current
    raise CannotInfer(  # pragma: no cover - _loosen reaches a plain nullable str in 2 steps
        f"cannot infer a contract that {source} honours", hint="please report this as a bug"
    )


def _loosen(column: InferredColumn) -> InferredColumn:
    spec = column.spec
    if spec.min is not None or spec.max is not None or spec.allowed is not None:
        loose = ColumnSpec.model_validate(
            {**spec.model_dump(), "min": None, "max": None, "allowed": None}
        )
        return replace(column, spec=loose)
    loose = ColumnSpec(dtype="str", nullable=True, pii=spec.pii)
    return replace(column, spec=loose, notes=(*column.notes, "read as text: review its dtype"))
