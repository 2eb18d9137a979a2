"""The knobs of the PyTorch estimators, declared once: what the network is (Network) and how it trains
(Training), with TabM's own defaults and its ensemble (TabMNetwork, TabMTraining).

Each settings object is a small scikit-learn estimator (get_params, set_params), so an estimator holds
them as two parameters, `net` and `training`, and scikit-learn's nested names reach inside:
`set_params(net__hidden_width=64)`, a grid over `training__learning_rate`, `clone`. The training
shape (automl.nn.Shape) and each pack member's own part (automl.nn.Member) are read from them by
field name, so a new knob is one field here (and one in Shape or Member if the loop needs it).
Fields are keyword-only: no call can shift a value into the wrong knob by position.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sklearn.base import BaseEstimator

from automl.nn._shape import Member

# What each member of a pack has of its own (its seed aside): the knobs packed trials may differ in.
MEMBER_KNOBS = tuple(f.name for f in dataclasses.fields(Member) if f.name != "seed")


@dataclass(kw_only=True, repr=False, eq=False)
class Settings(BaseEstimator):
    """Base of the settings objects: a dataclass whose fields are its scikit-learn parameters."""

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(kw_only=True, repr=False, eq=False)
class Network(Settings):
    """The MLP: its layers, its dropout, and how numeric features are embedded ("periodic": per-feature
    sin/cos of learned frequencies; "ple": piecewise-linear over quantile bins of the training rows)."""

    hidden_layers: int = 2
    hidden_width: int = 128
    dropout: float = 0.1
    embedding: str = "none"
    n_frequencies: int = 8
    n_bins: int = 16
    embedding_dim: int = 8  # per numeric feature (periodic, ple) and per categorical column


@dataclass(kw_only=True, repr=False, eq=False)
class TabMNetwork(Network):
    """TabM: n_submodels MLPs sharing their weights ("mini": an input adapter each; "full": BatchEnsemble
    scalings on every layer); `prune_submodels` keeps the subset that predicts best on the validation rows."""

    hidden_layers: int = 3
    hidden_width: int = 512
    embedding: str = "ple"
    n_bins: int = 48
    embedding_dim: int = 16
    arch: str = "mini"
    n_submodels: int = 32
    prune_submodels: bool = False


@dataclass(kw_only=True, repr=False, eq=False)
class Training(Settings):
    """The optimiser, its schedule, the batches, and early stopping on a validation split."""

    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "constant"
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10
    validation_fraction: float = 0.15


@dataclass(kw_only=True, repr=False, eq=False)
class TabMTraining(Training):
    """TabM's defaults (Gorishniy et al., ICLR 2025)."""

    learning_rate: float = 2e-3
    weight_decay: float = 3e-4
    batch_size: int = 256
    patience: int = 16
