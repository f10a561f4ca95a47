"""How ``Appends`` combines held-back writes into statements (what PostgreSQL is sent); that the
writes land and are read back is the store contract's (``test_contract.py``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from modelreg.store import schema, sql_appends
from modelreg.store.sql_appends import Appends


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The statements ``Appends`` sends on a PostgreSQL connection, as SQL and parameters."""
    statements: list[tuple[str, dict[str, Any]]] = []

    def run(conn: Any, stmt: Any, params: dict[str, Any]) -> None:
        statements.append((str(stmt.compile(dialect=postgresql.dialect())), params))

    monkeypatch.setattr(sql_appends.fast, "run", run)
    return statements


def _appends() -> Appends:
    return Appends(SimpleNamespace(dialect=SimpleNamespace(name="postgresql")))  # type: ignore[arg-type]


def test_two_updates_of_a_row_held_back_become_one(sent: list[tuple[str, dict[str, Any]]]) -> None:
    appends = _appends()
    appends.update(schema.model_packages, 7, {"approval_status": "Approved", "body": "{}"})
    appends.add(schema.history, {"arn": "a", "reason": "r"})
    appends.update(schema.model_packages, 8, {"approval_status": "Rejected", "body": "{}"})
    appends.update(schema.model_packages, 7, {"approval_status": "Rejected", "body": '{"x": 1}'})
    appends.flush()
    [(sql, params)] = sent
    assert sql.count("UPDATE model_packages") == 2 and sql.count("INSERT INTO history") == 1
    updates = {params[f"a{n}_id"]: (params[f"a{n}_approval_status"], params[f"a{n}_body"]) for n in (0, 1)}
    assert updates == {7: ("Rejected", '{"x": 1}'), 8: ("Rejected", "{}")}
    assert (params["a2_arn"], params["a2_reason"]) == ("a", "r")


def test_a_lone_update_is_a_plain_update(sent: list[tuple[str, dict[str, Any]]]) -> None:
    appends = _appends()
    appends.update(schema.model_packages, 7, {"approval_status": "Approved", "body": "{}"})
    appends.flush()
    appends.flush()  # nothing left to send
    [(sql, params)] = sent
    assert sql.startswith("UPDATE model_packages SET") and "WITH" not in sql
    assert params == {"a0_id": 7, "a0_approval_status": "Approved", "a0_body": "{}"}


def test_an_update_of_a_row_held_for_insert_goes_into_the_insert(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    appends = _appends()
    appends.add(schema.model_packages, {"id": 41, "approval_status": "PendingManualApproval", "body": "{}"})
    appends.add(schema.history, {"arn": "a", "reason": "r"})
    appends.update(schema.model_packages, 41, {"approval_status": "Approved", "body": '{"x": 1}'})
    appends.flush()
    [(sql, params)] = sent
    assert "UPDATE" not in sql and sql.count("INSERT INTO model_packages") == 1
    assert (params["a0_id"], params["a0_approval_status"], params["a0_body"]) == (41, "Approved", '{"x": 1}')


def test_a_registrations_rows_leave_in_one_statement(sent: list[tuple[str, dict[str, Any]]]) -> None:
    appends = _appends()
    appends.add(schema.model_packages, {"id": 5, "arn": "a"})
    for member in ("ModelQuality", "ModelDataQuality", "Bias", "Explainability"):  # metrics files
        appends.add(schema.metric_sources, {"package_arn": "a", "member": member})
    for field in ("ModelApprovalStatus", "ModelLifeCycle"):
        appends.add(schema.history, {"arn": "a", "field": field})
    appends.add(schema.lineage_backlog, {"package_id": 5})
    appends.add(schema.events, {"resource_arn": "a", "sequence": 1})
    appends.add(schema.client_tokens, {"region": "r", "operation": "o", "token": "t"})
    appends.flush()
    [(sql, params)] = sent
    assert [sql.count(f"INSERT INTO {t}") for t in ("model_packages", "metric_sources", "history")] == [
        1,
        1,
        1,
    ]
    assert (params["a0_id"], params["a4_member"], params["a9_token"]) == (5, "Explainability", "t")
