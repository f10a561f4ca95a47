"""SageMaker lineage through boto3: artifacts, actions, contexts, associations, QueryLineage, the
lineage recorded at registration and deployment, and ``/api/model-packages/.../lineage``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from tests.sagemaker.trained_models import Trained, deploy, endpoint_config, register, wait_settled
from tests.server import Server

ACCOUNT_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def _artifact(sm: Any, uri: str, kind: str = "DataSet", **extra: Any) -> str:
    return sm.create_artifact(Source={"SourceUri": uri}, ArtifactType=kind, **extra)["ArtifactArn"]


def _action(sm: Any, name: str, kind: str = "TrainingJob", **extra: Any) -> str:
    source = {"SourceUri": f"{ACCOUNT_PREFIX}training-job/{name}"}
    return sm.create_action(ActionName=name, Source=source, ActionType=kind, **extra)["ActionArn"]


def _context(sm: Any, name: str, kind: str = "Endpoint", uri: str | None = None) -> str:
    return sm.create_context(ContextName=name, Source={"SourceUri": uri or f"urn:{name}"}, ContextType=kind)[
        "ContextArn"
    ]


def _all(call: Any, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated List* call, page by page."""
    out: list[dict[str, Any]] = []
    while True:
        page = call(**params)
        out += page[key]
        if not page.get("NextToken"):
            return out
        params["NextToken"] = page["NextToken"]


# --------------------------------------------------------------------------- entities


def test_an_artifact_round_trip(sm, unique) -> None:
    uri = f"s3://data/{unique}/train.csv"
    arn = sm.create_artifact(
        ArtifactName=f"{unique}-train",
        Source={"SourceUri": uri, "SourceTypes": [{"SourceIdType": "S3ETag", "Value": "abc"}]},
        ArtifactType="DataSet",
        Properties={"rows": "400", "split": "train"},
        MetadataProperties={"CommitId": "c0ffee"},
        Tags=[{"Key": "team", "Value": "risk"}],
    )["ArtifactArn"]
    assert arn.startswith(ACCOUNT_PREFIX + "artifact/") and len(arn.rsplit("/", 1)[1]) == 32

    described = sm.describe_artifact(ArtifactArn=arn)
    assert described["ArtifactName"] == f"{unique}-train"
    assert described["Source"] == {
        "SourceUri": uri,
        "SourceTypes": [{"SourceIdType": "S3ETag", "Value": "abc"}],
    }
    assert (described["ArtifactType"], described["Properties"]) == (
        "DataSet",
        {"rows": "400", "split": "train"},
    )
    assert described["MetadataProperties"] == {"CommitId": "c0ffee"}
    assert described["CreatedBy"]["UserProfileName"] == "AKIDTESTUSER"
    assert described["CreationTime"] == described["LastModifiedTime"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "risk"}]

    [summary] = sm.list_artifacts(SourceUri=uri)["ArtifactSummaries"]
    assert (summary["ArtifactArn"], summary["ArtifactName"], summary["ArtifactType"]) == (
        arn,
        f"{unique}-train",
        "DataSet",
    )
    assert sm.list_artifacts(SourceUri=uri, ArtifactType="Model")["ArtifactSummaries"] == []

    sm.update_artifact(
        ArtifactArn=arn, ArtifactName=f"{unique}-renamed", Properties={"rows": "500", "owner": "ana"},
        PropertiesToRemove=["split"],
    )  # fmt: skip
    updated = sm.describe_artifact(ArtifactArn=arn)
    assert updated["ArtifactName"] == f"{unique}-renamed"
    assert updated["Properties"] == {"rows": "500", "owner": "ana"}
    assert updated["LastModifiedTime"] > described["LastModifiedTime"]
    _artifact(sm, f"s3://data/{unique}/other.csv", ArtifactName=f"{unique}-train")  # the old name is free

    deleted = sm.delete_artifact(
        Source={"SourceUri": uri, "SourceTypes": [{"SourceIdType": "S3ETag", "Value": "abc"}]}
    )
    assert deleted["ArtifactArn"] == arn
    with pytest.raises(ClientError) as missing:
        sm.describe_artifact(ArtifactArn=arn)
    assert _code(missing) == "ResourceNotFound" and arn in str(missing.value)
    assert sm.list_artifacts(SourceUri=uri)["ArtifactSummaries"] == []


