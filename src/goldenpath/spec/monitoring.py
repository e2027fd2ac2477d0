"""The ``monitoring`` section of the spec: when a feature's drift or data quality is a warning
or critical. The defaults are the thresholds practice settled on (docs/monitoring.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MonitoringSpec"]


class MonitoringSpec(BaseModel):
    """How ``goldenpath monitor`` judges a window (every key has a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_warning: float = Field(0.1, gt=0, description="PSI from which a feature is a warning.")
    psi_critical: float = Field(0.25, gt=0, description="PSI from which it is critical.")
    js_critical: float = Field(
        0.1, gt=0, le=1, description="Jensen-Shannon distance from which it is critical."
    )
    max_missing_increase: float = Field(
        0.05, ge=0, le=1, description="Largest rise of the missing share before it is critical."
    )
    max_unseen_share: float = Field(
        0.01, ge=0, le=1, description="Largest share of rows with unseen categories."
    )

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringSpec:
        if self.psi_warning > self.psi_critical:
            raise ValueError(
                f"psi_warning ({self.psi_warning}) is above psi_critical ({self.psi_critical})"
            )
        return self
