"""Only what changed: a fingerprint per customer over the exported fields that count.

The fingerprint hashes the record's ``in_delta`` fields (so the score date alone does not make
every customer resend). A customer is sent when its fingerprint differs from the one recorded at
the last successful export to the same target, or when it was never sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from collections.abc import Mapping as MappingType
from typing import Any

from serving.writeback.fields import Mapping


def fingerprint(record: MappingType[str, Any], mapping: Mapping) -> str:
    """SHA-256 of the canonical JSON of the record's delta fields (and the mapping's name)."""
    payload = {"mapping": mapping.name, **{c: record[c] for c in mapping.delta_columns}}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed(
    records: Iterable[dict[str, Any]],
    mapping: Mapping,
    previous: MappingType[str, str],
    *,
    full: bool = False,
) -> list[tuple[dict[str, Any], str]]:
    """``(record, fingerprint)`` of the customers to send: all with ``full``, else those whose
    fingerprint is not the one in ``previous`` (customer id -> fingerprint)."""
    key = mapping.key
    out = []
    for record in records:
        fp = fingerprint(record, mapping)
        if full or previous.get(str(record[key])) != fp:
            out.append((record, fp))
    return out
