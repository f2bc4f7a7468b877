"""Customer ids as ingest stores them: stripped, full-width characters as ASCII, a float column's
``.0`` dropped, e-mail addresses and UUIDs lower-cased; Salesforce's 15- and 18-character forms
of one id; and the warnings about ids a user should look at (letter-case twins, spreadsheet
notation)."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.customer_emails import EMAIL

#: An integer id that went through a float column (``"17850.0"``): read as ``"17850"``.
FLOAT_ID = r"^(\d+)\.0+$"


#: A UUID (8-4-4-4-12 hex digits): case-insensitive (RFC 4122), stored lower-case, as an iOS
#: app's upper-case ``UUID().uuidString`` and its backend's lower-case ids are one customer.
UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"


#: Full-width ASCII (``６００１``, typed with a Chinese or Japanese input method) as ASCII.
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def normalise_ids(values: pd.Series) -> pd.Series:
    """Strip ids; full-width digits and letters (``６００１``) are ASCII; ``"17850.0"`` (an
    integer id that went through a float column) becomes ``"17850"``; an id that is an e-mail
    address is lower-cased (``Ana@Example.com`` is ``ana@example.com``: one customer whichever
    way it was typed), and so is a UUID."""
    wide = values.str.contains("[\uff01-\uff5e\u3000]", regex=True).fillna(False).to_numpy(bool)
    if wide.any():
        values = values.mask(wide, values.str.translate(_FULL_WIDTH))
    ids = values.str.strip().str.replace(FLOAT_ID, r"\1", regex=True)
    at = ids.str.contains("@", regex=False).fillna(False).to_numpy(bool)  # cheap first
    if at.any():
        email = np.zeros(len(ids), dtype=bool)
        email[at] = ids[at].str.fullmatch(EMAIL).fillna(False).to_numpy(bool)
        ids = ids.mask(email, ids.str.lower())
    dashed = ids.str.len().eq(36).fillna(False).to_numpy(bool)  # cheap first
    if dashed.any():
        uuid = np.zeros(len(ids), dtype=bool)
        uuid[dashed] = ids[dashed].str.fullmatch(UUID).fillna(False).to_numpy(bool)
        ids = ids.mask(uuid, ids.str.lower())
    return ids.where(ids != "", pd.NA)


def plain_id(value: str) -> str:
    """One id as ingest stores it (:func:`normalise_ids`)."""
    value = re.sub(FLOAT_ID, r"\1", value.translate(_FULL_WIDTH).strip())
    return value.lower() if re.fullmatch(EMAIL, value) or re.fullmatch(UUID, value) else value


def case_twins(ids: pd.Series) -> str | None:
    """A warning when customer ids differ only in letter case (``Bob@Example.com`` and
    ``bob@example.com``): kept apart, since ids such as Salesforce's are case-sensitive."""
    distinct = pd.Series(ids.dropna().unique(), dtype="string")
    folded = distinct.str.casefold()
    twins = distinct[folded.duplicated(keep=False)]
    if twins.empty:
        return None
    pair = twins[folded[twins.index] == folded[twins.index[0]]].tolist()[:2]
    groups = int(folded[twins.index].nunique())
    return (
        f"{groups:,} customer id(s) written in more than one letter case (e.g. {pair[0]!r} and "
        f"{pair[1]!r}) are kept as different customers (ids can be case-sensitive, e-mail "
        "addresses are not); if they are one customer, write them alike in the export"
    )


