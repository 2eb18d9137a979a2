"""The figures a run logs, drawn to read in MLflow's artifact viewer (about 1000 px wide, labels
that name the metric): the search's history coloured by family with pruned trials shown, the top
parameter importances, and the final model on the test split (a confusion matrix with counts and
row percentages; ROC, precision-recall and calibration curves for a binary task; residuals for
regression; permutation importance). Plain functions of finished results; nothing is written here.

Figures are matplotlib.figure.Figure objects, not pyplot's: no backend is chosen or switched and no
figure is kept in pyplot's registry, so a user's own matplotlib set-up is left as it was (a figure
is freed when the last reference to it goes)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import optuna
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import CalibrationDisplay

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from automl.search import SearchResult

WIDE, TALL = (10, 5.5), (7, 6)  # inches at 100 dpi: what the artifact viewer shows without scaling down
TOP_PARAMS = 12  # parameter importances shown
TOP_FEATURES = 15  # permutation importances shown


def _figure(size=WIDE, ncols: int = 1):
    from matplotlib.figure import Figure  # here, not at import: a run imports matplotlib when it draws

    fig = Figure(figsize=size, dpi=100)
    return fig, fig.subplots(ncols=ncols)


def history_figure(result: SearchResult, final: tuple[str, float] | None = None) -> Figure:
    """Each trial's CV score by trial number, coloured by family: complete trials filled, pruned ones
    hollow at their partial score (those pruned before any fold scored: hollow triangles on the
    axis's floor), every trial counted in the legend; the best so far as a step line; `final` (its
    name, its out-of-fold score) as a dashed line."""
    from matplotlib import colormaps

    fig, ax = _figure()
    families = sorted({r.family for r in result.records})
    colours = dict(zip(families, colormaps["tab10"].colors))
    unscored = []
    for family in families:
        mine = [r for r in result.records if r.family == family]
        complete = [r for r in mine if r.state == "COMPLETE" and r.value is not None]
        pruned = [r for r in mine if r.state == "PRUNED"]
        failed = [r for r in mine if r.state not in ("COMPLETE", "PRUNED")]
        counts = ", ".join(f"{n} {word}" for n, word in ((len(pruned), "pruned"), (len(failed), "failed")) if n)
        ax.scatter([r.number for r in complete], [r.value for r in complete], color=colours[family], s=36,
                   label=f"{family} ({len(complete)}{' + ' + counts if counts else ''})", zorder=3)
        scored = [r for r in pruned if r.value is not None]
        ax.scatter([r.number for r in scored], [r.value for r in scored], facecolors="none",
                   edgecolors=colours[family], s=36, zorder=3)
        unscored += [(r.number, colours[family]) for r in pruned if r.value is None]
    complete = sorted((r for r in result.records if r.state == "COMPLETE"), key=lambda r: r.number)
    best, line = None, []
    for record in complete:
        best = record.value if best is None else (max if result.sign > 0 else min)(best, record.value)
        line.append((record.number, best))
    if line:
        ax.step(*zip(*line), where="post", color="black", linewidth=1.2, label="best so far", zorder=2)
    if final is not None:
        ax.axhline(final[1], color="#c44e52", linestyle="--", linewidth=1.2, label=f"final: {final[0]}", zorder=2)
    if any(r.state == "PRUNED" for r in result.records):
        ax.scatter([], [], facecolors="none", edgecolors="grey", label="pruned (partial score)")
    if unscored:
        floor = ax.get_ylim()[0]
        ax.scatter([n for n, _ in unscored], [floor] * len(unscored), marker="^", facecolors="none",
                   edgecolors=[c for _, c in unscored], s=44, zorder=3, clip_on=False, label="pruned before a score")
        ax.set_ylim(bottom=floor)
    metric = result.space.metric
    ax.set(xlabel="trial", ylabel=f"CV {metric} ({'higher' if result.sign > 0 else 'lower'} is better)",
           title=f"Search history: {len(complete)} complete of {len(result.records)} trials")
    ax.legend(loc="best", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def learning_figure(result: SearchResult) -> Figure | None:
    """Train and validation loss by epoch, each fold on one chart, for the best trial of each family
    trained by epochs (MLflow draws each metric on a chart of its own, so overfitting shows only
    here); None when no trial has epochs."""
    best = {}
    for record in result.records:
        if record.epoch_history and record.value is not None:
            held = best.get(record.family)
            if held is None or result.sign * record.value > result.sign * held.value:
                best[record.family] = record
    if not best:
        return None
    fig, axes = _figure((6.5 * len(best), 4.8), ncols=len(best))
    for ax, record in zip(np.atleast_1d(axes), best.values()):
        folds = sorted({int(row["fold"]) for row in record.epoch_history})
        for fold, colour in zip(folds, ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")):
            rows = [row for row in record.epoch_history if int(row["fold"]) == fold]
            epochs = [int(row["epoch"]) for row in rows]
            ax.plot(epochs, [row["train_loss"] for row in rows], color=colour, label=f"fold {fold} train")
            ax.plot(epochs, [row["val_loss"] for row in rows], color=colour, linestyle="--", label=f"fold {fold} val")
        ax.set(xlabel="epoch", ylabel="loss", title=f"{record.family}#{record.number}: train (solid) and validation")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def importance_figure_of_params(result: SearchResult) -> Figure | None:
    """The TOP_PARAMS most important parameters (Optuna's fANOVA) on the complete trials; None when
    fewer than 3 completed or nothing varied."""
    study = result.study()
    if sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) < 3:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):
        return None
    top = list(importances.items())[:TOP_PARAMS]
    if not top:
        return None
    return _bars([name for name, _ in top], [value for _, value in top], "importance (fANOVA, share of variance)",
                 f"Parameter importances: top {len(top)} of {len(importances)}")


def _bars(names: list[str], values: list[float], xlabel: str, title: str, errors=None) -> Figure:
    fig, ax = _figure((10, max(3.0, 0.4 * len(names) + 1.5)))
    ax.barh(range(len(names))[::-1], values, xerr=errors, color="#4c72b0")
    ax.set_yticks(range(len(names))[::-1], names, fontsize=10)
    ax.set(xlabel=xlabel, title=title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def search_figures(result: SearchResult) -> Iterator[tuple[str, Figure]]:
    yield "optimization_history", history_figure(result)
    learning = learning_figure(result)
    if learning is not None:
        yield "learning_curves", learning
    importances = importance_figure_of_params(result)
    if importances is not None:
        yield "param_importances", importances


def confusion_figure(y, predicted, classes) -> Figure:
    """Counts and row percentages (recall per true class), no grid lines through the numbers."""
    matrix = skm.confusion_matrix(y, predicted, labels=classes)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(6.0, min(12.0, 4 + 0.6 * len(classes)))
    fig, ax = _figure((size + 1.5, size))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    small = len(classes) > 8
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}\n{100 * share[i, j]:.0f}%", ha="center", va="center", fontsize=8 if small else 11,
                color="white" if share[i, j] > 0.6 else "black")
    labels = [str(c) for c in classes]
    ax.set_xticks(range(len(classes)), labels, rotation=45 if small else 0)
    ax.set_yticks(range(len(classes)), labels)
    ax.set(xlabel="predicted", ylabel="true", title="Test: confusion matrix (count, % of the true class)")
    fig.tight_layout()
    return fig


def evaluation_figures(task: str, y, predicted: np.ndarray,
                       classes: np.ndarray | None = None) -> Iterator[tuple[str, Figure]]:
    """The final model on the test split, from its predictions there: values for regression, class
    probabilities (columns in `classes` order) for classification."""
    y = np.asarray(y)
    if task == "regression":
        fig, axes = _figure((12, 5.5), ncols=2)
        skm.PredictionErrorDisplay.from_predictions(y, predicted, kind="actual_vs_predicted", ax=axes[0])
        skm.PredictionErrorDisplay.from_predictions(y, predicted, kind="residual_vs_predicted", ax=axes[1])
        axes[0].set_title("Test: actual vs predicted")
        axes[1].set_title("Test: residuals")
        fig.tight_layout()
        yield "residuals", fig
        return
    yield "confusion_matrix", confusion_figure(y, classes[np.argmax(predicted, axis=1)], classes)
    if task != "binary":
        return
    positive, score = classes[-1], predicted[:, -1]
    for name, display, title in [("roc_curve", skm.RocCurveDisplay, "ROC curve"),
                                 ("precision_recall", skm.PrecisionRecallDisplay, "Precision-recall curve")]:
        fig, ax = _figure(TALL)
        display.from_predictions(y, score, pos_label=positive, ax=ax, name="final model", plot_chance_level=True)
        ax.set_title(f"Test: {title} (positive class '{positive}')")
        fig.tight_layout()
        yield name, fig
    fig, ax = _figure(TALL)
    CalibrationDisplay.from_predictions(y == positive, score, n_bins=10, strategy="quantile", ax=ax, name="final model")
    ax.set(title="Test: calibration (10 quantile bins)", xlabel=f"mean predicted P('{positive}')",
           ylabel=f"fraction that is '{positive}'")
    fig.tight_layout()
    yield "calibration", fig


def permutation_figure(table: pd.DataFrame, metric: str) -> Figure:
    top = table.head(TOP_FEATURES)
    return _bars(list(top["column"]), list(top["importance"]), f"test {metric} lost when the column is shuffled",
                 f"Permutation importance of the final model: top {len(top)} of {len(table)} columns",
                 errors=list(top["std"]))
