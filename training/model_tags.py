"""Names the model registry keeps on a project's versions: the champion alias and the tags a
version's training decision is recognised by."""

from __future__ import annotations

#: Registry alias of the version serving scores.
CHAMPION = "champion"
#: Model version tag: the digest of what a version was trained on
#: (:func:`training.same_training.training_digest`).
TRAINING_DIGEST = "training_digest"
#: Model version tag: the champion version when the gate decided ("" for none).
CHAMPION_AT_DECISION = "champion_at_decision"
#: Model version tag and pair metadata key: the business zone of the data the pair was trained on
#: (``features.contract.recorded_zone``; "UTC (not recorded)" on the tag, None in the metadata,
#: for data that records none). Scoring data of another zone is refused
#: (:mod:`training.data_zones`).
DATA_ZONE = "data_zone"
