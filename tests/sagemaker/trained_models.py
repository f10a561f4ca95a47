"""Small real models trained in the tests, packed as the SageMaker containers expect them."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@dataclass
class Trained:
    tarball: Path
    features: np.ndarray  # rows to predict
    expected: np.ndarray  # the model's own in-process predictions for ``features``
    image: str

    @property
    def uri(self) -> str:
        return self.tarball.as_uri()

    def csv_rows(self, n: int = 1) -> str:
        return "\n".join(",".join(repr(float(x)) for x in row) for row in self.features[:n])


def _pack(folder: Path, name: str, source: Path) -> Path:
    tarball = folder / "model.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(source, arcname=name)
    return tarball


def train_xgboost(folder: Path, *, features: int = 45, trees: int = 50, seed: int = 0) -> Trained:
    """A binary classifier on synthetic data, saved as ``xgboost-model`` in ``model.tar.gz``."""
    import xgboost as xgb

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, features))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.3, size=400) > 0).astype(float)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": seed},
        xgb.DMatrix(x, label=y),
        num_boost_round=trees,
    )
    model_file = folder / "xgboost-model"
    booster.save_model(str(model_file))
    rows = rng.normal(size=(8, features))
    return Trained(_pack(folder, "xgboost-model", model_file), rows, booster.inplace_predict(rows), XGBOOST_IMAGE)


def train_sklearn(folder: Path, *, features: int = 6, seed: int = 1) -> Trained:
    """A linear regressor on synthetic data, saved as ``model.joblib`` in ``model.tar.gz``."""
    import joblib
    from sklearn.linear_model import Ridge

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, features))
    y = x @ rng.normal(size=features) + 3.0
    model = Ridge(alpha=0.1).fit(x, y)
    model_file = folder / "model.joblib"
    joblib.dump(model, model_file)
    rows = rng.normal(size=(8, features))
    return Trained(_pack(folder, "model.joblib", model_file), rows, model.predict(rows), SKLEARN_IMAGE)
