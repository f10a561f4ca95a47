"""Small real models trained in the tests, packed as the SageMaker containers expect them, and
the boto3 steps that register and deploy them."""

from __future__ import annotations

import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


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
    model_file = folder / "model.ubj"  # packed as ``xgboost-model``, the name the container loads
    booster.save_model(str(model_file))
    rows = np.random.default_rng(1234).normal(size=(8, features))  # the same rows for every model
    return Trained(
        _pack(folder, "xgboost-model", model_file), rows, booster.inplace_predict(rows), XGBOOST_IMAGE
    )


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


def register(sm: Any, group: str, trained: Trained, status: str = "Approved") -> str:
    """A new version of ``group`` (created if needed) serving ``trained``; returns its ARN."""
    try:
        sm.create_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError as exc:
        if "already exists" not in str(exc):
            raise
    return sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": trained.image, "ModelDataUrl": trained.uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus=status,
    )["ModelPackageArn"]


def deploy(
    sm: Any, name: str, package_arns: list[str] | str, *, count: int = 1, weights: list[float] | None = None
) -> str:
    """Model(s), an endpoint config and an endpoint named after ``name``, one variant per package
    (``v1``, ``v2``, ...); returns the endpoint config name. Does not wait."""
    arns = [package_arns] if isinstance(package_arns, str) else package_arns
    config = endpoint_config(sm, f"{name}-c1", arns, count=count, weights=weights)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return config


def endpoint_config(
    sm: Any, config: str, package_arns: list[str], *, count: int = 1, weights: list[float] | None = None
) -> str:
    variants = []
    for i, arn in enumerate(package_arns, start=1):
        model = f"{config}-m{i}"
        sm.create_model(ModelName=model, Containers=[{"ModelPackageName": arn}], ExecutionRoleArn=ROLE)
        variants.append(
            {
                "VariantName": f"v{i}",
                "ModelName": model,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": (weights or [1.0] * len(package_arns))[i - 1],
            }
        )
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants)
    return config


def wait_settled(sm: Any, name: str, timeout: float = 90.0) -> dict[str, Any]:
    """DescribeEndpoint once the endpoint is no longer Creating or Updating."""
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_endpoint(EndpointName=name)
        if described["EndpointStatus"] not in ("Creating", "Updating"):
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {name} still {described['EndpointStatus']} after {timeout}s")
        time.sleep(0.05)


def predictions(runtime: Any, name: str, trained: Trained, rows: int = 3, **extra: Any) -> list[float]:
    response = runtime.invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Accept="text/csv", Body=trained.csv_rows(rows), **extra
    )
    return [float(x) for x in response["Body"].read().decode().replace("\n", ",").split(",") if x]
