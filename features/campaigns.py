"""The optional ``campaigns`` table: who was sent what, who was held back, and what followed.

One row per customer and campaign: ``customer_id``, ``sent_at``, ``campaign_id``, ``action``
(e.g. ``discount``, ``call``, ``email``; blank or ``none`` on control rows), ``arm`` (``treated``
or ``control``), optional ``cost`` (per contact, in the currency of ``amount``). Each action of a
campaign is compared with the control rows of the same campaign.

Outcomes are measured from ``transactions`` over ``[sent_at, sent_at + H)``: ``retained`` (at least
one purchase, i.e. a row with a positive amount) and ``value`` (sum of ``amount``), *as of* a
cutoff: a row whose window ends after the cutoff is not mature and gets no outcome; transactions
at or after the cutoff are never read. A source that carries its outcomes directly (a campaign
tool's report, or the Hillstrom benchmark) maps them to the optional columns ``retained`` and
``value``; those rows are used as given.

Ingest follows the other tables: columns are mapped, every row is accepted
(``DIR/campaigns.parquet``) or quarantined with a reason (``DIR/quarantine/campaigns.parquet``), and
the counts go to ``manifest.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from features.contract import (
    UNKNOWN_CUSTOMER,
    Column,
    quarantine_path,
    quarantine_rows,
    table_path,
)

if TYPE_CHECKING:
    from features.ingest_tables import TableReport

CAMPAIGNS = "campaigns"
TREATED, CONTROL = "treated", "control"
ARMS = (TREATED, CONTROL)
NO_ACTION = "none"

COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "string"),
    Column("sent_at", "timestamp"),
    Column("campaign_id", "string"),
    Column("action", "string", required=False),  # required on treated rows
    Column("arm", "string"),
    Column("cost", "float", required=False),
    Column("retained", "float", required=False),  # outcome given directly (0/1)
    Column("value", "float", required=False),  # outcome given directly
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)

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
#: Texts that mean "no value" in an optional number column (cost, given outcomes).
MISSING_TEXTS = frozenset(
    {"n/a", "na", "#n/a", "null", "none", "nan", "-", "--", "\u2013", "\u2014"}
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


def campaigns_path(data_dir: str | Path) -> Path:
    """``DIR/campaigns.parquet``."""
    return table_path(data_dir, CAMPAIGNS)


def validate_campaigns(
    frame: pd.DataFrame, path: Path, columns: dict[str, str] | None = None, **reading
):
    """Validate one campaigns source frame (all columns text): :func:`checked_rows` (``reading``:
    its keywords), then the checks across rows (:func:`put_together`). Returns ``(accepted,
    quarantined, report)``; ``report`` is a :class:`features.ingest_tables.TableReport` with
    ``accepted + quarantined == rows_read``."""
    return put_together([checked_rows(frame, path, columns, **reading)])


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
    from features.customer_emails import CUSTOMER_EMAIL
    from features.customer_ids import normalise_ids
    from features.dates import detect_order, european_file, parse_dates
    from features.ingest_tables import TableReport
    from features.mapping import IngestError
    from features.numbers import detect_format, parse_numbers

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
        _flag(reason, bad, why)

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
            out[col.name], formats = parse_dates(source, order, date_format, timezone)
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
        from features.customer_ids import match_leading_zeros, match_salesforce_ids

        for match in (match_salesforce_ids, match_leading_zeros):  # 15 characters beside 18;
            if other_form := match(out["customer_id"], known_ids):  # 000142 beside 142
                out["customer_id"], said = other_form
                report.warnings.append(said)
        flag(out["customer_id"].notna() & ~out["customer_id"].isin(known_ids), UNKNOWN_CUSTOMER)
    return FileRows(frame, path, out, reason, lines, report)


def _flag(reason: np.ndarray, bad, why: str) -> None:
    """Give the rows ``bad`` marks that have no reason yet this one (the first reason wins)."""
    mask = np.asarray(bad, dtype=bool) & pd.isna(reason)
    reason[mask] = why


def put_together(files: list[FileRows]):
    """Campaigns files' checked rows as one table: a customer sent twice in a campaign (the
    later send) or in both of its arms is found across the files as within one; then each file's
    rows are accepted or quarantined (naming its file and line) and counted. Returns
    ``(accepted, quarantined, report)``: the report of the one file, else the files' counts
    added up (each file's own report counts its rows)."""
    out = pd.concat([f.out for f in files], ignore_index=True) if len(files) > 1 else files[0].out
    reason = np.concatenate([f.reason for f in files]) if len(files) > 1 else files[0].reason
    key = out[["customer_id", "campaign_id"]]
    keyed = key.notna().all(axis=1).to_numpy() & pd.isna(reason)
    arms = out["arm"].where(keyed).groupby([out["customer_id"], out["campaign_id"]])
    both_arms = (arms.transform("nunique") > 1).to_numpy(bool) & keyed
    _flag(reason, both_arms, "customer in both arms of the campaign (treated and control)")
    _flag(reason, _later_sends(key, out["sent_at"]) & keyed, "duplicate customer_id in campaign")
    # rows set aside for their date (a 2099 typo) do not widen a send; those of a customer sent
    # twice are what a reused id causes
    dated = pd.Series(reason, dtype="object").fillna("")
    dated = ~dated.str.contains("sent_at", regex=False).to_numpy()
    sends = _several_sends(out.loc[dated])
    if len(files) == 1:
        files[0].report.warnings += sends
        return _accepted_rows(files[0], reason)
    from features.combined_files import add_counts
    from features.ingest_tables import TableReport

    report = TableReport(table=CAMPAIGNS, source_file=", ".join(str(f.path) for f in files))
    accepted, quarantined = [], []
    ends = np.cumsum([len(f.out) for f in files])[:-1]
    for f, own in zip(files, np.split(reason, ends), strict=True):
        kept, aside, _ = _accepted_rows(f, own)
        accepted.append(kept)
        quarantined.append(aside)
        add_counts(report, f.report, np.array([], dtype=object))
        report.formats[f"file {f.path.name}"] = (
            f"{f.report.rows_read:,} rows read, {f.report.accepted:,} accepted, "
            f"{f.report.quarantined:,} quarantined"
        )
    report.warnings += sends
    accepted = typed_campaigns(pd.concat(accepted, ignore_index=True))
    report.accepted, report.quarantined = len(accepted), report.rows_read - len(accepted)
    return accepted, pd.concat(quarantined, ignore_index=True), report


def _accepted_rows(rows: FileRows, reason: np.ndarray):
    """One file's ``(accepted, quarantined, report)`` once every reason is known; the report
    counts them, with the first source row of each reason."""
    frame, lines, report, n = rows.frame, rows.lines, rows.report, len(rows.frame)
    ok = pd.isna(reason)
    where_rows = np.flatnonzero(~ok) + 1 if lines is None else np.asarray(lines)[~ok]
    quarantined = quarantine_rows(
        frame.loc[~ok].astype("string"), rows.path, where_rows, reason[~ok]
    )
    accepted = typed_campaigns(rows.out.loc[ok])
    report.rows_read, report.accepted, report.quarantined = n, len(accepted), int((~ok).sum())
    report.reasons = {str(k): int(v) for k, v in pd.Series(reason[~ok]).value_counts().items()}
    where = ("row", np.arange(1, n + 1)) if lines is None else ("line", np.asarray(lines))
    for why in report.reasons:  # the first row of each reason, as the other tables report it
        first = int(np.flatnonzero(reason == why)[0])
        cells = ",".join("" if pd.isna(v) else str(v) for v in frame.iloc[first].tolist())
        report.samples[why] = f"{where[0]} {where[1][first]}: {cells}"
    return accepted, quarantined, report


def _later_sends(key: pd.DataFrame, sent_at: pd.Series) -> np.ndarray:
    """True on a row whose ``key`` an earlier send has (in file order on the same time): the
    first send, the one the campaign measures, is kept whatever order the export lists them in."""
    order = np.argsort(sent_at.to_numpy(), kind="stable")
    later = np.zeros(len(key), dtype=bool)
    later[order] = key.iloc[order].duplicated().to_numpy()
    return later


def _with_constants(frame: pd.DataFrame, path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """``frame`` with a column for each contract column mapped to one value (``=VALUE``, no
    column of that name: a one-send export's ``campaign_id``, ``action`` or ``cost``), as in the
    other tables; an id or a send time cannot be one value (an error)."""
    from features.source_columns import CONSTANT, constant_column

    added = {
        name: constant_column(path, CAMPAIGNS, column, name, frame.index)
        for column, name in columns.items()
        if name.startswith(CONSTANT) and name not in frame.columns
    }
    return frame.assign(**added) if added else frame


#: A campaign whose sends span more than this many days is warned of as several sends.
ONE_SEND_DAYS = 28


def _several_sends(out: pd.DataFrame) -> list[str]:
    """Campaign ids sent over more than :data:`ONE_SEND_DAYS` (a "Newsletter" id for a January
    SMS and an April e-mail): each action is compared with the whole campaign's control
    customers, and a customer of both sends lands in both arms or twice."""
    rows = out[out["campaign_id"].notna() & out["sent_at"].notna()]
    if rows.empty:
        return []
    spans = rows.groupby("campaign_id")["sent_at"].agg(["min", "max"])
    wide = spans[spans["max"] - spans["min"] > pd.Timedelta(days=ONE_SEND_DAYS)]
    said = []
    for campaign, span in wide.head(3).iterrows():
        one = rows[rows["campaign_id"] == campaign]
        arm = one["arm"].astype("object")  # an unknown or missing arm is neither
        sent = one["action"].astype("object").where(arm == TREATED, "unknown arm")
        sent = sent.where(arm != CONTROL, "control").fillna("?")
        sends = one["sent_at"].groupby(sent.to_numpy()).agg(["min", "max"])
        parts = ", ".join(
            f"{action} {a:%Y-%m-%d}" + ("" if a.date() == b.date() else f"..{b:%Y-%m-%d}")
            for action, (a, b) in sends.iterrows()
        )
        said.append(
            f"campaign {campaign!r} was sent from {span['min']:%Y-%m-%d} to {span['max']:%Y-%m-%d} "
            f"({parts}): one id for several sends? Each action is compared with the control "
            "customers of its whole campaign, and a customer of two sends is quarantined (both "
            "arms, or twice); give each send its own campaign_id"
        )
    if len(wide) > 3:
        said.append(f"... and {len(wide) - 3} more campaign ids sent over more than 28 days")
    return said


def typed_campaigns(frame: pd.DataFrame) -> pd.DataFrame:
    """Campaign rows with the contract's column types (absent optional columns as nulls), sorted by
    ``sent_at``, ``campaign_id``, ``customer_id``."""
    out = {}
    for col in COLUMNS:
        if col.name in frame:
            values = frame[col.name]
        else:
            values = pd.Series(np.nan if col.dtype == "float" else pd.NA, index=frame.index)
        kind = {"string": "string", "timestamp": "datetime64[us]", "float": "float64"}[col.dtype]
        out[col.name] = values.astype(kind)
    return (
        pd.DataFrame(out)
        .sort_values(["sent_at", "campaign_id", "customer_id"], kind="stable")
        .reset_index(drop=True)
    )


def write_campaigns(
    data_dir: str | Path, accepted: pd.DataFrame, quarantined: pd.DataFrame, report
) -> None:
    """Write the accepted and quarantined rows and add the counts to ``manifest.json``; each file
    is replaced whole (a kill leaves the old or the new one, never half of one)."""
    from features.atomic_file import replaced_file, write_text_atomic

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with replaced_file(quarantine_path(data_dir, CAMPAIGNS)) as tmp:
        quarantined.to_parquet(tmp, index=False)
    with replaced_file(campaigns_path(data_dir)) as tmp:
        accepted.to_parquet(tmp, index=False)
    manifest_file = data_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    manifest.setdefault("tables", {})[CAMPAIGNS] = asdict(report)
    write_text_atomic(manifest_file, json.dumps(manifest, indent=2, default=str))


@dataclass(frozen=True)
class CampaignsSource:
    """A campaigns export and how to read it (``columns``: contract column -> source column;
    ``number_format``: a :class:`features.numbers.NumberFormat`, None to detect)."""

    path: Path
    columns: dict[str, str] | None = None
    date_format: str | None = None
    date_order: str | None = None
    timezone: str | None = None
    number_format: object = None
    arm_values: dict[str, str] | None = None  # source arm text -> treated / control
    encoding: str | None = None  # None: detected, as the separator and the sheet
    sep: str | None = None
    sheet: str | None = None


def campaigns_sources(paths: list[Path], mapping, columns: dict[str, str] | None = None):
    """A :class:`CampaignsSource` per campaigns file, each read by the map file
    (:class:`features.mapping.ColumnMapping`) as its ``files:`` section says: formats, arm
    names, and columns (``campaigns.<column>`` keys: the section's win over ``columns``, the
    ``--campaigns-map`` option, which wins over the map file's top level)."""
    from features.numbers import forced_format

    def own(keys: dict[str, str]) -> dict[str, str]:
        prefix = f"{CAMPAIGNS}."
        return {k.removeprefix(prefix): v for k, v in keys.items() if k.startswith(prefix)}

    from features.mapping import IngestError

    seen = [Path(p).resolve() for p in paths]
    if twice := next((p for i, p in enumerate(paths) if seen[i] in seen[:i]), None):
        raise IngestError(
            f"{twice}: given twice to --campaigns (named and matched by a pattern?): each of its "
            "rows would be its own duplicate; give each file once"
        )
    sources = []
    for path in paths:
        formats = mapping.for_file(Path(path))  # its files: section, if any
        section = mapping.section_for(Path(path))
        mapped = own(mapping.columns) | (columns or {})
        mapped |= own(mapping.files[section].columns) if section is not None else {}
        sources.append(
            CampaignsSource(
                Path(path),
                mapped or None,
                date_format=formats.date_format,
                date_order=formats.date_order,
                timezone=formats.timezone,
                number_format=forced_format(formats.decimal, formats.thousands),
                arm_values=formats.values_for(CAMPAIGNS, "arm") or None,
                encoding=formats.encoding,
                sep=formats.sep,
                sheet=formats.sheet,
            )
        )
    return sources


def read_campaigns(
    source: CampaignsSource | list[CampaignsSource],
    known_ids: set[str] | None,
    min_accepted_share: float = 0.0,
    log=print,
    latest=None,
    day_first: bool | None = None,
    emails=None,
):
    """Read and validate a campaigns export, or several (each with its own formats and columns,
    then put together: :func:`put_together`): ``(accepted, quarantined, report)``; a file of too
    small an accepted share is an ``IngestError`` (nothing is written by the callers then), as is
    a file that cannot be read or lacks a column (it is named). ``latest``, ``day_first``: see
    :func:`checked_rows`."""
    from features.csv_source import EmptyExport, read_source
    from features.ingest import log_report, require_share, source_formats

    sources = [source] if isinstance(source, CampaignsSource) else source
    files: list[FileRows] = []
    for i, one in enumerate(sources):
        path = Path(one.path)
        log(f"campaigns: reading {path} ...")
        try:
            read = read_source(path, one.encoding, one.sep, one.sheet)
        except EmptyExport as exc:  # a week nobody was called, among weekly call lists
            if len(sources) == 1 or (i == len(sources) - 1 and not files):
                raise
            log(f"campaigns: warning: {exc}; skipped, the other files are read")
            continue
        log(f"campaigns: {len(read.frame):,} rows read ({', '.join(source_formats(read))})")
        rows = checked_rows(
            read.frame,
            path,
            one.columns,
            date_format=one.date_format,
            date_order=one.date_order,
            timezone=one.timezone,
            known_ids=known_ids,
            problems=read.problems,
            lines=read.lines if read.lines.any() else None,
            number_format=one.number_format,
            sep=read.sep,
            latest=latest,
            emails=emails,
            day_first=day_first,
            arm_values=one.arm_values,
        )
        files.append(rows)
    accepted, quarantined, report = put_together(files)
    require_share([f.report for f in files], min_accepted_share)  # each file on its own
    for f in files:
        if len(files) > 1:
            log(f"campaigns: {f.path.name}:")
        log_report(f.report, log)
        for why, sample in f.report.samples.items():
            log(f"campaigns: e.g. {why}: {sample}")
        if len(files) > 1:
            log(
                f"campaigns: {f.path.name}: {f.report.rows_read:,} rows read, "
                f"{f.report.accepted:,} accepted, {f.report.quarantined:,} quarantined"
            )
    if len(files) > 1:  # what only the files together show (one campaign id over weeks)
        own = {f"{f.path.name}: {w}" for f in files for w in f.report.warnings}
        for warning in (w for w in report.warnings if w not in own):
            log(f"campaigns: warning: {warning}")
        detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(report.reasons.items())) or "none"
        log(
            f"campaigns: {len(files)} files together: {report.rows_read:,} rows read, "
            f"{report.accepted:,} accepted, {report.quarantined:,} quarantined [{detail}]"
        )
    return accepted, quarantined, report


def ingest_campaigns(
    data_dir: str | Path,
    source: str | Path | CampaignsSource,
    columns: dict[str, str] | None = None,
    *,
    min_accepted_share: float = 0.0,
    log=print,
    **reading,
):
    """Validate a campaigns export into an existing contract directory's ``campaigns.parquet``
    (customers must be known when ``DIR/customers.parquet`` exists). ``lifecycle ingest
    --campaigns`` does not use this: it writes campaigns with the other tables in one swap
    (``features.ingest.ingest(campaigns=...)``). ``reading``: the other fields of
    :class:`CampaignsSource`. Returns the :class:`features.ingest_tables.TableReport`."""
    if not isinstance(source, CampaignsSource):
        source = CampaignsSource(Path(source), columns, **reading)
    customers = table_path(data_dir, "customers")
    known = (
        set(pd.read_parquet(customers, columns=["customer_id"])["customer_id"].astype(str))
        if customers.exists()
        else None
    )
    accepted, quarantined, report = read_campaigns(source, known, min_accepted_share, log)
    write_campaigns(data_dir, accepted, quarantined, report)
    return report


def load_campaigns(data_dir: str | Path) -> pd.DataFrame:
    """The accepted campaigns table of a contract directory (a clear error when absent)."""
    path = campaigns_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no campaigns table; ingest one with "
            "`lifecycle ingest ... --campaigns FILE` or generate with --campaigns"
        )
    return pd.read_parquet(path)


