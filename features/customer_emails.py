"""Customers found by e-mail address: exports of other tools than the CRM (a newsletter tool's
opens, a help desk's tickets, a shop's orders) name the customer by e-mail, not by the CRM's id.

Map the customers file's e-mail column (``customers.customer_email=Email``) and the other file's
(``events.customer_email=Email Address``): each row whose ``customer_id`` is not given takes the
id of the customer with that e-mail. Addresses are compared without surrounding spaces and letter
case (``Ana@Example.com `` is ``ana@example.com``). A row whose address no accepted customer has,
or more than one customer has, is quarantined with that reason. The addresses are used to match
only: the contract tables do not keep them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

#: The source input (mapped like a contract column) holding a customer's e-mail address.
CUSTOMER_EMAIL = "customer_email"
#: An e-mail address, once stripped: something@domain.tld, no spaces.
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s.]+"
#: Share of a column's filled values that must look like addresses for it to be taken as e-mails.
EMAIL_COLUMN_SHARE = 0.8
NO_SUCH_EMAIL = "no customer with this e-mail"
SHARED_EMAIL = "e-mail of several customers"
MISSING_BOTH = "missing customer_id and customer_email"
NOT_AN_EMAIL = "customer_email is not an e-mail address"
QUARANTINED_EMAIL = "e-mail of a customer quarantined in the customers file"
#: A mail client's or help desk's ``Ana Silva <ana@example.com>`` and a ``mailto:`` link: the
#: address is the part inside.
WRAPPED = r"^(?:[^<>]*<\s*(?:mailto:)?([^<>]*?)\s*>|mailto:(.*))$"


def folded(values: pd.Series) -> pd.Series:
    """Addresses as compared: stripped and case-folded (``JÜRGEN.GROSSMANN@X.NL`` is
    ``Jürgen.Großmann@x.nl``; the address inside a display name's ``<...>`` or a ``mailto:``);
    anything else (or empty) is NA."""
    text = values.astype("string").str.strip().str.casefold()
    wrapped = (text.str.contains("<", regex=False) | text.str.startswith("mailto:")).fillna(False)
    if wrapped.any():
        inner = text[wrapped].str.extract(WRAPPED)
        text = text.copy()
        text[wrapped] = inner[0].fillna(inner[1]).fillna(text[wrapped])
    return text.where(text.str.fullmatch(EMAIL).fillna(False).astype(bool), pd.NA)


def is_email(values: pd.Series) -> pd.Series:
    """Whether each (stripped) value is an e-mail address; NA is not."""
    return values.astype("string").str.strip().str.fullmatch(EMAIL).fillna(False).astype(bool)


def email_column(frame: pd.DataFrame, skip: set[str]) -> str | None:
    """The column of ``frame`` (other than ``skip``) that holds e-mail addresses, if exactly one
    has them in at least :data:`EMAIL_COLUMN_SHARE` of its filled values."""
    found = []
    for column in frame.columns:
        if column in skip:
            continue
        filled = frame[column].dropna()
        filled = filled[filled.astype("string").str.strip() != ""]
        if len(filled) and is_email(filled).mean() >= EMAIL_COLUMN_SHARE:
            found.append(str(column))
    return found[0] if len(found) == 1 else None


def _ids_per_address(ids: pd.Series, emails: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """The distinct (folded address, id) pairs, and how many ids give each address."""
    pairs = pd.DataFrame({"email": folded(emails), "id": ids}).dropna().drop_duplicates()
    return pairs, pairs["email"].value_counts()


def shared_address_note(ids: pd.Series, emails: pd.Series, column: str) -> str | None:
    """A warning naming addresses that several customer ids of a customers file give, when the
    address column is not mapped (mapped, :meth:`EmailIndex.shared_note` says it): a salon's or a
    clinic's second profile of one client made at the desk splits their visits and spend between
    two customers, the older one read as lapsed."""
    _, counts = _ids_per_address(ids, emails)
    shared = counts[counts > 1]
    if shared.empty:
        return None
    return (
        f"{len(shared):,} e-mail address(es) in {column!r} belong to more than one customer id "
        f"({int(shared.sum()):,} ids, e.g. {min(shared.index)!r}): two profiles of one person "
        "split their purchases, each reads as less loyal and the older one as lapsed; merge them "
        "in the CRM or name the survivor with customers.merged_into (a family's shared address "
        "is no duplicate)"
    )


#: A record signed up this many days around another record's end, under the same address, is
#: read as the same person's new account (a move, a new contract), not a new customer.
MOVE_DAYS = 60


def moved_note(
    ids: pd.Series, emails: pd.Series, signup: pd.Series, ended: pd.Series, column: str
) -> str | None:
    """A warning naming ended customers whose address a customer signed up around their end
    gives (within :data:`MOVE_DAYS`): a broadband or utility customer who moved house, a member
    who re-joined under a new record, reads as churned while they stay."""
    rows = pd.DataFrame(
        {
            "email": folded(emails).to_numpy(),
            "id": ids.to_numpy(),
            "signup": signup.to_numpy(),
            "ended": ended.to_numpy(),
        }
    ).dropna(subset=["email", "id"])
    gone = rows.dropna(subset=["ended"])
    if gone.empty:
        return None
    pairs = gone.merge(rows, on="email", suffixes=("", "_new"))
    days = (pairs["signup_new"] - pairs["ended"]).dt.days.abs()
    moved = pairs[(pairs["id_new"] != pairs["id"]) & (days <= MOVE_DAYS)]
    if moved.empty:
        return None
    first = moved.sort_values("id").iloc[0]
    return (
        f"{moved['id'].nunique():,} ended customers share their address in {column!r} with a "
        f"customer who signed up within {MOVE_DAYS} days of their end (e.g. {first['id']!r} and "
        f"{first['id_new']!r}): a move or a new account of the same person? Each end reads as "
        "churn; where it is one person, name the new record in the old one's "
        "customers.merged_into column (its history then continues under the new id)"
    )


#: Domains of booking platforms' and marketplaces' relay addresses: a new one per booking or
#: order, forwarded to the guest, so one person is a new address (and profile) each time.
RELAY_DOMAINS = (
    "guest.booking.com",
    "m.expediapartnercentral.com",
    "guest.airbnb.com",
    "agoda-messaging.com",
    "marketplace.amazon.com",
    "marketplace.amazon.de",
    "marketplace.amazon.co.uk",
    "members.ebay.com",
)


def relay_note(emails: pd.Series, column: str) -> str | None:
    """A warning when customers' addresses are booking platforms' or marketplaces' relay
    addresses (``RELAY_DOMAINS``), which change per booking: a repeat guest is split."""
    domain = folded(emails).dropna().str.rsplit("@", n=1).str[-1]
    relayed = domain[domain.isin(RELAY_DOMAINS)]
    if relayed.empty:
        return None
    top = relayed.value_counts()
    return (
        f"{len(relayed):,} customers' addresses in {column!r} are relay addresses of booking "
        f"platforms or marketplaces ({', '.join(f'@{d} {n:,}' for d, n in top.items())}), which "
        "change with each booking: a guest who books twice that way is two customers here, and a "
        "repeat guest reads as two one-time ones. Where the export holds what stays the same (a "
        "loyalty number, a guest profile id the property keeps), map it as "
        "customers.customer_alias, or name the surviving profile in customers.merged_into"
    )


@dataclass(frozen=True)
class EmailIndex:
    """Accepted customers by folded e-mail address."""

    ids: dict[str, str]
    #: addresses two or more customers give: matching one of them would be a guess
    shared: frozenset[str]
    #: the customers file's e-mail column, for the report
    column: str
    #: addresses of the customers file's quarantined rows that no accepted customer has
    quarantined: frozenset[str] = frozenset()

    @classmethod
    def of(cls, customers: pd.DataFrame, column: str) -> EmailIndex:
        """From accepted customers holding a ``customer_email`` column beside ``customer_id``."""
        pairs, counts = _ids_per_address(customers["customer_id"], customers[CUSTOMER_EMAIL])
        shared = frozenset(counts.index[counts > 1])
        unique = pairs[~pairs["email"].isin(shared)]
        return cls(dict(zip(unique["email"], unique["id"], strict=True)), shared, column)

    def with_merged(self, emails: pd.Series, survivors: pd.Series) -> EmailIndex:
        """With the addresses of records merged into another (``emails``, folded, beside each
        record's ``survivors``) as their survivor's: a B2B CRM's contacts, each with an address
        of their own, merged into the account that buys (``merged_into`` its id) bring their
        newsletter opens to that account. An accepted customer's own address keeps its
        customer; one that records of different survivors give is shared."""
        pairs = pd.DataFrame({"email": emails.to_numpy(), "id": survivors.to_numpy()}).dropna()
        pairs = pairs[~pairs["email"].isin(self.ids.keys() | self.shared)].drop_duplicates()
        owners = pairs.groupby("email")["id"].nunique()
        unique = pairs[pairs["email"].isin(owners.index[owners == 1])]
        ids = {**self.ids, **dict(zip(unique["email"], unique["id"], strict=True))}
        shared = self.shared | frozenset(owners.index[owners > 1])
        return replace(self, ids=ids, shared=shared, quarantined=self.quarantined - ids.keys())

    def shared_note(self) -> str | None:
        """A warning naming addresses that several customers give, if any."""
        if not self.shared:
            return None
        return (
            f"{len(self.shared):,} e-mail address(es) in {self.column!r} belong to more than one "
            f"customer (e.g. {min(self.shared)!r}): rows of other files naming a customer by such "
            "an address are quarantined"
        )

    def match(
        self, ids: pd.Series, emails: pd.Series, known: set[str]
    ) -> tuple[pd.Series, pd.Series, int, str | None]:
        """Each row's customer: its id where that names a known customer, else the customer of its
        e-mail. Return the ids, each row's reason for a quarantine (NA where none is due here: an
        unknown id without an e-mail is left to the unknown-id check), how many rows were found
        by e-mail, and a warning when ids and addresses name different customers."""
        address = folded(emails)
        by_email = address.map(self.ids).astype("string")
        need = ids.isna() | ~ids.astype(object).isin(known)  # as customer_ids.among: faster
        found = need & by_email.notna()
        reason = pd.Series(pd.NA, index=ids.index, dtype="object")
        filled = (emails.astype("string").str.strip().fillna("") != "").to_numpy(bool)
        reason[ids.isna() & address.isna()] = MISSING_BOTH
        reason[ids.isna() & address.isna() & filled] = NOT_AN_EMAIL
        reason[need & address.notna() & by_email.isna()] = NO_SUCH_EMAIL
        reason[need & address.isin(self.quarantined) & by_email.isna()] = QUARANTINED_EMAIL
        reason[need & address.isin(self.shared)] = SHARED_EMAIL
        return ids.where(~found, by_email), reason, int(found.sum()), _disagree(ids, by_email, need)


def _disagree(ids: pd.Series, by_email: pd.Series, need: pd.Series) -> str | None:
    """A warning counting rows whose id and address name different customers: the id was kept
    where it is a customer's, the address's customer taken where the id is unknown (a shop's
    own customer numbers beside the CRM's ids would go to the wrong customers unseen)."""
    both = ids.notna() & by_email.notna() & (ids != by_email).fillna(False)
    kept, moved = int((both & ~need).sum()), int((both & need).sum())
    if not kept and not moved:
        return None
    first = both.to_numpy(bool).argmax()
    return (
        f"{kept + moved:,} rows name one customer by id and another by e-mail (e.g. id "
        f"{ids.iloc[first]!r}, e-mail of {by_email.iloc[first]!r}): {kept:,} kept their id (a "
        f"customer), {moved:,} with an unknown id went to the e-mail's customer; if the ids are "
        "another system's, map customer_email only"
    )


def unknown_ids_are_emails(
    table: str,
    unknown: pd.Series,
    id_column: str | None,
    customers_email: str | None,
    known_ids: pd.Series | None = None,
) -> str | None:
    """A hint when most unknown customer ids of a file are e-mail addresses: the file names its
    customers by e-mail while the customers file has other ids; or, when the customers file's
    ids (``known_ids``, a sample) are e-mail addresses too, it does not list these buyers."""
    if unknown.empty or is_email(unknown).mean() < EMAIL_COLUMN_SHARE:
        return None
    if known_ids is not None and len(known_ids) and is_email(known_ids).mean() >= 0.5:
        return (
            f"{len(unknown):,} customer ids are e-mail addresses the customers file does not "
            f"list (e.g. {unknown.iloc[0]!r}), while its own ids are e-mail addresses too: "
            "buyers without an account there (guest checkouts, another store's customers); "
            "their rows are quarantined; to keep them, add them to the customers file or "
            "ingest without --customers (customers are then derived from the orders)"
        )
    source = id_column or "<this file's e-mail column>"
    return (
        f"{len(unknown):,} unknown customer ids are e-mail addresses (e.g. {unknown.iloc[0]!r}): "
        "to find these customers by the customers file's e-mail column, map both: "
        f'--map "customers.customer_email={customers_email or "<its e-mail column>"},'
        f'{table}.customer_email={source}"'
    )
