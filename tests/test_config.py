from pathlib import Path
from typing import get_args

import pytest

from automl.config import (
    ALL_FAMILIES,
    DEFAULT_FAMILIES,
    ConfigError,
    Family,
    RunConfig,
    apply_overrides,
    load_config,
    parse_config,
)
from automl.models import FAMILIES

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def test_defaults_make_a_valid_config():
    config = RunConfig()
    assert config.name == "demo"
    assert config.search.n_trials == 30 and config.search.families == DEFAULT_FAMILIES == ALL_FAMILIES[:-1]
    assert config.tracking.tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert config.registered_model_name == "demo" and config.experiment_name == "demo"


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert config.name == path.stem


def test_shipped_configs_cover_classification_and_regression():
    tasks = {load_config(p).data.source for p in CONFIG_DIR.glob("*.yaml")}
    assert {"sklearn:breast_cancer", "sklearn:diabetes"} <= tasks


def test_unknown_top_level_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown key 'serach'.*Did you mean 'search'\?"):
        parse_config({"serach": {"n_trials": 3}})


def test_unknown_nested_key_names_its_section():
    with pytest.raises(ConfigError, match=r"search: unknown key 'n_trial' in SearchConfig\. Did you mean 'n_trials'\?"):
        parse_config({"search": {"n_trial": 3}})


def test_bad_choice_lists_the_allowed_values():
    with pytest.raises(ConfigError, match=r"metric: Input should be 'auto', 'roc_auc'.*got 'auc'"):
        parse_config({"metric": "auc"})


def test_unknown_family_is_refused_with_the_registered_ones():
    with pytest.raises(ConfigError, match=r"search\.families\.0: Input should be 'linear', 'random_forest'"):
        parse_config({"search": {"families": ["xgboost"]}})


def test_search_needs_a_budget():
    with pytest.raises(ConfigError, match="needs a budget"):
        parse_config({"search": {"n_trials": None, "timeout_s": None}})


def test_every_error_is_listed_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_config({"seed": -1, "search": {"cv_folds": 1}})
    assert "seed" in str(caught.value) and "search.cv_folds" in str(caught.value)


def test_the_distill_section_takes_student_families_by_name():
    assert parse_config({}).distill.students == ["mlp", "hist_gradient_boosting"]
    distill = parse_config({"distill": {"students": ["hist_gradient_boosting"], "tolerance": 0.02}}).distill
    assert distill.students == ["hist_gradient_boosting"] and distill.tolerance == 0.02
    with pytest.raises(ConfigError, match=r"distill.students: unknown student family 'mpl'. Did you mean 'mlp'\? "
                                          r"Students: mlp, hist_gradient_boosting"):
        parse_config({"distill": {"students": ["mpl"]}})
    with pytest.raises(ConfigError, match=r"distill: unknown key 'n_trial' in DistillConfig. Did you mean 'n_trials'"):
        parse_config({"distill": {"n_trial": 3}})
    with pytest.raises(ConfigError, match=r"lists a family twice"):
        parse_config({"distill": {"students": ["mlp", "mlp"]}})


def test_family_choices_match_the_registry():
    assert list(get_args(Family)) == list(FAMILIES) == ALL_FAMILIES


