"""Cleanup of old and rejected versions with its guardrails, through /api and `modelreg gc`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.trained_models import Trained, deploy, endpoint_config, register, wait_settled
from tests.server import Server

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _version(sm, group: str, model_file: Path, status: str) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": model_file.as_uri()}]},
        ModelApprovalStatus=status,
    )["ModelPackageArn"]


@pytest.fixture
def group(sm, unique, tmp_path: Path) -> tuple[str, dict[int, Path]]:
    """v1 Approved, v2 Rejected, v3 Approved, v4 Pending (its file is v6's too), v5 Rejected, v6 Pending."""
    sm.create_model_package_group(ModelPackageGroupName=unique)
    files = {}
    for version, status in enumerate(
        ["Approved", "Rejected", "Approved", "PendingManualApproval", "Rejected", "PendingManualApproval"],
        start=1,
    ):
        files[version] = tmp_path / f"v{4 if version == 6 else version}.tar.gz"
        files[version].write_bytes(b"x" * (1000 * version))
        _version(sm, unique, files[version], status)
    return unique, files


def _gc(url: str, group: str, **options) -> httpx.Response:
    return httpx.post(f"{url}/api/model-package-groups/{group}/gc", json=options, timeout=60)


def test_keep_last_deletes_older_versions_but_never_the_latest_approved(server: Server, sm, group) -> None:
    name, files = group
    preview = _gc(server.url, name, keepLast=2, dryRun=True).json()
    assert [v["version"] for v in preview["wouldDelete"]] == [4, 2, 1]
    assert [(v["version"], v["protectedBy"]) for v in preview["protected"]] == [
        (3, "the latest Approved version")
    ]
    assert [(a["uri"], a["bytes"]) for a in preview["artifacts"]] == [
        (files[1].as_uri(), 1000),
        (files[2].as_uri(), 2000),
    ]  # v4's file stays: v6 uses it too
    assert preview["bytesToReclaim"] == 3000
    assert all(f.exists() for f in files.values())  # a dry run changes nothing
    assert len(sm.list_model_packages(ModelPackageGroupName=name)["ModelPackageSummaryList"]) == 6

    done = _gc(server.url, name, keepLast=2).json()
    assert [v["version"] for v in done["deleted"]] == [4, 2, 1]
    assert done["bytesReclaimed"] == 3000
    assert not files[1].exists() and not files[2].exists() and files[4].exists()
    left = sm.list_model_packages(ModelPackageGroupName=name)["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in left] == [3, 5, 6]
    history = httpx.get(f"{server.url}/api/model-packages/{name}/1/history").json()["history"]
    assert history[-1]["field"] == "Deleted"
    with pytest.raises(ClientError, match="does not exist"):
        sm.describe_model_package(ModelPackageName=f"{name}/1")


def test_rejected_older_than_deletes_only_rejected_versions(server: Server, sm, group) -> None:
    name, files = group
    done = _gc(server.url, name, rejectedOlderThanSeconds=0).json()
    assert [(v["version"], v["reasons"]) for v in done["deleted"]] == [
        (5, ["Rejected more than 0s ago"]),
        (2, ["Rejected more than 0s ago"]),
    ]
    assert not files[5].exists() and not files[2].exists() and files[1].exists()
    nothing = _gc(server.url, name, rejectedOlderThanSeconds=86400).json()
    assert nothing["deleted"] == [] and nothing["bytesReclaimed"] == 0


def test_bad_requests_are_400_and_unknown_groups_404(server: Server, sm, group) -> None:
    name, _ = group
    assert _gc(server.url, name).status_code == 400
    assert _gc(server.url, name, keepLast=-1).status_code == 400
    assert _gc(server.url, name, keepLast="2").status_code == 400
    for older in (-1, -1e22):  # a cutoff in the future: every Rejected version would go
        refused = _gc(server.url, name, rejectedOlderThanSeconds=older)
        assert refused.status_code == 400
        assert refused.json()["message"] == "rejected_older_than must be 0 seconds or more."
    assert len(sm.list_model_packages(ModelPackageGroupName=name)["ModelPackageSummaryList"]) == 6
    missing = _gc(server.url, name + "-nope", keepLast=1)
    assert missing.status_code == 404 and "does not exist" in missing.json()["message"]


def _own_copy(trained: Trained, folder: Path) -> Trained:
    """The model in a file of this test's own: cleanup deletes the files it no longer needs."""
    folder.mkdir()
    tarball = Path(shutil.copy(trained.tarball, folder / "model.tar.gz"))
    return Trained(tarball, trained.features, trained.expected, trained.image)


def test_serving_versions_and_rollback_targets_are_kept(
    server: Server, sm, unique, tmp_path: Path, xgb_v1: Trained, xgb_v2: Trained
) -> None:
    xgb_v1, xgb_v2 = _own_copy(xgb_v1, tmp_path / "v1"), _own_copy(xgb_v2, tmp_path / "v2")
    v1, v2 = register(sm, unique, xgb_v1), register(sm, unique, xgb_v2)
    register(sm, unique, xgb_v1, status="Rejected")  # v3
    deploy(sm, unique, v1)
    wait_settled(sm, unique)
    sm.update_endpoint(EndpointName=unique, EndpointConfigName=endpoint_config(sm, f"{unique}-c2", [v2]))
    wait_settled(sm, unique)
    sm.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Rejected", ApprovalDescription="drift")
    register(sm, unique, xgb_v2)  # v4, the latest Approved

    result = _gc(server.url, unique, keepLast=0).json()
    protected = {v["version"]: v["protectedBy"] for v in result["protected"]}
    assert protected == {
        1: f"a rollback target of endpoint {unique} (it served change 1)",
        2: f"serves the endpoint(s) {unique}",
        4: "the latest Approved version",
    }
    assert [v["version"] for v in result["deleted"]] == [3]
    assert result["artifacts"] == []  # v3's model data is v1's, still used

    sm.delete_endpoint(EndpointName=unique)
    after = _gc(server.url, unique, keepLast=0).json()
    assert sorted(v["version"] for v in after["deleted"]) == [1, 2]
    assert [a["uri"] for a in after["artifacts"]] == [xgb_v1.uri]  # v4 still uses v2's file
    assert not xgb_v1.tarball.exists() and xgb_v2.tarball.exists()


def test_the_cli_shows_a_dry_run_and_deletes(server: Server, sm, group) -> None:
    name, files = group

    def gc(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "modelreg.cli", "gc", name, "--endpoint", server.url, *args],
            capture_output=True, text=True, timeout=60, check=False, env={"COLUMNS": "200", "PATH": ""},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    preview = gc("--keep-last", "5", "--rejected-older-than", "0s", "--dry-run")
    assert "Would delete (3)" in preview and "Would reclaim 8000 bytes" in preview  # v1; v2 and v5
    assert files[1].exists()
    output = gc("--keep-last", "5", "--rejected-older-than", "0s")
    assert "Deleted (3)" in output and "Reclaimed 8000 bytes" in output
    assert not any(files[v].exists() for v in (1, 2, 5)) and files[3].exists()
