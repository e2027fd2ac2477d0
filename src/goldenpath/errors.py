"""The one exception tree of goldenpath.

Every error goldenpath raises on purpose is a :class:`GoldenpathError`. Each class carries a
stable ``code`` (for scripts and logs), a CLI ``exit_code`` and an HTTP ``status`` so that the
shells (CLI, service) translate errors in exactly one place. Third-party exceptions are
translated into this tree at the boundary where they occur::

    GoldenpathError                      exit  code
    ├── SpecError
    │   ├── SpecNotFound                   10  spec_not_found
    │   ├── SpecSyntaxError                11  spec_syntax
    │   ├── SpecInvalid                    12  spec_invalid
    │   └── SpecUnknownKey                 13  spec_unknown_key
    ├── DataError
    │   ├── DataSourceNotFound             20  data_not_found
    │   ├── DataReadError                  21  data_unreadable
    │   ├── ContractViolation              22  contract_violation
    │   └── SplitError                     23  split_invalid
    ├── EntrypointError
    │   ├── EntrypointNotFound             30  entrypoint_not_found
    │   ├── EntrypointFailed               31  entrypoint_failed
    │   ├── NotAModel                      32  not_a_model
    │   └── ModelNotLoadable               33  model_not_loadable
    ├── RunError
    │   ├── RunNotFound                    40  run_not_found
    │   ├── FingerprintMismatch            41  fingerprint_mismatch
    │   └── NotReproducible                42  not_reproducible
    ├── TrackingError                      50  tracking_failed
    ├── ScaffoldError
    │   ├── UnknownExample                 60  unknown_example
    │   ├── DestinationExists              61  destination_exists
    │   └── CannotInfer                    62  cannot_infer
    ├── GovernanceError
    │   ├── StoreError                     70  store_failed
    │   │   └── DuplicateRecord            79  duplicate_record
    │   ├── PermissionDenied               71  permission_denied
    │   ├── GatesFailed                    72  gates_failed
    │   ├── PromotionRefused               73  promotion_refused
    │   ├── PromotionConflict              74  promotion_conflict
    │   ├── ApprovalRefused                75  approval_refused
    │   ├── RecordNotFound                 76  record_not_found
    │   ├── AuditChainBroken               77  audit_chain_broken
    │   ├── RegistryDrift                  78  registry_drift
    │   ├── GatesUncommitted               67  gates_uncommitted
    │   ├── GatesNotApproved               68  gates_not_approved
    │   └── AuthenticationFailed           69  authentication_failed
    ├── ServingError
    │   ├── ServerUnreachable              80  server_unreachable
    │   └── ModelContractMismatch          81  model_contract_mismatch
    └── ExperimentError
        ├── InsufficientData               91  insufficient_data
        └── ExperimentRefused              92  experiment_refused

Exit code 1 is an unexpected failure (a bug: please report it); 2 is a command-line usage error.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ApprovalRefused",
    "AuditChainBroken",
    "AuthenticationFailed",
    "CannotInfer",
    "ContractViolation",
    "DataError",
    "DataReadError",
    "DataSourceNotFound",
    "DestinationExists",
    "DuplicateRecord",
    "EntrypointError",
    "EntrypointFailed",
    "EntrypointNotFound",
    "ExperimentError",
    "ExperimentRefused",
    "FingerprintMismatch",
    "GatesFailed",
    "GatesNotApproved",
    "GatesUncommitted",
    "GoldenpathError",
    "GovernanceError",
    "InsufficientData",
    "ModelContractMismatch",
    "ModelNotLoadable",
    "NotAModel",
    "NotReproducible",
    "PermissionDenied",
    "PromotionConflict",
    "PromotionRefused",
    "RecordNotFound",
    "RegistryDrift",
    "RunError",
    "RunNotFound",
    "ScaffoldError",
    "ServerUnreachable",
    "ServingError",
    "SpecError",
    "SpecInvalid",
    "SpecNotFound",
    "SpecSyntaxError",
    "SpecUnknownKey",
    "SplitError",
    "StoreError",
    "TrackingError",
    "UnknownExample",
    "all_error_classes",
]


class GoldenpathError(Exception):
    """Base of every deliberate goldenpath error.

    ``message`` says what went wrong and where; ``hint`` says how to fix it.
    ``details`` is structured evidence (rows, keys, values) for ``--json`` output.
    """

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict[str, object] = details or {}

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHow to fix: {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description of the error."""
        return {
            "code": self.code,
            "exit_code": self.exit_code,
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
        }