def name_twins(ids: pd.Series) -> str | None:
    """A warning when customer ids are a company's name written another way: ``Acme Ltd.``
    beside ``Acme Ltd`` (punctuation), or ``Acme Ltd, John Smith`` beside ``Acme Ltd`` (Odoo
    names an invoice's contact person after the company). An accounting export keyed by name
    splits the company's history: one id reads as churned while the other buys."""
    distinct = pd.Series(ids.dropna().unique(), dtype="string")
    known = set(distinct)
    head = distinct.str.split(", ", n=1).str[0]
    contact = distinct[distinct.str.contains(", ", regex=False) & head.isin(known)]
    bare = distinct.str.casefold().str.replace(r"[.,]", "", regex=True)
    bare = bare.str.replace(r"\s+", " ", regex=True).str.strip()
    named = distinct.str.contains(" ", regex=False).fillna(False)  # a name, not a code: 1.2
    spelled = distinct[
        named & bare.duplicated(keep=False) & ~distinct.str.casefold().duplicated(keep=False)
    ].drop(contact.index, errors="ignore")
    if contact.empty and spelled.empty:
        return None
    examples = []
    if not contact.empty:
        examples.append(f"{contact.iloc[0]!r} beside {head[contact.index[0]]!r}")
    if not spelled.empty:
        same = spelled[bare[spelled.index] == bare[spelled.index[0]]].tolist()[:2]
        examples.append(" beside ".join(repr(v) for v in same))
    return (
        f"{len(contact) + len(spelled) - bare[spelled.index].nunique():,} customer id(s) look "
        "like another id's name written "
        f"otherwise (e.g. {'; '.join(examples)}): kept as different customers, each with part "
        "of the company's purchases, so one reads as lapsing while the other buys; an accounting "
        "export keyed by name writes an invoice's contact person after the company (Odoo's "
        "'Company, Person': export the commercial entity instead) or a name typed twice; if "
        "they are one customer, write them alike in the export"
    )


#: An id with a masked run (``138****1234``, ``j***@gmail.com``): a platform's way of hiding a
#: phone number or address, which many people then share.
MASKED = r"[*＊]{3,}|^[xX]{4,}\d{2,4}$"


def masked_ids(ids: pd.Series, column: str) -> str | None:
    """A warning when customer ids are masked: different customers share ``138****1234``, so
    their purchases would be one customer's."""
    distinct = pd.Series(ids.dropna().unique(), dtype="string")
    masked = distinct[distinct.str.contains(MASKED, regex=True, na=False)]
    if masked.empty:
        return None
    return (
        f"{len(masked):,} of {len(distinct):,} customer ids in {column!r} are masked (e.g. "
        f"{masked.iloc[0]!r}): different customers share a masked phone number or address, so "
        "their purchases are read as one customer's; map an id the platform gives (a member id, "
        "a buyer nickname), or give the masked value as customers.customer_alias beside the "
        "customers file's real ids (an alias that several customers share is quarantined)"
    )


#: Ids a shop or CRM writes for "no customer": WooCommerce's ``Customer User`` is 0 on a guest
#: checkout, other exports write -1, guest, anonymous. One such id collects every guest's orders.
PLACEHOLDER_IDS = frozenset(
    {"0", "-1", "guest", "guests", "anonymous", "unknown", "none", "null", "n/a", "na", "-"}
    # a till's account for walk-in and cash sales, a business's own (internal) account
    | {"walk-in", "walkin", "walk in", "walk-in customer", "cash", "cash sale", "cash sales"}
    | {"cash customer", "counter sale", "pos", "retail customer", "internal", "house"}
    | {"house account", "laufkunde", "barverkauf", "散客", "零售客户", "现金客户"}
)
#: Rows of one placeholder id worth a warning: this share of the rows with an id, and 5 rows.
PLACEHOLDER_SHARE = 0.02


def placeholder_ids(ids: pd.Series, column: str) -> str | None:
    """A warning when many rows name a placeholder id (``0`` for WooCommerce's guest checkouts):
    read as one customer, every guest's orders are one buyer's, who never churns, and the guests
    are missing from the customer count."""
    counts = ids.dropna().value_counts()
    if counts.empty:
        return None
    folded = pd.Series(counts.index.astype(str), index=counts.index).str.strip().str.casefold()
    held = counts[folded.isin(PLACEHOLDER_IDS).to_numpy()]
    held = held[(held >= 5) & (held >= PLACEHOLDER_SHARE * counts.sum())]
    if held.empty:
        return None
    top, n = str(held.index[0]), int(held.iloc[0])
    return (
        f"{n:,} of {int(counts.sum()):,} rows ({n / counts.sum():.0%}) name the customer id "
        f"{top!r} in {column!r}, which reads as no customer (a guest checkout: WooCommerce's "
        "'Customer User' is 0 for guests; a till's walk-in or cash account; the business's own "
        "internal account): they are read as one customer's purchases; map an id "
        "every order has (e.g. the billing e-mail) as customer_id, or set them aside with "
        f"exclude: {{{column}: [{top!r}]}} in the map file"
    )


