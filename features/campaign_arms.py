"""The arm of a campaign row (``treated`` or ``control``) from the words campaign tools use."""

from __future__ import annotations

import pandas as pd

from features.campaign_table import CONTROL, TREATED

#: Source spellings of the two arms (compared lower-case, stripped).
ARM_VALUES = {
    "treated": TREATED,
    "treatment": TREATED,
    "t": TREATED,
    "1": TREATED,
    "true": TREATED,
    "contacted": TREATED,
    "control": CONTROL,
    "c": CONTROL,
    "0": CONTROL,
    "false": CONTROL,
    "holdout": CONTROL,
    "hold-out": CONTROL,
    "hold out": CONTROL,
    "control group": CONTROL,
    "not contacted": CONTROL,
    "test": TREATED,
    "exposed": TREATED,
    "1.0": TREATED,
    "0.0": CONTROL,
    "no contact": CONTROL,
    "not treated": CONTROL,
    "实验组": TREATED,
    "处理组": TREATED,
    "对照组": CONTROL,
    "控制组": CONTROL,
}
#: Arm texts read as treated by their first word ("Treatment A", "Variant 2", "Test B").
TREATED_PREFIXES = ("treatment", "treated", "variant", "test")
#: A word that makes an arm's name control wherever it stands ("Control A", "control_1",
#: "Holdout Group", "Test Control": it wins over a treated first word).
CONTROL_WORD = r"(?<![a-z])(?:control|hold[\s_-]?out|untreated)(?![a-z])"
#: ... unless negated or contrasted ("non-control", "not control", "Treatment (vs control)"):
#: such a name is neither arm for sure, so it is quarantined as an unknown arm.
NEGATED_CONTROL = (
    r"(?<![a-z])(?:non|not|no|vs\.?|versus|against)[\s_-]*(?:the\s+)?"
    r"(?:control|hold[\s_-]?out)(?![a-z])"
)


def arm_of(text: pd.Series) -> pd.Series:
    """``treated`` / ``control`` of arm texts (case-insensitive): ``ARM_VALUES``, else a control
    word anywhere (``CONTROL_WORD``: "Control A", "Test Control"), else a treated first word
    ("Treatment A"); NA for anything else, a negated control word included ("non-control")."""
    lower = text.str.strip().str.lower()
    arm = lower.map(ARM_VALUES)
    control = lower.str.contains(CONTROL_WORD, regex=True).fillna(False).astype(bool)
    negated = lower.str.contains(NEGATED_CONTROL, regex=True).fillna(False).astype(bool)
    prefixed = lower.str.split(r"[\s_\-:]+", n=1, regex=True).str[0].isin(TREATED_PREFIXES)
    arm = arm.where(arm.notna() | ~control | negated, CONTROL)
    return arm.where(arm.notna() | ~prefixed.fillna(False) | negated, TREATED).astype("string")
