import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV

from automl.nn import Callback, TabMClassifier, TorchMLPClassifier, TorchMLPRegressor, fit_packed, resolve_device


@pytest.fixture(scope="module")
def classes():
    X, y = make_classification(600, 10, n_informative=6, random_state=0)
    return X.astype(np.float32), np.where(y == 1, "pos", "neg")


def test_classifier_converges(classes):
    X, y = classes
    model = TorchMLPClassifier.from_knobs(max_epochs=60, patience=60, learning_rate=3e-3, device="cpu", random_state=0)
    model.fit(X, y)
    losses = [h["train_loss"] for h in model.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert (model.predict(X) == y).mean() > 0.85  # chance is 0.5; the kept weights are the best-validation epoch
    assert list(model.classes_) == ["neg", "pos"] and model.device_ == "cpu"


def test_regressor_converges_on_a_standardised_target():
    X, y = make_regression(500, 8, noise=5.0, random_state=0)
    y = y * 100 + 5000  # a target on a large scale still trains: it is standardised inside
    model = TorchMLPRegressor.from_knobs(max_epochs=60, learning_rate=3e-3, device="cpu", random_state=0).fit(X, y)
    assert r2_score(y, model.predict(X)) > 0.9


def test_log_target_trains_on_log1p_and_predicts_on_the_scale_of_y():
    X, y = make_regression(300, 6, noise=1.0, random_state=2)
    y = np.exp(1.0 + y / y.std())  # positive and right-skewed, like prices
    settings = dict(max_epochs=6, device="cpu", random_state=0)
    logged = TorchMLPRegressor.from_knobs(log_target=True, **settings).fit(X, y)
    on_log = TorchMLPRegressor.from_knobs(**settings).fit(X, np.log1p(y))  # the same network, handed log1p(y) itself
    np.testing.assert_allclose(logged.predict(X), np.expm1(on_log.predict(X)), rtol=1e-5)
    assert logged.predict(X).min() > -1 and on_log.y_mean_ == pytest.approx(np.log1p(y).mean())
    low = y.copy()
    low[7] = -3.0
    with pytest.raises(ValueError, match=r"log_target=True\) fits log1p\(y\), which needs y > -1; y holds -3\. "
                                         r"Set log_target=False"):
        TorchMLPRegressor.from_knobs(log_target=True, **settings).fit(X, low)
    with pytest.raises(ValueError, match="packed estimators must share .* target scale"):
        fit_packed([TorchMLPRegressor.from_knobs(log_target=True, **settings),
                    TorchMLPRegressor.from_knobs(**settings)], X, y)


def test_same_seed_same_model_on_cpu(classes):
    X, y = classes
    a = TorchMLPClassifier.from_knobs(max_epochs=5, random_state=3, device="cpu").fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = TorchMLPClassifier.from_knobs(max_epochs=5, random_state=4, device="cpu").fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_early_stopping_stops_before_max_epochs(classes):
    X, y = classes
    model = TorchMLPClassifier.from_knobs(max_epochs=500, patience=3, learning_rate=1e-2, device="cpu", random_state=0)
    model.fit(X, y)
    assert model.n_epochs_ < 500


def test_callbacks_see_each_epoch_and_can_stop_training(classes):
    X, y = classes
    class StopAtThree(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, state):
            self.seen.append((state.epoch, set(state.history[0][-1])))
            if state.epoch == 3:
                state.stop(0, "enough")

    callback = StopAtThree()
    model = TorchMLPClassifier.from_knobs(max_epochs=50, device="cpu").fit(X, y, callbacks=[callback])
    assert callback.seen == [(e, {"train_loss", "val_loss"}) for e in range(4)] and model.n_epochs_ == 4


def test_bad_parameters_are_named(classes):
    X, y = classes
    with pytest.raises(ValueError, match=r"The 'optimizer' parameter of TorchMLPClassifier must be one of "
                                         r"\('adam', 'adamw', 'sgd'\)\. Got 'rmsprop' instead\."):
        TorchMLPClassifier.from_knobs(optimizer="rmsprop").fit(X, y)
    model = TorchMLPClassifier.from_knobs(max_epochs=1, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but TorchMLPClassifier is expecting 10 features"):
        model.predict(X[:, :3])


@pytest.mark.parametrize("embedding", ["none", "ple"])
def test_pickled_model_predicts_the_same(classes, embedding):
    X, y = classes
    model = TorchMLPClassifier.from_knobs(max_epochs=2, device="cpu", random_state=0, embedding=embedding, n_bins=8)
    model.fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    if embedding == "ple":  # the bins travel with the model (a buffer), fitted, not the initial ones
        assert not torch.allclose(again.model_.edges, torch.linspace(0, 1, 9).repeat(10, 1))


def test_device_selection():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not one of 'auto', 'cpu', 'cuda'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present, so asking for it is not an error")
def test_cuda_requested_but_absent_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available on this machine.*set device: auto or device: cpu"):
        resolve_device("cuda")


@pytest.mark.gpu
def test_trains_on_cuda_and_loads_on_cpu(classes):
    X, y = classes
    model = TorchMLPClassifier.from_knobs(max_epochs=20, device="cuda", random_state=0).fit(X, y)
    assert model.device_.startswith("cuda") and (model.predict(X) == y).mean() > 0.9
    again = pickle.loads(pickle.dumps(model))
    assert next(again.model_.parameters()).device.type == "cpu"


def test_knobs_live_in_two_settings_objects_reached_by_nested_names(classes):
    X, y = classes
    model = TorchMLPClassifier().set_params(net__hidden_width=16, training__max_epochs=2, device="cpu")
    assert (model.net.hidden_width, model.training.max_epochs) == (16, 2) and TorchMLPClassifier().net is None
    twin = clone(model)
    assert twin.net is not model.net and twin.get_params()["net__hidden_width"] == 16
    assert model.fit(X, y).model_.shape.hidden_width == 16 and model.n_epochs_ == 2  # the shape read from the settings
    grid = GridSearchCV(TorchMLPClassifier.from_knobs(max_epochs=2, device="cpu", random_state=0),
                        {"net__hidden_width": [8, 24]}, cv=2).fit(X, y)
    assert grid.best_estimator_.model_.shape.hidden_width == grid.best_params_["net__hidden_width"]
    assert TabMClassifier().knobs()["hidden_width"] == 512 and TorchMLPClassifier().knobs()["hidden_width"] == 128
    with pytest.raises(ValueError, match=r"TabMClassifier has no knob 'k'; its knobs are hidden_layers, .*n_submodels"):
        TabMClassifier.from_knobs(k=4)


def test_models_pickled_before_the_knobs_were_grouped_still_predict():
    """tests/nn/data/pickled_at_75ee515.pkl: a TabM (k=2, prune_members, a categorical column) and a
    log-target MLP regressor, fitted and pickled by automl at 75ee515 with their predictions."""
    stored = pickle.loads((Path(__file__).parent / "data" / "pickled_at_75ee515.pkl").read_bytes())
    X, tabm, mlp = stored["X"], stored["tabm"], stored["mlp"]
    # equal to float32's precision: the last bits of expm1 and of float32 matrix products differ between CPUs
    np.testing.assert_allclose(tabm.predict_proba(X), stored["tabm_proba"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(mlp.predict(X), stored["mlp_pred"], rtol=1e-6)
    assert (tabm.net.n_submodels, tabm.net.prune_submodels, tabm.model_.shape.arch) == (2, True, "mini")
    assert mlp.net.embedding == "periodic" and mlp.log_target and clone(tabm).get_params()["net__hidden_width"] == 8


def test_a_pack_must_share_every_knob_but_the_members_own(classes):
    X, y = classes
    settings = dict(max_epochs=1, device="cpu")
    with pytest.raises(ValueError, match=r"but learning_rate, weight_decay, dropout and random_state; estimator 1 "
                                         r"is a TorchMLPClassifier that differs in \['patience'\]"):
        fit_packed([TorchMLPClassifier.from_knobs(**settings), TorchMLPClassifier.from_knobs(patience=3, **settings)],
                   X, y)
    members = [TorchMLPClassifier.from_knobs(learning_rate=lr, dropout=d, random_state=s, **settings)
               for lr, d, s in [(1e-3, 0.0, 0), (1e-2, 0.3, 1)]]
    fit_packed(members, X, y)
    assert [m.model_.members[0] for m in members] == [m.member() for m in members]
    assert members[1].model_.members[0].dropout == 0.3 and members[1].model_.members[0].seed == 1
