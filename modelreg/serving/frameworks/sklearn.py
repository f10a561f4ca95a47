"""scikit-learn models, served as the SageMaker scikit-learn container's default handlers serve them.

Requests and responses: ``application/json`` (the default both ways, as in the container: a list
of rows, or ``{"instances": [...]}``; the response is the JSON list of predictions), ``text/csv``
(rows of comma-separated features; one prediction per line back) and ``application/x-npy``. The
model's ``predict`` gives the predictions (not ``predict_proba``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from modelreg.serving.frameworks import ModelInputError, ModelLoadError, payloads
from modelreg.serving.frameworks.payloads import CSV, JSON, NPY

#: the file in model.tar.gz the model is loaded from
MODEL_FILE = "model.joblib"
CONTENT_TYPES = (JSON, CSV, NPY)
ACCEPTS = (JSON, CSV, NPY)
_PARSERS = {JSON: payloads.json_rows, CSV: payloads.csv_rows, NPY: payloads.npy_rows}


def load(model_dir: Path) -> SklearnModel:
    """Load ``model.joblib`` from ``model_dir`` with ``joblib.load``. Raises ModelLoadError."""
    path = model_dir / MODEL_FILE
    if not path.is_file():
        present = sorted(entry.name for entry in model_dir.iterdir()) if model_dir.is_dir() else []
        raise ModelLoadError(
            f"model.tar.gz has no file {MODEL_FILE!r}, which the scikit-learn worker loads "
            f"(it holds: {', '.join(present[:10]) or 'nothing'})"
        )
    try:
        estimator = joblib.load(path)
    except Exception as error:  # unpickling can fail with any exception the pickled classes raise
        raise ModelLoadError(f"{MODEL_FILE} cannot be loaded: {type(error).__name__}: {error}") from error
    if not callable(getattr(estimator, "predict", None)):
        raise ModelLoadError(f"{MODEL_FILE} holds a {type(estimator).__name__}, which has no predict method")
    return SklearnModel(estimator)


class SklearnModel:
    """An estimator (or pipeline) whose ``predict`` answers each request."""

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        self._n_features: int | None = getattr(estimator, "n_features_in_", None)

    def predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """See :meth:`modelreg.serving.frameworks.LoadedModel.predict`."""
        kind = payloads.request_type(content_type, CONTENT_TYPES, JSON)
        response_type = payloads.response_type(accept, ACCEPTS, JSON)
        rows = _PARSERS[kind](body)
        payloads.check_width(rows, self._n_features, kind)
        try:
            predictions = np.asarray(self._estimator.predict(rows))
        except ValueError as error:  # scikit-learn's answer to input it cannot take (NaN, ...)
            raise ModelInputError(f"The model cannot predict on this input: {error}") from error
        if response_type == NPY:
            return payloads.npy_bytes(predictions), NPY
        if response_type == CSV:
            return _csv(predictions), CSV
        return json.dumps(predictions.tolist()).encode(), JSON


def _csv(predictions: np.ndarray) -> bytes:
    values = predictions.tolist()
    if predictions.ndim == 1:
        return "".join(f"{value}\n" for value in values).encode()
    return "".join(",".join(map(str, row)) + "\n" for row in values).encode()
