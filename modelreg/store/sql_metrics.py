"""SQL for the metrics half of the store: metric sources (the files) and package metrics (the numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelreg.store import schema
from modelreg.store.rows import Cursor, MetricPoint, MetricSource, PackageRow
from modelreg.store.sql_appends import Appends
from modelreg.store.sql_rows import column_values, from_row

MS = schema.metric_sources
PM = schema.package_metrics
P = schema.model_packages

_b = sa.bindparam
PENDING = "pending"

_CLAIM = (
    MS.select()
    .where(MS.c.status == PENDING, MS.c.updated_us <= _b("now"))
    .order_by(MS.c.id)
    .limit(_b("limit"))
)
_CLAIM_LOCKED = _CLAIM.with_for_update(skip_locked=True)
_NEXT_DUE = sa.select(sa.func.min(MS.c.updated_us)).where(MS.c.status == PENDING)
_SETTLE = (
    MS.update()
    .where(MS.c.id == _b("sid"), MS.c.status == PENDING)
    .values(
        status=_b("status"),
        sha256=_b("sha256"),
        error=_b("error"),
        attempts=_b("attempts"),
        updated_us=_b("updated"),
    )
)


class MetricsQueries:
    """``MetricsTransaction`` (see ``modelreg.store.base``) over ``self.conn``."""

    conn: Connection
    _lock_rows: bool
    _appends: Appends

    def add_metric_sources(self, sources: Sequence[MetricSource]) -> None:
        for source in sources:
            self._appends.add(MS, column_values(source))

    def claim_metric_sources(self, now_us: int, lease_us: int, limit: int) -> list[MetricSource]:
        stmt = _CLAIM_LOCKED if self._lock_rows else _CLAIM
        rows = [from_row(MetricSource, r) for r in self.conn.execute(stmt, {"now": now_us, "limit": limit})]
        if rows:
            until = now_us + lease_us
            self.conn.execute(MS.update().where(MS.c.id.in_([r.id for r in rows])).values(updated_us=until))
            for row in rows:
                row.updated_us = until
        return rows

    def next_metric_source_due_us(self) -> int | None:
        return self.conn.execute(_NEXT_DUE).scalar()

    def settle_metric_source(self, source: MetricSource, metrics: dict[str, float] | None) -> bool:
        settled = self.conn.execute(
            _SETTLE,
            {
                "sid": source.id,
                "status": source.status,
                "sha256": source.sha256,
                "error": source.error,
                "attempts": source.attempts,
                "updated": source.updated_us,
            },
        )
        if settled.rowcount == 0:
            return False
        if metrics is None:
            return True
        names = list(metrics)
        stale = PM.c.source_uri == source.uri
        if names:
            stale = sa.or_(stale, PM.c.name.in_(names))
        self.conn.execute(PM.delete().where(PM.c.package_arn == source.package_arn, stale))
        if metrics:
            self.conn.execute(
                PM.insert(),
                [
                    {
                        "package_arn": source.package_arn,
                        "name": name,
                        "value": value,
                        "group_id": source.group_id,
                        "version": source.version,
                        "source_uri": source.uri,
                    }
                    for name, value in metrics.items()
                ],
            )
        return True

    def reset_metric_sources(self, package_arn: str, now_us: int) -> int:
        result = self.conn.execute(
            MS.update()
            .where(MS.c.package_arn == package_arn)
            .values(status=PENDING, attempts=0, error=None, updated_us=now_us)
        )
        return result.rowcount

    def list_metric_sources(self, package_arns: Sequence[str]) -> list[MetricSource]:
        if not package_arns:
            return []
        stmt = MS.select().where(MS.c.package_arn.in_(list(package_arns))).order_by(MS.c.id)
        return [from_row(MetricSource, r) for r in self.conn.execute(stmt)]

    def metrics_of(self, package_arns: Sequence[str]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {arn: {} for arn in package_arns}
        if package_arns:
            stmt = (
                sa.select(PM.c.package_arn, PM.c.name, PM.c.value)
                .where(PM.c.package_arn.in_(list(package_arns)))
                .order_by(PM.c.package_arn, PM.c.name)
            )
            for r in self.conn.execute(stmt):
                out[r.package_arn][r.name] = r.value
        return out

    def metric_values(self, names: Sequence[str], group_id: int | None = None) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        if not names:
            return out
        stmt = sa.select(PM.c.package_arn, PM.c.name, PM.c.value).where(PM.c.name.in_(list(names)))
        if group_id is not None:
            stmt = stmt.where(PM.c.group_id == group_id)
        for r in self.conn.execute(stmt):
            out.setdefault(r.package_arn, {})[r.name] = r.value
        return out

    def metric_trend(
        self,
        group_id: int,
        name: str,
        after_version: int | None,
        limit: int,
        approval_status: str | None = None,
    ) -> list[MetricPoint]:
        stmt = (
            sa.select(
                PM.c.version,
                PM.c.value,
                P.c.approval_status,
                P.c.created_us,
                PM.c.package_arn,
            )
            .select_from(PM.join(P, P.c.arn == PM.c.package_arn))
            .where(PM.c.group_id == group_id, PM.c.name == name)
            .order_by(PM.c.version)
            .limit(limit)
        )
        if after_version is not None:
            stmt = stmt.where(PM.c.version > after_version)
        if approval_status is not None:
            stmt = stmt.where(P.c.approval_status == approval_status)
        return [from_row(MetricPoint, r) for r in self.conn.execute(stmt)]

    def list_packages_by_metric(
        self,
        group_id: int,
        name: str,
        *,
        descending: bool,
        approval_status: str | None,
        after: Cursor | None,
        limit: int,
    ) -> list[tuple[PackageRow, float | None]]:
        value = PM.c.value
        joined = P.outerjoin(PM, sa.and_(PM.c.package_arn == P.c.arn, PM.c.name == name))
        stmt = sa.select(P, value.label("metric_value")).select_from(joined).where(P.c.group_id == group_id)
        if approval_status is not None:
            stmt = stmt.where(P.c.approval_status == approval_status)
        if after is not None:
            stmt = stmt.where(_after_metric(after, descending))
        direction: Any = sa.desc if descending else sa.asc
        stmt = stmt.order_by(
            sa.case((value.is_(None), 1), else_=0), direction(value), direction(P.c.version)
        ).limit(limit)
        return [(from_row(PackageRow, r), r.metric_value) for r in self.conn.execute(stmt)]

    def metric_cursor(self, row: PackageRow, value: float | None) -> Cursor:
        return [value is None, value, row.version]

    def delete_package_metrics(self, package_arn: str) -> None:
        self.conn.execute(PM.delete().where(PM.c.package_arn == package_arn))
        self.conn.execute(MS.delete().where(MS.c.package_arn == package_arn))


def _after_metric(after: Cursor, descending: bool) -> sa.ColumnElement[bool]:
    """Rows strictly after the cursor ``[missing, value, version]`` in metric order (missing last)."""
    missing, last_value, last_version = after
    value, version = PM.c.value, P.c.version
    version_after = version < last_version if descending else version > last_version
    if missing:
        return sa.and_(value.is_(None), version_after)
    value_after = value < last_value if descending else value > last_value
    return sa.or_(
        value.is_(None),
        value_after,
        sa.and_(value == last_value, version_after),
    )
