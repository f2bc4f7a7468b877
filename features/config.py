"""Typed configuration of the features (``docs/schema.md`` section 3): the one feature config of
the project, also the ``features:`` section of an experiment YAML (``training.config``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, field_validator

#: ``rfm``, ``engagement`` and ``static`` are computed from the contract tables
#: (``features.definitions``); ``calendar`` (the cutoff's month) and ``btyd`` (BG/NBD + Gamma-Gamma
#: outputs) are added to them by training (``training.dataset``).
Family = Literal["rfm", "engagement", "static", "calendar", "btyd"]
#: The families of the feature table, in its column order.
TABLE_FAMILIES: tuple[Family, ...] = ("static", "rfm", "engagement")


class FeatureConfig(BaseModel):
    """Which feature families to use and over which look-back windows (in days).

    ``windows_days`` drives ``orders_{W}d`` / ``revenue_{W}d``; ``event_windows_days`` drives the
    per-event-type counts ``{event}_{W}d``. The trend features use their fixed 90/180-day windows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: tuple[Family, ...] = ("rfm", "engagement", "static")
    windows_days: tuple[PositiveInt, ...] = (30, 90, 180, 365)
    event_windows_days: tuple[PositiveInt, ...] = (30, 90, 365)

    @field_validator("windows_days", "event_windows_days", "families")
    @classmethod
    def _unique(cls, value: tuple) -> tuple:
        if len(set(value)) != len(value):
            raise ValueError(f"must not repeat a value, got {value!r}")
        return value


#: The default configuration (the model is frozen, so one shared instance is safe).
DEFAULT_CONFIG = FeatureConfig()
