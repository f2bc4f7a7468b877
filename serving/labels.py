"""Plain-word labels of stages, tiers, value segments and recommended actions, per language.

The labels live in one YAML file per language, ``serving/labels/actions.<language>.yaml``
(``en`` and ``zh`` ship), so a CRM team can reword them without touching code. Loading checks
that every stage, tier and value segment has a label and rejects unknown keys.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from features.yaml_files import load_yaml
from serving.config import (
    DEFAULT_CONTACT,
    DEFAULT_STRATEGY,
    DO_NOT_CONTACT_ACTION,
    NO_OPEN_CHANNEL_ACTION,
    STAGES,
    TIERS,
)
from serving.value import VALUE_SEGMENTS

Language = Literal["en", "zh"]
_M = TypeVar("_M", bound=BaseModel)
LABELS_DIR = Path(__file__).with_name("labels")


class LabelError(ValueError):
    """A labels file that cannot be used (names the file and the key)."""


class Labels(BaseModel):
    """The labels of one language; ``action`` labels any recommended_action code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Language
    compose: str = "{strategy} ({contact})"
    stages: dict[str, str]
    tiers: dict[str, str]
    value_segments: dict[str, str]
    strategies: dict[str, str]
    contacts: dict[str, str]
    actions: dict[str, str]

    @model_validator(mode="after")
    def _complete(self) -> Labels:
        expected = {
            "stages": set(STAGES),
            "tiers": set(TIERS),
            "value_segments": set(VALUE_SEGMENTS.values()),
            "strategies": set(DEFAULT_STRATEGY.values()),
            "contacts": set(DEFAULT_CONTACT.values()),
        }
        for section, keys in expected.items():
            have = set(getattr(self, section))
            if missing := sorted(keys - have):
                raise ValueError(f"{section}: no label for {missing}")
            if unknown := sorted(have - keys):
                raise ValueError(f"{section}: unknown keys {unknown} (expected {sorted(keys)})")
        if missing := sorted(
            {*default_action_codes(), DO_NOT_CONTACT_ACTION, NO_OPEN_CHANNEL_ACTION}
            - set(self.actions)
        ):
            raise ValueError(f"actions: no label for {missing}")
        for part in ("{strategy}", "{contact}"):
            if part not in self.compose:
                raise ValueError(f"compose must contain {part}, got {self.compose!r}")
        return self

    def action(self, code: str) -> str:
        """The label of a recommended_action code; composed from its parts when not listed, the
        code itself when even the parts are unknown."""
        if code in self.actions:
            return self.actions[code]
        strategy, _, contact = code.partition(".")
        if strategy in self.strategies and contact in self.contacts:
            return self.compose.format(
                strategy=self.strategies[strategy], contact=self.contacts[contact]
            )
        return code

    def stage(self, stage: str) -> str:
        return self.stages.get(stage, stage)

    def tier(self, tier: str) -> str:
        return self.tiers.get(tier, tier)

    def value_segment(self, segment: str) -> str:
        return self.value_segments.get(segment, segment)


def one_line(exc: ValidationError) -> str:
    """A pydantic error as one line: ``where: what; ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "file"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def validated_yaml(file: Path, model: type[_M], error: type[Exception]) -> _M:
    """The YAML mapping in ``file`` as ``model``; ``error`` naming the file and the field if not."""
    try:
        data = load_yaml(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise error(
            f"{file}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at {exc.start}); save "
            "it as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        raise error(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise error(f"{file}: must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{file}: {one_line(exc)}") from None


def default_action_codes() -> list[str]:
    """Every recommended_action code the default strategy x contact grid can give."""
    return [f"{s}.{c}" for s in DEFAULT_STRATEGY.values() for c in DEFAULT_CONTACT.values()]


def labels_path(language: str) -> Path:
    return LABELS_DIR / f"actions.{language}.yaml"


#: Environment variable naming a folder of your own ``actions.<language>.yaml`` label files,
#: merged over the shipped ones: labels for your campaigns' actions, or your own wording.
LABELS_DIR_ENV = "LIFECYCLE_LABELS_DIR"


def load_labels(language: str = "en", path: str | Path | None = None) -> Labels:
    """The labels of ``language`` (from ``path`` when given, else the shipped file with the
    entries of ``$LIFECYCLE_LABELS_DIR/actions.<language>.yaml`` over it)."""
    return _load_labels(language, path, None if path else os.environ.get(LABELS_DIR_ENV))


@lru_cache(maxsize=8)
def _load_labels(language: str, path: str | Path | None, extra_dir: str | None) -> Labels:
    file = Path(path) if path is not None else labels_path(language)
    if not file.exists():
        raise LabelError(f"{file}: no labels file for language {language!r}")
    labels = validated_yaml(file, Labels, LabelError)
    if path is None and labels.language != language:
        raise LabelError(f"{file}: says language {labels.language!r}, expected {language!r}")
    if extra_dir:
        labels = _with_own_labels(labels, Path(extra_dir) / file.name)
    return labels


def _with_own_labels(labels: Labels, own: Path) -> Labels:
    """``labels`` with the sections of ``own`` (a partial labels file) merged over them."""
    if not own.exists():
        return labels
    data = load_yaml(own.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise LabelError(f"{own}: must be a mapping, got {type(data).__name__}")
    merged = labels.model_dump()
    for section, entries in data.items():
        if section == "language" and entries != labels.language:
            raise LabelError(f"{own}: says language {entries!r}, expected {labels.language!r}")
        if isinstance(merged.get(section), dict) and isinstance(entries, dict):
            merged[section] = {**merged[section], **{str(k): str(v) for k, v in entries.items()}}
        elif section not in ("language", "compose"):
            raise LabelError(
                f"{own}: {section!r} is not a labels section (expected some of "
                f"{[k for k, v in merged.items() if isinstance(v, dict)]})"
            )
        elif section == "compose":
            merged["compose"] = entries
    try:
        return Labels.model_validate(merged)
    except ValidationError as exc:
        raise LabelError(f"{own}: {one_line(exc)}") from None


def unlabelled_actions(actions: Iterable[str], language: str) -> list[str]:
    """The action codes ``language``'s labels (yours included) have no words for."""
    labels = load_labels(language)
    return sorted({a for a in actions if labels.action(a) == a})
