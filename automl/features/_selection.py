"""SelectKBest: the score functions a task allows, and the feature profile logged before the search."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.feature_selection import (
    f_classif,
    f_regression,
    mutual_info_classif,
    mutual_info_regression,
)

from automl.features._preprocessing import build_preprocessor  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SCORE_FUNCS = {
    "f_classif": f_classif,
    "mutual_info_classif": mutual_info_classif,
    "f_regression": f_regression,
    "mutual_info_regression": mutual_info_regression,
}
TASK_SCORE_FUNCS = {
    "binary": ["f_classif", "mutual_info_classif"],
    "multiclass": ["f_classif", "mutual_info_classif"],
    "regression": ["f_regression", "mutual_info_regression"],
}


def score_func(name: str, seed: int):
    """The sklearn score function by name; mutual information is seeded for repeatable trials."""
    func = SCORE_FUNCS[name]
    return partial(func, random_state=seed) if name.startswith("mutual_info") else func


def valid_score_funcs(task: str, requested: list[str] | None) -> list[str]:
    allowed = TASK_SCORE_FUNCS[task]
    if requested is None:
        return list(allowed)
    wrong = [name for name in requested if name not in allowed]
    if wrong:
        raise ValueError(f"features.score_funcs {wrong} do not fit task '{task}'; use some of {allowed}")
    return list(requested)


@dataclass
class FeatureProfile:
    """What the search needs to know about the transformed features, plus the report."""

    n_features: int  # columns after preprocessing: the upper bound of k
    score_funcs: list[str]
    table: pd.DataFrame  # one row per transformed feature, one column per score (and p-value)


PROFILE_ROWS = 2000


def profile_features(X_train: pd.DataFrame, y_train: pd.Series, numeric: list[str],
                     categorical: list[str], task: str, score_funcs: list[str], seed: int) -> FeatureProfile:
    """Score every transformed feature with every valid score function, on the training split only
    (on a seeded sample of PROFILE_ROWS rows when it is larger: the profile is a report, and mutual
    information on every row of a large table costs seconds of the search's budget)."""
    if not numeric and not categorical:  # text columns alone: their features are made (and scored) in each trial
        return FeatureProfile(n_features=0, score_funcs=score_funcs,
                              table=pd.DataFrame(columns=["feature", *score_funcs], dtype=float))
    if len(X_train) > PROFILE_ROWS:
        X_train = X_train.sample(PROFILE_ROWS, random_state=seed)
        y_train = y_train.loc[X_train.index]
    preprocessor = build_preprocessor(numeric, categorical)
    Xt = preprocessor.fit_transform(X_train)
    names = preprocessor.get_feature_names_out()
    y = np.asarray(y_train)
    table = pd.DataFrame({"feature": names})
    for name in score_funcs:
        result = score_func(name, seed)(Xt, y)
        scores, p_values = result if isinstance(result, tuple) else (result, None)
        table[name] = np.nan_to_num(scores, nan=0.0)
        if p_values is not None:
            table[f"{name}_pvalue"] = p_values
    table = table.sort_values(score_funcs[0], ascending=False, ignore_index=True)
    return FeatureProfile(n_features=Xt.shape[1], score_funcs=score_funcs, table=table)


def profile_figure(profile: FeatureProfile, top: int = 25) -> Figure:
    """Horizontal bars of the top features, each score scaled to its maximum so they share an axis."""
    from matplotlib.figure import Figure  # not pyplot (no backend chosen, no figure kept; see automl.plots); here,
    # not at import: a run imports matplotlib when it draws

    shown = profile.table.head(top).iloc[::-1]
    fig = Figure(figsize=(8, max(3.0, 0.28 * len(shown) + 1)))
    ax = fig.subplots()
    if shown.empty:
        ax.text(0.5, 0.5, "no numeric or category column: the text columns' features are made\n"
                "and scored inside each trial (SelectKBest after the trial's text encoder)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    height = 0.8 / len(profile.score_funcs)
    positions = np.arange(len(shown))
    for i, name in enumerate(profile.score_funcs):
        peak = profile.table[name].max() or 1.0
        ax.barh(positions + i * height, shown[name] / peak, height=height, label=name)
    ax.set_yticks(positions + height * (len(profile.score_funcs) - 1) / 2)
    ax.set_yticklabels(shown["feature"], fontsize=8)
    ax.set_xlabel("score / best score")
    ax.set_title(f"SelectKBest feature scores on the training split (top {len(shown)})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
