"""One client interface over two registry APIs, so every system runs the same workload.

- SageMaker (modelreg, moto): the boto3 ``sagemaker`` client exactly as users build it, with
  ``endpoint_url``; a version is a model package in a model package group, approval is
  ``ModelApprovalStatus``.
- MLflow: ``MlflowClient`` against the tracking server's model registry; a group is a registered
  model, a version is a model version, and approval is the model version tag
  ``approval_status`` (MLflow 2.9+ deprecates stages and recommends tags for a version's status;
  an alias names one version, so it cannot say which of many versions are approved). "Latest
  approved" is ``search_model_versions`` filtered on that tag, newest creation time first.

A version reference (``ref``) is the package ARN (SageMaker) or ``name/version`` (MLflow).
"""

from __future__ import annotations

from typing import Any, Protocol

ACCESS_KEY = "AKIDBENCH"
REGION = "us-east-1"
APPROVED = "Approved"
PENDING = "PendingManualApproval"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"


class RegistryClient(Protocol):
    """What the workloads do to a registry; each call is one request a user would make."""

    def create_group(self, group: str) -> None: ...

    def register(self, group: str, seq: int) -> tuple[str, str, int]:
        """Register a new version; returns (group, ref, version number)."""
        ...

    def describe(self, ref: str) -> None: ...

    def approve(self, ref: str) -> str:
        """Approve the version; returns ``ref``."""
        ...

    def latest_approved(self, group: str) -> tuple[str, int | None]:
        """(group, version number of its newest approved version, or None)."""
        ...


def model_data_url(group: str, seq: int) -> str:
    return f"s3://bench-models/{group}/{seq}/model.tar.gz"


def metadata(seq: int) -> dict[str, str]:
    return {"framework": "xgboost", "accuracy": f"0.{9000 + seq % 1000}", "run": f"run-{seq:07d}"}


def create_model_package_request(group: str, seq: int, status: str = PENDING) -> dict[str, Any]:
    """The CreateModelPackage members every system's registration sends (also what the big-db seed stores)."""
    return {
        "ModelPackageGroupName": group,
        "ModelPackageDescription": f"bench version {seq} of {group}",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": model_data_url(group, seq)}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "ModelApprovalStatus": status,
        "CustomerMetadataProperties": metadata(seq),
    }


class SageMakerClient:
    """boto3 against modelreg or moto; botocore keeps the HTTP connection alive between calls."""

    def __init__(self, url: str) -> None:
        import boto3

        self.sm = boto3.client(
            "sagemaker",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key="bench-secret",
        )

    def create_group(self, group: str) -> None:
        self.sm.create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription=f"bench group {group}"
        )

    def register(self, group: str, seq: int) -> tuple[str, str, int]:
        arn = self.sm.create_model_package(**create_model_package_request(group, seq))["ModelPackageArn"]
        return group, arn, int(arn.rsplit("/", 1)[1])

    def describe(self, ref: str) -> None:
        self.sm.describe_model_package(ModelPackageName=ref)

    def read_lineage(self) -> None:
        """One lineage read (modelreg first records the lineage of the versions waiting for it)."""
        self.sm.list_artifacts(SourceUri="s3://bench-models/none", MaxResults=1)

    def describe_body(self, ref: str) -> dict[str, Any]:
        body = self.sm.describe_model_package(ModelPackageName=ref)
        body.pop("ResponseMetadata", None)
        return body

    def approve(self, ref: str) -> str:
        self.sm.update_model_package(
            ModelPackageArn=ref, ModelApprovalStatus=APPROVED, ApprovalDescription="approved by the bench"
        )
        return ref

    def latest_approved(self, group: str) -> tuple[str, int | None]:
        page = self.sm.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus=APPROVED,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
        found = page["ModelPackageSummaryList"]
        return group, (found[0]["ModelPackageVersion"] if found else None)


class MlflowRegistryClient:
    """``MlflowClient`` against an MLflow tracking server (its requests session keeps connections alive)."""

    def __init__(self, url: str) -> None:
        import logging

        from mlflow import MlflowClient

        # one INFO line per created version ("Waiting up to 300 seconds ...") would cost the client time
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=url, registry_uri=url)

    def create_group(self, group: str) -> None:
        self.client.create_registered_model(group, description=f"bench group {group}")

    def register(self, group: str, seq: int) -> tuple[str, str, int]:
        version = self.client.create_model_version(
            group,
            source=model_data_url(group, seq),
            description=f"bench version {seq} of {group}",
            tags={"approval_status": PENDING, **metadata(seq)},
        )
        return group, f"{group}/{version.version}", int(version.version)

    def describe(self, ref: str) -> None:
        name, version = ref.rsplit("/", 1)
        self.client.get_model_version(name, version)

    def approve(self, ref: str) -> str:
        name, version = ref.rsplit("/", 1)
        self.client.set_model_version_tag(name, version, "approval_status", APPROVED)
        return ref

    def latest_approved(self, group: str) -> tuple[str, int | None]:
        found = self.client.search_model_versions(
            filter_string=f"name = '{group}' AND tags.approval_status = '{APPROVED}'",
            max_results=1,
            order_by=["creation_timestamp DESC", "version_number DESC"],
        )
        return group, (int(found[0].version) if found else None)


def connect(api: str, url: str) -> RegistryClient:
    """A client of ``api`` ("sagemaker" or "mlflow") for the server at ``url``."""
    if api == "sagemaker":
        return SageMakerClient(url)
    if api == "mlflow":
        return MlflowRegistryClient(url)
    raise ValueError(f"unknown client api {api!r}")
