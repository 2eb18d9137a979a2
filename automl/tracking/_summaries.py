"""What the parent run shows of the search and of the final model: the trials' table, the search's
figures, the best single trial, the tracking overhead; what won and why. The values come from
automl.search, automl.ensemble and automl.leaderboard (named here for types only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from automl.tracking._runs import RunLog
from automl.tracking._trials import TrialRuns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from automl.ensemble import FinalModel
    from automl.leaderboard import Winner
    from automl.search import SearchResult


def log_search(log: RunLog, result: SearchResult, runs: TrialRuns, seconds: float, pack: int,
               figures: Iterable[tuple[str, Figure]]) -> None:
    """Every trial's row, the search's figures (name, figure), the best single trial and the
    tracking overhead on the parent run (what won is logged after the refit: log_winner)."""
    board = result.trial_table()
    log.log_table(board, "search/trials.csv")
    for name, figure in figures:
        log.log_figure(figure, f"search/{name}.png")
    states = board["state"].value_counts().to_dict()
    best = result.best
    log.log(params={"best_trial": {"number": best.number, **best.params}, "pack_size": pack,
                    "cv_folds_used": result.folds},
            metrics={"best_trial_cv_score": result.best_value, "search_seconds": seconds, "n_trials": len(board),
                     **{f"n_trials_{k.lower()}": v for k, v in states.items()},
                     "tracking_seconds_per_trial": runs.seconds_writing / max(runs.count, 1),
                     "tracking_seconds_waited": runs.seconds_waited,
                     "tracking_overhead": runs.seconds_waited / seconds if seconds else 0.0})


def log_winner(log: RunLog, final: FinalModel, won: Winner) -> None:
    """What won, by one name (tag and param `winner`), why, and what ensemble selection found."""
    metrics = {"winner_cv_score": won.cv_score}
    params = {"final_model": final.kind, "winner": won.name}
    if final.selection is not None:
        sel = final.selection
        metrics.update(ensemble_oof_score=sel.score, best_single_oof_score=sel.best_single_score,
                       ensemble_size=len(sel.weights))
        if sel.log_loss is not None:  # the tie-breaker for label metrics
            metrics.update(ensemble_oof_log_loss=sel.log_loss, best_single_oof_log_loss=sel.best_single_log_loss)
    if won.is_blend:
        params["ensemble_weights"] = ", ".join(f"trial {n} {w:.2f}" for n, w in won.weights.items())
    log.log(params=params, metrics=metrics,
            tags={"winner": won.name, "winner_family": won.family, "final_model_reason": final.reason})
