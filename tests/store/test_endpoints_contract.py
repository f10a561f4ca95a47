"""The deployment-history and artifact-digest half of the Store contract, on every store."""

from __future__ import annotations

from modelreg.store.rows import DeploymentRow
from modelreg.store.sql import SqlStore

ENDPOINT = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud"
V1 = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/1"
V2 = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/2"


def _row(change: int, package: str | None, variant: str = "AllTraffic", at: int = 0) -> DeploymentRow:
    return DeploymentRow(
        region="us-east-1", endpoint_arn=ENDPOINT, endpoint_name="fraud", change=change, action="Update",
        principal="alice", request_id=f"r{change}", requested_us=at or change * 100,
        body={"VariantName": variant},
        variant_name=variant, package_arn=package, weight=1.0, instance_count=1,
    )  # fmt: skip


def test_a_change_that_goes_live_ends_the_one_before(store: SqlStore) -> None:
    with store.write() as tx:
        tx.insert_deployments([_row(1, V1)])
        tx.settle_deployment(ENDPOINT, 1, "InService", 150)
        tx.insert_deployments([_row(2, V2), _row(2, V1, variant="canary")])
        assert tx.package_serving_endpoints(V2) == ["fraud"]  # pending counts: it is being deployed
        tx.settle_deployment(ENDPOINT, 2, "InService", 250)
    with store.read() as tx:
        rows = tx.list_deployments(endpoint_arn=ENDPOINT)
        assert [(r.change, r.variant_name, r.live_us, r.ended_us, r.outcome) for r in rows] == [
            (1, "AllTraffic", 150, 250, "InService"),
            (2, "AllTraffic", 250, None, "InService"),
            (2, "canary", 250, None, "InService"),
        ]
        assert rows[1].body == {"VariantName": "AllTraffic"}
        assert [r.change for r in tx.list_deployments(package_arn=V1)] == [1, 2]
        assert tx.package_serving_endpoints(V1) == ["fraud"]


def test_the_last_change_number_comes_from_the_history(store: SqlStore) -> None:
    with store.write() as tx:
        assert tx.last_deployment_change(ENDPOINT) == 0
        tx.insert_deployments([_row(1, V1), _row(3, V2), _row(3, V1, variant="canary")])
    with store.read() as tx:
        assert tx.last_deployment_change(ENDPOINT) == 3
        assert tx.last_deployment_change(ENDPOINT + "-other") == 0


def test_a_failed_change_ends_with_its_reason_and_serves_nothing(store: SqlStore) -> None:
    with store.write() as tx:
        tx.insert_deployments([_row(1, V1)])
        tx.settle_deployment(ENDPOINT, 1, "InService", 150)
        tx.insert_deployments([_row(2, V2)])
        tx.settle_deployment(ENDPOINT, 2, "Failed", 200, "image not served")
    with store.read() as tx:
        first, second = tx.list_deployments(endpoint_arn=ENDPOINT)
        assert (first.ended_us, second.outcome, second.failure_reason) == (None, "Failed", "image not served")
        assert tx.package_serving_endpoints(V2) == []
        assert tx.package_serving_endpoints(V1) == ["fraud"]


def test_deleting_the_endpoint_ends_everything_open(store: SqlStore) -> None:
    with store.write() as tx:
        tx.insert_deployments([_row(1, V1)])
        tx.settle_deployment(ENDPOINT, 1, "InService", 150)
        tx.end_deployments(ENDPOINT, 300)
    with store.read() as tx:
        assert [r.ended_us for r in tx.list_deployments(endpoint_arn=ENDPOINT)] == [300]
        assert tx.package_serving_endpoints(V1) == []


def test_artifact_digests_are_recorded_per_owner_and_uri(store: SqlStore) -> None:
    with store.write() as tx:
        assert tx.get_artifact_digest(V1, "s3://b/model.tar.gz") is None
        tx.put_artifact_digest(V1, "s3://b/model.tar.gz", "a" * 64, 1)
        tx.put_artifact_digest(V2, "s3://b/model.tar.gz", "b" * 64, 2)
    with store.write() as tx:
        tx.put_artifact_digest(V1, "s3://b/model.tar.gz", "c" * 64, 3)  # replaces, never duplicates
    with store.read() as tx:
        assert tx.get_artifact_digest(V1, "s3://b/model.tar.gz") == "c" * 64
        assert tx.get_artifact_digest(V2, "s3://b/model.tar.gz") == "b" * 64
