"""TabM: submodels that really differ, a prediction that is their mean, packs that equal trials alone,
PLE bins from the training rows only, robust inputs and embedded categories (unseen and missing)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression

from automl.nn import (
    Member,
    Network,
    Shape,
    StackedTabM,
    TabMClassifier,
    TabMRegressor,
    fit_packed,
    member_losses,
    predict_logits,
    train,
)
from automl.nn._inputs import Inputs
from automl.nn._loop import Trainer
from automl.nn._model import ple

CPU = torch.device("cpu")
TINY = dict(n_submodels=4, hidden_layers=2, hidden_width=16, embedding_dim=4, n_bins=8, max_epochs=8, batch_size=32,
            device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    return X.astype(np.float32), y


def submodels_logits(model, X):
    """Every submodel's logits [E, N, n_out] for raw rows X."""
    with torch.no_grad():
        return model.model_(torch.from_numpy(model.inputs_.transform(X)))[0]


@pytest.mark.parametrize("arch", ["mini", "full"])
def test_submodels_differ_and_the_prediction_is_their_mean_probability(data, arch):
    X, y = data
    model = TabMClassifier.from_knobs(**TINY, arch=arch).fit(X, y)
    out = submodels_logits(model, X)  # [4, 300, 3]
    assert out.shape == (4, 300, 3)
    for i in range(4):  # different first adapters and heads: four different functions
        for j in range(i + 1, 4):
            assert (out[i] - out[j]).abs().mean() > 1e-2, (i, j)
    np.testing.assert_allclose(model.predict_proba(X), torch.softmax(out, -1).mean(0).numpy(), rtol=1e-4, atol=1e-6)
    first = model.model_.weights()["adapter" if arch == "mini" else "r0"][0]
    assert len({tuple(row.tolist()) for row in first}) == 4  # each submodel its own adapter


