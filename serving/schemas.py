"""Typed request and response bodies of the scoring service (shared by the service, tests, clients).

The feature fields of a request are built from the feature catalogue (``features.catalog``, at
the default windows: names, types, bounds, nulls, descriptions); the response fields are the score
columns of ``serving.scoring.SCORE_COLUMNS``. Bounds reject values the feature pipeline cannot
produce, so a typo (a negative count, a probability of 7) is a 400 naming the field, not a silent
score. Relations between fields that the pipeline always satisfies (``CROSS_FIELD_RULES``) are
checked too: a row that breaks one could not be scored (the BTYD derivation needs them) and is a 400
whose ``detail[].loc`` names the customer and, where one field is to blame, the field. The error
bodies (``ErrorBody``, ``ValidationErrorBody``) and the readiness body (``Readiness``) are declared
here as well, so that the OpenAPI document describes every body the service sends.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from features import catalog
from features.config import DEFAULT_CONFIG, Family
from features.contract import EVENT_TYPES

#: The most customers one request may carry (ids or feature rows).
MAX_BATCH = 1000


#: Spaces (``str.isspace``) that may not open or close an id, and the control characters no id
#: holds; written out (no ``\s``) so that the OpenAPI pattern means the same in every regex
#: dialect a client or a test generator uses.
_SPACES = r" \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROLS = r"\u0000-\u001f\u007f"
PLAIN_ID = f"^[^{_SPACES}{_CONTROLS}]([^{_CONTROLS}]*[^{_SPACES}{_CONTROLS}])?$"


def _plain_id(value: str) -> str:
    """A CRM key as it is stored: no surrounding spaces, no line breaks or other control
    characters (a CRM would not match such an id; the export refuses them too)."""
    if not re.fullmatch(PLAIN_ID, value):
        raise ValueError(
            "a customer id has no leading or trailing spaces and no control characters "
            "(line breaks, tabs)"
        )
    return value


#: The longest id taken: a CRM key, an e-mail address (up to 254 characters) or a URN.
MAX_ID_LENGTH = 512
CustomerId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="CRM customer id",
        json_schema_extra={"pattern": PLAIN_ID},
    ),
    AfterValidator(_plain_id),
]
#: An id to look up: surrounding spaces are allowed and ignored, as ingest trims them (a CRM
#: field with a trailing space still finds its customer); control characters are not.
LOOKUP_ID = f"^[^{_CONTROLS}]*[^{_SPACES}{_CONTROLS}][^{_CONTROLS}]*$"


def _lookup_id(value: str) -> str:
    if not re.fullmatch(LOOKUP_ID, value):
        raise ValueError(
            "a customer id has no control characters (line breaks, tabs) and is not only spaces"
        )
    return value


def _id_as_text(value: object) -> object:
    """A JSON number is refused with what to send instead (a CRM's numeric record id)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'a customer id is text: send {value!r} as a JSON string ("{value!r}"); a number '
            "loses leading zeros and digits past 15 (HubSpot's objectId is a number: "
            "String(objectId))"
        )
    return value


LookupId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="CRM customer id (surrounding spaces are ignored, as ingest trims them)",
        json_schema_extra={"pattern": LOOKUP_ID},
    ),
    BeforeValidator(_id_as_text),
    AfterValidator(_lookup_id),
]
Category = Annotated[str, Field(min_length=1, max_length=64)]
#: Feature families a request carries: the catalogue's, less ``calendar`` (taken from ``as_of``).
REQUEST_FAMILIES: tuple[Family, ...] = ("static", "rfm", "engagement", "btyd")
#: Families whose fields may be left out: static attributes (unknown) and the BTYD outputs (the
#: service derives them).
OPTIONAL_FAMILIES = ("static", "btyd")
#: Fields added to the feature table after callers were built, which may be left out (read as
#: null, what the pipeline gives a customer without the history): the year-ago pair and the
#: first gap (2026-12-06), the days paid ahead (2026-12-07). A CRM webhook sending the older
#: field set keeps scoring.
LATER_FIELDS = (
    "year_ago_recency_days",
    "year_ago_return_days",
    "first_gap_days",
    "paid_ahead_days",
)

