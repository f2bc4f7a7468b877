"""A training that would repeat a decided one: same training table, config and code.

A weekly retrain inside one month's cutoffs builds the very table the week before did, and the
fit is deterministic: over a year of weekly retrains 39 of 52 registered versions were
byte-for-byte copies of an earlier one, each with its run and artifacts (~1.4 MB a week at 1,500
customers, the test predictions growing with customers), each fit paid again. When the table,
the config and the code are a decided version's, and the champion is the one that version was
decided against (or is that version), the gate would decide the same: nothing is fitted or
registered, and that version's decision stands.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from training.model_tags import CHAMPION, CHAMPION_AT_DECISION, TRAINING_DIGEST

#: Config sections that do not change the fit: where it is logged and which folder it read.
NOT_FITTED = ("tracking", "data", "project")


def code_digest() -> str:
    """Hash of the feature, training and serving code (the scoring thresholds and monitoring
    reference registered with a pair are fitted there) and of LightGBM's version: an upgrade
    that changes either fits again."""
    import lightgbm

    digest = hashlib.sha256(lightgbm.__version__.encode())
    here = Path(__file__).parent
    for package in (here.parent / "features", here, here.parent / "serving"):
        for path in sorted(package.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def training_digest(fingerprint: dict, config: dict) -> str:
    """Digest of a training: the table's ``data_fingerprint``, the config (but where it is
    logged and read from) and the code."""
    fitted = {k: v for k, v in config.items() if k not in NOT_FITTED}
    text = json.dumps({"table": fingerprint, "config": fitted}, sort_keys=True, default=str)
    return hashlib.sha256(f"{text}|{code_digest()}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Repeat:
    """The decided version a training would repeat."""

    version: str
    run_id: str | None
    reason: str
    champion: str

    def why(self) -> str:
        """The reason given for not training again."""
        if self.champion == self.version:
            return (
                f"same training table, config and code as the champion v{self.version}: "
                "not fitted or registered again; the champion stays"
            )
        return (
            f"same training table, config and code as v{self.version}, decided against the same "
            f"champion v{self.champion}: not fitted or registered again ({self.reason})"
        )


def repeated_version(tracking_uri: str, model: str, digest: str) -> Repeat | None:
    """The latest version of ``model`` trained on ``digest`` whose decision still holds: it is the
    champion, or the champion is the one it was decided against. None otherwise."""
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        versions = client.search_model_versions(f"name='{model}'")
        champion = str(client.get_model_version_by_alias(model, CHAMPION).version)
    except MlflowException:
        return None
    for v in sorted(versions, key=lambda v: -int(v.version)):
        tags = v.tags or {}
        if tags.get(TRAINING_DIGEST) != digest or "promotion" not in tags:
            continue
        if "cannot be loaded" in tags["promotion"]:  # the champion may load now: judge again
            continue
        number = str(v.version)
        if number == champion or tags.get(CHAMPION_AT_DECISION) == champion:
            return Repeat(number, v.run_id, tags["promotion"], champion)
    return None
