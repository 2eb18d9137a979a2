"""The model-family registry: adding a family is adding one class to FAMILIES."""

from __future__ import annotations

import difflib

from automl.models._base import FamilyContext, ModelFamily, Suggest
from automl.models.boosting import HistGradientBoosting
from automl.models.linear import Linear
from automl.models.mlp import MLP
from automl.models.tabm import TabM
from automl.models.trees import ExtraTrees, RandomForest

FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (Linear(), RandomForest(), ExtraTrees(), HistGradientBoosting(), MLP(), TabM())
}


def get_family(name: str) -> ModelFamily:
    """The registered family by name; an unknown name lists the registered ones."""
    if name not in FAMILIES:
        hint = difflib.get_close_matches(name, list(FAMILIES), n=1)
        did_you_mean = f" Did you mean '{hint[0]}'?" if hint else ""
        raise ValueError(f"unknown model family '{name}'.{did_you_mean} Registered: {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["FAMILIES", "FamilyContext", "ModelFamily", "Suggest", "get_family"]
