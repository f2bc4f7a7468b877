"""Arrow tables of the synthetic data: contract tables and ``truth``, built without Python loops."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import EVENT_TYPES
from features.synthetic_activity import Events, Transactions
from features.synthetic_params import DROPOUT_CAUSES, Period, SyntheticParams
from features.synthetic_population import Population

TIMESTAMP = pa.timestamp("us")
ORDER_ID_DIGITS = 10

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [
            ("customer_id", pa.string()),
            ("signup_at", TIMESTAMP),
            ("region", pa.string()),
            ("channel", pa.string()),
            ("segment", pa.string()),
        ]
    ),
    "transactions": pa.schema(
        [
            ("customer_id", pa.string()),
            ("ordered_at", TIMESTAMP),
            ("amount", pa.float64()),
            ("order_id", pa.string()),
            ("quantity", pa.float64()),
            ("margin", pa.float64()),
            ("category", pa.string()),
        ]
    ),
    "events": pa.schema(
        [
            ("customer_id", pa.string()),
            ("occurred_at", TIMESTAMP),
            ("event_type", pa.string()),
            ("value", pa.float64()),
        ]
    ),
    "truth": pa.schema(
        [
            ("customer_id", pa.string()),
            ("signup_at", TIMESTAMP),
            ("is_prospect", pa.bool_()),
            ("first_purchase_at", TIMESTAMP),
            ("purchase_rate_per_day", pa.float64()),
            ("seasonal_amplitude", pa.float64()),
            ("mean_spend", pa.float64()),
            ("dropout_hazard_per_day", pa.float64()),
            ("dropout_at", TIMESTAMP),
            ("dropout_cause", pa.string()),
            ("bad_experience_at", TIMESTAMP),
            ("fade_start_at", TIMESTAMP),
            ("engagement", pa.float64()),
            ("satisfaction", pa.float64()),
        ]
    ),
}


def id_strings(prefix: str, numbers: np.ndarray, digits: int) -> pa.StringArray:
    """``prefix`` followed by each number zero-padded to ``digits`` (e.g. ``C0000042``)."""
    return _strings(_id_chars(prefix, numbers, digits))


def order_ids(number: np.ndarray, is_return: np.ndarray) -> pa.StringArray:
    """``O<number>`` for orders, ``R<number of the returned order>`` for returns."""
    chars = _id_chars("O", number, ORDER_ID_DIGITS)
    chars[is_return, 0] = ord("R")
    return _strings(chars)


def _id_chars(prefix: str, numbers: np.ndarray, digits: int) -> np.ndarray:
    """One row of ASCII codes per id."""
    chars = np.empty((numbers.size, len(prefix) + digits), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    chars[:, len(prefix) :] = (numbers.astype(np.int64)[:, None] // powers) % 10 + ord("0")
    return chars


def _strings(chars: np.ndarray) -> pa.StringArray:
    """A string array from a matrix of ASCII codes, one row per string (no Python loop)."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))
    )
    return array.cast(pa.string())


def timestamps(days: np.ndarray, period: Period, *, inside: bool) -> pa.TimestampArray:
    """Float days since the period start as ``timestamp[us]``; ``inf``/NaN become null.

    With ``inside``, times are kept strictly before the period end despite rounding.
    """
    finite = np.isfinite(days)
    start_us = period.start.value // 1000
    micros = start_us + np.floor(np.where(finite, days, 0.0) * 86_400e6).astype(np.int64)
    if inside:
        micros = np.minimum(micros, period.end.value // 1000 - 1)
    return pa.array(micros, type=pa.int64(), mask=~finite).cast(TIMESTAMP)


def _labels(names: tuple[str, ...] | list[str], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(list(names), type=pa.string()), pa.array(codes))


def customers_table(
    pop: Population, ids: pa.Array, period: Period, params: SyntheticParams
) -> pa.Table:
    """The ``customers`` contract table of a chunk."""
    return pa.Table.from_arrays(
        [
            ids,
            timestamps(pop.signup, period, inside=True),
            _labels([x.name for x in params.regions], pop.region),
            _labels([x.name for x in params.channels], pop.channel),
            _labels([x.name for x in params.segments], pop.segment),
        ],
        schema=SCHEMAS["customers"],
    )


def transactions_table(
    tx: Transactions, ids: pa.Array, period: Period, params: SyntheticParams
) -> pa.Table:
    """The ``transactions`` contract table: orders ``O<number>``, returns ``R<number of the
    order>``."""
    return pa.Table.from_arrays(
        [
            pc.take(ids, pa.array(tx.owner)),
            timestamps(tx.time, period, inside=True),
            pa.array(tx.amount),
            order_ids(tx.order_number, tx.is_return),
            pa.array(tx.quantity),
            pa.array(tx.margin),
            _labels([c.name for c in params.categories], tx.category),
        ],
        schema=SCHEMAS["transactions"],
    )


def events_table(ev: Events, ids: pa.Array, period: Period) -> pa.Table:
    """The ``events`` contract table; ``value`` is the satisfaction score of surveys, else null."""
    return pa.Table.from_arrays(
        [
            pc.take(ids, pa.array(ev.owner)),
            timestamps(ev.time, period, inside=True),
            _labels(EVENT_TYPES, ev.event_type),
            pa.array(ev.value, mask=np.isnan(ev.value)),
        ],
        schema=SCHEMAS["events"],
    )


def truth_table(pop: Population, ids: pa.Array, period: Period) -> pa.Table:
    """One row per customer with the latent parameters and times (see ``features.synthetic``)."""
    cause = pc.take(pa.array(list(DROPOUT_CAUSES)), pa.array(pop.dropout_cause))
    return pa.Table.from_arrays(
        [
            ids,
            timestamps(pop.signup, period, inside=True),
            pa.array(pop.is_prospect),
            timestamps(pop.first_purchase, period, inside=False),
            pa.array(pop.purchase_rate),
            pa.array(pop.seasonal_amplitude),
            pa.array(pop.mean_spend, mask=np.isnan(pop.mean_spend)),
            pa.array(pop.dropout_hazard, mask=np.isnan(pop.dropout_hazard)),
            timestamps(pop.dropout, period, inside=False),
            pc.if_else(pa.array(pop.is_prospect), pa.scalar(None, pa.string()), cause),
            timestamps(pop.bad_experience, period, inside=False),
            timestamps(pop.fade_start, period, inside=False),
            pa.array(pop.engagement),
            pa.array(pop.satisfaction),
        ],
        schema=SCHEMAS["truth"],
    )
