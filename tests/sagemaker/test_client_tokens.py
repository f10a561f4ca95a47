"""ClientToken digests: a token remembered by an earlier modelreg (whose digest was of the standard
library's JSON text) still replays its request after an upgrade."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelreg.aws.auth import Principal
from modelreg.aws.dispatch import RequestContext
from modelreg.config import Settings
from modelreg.errors import ValidationException
from modelreg.sagemaker import model_package_groups, model_packages
from modelreg.store import open_store
from modelreg.store.sql import SqlStore

REMEMBERED = "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/7"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'modelreg.db'}")
    assert isinstance(s, SqlStore)
    yield s
    s.close()


def _context(store: SqlStore) -> RequestContext:
    principal = Principal("AKIDCAROL", "carol", "123456789012", "us-east-1", "sagemaker")
    return RequestContext(
        principal, request_id="r", settings=Settings(), store=store, operation="CreateModelPackage"
    )


def _legacy_digest(params: dict[str, Any]) -> str:
    members = {k: v for k, v in params.items() if k != "ClientToken"}
    return hashlib.sha256(json.dumps(members, sort_keys=True).encode()).hexdigest()


def test_a_token_remembered_with_the_legacy_digest_replays(store: SqlStore) -> None:
    ctx = _context(store)
    model_package_groups.create_model_package_group(ctx, {"ModelPackageGroupName": "g"})
    params = {"ModelPackageGroupName": "g", "ModelPackageDescription": "Modèle v7", "ClientToken": "tok"}
    assert model_packages.request_digest(params) != _legacy_digest(params)
    with store.write() as tx:
        tx.put_client_token("us-east-1", "CreateModelPackage", "tok", _legacy_digest(params), REMEMBERED, 1)

    assert model_packages.create_model_package(ctx, params) == {"ModelPackageArn": REMEMBERED}
    with store.read() as tx:
        group = tx.get_group("us-east-1", "g")
        assert group is not None and group.last_version == 0  # nothing was created
    with pytest.raises(ValidationException, match="already used with different parameters"):
        model_packages.create_model_package(ctx, {**params, "ModelPackageDescription": "v8"})
