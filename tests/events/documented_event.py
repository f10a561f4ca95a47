"""The "SageMaker Model Package State Change" event as AWS documents it (WIRE-NOTES.md section 4),
shared by the pattern and input-transformation tests."""

from __future__ import annotations

from typing import Any

PACKAGE_ARN = "arn:aws:sagemaker:us-east-2:123456789012:model-package/versionedmp-p-idy6c3e1fiqj/2"
IMAGE = "257758044811.dkr.ecr.us-east-2.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3"
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "844e2571-85d4-695f-b930-0153b71dcb42",
    "detail-type": "SageMaker Model Package State Change",
    "source": "aws.sagemaker",
    "account": "123456789012",
    "time": "2021-02-24T17:00:14Z",
    "region": "us-east-2",
    "resources": [PACKAGE_ARN],
    "detail": {
        "ModelPackageGroupName": "versionedmp-p-idy6c3e1fiqj",
        "ModelPackageVersion": 2,
        "ModelPackageArn": PACKAGE_ARN,
        "CreationTime": "2021-02-24T17:00:14Z",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": IMAGE,
                    "ImageDigest": "sha256:4dc8...c004",
                    "ModelDataUrl": "s3://.../output/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CertifyForMarketplace": False,
        "ModelApprovalStatus": "Rejected",
        "MetadataProperties": {
            "GeneratedBy": "arn:aws:sagemaker:us-east-2:123456789012:pipeline/versionedmp-p-idy6c3e1fiqj/"
            "execution/4r83jejmhorv"
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": "s3://.../evaluation.json"}
            }
        },
        "LastModifiedTime": "2021-02-24T17:00:14Z",
    },
}
