"""Knowledge distillation's PyTorch parts, with the scikit-learn contract (automl.distill uses them):

- DistilledMLPClassifier: the MLP classifier trained on a teacher's class probabilities (the kd_bce /
  kd_ce losses of automl.nn._loop: the softened outputs against the teacher's softened probabilities,
  scaled by T², plus the label term), by the same loop as every other estimator here
- QuantizedMLP: a fitted plain MLP whose linear layers are int8 (PyTorch's post-training dynamic
  quantisation, torch.ao.quantization.quantize_dynamic), predicting on the CPU

Both pickle into a registered model, so they live here, beside the estimators they extend, and
import nothing of automl but automl.nn.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from torch import nn

from automl.nn._estimators import TorchMLPClassifier
from automl.nn._loop import distill_target
from automl.nn._model import StackedMLP
from automl.nn._settings import Network, Training


class DistilledMLPClassifier(TorchMLPClassifier):
    """An MLP classifier trained on a teacher's class probabilities: fit(X, y, teacher_proba=P,
    label_weight=w), P [N, C] in the order of classes_ (np.unique(y)). Each row's loss is
    alpha · T² · CE(softmax(P-logits / T), softmax(z / T)) + (1 - alpha) · w · CE(y, softmax(z)), so a
    row with w = 0 (an augmented row, labelled by the teacher alone) teaches through its soft target
    only. Without teacher_proba the labels are the soft targets. It predicts as TorchMLPClassifier
    does (T = 1)."""

    def __init__(self, *, net: Network | None = None, training: Training | None = None, input_scaling: str = "none",
                 temperature: float = 2.0, alpha: float = 0.5, device: str = "auto", random_state: int | None = None):
        super().__init__(net=net, training=training, input_scaling=input_scaling, device=device,
                         random_state=random_state)
        self.temperature = temperature
        self.alpha = alpha

    @property
    def loss(self) -> str:
        return "kd_bce" if len(getattr(self, "classes_", [])) == 2 else "kd_ce"

    def fit(self, X, y, teacher_proba=None, label_weight=None, callbacks=None):
        self._teacher = (teacher_proba, label_weight)  # read by _encode_target, inside fit_packed
        try:
            return super().fit(X, y, callbacks)
        finally:
            del self._teacher

    def _encode_target(self, y):
        hard, n_out = super()._encode_target(y)  # learns classes_
        proba, weight = getattr(self, "_teacher", (None, None))
        codes = np.searchsorted(self.classes_, y)
        if proba is None:
            proba = np.eye(len(self.classes_))[codes]
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape != (len(y), len(self.classes_)):
            raise ValueError(f"teacher_proba must hold one probability per row and class, shape "
                             f"{(len(y), len(self.classes_))} (classes_ {self.classes_.tolist()}); got {proba.shape}")
        weight = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
        target = distill_target(torch.from_numpy(proba), torch.from_numpy(codes), torch.from_numpy(weight),
                                self.temperature)
        return target, n_out


def to_sequential(model: StackedMLP) -> nn.Sequential:
    """A trained plain MLP (a pack of one, no embeddings) as nn.Linear and nn.ReLU layers, on the CPU."""
    shape = model.shape
    if model.pack_size != 1 or shape.arch != "none" or shape.embedding != "none" or shape.categories:
        raise ValueError("only a plain MLP (one member, no numeric or categorical embeddings, not a TabM) becomes "
                         f"linear layers; this one has embedding '{shape.embedding}', {len(shape.categories)} "
                         f"embedded categories, arch '{shape.arch}', {model.pack_size} member(s)")
    weights = {name: value[0].detach().float().cpu() for name, value in model.weights().items()}
    layers: list[nn.Module] = []
    for name in [*(f"{i}" for i in range(shape.hidden_layers)), "_out"]:
        w, b = weights[f"w{name}"], weights[f"b{name}"][0]
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(w.T)
            linear.bias.copy_(b)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()  # (no ReLU after the output layer)


def _is_classifier(self) -> bool:
    return hasattr(self.estimator, "classes_") or isinstance(self.estimator, TorchMLPClassifier)


class QuantizedMLP(BaseEstimator):
    """A plain MLP estimator (TorchMLPClassifier, TorchMLPRegressor, DistilledMLPClassifier: no
    embeddings) with its linear layers quantised to int8 after training (dynamic quantisation: int8
    weights, activations quantised per batch), predicting on the CPU as the float one does.
    `fit` trains a clone of `estimator`, then quantises it; from_fitted quantises a fitted one."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    @classmethod
    def from_fitted(cls, estimator) -> QuantizedMLP:
        quantized = cls(estimator)
        quantized.estimator_ = estimator
        return quantized._quantize()

    def fit(self, X, y, **fit_params):
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self._quantize()

    def _quantize(self) -> QuantizedMLP:
        check_is_fitted(self.estimator_, "model_")
        network = to_sequential(self.estimator_.model_)
        with warnings.catch_warnings():  # (PyTorch 2.13 marks torch.ao.quantization deprecated, for torchao)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            self.network_ = torch.ao.quantization.quantize_dynamic(network, {nn.Linear}, dtype=torch.qint8)
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def _logits(self, X) -> torch.Tensor:
        check_is_fitted(self, "network_")
        X = np.asarray(X, dtype=np.float32)
        inputs = getattr(self.estimator_, "inputs_", None)
        X = X if inputs is None else inputs.transform(X)
        with torch.no_grad():
            return self.network_(torch.from_numpy(np.require(X, dtype=np.float32, requirements="W"))).float()

    @available_if(_is_classifier)
    def predict_proba(self, X) -> np.ndarray:
        return self.estimator_.proba_from_logits(self._logits(X))

    def predict(self, X) -> np.ndarray:
        if hasattr(self, "classes_"):
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        return self.estimator_.values_from_logits(self._logits(X))
