"""What a trial draws from: the family, its parameters, SelectKBest's k and score function,
(for skewed regression targets) whether to fit log1p(y), and (for tables with free text) the text
encoder and its width; and the pipeline those parameters build."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.feature_selection import SelectKBest
from sklearn.pipeline import Pipeline

from automl.extras import FINE_TUNED, PRETRAINED, TFIDF
from automl.features import TEXT_WIDTHS, TextEncoding, build_native_preprocessor, build_preprocessor, score_func
from automl.models import FamilyContext, Suggest, get_family
from automl.search._rows import RowSample

LOG_TARGET_SKEW = 0.75  # skewness of y above which fitting log1p(y) is worth a try
# Warm-start order: strong and cheap first, so a short budget has a good model early (on a 24k-row
# table, default boosting takes ~1 s a fold where a forest takes ~10 s).
WARM_START_ORDER = ["hist_gradient_boosting", "linear", "extra_trees", "random_forest", "mlp", "tabm"]
DEFAULT_TEXT_WIDTH = 64


@dataclass
class SearchSpace:
    """Everything a trial draws from, fixed before the search starts."""

    families: list[str]
    context: FamilyContext
    metric: str
    numeric: list[str]
    categorical: list[str]
    n_features: int  # after preprocessing (text columns at the widest text_width): k's upper bound
    score_funcs: list[str]  # empty when feature selection is off
    min_k: int = 1
    log_target: bool = False  # a positive, right-skewed regression target: trials may fit log1p(y)
    text: list[str] = field(default_factory=list)  # free-text columns: trials choose text_encoder, text_width
    text_encoders: list[str] = field(default_factory=lambda: [TFIDF])  # (automl.extras.text_encoders)
    text_device: str = "auto"  # where the pretrained encoder runs (CUDA when auto finds one)
    embedding_cache: str | None = None  # the run's folder for the pretrained encoder's embeddings

    def text_features(self, params: dict[str, Any]) -> int:
        """How many fewer features than n_features a trial's pipeline gives: its text columns at its width."""
        return len(self.text) * (max(TEXT_WIDTHS) - params.get("text_width", DEFAULT_TEXT_WIDTH)) if self.text else 0


def log_target_suits(y: pd.Series) -> bool:
    """Prices, counts, durations: positive and right-skewed, where a model fitted on log1p(y)
    often predicts y better (CV, on y's own scale, decides)."""
    values = pd.to_numeric(y, errors="coerce")
    return bool(values.notna().all() and values.min() > 0 and values.skew() > LOG_TARGET_SKEW)


def suggest_pipeline(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Draw one pipeline: {"family", "k", "score_func", "model": {...}} (k is None without selection)."""
    family = trial.suggest_categorical("family", space.families)
    params: dict[str, Any] = {"family": family, "k": None, "score_func": None}
    if space.score_funcs and not get_family(family).native_categorical:
        params["score_func"] = trial.suggest_categorical("score_func", space.score_funcs)
        params["k"] = trial.suggest_int("k", min(space.min_k, space.n_features), space.n_features)
    if space.log_target:  # any regressor: wrapped in TransformedTargetRegressor, or a PyTorch one's own
        params["log_target"] = trial.suggest_categorical("log_target", [False, True])
    if space.text:
        params["text_encoder"] = trial.suggest_categorical("text_encoder", space.text_encoders)
        params["text_width"] = trial.suggest_categorical("text_width", list(TEXT_WIDTHS))
    suggest = Suggest(trial, prefix=family)
    get_family(family).suggest(suggest, space.context)
    params["model"] = suggest.params
    return params


def build_pipeline(params: dict[str, Any], space: SearchSpace) -> Pipeline:
    """preprocess → SelectKBest (or passthrough) → model, unfitted."""
    family = get_family(params["family"])
    model = family.build(params["model"], space.context)
    text = text_encoding(params, space)
    if family.native_categorical:  # raw numbers and category codes; no selection in front
        preprocess, mask = build_native_preprocessor(space.numeric, space.categorical, text)
        if any(mask):
            model.set_params(categorical_features=mask)
        selector = "passthrough"
    else:
        preprocess = build_preprocessor(space.numeric, space.categorical, text)
        selector = "passthrough"
        if params.get("k") is not None:
            # every feature: "all", since a fold may lack a rare category level the profile saw
            k = "all" if params["k"] >= space.n_features - space.text_features(params) else params["k"]
            selector = SelectKBest(score_func(params["score_func"], space.context.seed), k=k)
    if params.get("log_target"):  # fitted on log1p(y), predicting expm1 of what it predicts
        if "log_target" in model.get_params():  # the PyTorch regressors do it themselves, so trials still pack
            model.set_params(log_target=True)
        else:
            model = TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=np.expm1,
                                               check_inverse=False)
    return Pipeline([("preprocess", preprocess), ("select", selector), ("model", model)])


def text_encoding(params: dict[str, Any], space: SearchSpace) -> TextEncoding | None:
    """How the trial's pipeline encodes the table's text columns (None: it has none)."""
    if not space.text:
        return None
    return TextEncoding(tuple(space.text), params.get("text_encoder", TFIDF),
                        params.get("text_width", DEFAULT_TEXT_WIDTH), space.context.seed, space.text_device,
                        space.embedding_cache, space.context.task)


def build_model(params: dict[str, Any], space: SearchSpace):
    """The pipeline as it is refitted on all training rows: on the same fraction of them where
    the trial trained on fewer (params["rows_fraction"]: the time-aware first fit)."""
    pipeline = build_pipeline(params, space)
    fraction = params.get("rows_fraction")
    if fraction is None or fraction >= 1.0:
        return pipeline
    return RowSample(pipeline, fraction, space.context.seed, space.context.is_classification)


def default_trials(space: SearchSpace) -> list[dict[str, Any]]:
    """One known-good configuration per family, as Optuna params, to enqueue first (warm start)."""
    trials = []
    rank = {name: i for i, name in enumerate(WARM_START_ORDER)}
    for name in sorted(space.families, key=lambda f: rank.get(f, len(rank))):
        params: dict[str, Any] = {"family": name}
        if space.score_funcs and not get_family(name).native_categorical:
            params |= {"score_func": space.score_funcs[0], "k": space.n_features}
        defaults = get_family(name).defaults(space.context)
        params |= {f"{name}.{key}": value for key, value in defaults.items()}
        if space.log_target:
            params["log_target"] = True  # prices and the like: most models fit log1p(y) better
        if space.text:
            params |= {"text_encoder": space.text_encoders[0], "text_width": DEFAULT_TEXT_WIDTH}
        trials.append(params)
    if space.log_target and trials:
        trials.insert(1, trials[0] | {"log_target": False})  # the strongest default on y itself, to compare
    if space.text and PRETRAINED in space.text_encoders[1:] and trials:
        trials.insert(1, trials[0] | {"text_encoder": PRETRAINED})  # the strongest default on the other encoder
    if space.text and FINE_TUNED in space.text_encoders and trials:
        trials.insert(1, trials[0] | {"text_encoder": FINE_TUNED})  # (text.fine_tune: asked for, so tried early)
    return trials
