import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from automl.features import build_preprocessor, profile_features, profile_figure, valid_score_funcs


@pytest.fixture
def informative():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 6)), columns=[f"x{i}" for i in range(6)])
    y = pd.Series((X["x4"] + 0.2 * rng.normal(size=300) > 0).astype(int))
    return X, y


def test_profile_scores_every_feature_with_every_function(informative):
    X, y = informative
    profile = profile_features(X, y, list(X.columns), [], "binary", ["f_classif", "mutual_info_classif"], seed=0)
    assert profile.n_features == 6
    assert list(profile.table.columns) == ["feature", "f_classif", "f_classif_pvalue", "mutual_info_classif"]
    assert profile.table.loc[0, "feature"] == "x4"  # sorted by the first score, best first
    assert profile.table["mutual_info_classif"].idxmax() == 0
    figure = profile_figure(profile)
    assert len(figure.axes[0].patches) == 12  # 6 features × 2 score functions


def test_valid_score_functions_per_task():
    assert valid_score_funcs("regression", None) == ["f_regression", "mutual_info_regression"]
    assert valid_score_funcs("binary", ["mutual_info_classif"]) == ["mutual_info_classif"]
    with pytest.raises(ValueError, match=r"\['f_regression'\] do not fit task 'binary'"):
        valid_score_funcs("binary", ["f_regression"])


def test_selector_inside_the_pipeline_sees_training_rows_only(informative):
    X, y = informative
    train = np.arange(200)
    pipeline = Pipeline([("preprocess", build_preprocessor(list(X.columns), [])),
                         ("select", SelectKBest(f_classif, k=2)), ("model", LogisticRegression())])
    pipeline.fit(X.iloc[train], y.iloc[train])
    scaled = pipeline.named_steps["preprocess"].transform(X.iloc[train])
    expected, _ = f_classif(scaled, y.iloc[train])
    np.testing.assert_allclose(pipeline.named_steps["select"].scores_, expected)
    full, _ = f_classif(build_preprocessor(list(X.columns), []).fit_transform(X), y)
    assert not np.allclose(pipeline.named_steps["select"].scores_, full)
