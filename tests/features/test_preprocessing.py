import numpy as np
import pandas as pd

from automl.features import MAX_CATEGORIES, build_preprocessor


def test_imputes_scales_and_encodes(mixed_frame):
    X = mixed_frame.drop(columns="label")
    pre = build_preprocessor(["signal", "noise", "count"], ["colour"])
    out = pre.fit_transform(X)
    assert out.dtype == np.float64 and np.isfinite(out).all()
    names = list(pre.get_feature_names_out())
    assert names[:3] == ["signal", "noise", "count"]
    assert {"colour_red", "colour_green", "colour_blue", "colour_missing"} <= set(names)
    assert abs(out[:, 0].mean()) < 1e-9 and abs(out[:, 0].std() - 1) < 1e-9


def test_unknown_category_at_predict_time_is_tolerated(mixed_frame):
    X = mixed_frame.drop(columns="label")
    pre = build_preprocessor(["signal", "noise", "count"], ["colour"]).fit(X)
    new = X.head(2).copy()
    new["colour"] = ["purple", None]
    out = pre.transform(new)
    onehot = out[:, 3:]
    assert onehot[0].sum() == 0  # an unseen category: all zeros, no error
    assert onehot[1][list(pre.get_feature_names_out()[3:]).index("colour_missing")] == 1


def test_bools_ints_and_strings_mix_in_one_categorical_column():
    X = pd.DataFrame({"flag": [True, False, True, None, "x", 3]})
    pre = build_preprocessor([], ["flag"])
    out = pre.fit_transform(X)
    assert out.shape == (6, 5) and (out.sum(axis=1) == 1).all()


def test_high_cardinality_columns_are_capped():
    """100 IDs seen once and one value seen 50 times: the frequent value keeps its own column, the
    rest share the infrequent one, and an ID never seen at fit time lands there too."""
    X = pd.DataFrame({"id": [f"row{i}" for i in range(100)] + ["common"] * 50})
    pre = build_preprocessor([], ["id"])
    out = pre.fit_transform(X)
    names = list(pre.get_feature_names_out())
    assert out.shape == (150, MAX_CATEGORIES) and (out.sum(axis=1) == 1).all()
    assert out[:, names.index("id_common")].sum() == 50
    assert names[-1] == "id_infrequent_sklearn" and out[:, -1].sum() == 150 - 50 - (MAX_CATEGORIES - 2)
    unseen = pre.transform(pd.DataFrame({"id": ["never-seen"]}))
    assert unseen[0, -1] == 1 and unseen.sum() == 1