def campaign_outcomes(data_dir: str | Path, horizon_days: int, as_of=None) -> pd.DataFrame:
    """Campaign rows with ``retained`` and ``value`` over ``[sent_at, sent_at + horizon_days)``.

    Rows whose outcomes were given directly keep them, but for windows not over by an ``as_of``
    given (a cutoff: their outcomes are the future of it). Otherwise outcomes come from
    ``transactions`` strictly before ``as_of`` (default: the day after the last transaction;
    a later one says the export covers up to it); rows whose window is not over by then are
    dropped (callers name them). Adds ``window_end``.
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days!r}")
    camp = load_campaigns(data_dir)
    camp["window_end"] = camp["sent_at"] + pd.Timedelta(days=horizon_days)
    given = camp["retained"].notna() & camp["value"].notna()
    if as_of is not None:
        future = given & (camp["window_end"] > pd.Timestamp(as_of))
        camp, given = camp.loc[~future], given.loc[~future]
    if given.all():
        return camp.reset_index(drop=True)
    tx_path = table_path(data_dir, "transactions")
    if not tx_path.exists():
        raise FileNotFoundError(
            f"{tx_path}: campaign outcomes are measured from transactions, "
            "and some campaigns rows carry no retained/value of their own"
        )
    con = duckdb.connect()
    if as_of is None:
        last = con.execute(
            "select max(ordered_at) from read_parquet(?)", [str(tx_path)]
        ).fetchall()[0][0]
        as_of = pd.Timestamp(last).normalize() + pd.Timedelta(days=1)
    as_of = pd.Timestamp(as_of)
    todo = camp.loc[
        ~given & (camp["window_end"] <= as_of),
        ["customer_id", "campaign_id", "sent_at", "window_end"],
    ]
    con.register("todo", todo)
    measured = con.execute(
        """
        select t.customer_id, t.campaign_id,
               coalesce(max(case when x.amount > 0 then 1 else 0 end), 0)::double as m_retained,
               coalesce(sum(x.amount), 0)::double as m_value
        from todo t left join read_parquet(?) x
          on x.customer_id = t.customer_id and x.ordered_at >= t.sent_at
         and x.ordered_at < t.window_end and x.ordered_at < ?
        group by t.customer_id, t.campaign_id
        """,
        [str(tx_path), as_of.to_pydatetime()],
    ).df()
    con.close()
    out = camp.merge(measured, on=["customer_id", "campaign_id"], how="left")
    out["retained"] = out["retained"].where(given, out["m_retained"])
    out["value"] = out["value"].where(given, out["m_value"])
    out = out.drop(columns=["m_retained", "m_value"])
    return out.loc[out["retained"].notna()].reset_index(drop=True)


def action_costs(frame: pd.DataFrame) -> dict[str, float]:
    """Cost per contact of each action: the mean ``cost`` of its treated rows that give one (0
    when none does; a missing cost is not a free contact)."""
    treated = frame[frame["arm"] == TREATED]
    cost = treated["cost"] if "cost" in treated else pd.Series(np.nan, index=treated.index)
    means = cost.astype(float).groupby(treated["action"]).mean().fillna(0.0)
    return {str(a): float(c) for a, c in means.items()}


def measuring_rows(frame: pd.DataFrame, action: str) -> np.ndarray:
    """Which campaign rows measure ``action``: its treated customers and the control customers of
    the same campaigns (another campaign's controls were sent at another time, to another
    audience, so they are no counterfactual for this one)."""
    campaigns = frame.loc[
        (frame["action"] == action) & (frame["arm"] == TREATED), "campaign_id"
    ].unique()
    same = frame["campaign_id"].isin(campaigns)
    return (same & ((frame["action"] == action) | (frame["arm"] == CONTROL))).to_numpy()
