"""Every registered family, on tiny data, for each task it claims: the contract a new family must meet."""

import numpy as np
import optuna
import pytest
from sklearn.datasets import make_classification, make_regression

from automl.models import FAMILIES, FamilyContext, Suggest, get_family

CASES = [(name, task) for name, family in FAMILIES.items() for task in ("binary", "multiclass", "regression")
         if task in family.tasks]


def tiny(task):
    if task == "regression":
        return make_regression(60, 4, noise=0.1, random_state=0)
    return make_classification(60, 4, n_informative=3, n_redundant=0, n_classes=2 if task == "binary" else 3,
                               random_state=0)


def draw(family, context, fixed=None):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    if fixed:
        study.enqueue_trial({f"{family.name}.{k}": v for k, v in fixed.items()})
    s = Suggest(study.ask(), prefix=family.name)
    family.suggest(s, context)
    return s.params


@pytest.mark.parametrize("name, task", CASES)
def test_family_fits_and_predicts(name, task):
    family = get_family(name)
    context = FamilyContext(task=task, seed=0, device="cpu", n_rows=60, n_jobs=1)
    params = draw(family, context)
    if family.uses_device:
        params["max_epochs"] = 3  # the contract, not the quality: keep it short
    X, y = tiny(task)
    model = family.build(params, context)
    family.fit([model], X, y)  # how the search fits it (K = 1)
    pred = model.predict(X)
    assert pred.shape == (60,)
    if task == "regression":
        assert np.isfinite(pred).all()
    else:
        proba = model.predict_proba(X)
        assert proba.shape == (60, len(np.unique(y)))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        assert set(pred) <= set(model.classes_)


@pytest.mark.parametrize("name, task", CASES)
def test_defaults_lie_inside_the_search_space(name, task):
    family = get_family(name)
    context = FamilyContext(task=task, seed=0)
    defaults = family.defaults(context)
    assert draw(family, context, fixed=defaults) == defaults


@pytest.mark.parametrize("name, task", [(n, t) for n, t in CASES if FAMILIES[n].member_params])
def test_a_packing_family_fits_members_that_differ_only_in_member_params(name, task):
    family = get_family(name)
    context = FamilyContext(task=task, seed=0, device="cpu", n_rows=60, n_jobs=1)
    base = draw(family, context) | {"max_epochs": 3}
    second = base | {key: base[key] * 0.5 for key in family.member_params}  # (numeric, as packing needs)
    assert second != base
    models = [family.build(base, context), family.build(second, context)]
    X, y = tiny(task)
    family.fit(models, X, y)
    assert models[0].predict(X).shape == models[1].predict(X).shape == (60,)
    different = base | {"hidden_width": base["hidden_width"] + 1}  # a shared parameter may not differ
    with pytest.raises(ValueError, match="packed estimators must share"):
        family.fit([family.build(base, context), family.build(different, context)], X, y)


def test_unknown_family_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown model family 'random_forrest'\. Did you mean 'random_forest'\?"
                                         r" Registered: linear, random_forest"):
        get_family("random_forrest")