def test_overrides_parse_values_as_yaml():
    values = apply_overrides({"search": {"n_trials": 30}}, ["search.n_trials=5", "search.families=[linear]", "seed=3"])
    assert values == {"search": {"n_trials": 5, "families": ["linear"]}, "seed": 3}


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="must look like key=value"):
        apply_overrides({}, ["search.n_trials"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listed)


def test_config_hash_is_stable_and_tracks_changes():
    assert RunConfig().config_hash() == RunConfig().config_hash()
    assert RunConfig().config_hash() != RunConfig(seed=1).config_hash()
    # a bundled set's own target written out (as a deployment's form does) is the same config
    assert RunConfig(data={"target": "target"}).config_hash() == RunConfig().config_hash()
    assert RunConfig(data={"target": "mean radius"}).config_hash() != RunConfig().config_hash()
    # how the model is used in service is not how it is trained: a run can still resume the other's
    served = RunConfig(monitor={"psi_threshold": 0.3, "input": "in/*.csv", "schedule": {"interval_s": 60}},
                       score={"input": "in/*.csv", "output": "out.parquet"},
                       distill={"n_trials": 3, "students": ["mlp"], "schedule": {"cron": "0 5 * * *"}})
    assert served.config_hash() == RunConfig().config_hash() == "33d3c00cbf7e"  # (as before these sections)


def test_json_schema_has_titles_and_descriptions_for_the_form():
    schema = RunConfig.model_json_schema()
    search = schema["$defs"]["SearchConfig"]["properties"]
    assert search["n_trials"]["title"] == "Trials"
    assert "description" in search["families"]


def test_yaml_on_and_off_mean_what_they_say(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  pack_trials: on\n")
    assert load_config(path).search.pack_trials == "on"
    assert apply_overrides({}, ["search.pack_trials=off"]) == {"search": {"pack_trials": False}}
    assert parse_config(apply_overrides({}, ["search.pack_trials=off"])).search.pack_trials == "off"


def test_schedule_needs_one_valid_kind():
    assert parse_config({"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}}).schedule.cron == "0 3 * * *"
    with pytest.raises(ConfigError, match="exactly one of cron"):
        parse_config({"schedule": {"cron": "0 3 * * *", "interval_s": 60}})
    with pytest.raises(ConfigError, match="must have 5 fields"):
        parse_config({"schedule": {"cron": "every night"}})
    with pytest.raises(ConfigError, match="timezone 'Mars/Olympus' is not an IANA timezone"):
        parse_config({"schedule": {"interval_s": 60, "timezone": "Mars/Olympus"}})


def test_prefect_yaml_deployments_hold_valid_configs():
    import yaml

    from flows.service import automl_monitor

    deployments = yaml.safe_load((CONFIG_DIR.parent / "prefect.yaml").read_text())["deployments"]
    training = [d for d in deployments if d["entrypoint"] == "flows/pipeline.py:automl_pipeline"]
    names = [parse_config(d["parameters"]["config"]).name for d in training]
    assert names == [d["name"] for d in training] == ["breast_cancer", "diabetes"]
    [monitor] = [d for d in deployments if d["entrypoint"] == "flows/service.py:automl_monitor"]
    assert automl_monitor.validate_parameters(monitor["parameters"])["model"].endswith("@champion")
    assert len(deployments) == 3  # (no other entrypoint)


def test_the_readme_config_example_is_a_valid_config():
    import re

    import yaml

    readme = (CONFIG_DIR.parent / "README.md").read_text()
    [example] = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if block.startswith("name: churn")]
    config = parse_config(yaml.safe_load(example))
    assert (config.name, config.search.cv_folds, config.schedule.timezone) == ("churn", 5, "Europe/Berlin")


def test_cv_folds_left_empty_follow_the_table():
    """5 folds on small tables (every class must fill them), 3 on large ones; a set value is kept."""
    import pandas as pd

    from automl.data import cv_folds

    auto = parse_config({"search": {"n_trials": 2}})
    assert auto.search.cv_folds is None
    small = pd.Series(["a", "b"] * 500)
    assert cv_folds(auto, small, "binary") == 5
    assert cv_folds(auto, pd.Series(["a"] * 996 + ["b"] * 4), "binary") == 3  # 4 rows of b can't fill 5 folds
    assert cv_folds(auto, pd.Series(range(10_001), dtype=float), "regression") == 3
    assert cv_folds(auto, pd.Series(range(10_000), dtype=float), "regression") == 5
    fixed = parse_config({"search": {"n_trials": 2, "cv_folds": 4}})
    assert cv_folds(fixed, small, "binary") == cv_folds(fixed, pd.Series(range(50_000), dtype=float), "regression") == 4
