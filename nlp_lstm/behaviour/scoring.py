"""What counts as a failure, on probabilities of the positive class alone (pure: no model, no data).

As in Ribeiro et al. 2020 (section 3), a two-class model's prediction is read as three-way: a
positive-class probability in [1/3, 2/3] is neutral, below it negative, above it positive.

- mft: the three-way label must meet the template's expectation: ``positive`` and ``negative`` need
  that label, ``neutral`` needs the band, ``not negative`` is met by neutral or positive and
  ``not positive`` by neutral or negative.
- inv: the changed text must get the same three-way label as the original (so a move into or out of
  the neutral band is a failure).
- dir: ``up`` fails when the positive probability falls by more than the tolerance (0.1, as in the
  paper), ``down`` when it rises by more than it; neutral plays no part.
"""

from __future__ import annotations

import numpy as np

NEUTRAL_BAND = (1 / 3, 2 / 3)
TOLERANCE = 0.1
LABELS = np.array(["negative", "neutral", "positive"])
MET_BY = {
    "positive": {"positive"},
    "negative": {"negative"},
    "neutral": {"neutral"},
    "not negative": {"neutral", "positive"},
    "not positive": {"neutral", "negative"},
}


def three_way(p_positive: np.ndarray) -> np.ndarray:
    """'negative', 'neutral' or 'positive' for each positive-class probability."""
    p = np.asarray(p_positive, dtype=float)
    return LABELS[(p >= NEUTRAL_BAND[0]).astype(int) + (p > NEUTRAL_BAND[1]).astype(int)]


def mft_failures(p_positive: np.ndarray, expect: str) -> np.ndarray:
    return ~np.isin(three_way(p_positive), list(MET_BY[expect]))


def pair_failures(p_original: np.ndarray, p_changed: np.ndarray, expect: str) -> np.ndarray:
    """Failures of pairs (original, changed text): ``same`` (inv), ``up`` or ``down`` (dir)."""
    before, after = np.asarray(p_original, dtype=float), np.asarray(p_changed, dtype=float)
    if expect == "same":
        return three_way(before) != three_way(after)
    if expect == "up":
        return after < before - TOLERANCE
    if expect == "down":
        return after > before + TOLERANCE
    raise ValueError(f"unknown pair expectation {expect!r}")