class SpecError(GoldenpathError):
    """The project spec (``goldenpath.yaml``) cannot be used."""

    code = "spec_error"
    exit_code = 12
    status = 400


class SpecNotFound(SpecError):
    code = "spec_not_found"
    exit_code = 10
    status = 404


class SpecSyntaxError(SpecError):
    code = "spec_syntax"
    exit_code = 11


class SpecInvalid(SpecError):
    code = "spec_invalid"
    exit_code = 12
    status = 422


class SpecUnknownKey(SpecInvalid):
    code = "spec_unknown_key"
    exit_code = 13


class DataError(GoldenpathError):
    """The project's data cannot be read or does not honour its contract."""

    code = "data_error"
    exit_code = 21
    status = 422


class DataSourceNotFound(DataError):
    code = "data_not_found"
    exit_code = 20
    status = 404


class DataReadError(DataError):
    code = "data_unreadable"
    exit_code = 21


class ContractViolation(DataError):
    code = "contract_violation"
    exit_code = 22


class SplitError(DataError):
    code = "split_invalid"
    exit_code = 23


class EntrypointError(GoldenpathError):
    """The training entrypoint cannot be imported, fails, or returns no model."""

    code = "entrypoint_error"
    exit_code = 30
    status = 422


class EntrypointNotFound(EntrypointError):
    code = "entrypoint_not_found"
    exit_code = 30


class EntrypointFailed(EntrypointError):
    code = "entrypoint_failed"
    exit_code = 31


class NotAModel(EntrypointError):
    code = "not_a_model"
    exit_code = 32


class ModelNotLoadable(EntrypointError):
    """The fitted model does not round-trip: saved with the model format and the code packed with
    it, it cannot be loaded and scored outside the project (a lambda skops cannot load, a module
    that was not packed). Nothing is registered."""

    code = "model_not_loadable"
    exit_code = 33


class RunError(GoldenpathError):
    """A recorded run cannot be found or replayed."""

    code = "run_error"
    exit_code = 40
    status = 409


class RunNotFound(RunError):
    code = "run_not_found"
    exit_code = 40
    status = 404


class FingerprintMismatch(RunError):
    code = "fingerprint_mismatch"
    exit_code = 41


class NotReproducible(RunError):
    code = "not_reproducible"
    exit_code = 42


class TrackingError(GoldenpathError):
    """The tracking store (MLflow) refused or failed an operation."""

    code = "tracking_failed"
    exit_code = 50
    status = 503


class ScaffoldError(GoldenpathError):
    """A project cannot be scaffolded."""

    code = "scaffold_error"
    exit_code = 60
    status = 400


class UnknownExample(ScaffoldError):
    code = "unknown_example"
    exit_code = 60
    status = 404


class DestinationExists(ScaffoldError):
    code = "destination_exists"
    exit_code = 61
    status = 409


class CannotInfer(ScaffoldError):
    """``init --from``: no project can be inferred from the data and options given (the target
    is missing, all null or constant; a --time or --id column that is not one)."""

    code = "cannot_infer"
    exit_code = 62
    status = 422


class GovernanceError(GoldenpathError):
    """Gates, promotions, approvals, users or the audit trail refused an operation."""

    code = "governance_error"
    exit_code = 70
    status = 409


class StoreError(GovernanceError):
    """goldenpath's own store (SQLite or PostgreSQL) cannot be opened, migrated or written."""

    code = "store_failed"
    exit_code = 70
    status = 503


