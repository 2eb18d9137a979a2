"""Fewer rows for a first trial the budget could not otherwise hold: the time-aware first fit.

With no completed trial there is no model yet, so the first trial runs to its end whatever the
deadline says. On a large table that end can lie past the budget (a 26-class table of 15,000
rows: one default boosting trial took 37 s of a 60-s budget, and its refit 20 s more). So, as
AutoGluon fits its first model to the time it has, the first trial is timed on two small samples of
rows first (the probes); when its folds and its refit, projected from them, would take more
than FIRST_SHARE of the time the search has, it trains on the fraction of rows that fits. The
sample is stratified and seeded, and the refit draws it the same way (RowSample). The trial still
predicts every held-out row, so its out-of-fold predictions are whole and its score stands beside
the others' (a little pessimistic, as fewer rows are).

Each later family's first trial is fitted the same way, to FAMILY_SHARE of the time the search has
left: on a 24,000-row table at 60 s, the default extra trees, random forest and MLP took 41 s of a
43-s search between them (each 10-20 s, none the best), while a boosting trial took 1 s. A family
first shows what it is worth on the rows the budget affords; the sampler then chooses among them.
"""

from __future__ import annotations

# RowSample is pickled into the registered model: it lives outside automl.search (whose package
# imports Optuna and filelock, which a served model does not require), re-exported here.
from automl.row_sample import RowSample, sample_rows  # noqa: F401

PROBE_ROWS = 1000  # the larger probe's rows (the other has half); tables under twice this are not probed
FIRST_SHARE = 0.5  # of the time the search has, what the first trial (folds and refit) may take
FAMILY_SHARE = 0.15  # of the time the search has left, what a later family's first trial may take


def first_fit_fraction(probes: list[tuple[int, float]], fold_rows: int, folds: int, refit_factor: float,
                       available_s: float, share: float = FIRST_SHARE) -> float:
    """The fraction of rows on which a trial's `folds` fits and its refit take at most `share` of
    `available_s`. A fit's time is modelled as fixed + per-row, from two probes ((rows, seconds),
    the second on twice the rows of the first): boosting with many classes spends most of a small
    fit on its fixed part, so a line through the origin would guess a fold 3× too long. The per-row
    part is taken as at least a tenth of the larger probe's time per row (probes are noisy).
    `refit_factor` is the refit's cost in folds (its rows are folds/(folds-1) times a fold's).
    Never below the larger probe's own fraction: a model is needed, and that much fitted."""
    (n1, t1), (n2, t2) = probes
    per_row = max((t2 - t1) / (n2 - n1), 0.1 * t2 / n2)
    fixed = max(t2 - per_row * n2, 0.0)
    rows_cost = per_row * fold_rows * (folds + refit_factor * folds / (folds - 1))
    fraction = (share * max(available_s, 0.0) - fixed * (folds + refit_factor)) / rows_cost
    return float(min(1.0, max(fraction, n2 / fold_rows)))
