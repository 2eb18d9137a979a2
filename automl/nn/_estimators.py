"""PyTorch MLPs with the scikit-learn contract, so they sit in the same Pipeline as sklearn models.

The constructor stores its arguments; `fit` validates the data (scikit-learn's `validate_data`),
learns attributes ending in `_` and returns self. The loop itself is automl.nn._loop: one estimator
is K = 1; `fit_packed` trains several estimators of one shape together (the search packs trials).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from automl.nn._callbacks import Callback, EarlyStopping
from automl.nn._device import resolve_device
from automl.nn._inputs import Inputs
from automl.nn._loop import predict_logits, train
from automl.nn._model import Member, Shape

LEARNED_TOGETHER = ("classes_", "y_mean_", "y_std_", "n_features_in_", "feature_names_in_", "inputs_")


class _TorchMLP(BaseEstimator):
    """Shared fit; subclasses say how targets become tensors and logits become predictions."""

    loss: str

    def __init__(self, hidden_layers: int = 2, hidden_width: int = 128, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, optimizer: str = "adamw",
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.15, schedule: str = "constant", embedding: str = "none",
                 n_frequencies: int = 8, embedding_dim: int = 8, device: str = "auto",
                 random_state: int | None = None, n_bins: int = 16, input_scaling: str = "none"):
        self.hidden_layers = hidden_layers
        self.hidden_width = hidden_width
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.schedule = schedule
        self.embedding = embedding
        self.n_frequencies = n_frequencies
        self.embedding_dim = embedding_dim
        self.device = device
        self.random_state = random_state
        self.n_bins = n_bins
        self.input_scaling = input_scaling

    ensure_all_finite = True  # a TabM takes missing values ("allow-nan")

    def _fit_inputs(self, X: np.ndarray) -> Inputs:
        if self.input_scaling not in ("none", "robust"):
            raise ValueError(f"The 'input_scaling' parameter of {type(self).__name__} must be 'none' or 'robust'. "
                             f"Got {self.input_scaling!r} instead.")
        return Inputs.fit(X, getattr(self, "categorical_features", None), robust=self.input_scaling == "robust")

    def _validate_fit_data(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _encode_target(self, y: np.ndarray) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def shape_for(self, n_in: int, n_out: int) -> Shape:
        """The training shape these parameters describe (shared by every member of a pack)."""
        return Shape(n_in=n_in, n_out=n_out, hidden_layers=self.hidden_layers, hidden_width=self.hidden_width,
                     embedding=self.embedding, n_frequencies=self.n_frequencies, n_bins=self.n_bins,
                     embedding_dim=self.embedding_dim, loss=self.loss,
                     label_smoothing=getattr(self, "label_smoothing", 0.0), optimizer=self.optimizer,
                     schedule=self.schedule, batch_size=self.batch_size, max_epochs=self.max_epochs,
                     validation_fraction=self.validation_fraction, categories=self.inputs_.cardinalities)

    def member(self) -> Member:
        return Member(self.learning_rate, self.weight_decay, self.dropout, self._seed())

    def _seed(self) -> int:
        return 0 if self.random_state is None else int(self.random_state)

    def fit(self, X, y, callbacks: list[Callback] | None = None):
        """Train with early stopping on a validation split; `callbacks` see every epoch (automl.nn.Callback)."""
        fit_packed([self], X, y, callbacks)
        return self

    def _logits(self, X) -> torch.Tensor:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False, ensure_all_finite=self.ensure_all_finite)
        device = self.model_.flat.device
        inputs = getattr(self, "inputs_", None)  # absent from models pickled before inputs were learned
        X = X if inputs is None else inputs.transform(X)
        return predict_logits(self.model_, _tensor(X, device))[0].cpu()

    def __getstate__(self):
        # Pickle fitted models on the CPU, so a model trained on a GPU loads anywhere.
        state = self.__dict__.copy()
        if "model_" in state:
            state["model_"] = copy.deepcopy(self.model_).to("cpu")
        return state


def _tensor(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """X on the device, sharing its memory where it can (a read-only array, e.g. a memmap, is copied)."""
    return torch.from_numpy(np.require(X, requirements="W")).to(device)


def fit_packed(estimators: list[_TorchMLP], X, y, callbacks: list[Callback] | None = None) -> list[str]:
    """Fit estimators that share a shape (all but learning rate, weight decay, dropout and
    random_state) in one pack: each ends up fitted as if trained alone with the pack's data order.

    Callbacks see every epoch of every member (member m of the pack is estimators[m]); early
    stopping (the estimators' `patience`) comes after them. Returns why each estimator stopped.
    """
    lead = estimators[0]
    X, y = lead._validate_fit_data(X, y)
    lead.inputs_ = lead._fit_inputs(X)
    X = lead.inputs_.transform(X)
    target, n_out = lead._encode_target(y)
    shape = lead.shape_for(X.shape[1], n_out)
    shape.check(owner=type(lead).__name__)
    learned = {k: v for k, v in vars(lead).items() if k in LEARNED_TOGETHER}
    for other in estimators[1:]:
        other.__dict__.update(learned)  # classes_ first: a classifier's loss depends on them
        if (type(other) is not type(lead) or _pack_key(other) != _pack_key(lead)
                or other.shape_for(X.shape[1], n_out) != shape):
            raise ValueError("packed estimators must share their type, device, patience, inputs, target scale and "
                             "shape; only learning_rate, weight_decay, dropout and random_state may differ")
    device = resolve_device(lead.device)
    result = train(_tensor(X, device), target.to(device), shape, [e.member() for e in estimators],
                   device, seed=lead._seed(), callbacks=[*(callbacks or []), EarlyStopping(lead.patience)])
    for index, estimator in enumerate(estimators):
        estimator.model_ = result.model.member(index) if len(estimators) > 1 else result.model
        estimator.history_ = result.history[index]
        estimator.n_epochs_, estimator.device_ = len(estimator.history_), str(device)
    return result.stopped


def _pack_key(estimator: _TorchMLP) -> tuple:
    """What packed estimators must share beyond the shape: the device, the stopping rule, the inputs."""
    categorical = getattr(estimator, "categorical_features", None)
    return (estimator.device, estimator.patience, estimator.input_scaling, getattr(estimator, "log_target", False),
            None if categorical is None else np.asarray(categorical).tolist())


class TorchMLPClassifier(ClassifierMixin, _TorchMLP):
    """Binary (one logit, binary cross-entropy) and multiclass (softmax cross-entropy) classification."""

    def __init__(self, hidden_layers: int = 2, hidden_width: int = 128, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, optimizer: str = "adamw",
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.15, schedule: str = "constant", embedding: str = "none",
                 n_frequencies: int = 8, embedding_dim: int = 8, device: str = "auto",
                 random_state: int | None = None, label_smoothing: float = 0.0, n_bins: int = 16,
                 input_scaling: str = "none"):
        super().__init__(hidden_layers, hidden_width, dropout, learning_rate, weight_decay, optimizer,
                         batch_size, max_epochs, patience, validation_fraction, schedule, embedding,
                         n_frequencies, embedding_dim, device, random_state, n_bins, input_scaling)
        self.label_smoothing = label_smoothing

    @property
    def loss(self) -> str:
        return "bce" if len(getattr(self, "classes_", [])) == 2 else "ce"

    def _validate_fit_data(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float32, ensure_all_finite=self.ensure_all_finite)
        check_classification_targets(y)
        return X, y

    def _encode_target(self, y):
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes to train; y holds 1 class: "
                             f"{self.classes_.tolist()}")
        if len(self.classes_) == 2:
            return torch.from_numpy(codes.astype(np.float32)).unsqueeze(1), 1
        return torch.from_numpy(codes.astype(np.int64)), len(self.classes_)

    def predict_proba(self, X) -> np.ndarray:
        logits = self._logits(X)
        if len(self.classes_) == 2:
            positive = torch.sigmoid(logits[:, 0]).numpy().astype(np.float64)
            return np.column_stack([1 - positive, positive])
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # checks the fit first
        return self.classes_[proba.argmax(axis=1)]


class TorchMLPRegressor(RegressorMixin, _TorchMLP):
    """Regression on a standardised target with mean squared error; with `log_target`, the target is
    log1p(y) and predictions are expm1 of the network's (prices, counts: a positive, skewed y). This is
    TransformedTargetRegressor's job done inside the estimator, so packed trials stay plain estimators."""

    loss = "mse"

    def __init__(self, hidden_layers: int = 2, hidden_width: int = 128, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, optimizer: str = "adamw",
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.15, schedule: str = "constant", embedding: str = "none",
                 n_frequencies: int = 8, embedding_dim: int = 8, device: str = "auto",
                 random_state: int | None = None, n_bins: int = 16, input_scaling: str = "none",
                 log_target: bool = False):
        super().__init__(hidden_layers, hidden_width, dropout, learning_rate, weight_decay, optimizer,
                         batch_size, max_epochs, patience, validation_fraction, schedule, embedding,
                         n_frequencies, embedding_dim, device, random_state, n_bins, input_scaling)
        self.log_target = log_target

    def _validate_fit_data(self, X, y):
        return validate_data(self, X, y, dtype=np.float32, y_numeric=True, ensure_all_finite=self.ensure_all_finite)

    def _encode_target(self, y):
        y = y.astype(np.float64)
        if self.log_target:
            if y.min() <= -1:
                raise ValueError(f"{type(self).__name__}(log_target=True) fits log1p(y), which needs y > -1; y holds "
                                 f"{y.min():g}. Set log_target=False for a target that can be this low.")
            y = np.log1p(y)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        return torch.from_numpy(((y - self.y_mean_) / self.y_std_).astype(np.float32)).unsqueeze(1), 1

    def predict(self, X) -> np.ndarray:
        predicted = self._logits(X).numpy()[:, 0].astype(np.float64) * self.y_std_ + self.y_mean_
        return np.expm1(predicted) if getattr(self, "log_target", False) else predicted  # (older pickles lack it)


class _TabM(_TorchMLP):
    """TabM (automl.nn._tabm): k MLPs sharing their weights, trained on the mean of their losses, predicting
    their mean. It takes raw numbers with gaps and integer-coded categories (`categorical_features`, as
    HistGradientBoosting does): numbers are robust-scaled and smoothly clipped, categories embedded."""

    ensure_all_finite = "allow-nan"
    input_scaling = "robust"  # always (not a parameter): numbers arrive raw, as the native preprocessor passes them

    def __init__(self, k: int = 32, arch: str = "mini", hidden_layers: int = 3, hidden_width: int = 512,
                 dropout: float = 0.1, learning_rate: float = 2e-3, weight_decay: float = 3e-4,
                 optimizer: str = "adamw", batch_size: int = 256, max_epochs: int = 100, patience: int = 16,
                 validation_fraction: float = 0.15, schedule: str = "constant", embedding: str = "ple",
                 n_bins: int = 48, n_frequencies: int = 8, embedding_dim: int = 16, prune_members: bool = False,
                 categorical_features=None, device: str = "auto", random_state: int | None = None):
        _TorchMLP.__init__(self, hidden_layers=hidden_layers, hidden_width=hidden_width, dropout=dropout,
                           learning_rate=learning_rate, weight_decay=weight_decay, optimizer=optimizer,
                           batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                           validation_fraction=validation_fraction, schedule=schedule, embedding=embedding,
                           n_frequencies=n_frequencies, embedding_dim=embedding_dim, device=device,
                           random_state=random_state, n_bins=n_bins, input_scaling=type(self).input_scaling)
        self.k = k
        self.arch = arch
        self.prune_members = prune_members
        self.categorical_features = categorical_features

    def shape_for(self, n_in: int, n_out: int) -> Shape:
        if self.arch not in ("mini", "full"):
            raise ValueError(f"The 'arch' parameter of {type(self).__name__} must be one of ('mini', 'full'). "
                             f"Got {self.arch!r} instead.")
        return dataclasses.replace(super().shape_for(n_in, n_out), ensemble=self.arch, ensemble_size=self.k,
                                   prune_members=bool(self.prune_members))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class TabMClassifier(_TabM, TorchMLPClassifier):
    """TabM for binary and multiclass classification: the members' mean probability."""

    def __init__(self, k: int = 32, arch: str = "mini", hidden_layers: int = 3, hidden_width: int = 512,
                 dropout: float = 0.1, learning_rate: float = 2e-3, weight_decay: float = 3e-4,
                 optimizer: str = "adamw", batch_size: int = 256, max_epochs: int = 100, patience: int = 16,
                 validation_fraction: float = 0.15, schedule: str = "constant", embedding: str = "ple",
                 n_bins: int = 48, n_frequencies: int = 8, embedding_dim: int = 16, prune_members: bool = False,
                 categorical_features=None, device: str = "auto", random_state: int | None = None,
                 label_smoothing: float = 0.0):
        _TabM.__init__(self, k, arch, hidden_layers, hidden_width, dropout, learning_rate, weight_decay, optimizer,
                       batch_size, max_epochs, patience, validation_fraction, schedule, embedding, n_bins,
                       n_frequencies, embedding_dim, prune_members, categorical_features, device, random_state)
        self.label_smoothing = label_smoothing


class TabMRegressor(_TabM, TorchMLPRegressor):
    """TabM for regression on a standardised target (log1p(y) with `log_target`): the members' mean
    prediction (on the log scale with `log_target`, then expm1)."""

    def __init__(self, k: int = 32, arch: str = "mini", hidden_layers: int = 3, hidden_width: int = 512,
                 dropout: float = 0.1, learning_rate: float = 2e-3, weight_decay: float = 3e-4,
                 optimizer: str = "adamw", batch_size: int = 256, max_epochs: int = 100, patience: int = 16,
                 validation_fraction: float = 0.15, schedule: str = "constant", embedding: str = "ple",
                 n_bins: int = 48, n_frequencies: int = 8, embedding_dim: int = 16, prune_members: bool = False,
                 categorical_features=None, device: str = "auto", random_state: int | None = None,
                 log_target: bool = False):
        _TabM.__init__(self, k, arch, hidden_layers, hidden_width, dropout, learning_rate, weight_decay, optimizer,
                       batch_size, max_epochs, patience, validation_fraction, schedule, embedding, n_bins,
                       n_frequencies, embedding_dim, prune_members, categorical_features, device, random_state)
        self.log_target = log_target
