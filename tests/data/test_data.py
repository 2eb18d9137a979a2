import numpy as np
import pandas as pd
import pytest

from automl.data import DataError, infer_task, load_dataset, split_dataset, validate_table


def test_bundled_breast_cancer(make_config):
    dataset = load_dataset(make_config())
    assert dataset.task == "binary" and dataset.metric == "roc_auc"
    assert dataset.X.shape == (569, 30) and set(dataset.y) == {"malignant", "benign"}
    assert dataset.numeric_columns == list(dataset.X.columns) and dataset.categorical_columns == []


def test_bundled_regression_and_multiclass(make_config):
    diabetes = load_dataset(make_config(data={"source": "sklearn:diabetes"}))
    assert (diabetes.task, diabetes.metric) == ("regression", "rmse")
    wine = load_dataset(make_config(data={"source": "sklearn:wine"}))
    assert (wine.task, wine.metric, wine.n_classes) == ("multiclass", "accuracy", 3)


def test_unknown_bundled_set_suggests_a_name(make_config):
    with pytest.raises(DataError, match=r"Did you mean 'sklearn:breast_cancer'\?"):
        load_dataset(make_config(data={"source": "sklearn:breast_cancr"}))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_files(tmp_path, make_config, mixed_frame, suffix):
    path = tmp_path / f"table{suffix}"
    mixed_frame.to_csv(path, index=False) if suffix == ".csv" else mixed_frame.to_parquet(path)
    dataset = load_dataset(make_config(data={"source": str(path), "target": "label"}))
    assert dataset.name == "table" and dataset.task == "binary"
    assert dataset.numeric_columns == ["signal", "noise", "count"]
    assert dataset.categorical_columns == ["colour"]
    assert dataset.X["count"].dtype == np.float64  # ints become floats so served models take gaps


def test_dataframe_source(make_config, mixed_frame):
    dataset = load_dataset(make_config(data={"target": "label"}), frame=mixed_frame)
    assert dataset.name == "dataframe" and len(dataset.y) == 200


def test_missing_file_and_unknown_suffix(tmp_path, make_config):
    with pytest.raises(DataError, match="is not a file"):
        load_dataset(make_config(data={"source": str(tmp_path / "none.csv"), "target": "y"}))
    odd = tmp_path / "table.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match="suffix '.xlsx'; use a .csv or .parquet"):
        load_dataset(make_config(data={"source": str(odd), "target": "y"}))


def test_missing_target_suggests_the_column(make_config, mixed_frame):
    with pytest.raises(DataError, match=r"target column 'lable' is not in the table.*Did you mean 'label'\?"):
        validate_table(mixed_frame, "lable", make_config(), "t")


def test_single_class_target(make_config, mixed_frame):
    frame = mixed_frame.assign(label="yes")
    with pytest.raises(DataError, match=r"single value \('yes'\)"):
        validate_table(frame, "label", make_config(), "t")


def test_empty_table(make_config):
    with pytest.raises(DataError, match=r"is empty \(0 rows"):
        validate_table(pd.DataFrame({"a": [], "y": []}), "y", make_config(), "t")


def test_all_missing_column_is_named(make_config, mixed_frame):
    frame = mixed_frame.assign(blank=np.nan)
    with pytest.raises(DataError, match=r"no values at all: \['blank'\]; add them to data.drop_columns"):
        validate_table(frame, "label", make_config(), "t")
    dataset = validate_table(frame, "label", make_config(data={"drop_columns": ["blank"]}), "t")
    assert "blank" not in dataset.X.columns


def test_infinities_and_values_beyond_float32_are_read_as_missing_and_said(make_config, mixed_frame):
    frame = mixed_frame.copy()
    frame.loc[[3, 7, 9], "signal"] = [np.inf, -np.inf, 1e308]  # (1e308: inf in a model's float32 arithmetic)
    dataset = validate_table(frame, "label", make_config(), "t")
    assert dataset.X["signal"].isna().sum() == 3 and np.isfinite(dataset.X["signal"].dropna()).all()
    [said] = [d for d in dataset.column_report if d.column == "signal"]
    assert said.detail == "3 infinite or too large values (beyond ±3.4e+38) read as missing"