def test_an_artifact_is_identified_by_its_source_and_its_name_is_unique(sm, unique) -> None:
    uri = f"s3://data/{unique}/model.tar.gz"
    first = _artifact(sm, uri, "Model", ArtifactName=unique)
    with pytest.raises(ClientError) as same_source:
        _artifact(sm, uri, "Model")
    assert _code(same_source) == "ValidationException" and first in str(same_source.value)
    versioned = sm.create_artifact(
        Source={"SourceUri": uri, "SourceTypes": [{"SourceIdType": "S3Version", "Value": "v2"}]},
        ArtifactType="Model",
    )["ArtifactArn"]
    assert {a["ArtifactArn"] for a in sm.list_artifacts(SourceUri=uri)["ArtifactSummaries"]} == {
        first,
        versioned,
    }
    with pytest.raises(ClientError) as same_name:
        _artifact(sm, f"{uri}.bak", ArtifactName=unique)
    assert _code(same_name) == "ValidationException"

    for call in (
        lambda: sm.describe_artifact(ArtifactArn=ACCOUNT_PREFIX + "artifact/" + "0" * 32),
        lambda: sm.delete_artifact(ArtifactArn=ACCOUNT_PREFIX + "artifact/" + "0" * 32),
        lambda: sm.delete_artifact(Source={"SourceUri": f"{uri}.missing"}),
        lambda: sm.update_artifact(
            ArtifactArn=ACCOUNT_PREFIX + "artifact/" + "0" * 32, Properties={"a": "b"}
        ),
    ):
        with pytest.raises(ClientError) as missing:
            call()
        assert _code(missing) == "ResourceNotFound"
    with pytest.raises(ClientError) as neither:
        sm.delete_artifact()
    assert _code(neither) == "ValidationException"


def test_list_artifacts_filters_sorts_and_pages(sm, unique) -> None:
    kind = f"Kind{unique}"
    arns = [_artifact(sm, f"s3://data/{unique}/{i}.csv", kind) for i in range(5)]
    newest_first = _all(sm.list_artifacts, "ArtifactSummaries", ArtifactType=kind, MaxResults=2)
    assert [a["ArtifactArn"] for a in newest_first] == arns[::-1]
    oldest_first = _all(
        sm.list_artifacts, "ArtifactSummaries", ArtifactType=kind, SortOrder="Ascending", MaxResults=3
    )
    assert [a["ArtifactArn"] for a in oldest_first] == arns
    third = sm.describe_artifact(ArtifactArn=arns[2])["CreationTime"]
    since = sm.list_artifacts(ArtifactType=kind, CreatedAfter=third, SortOrder="Ascending")[
        "ArtifactSummaries"
    ]
    assert [a["ArtifactArn"] for a in since] == arns[2:]  # on or after
    page = sm.list_artifacts(ArtifactType=kind, MaxResults=2)
    with pytest.raises(ClientError) as other_query:
        sm.list_artifacts(ArtifactType="Model", MaxResults=2, NextToken=page["NextToken"])
    assert _code(other_query) == "ValidationException"


def test_list_artifacts_pages_past_many_entities_its_filter_leaves_out(sm, unique) -> None:
    kind = f"Rare{unique}"
    early = [_artifact(sm, f"s3://rare/{unique}/{i}.csv", kind) for i in range(3)]
    for i in range(230):  # more than one read of the index between two matching artifacts
        _artifact(sm, f"s3://common/{unique}/{i}.csv", f"Common{unique}")
    late = [_artifact(sm, f"s3://rare/{unique}/{i}.csv", kind) for i in range(3, 5)]
    listed = _all(sm.list_artifacts, "ArtifactSummaries", ArtifactType=kind, MaxResults=2)
    assert [a["ArtifactArn"] for a in listed] == (early + late)[::-1]
    ascending = _all(sm.list_artifacts, "ArtifactSummaries", ArtifactType=kind, SortOrder="Ascending")
    assert [a["ArtifactArn"] for a in ascending] == early + late
    newest = sm.list_artifacts(MaxResults=1)["ArtifactSummaries"]  # no filter: the region's newest
    assert [a["ArtifactArn"] for a in newest] == late[-1:]


