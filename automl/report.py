"""The short markdown report of a run (the Prefect artifact): links, what won (by the one name the
tags and logs use), the test scores, the registration and the leaderboard; and the descriptions
MLflow shows first (the parent run's, its version's, the registered model's). Nothing is written here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl.leaderboard import markdown
from automl.secrets import redact

if TYPE_CHECKING:
    from automl.config import RunConfig
    from automl.data import Dataset
    from automl.leaderboard import Winner
    from automl.pipeline import FittedModel
    from automl.search import SearchResult
    from automl.tracking import Registration, RunRef


# MLflow 3's UI opens experiments in its GenAI view unless told otherwise (a toggle kept in the
# browser); this query opens them in its model-training view, on their runs.
MODEL_TRAINING_VIEW = "workflowType=machine_learning"


def run_url(config: RunConfig, run: RunRef) -> str:
    """The parent run in the MLflow UI (its model-training view)."""
    return (f"{config.tracking.ui_url.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"
            f"?{MODEL_TRAINING_VIEW}")


def report_markdown(config: RunConfig, run: RunRef, result: SearchResult, model: FittedModel,
                    registration: Registration, metric: str) -> str:
    """What won and why, the test scores, the registration and the leaderboard."""
    won = model.winner
    tests = ", ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in model.test_metrics.items())
    states = {s: sum(r.state == s for r in result.records) for s in ("COMPLETE", "PRUNED", "FAIL")}
    return f"""# {config.name}: {won.name}, CV {metric} {won.cv_score:.4f} (out of fold)

- MLflow parent run: [{run.run_name}]({run_url(config, run)}) (`{run.run_id}`)
- Final model: {won.name}; test {tests}
- Registered `{registration.name}` v{registration.version}; champion {registration.reason}
- Optuna study `{result.study_name}` in `{redact(config.tracking.optuna_storage)}`; {len(result.records)} trials
  ({states['COMPLETE']} complete, {states['PRUNED']} pruned, {states['FAIL']} failed)

## Leaderboard

{markdown(model.board, metric)}
"""


def search_story(result: SearchResult, won: Winner, metric: str) -> str:
    """The search in two lines: what won out of fold against the best single trial; the trials."""
    states = {s: sum(r.state == s for r in result.records) for s in ("COMPLETE", "PRUNED", "FAIL")}
    best = result.best
    versus = ("" if won.name == f"{best.family}#{best.number}"
              else f" (the best single trial, {best.family}#{best.number}: {best.value:.4f})")
    return (f"**{won.name}** won: {metric} {won.cv_score:.4f} out of fold{versus}.\n\n"
            f"{len(result.records)} trials: {states['COMPLETE']} complete, {states['PRUNED']} pruned, "
            f"{states['FAIL']} failed.")


def run_description(story: str, test_score: float, metric: str, test_rows: int, registration: Registration) -> str:
    """The parent run's description (the first thing its MLflow page shows), and its version's."""
    verdict, _, why = registration.reason.partition(": ")
    return (f"{story}\n\nTest {metric} {test_score:.4f} on {test_rows} rows. Registered as "
            f"`{registration.name}` v{registration.version}: **champion {verdict}**, {why}.")


def model_description(dataset: Dataset, policy: str) -> str:
    """The registered model's description: what it predicts, from which table, how its champion moves."""
    rule = {"if_not_worse": "at least as good out of fold (same config) and not worse on the test rows beyond "
                            "their noise (a paired bootstrap, 95 %)",
            "if_better": "a better test score than the champion's", "always": "every new version",
            "never": "set by hand only"}[policy]
    return (f"Predicts `{dataset.y.name}` ({dataset.task}, {dataset.metric}) from {dataset.X.shape[1]} columns of "
            f"`{dataset.name}`. The `champion` alias moves to a new version when: {rule}.")


def run_title(won: Winner | None, registration: Registration) -> str:
    """The parent run's name once registered, after its start time: `blend×3 0.9901 kept` (the
    winner in short, its out-of-fold score, the champion's verdict; a model registered without a
    search: its version)."""
    verdict = "moved" if registration.moved_alias else "kept"
    if won is None:
        return f"v{registration.version} {verdict}"
    short = f"blend×{len(won.weights)}" if won.is_blend else won.name
    return f"{short} {won.cv_score:.4f} {verdict}"