def id_rewrites(raw: pd.Series, ids: pd.Series) -> str | None:
    """How many ids were read other than written (``"13085.0"`` -> ``"13085"``, spaces)."""
    changed = raw.notna() & ids.notna() & (raw != ids)
    if not changed.any():
        return None
    first, n = changed.idxmax(), int(changed.sum())
    return (
        f"{n:,} value{'s' if n != 1 else ''} read as plain ids, e.g. {raw[first]!r} -> "
        f"{ids[first]!r} (a float column's .0, surrounding spaces, capitals of an e-mail or UUID)"
    )


_SALESFORCE_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def among(ids: pd.Series, known: set[str] | frozenset[str]) -> pd.Series:
    """``ids.isin(known)``, 3x faster: pandas' isin of Arrow-backed strings against a large set is
    slower than of objects (2M rows against 0.9M ids: 4.8 s, as objects 1.5 s)."""
    return ids.astype(object).isin(known)


def salesforce_long_id(short: str) -> str:
    """The 18-character form of a 15-character Salesforce id: three characters that encode which
    letters of each five are upper case (what reports drop and the API and Data Loader keep)."""
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, c in enumerate(short[start : start + 5]) if "A" <= c <= "Z")
        suffix += _SALESFORCE_SUFFIX[bits]
    return short + suffix


#: What a Salesforce id looks like: 15 case-sensitive characters, and the 3 of the 18-character
#: form (no other id is turned into one: the checksum must fit).
_SALESFORCE_ID = r"[A-Za-z0-9]{15}(?:[A-Z0-5]{3})?"


def salesforce_other_form(value: str) -> str | None:
    """The other form of a Salesforce id: the 18 characters of a 15, the 15 of an 18 whose
    last three fit; None for anything else."""
    if not re.fullmatch(_SALESFORCE_ID, value):
        return None
    if len(value) == 15:
        return salesforce_long_id(value)
    return value[:15] if salesforce_long_id(value[:15]) == value else None


def match_salesforce_ids(ids: pd.Series, known: set[str]) -> tuple[pd.Series, str] | None:
    """Ids of another length of Salesforce's two (a report's 15 characters beside the Data
    Export's 18, or the reverse) put in the form the customers have; None when there is none."""
    text = _unknown_text(ids, known, _SALESFORCE_ID)  # vectorised first: few are Salesforce ids
    found = text.map(salesforce_other_form).dropna()
    found = found[found.isin(known)]
    if found.empty:
        return None
    before = ids.loc[found.index[0]]
    said = (
        f"{len(found):,} Salesforce ids of {len(before)} characters matched to the customers' "
        f"{len(found.iloc[0])}-character form (e.g. {before!r} -> {found.iloc[0]!r})"
    )
    return _replaced(ids, found), said


def _unknown_text(ids: pd.Series, known: set[str], shape: str) -> pd.Series:
    """The ids that are no ``known`` customer's and have the ``shape`` (a regex), as text."""
    text = ids[ids.notna() & ~among(ids, known)].astype(str)
    return text[text.str.fullmatch(shape)]


def _replaced(ids: pd.Series, found: pd.Series) -> pd.Series:
    """``ids`` with those at ``found``'s labels replaced by its values."""
    return ids.where(~ids.index.isin(found.index), found.reindex(ids.index))


def match_leading_zeros(ids: pd.Series, known: set[str]) -> tuple[pd.Series, str] | None:
    """Digit ids that are a known customer's once leading zeros are dropped on both sides (a
    spreadsheet kept the card 000142 as the number 142 in one export) put in the form the
    customers have; None when there is none. A form two customers share is left unknown."""
    text = _unknown_text(ids, known, r"\d+")
    if text.empty:
        return None
    digits = pd.Series([k for k in known if k.isdigit()], dtype=object)
    found = _found_by_form(text, digits, lambda s: s.str.lstrip("0"))
    return _matched(
        ids,
        found,
        "ids matched a customer's id by their leading zeros",
        "a spreadsheet drops them from a number column; export ids as text",
    )


def _found_by_form(
    text: pd.Series, pool: pd.Series, form: Callable[[pd.Series], pd.Series]
) -> pd.Series:
    """Of the unknown ids ``text``, those whose ``form`` is the form of exactly one of the
    customers' ids ``pool``: that id, by the unknown id's label (``form`` may drop values)."""
    bare = form(pool)
    single = ~bare.duplicated(keep=False)
    index = pd.Series(pool.loc[bare.index[single]].to_numpy(), index=bare[single].to_numpy())
    return form(text).map(index).dropna()


