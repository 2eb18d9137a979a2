"""PyTorch MLPs with the scikit-learn contract, so they sit in the same Pipeline as sklearn models.

The constructor stores its arguments; `fit` validates the data (scikit-learn's `validate_data`),
learns attributes ending in `_` and returns self. The knobs live in two settings objects,
`net` and `training` (automl.nn._settings, None: the estimator's defaults), from which the
training shape, each pack member's own part and what a pack must share are all derived. The loop
itself is automl.nn._loop: one estimator is a pack of one; `fit_packed` trains several estimators
of one shape together (the search packs trials).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from automl.nn._callbacks import Callback, EarlyStopping
from automl.nn._device import resolve_device
from automl.nn._inputs import Inputs
from automl.nn._loop import predict_logits, train
from automl.nn._settings import MEMBER_KNOBS, Network, Settings, TabMNetwork, TabMTraining, Training
from automl.nn._shape import Member, Shape

LEARNED_TOGETHER = ("classes_", "y_mean_", "y_std_", "n_features_in_", "feature_names_in_", "inputs_")
# The Shape's fields that knobs fill; the rest come from the data and the estimator's type.
SHAPE_KNOBS = tuple(f.name for f in dataclasses.fields(Shape) if f.name not in ("n_in", "n_out", "categories", "loss"))
RENAMED_KNOBS = {"k": "n_submodels", "prune_members": "prune_submodels"}  # before issue 24


class _TorchEstimator(BaseEstimator):
    """Shared fit; subclasses say how targets become tensors and logits become predictions."""

    loss: str
    SETTINGS: ClassVar[dict[str, type[Settings]]] = {"net": Network, "training": Training}
    ensure_all_finite: ClassVar[bool | str] = True  # a TabM takes missing values ("allow-nan")

    def __init__(self, *, net: Network | None = None, training: Training | None = None, device: str = "auto",
                 random_state: int | None = None):
        self.net = net
        self.training = training
        self.device = device
        self.random_state = random_state

    def settings(self, name: str) -> Settings:
        """The settings object `name` ("net" or "training"): the one given, or this estimator's defaults."""
        given, kind = getattr(self, name), self.SETTINGS[name]
        if given is not None and not isinstance(given, kind):  # a TabM handed an MLP's Network lacks its arch
            raise ValueError(f"The '{name}' parameter of {type(self).__name__} must be a {kind.__name__} (or None for "
                             f"its defaults). Got {given!r} instead.")
        return kind() if given is None else given

    def knobs(self) -> dict[str, Any]:
        """Every knob by its plain name: the settings' fields, then the estimator's own parameters."""
        knobs: dict[str, Any] = {}
        for name in self.SETTINGS:
            knobs |= self.settings(name).get_params()
        return knobs | {key: value for key, value in self.get_params(deep=False).items() if key not in self.SETTINGS}

    @classmethod
    def knob_names(cls) -> list[str]:
        own = [name for name in cls._get_param_names() if name not in cls.SETTINGS]
        return [knob for kind in cls.SETTINGS.values() for knob in kind.knob_names()] + own

    @classmethod
    def from_knobs(cls, **knobs):
        """The estimator that plain knob names describe, each put into the settings object that declares
        it: `from_knobs(hidden_width=64, learning_rate=1e-3, device="cpu")` (the search draws plain names)."""
        unknown = sorted(set(knobs) - set(cls.knob_names()))
        if unknown:
            raise ValueError(f"{cls.__name__} has no knob {', '.join(map(repr, unknown))}; "
                             f"its knobs are {', '.join(cls.knob_names())}")
        grouped = {name: kind(**{k: v for k, v in knobs.items() if k in kind.knob_names()})
                   for name, kind in cls.SETTINGS.items()}
        own = {key: value for key, value in knobs.items() if key in cls._get_param_names()}
        return cls(**own, **grouped)

    def set_params(self, **params):
        # A nested name reaches into a settings object; one left at None (the defaults) is made first,
        # so TorchMLPClassifier().set_params(net__hidden_width=64) works as it does on a Pipeline's step.
        for name in {key.partition("__")[0] for key in params if "__" in key} & set(self.SETTINGS):
            if getattr(self, name) is None:
                setattr(self, name, self.SETTINGS[name]())
        return super().set_params(**params)

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
        """The training shape these knobs describe (shared by every member of a pack)."""
        knobs = self.knobs()
        return Shape(n_in=n_in, n_out=n_out, loss=self.loss, categories=self.inputs_.cardinalities,
                     **{name: knobs[name] for name in SHAPE_KNOBS if name in knobs})

    def member(self) -> Member:
        knobs = self.knobs()
        return Member(**{name: knobs[name] for name in MEMBER_KNOBS}, seed=self._seed())

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

    def __setstate__(self, state: dict) -> None:
        if "net" not in state:  # pickled before the knobs were grouped (issue 24): group them now
            state = {RENAMED_KNOBS.get(key, key): value for key, value in state.items()}
            for name, kind in self.SETTINGS.items():
                state[name] = kind(**{knob: state.pop(knob) for knob in kind.knob_names() if knob in state})
        super().__setstate__(state)


