"""The checks of each row of one campaigns source frame: mapped columns, dates, numbers, arms,
actions, known customers. The checks across rows are :mod:`features.campaign_sends`'."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.campaign_arms import arm_of
from features.campaign_table import CAMPAIGNS, COLUMN_NAMES, COLUMNS, NO_ACTION, TREATED
from features.contract import UNKNOWN_CUSTOMER
from features.customer_emails import CUSTOMER_EMAIL
from features.customer_ids import match_leading_zeros, match_salesforce_ids, normalise_ids
from features.dates import detect_order, european_file, parse_dates
from features.ingest_tables import TableReport
from features.mapping import IngestError
from features.numbers import detect_format, parse_numbers
from features.source_columns import CONSTANT, constant_column

#: Texts that mean "no value" in an optional number column (cost, given outcomes).
MISSING_TEXTS = frozenset(
    {"n/a", "na", "#n/a", "null", "none", "nan", "-", "--", "\u2013", "\u2014"}
)


@dataclass
class FileRows:
    """One campaigns file's rows after the checks of each row, before those across rows (a
    customer sent twice or in both arms, in this file or another): the file as read, its rows in
    contract columns, the reason of each row set aside so far, their lines and the report."""

    frame: pd.DataFrame
    path: Path
    out: pd.DataFrame
    reason: np.ndarray
    lines: np.ndarray | None
    report: TableReport


def checked_rows(
    frame: pd.DataFrame,
    path: Path,
    columns: dict[str, str] | None = None,
    *,
    date_format: str | None = None,
    date_order: str | None = None,
    timezone: str | None = None,
    business_zone: str | None = None,
    known_ids: set[str] | None = None,
    problems: np.ndarray | None = None,
    lines: np.ndarray | None = None,
    number_format=None,
    sep: str | None = None,
    latest=None,
    day_first: bool | None = None,
    emails=None,
    arm_values: dict[str, str] | None = None,
) -> FileRows:
    """Check each row of a campaigns source frame (all columns text), for
    :func:`put_together`. A ``sent_at`` after ``latest`` is a wrong row (dated in the future),
    as in the other tables. ``day_first``: the day/month order the other tables of the export
    showed, followed when these dates cannot tell theirs.

    ``columns`` maps contract column -> source column (unmapped ones are looked up by their own
    name); ``problems`` are structural reasons per record found while reading (they win), and
    ``lines`` the physical line of each record. Numbers (``cost``, given outcomes) are read in
    ``number_format`` (a :class:`features.numbers.NumberFormat`), else in the convention their
    values show (``5,00`` or ``5.00``, as for amounts). ``emails`` (a
    :class:`features.customer_emails.EmailIndex`): the customers by e-mail, for a file mapping
    ``customer_email`` (an e-mail tool's test, keyed by address). ``arm_values``: source arm
    text -> ``treated`` / ``control`` (a map file's ``values: {arm: ...}``, compared without
    case), read before the built-in arm words.
    """

    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(COLUMN_NAMES) - {CUSTOMER_EMAIL})
    if unknown:
        raise IngestError(
            f"{path}: campaigns mapping keys {unknown} are not campaigns columns; "
            f"expected some of {[*COLUMN_NAMES, CUSTOMER_EMAIL]}"
        )
    frame = _with_constants(frame, path, columns)
    by_email = CUSTOMER_EMAIL in columns
    if by_email and columns[CUSTOMER_EMAIL] not in frame.columns:
        raise IngestError(
            f"{path}: column {columns[CUSTOMER_EMAIL]!r} (mapped to campaigns.customer_email) not "
            f"found; columns in the file: {list(frame.columns)}"
        )
    if by_email and emails is None:
        raise IngestError(
            f"{path}: campaigns.customer_email is mapped (customers found by e-mail), but the "
            "customers file's e-mail column is not: give --customers and map "
            "customers.customer_email=<its e-mail column>"
        )
    report = TableReport(table=CAMPAIGNS, source_file=str(path))
    if number_format is None:
        numbers = [
            frame[columns.get(c.name, c.name)].astype("string").dropna()
            for c in COLUMNS
            if c.dtype == "float" and columns.get(c.name, c.name) in frame.columns
        ]
        number_format, warning = detect_format(numbers, sep)
        if warning:
            report.warnings.append(warning)
    report.formats["numbers"] = number_format.describe()
    n = len(frame)
    reason = (
        np.full(n, None, dtype=object)
        if problems is None
        else np.asarray(problems, dtype=object).copy()
    )

    def flag(bad, why: str) -> None:
        give_reason(reason, bad, why)

    out = pd.DataFrame(index=frame.index)
    not_number: dict[str, np.ndarray] = {}  # flagged once the arm is known
    for col in COLUMNS:
        name = columns.get(col.name, col.name)
        if name not in frame.columns and col.name == "customer_id" and by_email:
            out["customer_id"] = pd.Series(pd.NA, index=frame.index, dtype="string")
            continue
        if name not in frame.columns:
            if col.name in columns:
                raise IngestError(
                    f"{path}: column {name!r} (mapped to campaigns.{col.name}) not "
                    f"found; columns in the file: {list(frame.columns)}"
                )
            if col.required:
                raise IngestError(
                    f"{path}: no column for required campaigns column {col.name!r}; "
                    f'map one with --campaigns-map "{col.name}=<Source Column>"; '
                    f"columns in the file: {list(frame.columns)}"
                )
            continue
        source = frame[name].astype("string")
        blank = (source.isna() | (source.str.strip() == "")).to_numpy(bool)
        if col.dtype == "timestamp":
            european = european_file(number_format.decimal, sep)
            order = detect_order([source], date_order, european=european)
            if order.how == "assumed" and day_first is not None:
                how = "as the other tables of the export showed"
                order = replace(order, day_first=day_first, how=how, warning=None)
            elif order.warning:
                report.warnings.append(order.warning)
            out[col.name], formats = parse_dates(
                source, order, date_format, timezone, business_zone
            )
            report.date_format = order.described(formats)
            flag(blank, f"missing {col.name}")
            flag(out[col.name].isna(), f"unparsable {col.name}")
            if latest is not None:
                flag(out[col.name] > latest, f"{col.name} in the future")
            if blank.all() or out[col.name].notna().sum() < 0.5 * (~blank).sum():
                raise IngestError(
                    f"{path}: column {name!r} (campaigns.{col.name}) is not a usable date "
                    f"column; found e.g. {list(source.dropna().head(3))}"
                )
        elif col.dtype == "float":  # optional: a spreadsheet's "N/A" or "-" is a missing one
            missing = blank | source.str.strip().str.lower().isin(MISSING_TEXTS).to_numpy(bool)
            out[col.name] = parse_numbers(source.mask(missing), number_format)[0]
            not_number[col.name] = ~missing & out[col.name].isna().to_numpy(bool)
        else:
            text = normalise_ids(source) if col.name == "customer_id" else source.str.strip()
            out[col.name] = text.where(text != "", pd.NA)
            if col.required and not (col.name == "customer_id" and by_email):
                flag(out[col.name].isna(), f"missing {col.name}")
    if by_email:
        source = frame[columns[CUSTOMER_EMAIL]]
        out["customer_id"], why, found, disagree = emails.match(
            out["customer_id"], source, known_ids or set()
        )
        report.warnings += [disagree] if disagree else []
        for text in pd.unique(why.dropna()):
            flag((why == text).to_numpy(bool), str(text))
        report.formats[CUSTOMER_EMAIL] = (
            f"{found:,} rows found by e-mail ({str(source.name)!r} = the customers file's "
            f"{emails.column!r}, compared without case)"
        )
    arm_text = out["arm"]
    named = {str(k).strip().lower(): v for k, v in (arm_values or {}).items()}
    out["arm"] = arm_of(arm_text.str.lower().map(named).astype("string").fillna(arm_text))
    unknown_arm = (arm_text.notna() & out["arm"].isna()).to_numpy(bool)
    if unknown_arm.any():
        seen = ", ".join(repr(v) for v in arm_text[unknown_arm].value_counts().index[:3])
        commonest = str(arm_text[unknown_arm].value_counts().index[0])
        flag(
            unknown_arm,
            f"unknown arm {seen} (expected treated or control: e.g. Treatment A, Variant, "
            f"Control, Holdout; or name it in the map file: values: {{arm: {{{commonest!r}: "
            "treated}})",
        )
    if "action" not in out:
        out["action"] = pd.Series(pd.NA, index=out.index, dtype="string")
    action = out["action"].str.lower()
    treated = (out["arm"] == TREATED).fillna(False).to_numpy(bool)
    out["action"] = action.where(treated, NO_ACTION).fillna(NO_ACTION)
    flag(
        treated & (action.isna() | (action == NO_ACTION)).fillna(True).to_numpy(bool),
        "missing action on a treated row",
    )
    for name, bad in not_number.items():
        if name != "cost":  # a given outcome: the row cannot be measured without it
            flag(bad, f"{name} is not a number")
        elif (unread := bad & treated).any():  # a control row's cost is never read
            # quarantining a contact for its cost would drop treated rows only (the arms then
            # differ by how the cost was typed): the contact is kept with a missing cost
            example = frame.loc[unread, columns.get("cost", "cost")].iloc[0]
            report.warnings.append(
                f"cost is not a number in {int(unread.sum()):,} contacted rows (e.g. "
                f"{example!r}): read as missing; an action's cost per contact is the mean of the "
                "costs given"
            )
    if "cost" in out:
        flag(out["cost"] < 0, "negative cost")
    if "retained" in out:
        flag(out["retained"].notna() & ~out["retained"].isin([0.0, 1.0]), "retained is not 0 or 1")
    if known_ids is not None:
        for match in (match_salesforce_ids, match_leading_zeros):  # 15 characters beside 18;
            if other_form := match(out["customer_id"], known_ids):  # 000142 beside 142
                out["customer_id"], said = other_form
                report.warnings.append(said)
        flag(out["customer_id"].notna() & ~out["customer_id"].isin(known_ids), UNKNOWN_CUSTOMER)
    return FileRows(frame, path, out, reason, lines, report)


def give_reason(reason: np.ndarray, bad, why: str) -> None:
    """Give the rows ``bad`` marks that have no reason yet this one (the first reason wins)."""
    mask = np.asarray(bad, dtype=bool) & pd.isna(reason)
    reason[mask] = why


def _with_constants(frame: pd.DataFrame, path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with a column for each contract column mapped to one value (``=VALUE``, no
    column of that name: a one-send export's ``campaign_id``, ``action`` or ``cost``), as in the
    other tables; an id or a send time cannot be one value (an error)."""

    added = {
        name: constant_column(path, CAMPAIGNS, column, name, frame.index)
        for column, name in columns.items()
        if name.startswith(CONSTANT) and name not in frame.columns
    }
    return frame.assign(**added) if added else frame
