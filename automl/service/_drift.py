"""Drift measures between a reference profile and a batch, from counts (so a batch read in chunks
adds its counts up): the population stability index (PSI) on shared bins or levels, the
Jensen–Shannon distance on level frequencies, missing rates and the share of unseen levels.

PSI = Σ (batch share − reference share) · ln(batch share / reference share), each share floored at
SHARE_FLOOR so an empty bin reads as a large (not an infinite) shift. The usual reading: below 0.1
stable, 0.1–0.2 a moderate shift, above 0.2 a significant one (monitor.psi_threshold).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.spatial.distance import jensenshannon

SHARE_FLOOR = 1e-4
UNSEEN = "(unseen)"


def psi(reference: np.ndarray, batch: np.ndarray) -> float:
    expected = np.maximum(np.asarray(reference, dtype=float), SHARE_FLOOR)
    actual = np.maximum(np.asarray(batch, dtype=float), SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def shares(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total else counts


def quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """The inner edges of `bins` quantile bins of the values (repeated quantiles merged)."""
    values = values[~np.isnan(values)]
    if not len(values):
        return []
    return [float(e) for e in np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))]


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts of the non-missing values in the bins (−inf, e1], (e1, e2], …, (ek, inf)."""
    values = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(np.asarray(edges), values, side="left"), minlength=len(edges) + 1)


class ColumnCounts:
    """One column's counts over a batch: bins (numbers) or levels (categories), and missing values."""

    def __init__(self, profile: dict):
        self.profile = profile
        self.numeric = "edges" in profile
        self.bins = np.zeros(len(profile.get("edges", [])) + 1, dtype=np.int64)
        self.levels: Counter = Counter()
        self.missing = self.rows = 0

    def add(self, values) -> None:
        self.rows += len(values)
        if self.numeric:
            numbers = np.asarray(values, dtype=float)
            self.missing += int(np.isnan(numbers).sum())
            self.bins += bin_counts(numbers, self.profile["edges"])
            return
        missing = values.isna().to_numpy()
        self.missing += int(missing.sum())
        self.levels.update(values[~missing].astype(str))

    def measures(self) -> dict[str, float]:
        """psi (and for categories js and unseen_share), missing_rate and its change."""
        missing_rate = self.missing / self.rows if self.rows else 0.0
        out = {"missing_rate": missing_rate, "missing_change": missing_rate - self.profile["missing_rate"]}
        if self.numeric:
            return {"psi": psi(self.profile["shares"], shares(self.bins)), **out}
        known = self.profile["levels"]
        batch = shares([*(self.levels.get(level, 0) for level in known),
                        sum(n for level, n in self.levels.items() if level not in known)])
        reference = np.asarray([*known.values(), 0.0])
        return {"psi": psi(reference, batch),
                "js": float(jensenshannon(reference, batch, base=2)) if batch.sum() else 0.0,
                "unseen_share": float(batch[-1]), **out}

    def batch_shares(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(labels, reference shares, batch shares) for a plot."""
        if self.numeric:
            edges = self.profile["edges"]
            labels = [f"≤{edges[0]:.3g}"] + [f"{a:.3g}–{b:.3g}" for a, b in zip(edges, edges[1:])] \
                + [f">{edges[-1]:.3g}"] \
                if edges else ["all"]
            return labels, np.asarray(self.profile["shares"]), shares(self.bins)
        known = self.profile["levels"]
        batch = shares([*(self.levels.get(level, 0) for level in known),
                        sum(n for level, n in self.levels.items() if level not in known)])
        return [*known, UNSEEN], np.asarray([*known.values(), 0.0]), batch
