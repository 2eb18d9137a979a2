"""The search's figures keep every trial: complete, pruned at a partial score, pruned before any
score; the final model's out-of-fold score is drawn; folds' train and validation losses share a chart."""

import numpy as np
import pytest

from automl import plots
from automl.search import SearchResult, SearchSpace, TrialRecord


def trial(number, family, state, value, epochs=()):
    return TrialRecord(number, family, {"family": family, "k": None, "score_func": None, "model": {}}, state, value,
                       [value] if value is not None else [], 1.0, epoch_history=list(epochs))


def epochs(folds=2, n=4):
    return [{"fold": f, "epoch": e, "train_loss": 1 / (e + 1), "val_loss": 0.5 + 0.1 * e} for f in range(folds)
            for e in range(n)]


@pytest.fixture
def result():
    records = [trial(0, "linear", "COMPLETE", 0.90), trial(1, "mlp", "COMPLETE", 0.93, epochs()),
               trial(2, "mlp", "PRUNED", 0.70, epochs(1)), trial(3, "mlp", "PRUNED", None, epochs(1, 2)),
               trial(4, "tabm", "PRUNED", None), trial(5, "tabm", "COMPLETE", 0.95, epochs(3)),
               trial(6, "linear", "FAIL", None)]
    space = SearchSpace(families=["linear", "mlp", "tabm"], context=None, metric="roc_auc", numeric=[],
                        categorical=[], n_features=1, score_funcs=[])
    return SearchResult("s", "maximize", records, space=space, folds=2)


def drawn(figure) -> dict[float, float]:
    """Trial number → the y it is drawn at, over every scatter on the figure's axes."""
    points = {}
    for collection in figure.axes[0].collections:
        for x, y in collection.get_offsets():
            points[float(x)] = float(y)
    return points


def test_every_trial_but_the_failed_is_drawn_and_counted(result):
    figure = plots.history_figure(result, ("blend(tabm#5, mlp#1)", 0.96))
    points = drawn(figure)
    assert set(points) == {0, 1, 2, 3, 4, 5}  # the pruned ones too, with or without a partial score
    assert points[2] == pytest.approx(0.70)
    floor = figure.axes[0].get_ylim()[0]
    assert points[3] == points[4] == pytest.approx(floor) and floor < 0.70
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "mlp (1 + 2 pruned)" in labels and "tabm (1 + 1 pruned)" in labels and "linear (1 + 1 failed)" in labels
    assert "final: blend(tabm#5, mlp#1)" in labels and "pruned before a score" in labels
    [final] = [line for line in figure.axes[0].get_lines() if line.get_label().startswith("final")]
    assert np.allclose(final.get_ydata(), 0.96)


def test_each_fold_train_and_validation_loss_on_one_chart_for_each_familys_best(result):
    figure = plots.learning_figure(result)
    assert [ax.get_title().split(":")[0] for ax in figure.axes] == ["mlp#1", "tabm#5"]
    mlp = figure.axes[0].get_lines()
    assert [line.get_label() for line in mlp] == ["fold 0 train", "fold 0 val", "fold 1 train", "fold 1 val"]
    assert list(mlp[1].get_ydata()) == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert len(figure.axes[1].get_lines()) == 6  # tabm#5's three folds
    assert plots.learning_figure(SearchResult("s", "maximize", [trial(0, "linear", "COMPLETE", 0.9)], space=None,
                                              folds=2)) is None
