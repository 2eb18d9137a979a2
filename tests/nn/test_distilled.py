"""Knowledge distillation in the training loop (the kd_bce / kd_ce losses), the MLP classifier that
trains on a teacher's probabilities, and the int8 copy of a fitted MLP."""

import pickle

import cloudpickle
import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from automl.nn import (
    DistilledMLPClassifier,
    Network,
    QuantizedMLP,
    Shape,
    TorchMLPClassifier,
    TorchMLPRegressor,
    Training,
    distill_target,
    member_losses,
)


def _kd(loss: str, n_out: int, temperature: float = 2.0, alpha: float = 0.7) -> Shape:
    return Shape(n_in=3, n_out=n_out, loss=loss, temperature=temperature, alpha=alpha)


def test_the_soft_term_is_the_kl_divergence_scaled_by_t_squared_up_to_the_teachers_entropy():
    """alpha · T² · (KL(q ‖ softmax(z / T)) + H(q)) + (1 - alpha) · w · CE(y, z), per member, per row mean."""
    torch.manual_seed(0)
    logits, teacher = torch.randn(2, 16, 4), torch.softmax(torch.randn(16, 4), dim=1)
    codes, weights = torch.randint(0, 4, (16,)), (torch.rand(16) > 0.5).float()
    t, alpha = 3.0, 0.6
    target = distill_target(teacher, codes, weights, t)
    soft = target[:, :4]
    assert torch.allclose(soft, torch.softmax(torch.log(teacher) / t, dim=1), atol=1e-6)  # softened: p^(1/T) renormed
    kl = torch.nn.functional.kl_div(torch.log_softmax(logits / t, dim=-1), soft.expand(2, 16, 4),
                                    reduction="none").sum(-1)
    entropy = -(soft * torch.log(soft)).sum(-1)
    label = torch.stack([torch.nn.functional.cross_entropy(logits[k], codes, reduction="none") for k in range(2)])
    expected = (alpha * t * t * (kl + entropy) + (1 - alpha) * weights * label).mean(dim=1)
    assert torch.allclose(member_losses(logits, target, _kd("kd_ce", 4, t, alpha)), expected, atol=1e-5)


def test_two_classes_with_one_logit_equal_the_softmax_of_two():
    """kd_bce on logit z is kd_ce on logits [0, z]: the same loss for the same soft targets."""
    torch.manual_seed(1)
    z, teacher = torch.randn(1, 20, 1), torch.softmax(torch.randn(20, 2), dim=1)
    codes, weights = torch.randint(0, 2, (20,)), torch.ones(20)
    binary = member_losses(z, distill_target(teacher, codes, weights, 2.5), _kd("kd_bce", 1, 2.5))
    two = torch.cat([torch.zeros_like(z), z], dim=-1)
    full = distill_target(teacher, codes, weights, 2.5)
    multi_target = torch.cat([1 - full[:, :1], full], dim=1)  # both classes' soft targets, then code and weight
    multi = member_losses(two, multi_target, _kd("kd_ce", 2, 2.5))
    assert torch.allclose(binary, multi, atol=1e-5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_alpha_zero_is_the_plain_label_loss(n_classes):
    torch.manual_seed(2)
    n_out = 1 if n_classes == 2 else n_classes
    logits, codes = torch.randn(1, 12, n_out), torch.randint(0, n_classes, (12,))
    target = distill_target(torch.softmax(torch.randn(12, n_classes), 1), codes, torch.ones(12), 2.0)
    plain = codes.float().unsqueeze(1) if n_classes == 2 else codes
    expected = member_losses(logits, plain, Shape(n_in=3, n_out=n_out, loss="bce" if n_classes == 2 else "ce"))
    assert torch.allclose(member_losses(logits, target, _kd(f"kd_{'bce' if n_classes == 2 else 'ce'}", n_out,
                                                            alpha=0.0)), expected, atol=1e-6)


def test_the_shape_refuses_a_temperature_or_alpha_out_of_range():
    with pytest.raises(ValueError, match="temperature > 0 and 0 <= alpha <= 1"):
        Shape(n_in=2, n_out=1, loss="kd_bce", temperature=0.0).check()
    with pytest.raises(ValueError, match="temperature > 0 and 0 <= alpha <= 1"):
        Shape(n_in=2, n_out=1, loss="kd_bce", alpha=1.5).check()


def _small(seed=0):
    X, y = make_classification(400, 8, n_informative=5, n_classes=3, random_state=seed)
    return X.astype(np.float32), y


def test_a_distilled_mlp_learns_from_the_soft_targets_when_no_label_counts():
    """Every label weight 0 and the labels shuffled: what the MLP learns comes from teacher_proba alone."""
    X, y = _small()
    shuffled = np.random.default_rng(0).permutation(y)
    teacher = np.full((len(y), 3), 0.05)
    teacher[np.arange(len(y)), y] = 0.9
    model = DistilledMLPClassifier(net=Network(hidden_layers=1, hidden_width=32, dropout=0.0),
                                   training=Training(max_epochs=40, patience=40), temperature=2.0, alpha=1.0,
                                   device="cpu", random_state=0)
    model.fit(X, shuffled, teacher_proba=teacher, label_weight=np.zeros(len(y)))
    assert model.loss == "kd_ce" and list(model.classes_) == [0, 1, 2]
    assert (model.predict(X) == y).mean() > 0.7  # the teacher's classes, not the shuffled labels
    assert (model.predict(X) == shuffled).mean() < 0.5
    with pytest.raises(ValueError, match="teacher_proba must hold one probability per row and class"):
        model.fit(X, y, teacher_proba=teacher[:, :2])


def test_the_int8_copy_predicts_as_the_float_mlp_and_pickles():
    X, y = _small(1)
    net, training = Network(hidden_layers=2, hidden_width=32), Training(max_epochs=15)
    classifier = TorchMLPClassifier(net=net, training=training, input_scaling="robust", device="cpu").fit(X, y)
    quantized = pickle.loads(cloudpickle.dumps(QuantizedMLP.from_fitted(classifier)))
    assert list(quantized.classes_) == [0, 1, 2]
    assert (quantized.predict(X) == classifier.predict(X)).mean() >= 0.95
    assert np.abs(quantized.predict_proba(X) - classifier.predict_proba(X)).max() < 0.1
    regressor = TorchMLPRegressor(net=net, training=training, device="cpu").fit(X, X[:, 0] * 2 + X[:, 1])
    quantized = QuantizedMLP(TorchMLPRegressor(net=net, training=training, device="cpu")).fit(X, X[:, 0] * 2 + X[:, 1])
    assert not hasattr(quantized, "predict_proba") and not hasattr(quantized, "classes_")
    assert np.corrcoef(quantized.predict(X), regressor.predict(X))[0, 1] > 0.98


def test_only_a_plain_mlp_is_quantised():
    X, y = _small(2)
    embedded = TorchMLPClassifier(net=Network(embedding="periodic"), training=Training(max_epochs=2),
                                  device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="only a plain MLP .* embedding 'periodic'"):
        QuantizedMLP.from_fitted(embedded)