def _tensor(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """X on the device, sharing its memory where it can (a read-only array, e.g. a memmap, is copied)."""
    return torch.from_numpy(np.require(X, requirements="W")).to(device)


def fit_packed(estimators: list[_TorchEstimator], X, y, callbacks: list[Callback] | None = None) -> list[str]:
    """Fit estimators that share every knob but MEMBER_KNOBS (learning rate, weight decay, dropout)
    and random_state in one pack: each ends up fitted as if trained alone with the pack's data order.

    Callbacks see every epoch of every member (member m of the pack is estimators[m]); early
    stopping (the knob `patience`) comes after them. Returns why each estimator stopped.
    """
    lead = estimators[0]
    X, y = lead._validate_fit_data(X, y)
    lead.inputs_ = lead._fit_inputs(X)
    X = lead.inputs_.transform(X)
    target, n_out = lead._encode_target(y)
    shape = lead.shape_for(X.shape[1], n_out)
    shape.check(owner=type(lead).__name__)
    learned = {k: v for k, v in vars(lead).items() if k in LEARNED_TOGETHER}
    shared = _shared_knobs(lead)
    for index, other in enumerate(estimators[1:], start=1):
        other.__dict__.update(learned)  # classes_ first: a classifier's loss depends on them
        differ = [name for name, value in _shared_knobs(other).items() if shared.get(name) != value]
        if type(other) is not type(lead) or differ:
            raise ValueError(f"packed estimators must share their type and every knob (the shape, device, patience, "
                             f"inputs, target scale) but {', '.join(MEMBER_KNOBS)} and random_state; estimator "
                             f"{index} is a {type(other).__name__} that differs in {differ or 'nothing else'}")
    device = resolve_device(lead.device)
    patience = lead.settings("training").patience
    result = train(_tensor(X, device), target.to(device), shape, [e.member() for e in estimators],
                   device, seed=lead._seed(), callbacks=[*(callbacks or []), EarlyStopping(patience)])
    for index, estimator in enumerate(estimators):
        estimator.model_ = result.model.member(index) if len(estimators) > 1 else result.model
        estimator.history_ = result.history[index]
        estimator.n_epochs_, estimator.device_ = len(estimator.history_), str(device)
    return result.stopped


def _shared_knobs(estimator: _TorchEstimator) -> dict[str, Any]:
    """What packed estimators must share: every knob but each member's own and the seed."""
    return {name: value.tolist() if isinstance(value, np.ndarray) else value
            for name, value in estimator.knobs().items() if name not in (*MEMBER_KNOBS, "random_state")}


class TorchMLPClassifier(ClassifierMixin, _TorchEstimator):
    """Binary (one logit, binary cross-entropy) and multiclass (softmax cross-entropy) classification."""

    def __init__(self, *, net: Network | None = None, training: Training | None = None, input_scaling: str = "none",
                 label_smoothing: float = 0.0, device: str = "auto", random_state: int | None = None):
        super().__init__(net=net, training=training, device=device, random_state=random_state)
        self.input_scaling = input_scaling
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
        return self.proba_from_logits(self._logits(X))

    def proba_from_logits(self, logits: torch.Tensor) -> np.ndarray:
        """Class probabilities [N, C] from the network's logits (a sigmoid for two classes, else a softmax)."""
        if len(self.classes_) == 2:
            positive = torch.sigmoid(logits[:, 0]).numpy().astype(np.float64)
            return np.column_stack([1 - positive, positive])
        return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)  # checks the fit first
        return self.classes_[proba.argmax(axis=1)]


