"""Models, endpoint configs and endpoints through boto3, and predictions from real models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.artifacts.moto_server import MotoServer, modelreg_reading_from
from tests.conftest import client
from tests.sagemaker.trained_models import (
    ROLE,
    Trained,
    deploy,
    predictions,
    register,
    train_xgboost,
    wait_settled,
)
from tests.server import Server


def test_an_approved_xgboost_version_serves_the_models_own_predictions(
    sm, runtime, unique, xgb_v1: Trained
) -> None:
    arn = register(sm, unique, xgb_v1)
    deploy(sm, unique, arn, count=2)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )

    described = sm.describe_endpoint(EndpointName=unique)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{unique}"
    [variant] = described["ProductionVariants"]
    assert variant["VariantName"] == "v1"
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)
    assert variant["DeployedImages"][0]["SpecifiedImage"] == xgb_v1.image

    response = runtime.invoke_endpoint(
        EndpointName=unique, ContentType="text/csv", Accept="text/csv", Body=xgb_v1.csv_rows(5)
    )
    assert response["InvokedProductionVariant"] == "v1"
    got = [float(x) for x in response["Body"].read().decode().split(",")]
    np.testing.assert_allclose(got, xgb_v1.expected[:5], rtol=1e-6)

    as_json = runtime.invoke_endpoint(
        EndpointName=unique, ContentType="text/csv", Accept="application/json", Body=xgb_v1.csv_rows(2)
    )
    scores = [p["score"] for p in json.loads(as_json["Body"].read())["predictions"]]
    np.testing.assert_allclose(scores, xgb_v1.expected[:2], rtol=1e-6)


def test_a_scikit_learn_model_from_an_image_and_model_data_serves_csv_and_json(
    sm, runtime, unique, sklearn_model: Trained
) -> None:
    sm.create_model(
        ModelName=unique,
        PrimaryContainer={"Image": sklearn_model.image, "ModelDataUrl": sklearn_model.uri},
        ExecutionRoleArn=ROLE,
    )
    sm.create_endpoint_config(
        EndpointConfigName=unique,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": unique, "InitialInstanceCount": 1}],
    )
    sm.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"

    np.testing.assert_allclose(
        predictions(runtime, unique, sklearn_model, 4), sklearn_model.expected[:4], rtol=1e-9
    )
    body = json.dumps(sklearn_model.features[:3].tolist())
    response = runtime.invoke_endpoint(
        EndpointName=unique, ContentType="application/json", Accept="application/json", Body=body
    )
    np.testing.assert_allclose(json.loads(response["Body"].read()), sklearn_model.expected[:3], rtol=1e-9)


def test_models_and_configs_describe_list_and_delete(sm, unique, xgb_v1: Trained) -> None:
    arn = register(sm, unique, xgb_v1)
    for i in range(3):
        sm.create_model(
            ModelName=f"{unique}-m{i}", Containers=[{"ModelPackageName": arn}], ExecutionRoleArn=ROLE
        )
    described = sm.describe_model(ModelName=f"{unique}-m0")
    assert described["Containers"] == [{"ModelPackageName": arn}]
    assert described["ModelArn"].endswith(f":model/{unique}-m0")
    assert described["ExecutionRoleArn"] == ROLE

    listed = sm.list_models(NameContains=unique, SortBy="Name", SortOrder="Ascending", MaxResults=2)
    assert [m["ModelName"] for m in listed["Models"]] == [f"{unique}-m0", f"{unique}-m1"]
    rest = sm.list_models(
        NameContains=unique, SortBy="Name", SortOrder="Ascending", MaxResults=2, NextToken=listed["NextToken"]
    )
    assert [m["ModelName"] for m in rest["Models"]] == [f"{unique}-m2"]
    assert "NextToken" not in rest

    sm.create_endpoint_config(
        EndpointConfigName=unique,
        ProductionVariants=[{"VariantName": "a", "ModelName": f"{unique}-m0", "InitialInstanceCount": 1}],
        Tags=[{"Key": "team", "Value": "risk"}],
    )
    config = sm.describe_endpoint_config(EndpointConfigName=unique)
    assert config["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert [
        c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains=unique)["EndpointConfigs"]
    ] == [unique]
    sm.delete_endpoint_config(EndpointConfigName=unique)
    sm.delete_model(ModelName=f"{unique}-m0")
    with pytest.raises(ClientError, match=r'Could not find model ".*:model/' + unique + '-m0"'):
        sm.describe_model(ModelName=f"{unique}-m0")
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.describe_endpoint_config(EndpointConfigName=unique)


def test_names_that_exist_or_do_not_exist_are_validation_errors(sm, unique, xgb_v1: Trained) -> None:
    arn = register(sm, unique, xgb_v1)
    sm.create_model(ModelName=unique, Containers=[{"ModelPackageName": arn}])
    with pytest.raises(ClientError, match="Cannot create already existing model") as dup:
        sm.create_model(ModelName=unique.upper(), Containers=[{"ModelPackageName": arn}])
    assert dup.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError, match="does not exist"):
        sm.create_model(ModelName=f"{unique}-x", Containers=[{"ModelPackageName": arn + "0"}])
    with pytest.raises(ClientError, match=f'Could not find model ".*{unique}-nope"'):
        sm.create_endpoint_config(
            EndpointConfigName=unique,
            ProductionVariants=[
                {"VariantName": "a", "ModelName": f"{unique}-nope", "InitialInstanceCount": 1}
            ],
        )
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.create_endpoint(EndpointName=unique, EndpointConfigName=f"{unique}-nope")
    with pytest.raises(ClientError, match=f'Could not find endpoint ".*endpoint/{unique}"') as missing:
        sm.describe_endpoint(EndpointName=unique)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError, match="PrimaryContainer or Containers"):
        sm.create_model(ModelName=f"{unique}-y")


def test_an_image_modelreg_cannot_serve_fails_the_endpoint_naming_the_image(
    sm, unique, xgb_v1: Trained
) -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-custom-inference:latest"
    sm.create_model(ModelName=unique, PrimaryContainer={"Image": image, "ModelDataUrl": xgb_v1.uri})
    sm.create_endpoint_config(
        EndpointConfigName=unique,
        ProductionVariants=[{"VariantName": "a", "ModelName": unique, "InitialInstanceCount": 1}],
    )
    sm.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    with pytest.raises(WaiterError, match="Failed"):
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
    described = sm.describe_endpoint(EndpointName=unique)
    assert described["EndpointStatus"] == "Failed"
    assert image in described["FailureReason"]


@pytest.mark.parametrize("content", ["not a tarball", None], ids=["broken", "missing"])
def test_a_broken_or_missing_artifact_fails_the_endpoint_with_the_reason(
    sm, unique, tmp_path: Path, xgb_v1: Trained, content: str | None
) -> None:
    tarball = tmp_path / "model.tar.gz"
    if content is not None:
        tarball.write_text(content)
    sm.create_model(
        ModelName=unique, PrimaryContainer={"Image": xgb_v1.image, "ModelDataUrl": tarball.as_uri()}
    )
    sm.create_endpoint_config(
        EndpointConfigName=unique,
        ProductionVariants=[{"VariantName": "a", "ModelName": unique, "InitialInstanceCount": 1}],
    )
    sm.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    described = wait_settled(sm, unique)
    assert described["EndpointStatus"] == "Failed"
    expected = "not a readable model.tar.gz" if content else "does not exist"
    assert tarball.as_uri() in described["FailureReason"] and expected in described["FailureReason"]


def test_bytes_changed_since_the_version_was_first_deployed_are_refused(
    sm, runtime, unique, tmp_path: Path, xgb_v1: Trained, xgb_v2: Trained
) -> None:
    tarball = tmp_path / "model.tar.gz"
    shutil.copy(xgb_v1.tarball, tarball)
    moved = Trained(tarball, xgb_v1.features, xgb_v1.expected, xgb_v1.image)
    arn = register(sm, unique, moved)
    deploy(sm, unique, arn)
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"

    shutil.copy(xgb_v2.tarball, tarball)  # someone overwrites the approved artifact
    deploy(sm, f"{unique}-again", arn)
    described = wait_settled(sm, f"{unique}-again")
    assert described["EndpointStatus"] == "Failed"
    assert "changed since this model package version recorded it" in described["FailureReason"]
    # what already serves keeps serving the approved bytes
    np.testing.assert_allclose(predictions(runtime, unique, xgb_v1), xgb_v1.expected[:3], rtol=1e-6)


def test_only_approved_versions_deploy_and_a_serving_version_cannot_be_deleted(
    sm, unique, xgb_v1: Trained
) -> None:
    pending = register(sm, unique, xgb_v1, status="PendingManualApproval")
    with pytest.raises(
        ClientError, match="only an Approved model package version can be deployed"
    ) as refused:
        sm.create_model(ModelName=unique, Containers=[{"ModelPackageName": pending}])
    assert refused.value.response["Error"]["Code"] == "ValidationException"

    sm.update_model_package(ModelPackageArn=pending, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    deploy(sm, unique, pending)
    with pytest.raises(ClientError, match=f"serves the endpoint.*{unique}") as conflict:
        sm.delete_model_package(ModelPackageName=pending)
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"

    # rejected after the model was created: the next deployment of it is refused
    sm.update_model_package(
        ModelPackageArn=pending, ModelApprovalStatus="Rejected", ApprovalDescription="bias"
    )
    with pytest.raises(ClientError, match="is Rejected: only an Approved"):
        sm.create_endpoint(EndpointName=f"{unique}-2", EndpointConfigName=f"{unique}-c1")

    sm.delete_endpoint(EndpointName=unique)
    sm.delete_model_package(ModelPackageName=pending)


def test_list_endpoints_filters_by_status_and_sorts(sm, unique, xgb_v1: Trained) -> None:
    arn = register(sm, unique, xgb_v1)
    deploy(sm, f"{unique}-a", arn)
    sm.create_model(
        ModelName=f"{unique}-bad", PrimaryContainer={"Image": "nginx:latest", "ModelDataUrl": xgb_v1.uri}
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{unique}-bad",
        ProductionVariants=[{"VariantName": "a", "ModelName": f"{unique}-bad", "InitialInstanceCount": 1}],
    )
    sm.create_endpoint(EndpointName=f"{unique}-b", EndpointConfigName=f"{unique}-bad")
    wait_settled(sm, f"{unique}-a")
    wait_settled(sm, f"{unique}-b")
    names = [
        e["EndpointName"]
        for e in sm.list_endpoints(NameContains=unique, SortBy="Name", SortOrder="Ascending")["Endpoints"]
    ]
    assert names == [f"{unique}-a", f"{unique}-b"]
    failed = sm.list_endpoints(NameContains=unique, StatusEquals="Failed")["Endpoints"]
    assert [e["EndpointName"] for e in failed] == [f"{unique}-b"]
    newest_first = sm.list_endpoints(NameContains=unique)["Endpoints"]
    assert [e["EndpointName"] for e in newest_first] == [f"{unique}-b", f"{unique}-a"]


def test_the_aws_cli_deploys_and_invokes(server: Server, sm, unique, tmp_path: Path, xgb_v1: Trained) -> None:
    arn = register(sm, unique, xgb_v1)
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDCLI",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": "",
    }

    def aws(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.url],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    aws(
        "sagemaker",
        "create-model",
        "--model-name",
        unique,
        "--containers",
        json.dumps([{"ModelPackageName": arn}]),
    )
    aws(
        "sagemaker", "create-endpoint-config", "--endpoint-config-name", unique, "--production-variants",
        json.dumps([{"VariantName": "AllTraffic", "ModelName": unique, "InitialInstanceCount": 1}]),
    )  # fmt: skip
    aws("sagemaker", "create-endpoint", "--endpoint-name", unique, "--endpoint-config-name", unique)
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"
    out = tmp_path / "out.csv"
    aws(
        "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", unique, "--content-type", "text/csv",
        f"--body={xgb_v1.csv_rows(1)}", str(out),
    )  # fmt: skip
    assert float(out.read_text()) == pytest.approx(float(xgb_v1.expected[0]), rel=1e-6)


def test_train_helper_gives_distinct_models(tmp_path: Path) -> None:
    a, b = train_xgboost(tmp_path / "a", seed=1), train_xgboost(tmp_path / "b", seed=2)
    assert not np.allclose(a.expected, b.expected)


def test_models_configs_and_endpoints_carry_tags(sm, unique, xgb_v1: Trained) -> None:
    arn = register(sm, unique, xgb_v1)
    model_arn = sm.create_model(
        ModelName=unique, Containers=[{"ModelPackageName": arn}], Tags=[{"Key": "team", "Value": "risk"}]
    )["ModelArn"]
    assert sm.list_tags(ResourceArn=model_arn)["Tags"] == [{"Key": "team", "Value": "risk"}]
    deploy(sm, unique, arn)
    endpoint_arn = sm.describe_endpoint(EndpointName=unique)["EndpointArn"]
    sm.add_tags(ResourceArn=endpoint_arn, Tags=[{"Key": "stage", "Value": "prod"}])
    assert sm.list_tags(ResourceArn=endpoint_arn)["Tags"] == [{"Key": "stage", "Value": "prod"}]
    sm.delete_tags(ResourceArn=endpoint_arn, TagKeys=["stage"])
    assert sm.list_tags(ResourceArn=endpoint_arn)["Tags"] == []
    with pytest.raises(ClientError, match="does not exist"):
        sm.list_tags(ResourceArn=endpoint_arn + "-gone")


def test_model_data_in_s3_is_read_through_the_configured_endpoint(
    tmp_path: Path, moto_s3: MotoServer, unique: str, xgb_v1: Trained
) -> None:
    s3 = moto_s3.s3()
    s3.create_bucket(Bucket=unique)
    s3.upload_file(str(xgb_v1.tarball), unique, "fraud/v1/model.tar.gz")
    srv = modelreg_reading_from(moto_s3, tmp_path)
    try:
        sm, runtime = client(srv.url), client(srv.url, "sagemaker-runtime")
        sm.create_model_package_group(ModelPackageGroupName="g")
        arn = sm.create_model_package(
            ModelPackageGroupName="g",
            InferenceSpecification={
                "Containers": [
                    {"Image": xgb_v1.image, "ModelDataUrl": f"s3://{unique}/fraud/v1/model.tar.gz"}
                ]
            },
            ModelApprovalStatus="Approved",
        )["ModelPackageArn"]
        deploy(sm, "from-s3", arn)
        assert wait_settled(sm, "from-s3")["EndpointStatus"] == "InService"
        np.testing.assert_allclose(predictions(runtime, "from-s3", xgb_v1), xgb_v1.expected[:3], rtol=1e-6)
    finally:
        srv.stop()
