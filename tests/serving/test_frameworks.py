"""The frameworks answer as SageMaker's XGBoost and scikit-learn containers do, with real models."""

from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path

import joblib
import numpy as np
import pytest
import xgboost as xgb
from scipy.sparse import csr_matrix
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from modelreg.serving.frameworks import (
    LoadedModel,
    ModelInputError,
    ModelLoadError,
    UnsupportedContentType,
    framework_for_image,
    load_model,
)

N_FEATURES = 45


def csv_line(row: np.ndarray) -> str:
    return ",".join("" if np.isnan(value) else repr(float(value)) for value in row)


def csv_body(rows: np.ndarray) -> bytes:
    return "\n".join(csv_line(row) for row in rows).encode()


def floats(body: bytes) -> np.ndarray:
    return np.array([float(value) for value in body.decode().replace("\n", ",").split(",") if value])


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(400, N_FEATURES))


@pytest.fixture(scope="module")
def classifier(data: np.ndarray) -> xgb.Booster:
    labels = (data[:, 0] + data[:, 1] * data[:, 2] > 0).astype(float)
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 4}, xgb.DMatrix(data, label=labels), num_boost_round=50
    )


def save_booster(booster: xgb.Booster, directory: Path) -> Path:
    directory.mkdir()
    booster.save_model(directory / "xgboost-model.ubj")  # the extension picks the format
    (directory / "xgboost-model.ubj").rename(directory / "xgboost-model")
    return directory


@pytest.fixture(scope="module")
def xgb_classifier(classifier: xgb.Booster, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model("xgboost", save_booster(classifier, tmp_path_factory.mktemp("c") / "model"))


@pytest.mark.parametrize(
    ("image", "framework"),
    [
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "xgboost"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3", "sklearn"),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1", "xgboost"),
        ("246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost@sha256:" + "a" * 64, "xgboost"),
        ("localhost:5000/sagemaker-scikit-learn:1.2-1", "sklearn"),
        ("xgboost", "xgboost"),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310", None),
        ("registry.example.com:5000/team/xgboost-custom:1", None),
        ("registry.example.com/xgboost/server:1", None),
        ("", None),
    ],
)
def test_framework_for_image(image: str, framework: str | None) -> None:
    assert framework_for_image(image) == framework


def test_csv_one_row_is_the_boosters_own_prediction(
    xgb_classifier: LoadedModel, classifier: xgb.Booster, data: np.ndarray
) -> None:
    body, content_type = xgb_classifier.predict(csv_body(data[:1]), "text/csv", "text/csv")
    assert content_type == "text/csv"
    expected = classifier.predict(xgb.DMatrix(data[:1]))
    assert body.decode() == str(expected.tolist()[0])  # the container's str() of each value, nothing else
    assert np.allclose(floats(body), expected)


@pytest.mark.parametrize("accept", ["*/*", "", "text/csv; charset=utf-8", "application/foo, text/csv"])
def test_csv_many_rows_answer_one_line_in_row_order(
    xgb_classifier: LoadedModel, classifier: xgb.Booster, data: np.ndarray, accept: str
) -> None:
    rows = data[:25]
    body, content_type = xgb_classifier.predict(csv_body(rows) + b"\n", "text/csv; charset=utf-8", accept)
    assert content_type == "text/csv"
    assert b"\n" not in body
    assert np.allclose(floats(body), classifier.predict(xgb.DMatrix(rows)))


def test_empty_csv_fields_are_missing_values(
    xgb_classifier: LoadedModel, classifier: xgb.Booster, data: np.ndarray
) -> None:
    rows = data[:3].copy()
    rows[0, [0, 5, 44]] = np.nan
    rows[2, 1] = np.nan
    body, _ = xgb_classifier.predict(csv_body(rows), "text/csv", "text/csv")
    expected = classifier.predict(xgb.DMatrix(rows, missing=np.nan))
    assert np.allclose(floats(body), expected)
    assert not np.allclose(expected, classifier.predict(xgb.DMatrix(np.nan_to_num(rows))))


def test_json_request_shapes(xgb_classifier: LoadedModel, classifier: xgb.Booster, data: np.ndarray) -> None:
    rows = data[:4]
    expected = classifier.predict(xgb.DMatrix(rows))
    documents = [
        {"instances": rows.tolist()},
        {"instances": [{"features": row} for row in rows.tolist()]},
        rows.tolist(),
    ]
    for document in documents:
        body, content_type = xgb_classifier.predict(json.dumps(document).encode(), "application/json", "")
        assert content_type == "text/csv"
        assert np.allclose(floats(body), expected)
    one, _ = xgb_classifier.predict(json.dumps(rows[0].tolist()).encode(), "application/json", "")
    single_instance = json.dumps({"features": rows[0].tolist()}).encode()
    single, _ = xgb_classifier.predict(single_instance, "application/json", "")
    assert np.allclose(floats(one), expected[:1]) and one == single


