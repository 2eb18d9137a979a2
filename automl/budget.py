"""The run's wall-clock budget: `search.timeout_s` bounds the whole run, from the call to the
registered model, the way FLAML's time_budget and AutoGluon's time_limit bound a fit.

The clock starts when `automl run` is called (start_clock), or else when the data is loaded. The
search ends early enough to leave a reserve for what follows it: ensemble selection, the refit of
the chosen pipelines (estimated from their own CV fit times), evaluation and registration.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

TAIL_S = 3.0  # evaluation, plots, model logging and registration, flow teardown (measured: 2–3 s)
POST_SEARCH_S = 1.5  # the search step's own end: leaderboard, Optuna plots, ensemble selection
# A refit on all rows costs about folds/(folds-1) fold fits; the margin covers the rest, and the
# logging of a model that took long to fit (big forests pickle slowly: 7 s for one on diamonds).
REFIT_MARGIN = 1.6

_origin: float | None = None


def start_clock() -> None:
    """Start the budget's clock now (the CLI calls this before Prefect starts its server)."""
    global _origin
    _origin = time.monotonic()


def take_clock() -> float:
    """When the budget started: the started clock (used once), else now."""
    global _origin
    origin, _origin = (_origin if _origin is not None else time.monotonic()), None
    return origin


@dataclass
class Deadline:
    """When the run must be done (time.monotonic), and how much of it the search must leave."""

    at: float | None  # None: no time budget (n_trials only)
    reserve_s: float = TAIL_S

    @classmethod
    def from_budget(cls, budget_s: float | None, origin: float | None = None) -> Deadline:
        if budget_s is None:
            return cls(None)
        return cls((origin if origin is not None else time.monotonic()) + budget_s)

    def left(self) -> float:
        """Seconds until the run must be done."""
        return math.inf if self.at is None else self.at - time.monotonic()

    def search_left(self) -> float:
        """Seconds the search may still use."""
        return self.left() - self.reserve_s

    def allows(self, seconds: float) -> bool:
        """Whether a step expected to take `seconds` still fits into the search's time."""
        return seconds <= self.search_left()
