"""Register a model from a local file in one call: ``modelreg.register(...)`` and ``modelreg register``.

The model is packed as ``model.tar.gz`` in the layout SageMaker's containers load (``xgboost-model``
for XGBoost, ``model.joblib`` for scikit-learn), uploaded with its metrics file to the artifact
store (modelreg's built-in S3 by default, or any S3 bucket), and registered as a new version of the
group with the container image of its framework, the SHA-256 of the archive, and lineage read from
the environment: the git commit and dirty flag of the working directory, the command line, and the
dataset URIs given. Everything goes through the public S3 and SageMaker APIs, so it works against
any modelreg server the AWS credentials may reach.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: SageMaker's own images for the frameworks modelreg serves (the image decides the framework)
IMAGES = {
    "xgboost": "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:1.7-1",
    "sklearn": "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
}
#: the file each framework's container loads from model.tar.gz
MODEL_FILES = {"xgboost": "xgboost-model", "sklearn": "model.joblib"}
DEFAULT_BUCKET = "modelreg-artifacts"
#: the CustomerMetadataProperties key of the archive's SHA-256 (deployments check the bytes against it)
REGISTERED_SHA256 = "modelreg:model_sha256"
_NOT_IN_METADATA = re.compile(r"[^\w .:/=+\-@]")


class RegisterError(Exception):
    """The model, metrics or options cannot be registered; the message says why."""


@dataclass
class Registered:
    model_package_arn: str
    version: int
    model_data_url: str
    sha256: str
    metrics_url: str | None


def metadata_value(text: str) -> str:
    """``text`` as a CustomerMetadataProperties value SageMaker accepts: at most 256 characters of
    letters, digits, spaces and ``_.:/=+-@`` (anything else becomes ``_``)."""
    return _NOT_IN_METADATA.sub("_", text)[:256]


def guess_framework(model: Path) -> str:
    """The framework of a model file from its name (``--framework`` overrides)."""
    name = model.name.lower()
    if name.endswith((".joblib", ".pkl")):
        return "sklearn"
    if name == "xgboost-model" or name.endswith((".ubj", ".json", ".xgb", ".bst")):
        return "xgboost"
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(model) as tar:
            members = set(tar.getnames())
        for framework, file in MODEL_FILES.items():
            if file in members or f"./{file}" in members:
                return framework
    raise RegisterError(f"Cannot tell the framework of {model}: give --framework xgboost or sklearn.")


def pack(model: Path, framework: str, workdir: Path) -> Path:
    """``model.tar.gz`` for ``framework``: an archive is checked and used as it is; a model file is
    packed under the name the framework's container loads."""
    expected = MODEL_FILES[framework]
    if model.name.lower().endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(model) as tar:
                names = {n.removeprefix("./") for n in tar.getnames()}
        except (tarfile.TarError, OSError) as exc:
            raise RegisterError(f"{model} is not a readable tar.gz archive: {exc}") from None
        if expected not in names:
            raise RegisterError(
                f"{model} holds no {expected}, the file SageMaker's {framework} container loads."
            )
        return model
    archive = workdir / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model, arcname=expected)
    return archive


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def git_lineage(cwd: Path) -> dict[str, str]:
    """Commit, dirty flag and remote of the git working tree at ``cwd`` ({} outside one)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    found = {"commit": commit, "dirty": "true" if git("status", "--porcelain") else "false"}
    remote = git("config", "--get", "remote.origin.url")
    if remote:
        found["repository"] = remote
    return found


def register(
    group: str,
    model: str | os.PathLike[str],
    *,
    framework: str | None = None,
    metrics: str | os.PathLike[str] | None = None,
    meta: Mapping[str, str] | None = None,
    datasets: Sequence[str] = (),
    approve: bool = False,
    description: str | None = None,
    bucket: str = DEFAULT_BUCKET,
    endpoint_url: str | None = None,
    region: str | None = None,
    progress: Callable[[int], None] | None = None,
    command: str | None = None,
) -> Registered:
    """Pack, upload and register ``model`` as the next version of ``group`` (created if missing).

    ``progress`` is called with the number of bytes uploaded since its last call."""
    import boto3

    model_path, metrics_path = Path(model), Path(metrics) if metrics else None
    if not model_path.is_file():
        raise RegisterError(f"{model_path} is not a file.")
    if metrics_path is not None and not metrics_path.is_file():
        raise RegisterError(f"{metrics_path} is not a file.")
    if metrics_path is not None:
        from modelreg.sagemaker.metrics import MetricsError, parse_metrics

        try:  # the server reads it after the registration: a bad file would only show up there
            parse_metrics(metrics_path.read_bytes())
        except MetricsError as exc:
            raise RegisterError(f"{metrics_path}: {exc}") from None
    framework = framework or guess_framework(model_path)
    if framework not in MODEL_FILES:
        raise RegisterError(f"Unknown framework {framework!r}: modelreg packs xgboost and sklearn models.")
    session = boto3.session.Session(region_name=region)
    region = session.region_name or "us-east-1"
    s3 = session.client("s3", endpoint_url=endpoint_url, region_name=region)
    sm = session.client("sagemaker", endpoint_url=endpoint_url, region_name=region)
    lineage = git_lineage(Path.cwd())

    with tempfile.TemporaryDirectory(prefix="modelreg-register-") as workdir:
        archive = pack(model_path, framework, Path(workdir))
        sha = sha256_of(archive)
        _ensure_bucket(s3, bucket)
        prefix = f"{group}/{sha[:16]}"
        model_key = f"{prefix}/model.tar.gz"
        s3.upload_file(str(archive), bucket, model_key, Callback=progress)
    model_url = f"s3://{bucket}/{model_key}"
    metrics_url = None
    if metrics_path is not None:
        metrics_key = f"{prefix}/metrics.json"
        s3.upload_file(str(metrics_path), bucket, metrics_key, ExtraArgs={"ContentType": "application/json"})
        metrics_url = f"s3://{bucket}/{metrics_key}"

    properties = {**(meta or {}), REGISTERED_SHA256: sha, "modelreg:framework": framework}
    properties["modelreg:command"] = metadata_value(command or shlex.join(sys.argv))
    for n, uri in enumerate(datasets, start=1):
        properties[f"modelreg:dataset:{n}"] = metadata_value(uri)
    if lineage:
        properties["modelreg:git_commit"] = lineage["commit"]
        properties["modelreg:git_dirty"] = lineage["dirty"]
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGES[framework].format(region=region), "ModelDataUrl": model_url}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
        "ModelApprovalStatus": "Approved" if approve else "PendingManualApproval",
        "CustomerMetadataProperties": properties,
    }
    if description:
        request["ModelPackageDescription"] = description
    if metrics_url:
        request["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_url}}
        }
    if lineage:
        request["MetadataProperties"] = {"CommitId": lineage["commit"][:1024]}
        if "repository" in lineage:
            request["MetadataProperties"]["Repository"] = lineage["repository"][:1024]
    _ensure_group(sm, group)
    arn = sm.create_model_package(**request)["ModelPackageArn"]
    return Registered(arn, int(arn.rsplit("/", 1)[1]), model_url, sha, metrics_url)


def _ensure_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        try:
            s3.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise


def _ensure_group(sm: Any, group: str) -> None:
    from botocore.exceptions import ClientError

    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError:
        sm.create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription="Created by modelreg register"
        )