def test_an_action_round_trip(sm, unique) -> None:
    arn = _action(sm, unique, Description="trains the model", Status="InProgress", Properties={"epochs": "3"})
    assert arn == f"{ACCOUNT_PREFIX}action/{unique}"
    for ref in (unique, arn):
        described = sm.describe_action(ActionName=ref)
        assert (described["ActionName"], described["ActionArn"], described["ActionType"]) == (
            unique,
            arn,
            "TrainingJob",
        )
    assert (described["Status"], described["Description"], described["Properties"]) == (
        "InProgress",
        "trains the model",
        {"epochs": "3"},
    )
    with pytest.raises(ClientError) as duplicate:
        _action(sm, unique)
    assert _code(duplicate) == "ValidationException"

    assert (
        sm.update_action(ActionName=unique, Status="Completed", Properties={"loss": "0.1"})["ActionArn"]
        == arn
    )
    updated = sm.describe_action(ActionName=unique)
    assert (updated["Status"], updated["Properties"]) == ("Completed", {"epochs": "3", "loss": "0.1"})

    kind = f"Kind{unique}"
    others = [_action(sm, f"{unique}-{c}", kind) for c in "cab"]
    by_name = _all(
        sm.list_actions,
        "ActionSummaries",
        ActionType=kind,
        SortBy="Name",
        SortOrder="Ascending",
        MaxResults=2,
    )
    assert [a["ActionName"] for a in by_name] == [f"{unique}-a", f"{unique}-b", f"{unique}-c"]
    assert by_name[0]["Source"]["SourceUri"].endswith(f"training-job/{unique}-a")
    newest = sm.list_actions(ActionType=kind, MaxResults=1)["ActionSummaries"]
    assert [a["ActionArn"] for a in newest] == [others[-1]]

    assert sm.delete_action(ActionName=unique)["ActionArn"] == arn
    for call in (
        lambda: sm.describe_action(ActionName=unique),
        lambda: sm.update_action(ActionName=unique, Status="Failed"),
        lambda: sm.delete_action(ActionName=unique),
    ):
        with pytest.raises(ClientError) as missing:
            call()
        assert _code(missing) == "ResourceNotFound"


def test_a_context_round_trip(sm, unique) -> None:
    endpoint_arn = f"{ACCOUNT_PREFIX}endpoint/{unique}"
    arn = sm.create_context(
        ContextName=unique, Source={"SourceUri": endpoint_arn, "SourceType": "ARN"}, ContextType="Endpoint",
        Description="where it serves", Properties={"stage": "prod"}, Tags=[{"Key": "k", "Value": "v"}],
    )["ContextArn"]  # fmt: skip
    assert arn == f"{ACCOUNT_PREFIX}context/{unique}"
    described = sm.describe_context(ContextName=arn)
    assert described["Source"] == {"SourceUri": endpoint_arn, "SourceType": "ARN"}
    assert (described["ContextType"], described["Description"]) == ("Endpoint", "where it serves")
    [found] = sm.list_contexts(SourceUri=endpoint_arn)["ContextSummaries"]
    assert (found["ContextName"], found["ContextArn"]) == (unique, arn)
    with pytest.raises(ClientError) as duplicate:
        _context(sm, unique)
    assert _code(duplicate) == "ValidationException"
    sm.update_context(ContextName=unique, Description="moved", PropertiesToRemove=["stage"])
    updated = sm.describe_context(ContextName=unique)
    assert updated["Description"] == "moved" and "Properties" not in updated
    assert sm.delete_context(ContextName=unique)["ContextArn"] == arn
    with pytest.raises(ClientError) as missing:
        sm.describe_context(ContextName=unique)
    assert _code(missing) == "ResourceNotFound"
    assert sm.list_contexts(SourceUri=endpoint_arn)["ContextSummaries"] == []


