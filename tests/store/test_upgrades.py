"""A registry written by an older modelreg, upgraded with ``modelreg db upgrade``, answers as it did
and goes on from there, on SQLite and on PostgreSQL.

Each fixture in ``upgrade_fixtures/`` holds the rows an older release stored and what it answered
(``upgrade_fixtures/record.py`` says how they were made). The rows are loaded into a database at
that release's schema revision, which the alembic chain then brings to the head.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from modelreg.store import migrate
from modelreg.store.sql import create_engine
from tests.conftest import client
from tests.server import Server
from tests.store.upgrade_fixtures.record import GROUP, answers

FIXTURES = Path(__file__).with_name("upgrade_fixtures")


@pytest.fixture(params=["revision_0001", "revision_0007"])
def recorded(request: pytest.FixtureRequest) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{request.param}.json").read_text())


def _load_at_revision(url: str, recorded: dict[str, Any]) -> None:
    """A database at the fixture's schema revision, holding the rows the old release stored."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate._config(conn), recorded["revision"])
        old_schema = sa.MetaData()
        old_schema.reflect(engine)
        with engine.begin() as conn:
            for table in old_schema.sorted_tables:
                rows = recorded["tables"].get(table.name)
                if not rows:
                    continue
                conn.execute(table.insert(), [_typed(table, row) for row in rows])
                if engine.dialect.name == "postgresql" and "id" in table.c:
                    # the old server's inserts moved the id sequence along; loading ids given does not
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f'(SELECT max(id) FROM "{table.name}"))'
                    )
    finally:
        engine.dispose()


def _typed(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    # SQLite stores booleans as 0 and 1; PostgreSQL wants them as booleans
    return {
        name: bool(value) if isinstance(table.c[name].type, sa.Boolean) and value is not None else value
        for name, value in row.items()
    }


def _modelreg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelreg.cli", *args], capture_output=True, text=True, timeout=120
    )


def _event_sequences(url: str, arn: str) -> list[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                sa.text("SELECT sequence FROM events WHERE resource_arn = :arn ORDER BY id"), {"arn": arn}
            )
            return [sequence for (sequence,) in result]
    finally:
        engine.dispose()


def test_an_upgraded_registry_answers_as_before_and_goes_on(
    recorded: dict[str, Any], store_url: str, tmp_path: Path
) -> None:
    _load_at_revision(store_url, recorded)
    on_sqlite = store_url.startswith("sqlite")
    where = ["--data-dir", str(tmp_path)] if on_sqlite else ["--store", store_url]

    refused = _modelreg("serve", *where, "--port", "1")
    assert refused.returncode != 0 and "modelreg db upgrade" in refused.stderr
    upgraded = _modelreg("db", "upgrade", *where)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"schema: {recorded['revision']} -> {migrate.head_revision()}" in upgraded.stdout

    server = Server(tmp_path, args=[] if on_sqlite else ["--store", store_url]).start()
    try:
        sm = client(server.url, access_key="AKIDREVIEWER")
        arns = recorded["arns"]
        assert answers(sm, server.url, arns) == recorded["answers"]

        # the client tokens came along: a retried create still gives the first version back
        first, second, third = arns[GROUP]
        spec = recorded["answers"]["packages"][second]["InferenceSpecification"]
        retried = sm.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelPackageDescription="XGBoost fraud classifier 2",
            InferenceSpecification=spec,
            ModelApprovalStatus="PendingManualApproval",
            ModelMetrics=recorded["answers"]["packages"][second]["ModelMetrics"],
            CustomerMetadataProperties={"training_job": "fraud-xgb-training-2", "feature_count": "45"},
            ClientToken="register-fraud-2",
        )
        assert retried["ModelPackageArn"] == second

        # numbering goes on past the deleted version 4
        fifth = sm.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=spec)
        assert fifth["ModelPackageArn"].endswith(f"/{GROUP}/5")

        # an approval of a version written before: its history grows, its events number on
        sequences_before = _event_sequences(store_url, third)
        sm.update_model_package(
            ModelPackageArn=third, ModelApprovalStatus="Approved", ApprovalDescription="after the upgrade"
        )
        latest = sm.list_model_packages(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
        assert [summary["ModelPackageArn"] for summary in latest] == [third]
        history = httpx.get(f"{server.url}/api/model-packages/{GROUP}/3/history").json()["history"]
        assert history[:-1] == recorded["answers"]["history"]["3"]["history"]
        assert history[-1]["principal"] == "AKIDREVIEWER"
        assert (history[-1]["from"], history[-1]["to"]) == ("PendingManualApproval", "Approved")
        sequences = _event_sequences(store_url, third)
        assert sequences == [*sequences_before, len(sequences_before) + 1]
        assert sequences == list(range(1, len(sequences) + 1))

        # the old versions can still be deleted, and then the group
        for arn in (first, second, third, fifth["ModelPackageArn"]):
            sm.delete_model_package(ModelPackageName=arn)
        sm.delete_model_package_group(ModelPackageGroupName=GROUP)
        assert sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []
    finally:
        server.stop()