def test_binary_and_regression_predictions_are_the_submodels_mean():
    X, y = make_classification(200, 5, random_state=1)
    model = TabMClassifier.from_knobs(**TINY, embedding="none").fit(X, y)
    start = StackedTabM(model.model_.shape, model.model_.members).weights()["adapter"]
    assert set(start.unique().tolist()) == {-1.0, 1.0}  # the first adapter starts as random signs (no embeddings)
    p = torch.sigmoid(submodels_logits(model, X.astype(np.float32))[:, :, 0]).mean(0).numpy()
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], p, rtol=1e-4, atol=1e-6)
    X, y = make_regression(200, 5, noise=1.0, random_state=1)
    model = TabMRegressor.from_knobs(**TINY, arch="full").fit(X, y)
    mean = submodels_logits(model, X.astype(np.float32))[:, :, 0].mean(0).numpy() * model.y_std_ + model.y_mean_
    np.testing.assert_allclose(model.predict(X), mean, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("arch", ["mini", "full"])
def test_a_packed_trial_equals_the_same_config_trained_alone(data, arch):
    X, y = data
    configs = [dict(learning_rate=3e-3, weight_decay=1e-4), dict(learning_rate=1e-2, weight_decay=0.0),
               dict(learning_rate=1e-3, weight_decay=1e-2)]
    packed = [TabMClassifier.from_knobs(**TINY, arch=arch, dropout=0.0, **c) for c in configs]
    fit_packed(packed, X, y)
    for c, member in zip(configs, packed):
        alone = TabMClassifier.from_knobs(**TINY, arch=arch, dropout=0.0, **c).fit(X, y)
        np.testing.assert_allclose(member.predict_proba(X), alone.predict_proba(X), rtol=1e-4, atol=1e-5)
        assert ([h["val_loss"] for h in member.history_]
                == pytest.approx([h["val_loss"] for h in alone.history_], rel=1e-4))


def test_a_packed_log_target_regressor_equals_it_alone_and_predicts_expm1_of_the_submodels_mean():
    X, y = make_regression(200, 5, noise=1.0, random_state=3)
    y = np.exp(y / y.std())  # positive and skewed
    configs = [dict(learning_rate=3e-3), dict(learning_rate=1e-2)]
    packed = [TabMRegressor.from_knobs(**TINY, dropout=0.0, log_target=True, **c) for c in configs]
    fit_packed(packed, X, y)
    for c, member in zip(configs, packed):
        alone = TabMRegressor.from_knobs(**TINY, dropout=0.0, log_target=True, **c).fit(X, y)
        np.testing.assert_allclose(member.predict(X), alone.predict(X), rtol=1e-4)
    model = packed[0]
    on_log = submodels_logits(model, X.astype(np.float32))[:, :, 0].mean(0).numpy() * model.y_std_ + model.y_mean_
    np.testing.assert_allclose(model.predict(X), np.expm1(on_log), rtol=1e-4)
    assert model.y_mean_ == pytest.approx(np.log1p(y).mean())  # standardised on the log scale


def test_ple_bins_come_from_the_training_rows_of_the_numeric_columns_only(data):
    X, y = data
    X = np.column_stack([X[:, :4], np.arange(len(X)) % 5]).astype(np.float32)  # one categorical column
    shape = Shape(n_in=5, n_out=3, hidden_layers=1, hidden_width=16, embedding="ple", n_bins=8, max_epochs=2,
                  categories=(6,), arch="mini", n_submodels=4)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    (X_train, _), _ = Trainer(shape, [Member()], CPU, seed=0).split_validation(Xt, yt)  # the same seeded split
    result = Trainer(shape, [Member(seed=0), Member(seed=1)], CPU, seed=0).fit(Xt, yt)
    expected = torch.quantile(X_train[:, :4], torch.linspace(0, 1, 9), dim=0).T
    torch.testing.assert_close(result.model.edges, expected)
    assert not torch.allclose(expected, torch.quantile(Xt[:, :4], torch.linspace(0, 1, 9), dim=0).T)
    torch.testing.assert_close(result.model.member(1).edges, expected)


def test_a_column_constant_in_training_rows_does_not_blow_up_predictions_on_new_values():
    # ames' rare-feature columns: all 0 in a fold's training rows, then a house with a pool. The PLE
    # bins are all one edge; a new value once read as (x - edge) / 1e-12 (CV R² -4e16 on ames).
    X, y = make_regression(400, 4, noise=5.0, random_state=0)
    X = np.column_stack([X, np.zeros(len(X))]).astype(np.float32)
    y = (y * 1000 + 180_000).astype(np.float32)  # a price
    model = TabMRegressor.from_knobs(**TINY, embedding="ple").fit(X, y)
    new = X[:50].copy()
    new[:, 4] = 738.0  # a pool's area
    spread = y.max() - y.min()
    shifted = model.predict(new)
    assert np.isfinite(shifted).all()
    assert np.abs(shifted - model.predict(X[:50])).max() < spread  # on the target's scale, not 1e8 times it
    assert ple(torch.tensor([[-1e6, 1e6]]), torch.zeros(2, 5)).abs().max() <= 2  # bounded, as far as one bin on


def test_robust_scaling_smooth_clipping_and_category_codes():
    X = np.array([[0.0, 0], [1, 1], [2, 2], [3, np.nan], [100, 0], [np.nan, 1]], dtype=np.float32)
    inputs = Inputs.fit(X, categorical_features=[False, True], robust=True)
    assert inputs.cardinalities == (4,)  # codes 0..2 and the slot for missing or unseen
    # median 2, IQR 2 (quantiles 1 and 3): (x - 2) / 2, then x / sqrt(1 + (x/3)^2)
    scaled = np.array([-1, -0.5, 0, 0.5, 49, 0.0])
    np.testing.assert_allclose(inputs.transform(X)[:, 0], scaled / np.sqrt(1 + (scaled / 3) ** 2), rtol=1e-6)
    assert inputs.transform(X)[4, 0] < 3  # an outlier is bent towards 3
    huge = inputs.transform(np.array([[1e30, 0], [-1e30, 0]], dtype=np.float32))[:, 0]
    np.testing.assert_allclose(huge, [3.0, -3.0], rtol=1e-6)  # bent to ±3, not overflowed to the median
    new = np.array([[2.0, 7], [2.0, np.nan], [2.0, -1], [2.0, 2]], dtype=np.float32)  # unseen, missing, bad, known
    assert inputs.transform(new)[:, 1].tolist() == [3, 3, 3, 2]


def test_many_categories_are_embedded_not_one_hot_and_unseen_ones_predict():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 200, size=600)
    effect = rng.normal(size=200)
    X = np.column_stack([rng.normal(size=600), codes]).astype(np.float32)
    y = (effect[codes] + 0.3 * X[:, 0] > 0).astype(int)
    model = TabMClassifier.from_knobs(**(TINY | {"max_epochs": 30}), categorical_features=[1],
                                      learning_rate=5e-3).fit(X, y)
    assert model.model_.weights()["cat_embed"].shape == (1, 201, 4)  # one small table, no 200-column block
    assert (model.predict(X) == y).mean() > 0.8  # the codes carry the signal
    unseen = np.array([[0.0, 500], [np.nan, np.nan]], dtype=np.float32)
    assert np.isfinite(model.predict_proba(unseen)).all()