# --------------------------------------------------------------------------- associations


def test_associations_add_list_filter_and_delete(sm, unique) -> None:
    data = _artifact(sm, f"s3://data/{unique}/d.csv", "DataSet")
    code = _artifact(sm, f"git://{unique}@1", "Code")
    train = _action(sm, unique)
    model = _artifact(sm, f"s3://models/{unique}/model.tar.gz", "Model")

    added = sm.add_association(SourceArn=data, DestinationArn=train, AssociationType="ContributedTo")
    assert (added["SourceArn"], added["DestinationArn"]) == (data, train)
    sm.add_association(SourceArn=code, DestinationArn=train, AssociationType="ContributedTo")
    sm.add_association(SourceArn=train, DestinationArn=model, AssociationType="Produced")
    with pytest.raises(ClientError) as duplicate:
        sm.add_association(SourceArn=data, DestinationArn=train, AssociationType="DerivedFrom")
    assert _code(duplicate) == "ValidationException"
    for src, dst in (
        (data, ACCOUNT_PREFIX + "action/nothing-" + unique),
        (ACCOUNT_PREFIX + "context/no-" + unique, data),
    ):
        with pytest.raises(ClientError) as missing:
            sm.add_association(SourceArn=src, DestinationArn=dst)
        assert _code(missing) == "ResourceNotFound"

    into_train = sm.list_associations(DestinationArn=train, SortBy="SourceType", SortOrder="Ascending")
    summaries = into_train["AssociationSummaries"]
    assert [(a["SourceArn"], a["SourceType"], a["DestinationType"]) for a in summaries] == [
        (code, "Code", "TrainingJob"),
        (data, "DataSet", "TrainingJob"),
    ]
    assert summaries[0]["AssociationType"] == "ContributedTo"
    assert (
        summaries[0]["DestinationName"] == unique
        and summaries[0]["CreatedBy"]["UserProfileName"] == "AKIDTESTUSER"
    )
    [produced] = sm.list_associations(SourceArn=train)["AssociationSummaries"]
    assert (produced["DestinationArn"], produced["AssociationType"], produced["DestinationType"]) == (
        model,
        "Produced",
        "Model",
    )
    assert [
        a["DestinationArn"]
        for a in sm.list_associations(SourceType="Code", DestinationArn=train)["AssociationSummaries"]
    ] == [train]
    assert (
        sm.list_associations(DestinationType="Model", AssociationType="ContributedTo", SourceArn=train)[
            "AssociationSummaries"
        ]
        == []
    )
    created = produced["CreationTime"]
    newer = sm.list_associations(DestinationArn=model, CreatedAfter=created)["AssociationSummaries"]
    assert [a["SourceArn"] for a in newer] == [train]  # on or after
    assert (
        sm.list_associations(DestinationArn=model, CreatedAfter=created + dt.timedelta(seconds=1))[
            "AssociationSummaries"
        ]
        == []
    )
    paged = _all(
        sm.list_associations, "AssociationSummaries", DestinationArn=train, SortBy="SourceArn", MaxResults=1
    )
    assert [a["SourceArn"] for a in paged] == sorted([code, data], reverse=True)

    assert sm.delete_association(SourceArn=code, DestinationArn=train)["SourceArn"] == code
    with pytest.raises(ClientError) as gone:
        sm.delete_association(SourceArn=code, DestinationArn=train)
    assert _code(gone) == "ResourceNotFound"
    sm.delete_action(ActionName=unique)  # deleting an entity deletes its associations
    assert sm.list_associations(SourceArn=data)["AssociationSummaries"] == []
    assert sm.list_associations(DestinationArn=model)["AssociationSummaries"] == []


# --------------------------------------------------------------------------- QueryLineage