class TorchMLPRegressor(RegressorMixin, _TorchEstimator):
    """Regression on a standardised target with mean squared error; with `log_target`, the target is
    log1p(y) and predictions are expm1 of the network's (prices, counts: a positive, skewed y). This is
    TransformedTargetRegressor's job done inside the estimator, so packed trials stay plain estimators."""

    loss = "mse"

    def __init__(self, *, net: Network | None = None, training: Training | None = None, input_scaling: str = "none",
                 log_target: bool = False, device: str = "auto", random_state: int | None = None):
        super().__init__(net=net, training=training, device=device, random_state=random_state)
        self.input_scaling = input_scaling
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
        return self.values_from_logits(self._logits(X))

    def values_from_logits(self, logits: torch.Tensor) -> np.ndarray:
        """Predictions on y's own scale from the network's output [N, 1]."""
        predicted = logits.numpy()[:, 0].astype(np.float64) * self.y_std_ + self.y_mean_
        return np.expm1(predicted) if getattr(self, "log_target", False) else predicted  # (older pickles lack it)


class _TabM(_TorchEstimator):
    """TabM (automl.nn._tabm): n_submodels MLPs sharing their weights, trained on the mean of their losses,
    predicting their mean. It takes raw numbers with gaps and integer-coded categories (`categorical_features`,
    as HistGradientBoosting does): numbers are robust-scaled and smoothly clipped, categories embedded."""

    SETTINGS = {"net": TabMNetwork, "training": TabMTraining}
    ensure_all_finite = "allow-nan"
    input_scaling = "robust"  # always (not a parameter): numbers arrive raw, as the native preprocessor passes them

    def __init__(self, *, net: TabMNetwork | None = None, training: TabMTraining | None = None,
                 categorical_features=None, device: str = "auto", random_state: int | None = None):
        _TorchEstimator.__init__(self, net=net, training=training, device=device, random_state=random_state)
        self.categorical_features = categorical_features

    def shape_for(self, n_in: int, n_out: int) -> Shape:
        arch = self.settings("net").arch
        if arch not in ("mini", "full"):
            raise ValueError(f"The 'arch' parameter of {type(self).__name__} must be one of ('mini', 'full'). "
                             f"Got {arch!r} instead.")
        return super().shape_for(n_in, n_out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class TabMClassifier(_TabM, TorchMLPClassifier):
    """TabM for binary and multiclass classification: the submodels' mean probability."""

    def __init__(self, *, net: TabMNetwork | None = None, training: TabMTraining | None = None,
                 categorical_features=None, label_smoothing: float = 0.0, device: str = "auto",
                 random_state: int | None = None):
        _TabM.__init__(self, net=net, training=training, categorical_features=categorical_features, device=device,
                       random_state=random_state)
        self.label_smoothing = label_smoothing


class TabMRegressor(_TabM, TorchMLPRegressor):
    """TabM for regression on a standardised target (log1p(y) with `log_target`): the submodels' mean
    prediction (on the log scale with `log_target`, then expm1)."""

    def __init__(self, *, net: TabMNetwork | None = None, training: TabMTraining | None = None,
                 categorical_features=None, log_target: bool = False, device: str = "auto",
                 random_state: int | None = None):
        _TabM.__init__(self, net=net, training=training, categorical_features=categorical_features, device=device,
                       random_state=random_state)
        self.log_target = log_target
