"""The model-family registry: FAMILIES, one instance per name in automl.names.FAMILY_NAMES, in that order.

Adding a family: its class (a ModelFamily with a `name`) in a module here, the class in CLASSES,
and the name in automl.names.FAMILY_NAMES (which automl.config offers without importing PyTorch).
"""

from __future__ import annotations

from automl.models._base import FamilyContext, ModelFamily, Suggest
from automl.models.boosting import HistGradientBoosting
from automl.models.linear import Linear
from automl.models.mlp import MLP
from automl.models.tabm import TabM
from automl.models.trees import ExtraTrees, RandomForest
from automl.names import FAMILY_NAMES, did_you_mean

CLASSES: tuple[type[ModelFamily], ...] = (Linear, RandomForest, ExtraTrees, HistGradientBoosting, MLP, TabM)


def _registry() -> dict[str, ModelFamily]:
    """FAMILY_NAMES's order; a name without a class, or a class without a name there, stops the import."""
    by_name = {family.name: family for family in CLASSES}
    if set(by_name) != set(FAMILY_NAMES):
        raise ImportError(f"automl.models: the classes name {sorted(by_name)} but automl.names.FAMILY_NAMES "
                          f"lists {sorted(FAMILY_NAMES)}; add each family to both")
    return {name: by_name[name]() for name in FAMILY_NAMES}


FAMILIES: dict[str, ModelFamily] = _registry()


def get_family(name: str) -> ModelFamily:
    """The registered family by name; an unknown name lists the registered ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family '{name}'.{did_you_mean(name, FAMILIES)} "
                         f"Registered: {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["CLASSES", "FAMILIES", "FamilyContext", "ModelFamily", "Suggest", "get_family"]