@pytest.fixture
def chain(sm, unique) -> dict[str, str]:
    """dataset, code -> train -> model -> deployment -> endpoint (and a second, unrelated model)."""
    g = {
        "data": _artifact(sm, f"s3://data/{unique}/train.csv", "DataSet", Properties={"split": "train"}),
        "code": _artifact(sm, f"git://{unique}@abc", "Code"),
        "train": _action(sm, f"{unique}-train"),
        "model": _artifact(sm, f"s3://models/{unique}/model.tar.gz", "Model"),
        "deploy": _action(sm, f"{unique}-deploy", "ModelDeployment"),
        "endpoint": _context(sm, f"{unique}-endpoint", "Endpoint"),
        "other": _artifact(sm, f"s3://models/{unique}/other.tar.gz", "Model"),
    }
    for src, dst, kind in (
        ("data", "train", "ContributedTo"),
        ("code", "train", "ContributedTo"),
        ("train", "model", "Produced"),
        ("model", "deploy", "ContributedTo"),
        ("deploy", "endpoint", "AssociatedWith"),
        ("data", "other", "ContributedTo"),
    ):
        sm.add_association(SourceArn=g[src], DestinationArn=g[dst], AssociationType=kind)
    return g


def _vertices(result: dict[str, Any]) -> set[str]:
    return {v["Arn"] for v in result["Vertices"]}


def test_query_lineage_walks_ascendants_and_descendants_with_depth(sm, chain) -> None:
    up = sm.query_lineage(StartArns=[chain["endpoint"]], Direction="Ascendants", IncludeEdges=True)
    assert _vertices(up) == {chain[k] for k in ("endpoint", "deploy", "model", "train", "data", "code")}
    assert {(e["SourceArn"], e["DestinationArn"], e["AssociationType"]) for e in up["Edges"]} == {
        (chain["deploy"], chain["endpoint"], "AssociatedWith"),
        (chain["model"], chain["deploy"], "ContributedTo"),
        (chain["train"], chain["model"], "Produced"),
        (chain["data"], chain["train"], "ContributedTo"),
        (chain["code"], chain["train"], "ContributedTo"),
    }
    types = {v["Arn"]: (v["Type"], v["LineageType"]) for v in up["Vertices"]}
    assert types[chain["endpoint"]] == ("Endpoint", "Context")
    assert types[chain["train"]] == ("TrainingJob", "Action")
    assert types[chain["data"]] == ("DataSet", "Artifact")

    down = sm.query_lineage(StartArns=[chain["data"]], Direction="Descendants", IncludeEdges=False)
    assert _vertices(down) == {chain[k] for k in ("data", "train", "model", "deploy", "endpoint", "other")}
    assert down["Edges"] == []
    shallow = sm.query_lineage(StartArns=[chain["data"]], Direction="Descendants", MaxDepth=2)
    assert _vertices(shallow) == {chain[k] for k in ("data", "train", "model", "other")}
    assert _vertices(sm.query_lineage(StartArns=[chain["data"]], Direction="Descendants", MaxDepth=0)) == {
        chain["data"]
    }

    # Both: from every vertex reached, both ways: the model reaches the other model through the dataset
    both = sm.query_lineage(StartArns=[chain["model"]], Direction="Both", MaxDepth=3)
    assert chain["other"] in _vertices(both) and chain["endpoint"] in _vertices(both)
    only_up = sm.query_lineage(StartArns=[chain["model"]], Direction="Ascendants")
    assert chain["other"] not in _vertices(only_up) and chain["endpoint"] not in _vertices(only_up)


