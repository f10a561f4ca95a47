"""Endpoint updates without dropped requests, weights, rollback, history, deletion and restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.sagemaker.trained_models import (
    Trained,
    deploy,
    endpoint_config,
    predictions,
    register,
    wait_settled,
)
from tests.server import Server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _workers(url: str, name: str) -> list[dict]:
    return httpx.get(f"{url}/api/endpoints/{name}/workers").json()["workers"]


def _history(url: str, name: str) -> list[dict]:
    return httpx.get(f"{url}/api/endpoints/{name}/history").json()["changes"]


class Traffic(threading.Thread):
    """Invokes an endpoint in a loop until stopped; records every answer or error."""

    def __init__(self, url: str, name: str, trained: Trained) -> None:
        super().__init__(daemon=True)
        self.runtime = client(url, "sagemaker-runtime", retries=1)
        self.name, self.trained = name, trained
        self.answers: list[float] = []
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self._halt.is_set() and time.monotonic() < deadline:
            try:
                self.answers.append(predictions(self.runtime, self.name, self.trained, rows=1)[0])
            except Exception as exc:
                self.errors.append(repr(exc))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


def test_update_swaps_the_model_without_dropping_a_request(
    server: Server, sm, runtime, unique, xgb_v1: Trained, xgb_v2: Trained
) -> None:
    v1, v2 = register(sm, unique, xgb_v1), register(sm, unique, xgb_v2)
    deploy(sm, unique, v1, count=2)
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"
    old_pids = {w["pid"] for w in _workers(server.url, unique)}

    traffic = Traffic(server.url, unique, xgb_v1)
    traffic.start()
    try:
        _wait_until(lambda: len(traffic.answers) >= 20, what="traffic before the update")
        sm.update_endpoint(
            EndpointName=unique, EndpointConfigName=endpoint_config(sm, f"{unique}-c2", [v2], count=2)
        )
        assert sm.describe_endpoint(EndpointName=unique)["EndpointStatus"] == "Updating"
        described = wait_settled(sm, unique)
        seen = len(traffic.answers)
        _wait_until(lambda: len(traffic.answers) >= seen + 20, what="traffic after the update")
    finally:
        traffic.stop()

    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == f"{unique}-c2"
    assert traffic.errors == []
    first, second = float(xgb_v1.expected[0]), float(xgb_v2.expected[0])
    assert set(np.round(traffic.answers, 5)) <= {round(first, 5), round(second, 5)}
    assert traffic.answers[0] == pytest.approx(first, rel=1e-6)
    assert traffic.answers[-1] == pytest.approx(second, rel=1e-6)
    _wait_until(lambda: not any(_alive(p) for p in old_pids), what="the old workers to exit")

    changes = _history(server.url, unique)
    assert [(c["change"], c["action"], c["outcome"]) for c in changes] == [
        (1, "Create", "InService"),
        (2, "Update", "InService"),
    ]
    assert changes[0]["liveUntil"] == changes[1]["liveFrom"]
    assert changes[1]["variants"][0]["modelPackageArn"] == v2
    assert changes[0]["requestedBy"] == "AKIDTESTUSER"


def test_rollback_returns_to_the_previous_configuration_and_is_recorded(
    server: Server, sm, runtime, unique, xgb_v1: Trained, xgb_v2: Trained
) -> None:
    v1, v2 = register(sm, unique, xgb_v1), register(sm, unique, xgb_v2)
    deploy(sm, unique, v1)
    wait_settled(sm, unique)
    sm.update_endpoint(EndpointName=unique, EndpointConfigName=endpoint_config(sm, f"{unique}-c2", [v2]))
    wait_settled(sm, unique)
    np.testing.assert_allclose(predictions(runtime, unique, xgb_v2), xgb_v2.expected[:3], rtol=1e-6)

    done = subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "rollback", unique, "--endpoint", server.url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rolling back to change 1" in done.stdout
    described = wait_settled(sm, unique)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{unique}-c1"
    np.testing.assert_allclose(predictions(runtime, unique, xgb_v1), xgb_v1.expected[:3], rtol=1e-6)

    changes = _history(server.url, unique)
    assert [(c["action"], c["outcome"]) for c in changes] == [
        ("Create", "InService"), ("Update", "InService"), ("Rollback", "InService"),
    ]  # fmt: skip
    assert changes[2]["variants"][0]["modelPackageArn"] == v1

    group, version = unique, 2
    served = httpx.get(f"{server.url}/api/model-packages/{group}/{version}/deployments").json()["deployments"]
    assert [(d["endpointName"], d["change"], d["outcome"]) for d in served] == [(unique, 2, "InService")]
    assert served[0]["liveUntil"] is not None  # v2 stopped serving at the rollback

    # nothing older than change 1 exists to roll back to from change 3's predecessor chain start
    response = httpx.post(f"{server.url}/api/endpoints/{unique}/rollback", json={"toChange": 99})
    assert response.status_code == 400 and "never served traffic" in response.json()["message"]
    assert httpx.post(f"{server.url}/api/endpoints/{unique}-none/rollback").status_code == 404


def test_weights_split_traffic_and_target_variant_picks_one(
    server: Server, sm, runtime, unique, xgb_v1: Trained, xgb_v2: Trained
) -> None:
    v1, v2 = register(sm, unique, xgb_v1), register(sm, unique, xgb_v2)
    deploy(sm, unique, [v1, v2], weights=[1.0, 3.0])
    wait_settled(sm, unique)
    counts = Counter(
        runtime.invoke_endpoint(EndpointName=unique, ContentType="text/csv", Body=xgb_v1.csv_rows(1))[
            "InvokedProductionVariant"
        ]
        for _ in range(200)
    )
    assert 20 <= counts["v1"] <= 80 and counts["v1"] + counts["v2"] == 200  # expected 50

    targeted = runtime.invoke_endpoint(
        EndpointName=unique, ContentType="text/csv", Body=xgb_v1.csv_rows(1), TargetVariant="v2"
    )
    assert targeted["InvokedProductionVariant"] == "v2"
    assert float(targeted["Body"].read()) == pytest.approx(float(xgb_v2.expected[0]), rel=1e-6)

    sm.update_endpoint_weights_and_capacities(
        EndpointName=unique,
        DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredWeight": 0.0, "DesiredInstanceCount": 2}],
    )
    described = wait_settled(sm, unique)
    variants = {v["VariantName"]: v for v in described["ProductionVariants"]}
    assert variants["v1"]["CurrentWeight"] == 0.0 and variants["v1"]["CurrentInstanceCount"] == 2
    assert len([w for w in _workers(server.url, unique) if w["variantName"] == "v1"]) == 2
    invoked = {
        runtime.invoke_endpoint(EndpointName=unique, ContentType="text/csv", Body=xgb_v1.csv_rows(1))[
            "InvokedProductionVariant"
        ]
        for _ in range(30)
    }
    assert invoked == {"v2"}
    with pytest.raises(ClientError, match=r"variant name\(s\) \[v9\]"):
        sm.update_endpoint_weights_and_capacities(
            EndpointName=unique, DesiredWeightsAndCapacities=[{"VariantName": "v9", "DesiredWeight": 1.0}]
        )


def test_invocation_errors_use_sagemaker_runtime_codes(
    server: Server, sm, runtime, unique, xgb_v1: Trained
) -> None:
    with pytest.raises(ClientError) as missing:
        runtime.invoke_endpoint(EndpointName=unique, ContentType="text/csv", Body="1,2")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert unique in missing.value.response["Error"]["Message"]

    deploy(sm, unique, register(sm, unique, xgb_v1))
    wait_settled(sm, unique)
    with pytest.raises(ClientError) as model_error:
        runtime.invoke_endpoint(EndpointName=unique, ContentType="text/csv", Body="not,numbers")
    error = model_error.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "Received client error (400)" in error["Error"]["Message"]

    with pytest.raises(ClientError) as unsupported:
        runtime.invoke_endpoint(EndpointName=unique, ContentType="image/png", Body=b"\x89PNG")
    assert unsupported.value.response["OriginalStatusCode"] == 415

    with pytest.raises(ClientError, match="Target variant nope"):
        runtime.invoke_endpoint(EndpointName=unique, ContentType="text/csv", Body="1", TargetVariant="nope")

    echoed = runtime.invoke_endpoint(
        EndpointName=unique, ContentType="text/csv", Body=xgb_v1.csv_rows(1), CustomAttributes="trace=abc"
    )
    assert echoed["CustomAttributes"] == "trace=abc"


def test_a_failed_update_keeps_the_previous_configuration_serving(
    server: Server, sm, runtime, unique, xgb_v1: Trained
) -> None:
    deploy(sm, unique, register(sm, unique, xgb_v1))
    wait_settled(sm, unique)
    sm.create_model(
        ModelName=f"{unique}-bad", PrimaryContainer={"Image": "busybox:1", "ModelDataUrl": xgb_v1.uri}
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{unique}-bad",
        ProductionVariants=[{"VariantName": "v1", "ModelName": f"{unique}-bad", "InitialInstanceCount": 1}],
    )
    sm.update_endpoint(EndpointName=unique, EndpointConfigName=f"{unique}-bad")
    described = wait_settled(sm, unique)
    assert described["EndpointStatus"] == "InService"
    assert "busybox:1" in described["FailureReason"]
    assert described["EndpointConfigName"] == f"{unique}-c1"
    np.testing.assert_allclose(predictions(runtime, unique, xgb_v1), xgb_v1.expected[:3], rtol=1e-6)
    assert [c["outcome"] for c in _history(server.url, unique)] == ["InService", "Failed"]

    # the failed change's number is never used again
    sm.update_endpoint_weights_and_capacities(
        EndpointName=unique, DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": 2}]
    )
    wait_settled(sm, unique)
    assert [c["change"] for c in _history(server.url, unique)] == [1, 2, 3]


def test_deleting_an_endpoint_stops_its_workers(server: Server, sm, runtime, unique, xgb_v1: Trained) -> None:
    deploy(sm, unique, register(sm, unique, xgb_v1), count=2)
    wait_settled(sm, unique)
    pids = [w["pid"] for w in _workers(server.url, unique)]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    sm.delete_endpoint(EndpointName=unique)
    _wait_until(lambda: not any(_alive(p) for p in pids), what="the workers to exit")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName=unique)
    with pytest.raises(ClientError, match="not found or not InService"):
        runtime.invoke_endpoint(EndpointName=unique, ContentType="text/csv", Body=xgb_v1.csv_rows(1))
    assert _history(server.url, unique)[-1]["action"] == "Delete"
    sm.delete_model_package(ModelPackageName=f"{unique}/1")  # no longer serving


def test_endpoints_come_back_after_the_server_is_killed(tmp_path: Path, xgb_v1: Trained) -> None:
    srv = Server(tmp_path).start()
    try:
        sm, runtime = client(srv.url), client(srv.url, "sagemaker-runtime")
        deploy(sm, "survivor", register(sm, "g", xgb_v1), count=2)
        assert wait_settled(sm, "survivor")["EndpointStatus"] == "InService"
        pids = [w["pid"] for w in _workers(srv.url, "survivor")]
        srv.kill()
        _wait_until(lambda: not any(_alive(p) for p in pids), what="orphaned workers to exit")

        srv.start()
        sm, runtime = client(srv.url), client(srv.url, "sagemaker-runtime")
        _wait_until(lambda: len(_workers(srv.url, "survivor")) == 2, what="workers after the restart")
        assert sm.describe_endpoint(EndpointName="survivor")["EndpointStatus"] == "InService"
        np.testing.assert_allclose(predictions(runtime, "survivor", xgb_v1), xgb_v1.expected[:3], rtol=1e-6)
        assert [c["action"] for c in _history(srv.url, "survivor")] == ["Create"]  # a restart is no change
    finally:
        srv.stop()


def test_a_worker_that_dies_is_replaced(server: Server, sm, runtime, unique, xgb_v1: Trained) -> None:
    deploy(sm, unique, register(sm, unique, xgb_v1), count=1)
    wait_settled(sm, unique)
    [worker] = _workers(server.url, unique)
    os.kill(worker["pid"], 9)
    _wait_until(
        lambda: [w["pid"] for w in _workers(server.url, unique)] not in ([], [worker["pid"]]),
        what="a replacement worker",
    )
    np.testing.assert_allclose(predictions(runtime, unique, xgb_v1), xgb_v1.expected[:3], rtol=1e-6)


def test_endpoint_state_changes_are_events_rules_deliver(tmp_path: Path, xgb_v1: Trained) -> None:
    from tests.events.receiver import Receiver
    from tests.events.test_delivery_api import FAST, wire_rule

    receiver = Receiver().start()
    srv = Server(tmp_path, args=FAST).start()
    try:
        pattern = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"]}
        wire_rule(srv.url, receiver.url, name="endpoint-watch", pattern=pattern)
        sm = client(srv.url)
        deploy(sm, "watched", register(sm, "g", xgb_v1))
        wait_settled(sm, "watched")
        got = receiver.wait_for(lambda r: len(r) >= 2)
        details = [r.json["detail"] for r in got]
        assert [d["EndpointStatus"] for d in details] == ["Creating", "InService"]
        assert details[1]["EndpointName"] == "watched"
        assert details[1]["ProductionVariants"][0]["CurrentInstanceCount"] == 1
        assert got[0].json["resources"] == ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/watched"]
    finally:
        srv.stop()
        receiver.stop()


def test_under_sigv4_invocations_must_be_signed_by_a_known_key(tmp_path: Path, xgb_v1: Trained) -> None:
    import json

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"access_key_id": "AKIAOPS", "secret_access_key": "ops-secret"}]}))
    srv = Server(tmp_path, args=["--auth", "sigv4", "--keys", str(keys)]).start()
    try:
        sm = client(srv.url, access_key="AKIAOPS", secret="ops-secret")
        deploy(sm, "guarded", register(sm, "g", xgb_v1))
        assert wait_settled(sm, "guarded")["EndpointStatus"] == "InService"
        runtime = client(srv.url, "sagemaker-runtime", access_key="AKIAOPS", secret="ops-secret")
        np.testing.assert_allclose(predictions(runtime, "guarded", xgb_v1), xgb_v1.expected[:3], rtol=1e-6)

        forged = client(srv.url, "sagemaker-runtime", access_key="AKIAOPS", secret="wrong")
        with pytest.raises(ClientError) as refused:
            predictions(forged, "guarded", xgb_v1)
        assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        unsigned = httpx.post(f"{srv.url}/endpoints/guarded/invocations", content=xgb_v1.csv_rows(1))
        assert unsigned.status_code == 403
        assert httpx.post(f"{srv.url}/api/endpoints/guarded/rollback").status_code == 403
    finally:
        srv.stop()


def test_an_endpoint_recreated_under_a_deleted_name_has_its_own_changes(
    server: Server, sm, runtime, unique, xgb_v1: Trained, xgb_v2: Trained
) -> None:
    v1, v2 = register(sm, unique, xgb_v1), register(sm, unique, xgb_v2)
    deploy(sm, unique, v1)
    wait_settled(sm, unique)
    sm.delete_endpoint(EndpointName=unique)
    sm.create_endpoint(EndpointName=unique, EndpointConfigName=endpoint_config(sm, f"{unique}-c2", [v2]))
    assert wait_settled(sm, unique)["EndpointStatus"] == "InService"
    np.testing.assert_allclose(predictions(runtime, unique, xgb_v2), xgb_v2.expected[:3], rtol=1e-6)

    changes = _history(server.url, unique)
    assert [(c["change"], c["action"], c["outcome"]) for c in changes] == [
        (1, "Create", "InService"), (2, "Delete", "InService"), (3, "Create", "InService"),
    ]  # fmt: skip
    assert changes[0]["liveUntil"] is not None and changes[2]["liveUntil"] is None
    response = httpx.post(f"{server.url}/api/endpoints/{unique}/rollback")
    assert response.status_code == 400  # the deleted endpoint's configuration is not this one's past
    assert "no earlier configuration" in response.json()["message"]
