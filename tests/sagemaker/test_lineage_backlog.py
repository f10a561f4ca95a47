"""A version's lineage is recorded after its registration (``modelreg.sagemaker.lineage_backlog``):
what users see through boto3 is as if it had been written with the version, and the background
recorder keeps the backlog short."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelreg.aws.auth import Principal
from modelreg.aws.dispatch import LoopStore, NeedsThread, RequestContext
from modelreg.config import Settings
from modelreg.sagemaker import model_package_groups, model_packages, tags
from modelreg.sagemaker.lineage import package_artifact
from modelreg.sagemaker.lineage_backlog import LineageRecorder, catch_up
from modelreg.store import open_store
from modelreg.store.sql import SqlStore
from tests.conftest import client
from tests.server import Server

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _spec(model_data: str) -> dict[str, Any]:
    return {"Containers": [{"Image": IMAGE, "ModelDataUrl": model_data}]}


def _model_data_of(sm: Any, package_arn: str) -> list[str]:
    [artifact] = sm.list_artifacts(SourceUri=package_arn)["ArtifactSummaries"]
    up = sm.query_lineage(StartArns=[artifact["ArtifactArn"]], Direction="Ascendants")
    return [
        sm.describe_artifact(ArtifactArn=v["Arn"])["Source"]["SourceUri"]
        for v in up["Vertices"]
        if v["Type"] == "ModelData"
    ]


# --------------------------------------------------------------------------- through boto3


def test_lineage_read_later_is_as_of_the_registration(server: Server, unique) -> None:
    alice, bob = client(server.url, access_key="alice"), client(server.url, access_key="bob")
    alice.create_model_package_group(ModelPackageGroupName=unique)
    arn = alice.create_model_package(
        ModelPackageGroupName=unique, InferenceSpecification=_spec(f"s3://m/{unique}/model.tar.gz")
    )["ModelPackageArn"]
    registered = alice.describe_model_package(ModelPackageName=arn)["CreationTime"]

    [summary] = bob.list_artifacts(SourceUri=arn)["ArtifactSummaries"]  # bob reads it first
    artifact = bob.describe_artifact(ArtifactArn=summary["ArtifactArn"])
    assert artifact["CreatedBy"]["UserProfileName"] == "alice"
    assert artifact["CreationTime"] == registered
    [edge] = bob.list_associations(SourceArn=artifact["ArtifactArn"], AssociationType="AssociatedWith")[
        "AssociationSummaries"
    ]
    assert edge["CreatedBy"]["UserProfileName"] == "alice" and edge["CreationTime"] == registered


def test_an_update_before_lineage_is_read_leaves_the_registered_lineage(sm, unique) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    first, second = f"s3://m/{unique}/v1/model.tar.gz", f"s3://m/{unique}/v2/model.tar.gz"
    arn = sm.create_model_package(ModelPackageGroupName=unique, InferenceSpecification=_spec(first))[
        "ModelPackageArn"
    ]
    sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=_spec(second))
    assert sm.describe_model_package(ModelPackageName=arn)["InferenceSpecification"] == _spec(second)
    assert _model_data_of(sm, arn) == [first]  # what lineage recorded with the version


def test_a_version_deleted_before_its_lineage_is_read_keeps_its_lineage(sm, unique) -> None:
    sm.create_model_package_group(ModelPackageGroupName=unique)
    model_data = f"s3://m/{unique}/model.tar.gz"
    arn = sm.create_model_package(ModelPackageGroupName=unique, InferenceSpecification=_spec(model_data))[
        "ModelPackageArn"
    ]
    sm.delete_model_package(ModelPackageName=arn)
    assert _model_data_of(sm, arn) == [model_data]


def test_the_backlog_survives_a_crash(tmp_path: Path, unique) -> None:
    server = Server(tmp_path).start()
    try:
        sm = client(server.url)
        sm.create_model_package_group(ModelPackageGroupName=unique)
        arn = sm.create_model_package(
            ModelPackageGroupName=unique, InferenceSpecification=_spec(f"s3://m/{unique}/model.tar.gz")
        )["ModelPackageArn"]
        server.kill()
        server.start()
        [artifact] = client(server.url).list_artifacts(SourceUri=arn)["ArtifactSummaries"]
        assert artifact["ArtifactType"] == "Model"
    finally:
        server.stop()


# --------------------------------------------------------------------------- in process


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(f"sqlite:///{tmp_path / 'modelreg.db'}")
    assert isinstance(s, SqlStore)
    yield s
    s.close()


def _register(store: SqlStore, count: int) -> list[str]:
    """``count`` versions with lineage in group ``g`` (created if new), registered by the handler."""
    principal = Principal("AKIDCAROL", "carol", "123456789012", "us-east-1", "sagemaker")
    ctx = RequestContext(principal, request_id="r", settings=Settings(), store=store)
    with store.read() as tx:
        if tx.get_group("us-east-1", "g") is None:
            model_package_groups.create_model_package_group(ctx, {"ModelPackageGroupName": "g"})
    params = {"ModelPackageGroupName": "g", "InferenceSpecification": _spec("s3://m/g/model.tar.gz")}
    return [model_packages.create_model_package(ctx, params)["ModelPackageArn"] for _ in range(count)]


def _recorded(store: SqlStore, arns: list[str]) -> list[bool]:
    with store.read() as tx:
        rows = [tx.get_package_by_arn(arn) for arn in arns]
        return [row is not None and package_artifact(tx, row) is not None for row in rows]


def test_registration_only_puts_the_version_on_the_backlog(store: SqlStore) -> None:
    arns = _register(store, 3)
    with store.read() as tx:
        assert tx.count_deferred_lineage() == 3
    assert _recorded(store, arns) == [False, False, False]
    assert catch_up(store, Settings()) == 3
    assert _recorded(store, arns) == [True, True, True]
    with store.read() as tx:
        assert tx.count_deferred_lineage() == 0
        # recorded in one batch, the three share one image and one model data artifact
        rows = [tx.get_package_by_arn(arn) for arn in arns]
        artifacts = [package_artifact(tx, row) for row in rows if row is not None]
        edges = tx.associations_to([a.arn for a in artifacts if a is not None], 100)
    assert len(edges) == 6
    assert sorted({(e.source_type, e.association_type) for e in edges}) == [
        ("Image", "ContributedTo"),
        ("ModelData", "ContributedTo"),
    ]
    assert len({e.source_arn for e in edges}) == 2


def test_the_recorder_waits_for_quiet_or_a_long_backlog(store: SqlStore) -> None:
    arns = _register(store, 3)
    recorder = LineageRecorder(store, Settings(), quiet_seconds=3600, max_backlog=4)
    recorder.saw_commit()
    assert recorder.run_once() == 0  # writes are recent and the backlog is short
    arns += _register(store, 1)
    assert recorder.run_once() == 4  # the backlog is long
    assert _recorded(store, arns) == [True] * 4

    arns = _register(store, 2)
    quiet = LineageRecorder(store, Settings(), quiet_seconds=0, max_backlog=1000)
    assert quiet.run_once() == 2
    assert _recorded(store, arns) == [True, True]


def test_an_idle_recorder_does_not_look_until_something_is_committed(store: SqlStore) -> None:
    recorder = LineageRecorder(store, Settings(), quiet_seconds=0)
    reads = 0
    real_read = store.read

    def counting_read(**kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return real_read(**kwargs)

    store.read = counting_read  # type: ignore[method-assign]
    assert recorder.run_once() == 0 and reads == 1  # it looks once: the backlog is empty
    assert recorder.run_once() == 0 and reads == 1  # nothing committed since: it does not look
    _register(store, 1)  # (its commits would reach saw_commit in a server)
    recorder.saw_commit()
    looked = reads
    assert recorder.run_once() == 1 and reads == looked + 1


def test_the_group_context_can_be_tagged_before_any_lineage_is_read(sm, unique) -> None:
    """A group's context has an ARN the caller can work out (name and creation second), so it may
    be tagged before anything read lineage: tagging records the backlog first and finds it."""
    created = sm.create_model_package_group(ModelPackageGroupName=unique)
    sm.create_model_package(
        ModelPackageGroupName=unique, InferenceSpecification=_spec(f"s3://m/{unique}/model.tar.gz")
    )
    when = int(sm.describe_model_package_group(ModelPackageGroupName=unique)["CreationTime"].timestamp())
    context = created["ModelPackageGroupArn"].replace(
        f"model-package-group/{unique}", f"context/{unique.lower()}-{when}-aws-model-package-group"
    )
    sm.add_tags(ResourceArn=context, Tags=[{"Key": "stage", "Value": "prod"}])
    assert sm.list_tags(ResourceArn=context)["Tags"] == [{"Key": "stage", "Value": "prod"}]


def test_tagging_a_lineage_entity_with_versions_waiting_records_them(sm, unique) -> None:
    """Tagging an artifact while another version waits on the backlog: the tags and the waiting
    version's lineage are both there."""
    sm.create_model_package_group(ModelPackageGroupName=unique)
    first = sm.create_model_package(
        ModelPackageGroupName=unique, InferenceSpecification=_spec(f"s3://m/{unique}/1/model.tar.gz")
    )["ModelPackageArn"]
    [artifact] = sm.list_artifacts(SourceUri=first)["ArtifactSummaries"]
    second = sm.create_model_package(
        ModelPackageGroupName=unique, InferenceSpecification=_spec(f"s3://m/{unique}/2/model.tar.gz")
    )["ModelPackageArn"]
    sm.add_tags(ResourceArn=artifact["ArtifactArn"], Tags=[{"Key": "reviewed", "Value": "yes"}])
    assert sm.list_tags(ResourceArn=artifact["ArtifactArn"])["Tags"] == [{"Key": "reviewed", "Value": "yes"}]
    assert _model_data_of(sm, second) == [f"s3://m/{unique}/2/model.tar.gz"]


def test_on_the_event_loop_a_lineage_call_with_versions_waiting_moves_to_a_thread(store: SqlStore) -> None:
    """Recording may take a while, so an inline handler (tags) does not record on the event loop:
    it asks for a worker thread before writing anything, and records there."""
    arns = _register(store, 1)
    with store.read() as tx:
        group = tx.get_group("us-east-1", "g")
    assert group is not None
    context = f"arn:aws:sagemaker:us-east-1:123456789012:context/g-{group.created_us // 1_000_000}"
    params = {"ResourceArn": context + "-aws-model-package-group", "Tags": [{"Key": "k", "Value": "v"}]}
    principal = Principal("AKIDCAROL", "carol", "123456789012", "us-east-1", "sagemaker")
    on_loop = RequestContext(principal, request_id="r", settings=Settings(), store=LoopStore(store))
    with pytest.raises(NeedsThread):
        tags.add_tags(on_loop, params)
    assert _recorded(store, arns) == [False]

    in_thread = RequestContext(principal, request_id="r", settings=Settings(), store=store)
    tags.add_tags(in_thread, params)
    assert _recorded(store, arns) == [True]
