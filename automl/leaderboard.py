"""What won, told one way: the Winner (one name for the final model, used in tags, params, logs and
the report) and the leaderboard (as AutoGluon's `leaderboard()`): the final model first, then each
family's best trial and the top trials, each with its score out of fold, fit time and predict time
per 1,000 rows; the blend's row names its members and weights. Plain functions of finished results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from automl.ensemble import FinalModel
from automl.search import SearchResult, TrialRecord

TOP_TRIALS = 10
COLUMNS = ["model", "cv_score", "test_score", "gap_to_best_trial", "gap_to_champion", "fit_s",
           "predict_ms_per_1k_rows", "kind", "family", "trial", "cv_std", "weight", "members", "k", "score_func",
           "params"]  # what a narrow viewer shows first: the name, the figures
DIGITS = 4  # the scores and gaps, as shown


@dataclass(frozen=True)
class Winner:
    name: str  # "blend(extra_trees#32×2, linear#4)" or "extra_trees#32"
    family: str  # "blend", or the single pipeline's family
    cv_score: float  # out of fold: the blend's, or the trial's mean over its folds
    weights: dict[int, float]  # trial number → its share of the final model (1.0 for a single pipeline)

    @property
    def is_blend(self) -> bool:
        return self.family == "blend"


def trial_name(record: TrialRecord) -> str:
    return f"{record.family}#{record.number}"


def winner(result: SearchResult, final: FinalModel) -> Winner:
    """The final model's name, family, out-of-fold score and members."""
    records = {r.number: r for r in result.records}
    if final.kind == "ensemble":
        chosen = final.selection.weights
        total = sum(chosen.values())
        parts = [trial_name(records[n]) + (f"×{w}" if w > 1 else "") for n, w in chosen.items()]
        return Winner(f"blend({', '.join(parts)})", "blend", final.selection.score,
                      {n: w / total for n, w in chosen.items()})
    best = result.best
    return Winner(trial_name(best), best.family, best.value, {best.number: 1.0})


def _trial_row(record: TrialRecord, kind: str, weights: dict[int, float]) -> dict:
    return {"model": trial_name(record), "kind": kind, "family": record.family, "trial": record.number,
            "cv_score": record.value, "cv_std": float(np.std(record.fold_scores)) if record.fold_scores else None,
            "fit_s": record.fit_seconds, "predict_ms_per_1k_rows": record.predict_ms_per_1k,
            "weight": weights.get(record.number), "members": None, "k": record.params.get("k"),
            "score_func": record.params.get("score_func"), "params": record.params.get("model")}


def leaderboard(result: SearchResult, won: Winner, fit_s: float, predict_ms_per_1k: float,
                top: int = TOP_TRIALS) -> pd.DataFrame:
    """The final model (fit_s: its refit on every training row; predict time measured on the test
    split), then each family's best and the best `top` complete trials, by score out of fold
    (fit_s: one CV fold's fit)."""
    complete = sorted((r for r in result.records if r.state == "COMPLETE"),
                      key=lambda r: (-result.sign * r.value, r.number))
    family_best = {}
    for record in complete:
        family_best.setdefault(record.family, record.number)
    records = {r.number: r for r in result.records}
    members = ", ".join(f"{trial_name(records[n])} {w:.2f}" for n, w in won.weights.items())
    timings = {"fit_s": fit_s, "predict_ms_per_1k_rows": predict_ms_per_1k, "weight": None}
    if won.is_blend:
        final = {"model": won.name, "kind": "final", "family": "blend", "cv_score": won.cv_score, "members": members}
    else:  # the single pipeline's own trial row, with the refit's timings
        final = _trial_row(records[next(iter(won.weights))], "final", won.weights)
    rows = [{**final, **timings}]
    shown = set(family_best.values()) | {r.number for r in complete[:top]}
    rows += [_trial_row(r, "family best" if family_best[r.family] == r.number else "trial", won.weights)
             for r in complete if r.number in shown]
    board = pd.DataFrame(rows, columns=COLUMNS)
    board["trial"] = board["trial"].astype("Int64")
    board["k"] = board["k"].astype("Int64")
    return board


@dataclass(frozen=True)
class Champion:
    """The current champion's version and the scores recorded on it (what a new model is weighed against)."""

    version: str
    cv_score: float | None
    test_score: float | None


def with_test_scores(board: pd.DataFrame, test_score: float, sign: float, champion: Champion | None) -> pd.DataFrame:
    """The leaderboard as the comparison table: the final model's test score, its gaps out of fold
    to the best single trial and to the current champion (positive: the final model is better,
    whichever way the metric goes), the champion's row after it; scores rounded to DIGITS."""
    board = board.copy()
    board.loc[0, "test_score"] = test_score
    trials = board.loc[board["kind"] != "final", "cv_score"]
    if len(trials):
        best = trials.max() if sign > 0 else trials.min()
        board.loc[0, "gap_to_best_trial"] = sign * (board.loc[0, "cv_score"] - best)
    if champion is not None:
        if champion.cv_score is not None:
            board.loc[0, "gap_to_champion"] = sign * (board.loc[0, "cv_score"] - champion.cv_score)
        row = {"model": f"champion v{champion.version}", "kind": "current champion", "cv_score": champion.cv_score,
               "test_score": champion.test_score}
        board = pd.concat([board.iloc[:1], pd.DataFrame([row]), board.iloc[1:]], ignore_index=True)[COLUMNS]
    scores = ["cv_score", "test_score", "gap_to_best_trial", "gap_to_champion", "cv_std"]
    board[scores] = board[scores].astype(float).round(DIGITS)
    for column in ("trial", "k"):
        board[column] = board[column].astype("Int64")
    return board


def markdown(board: pd.DataFrame, metric: str) -> str:
    """The leaderboard as a markdown table (the Prefect report)."""
    def number(value, digits: int) -> str:
        return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"

    lines = [f"| model | kind | CV {metric} (out of fold) | test {metric} | gap to best trial | gap to champion | "
             "fit s | predict ms / 1k rows | weight / members |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in board.itertuples():
        share = row.members if isinstance(row.members, str) else number(row.weight, 2)
        lines.append(f"| {row.model} | {row.kind} | {number(row.cv_score, 4)} | {number(row.test_score, 4)} | "
                     f"{number(row.gap_to_best_trial, 4)} | {number(row.gap_to_champion, 4)} | "
                     f"{number(row.fit_s, 2)} | {number(row.predict_ms_per_1k_rows, 1)} | {share} |")
    return "\n".join(lines)