def test_too_few_rows_for_the_folds(make_config, mixed_frame):
    with pytest.raises(DataError, match="too few for a 20% test split and 2 CV folds"):
        validate_table(mixed_frame.head(4), "label", make_config(), "t")


def test_rare_class_for_stratified_folds(make_config, mixed_frame):
    frame = mixed_frame.copy()
    frame.loc[0, "label"] = "maybe"
    with pytest.raises(DataError, match=r"classes with too few rows.*'maybe': 1"):
        validate_table(frame, "label", make_config(), "t")


def test_rows_without_target_are_dropped_with_a_note(make_config, mixed_frame):
    frame = mixed_frame.copy()
    frame.loc[:4, "label"] = None
    dataset = validate_table(frame, "label", make_config(), "t")
    assert len(dataset.y) == 195 and dataset.notes == ["dropped 5 rows whose target 'label' is missing"]


def test_task_and_target_must_agree(make_config, mixed_frame):
    with pytest.raises(DataError, match="needs a numeric target.*set task: binary or multiclass"):
        validate_table(mixed_frame, "label", make_config(task="regression"), "t")
    with pytest.raises(DataError, match="fractional numbers.*set task: regression"):
        validate_table(mixed_frame, "signal", make_config(task="multiclass"), "t")
    with pytest.raises(DataError, match="metric 'rmse' does not fit task 'binary'"):
        validate_table(mixed_frame, "label", make_config(metric="rmse"), "t")


@pytest.mark.parametrize("values, task", [
    ([0, 1, 0, 1], "binary"),
    (["a", "b", "c", "a"], "multiclass"),
    ([1, 2, 3, 1], "multiclass"),
    ([0.5, 1.5, 2.25, 3.0], "regression"),
    (list(range(50)), "regression"),
])
def test_infer_task(values, task):
    assert infer_task(pd.Series(values)) == task


def test_split_is_stratified_and_seeded(make_config):
    dataset = load_dataset(make_config())
    a = split_dataset(dataset, 0.2, seed=0)
    b = split_dataset(dataset, 0.2, seed=0)
    assert a.X_test.index.equals(b.X_test.index) and len(a.y_test) == 114
    share = lambda y: (y == "malignant").mean()  # noqa: E731
    assert abs(share(a.y_train) - share(a.y_test)) < 0.01


def test_a_separate_test_table_is_the_holdout(tmp_path, make_config, mixed_frame):
    train, test = mixed_frame.iloc[:150], mixed_frame.iloc[150:].copy()
    test.loc[test.index[0], "label"] = None  # an unlabelled test row is dropped, not misplaced
    train.to_parquet(tmp_path / "train.parquet")
    test.to_csv(tmp_path / "test.csv", index=False)
    config = make_config(data={"source": str(tmp_path / "train.parquet"), "target": "label",
                               "test_source": str(tmp_path / "test.csv")})
    dataset = load_dataset(config)
    split = split_dataset(dataset, config.data.test_size, config.seed)
    assert len(split.y_train) == 150 and len(split.y_test) == 49  # every source row trains
    assert list(split.y_test) == list(test["label"].iloc[1:])
    assert np.allclose(split.X_test["signal"], test["signal"].iloc[1:])
    assert dataset.numeric_columns == ["signal", "noise", "count"]  # one schema for both tables


def test_a_test_table_with_other_columns_is_refused(tmp_path, make_config, mixed_frame):
    mixed_frame.to_parquet(tmp_path / "train.parquet")
    mixed_frame.drop(columns=["noise"]).to_parquet(tmp_path / "test.parquet")
    config = make_config(data={"source": str(tmp_path / "train.parquet"), "target": "label",
                               "test_source": str(tmp_path / "test.parquet")})
    with pytest.raises(DataError, match=r"test_source .* missing \['noise'\]"):
        load_dataset(config)