def _matched(ids: pd.Series, found: pd.Series, what: str, why: str) -> tuple[pd.Series, str] | None:
    """``ids`` with the ``found`` ones replaced, and the sentence saying so; None if none."""
    if found.empty:
        return None
    before = ids.loc[found.index[0]]
    said = f"{len(found):,} {what} (e.g. {before!r} -> {found.iloc[0]!r}): {why}"
    return _replaced(ids, found), said


#: The ``+tag`` of an address's local part (``ana+course@gmail.com`` is ``ana@gmail.com``'s
#: mailbox: Gmail, Outlook, iCloud and Fastmail deliver sub-addresses to it).
_PLUS_TAG = r"\+[^@]*(?=@)"


def match_plus_tags(ids: pd.Series, known: set[str]) -> tuple[pd.Series, str] | None:
    """E-mail ids that are a known customer's once a ``+tag`` is dropped on both sides (a course
    platform's ``ana+course@gmail.com`` beside a newsletter's ``ana@gmail.com``) put in the form
    the customers have; None when there is none. A form two customers share is left unknown."""
    text = _unknown_text(ids, known, EMAIL)
    if text.empty:
        return None
    emails = pd.Series([k for k in known if "@" in k], dtype=object)
    found = _found_by_form(text, emails, lambda s: s.str.replace(_PLUS_TAG, "", regex=True))
    return _matched(
        ids,
        found,
        "e-mail ids matched a customer's address by a +tag",
        "one mailbox, written with and without a sub-address",
    )


#: A phone number as CRMs write it: ``+66 81 234 5678``, ``081-234-5678``, ``(081) 2345678``.
PHONE = r"\+?\(?\d[\d ().-]{6,22}"
#: Digits a national number keeps once its country code or trunk 0 is dropped (at least).
PHONE_MIN_DIGITS = 8
#: Pairs (country code form, national form) of one number needed to read a prefix as the code.
PHONE_CODE_PAIRS = 3


def _phone_digits(ids: pd.Series) -> pd.Series:
    """The digits of ids that look like phone numbers (``00`` international prefix dropped)."""
    text = ids.dropna().astype(str)
    text = text[text.str.fullmatch(PHONE)]
    digits = text.str.replace(r"\D", "", regex=True).str.replace(r"^00", "", regex=True)
    return digits[digits.str.len().between(PHONE_MIN_DIGITS, 15)]


def _national(digits: pd.Series, code: str | None) -> pd.Series:
    """Phone digits as the national number: the country ``code`` dropped when enough digits
    follow, then a trunk 0 (``+66 (0)81 ...``, ``0812345678``)."""
    if code:
        coded = digits.str.startswith(code) & (digits.str.len() - len(code) >= PHONE_MIN_DIGITS)
        digits = digits.mask(coded, digits.str[len(code) :])
    return digits.str.replace(r"^0(?=\d{7})", "", regex=True)


def _country_code(mine: pd.Series, theirs: pd.Series) -> str | None:
    """The prefix (1 to 3 digits, not 0) that most numbers of one side carry before a national
    number of the other (``66`` of ``66812345678`` beside ``0812345678``); None below
    :data:`PHONE_CODE_PAIRS` such pairs."""
    counts: dict[str, int] = {}
    for coded, other in ((mine, theirs), (theirs, mine)):
        bare = set(_national(other, None))
        for n in (1, 2, 3):
            hit = coded.str[n:].isin(bare) & ~coded.str.startswith("0")
            for prefix, count in coded.str[:n][hit].value_counts().items():
                counts[prefix] = counts.get(prefix, 0) + int(count)
    if not counts:
        return None
    code = max(counts, key=lambda c: counts[c])
    return code if counts[code] >= PHONE_CODE_PAIRS else None