def test_json_response_has_a_score_per_row(
    xgb_classifier: LoadedModel, classifier: xgb.Booster, data: np.ndarray
) -> None:
    body, content_type = xgb_classifier.predict(csv_body(data[:3]), "text/csv", "application/json")
    assert content_type == "application/json"
    document = json.loads(body)
    assert list(document) == ["predictions"]
    assert [sorted(entry) for entry in document["predictions"]] == [["score"]] * 3
    scores = [entry["score"] for entry in document["predictions"]]
    assert np.allclose(scores, classifier.predict(xgb.DMatrix(data[:3])))


@pytest.mark.parametrize("content_type", ["text/libsvm", "text/x-libsvm"])
def test_libsvm_rows_are_sparse_with_absent_features_missing(
    xgb_classifier: LoadedModel, classifier: xgb.Booster, data: np.ndarray, content_type: str
) -> None:
    rows = data[:5].copy()
    rows[np.abs(rows) < 0.8] = 0.0  # dropped from the libsvm lines: missing, as in a sparse matrix
    lines = [
        "1 " + " ".join(f"{column}:{float(rows[r, column])!r}" for column in np.flatnonzero(rows[r]))
        for r in range(len(rows))
    ]
    body, _ = xgb_classifier.predict("\n".join(lines).encode(), content_type, "text/csv")
    expected = classifier.predict(xgb.DMatrix(csr_matrix(rows, shape=rows.shape)))
    assert np.allclose(floats(body), expected)


def test_regressor_predictions(tmp_path: Path, data: np.ndarray) -> None:
    target = data[:, 3] * 2.0 - data[:, 4] + 10.0
    booster = xgb.train(
        {"objective": "reg:squarederror"}, xgb.DMatrix(data[:, :10], label=target), num_boost_round=20
    )
    model = load_model("xgboost", save_booster(booster, tmp_path / "model"))
    body, _ = model.predict(csv_body(data[:7, :10]), "text/csv", "")
    assert np.allclose(floats(body), booster.predict(xgb.DMatrix(data[:7, :10])))
    assert np.all(floats(body) > 3.0)


def test_multi_output_rows_answer_one_line_and_a_score_list_each(tmp_path: Path, data: np.ndarray) -> None:
    labels = np.digitize(data[:, 0], [-0.5, 0.5])
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3},
        xgb.DMatrix(data[:, :5], label=labels),
        num_boost_round=10,
    )
    model = load_model("xgboost", save_booster(booster, tmp_path / "model"))
    expected = booster.predict(xgb.DMatrix(data[:4, :5]))
    assert expected.shape == (4, 3)
    body, _ = model.predict(csv_body(data[:4, :5]), "text/csv", "text/csv")
    lines = body.decode().split("\n")
    assert len(lines) == 4
    assert np.allclose([[float(value) for value in line.split(",")] for line in lines], expected)
    document = json.loads(model.predict(csv_body(data[:4, :5]), "text/csv", "application/json")[0])
    assert np.allclose([entry["score"] for entry in document["predictions"]], expected)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"1,2,3", "text/csv", "3 features; the model expects 45"),
        (b"", "text/csv", "no rows"),
        (b"abc," * 44 + b"1", "text/csv", "not a number"),
        (b"1,2\n1,2,3", "text/csv", "different numbers of fields"),
        (b"\xff\xfe", "text/csv", "not UTF-8"),
        (b'{"instances": [[1, 2', "application/json", "not valid JSON"),
        (b'{"rows": []}', "application/json", '"instances"'),
        (b"[[1, 2], [3]]", "application/json", "same length"),
        (b'{"instances": []}', "application/json", "no features"),
        (b"1 45:1.0", "text/libsvm", "feature index 45"),
        (b"1 3:x", "text/libsvm", "malformed feature '3:x'"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    xgb_classifier: LoadedModel, body: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(ModelInputError, match=re.escape(message)) as caught:
        xgb_classifier.predict(body, content_type, "text/csv")
    assert not isinstance(caught.value, UnsupportedContentType)


def test_unsupported_types_name_the_type_and_the_supported_ones(xgb_classifier: LoadedModel) -> None:
    with pytest.raises(UnsupportedContentType, match=r"'application/x-npy'.*text/csv, text/libsvm"):
        xgb_classifier.predict(b"1", "application/x-npy", "text/csv")
    with pytest.raises(UnsupportedContentType, match=r"Accept type 'application/x-npy'.*application/json"):
        xgb_classifier.predict(b"1", "text/csv", "application/x-npy")
    assert issubclass(UnsupportedContentType, ModelInputError)


def test_xgboost_model_formats(tmp_path: Path, classifier: xgb.Booster, data: np.ndarray) -> None:
    expected = classifier.predict(xgb.DMatrix(data[:2]))
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    classifier.save_model(json_dir / "model.json")
    (json_dir / "model.json").rename(json_dir / "xgboost-model")
    pickled_dir = tmp_path / "pickled"
    pickled_dir.mkdir()
    (pickled_dir / "xgboost-model").write_bytes(pickle.dumps(classifier))
    for directory in (json_dir, pickled_dir):
        body, _ = load_model("xgboost", directory).predict(csv_body(data[:2]), "text/csv", "")
        assert np.allclose(floats(body), expected), directory.name


def test_xgboost_load_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"no file 'xgboost-model'.*\(it holds: model.joblib\)"):
        load_model("xgboost", tmp_path)
    (tmp_path / "xgboost-model").write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="xgboost-model is not a model XGBoost can load") as caught:
        load_model("xgboost", tmp_path)
    assert "\n" not in str(caught.value)
    (tmp_path / "xgboost-model").write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(ModelLoadError, match="holds a pickled dict, not an XGBoost Booster"):
        load_model("xgboost", tmp_path)
    with pytest.raises(ModelLoadError, match="unknown framework 'tensorflow'"):
        load_model("tensorflow", tmp_path)


