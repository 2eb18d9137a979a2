"""The run's wall-clock budget: `search.timeout_s` bounds the whole run, from the call to the
registered model, the way FLAML's time_budget and AutoGluon's time_limit bound a fit.

The budget counts from the moment its caller gives (`automl run` gives the moment its interpreter
began to run the command: a wrapper's set-up before an `exec` is not counted), or else from when
the data is loaded. Nothing here is global: the origin is passed down, the clock is injected
(Deadline.clock), so tests count time in steps, not seconds. The search ends early enough to leave
a reserve for what follows it: ensemble selection, the refit of the chosen pipelines (estimated
from their own CV fit times), evaluation and registration.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from automl.search._records import TrialRecord

TAIL_S = 3.0  # evaluation, plots, model logging and registration, flow teardown (measured: 2–3 s)
POST_SEARCH_S = 2.0  # the search step's end: leaderboard, Optuna plots, the feature profile's plot, ensemble selection
# A refit on all rows costs about folds/(folds-1) fold fits; the margin covers the rest, and the
# logging of a model that took long to fit (big forests pickle slowly: 7 s for one on diamonds).
REFIT_MARGIN = 1.6

@dataclass
class Deadline:
    """When the run must be done (in `clock`'s seconds), and how much of it the search must leave."""

    at: float | None  # None: no time budget (n_trials only)
    reserve_s: float = TAIL_S
    clock: Callable[[], float] = field(default=time.time, repr=False)
    tail_s: float = TAIL_S  # what follows the refit: TAIL_S, plus encoding the test rows' texts where trials may

    @classmethod
    def from_budget(cls, budget_s: float | None, origin: float | None = None,
                    clock: Callable[[], float] = time.time) -> Deadline:
        if budget_s is None:
            return cls(None, clock=clock)
        return cls((origin if origin is not None else clock()) + budget_s, clock=clock)

    def left(self) -> float:
        """Seconds until the run must be done."""
        return math.inf if self.at is None else self.at - self.clock()

    def search_left(self) -> float:
        """Seconds the search may still use."""
        return self.left() - self.reserve_s

    def allows(self, seconds: float) -> bool:
        """Whether a step expected to take `seconds` still fits into the search's time."""
        return seconds <= self.search_left()


def refit_seconds(records: list[TrialRecord], folds: int) -> float:
    """The expected time to refit these trials on all rows: each fit ≈ its mean CV fold time ×
    folds/(folds-1), times REFIT_MARGIN."""
    fits = sum(float(np.mean(r.fold_seconds)) for r in records if r.fold_seconds)
    return REFIT_MARGIN * fits * folds / (folds - 1)


def refit_reserve(records: list[TrialRecord], kept: set[int], folds: int, sign: float = 1.0,
                  members: int = 2, tail_s: float = TAIL_S) -> float:
    """Seconds the search leaves for after it: the tail (Deadline.tail_s), plus refitting the best
    `members` trials among those whose out-of-fold predictions are `kept`."""
    best = sorted((r for r in records if r.number in kept and r.value is not None),
                  key=lambda r: -sign * r.value)[:members]
    return tail_s + POST_SEARCH_S + refit_seconds(best, folds)


def shortfall(done: int, asked: int | None) -> str | None:
    """What a user is told when the time budget ended the search before its trial budget: "3 of
    40 trials: the budget ran out" (None when every trial asked for ran, or none was asked for)."""
    if asked is None or done >= asked:
        return None
    return f"{done} of {asked} trials: the budget ran out"
