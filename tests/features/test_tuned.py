"""text.fine_tune (issue 29): the pretrained encoder's last layer trained on the labels. It learns
(its weights move, and its embeddings of held-out rows separate the classes more than the frozen
encoder's), each fold's rows are tuned once whatever the number of trials, the frozen layers' states
are computed once per text, and the fitted encoder pickles with its layer and encodes after loading."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import automl.features._tuned as tuned_module
from automl.extras import missing_text_packages
from automl.features import SentenceEncoder, TunedSentenceEncoder, load_encoder
from tests.reviews import reviews

pytestmark = pytest.mark.skipif(bool(missing_text_packages()),
                                reason=f"the text extra is not installed ({missing_text_packages()})")


def _separation(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Distance between the two classes' centroids over the mean spread around them."""
    a, b = vectors[labels == labels[0]], vectors[labels != labels[0]]
    spread = np.mean([np.linalg.norm(a - a.mean(0), axis=1).mean(), np.linalg.norm(b - b.mean(0), axis=1).mean()])
    return float(np.linalg.norm(a.mean(0) - b.mean(0)) / spread)


@pytest.fixture(scope="module")
def fitted():
    """(encoder, train rows, held-out rows) after three epochs on 240 reviews."""
    train, held_out = reviews(240, seed=3), reviews(120, seed=4)
    encoder = TunedSentenceEncoder(task="binary", epochs=3, device="cpu").fit(train[["review"]], train["label"])
    return encoder, train, held_out


def test_the_last_layer_learns_and_separates_held_out_rows_more_than_the_frozen_encoder(fitted):
    encoder, _, held_out = fitted
    _, model, _ = load_encoder("cpu")
    base = {name: value.numpy() for name, value in model.encoder.layer[-1].state_dict().items()}
    assert set(encoder.layer_state_) == set(base)
    moved = max(float(np.abs(encoder.layer_state_[name] - base[name]).max()) for name in base)
    assert moved > 1e-4
    labels = held_out["label"].to_numpy()
    tuned = encoder.transform(held_out[["review"]])
    frozen = SentenceEncoder(device="cpu").transform(held_out[["review"]])
    assert tuned.shape == (120, 384) and np.allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-4)
    assert _separation(tuned, labels) > 1.2 * _separation(frozen, labels)


def test_each_folds_rows_are_tuned_once_and_each_text_passes_the_frozen_layers_once(fitted, monkeypatch):
    """Trials that fit the same fold's rows reuse its tuned layer; a new fold tunes anew but runs only
    its texts that no earlier fit saw through the frozen layers."""
    _, train, _ = fitted
    calls, texts_run = [], []
    real_tune, real_model = tuned_module.tune_last_layer, tuned_module.load_encoder

    def counting_tune(*args, **kwargs):
        calls.append(len(args[0]))
        return real_tune(*args, **kwargs)

    monkeypatch.setattr(tuned_module, "tune_last_layer", counting_tune)
    for _ in range(3):  # three trials, the fixture's rows
        TunedSentenceEncoder(task="binary", epochs=3, device="cpu").fit(train[["review"]], train["label"])
    assert calls == []
    fold = train.iloc[:200]
    tokenizer, model, where = real_model("cpu")

    class Counting:
        def __init__(self):
            self.encoder = model.encoder

        def __call__(self, input_ids, **kwargs):
            texts_run.append(len(input_ids))
            return model(input_ids=input_ids, **kwargs)

    monkeypatch.setattr(tuned_module, "load_encoder", lambda device: (tokenizer, Counting(), where))
    TunedSentenceEncoder(task="binary", epochs=1, device="cpu").fit(fold[["review"]], fold["label"])
    assert calls == [200] and texts_run == []  # (every text of the fold passed the frozen layers before)


def test_the_fitted_encoder_pickles_with_its_layer_and_encodes_after_loading(fitted):
    encoder, _, held_out = fitted
    before = encoder.transform(held_out[["review"]].head(10))
    loaded = pickle.loads(pickle.dumps(encoder))
    assert loaded._layer is None  # (the torch module is rebuilt from layer_state_, not pickled)
    np.testing.assert_allclose(loaded.transform(held_out[["review"]].head(10)), before, atol=1e-5)


def test_a_model_that_fine_tunes_pins_the_text_extra_in_its_requirements(fitted):
    """The registered model loads the frozen layers from the extra's package: its requirements say so."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from automl.tracking._registry import holds_sentence_encoder

    encoder, train, _ = fitted
    pipeline = make_pipeline(encoder, LogisticRegression()).fit(train[["review"]], train["label"])
    assert holds_sentence_encoder(pipeline)
    assert not holds_sentence_encoder(make_pipeline(LogisticRegression()))


def test_a_regression_target_tunes_on_the_standardized_values():
    rows = reviews(120, seed=5)
    target = np.where(rows["label"] == "good", 4.5, 1.5) + np.random.default_rng(0).normal(0, 0.1, 120)
    encoder = TunedSentenceEncoder(task="regression", epochs=1, device="cpu").fit(rows[["review"]], target)
    vectors = encoder.transform(rows[["review"]])
    assert vectors.shape == (120, 384) and np.isfinite(vectors).all()