@pytest.fixture(scope="module")
def logistic(data: np.ndarray) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(data[:, :6], (data[:, 0] > data[:, 1]).astype(int))


@pytest.fixture(scope="module")
def sk_logistic(logistic: LogisticRegression, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    directory = tmp_path_factory.mktemp("sk")
    joblib.dump(logistic, directory / "model.joblib")
    return load_model("sklearn", directory)


def test_sklearn_json_is_the_default_both_ways(
    sk_logistic: LoadedModel, logistic: LogisticRegression, data: np.ndarray
) -> None:
    rows = data[:9, :6]
    expected = logistic.predict(rows).tolist()
    assert len(set(expected)) == 2
    for body in (json.dumps(rows.tolist()), json.dumps({"instances": rows.tolist()})):
        output, content_type = sk_logistic.predict(body.encode(), "", "*/*")
        assert content_type == "application/json"
        assert json.loads(output) == expected


def test_sklearn_csv_answers_one_prediction_per_line(
    sk_logistic: LoadedModel, logistic: LogisticRegression, data: np.ndarray
) -> None:
    rows = data[:5, :6]
    output, content_type = sk_logistic.predict(csv_body(rows), "text/csv", "text/csv")
    assert content_type == "text/csv"
    assert output.decode() == "".join(f"{label}\n" for label in logistic.predict(rows).tolist())


def test_sklearn_npy_round_trip(tmp_path: Path, data: np.ndarray) -> None:
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(data[:, :8], data[:, 0] * 3.0)
    joblib.dump(forest, tmp_path / "model.joblib")
    model = load_model("sklearn", tmp_path)
    buffer = io.BytesIO()
    np.save(buffer, data[:6, :8])
    output, content_type = model.predict(buffer.getvalue(), "application/x-npy", "application/x-npy")
    assert content_type == "application/x-npy"
    assert np.allclose(np.load(io.BytesIO(output)), forest.predict(data[:6, :8]))


def test_sklearn_bad_requests(sk_logistic: LoadedModel, data: np.ndarray) -> None:
    with pytest.raises(ModelInputError, match="5 features; the model expects 6"):
        sk_logistic.predict(csv_body(data[:2, :5]), "text/csv", "")
    with pytest.raises(ModelInputError, match="NaN"):
        sk_logistic.predict(b"1,2,,4,5,6", "text/csv", "")
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelInputError, match="not a NumPy array"):  # never unpickled
        sk_logistic.predict(pickled.getvalue(), "application/x-npy", "")
    with pytest.raises(UnsupportedContentType, match=r"'text/libsvm'.*json, text/csv, application/x-npy"):
        sk_logistic.predict(b"1 0:1", "text/libsvm", "")


def test_sklearn_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no file 'model.joblib'.*\(it holds: nothing\)"):
        load_model("sklearn", tmp_path)
    (tmp_path / "model.joblib").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match=r"model\.joblib cannot be loaded"):
        load_model("sklearn", tmp_path)
    joblib.dump({"coef": [1.0]}, tmp_path / "model.joblib")
    with pytest.raises(ModelLoadError, match="holds a dict, which has no predict method"):
        load_model("sklearn", tmp_path)