def test_query_lineage_filters_walk_through_what_they_do_not_return(sm, chain) -> None:
    datasets = sm.query_lineage(
        StartArns=[chain["endpoint"]],
        Direction="Ascendants",
        Filters={"Types": ["DataSet"]},
        IncludeEdges=False,
    )
    assert [(v["Arn"], v["Type"]) for v in datasets["Vertices"]] == [(chain["data"], "DataSet")]
    with_path = sm.query_lineage(
        StartArns=[chain["endpoint"]],
        Direction="Ascendants",
        Filters={"Types": ["DataSet"]},
        IncludeEdges=True,
    )
    assert _vertices(with_path) == {chain[k] for k in ("endpoint", "deploy", "model", "train", "data")}
    assert len(with_path["Edges"]) == 4  # the path, not the code's edge

    contexts = sm.query_lineage(
        StartArns=[chain["data"]], Direction="Descendants", Filters={"LineageTypes": ["Context"]}
    )
    assert _vertices(contexts) == {chain["endpoint"]}
    by_property = sm.query_lineage(
        StartArns=[chain["model"]],
        Direction="Ascendants",
        Filters={"Properties": {"split": "train", "x": "y"}},
    )
    assert _vertices(by_property) == {chain["data"]}
    model_created = sm.describe_artifact(ArtifactArn=chain["model"])["CreationTime"]
    later = sm.query_lineage(
        StartArns=[chain["data"]],
        Direction="Descendants",
        Filters={"CreatedAfter": model_created, "LineageTypes": ["Artifact"]},
    )
    assert _vertices(later) == {chain["other"]}
    modified_before = sm.query_lineage(
        StartArns=[chain["data"]],
        Direction="Descendants",
        Filters={"ModifiedBefore": model_created, "Types": ["Model", "DataSet"]},
    )
    assert _vertices(modified_before) == {chain["data"]}


def test_query_lineage_pages_and_rejects_what_it_cannot_start_from(sm, chain, unique) -> None:
    seen, edges, token = [], [], None
    while True:
        page = sm.query_lineage(
            StartArns=[chain["endpoint"]], Direction="Ascendants", IncludeEdges=True, MaxResults=2,
            **({"NextToken": token} if token else {}),
        )  # fmt: skip
        assert len(page["Vertices"]) <= 2
        seen += [v["Arn"] for v in page["Vertices"]]
        edges += page["Edges"]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6 and seen[0] == chain["endpoint"]
    assert len(edges) == 5

    with pytest.raises(ClientError) as missing:
        sm.query_lineage(StartArns=[ACCOUNT_PREFIX + "context/nothing-" + unique])
    assert _code(missing) == "ResourceNotFound"
    with pytest.raises(ClientError) as not_an_entity:  # model packages are found through their artifact
        sm.query_lineage(StartArns=[ACCOUNT_PREFIX + "model-package/g/1"])
    assert _code(not_an_entity) == "ValidationException"
    with pytest.raises((ClientError, ParamValidationError)):
        sm.query_lineage(StartArns=[chain["data"]], MaxDepth=11)


# --------------------------------------------------------------------------- automatic lineage


def _package_artifact(sm: Any, package_arn: str) -> dict[str, Any]:
    [summary] = sm.list_artifacts(SourceUri=package_arn)["ArtifactSummaries"]
    return summary


