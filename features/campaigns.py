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

The modules: the table's contract (:mod:`features.campaign_table`), the arms
(:mod:`features.campaign_arms`), the checks of each row (:mod:`features.campaign_rows`) and
across rows (:mod:`features.campaign_sends`), reading files (:mod:`features.campaign_files`),
outcomes (:mod:`features.campaign_outcomes`); their public names are importable from here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.campaign_arms import arm_of
from features.campaign_files import CampaignsSource, campaigns_sources, read_campaigns
from features.campaign_outcomes import action_costs, campaign_outcomes, measuring_rows
from features.campaign_rows import checked_rows
from features.campaign_sends import put_together
from features.campaign_table import (
    CAMPAIGNS,
    COLUMN_NAMES,
    CONTROL,
    NO_ACTION,
    TREATED,
    campaigns_path,
    load_campaigns,
    typed_campaigns,
    write_campaigns,
)
from features.contract import table_path

__all__ = [
    "CAMPAIGNS",
    "COLUMN_NAMES",
    "CONTROL",
    "CampaignsSource",
    "NO_ACTION",
    "TREATED",
    "action_costs",
    "arm_of",
    "campaign_outcomes",
    "campaigns_path",
    "campaigns_sources",
    "ingest_campaigns",
    "load_campaigns",
    "measuring_rows",
    "read_campaigns",
    "typed_campaigns",
    "validate_campaigns",
    "write_campaigns",
]


def validate_campaigns(
    frame: pd.DataFrame, path: Path, columns: dict[str, str] | None = None, **reading
):
    """Validate one campaigns source frame (all columns text): :func:`checked_rows` (``reading``:
    its keywords), then the checks across rows (:func:`put_together`). Returns ``(accepted,
    quarantined, report)``; ``report`` is a :class:`features.ingest_tables.TableReport` with
    ``accepted + quarantined == rows_read``."""
    return put_together([checked_rows(frame, path, columns, **reading)])


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