#: Cross-field rules of ``CustomerFeatures`` (stated in its OpenAPI description).
CROSS_FIELD_RULES: tuple[str, ...] = (
    "is_prospect 1 <=> orders_all 0 (a prospect has no purchase, a buyer has one)",
    "a buyer (is_prospect 0) has recency_days",
    f"{', '.join(f'orders_{w}d' for w in DEFAULT_CONFIG.windows_days)} <= orders_all",
    "frequency <= orders_all - 1 (0 for prospects): repeat purchase days",
    "btyd_recency_days <= age_days, and btyd_recency_days = 0 when frequency is 0",
    "recency_days <= age_days (the last purchase day is not before the first)",
    (
        f"{', '.join(f'orders_{w}d' for w in DEFAULT_CONFIG.windows_days)} >= 1 exactly when "
        "recency_days <= the window (the last purchase day is in the window)"
    ),
    (
        "first_order_value <= avg_order_value x orders_all: equal (to 1e-6) when orders_all is 1, "
        "strictly less when orders_all >= 2 (repeat purchases have a positive value)"
    ),
    (
        "a buyer who leaves out any btyd_* field (or sends it null) sends avg_order_value, "
        "first_order_value, age_days and btyd_recency_days (the service derives the BTYD "
        "outputs from them)"
    ),
)
#: Relative tolerance of the first_order_value = avg_order_value rule (features have 9 decimals).
VALUE_TOLERANCE = 1e-6
BTYD_FIELDS = catalog.family_columns("btyd")
BTYD_INPUTS = ("avg_order_value", "first_order_value", "age_days", "btyd_recency_days")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def _rules_text() -> str:
    return "Cross-field rules (a row breaking one is a 400): " + "; ".join(CROSS_FIELD_RULES) + "."


