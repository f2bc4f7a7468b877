"""Typed configuration of the point-in-time features (see ``docs/schema.md`` section 3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, field_validator

Family = Literal["rfm", "engagement", "static"]


class FeatureConfig(BaseModel):
    """Which feature families to compute and over which look-back windows (in days).

    ``windows_days`` drives ``orders_{W}d`` / ``revenue_{W}d``; ``event_windows_days`` drives the
    per-event-type counts ``{event}_{W}d``. The trend features use their fixed 90/180-day windows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows_days: tuple[PositiveInt, ...] = (30, 90, 180, 365)
    event_windows_days: tuple[PositiveInt, ...] = (30, 90, 365)
    families: tuple[Family, ...] = ("rfm", "engagement", "static")

    @field_validator("windows_days", "event_windows_days", "families")
    @classmethod
    def _unique(cls, value: tuple) -> tuple:
        if len(set(value)) != len(value):
            raise ValueError(f"must not repeat a value, got {value!r}")
        return value


#: The default configuration (the model is frozen, so one shared instance is safe).
DEFAULT_CONFIG = FeatureConfig()