def match_phone_numbers(ids: pd.Series, known: set[str]) -> tuple[pd.Series, str] | None:
    """Ids that are a known customer's phone number written another way (a charging system's
    ``66812345678`` beside a CRM's ``0812345678`` or ``+66 81 234 5678``; a bill's
    ``081-234-5678``) put in the form the customers have; None when there is none. The country
    code is the prefix (1 to 3 digits) that most unknown numbers carry before a customer's
    national number; a national number two customers share stays unknown."""
    text = _unknown_text(ids, known, PHONE)
    if text.empty:
        return None
    mine = _phone_digits(text)
    pool = pd.Series(list(known), dtype=object)
    theirs = _phone_digits(pool)
    if mine.empty or theirs.empty:
        return None
    code = _country_code(mine, theirs)
    found = _found_by_form(text, pool, lambda s: _national(_phone_digits(s), code))
    return _matched(
        ids,
        found,
        "ids matched a customer's phone number written another way",
        (f"country code {code}; " if code else "") + "one subscriber's number in another form",
    )


def scientific_ids(raw: pd.Series) -> str | None:
    """A warning for ids a spreadsheet turned into scientific notation (``1.3085E+4``): their
    digits may be lost, and they cannot be matched to the CRM's ids."""
    odd = raw.str.strip().str.fullmatch(r"\d(\.\d+)?[eE]\+?\d+").fillna(False)
    if not odd.any():
        return None
    return (
        f"{int(odd.sum()):,} customer ids look like a spreadsheet's scientific notation, e.g. "
        f"{raw[odd.idxmax()]!r}: kept as written; export the id column as text"
    )


#: A customers column is another id of theirs when at least this share of its values is distinct
#: (and it is filled on most rows): a CRM's record id beside a billing system's customer id.
OTHER_ID_DISTINCT = 0.9
#: A file's unknown ids are another column's when at least this share of them are its values.
OTHER_ID_SHARE = 0.8
#: At most this many such columns are kept per customers file.
OTHER_ID_COLUMNS = 12


def other_id_columns(frame: pd.DataFrame, skip: set[str]) -> dict[str, np.ndarray]:
    """The values of the columns of a customers file (but ``skip``: its id and e-mail columns)
    that could be another id of its customers, by column name, as :func:`id_hashes` (8 bytes a
    value: a set of a million customers' strings per column held ~100 MB through the ingest)."""
    found: dict[str, np.ndarray] = {}
    for name in frame.columns:
        if str(name) in skip or len(found) >= OTHER_ID_COLUMNS:
            continue
        values = frame[name].astype("string").str.strip()
        present = values[values.notna() & (values != "")]
        if len(present) < 0.5 * len(frame) or present.nunique() < OTHER_ID_DISTINCT * len(present):
            continue
        found[str(name)] = id_hashes(normalise_ids(present).dropna())
    return found


def id_hashes(ids: pd.Series) -> np.ndarray:
    """The distinct 64-bit hashes of ``ids`` (no missing values), sorted: what
    :func:`unknown_ids_of_another_column` looks ids up in."""
    return np.unique(_hashes(ids))


