"""The short markdown report of a run (the Prefect artifact): links, what won (by the one name the
tags and logs use), the test scores, the registration and the leaderboard. Nothing is written here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl.leaderboard import markdown
from automl.secrets import redact

if TYPE_CHECKING:
    from automl.config import RunConfig
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
    champion = "moved" if registration.moved_alias else "kept"
    states = {s: sum(r.state == s for r in result.records) for s in ("COMPLETE", "PRUNED", "FAIL")}
    return f"""# {config.name}: {won.name}, CV {metric} {won.cv_score:.4f} (out of fold)

- MLflow parent run: [{run.run_name}]({run_url(config, run)}) (`{run.run_id}`)
- Final model: {won.name}; test {tests}
- Registered `{registration.name}` v{registration.version}; champion {champion}: {registration.reason}
- Optuna study `{result.study_name}` in `{redact(config.tracking.optuna_storage)}`; {len(result.records)} trials
  ({states['COMPLETE']} complete, {states['PRUNED']} pruned, {states['FAIL']} failed)

## Leaderboard

{markdown(model.board, metric)}
"""
