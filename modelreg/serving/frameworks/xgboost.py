"""XGBoost models, served as the SageMaker XGBoost container serves them.

Requests: ``text/csv`` (rows of comma-separated features, no header; an empty field is missing),
``text/libsvm`` / ``text/x-libsvm``, and ``application/json``. Responses: ``text/csv`` (the
default), one line of comma-separated predictions (one line per row when the model has several
outputs per row), or ``application/json`` as ``{"predictions": [{"score": ...}, ...]}``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import xgboost as xgb

from modelreg.serving.frameworks import ModelLoadError, payloads
from modelreg.serving.frameworks.payloads import CSV, JSON, LIBSVM, X_LIBSVM

#: the file in model.tar.gz the SageMaker XGBoost container loads
MODEL_FILE = "xgboost-model"
CONTENT_TYPES = (CSV, LIBSVM, X_LIBSVM, JSON)
ACCEPTS = (CSV, JSON)
#: how every pickle of protocol 2 or later starts; save_model's formats never do
_PICKLE_START = b"\x80"


def load(model_dir: Path) -> XGBoostModel:
    """Load ``xgboost-model`` from ``model_dir``: a pickled Booster (or scikit-learn style
    XGBModel), or anything ``Booster.load_model`` reads. Raises ModelLoadError."""
    path = model_dir / MODEL_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        present = sorted(entry.name for entry in model_dir.iterdir()) if model_dir.is_dir() else []
        raise ModelLoadError(
            f"model.tar.gz has no file {MODEL_FILE!r}, which the XGBoost container loads "
            f"(it holds: {', '.join(present[:10]) or 'nothing'})"
        ) from None
    except OSError as error:
        raise ModelLoadError(f"{MODEL_FILE} cannot be read: {error.strerror}") from error
    booster = _unpickle(raw) if raw.startswith(_PICKLE_START) else _load_saved(raw)
    return XGBoostModel(booster)


def _unpickle(raw: bytes) -> xgb.Booster:
    try:
        model = pickle.loads(raw)
    except Exception as error:  # unpickling can fail with any exception the pickled classes raise
        raise ModelLoadError(
            f"{MODEL_FILE} is a pickle that cannot be loaded: {type(error).__name__}: {error}"
        ) from error
    if isinstance(model, xgb.XGBModel):
        return model.get_booster()
    if not isinstance(model, xgb.Booster):
        raise ModelLoadError(f"{MODEL_FILE} holds a pickled {type(model).__name__}, not an XGBoost Booster")
    return model


def _load_saved(raw: bytes) -> xgb.Booster:
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        message = " ".join(str(error).split("Stack trace:")[0].split())
        raise ModelLoadError(f"{MODEL_FILE} is not a model XGBoost can load: {message}") from error
    return booster


class XGBoostModel:
    """A Booster that predicts with one thread, through ``inplace_predict`` (no DMatrix)."""

    def __init__(self, booster: xgb.Booster) -> None:
        booster.set_param("nthread", 1)
        self._booster = booster
        self._n_features = booster.num_features()

    def predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """See :meth:`modelreg.serving.frameworks.LoadedModel.predict`."""
        kind = payloads.request_type(content_type, CONTENT_TYPES, CSV)
        response_type = payloads.response_type(accept, ACCEPTS, CSV)
        if kind in (LIBSVM, X_LIBSVM):
            data = payloads.libsvm_matrix(body, self._n_features)
        else:
            data = payloads.csv_rows(body) if kind == CSV else payloads.json_rows(body)
            payloads.check_width(data, self._n_features, kind)
        predictions = self._booster.inplace_predict(data, validate_features=False)
        if response_type == JSON:
            return _json(predictions), JSON
        return _csv(predictions), CSV


def _csv(predictions: np.ndarray) -> bytes:
    values = predictions.tolist()
    if predictions.ndim == 1:
        return ",".join(map(str, values)).encode()
    return "\n".join(",".join(map(str, row)) for row in values).encode()


def _json(predictions: np.ndarray) -> bytes:
    return json.dumps({"predictions": [{"score": score} for score in predictions.tolist()]}).encode()
