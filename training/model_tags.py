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