def test_submodel_pruning_drops_submodels_that_predict_badly_on_the_validation_rows(data):
    X, y = data
    shape = Shape(n_in=6, n_out=3, hidden_layers=1, hidden_width=16, max_epochs=5, arch="full",
                  n_submodels=6, prune_submodels=True)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model = train(Xt, yt, shape, [Member(seed=0), Member(seed=1)], CPU, seed=0).model
    with torch.no_grad():  # submodels 0 and 1 of the second TabM now say "class 0" with certainty
        model.weights()["b_out"][1, :2] = torch.tensor([50.0, -50.0, -50.0])
    model.select_submodels(Xt, yt, lambda logits, target: member_losses(logits, target, shape))
    weights = model.submodel_weights
    kept = (weights[1] > 0).sum().item()
    assert weights[1, :2].tolist() == [0.0, 0.0] and 1 <= kept <= 4  # the broken submodels are out
    assert torch.allclose(weights[1][weights[1] > 0], torch.full((kept,), 1.0 / kept))
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))
    assert isinstance(model, StackedTabM) and predict_logits(model, Xt).shape == (2, 300, 3)
    with pytest.raises(ValueError, match="prune_submodels needs a TabM"):
        Shape(n_in=6, n_out=3, prune_submodels=True).check()


def test_bad_parameters_are_named(data):
    X, y = data
    with pytest.raises(ValueError, match="'arch' parameter of TabMClassifier must be one of"):
        TabMClassifier.from_knobs(**TINY, arch="huge").fit(X, y)
    with pytest.raises(ValueError, match="'arch' parameter of TabMClassifier must be one of \\('mini', 'full'\\)"):
        TabMClassifier.from_knobs(**TINY, arch="none").fit(X, y)
    with pytest.raises(ValueError, match=r"'net' parameter of TabMClassifier must be a TabMNetwork .*Network\(hidden"):
        TabMClassifier(net=Network(hidden_width=8)).fit(X, y)
    with pytest.raises(ValueError, match="categorical_features is a mask of 2 values, but X has 6 columns"):
        TabMClassifier.from_knobs(**TINY, categorical_features=[True, False]).fit(X, y)
    with pytest.raises(ValueError, match=r"categorical_features \['city'\] names columns; give a boolean mask"):
        TabMClassifier.from_knobs(**TINY, categorical_features=["city"]).fit(X, y)


@pytest.mark.gpu
def test_tabm_trains_on_cuda_in_bf16_and_a_pack_matches_alone(data):
    X, y = data
    cuda = dict(TINY, device="cuda", dropout=0.0)
    packed = [TabMClassifier.from_knobs(**cuda, learning_rate=lr) for lr in (3e-3, 1e-2)]
    fit_packed(packed, X, y)
    for lr, member in zip((3e-3, 1e-2), packed):
        alone = TabMClassifier.from_knobs(**cuda, learning_rate=lr).fit(X, y)
        assert member.device_ == "cuda"
        np.testing.assert_allclose(member.predict_proba(X), alone.predict_proba(X), atol=2e-2)  # bf16 autocast