def _hashes(ids: pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(ids.astype("string"), index=False).to_numpy()


def _sorted_isin(hashes: np.ndarray, sorted_hashes: np.ndarray) -> np.ndarray:
    """``np.isin`` by binary search in :func:`id_hashes` (sorted already; isin sorts it again)."""
    at = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    return sorted_hashes[at] == hashes if len(sorted_hashes) else np.zeros(len(hashes), bool)


def unknown_ids_of_another_column(
    table: str, unknown: pd.Series, columns: dict[str, np.ndarray]
) -> str | None:
    """A hint when most unknown customer ids of a file are the values of another column of the
    customers file (``columns``: :func:`other_id_columns`): the file names its customers by another
    id (a help desk's company record id where the customers' id is the billing system's)."""
    distinct = pd.Series(unknown.dropna().unique(), dtype="string")
    if distinct.empty or not columns:
        return None
    hashes = _hashes(distinct)
    found = {name: _sorted_isin(hashes, values) for name, values in columns.items()}
    name = max(found, key=lambda n: found[n].mean())
    if found[name].mean() < OTHER_ID_SHARE:
        return None
    example = str(distinct[found[name]].iloc[0])
    return (
        f"{len(distinct):,} unknown customer ids of this file are values of the customers file's "
        f"column {name!r} (e.g. {example!r}), not of its id column: this {table} file names "
        f"customers by another id: map customers.customer_alias={name} (rows naming a customer by "
        "either id are then that customer's)"
    )


#: The source input (mapped for the customers file only) holding another id of each customer: a
#: CRM's record id beside the billing system's customer id the customers are keyed by. Rows of
#: other files whose id is no customer's but one's alias are that customer's.
CUSTOMER_ALIAS = "customer_alias"


#: The source input (mapped for the customers file only) naming, on a record merged into another
#: (a loyalty card replaced, a duplicate contact merged), the customer it was merged into: the
#: record is set aside and rows of other files naming it are the surviving customer's.
MERGED_INTO = "merged_into"


def merge_requests(ids: pd.Series, into: pd.Series, ok: np.ndarray) -> dict[str, str]:
    """Merged record's id -> the id it names as merged into (normalised), for each ``ok``
    record naming another."""
    target = normalise_ids(into.astype("string")).fillna("").to_numpy(dtype=object)
    own = ids.astype("string").fillna("").to_numpy(dtype=object)
    wants = ok & (target != "") & (target != own)
    return dict(zip(own[wants], target[wants], strict=True))


def resolve_merges(step: dict[str, str], survivors: set[str]) -> tuple[dict[str, str], str | None]:
    """Surviving customer id by merged record's id, following chains (A into B, B into C: both
    are C's) to one of ``survivors``; and a note naming the records whose chain ends at no
    survivor (kept as customers of their own)."""
    survivor = {}
    for old in step:
        seen, at = {old}, step[old]
        while at in step and at not in seen:  # a cycle (A into B, B into A) merges nothing
            seen.add(at)
            at = step[at]
        if at in survivors:
            survivor[old] = at
    lost = [old for old in step if old not in survivor]
    note = None
    if lost:
        note = (
            f"{len(lost):,} records are merged into a customer the customers file does not hold "
            f"as one of its own (e.g. {lost[0]!r} into {step[lost[0]]!r}): kept as customers of "
            "their own, unless another customers file given holds it"
        )
    return survivor, note


def alias_index(ids: pd.Series, aliases: pd.Series) -> tuple[pd.Series, str | None]:
    """Customer id by alias (``aliases`` as read, normalised like ids), and a note naming aliases
    several customers give (left out: matching them would be a guess)."""
    if len(ids) != len(aliases):
        raise ValueError(f"alias_index: {len(ids)} ids, {len(aliases)} aliases")
    pairs = pd.DataFrame(  # by position: the ids of the accepted rows keep their row labels
        {"alias": normalise_ids(aliases.astype("string")).to_numpy(), "id": ids.to_numpy()}
    )
    pairs = pairs.dropna().drop_duplicates()
    shared = pairs["alias"].duplicated(keep=False)
    note = None
    if shared.any():
        first = pairs.loc[shared, "alias"].iloc[0]
        note = (
            f"{pairs.loc[shared, 'alias'].nunique():,} customer_alias values belong to more than "
            f"one customer (e.g. {first!r}): rows of other files naming a customer by such a "
            "value stay unknown"
        )
    unique = pairs[~shared]
    index = pd.Series(unique["id"].to_numpy(), index=unique["alias"].to_numpy(), dtype="string")
    return index, note


def aliases_that_are_ids(aliases: pd.Series, ids: set[str]) -> str | None:
    """A note naming customer_alias values that are also another customer's id (two id systems
    numbering from 1): a row naming such a value is the customer with that id, never the alias's,
    and nothing else would say so."""
    named = among(pd.Series(aliases.index, dtype="string"), ids).to_numpy(bool)
    other = named & (aliases.index.to_numpy() != aliases.to_numpy())
    if not other.any():
        return None
    alias, owner = aliases.index[other][0], aliases[other].iloc[0]
    return (
        f"{int(other.sum()):,} customer_alias values are also the customer_id of another customer "
        f"(e.g. {alias!r}: the alias of {owner!r} and the id of customer {alias!r}): rows of other "
        "files naming such a value are matched to the customer with that id, not by the alias; "
        "if they mean the alias's customer, export them with the customers file's id"
    )


def match_aliases(ids: pd.Series, known: set[str], aliases: pd.Series) -> tuple[pd.Series, int]:
    """Ids that are no known customer's but a customer's alias, replaced by that customer's id;
    and how many rows were."""
    need = ids.notna() & ~among(ids, known)
    if not need.any() or aliases.empty:
        return ids, 0
    found = ids[need].map(aliases).dropna()
    if found.empty:
        return ids, 0
    out = ids.copy()
    out.loc[found.index] = found
    return out, len(found)
