"""What a run shows people: the search's plots for MLflow and the short markdown report (the
Prefect artifact). Plain functions of finished results; nothing here writes anywhere."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Iterator

import optuna

from automl.secrets import redact

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

    from automl.config import RunConfig
    from automl.search import SearchResult
    from automl.tracking import Registration, RunRef


def search_figures(result: SearchResult) -> Iterator[tuple[str, plt.Figure]]:
    """Optimisation history and parameter importances (skipped when too few trials completed)."""
    from optuna.visualization import matplotlib as optuna_plots

    study = result.study()
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    figures = [("optimization_history", lambda: optuna_plots.plot_optimization_history(study))]
    if len(completed) >= 3:
        figures.append(("param_importances", lambda: optuna_plots.plot_param_importances(study)))
    for name, draw in figures:
        try:
            with warnings.catch_warnings():  # "some regimes have less than 2 trials" on short searches
                warnings.simplefilter("ignore")
                axes = draw()
        except (ValueError, RuntimeError):  # e.g. importances with no varying parameter
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(9, 5)
        figure.tight_layout()
        yield name, figure


def run_url(config: RunConfig, run: RunRef) -> str:
    """The parent run in the MLflow UI."""
    return f"{config.tracking.ui_url.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def report_markdown(config: RunConfig, run: RunRef, result: SearchResult, test_metrics: dict[str, float],
                    registration: Registration, metric: str, top: int = 10) -> str:
    """A short report of one pipeline run: links, scores, the registration and the top trials."""
    board = result.leaderboard().head(top)
    rows = "\n".join(f"| {r.trial} | {r.family} | {r.state} | "
                     f"{'–' if r.cv_score != r.cv_score else f'{r.cv_score:.4f}'} | {r.k} | {r.duration_s:.2f} |"
                     for r in board.itertuples())
    tests = ", ".join(f"{k.removeprefix('test_')} {v:.4f}" for k, v in test_metrics.items())
    champion = "moved" if registration.moved_alias else "kept"
    return f"""# {config.name}: best {result.best_params['family']}, CV {metric} {result.best_value:.4f}

- MLflow parent run: [{run.run_name}]({run_url(config, run)}) (`{run.run_id}`)
- Test split: {tests}
- Registered `{registration.name}` v{registration.version}; champion {champion}: {registration.reason}
- Optuna study `{result.study_name}` in `{redact(config.tracking.optuna_storage)}`; {len(result.records)} trials

| trial | family | state | CV {metric} | k | seconds |
| ---: | --- | --- | ---: | ---: | ---: |
{rows}
"""