class DuplicateRecord(StoreError):
    """A write collided with a row that already exists (a unique key of the store): the store
    says which table in ``table``; callers turn that into what it means for them (a user who
    already exists, a second approval, a concurrent promotion)."""

    code = "duplicate_record"
    exit_code = 79
    status = 409

    def __init__(self, message: str, *, table: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, details={"table": table})
        self.table = table


class PermissionDenied(GovernanceError):
    code = "permission_denied"
    exit_code = 71
    status = 403


class AuthenticationFailed(GovernanceError):
    """Who is acting could not be proven: a token that is malformed, unknown, revoked or
    expired, none where the store needs one, or an identity the store's auth mode does not
    accept."""

    code = "authentication_failed"
    exit_code = 69
    status = 401


class GatesFailed(GovernanceError):
    """A decision was recorded and its verdict is fail (a blocking rule failed)."""

    code = "gates_failed"
    exit_code = 72
    status = 422


class PromotionRefused(GovernanceError):
    code = "promotion_refused"
    exit_code = 73


class PromotionConflict(GovernanceError):
    """Another promotion of the same model is in progress, or the champion moved meanwhile."""

    code = "promotion_conflict"
    exit_code = 74


class ApprovalRefused(GovernanceError):
    code = "approval_refused"
    exit_code = 75


class RecordNotFound(GovernanceError):
    """A decision, evaluation, user or model version named on the command line does not exist."""

    code = "record_not_found"
    exit_code = 76
    status = 404


class AuditChainBroken(GovernanceError):
    code = "audit_chain_broken"
    exit_code = 77
    status = 500


class RegistryDrift(GovernanceError):
    """MLflow disagrees with the store: an alias points somewhere the store's promotion history
    does not, or (``gate``) an evaluation or a model artefact is not what the store recorded
    when the model was evaluated."""

    code = "registry_drift"
    exit_code = 78


class GatesUncommitted(GovernanceError):
    """Change control of the gates (risk tier ``high``): the gates in ``goldenpath.yaml``
    differ from the spec as committed in git, or the project is not in git, so there is no
    committed spec to read them from."""

    code = "gates_uncommitted"
    exit_code = 67
    status = 409


class GatesNotApproved(GovernanceError):
    """Change control of the gates (risk tier ``high``): the gates in force have no approved
    gate change (``goldenpath gates propose``, then an approver's ``goldenpath gates approve``)."""

    code = "gates_not_approved"
    exit_code = 68
    status = 409


class ServingError(GoldenpathError):
    """A running goldenpath server could not be used."""

    code = "serving_error"
    exit_code = 80
    status = 502


class ServerUnreachable(ServingError):
    code = "server_unreachable"
    exit_code = 80


class ModelContractMismatch(ServingError):
    """The contract would frame requests with other columns or types than the model version was
    trained on (its MLflow signature): serving it could answer differently from its evaluation."""

    code = "model_contract_mismatch"
    exit_code = 81


class ExperimentError(GoldenpathError):
    """An online experiment cannot be planned, run or analysed as asked."""

    code = "experiment_error"
    exit_code = 90
    status = 422


class InsufficientData(ExperimentError):
    """An arm has too few units, or no variance, for the statistic asked (an A/B comparison
    needs at least two units and a non-zero variance in each arm)."""

    code = "insufficient_data"
    exit_code = 91


class ExperimentRefused(ExperimentError):
    """An experiment cannot start or be decided now: another one runs, its treatment has no
    passing gate decision, its control is not the champion, or it was already decided."""

    code = "experiment_refused"
    exit_code = 92
    status = 409


def all_error_classes() -> list[type[GoldenpathError]]:
    """Every error class in the tree, base first, in definition order."""
    found: list[type[GoldenpathError]] = [GoldenpathError]
    stack: list[type[GoldenpathError]] = [GoldenpathError]
    while stack:
        cls = stack.pop(0)
        for sub in cls.__subclasses__():
            if sub not in found:
                found.append(sub)
                stack.append(sub)
    return found
