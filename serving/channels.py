"""Which contact may reach a customer the CRM bars from one channel (``customers.do_not_email``,
``do_not_call``; ``do_not_contact`` bars every channel: ``serving.scoring``).

Every contact goes by a channel: ``Actions.channels`` names it (by default an account manager's
call by phone, the personal email and both campaigns by email), else the words of its code say
it (``winback_email``, ``courtesy_call``), else no flag bars it. A customer barred from the
channel of their tier's contact gets the contact of the nearest tier whose channel is open: the
less urgent tiers first (a cheaper contact), then at most ``Actions.reach_up`` more urgent ones
(a tier's cell as ``Actions.overrides`` gives it); with none open, ``no_open_channel``. Tier
and priority stay as scored: they say how much is at risk, not how to reach it. An uplift
champion's actions are kept to the open ones the same way (``serving.uplift_scoring``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contact_flags import row_flags
from features.contract import CONTACT_FLAGS
from serving.config import NO_OPEN_CHANNEL_ACTION, TIERS, Actions
from serving.value import recommended_actions

#: Words of a contact's or action's code that name its channel (``Actions.channels`` first).
CHANNEL_WORDS: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "mail", "edm", "newsletter", "mailing"}),
    "phone": frozenset({"call", "phone", "telephone", "callback", "telemarketing"}),
}


def channel_of(code: str, channels: Mapping[str, str | None]) -> str | None:
    """The channel ``code`` goes by: as ``channels`` says, else as its words say, else None."""
    if code in channels:
        return channels[code]
    words = set(re.split(r"[^a-z]+", code.casefold()))
    for channel, known in CHANNEL_WORDS.items():
        if words & known:
            return channel
    return None


def barred_channels(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per channel a flag bars (``CONTACT_FLAGS``), the rows the CRM bars from it (only the
    channels of flag columns ``rows`` has with a customer flagged)."""
    out: dict[str, np.ndarray] = {}
    for field, channel in CONTACT_FLAGS.items():
        if channel is not None and field in rows.columns:
            flagged = row_flags(rows, field=field)
            if flagged.any():
                out[channel] = flagged
    return out


@dataclass(frozen=True)
class Reached:
    """The contact of each row after the channel bars, and why it moved."""

    actions: np.ndarray  # object: the action (``no_open_channel`` when no channel is open)
    barred: np.ndarray  # object: the channel that moved the contact, None where it did not move


def _fallback_tiers(tier: str, reach_up: int) -> list[str]:
    """The tiers to try after ``tier``: the less urgent ones, nearest first, then up to
    ``reach_up`` more urgent ones, nearest first."""
    k = TIERS.index(tier)
    return [*TIERS[k + 1 :], *reversed(TIERS[max(0, k - reach_up) : k])]


def reachable_actions(
    stages: Sequence[str] | np.ndarray,
    tiers: Sequence[str] | np.ndarray,
    actions: Actions,
    barred: Mapping[str, np.ndarray],
) -> Reached:
    """The stage x tier action of each row (``serving.value.recommended_actions``), moved to an
    open channel where the row is barred from the action's one (module docstring)."""
    out = recommended_actions(stages, tiers, actions)
    moved = np.full(len(out), None, dtype=object)
    if not barred:
        return Reached(out, moved)
    any_bar = np.logical_or.reduce([np.asarray(b, bool) for b in barred.values()])
    for i in np.flatnonzero(any_bar):
        closed = {c for c, b in barred.items() if b[i]}
        stage, tier = str(stages[int(i)]), str(tiers[int(i)])
        channel = channel_of(_cell_code(actions, stage, tier), actions.channels)
        if channel not in closed:
            continue
        moved[i] = channel
        out[i] = NO_OPEN_CHANNEL_ACTION
        for other in _fallback_tiers(tier, actions.reach_up):
            if channel_of(_cell_code(actions, stage, other), actions.channels) not in closed:
                out[i] = actions.action(stage, other)
                break
    return Reached(out, moved)


def _cell_code(actions: Actions, stage: str, tier: str) -> str:
    """What decides a stage x tier cell's channel: its override's code, else its contact."""
    overridden = actions.overrides.get(stage, {}).get(tier)  # type: ignore[call-overload]
    return overridden or actions.contact[tier]  # type: ignore[index]


def action_bars(
    action_names: Sequence[str], barred: Mapping[str, np.ndarray], n: int, actions: Actions
) -> np.ndarray | None:
    """(rows x actions) True where the CRM bars the row from the action's channel (uplift
    actions); None when nothing is barred."""
    if not barred:
        return None
    out = np.zeros((n, len(action_names)), dtype=bool)
    for j, name in enumerate(action_names):
        channel = channel_of(name, actions.channels)
        if channel is not None and channel in barred:
            out[:, j] = np.asarray(barred[channel], dtype=bool)
    return out if out.any() else None
