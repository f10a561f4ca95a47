"""SQL for the serving half of the store: deployment history and artifact digests."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelreg.json_text import dumps
from modelreg.store import schema
from modelreg.store.rows import DeploymentRow
from modelreg.store.sql_rows import from_row

DEP = schema.deployments
DIG = schema.artifact_digests

_b = sa.bindparam
_OPEN = DEP.c.ended_us.is_(None)


class EndpointQueries:
    """``EndpointTransaction`` (see ``modelreg.store.base``) over ``self.conn``."""

    conn: Connection

    def insert_deployments(self, rows: Sequence[DeploymentRow]) -> None:
        if not rows:
            return
        values = []
        for row in rows:
            value = {c.name: getattr(row, c.name) for c in DEP.columns if c.name != "id"}
            value["body"] = dumps(row.body)
            values.append(value)
        self.conn.execute(DEP.insert(), values)

    def list_deployments(
        self, *, endpoint_arn: str | None = None, package_arn: str | None = None
    ) -> list[DeploymentRow]:
        stmt = DEP.select().order_by(DEP.c.id)
        if endpoint_arn is not None:
            stmt = stmt.where(DEP.c.endpoint_arn == endpoint_arn)
        if package_arn is not None:
            stmt = stmt.where(DEP.c.package_arn == package_arn)
        return [from_row(DeploymentRow, r) for r in self.conn.execute(stmt)]

    def settle_deployment(
        self, endpoint_arn: str, change: int, outcome: str, at_us: int, failure_reason: str | None = None
    ) -> None:
        this = sa.and_(DEP.c.endpoint_arn == endpoint_arn, DEP.c.change == change)
        if outcome == "InService":
            self.conn.execute(
                DEP.update()
                .where(
                    DEP.c.endpoint_arn == endpoint_arn,
                    DEP.c.change < change,
                    DEP.c.live_us.is_not(None),
                    _OPEN,
                )
                .values(ended_us=at_us)
            )
            self.conn.execute(DEP.update().where(this).values(outcome="InService", live_us=at_us))
        else:
            self.conn.execute(
                DEP.update()
                .where(this)
                .values(outcome=outcome, failure_reason=failure_reason, ended_us=at_us)
            )

    def last_deployment_change(self, endpoint_arn: str) -> int:
        stmt = sa.select(sa.func.coalesce(sa.func.max(DEP.c.change), 0)).where(
            DEP.c.endpoint_arn == endpoint_arn
        )
        return int(self.conn.execute(stmt).scalar_one())

    def end_deployments(self, endpoint_arn: str, at_us: int) -> None:
        self.conn.execute(
            DEP.update().where(DEP.c.endpoint_arn == endpoint_arn, _OPEN).values(ended_us=at_us)
        )

    def package_serving_endpoints(self, package_arn: str) -> list[str]:
        stmt = (
            sa.select(DEP.c.endpoint_name)
            .where(DEP.c.package_arn == package_arn, _OPEN, DEP.c.outcome != "Failed")
            .distinct()
        )
        return sorted(self.conn.execute(stmt).scalars())

    def get_artifact_digest(self, owner_arn: str, uri: str) -> str | None:
        stmt = sa.select(DIG.c.sha256).where(DIG.c.owner_arn == owner_arn, DIG.c.uri == uri)
        return self.conn.execute(stmt).scalar_one_or_none()

    def put_artifact_digest(self, owner_arn: str, uri: str, sha256: str, at_us: int) -> None:
        self.conn.execute(
            DIG.delete().where(DIG.c.owner_arn == _b("owner"), DIG.c.uri == _b("uri")),
            {"owner": owner_arn, "uri": uri},
        )
        self.conn.execute(
            DIG.insert(), {"owner_arn": owner_arn, "uri": uri, "sha256": sha256, "recorded_us": at_us}
        )