def test_registration_records_datasets_code_images_and_the_job_that_made_it(
    sm, server: Server, unique
) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    job = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{unique}-job"
    model_data = f"s3://models/{unique}/v1/model.tar.gz"
    arn = sm.create_model_package(
        ModelPackageGroupName=unique,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": model_data}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        MetadataProperties={
            "GeneratedBy": job,
            "CommitId": "4f2a9c1",
            "Repository": "https://git.example/fraud",
        },
        CustomerMetadataProperties={
            "modelreg:dataset:1": f"s3://data/{unique}/train.csv",
            "modelreg:dataset:2": f"s3://data/{unique}/valid.csv",
            "modelreg:command": "python train.py --depth 3",
            "owner": "ana",
        },
    )["ModelPackageArn"]

    artifact = _package_artifact(sm, arn)
    assert artifact["ArtifactType"] == "Model" and artifact["Source"]["SourceUri"] == arn
    described = sm.describe_artifact(ArtifactArn=artifact["ArtifactArn"])
    assert described["Properties"]["Command"] == "python train.py --depth 3"

    up = sm.query_lineage(StartArns=[artifact["ArtifactArn"]], Direction="Ascendants", IncludeEdges=True)
    by_type: dict[str, list[str]] = {}
    for v in up["Vertices"]:
        by_type.setdefault(v["Type"], []).append(v["Arn"])
    assert sorted(by_type) == ["Code", "DataSet", "Image", "Model", "ModelData", "TrainingJob"]
    datasets = {sm.describe_artifact(ArtifactArn=a)["Source"]["SourceUri"] for a in by_type["DataSet"]}
    assert datasets == {f"s3://data/{unique}/train.csv", f"s3://data/{unique}/valid.csv"}
    [code] = by_type["Code"]
    assert (
        sm.describe_artifact(ArtifactArn=code)["Source"]["SourceUri"] == "https://git.example/fraud@4f2a9c1"
    )
    [job_action] = by_type["TrainingJob"]
    assert sm.describe_action(ActionName=job_action)["Source"]["SourceUri"] == job
    kinds = {(e["SourceArn"], e["AssociationType"]) for e in up["Edges"]}
    assert (job_action, "Produced") in kinds and (code, "ContributedTo") in kinds

    down = sm.query_lineage(StartArns=[artifact["ArtifactArn"]], Direction="Descendants")
    [group] = [v for v in down["Vertices"] if v["LineageType"] == "Context"]
    assert group["Type"] == "ModelGroup"
    [group_context] = sm.list_contexts(SourceUri=f"{ACCOUNT_PREFIX}model-package-group/{unique}")[
        "ContextSummaries"
    ]
    assert group_context["ContextArn"] == group["Arn"]

    # a second version shares the image, the group and the job's action; its own model data is new
    second = sm.create_model_package(
        ModelPackageGroupName=unique,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://models/{unique}/v2/model.tar.gz"}]
        },
        MetadataProperties={"GeneratedBy": job},
        CustomerMetadataProperties={"modelreg:git_commit": "77aa", "modelreg:git_dirty": "true"},
    )["ModelPackageArn"]
    assert len(sm.list_artifacts(SourceUri=IMAGE)["ArtifactSummaries"]) == 1
    images = sm.list_associations(
        SourceArn=sm.list_artifacts(SourceUri=IMAGE)["ArtifactSummaries"][0]["ArtifactArn"]
    )
    assert {a["DestinationArn"] for a in images["AssociationSummaries"]} >= {
        artifact["ArtifactArn"],
        _package_artifact(sm, second)["ArtifactArn"],
    }
    [dirty] = sm.list_artifacts(SourceUri="77aa")["ArtifactSummaries"]
    assert dirty["Source"]["SourceTypes"] == [{"SourceIdType": "Custom", "Value": "dirty"}]
    two = sm.query_lineage(
        StartArns=[group["Arn"]], Direction="Ascendants", Filters={"Types": ["Model"]}, MaxDepth=1
    )
    assert len(two["Vertices"]) == 2

    # the UI's graph
    graph = httpx.get(f"{server.url}/api/model-packages/{unique}/1/lineage").json()
    assert graph["modelPackageArn"] == arn and graph["artifactArn"] == artifact["ArtifactArn"]
    vertices = {v["arn"]: v for v in graph["vertices"]}
    focus = vertices[artifact["ArtifactArn"]]
    assert focus["focus"] is True and focus["modelPackageArn"] == arn and focus["name"] == f"{unique}/1"
    names = {v["type"]: v.get("sourceUri") for v in graph["vertices"]}
    assert (
        names["Image"] == IMAGE and names["ModelData"] == model_data and names["ModelGroup"].endswith(unique)
    )
    assert {v["name"] for v in graph["vertices"] if v["type"] == "DataSet"} == {"train.csv", "valid.csv"}
    assert {"source": job_action, "destination": artifact["ArtifactArn"], "type": "Produced"} in graph[
        "edges"
    ]


def test_a_version_with_nothing_to_link_records_no_lineage(sm, server: Server, unique) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    arn = sm.create_model_package(ModelPackageGroupName=unique, ModelPackageDescription="no containers")[
        "ModelPackageArn"
    ]
    assert sm.list_artifacts(SourceUri=arn)["ArtifactSummaries"] == []
    assert (
        sm.list_contexts(SourceUri=f"{ACCOUNT_PREFIX}model-package-group/{unique}")["ContextSummaries"] == []
    )
    empty = httpx.get(f"{server.url}/api/model-packages/{unique}/1/lineage").json()
    assert (empty["artifactArn"], empty["vertices"], empty["edges"]) == (None, [], [])
    assert httpx.get(f"{server.url}/api/model-packages/{unique}/9/lineage").status_code == 404
    assert httpx.get(f"{server.url}/api/model-packages/{unique}/1/lineage?depth=12").status_code == 400