def _not_a_boolean(value: object) -> object:
    """Counts and measures are numbers: ``true``/``false`` there is a client's mapping error (lax
    validation would read it as 1/0). Numbers sent as text ("5") are read: CRM webhooks send
    them."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


Number = BeforeValidator(_not_a_boolean)


def feature_field(feature: catalog.Feature) -> tuple[object, object]:
    """The type and field of one catalogued feature in a request: its bounds, null where the
    pipeline gives null, and left out (None) for the optional families."""
    kind: object
    if feature.dtype == "string":
        kind = Category
    elif feature.dtype.startswith("int") and feature.bounds == catalog.FLAG:
        kind = Literal[0, 1]
    elif feature.dtype.startswith("int"):
        low, high = feature.bounds or (None, None)
        kind = Annotated[
            int,
            Field(ge=None if low is None else int(low), le=None if high is None else int(high)),
            Number,
        ]
    else:
        kind = Annotated[float, Field(ge=feature.ge, le=feature.le), Number]
    optional = feature.family in OPTIONAL_FAMILIES or feature.name in LATER_FIELDS
    if feature.nullable or optional:
        kind = kind | None
    return kind, Field(None if optional else ..., description=feature.description)


class _Identity(_Body):
    customer_id: CustomerId
    as_of: date | None = Field(
        None,
        ge=date(1900, 1, 1),
        le=date(2200, 12, 31),
        description="the cutoff the features were computed at; default: the snapshot's date",
    )
    do_not_contact: bool | None = Field(
        None, description="the CRM says not to contact the customer: action do_not_contact"
    )
    do_not_email: bool | None = Field(
        None, description="opted out of email: a contact by another channel, or none"
    )
    do_not_call: bool | None = Field(
        None, description="not to be called: a contact by another channel, or none"
    )


#: The id, the date and one field per catalogued feature of ``REQUEST_FAMILIES`` (default windows).
_CustomerFeatureFields = create_model(  # type: ignore[call-overload]
    "CustomerFeatureFields",
    __base__=_Identity,
    **{f.name: feature_field(f) for f in catalog.features(DEFAULT_CONFIG, REQUEST_FAMILIES)},
)


class CustomerFeatures(_CustomerFeatureFields):
    """One customer's row of the feature table (``docs/schema.md`` section 3, default windows).

    RFM and engagement fields are required; send ``null`` where the pipeline gives null (e.g.
    ``recency_days`` of a prospect) and 0 counts for a customer without events. Fields added
    later (``LATER_FIELDS``) may be left out: null. Numbers may come
    as text ("5"); ``true``/``false`` are read only for 0/1 flags. Static attributes
    may be left out (unknown). BTYD fields may be left out or null: the service derives them from
    the snapshot's BG/NBD + Gamma-Gamma fit, as batch scoring does. See ``CROSS_FIELD_RULES``.
    """

    if TYPE_CHECKING:  # catalogue fields (made by create_model) that the checks below read
        is_prospect: int
        orders_all: int
        recency_days: float | None

    model_config = ConfigDict(
        json_schema_extra=lambda schema: schema.update(
            description=f"{schema.get('description', '')}\n\n{_rules_text()}".strip()
        )
    )

    @field_validator("frequency")
    @classmethod
    def _frequency_within_orders(cls, value: int, info: ValidationInfo) -> int:
        orders = info.data.get("orders_all")
        if orders is not None and value > max(orders - 1, 0):
            raise ValueError(
                f"frequency is {value} but orders_all is {orders}: frequency counts repeat "
                f"purchase days, at most orders_all - 1 ({max(orders - 1, 0)})"
            )
        return value

    @field_validator("age_days")
    @classmethod
    def _recency_within_age(cls, value: float | None, info: ValidationInfo) -> float | None:
        recency = info.data.get("recency_days")
        if value is not None and recency is not None and recency > value:
            raise ValueError(
                f"recency_days is {recency:g}, more than age_days ({value:g}): the last purchase "
                "day cannot be before the first"
            )
        return value

    @field_validator(*(f"orders_{w}d" for w in DEFAULT_CONFIG.windows_days))
    @classmethod
    def _window_orders_match_recency(cls, value: int, info: ValidationInfo) -> int:
        recency, name = info.data.get("recency_days"), info.field_name
        window = int(str(name).removeprefix("orders_").removesuffix("d"))
        if recency is None:
            return value
        if recency <= window and value == 0:
            raise ValueError(
                f"{name} is 0 but recency_days is {recency:g}: the last purchase day is within "
                f"the {window} days, so {name} is at least 1"
            )
        if recency > window and value > 0:
            raise ValueError(
                f"{name} is {value} but recency_days is {recency:g}: no purchase day is within "
                f"the {window} days, so {name} is 0"
            )
        return value

    @field_validator("btyd_recency_days")
    @classmethod
    def _btyd_recency_within_age(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return value
        age = info.data.get("age_days")
        if age is not None and value > age:
            raise ValueError(
                f"btyd_recency_days is {value}, more than age_days ({age}): the last purchase "
                "cannot be before the first"
            )
        if info.data.get("frequency") == 0 and value != 0:
            raise ValueError(
                f"btyd_recency_days is {value} but frequency is 0: without a repeat purchase "
                "the last purchase is the first (btyd_recency_days 0)"
            )
        return value

    @field_validator("first_order_value")
    @classmethod
    def _first_order_within_total(cls, value: float | None, info: ValidationInfo) -> float | None:
        average, orders = info.data.get("avg_order_value"), info.data.get("orders_all")
        if value is None or average is None or not orders:
            return value
        total = average * orders
        slack = VALUE_TOLERANCE * max(1.0, abs(total))
        if orders == 1 and abs(value - average) > slack:
            raise ValueError(
                f"first_order_value is {value} but avg_order_value is {average} with orders_all "
                "1: the only purchase day is the first, so they are equal"
            )
        if orders >= 2 and value >= total - slack:
            raise ValueError(
                f"first_order_value is {value}, not less than avg_order_value x orders_all "
                f"({total:g}): the {orders - 1} repeat purchase days must have a positive value"
            )
        return value

    def sent(self, field: str) -> bool:
        """Whether the request gave ``field`` a value: a field left out and a ``null`` are the
        same (for the BTYD fields: derived by the service)."""
        return field in self.model_fields_set and getattr(self, field) is not None

    @model_validator(mode="after")
    def _consistent(self) -> CustomerFeatures:
        if self.is_prospect == 1 and self.orders_all > 0:
            raise ValueError(
                f"is_prospect is 1 but orders_all is {self.orders_all}: a prospect "
                "has no purchase before the cutoff"
            )
        if self.is_prospect == 0 and self.orders_all == 0:
            raise ValueError("is_prospect is 0 but orders_all is 0: a buyer has a purchase")
        if self.is_prospect == 0 and self.recency_days is None:
            raise ValueError("recency_days is null: a buyer (is_prospect 0) has a last purchase")
        windows = {w: getattr(self, f"orders_{w}d") for w in DEFAULT_CONFIG.windows_days}
        too_many = {w: n for w, n in windows.items() if n > self.orders_all}
        if too_many:
            w, n = next(iter(too_many.items()))
            raise ValueError(f"orders_{w}d is {n}, more than orders_all ({self.orders_all})")
        if self.is_prospect == 0 and not all(self.sent(f) for f in BTYD_FIELDS):
            missing = [f for f in BTYD_INPUTS if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"{missing[0]} is null: a buyer sent without every btyd_* field needs "
                    f"{', '.join(BTYD_INPUTS)} to derive them"
                )
        return self


#: A buyer's row that passes every rule (3 orders, the last 40 days ago, BTYD fields left out for
#: the service to derive): the OpenAPI document's example of ``/score/features``, tested to score.
FEATURES_EXAMPLE: dict[str, object] = {
    "customer_id": "C0000042",
    "is_prospect": 0,
    "tenure_days": 210.0,
    "orders_all": 3,
    "revenue_all": 150.0,
    "frequency": 2,
    "recency_days": 40.0,
    "age_days": 200.0,
    "btyd_recency_days": 160.0,
    **{f"orders_{w}d": n for w, n in ((30, 0), (90, 1), (180, 2), (365, 3))},
    **{f"revenue_{w}d": v for w, v in ((30, 0.0), (90, 50.0), (180, 100.0), (365, 150.0))},
    "avg_order_value": 50.0,
    "first_order_value": 45.0,
    "mean_gap_days": 80.0,
    "std_gap_days": 20.0,
    "first_gap_days": 60.0,  # gaps of 60 and 100 days
    "recency_ratio": 0.5,
    "orders_trend_90d": 0.0,
    "revenue_trend_90d": 0.0,
    "returns_share": 0.0,
    "category_breadth": 2,
    "year_ago_recency_days": None,  # first bought 200 days ago: no year ago
    "year_ago_return_days": None,
    **{
        f"{kind}_{w}d": n
        for w, counts in (
            (30, (2, 1, 3, 1, 0, 0, 0, 0)),
            (90, (5, 2, 8, 2, 1, 0, 1, 0)),
            (365, (20, 6, 30, 6, 2, 1, 2, 1)),
        )  # fmt: skip
        for kind, n in zip((*EVENT_TYPES, "other"), counts, strict=True)
    },
    "events_all": 80,
    "days_since_last_event": 3.0,
    "satisfaction_mean_180d": 4.0,
    "satisfaction_trend_90d": 0.0,
    "engagement_trend_30d": 0.0,
}


class ScoreIdsRequest(_Body):
    """Score customers of the loaded feature snapshot by id."""

    customer_ids: list[LookupId] = Field(min_length=1, max_length=MAX_BATCH)


class ScoreFeaturesRequest(_Body):
    """Score customers from posted feature values."""

    customers: list[CustomerFeatures] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("customers")
    @classmethod
    def _one_row_per_customer(cls, customers: list[CustomerFeatures]) -> list[CustomerFeatures]:
        """Two rows of one customer would get two answers for one CRM record: refused."""
        first: dict[str, int] = {}
        for i, customer in enumerate(customers):
            j = first.setdefault(customer.customer_id, i)
            if j != i:
                raise ValueError(
                    f"customers[{i}] repeats customer_id {customer.customer_id!r} of "
                    f"customers[{j}]: send one row per customer"
                )
        return customers


class CustomerScore(BaseModel):
    """What the CRM receives per customer: the columns of batch scoring (``SCORE_COLUMNS``)."""

    customer_id: str
    as_of: date
    stage: Literal["prospect", "new", "growing", "mature", "declining", "churned"]
    churn_probability: float | None = Field(
        description="within the churn horizon; null for prospects"
    )
    predicted_value: float
    predicted_value_low: float | None = Field(
        None,
        description="lower end of the predicted value's range (80% by default: the pair's "
        "clv.interval_level); null for a pair stored without ranges",
    )
    predicted_value_high: float | None = Field(
        None, description="upper end of the predicted value's range; null without ranges"
    )
    value_segment: str
    value_at_risk: float = Field(
        description="expected value lost if nothing is done: P(no purchase within the value "
        "horizon) x value if retained (0 for prospects; docs/scoring.md section 4)"
    )
    priority_score: float = Field(
        description="the ranking of retention work: value_at_risk, or with an uplift champion "
        "the recommended action's expected saved value net of its cost"
    )
    priority_tier: Literal["P1", "P2", "P3", "P4"]
    recommended_action: str
    recommended_action_label: str = Field(
        "", description="recommended_action in plain words (LIFECYCLE_LANG: en or zh)"
    )
    reasons: list[str]
    churn_model_version: str
    clv_model_version: str
    expected_saved_value: float | None = Field(
        None,
        description="value the recommended action is expected to keep over the campaign window "
        "(uplift champion; 0 when no action pays); null without campaign data or for prospects",
    )
    saved_value_by_action: dict[str, float] | None = Field(
        None,
        description="expected saved value of every campaign action (before its cost); null "
        "without campaign data or for prospects",
    )
    uplift_model_version: str | None = Field(
        None, description="version of the uplift champion that decided the action, if any"
    )


class ScoreResult(BaseModel):
    """One requested customer: a score, or an error saying why there is none."""

    customer_id: str
    score: CustomerScore | None = None
    error: str | None = None
    notes: list[str] = Field(
        default_factory=list,
        description="what the score was made without: attributes the models use that the row "
        "left out or sent as null (scored as unknown)",
    )


class ErrorBody(BaseModel):
    """A refused request (401, 413, 415, 500, 503): what is wrong, in one sentence."""

    error: str


class ValidationErrorItem(BaseModel):
    """One reason a request body is invalid: where (``loc``), what (``msg``) and its kind
    (``type``)."""

    loc: list[str | int] = Field(description='e.g. ["customers", 1, "recency_days"]')
    msg: str
    type: str
    url: str | None = None


class ValidationErrorBody(BaseModel):
    """A 400: the body is not valid JSON of the request schema; ``detail`` names every field."""

    error: str = Field(
        description='a short summary, e.g. "2 invalid fields" or "the body is not valid JSON"'
    )
    detail: list[ValidationErrorItem]


class Readiness(BaseModel):
    """``GET /readyz``: 200 once the champion pair and the snapshot are loaded, else 503 +
    reason."""

    ready: bool
    status: Literal["starting", "loading", "ready", "failed"]
    reason: str | None = Field(None, description="why the service is not ready")
    project: str | None = None
    churn_model_version: str | None = None
    clv_model_version: str | None = None
    snapshot: str | None = Field(None, description="the feature snapshot file")
    snapshot_as_of: date | None = None
    snapshot_customers: int | None = None
    load_seconds: float | None = None
    loaded_at: str | None = Field(None, description="when the served scoring was loaded (UTC)")
    registry_champion_version: str | None = Field(
        None,
        description="the registry's champion version of the project (checked every 30 s by "
        "default); null when it has none",
    )
    stale: bool | None = Field(
        None,
        description="true when the served pair is not the registry's champion (`lifecycle "
        "score` with it serves it), or a newer scoring on disk is not served "
        "(`newer_scoring`); null before the registry answered",
    )
    registry_checked_at: str | None = Field(None, description="when the registry last answered")
    registry_error: str | None = Field(
        None, description="why the last registry check failed (readiness does not change)"
    )
    hot_reload: bool | None = Field(
        None, description="a newer scoring on disk is loaded in place (LIFECYCLE_RELOAD)"
    )
    newer_scoring: dict[str, str | None] | None = Field(
        None,
        description="the scoring on disk not served yet: as_of, churn_model_version, "
        "clv_model_version; null when the served one is the latest",
    )
    reload_error: str | None = Field(
        None, description="why the scoring on disk is not served (the old one is, still ready)"
    )
    reloads: int | None = Field(None, description="scorings loaded in place since start-up")
