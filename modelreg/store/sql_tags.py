"""SQL for tags on ARNs (groups, and the other resources that take tags)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelreg.store import schema

T = schema.tags


class TagQueries:
    """The tag methods of ``RegistryTransaction`` (see ``modelreg.store.base``) over ``self.conn``."""

    conn: Connection

    def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        self.conn.execute(T.delete().where(T.c.arn == arn, T.c.key.in_(list(tags))))
        self.conn.execute(T.insert(), [{"arn": arn, "key": k, "value": v} for k, v in tags.items()])

    def delete_tags(self, arn: str, keys: Sequence[str]) -> None:
        if keys:
            self.conn.execute(T.delete().where(T.c.arn == arn, T.c.key.in_(list(keys))))

    def list_tags(
        self, arn: str, after_key: str | None = None, limit: int | None = None
    ) -> list[tuple[str, str]]:
        stmt = sa.select(T.c.key, T.c.value).where(T.c.arn == arn).order_by(T.c.key)
        if after_key is not None:
            stmt = stmt.where(T.c.key > after_key)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [(r.key, r.value) for r in self.conn.execute(stmt)]

    def tags_for(self, arns: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {a: [] for a in arns}
        if arns:
            stmt = sa.select(T.c.arn, T.c.key, T.c.value).where(T.c.arn.in_(list(arns))).order_by(T.c.key)
            for r in self.conn.execute(stmt):
                out[r.arn].append((r.key, r.value))
        return out

    def count_tags(self, arn: str) -> int:
        return self.conn.execute(sa.select(sa.func.count()).select_from(T).where(T.c.arn == arn)).scalar_one()