def test_a_deployment_links_the_version_to_the_endpoint(sm, server: Server, unique, xgb_v1: Trained) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    dataset = f"s3://data/{unique}/train.csv"
    arn = sm.create_model_package(
        ModelPackageGroupName=unique,
        InferenceSpecification={
            "Containers": [{"Image": xgb_v1.image, "ModelDataUrl": xgb_v1.uri}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"modelreg:dataset:1": dataset},
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    deploy(sm, unique, arn)
    try:
        assert wait_settled(sm, unique)["EndpointStatus"] == "InService"
        endpoint_arn = f"{ACCOUNT_PREFIX}endpoint/{unique}"
        artifact = _package_artifact(sm, arn)["ArtifactArn"]

        endpoints = sm.query_lineage(
            StartArns=[artifact], Direction="Descendants", Filters={"Types": ["Endpoint"]}, IncludeEdges=True
        )
        [context] = [v for v in endpoints["Vertices"] if v["Type"] == "Endpoint"]
        [deployment] = [v for v in endpoints["Vertices"] if v["Type"] == "ModelDeployment"]
        assert sm.describe_context(ContextName=context["Arn"])["Source"]["SourceUri"] == endpoint_arn
        [listed] = sm.list_contexts(SourceUri=endpoint_arn)["ContextSummaries"]
        assert listed["ContextArn"] == context["Arn"] and listed["ContextType"] == "Endpoint"
        action = sm.describe_action(ActionName=deployment["Arn"])
        assert action["Properties"]["EndpointName"] == unique and action["Properties"]["Change"] == "1"

        # from the endpoint back to the data the model was trained on, as SageMaker users do
        datasets = sm.query_lineage(
            StartArns=[context["Arn"]], Direction="Ascendants", Filters={"Types": ["DataSet"]}
        )
        [data_vertex] = datasets["Vertices"]
        assert sm.describe_artifact(ArtifactArn=data_vertex["Arn"])["Source"]["SourceUri"] == dataset

        graph = httpx.get(f"{server.url}/api/model-packages/{unique}/1/lineage").json()
        [served] = [v for v in graph["vertices"] if v["type"] == "ModelDeployment"]
        assert (served["endpointName"], served["endpointArn"], served["change"]) == (unique, endpoint_arn, 1)
        assert served["liveFrom"] is not None and served["liveUntil"] is None
        [endpoint_vertex] = [v for v in graph["vertices"] if v["type"] == "Endpoint"]
        assert endpoint_vertex["endpointName"] == unique

        # version 2 replaces it: a second deployment to the same endpoint context; v1's has ended
        v2 = register(sm, unique, xgb_v1)
        sm.update_endpoint(EndpointName=unique, EndpointConfigName=endpoint_config(sm, f"{unique}-c2", [v2]))
        assert wait_settled(sm, unique)["EndpointStatus"] == "InService"
        v2_endpoints = sm.query_lineage(
            StartArns=[_package_artifact(sm, v2)["ArtifactArn"]], Direction="Descendants",
            Filters={"Types": ["Endpoint"]},
        )  # fmt: skip
        assert [v["Arn"] for v in v2_endpoints["Vertices"]] == [context["Arn"]]
        served_by = sm.query_lineage(
            StartArns=[context["Arn"]], Direction="Ascendants", Filters={"Types": ["ModelDeployment"]}
        )
        assert len(served_by["Vertices"]) == 2
        graph = httpx.get(f"{server.url}/api/model-packages/{unique}/1/lineage").json()
        [ended] = [v for v in graph["vertices"] if v["type"] == "ModelDeployment"]
        assert ended["liveUntil"] is not None and ended["liveUntil"] >= ended["liveFrom"]
    finally:
        sm.delete_endpoint(EndpointName=unique)
