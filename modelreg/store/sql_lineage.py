"""SQL for the lineage half of the store: associations between lineage entities (the entities
themselves are ``named_resources`` rows) and the insert-if-absent that lets automatic lineage share
entities between concurrent registrations without aborting either transaction."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from modelreg.json_text import dumps
from modelreg.store import schema
from modelreg.store import sql_fast as fast
from modelreg.store.base import DuplicateKey
from modelreg.store.rows import AssociationQuery, AssociationRow, Cursor, NamedResource, PackageRow
from modelreg.store.sql_appends import Appends
from modelreg.store.sql_events import GET_RESOURCE
from modelreg.store.sql_rows import column_values, cursor_params, from_row, keyset

L = schema.lineage_associations
R = schema.named_resources

_b = sa.bindparam
_IN_CHUNK = 500  # ARNs per IN (...) list

_INSERT_RESOURCES = R.insert()
_INSERT_ASSOCIATIONS = L.insert()
_GET = L.select().where(L.c.source_arn == _b("src"), L.c.destination_arn == _b("dst"))

B = schema.lineage_backlog
P = schema.model_packages
_LAST_DEFERRED = sa.select(sa.func.max(B.c.package_id))
_COUNT_DEFERRED = sa.select(sa.func.count()).select_from(B)
_DEFERRED = sa.select(P).join(B, B.c.package_id == P.c.id).order_by(B.c.package_id).limit(_b("limit"))
_DEFERRED_UP_TO = _DEFERRED.where(B.c.package_id <= _b("up_to"))
# PostgreSQL: a background recorder skips the backlog rows another transaction holds; a reader
# catching up (``up_to``) waits for them
_DEFERRED_SKIPPING_LOCKED = _DEFERRED.with_for_update(of=B, skip_locked=True)
_DEFERRED_UP_TO_LOCKED = _DEFERRED_UP_TO.with_for_update(of=B)
_UNDEFER_ONE = B.delete().where(B.c.package_id == _b("pid"))

_KEYS_PER_LOOKUP = 8  # (kind, name) pairs per get_resources statement


@cache
def _get_many(pairs: int) -> sa.CompoundSelect:
    """Resources by ``pairs`` exact (region, kind, name) keys: a UNION ALL of one full-key lookup
    each, which SQLite and PostgreSQL both answer with one probe of the unique index per key.
    (``kind IN (...) AND name IN (...)`` led PostgreSQL, before statistics, to scan the whole
    region; an OR of the keys made SQLite build a row set to merge the probes: 44 us for three
    keys, against 11.5 for this.)"""
    return sa.union_all(
        *(
            R.select().where(
                R.c.region == _b("region"), R.c.kind == _b(f"kind_{i}"), R.c.name == _b(f"name_{i}")
            )
            for i in range(pairs)
        )
    )


@cache
def _insert_ignoring_conflicts(dialect_name: str, table_name: str) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <first key column>``: a collision (even with a
    row another transaction has not committed yet: the insert waits for it) neither raises nor
    aborts the transaction; it returns no row."""
    table = schema.metadata.tables[table_name]
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    first_key = table.c.id if "id" in table.c else table.c.source_arn
    return dialect.insert(table).on_conflict_do_nothing().returning(first_key)


@cache
def _insert_skipping_conflicts(dialect_name: str) -> Any:
    """``INSERT INTO named_resources ... ON CONFLICT DO NOTHING``, for many rows at a time."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(R).on_conflict_do_nothing()


#: sortable columns of ListAssociations (types may be NULL: they sort as "")
_SORT_COLUMNS: dict[str, sa.ColumnElement[Any]] = {
    "CreationTime": L.c.created_us,
    "SourceArn": L.c.source_arn,
    "DestinationArn": L.c.destination_arn,
    "SourceType": sa.func.coalesce(L.c.source_type, ""),
    "DestinationType": sa.func.coalesce(L.c.destination_type, ""),
}


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _association_order(sort_by: str) -> list[sa.ColumnElement[Any]]:
    if sort_by == "SourceArn":
        return [L.c.source_arn, L.c.destination_arn]
    return [_SORT_COLUMNS[sort_by], L.c.source_arn, L.c.destination_arn]


def _resource_order(by_name: bool) -> list[sa.ColumnElement[Any]]:
    return [R.c.name, R.c.id] if by_name else [R.c.created_us, R.c.id]


@cache
def _list_stmt(sort_by: str, descending: bool, paged: bool, filters: frozenset[str]) -> sa.Select[Any]:
    where, order = keyset(_association_order(sort_by), paged, descending)
    stmt = L.select().where(*where)
    equal = {
        "source_arn": L.c.source_arn,
        "destination_arn": L.c.destination_arn,
        "source_type": L.c.source_type,
        "destination_type": L.c.destination_type,
        "association_type": L.c.association_type,
    }
    for name, column in equal.items():
        if name in filters:
            stmt = stmt.where(column == _b(name))
    if "arn_prefix" in filters:
        stmt = stmt.where(L.c.source_arn.like(_b("arn_prefix"), escape="\\"))
    if "created_after_us" in filters:
        stmt = stmt.where(L.c.created_us >= _b("created_after_us"))
    if "created_before_us" in filters:
        stmt = stmt.where(L.c.created_us <= _b("created_before_us"))
    return stmt.order_by(*order).limit(_b("limit"))


@cache
def _page_resources_stmt(
    by_name: bool, descending: bool, paged: bool, after: bool, before: bool
) -> sa.Select[Any]:
    where, order = keyset(_resource_order(by_name), paged, descending)
    stmt = R.select().where(R.c.region == _b("region"), R.c.kind == _b("kind"), *where)
    if after:
        stmt = stmt.where(R.c.created_us >= _b("created_after_us"))
    if before:
        stmt = stmt.where(R.c.created_us <= _b("created_before_us"))
    return stmt.order_by(*order).limit(_b("limit"))


def _values(row: AssociationRow) -> dict[str, Any]:
    return {
        "source_arn": row.source_arn,
        "destination_arn": row.destination_arn,
        "association_type": row.association_type,
        "source_type": row.source_type,
        "destination_type": row.destination_type,
        "created_us": row.created_us,
        "body": dumps(row.body),
    }


class LineageQueries:
    """``LineageTransaction`` (see ``modelreg.store.base``) over ``self.conn``; mixed into SqlTransaction."""

    conn: Connection
    _appends: Appends
    _lock_rows: bool

    def _insert_ignoring_conflicts(self, table: sa.Table) -> Any:
        return _insert_ignoring_conflicts(self.conn.dialect.name, table.name)

    def insert_resource_if_absent(self, resource: NamedResource) -> tuple[NamedResource, bool]:
        values = column_values(resource)
        new_id = fast.run(self.conn, self._insert_ignoring_conflicts(R), values).scalar()
        if new_id is not None:
            resource.id = new_id
            return resource, True
        row = self.conn.execute(
            GET_RESOURCE, {"region": resource.region, "kind": resource.kind, "name": resource.name}
        ).one()
        return from_row(NamedResource, row), False

    def get_resources(
        self, region: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], NamedResource]:
        if not keys:
            return {}
        unique = sorted(set(keys))
        found: dict[tuple[str, str], NamedResource] = {}
        for start in range(0, len(unique), _KEYS_PER_LOOKUP):
            chunk = unique[start : start + _KEYS_PER_LOOKUP]
            params = {"region": region}
            for i, (kind, name) in enumerate(chunk):
                params.update({f"kind_{i}": kind, f"name_{i}": name})
            for row in fast.run(self.conn, _get_many(len(chunk)), params):
                resource = from_row(NamedResource, row)
                found[(resource.kind, resource.name)] = resource
        return found

    def insert_resources(self, resources: Sequence[NamedResource]) -> None:
        if not resources:
            return
        try:
            fast.run_many(self.conn, _INSERT_RESOURCES, [column_values(r) for r in resources])
        except sa.exc.IntegrityError as exc:
            raise DuplicateKey(resources[0].name) from exc

    def insert_resources_if_absent(self, resources: Sequence[NamedResource]) -> set[tuple[str, str]]:
        if not resources:
            return set()
        fast.run_many(
            self.conn,
            _insert_skipping_conflicts(self.conn.dialect.name),
            [column_values(r) for r in resources],
        )
        # each row's ARN is its own: where the stored row has it, this insert made the row
        arns = {(r.kind, r.name): r.arn for r in resources}
        stored = self.get_resources(resources[0].region, list(arns))
        return {key for key, row in stored.items() if row.arn == arns[key]}

    def insert_association(self, row: AssociationRow) -> bool:
        return self.conn.execute(self._insert_ignoring_conflicts(L), _values(row)).scalar() is not None

    def insert_associations(self, rows: Sequence[AssociationRow]) -> None:
        if not rows:
            return
        try:
            fast.run_many(self.conn, _INSERT_ASSOCIATIONS, [_values(row) for row in rows])
        except sa.exc.IntegrityError as exc:
            raise DuplicateKey(rows[0].destination_arn) from exc

    def get_association(self, source_arn: str, destination_arn: str) -> AssociationRow | None:
        found = self.conn.execute(_GET, {"src": source_arn, "dst": destination_arn}).first()
        return from_row(AssociationRow, found) if found else None

    def delete_association(self, source_arn: str, destination_arn: str) -> bool:
        result = self.conn.execute(
            L.delete().where(L.c.source_arn == source_arn, L.c.destination_arn == destination_arn)
        )
        return bool(result.rowcount)

    def delete_associations_of(self, arn: str) -> int:
        outgoing = self.conn.execute(L.delete().where(L.c.source_arn == arn)).rowcount
        incoming = self.conn.execute(L.delete().where(L.c.destination_arn == arn)).rowcount
        return int(outgoing or 0) + int(incoming or 0)

    def list_associations(
        self, query: AssociationQuery, after: Cursor | None, limit: int
    ) -> list[AssociationRow]:
        params: dict[str, Any] = {
            "source_arn": query.source_arn,
            "destination_arn": query.destination_arn,
            "source_type": query.source_type,
            "destination_type": query.destination_type,
            "association_type": query.association_type,
            "created_after_us": query.created_after_us,
            "created_before_us": query.created_before_us,
            "limit": limit,
        }
        if query.arn_prefix is not None:
            params["arn_prefix"] = _like_escape(query.arn_prefix) + "%"
        filters = frozenset(k for k, v in params.items() if v is not None and k != "limit")
        params.update(cursor_params(after, _association_order(query.sort_by)))
        stmt = _list_stmt(query.sort_by, query.descending, after is not None, filters)
        return [from_row(AssociationRow, r) for r in self.conn.execute(stmt, params)]

    def page_resources(
        self,
        region: str,
        kind: str,
        *,
        by_name: bool,
        descending: bool,
        after: Cursor | None,
        created_after_us: int | None,
        created_before_us: int | None,
        limit: int,
    ) -> list[NamedResource]:
        stmt = _page_resources_stmt(
            by_name,
            descending,
            after is not None,
            created_after_us is not None,
            created_before_us is not None,
        )
        params = {
            "region": region,
            "kind": kind,
            "created_after_us": created_after_us,
            "created_before_us": created_before_us,
            "limit": limit,
            **cursor_params(after, _resource_order(by_name)),
        }
        return [from_row(NamedResource, r) for r in self.conn.execute(stmt, params)]

    def association_cursor(self, row: AssociationRow, query: AssociationQuery) -> Cursor:
        key: dict[str, Any] = {
            "CreationTime": row.created_us,
            "DestinationArn": row.destination_arn,
            "SourceType": row.source_type or "",
            "DestinationType": row.destination_type or "",
        }
        if query.sort_by == "SourceArn":
            return [row.source_arn, row.destination_arn]
        return [key[query.sort_by], row.source_arn, row.destination_arn]

    def defer_lineage(self, package_id: int) -> None:
        self._appends.add(B, {"package_id": package_id})

    def last_deferred_lineage(self) -> int | None:
        return fast.run(self.conn, _LAST_DEFERRED, {}).scalar()

    def count_deferred_lineage(self) -> int:
        return int(fast.run(self.conn, _COUNT_DEFERRED, {}).scalar_one())

    def deferred_lineage(self, limit: int, *, up_to: int | None = None) -> list[PackageRow]:
        if up_to is None:
            stmt, params = _DEFERRED_SKIPPING_LOCKED if self._lock_rows else _DEFERRED, {"limit": limit}
        else:
            stmt = _DEFERRED_UP_TO_LOCKED if self._lock_rows else _DEFERRED_UP_TO
            params = {"limit": limit, "up_to": up_to}
        return [from_row(PackageRow, r) for r in self.conn.execute(stmt, params)]

    def undefer_lineage(self, package_ids: Sequence[int]) -> int:
        if len(package_ids) == 1:
            return fast.run(self.conn, _UNDEFER_ONE, {"pid": package_ids[0]}).rowcount
        done = 0
        for start in range(0, len(package_ids), _IN_CHUNK):
            chunk = list(package_ids[start : start + _IN_CHUNK])
            done += self.conn.execute(B.delete().where(B.c.package_id.in_(chunk))).rowcount
        return done

    def associations_from(self, arns: Sequence[str], limit: int) -> list[AssociationRow]:
        return self._edges(L.c.source_arn, arns, limit)

    def associations_to(self, arns: Sequence[str], limit: int) -> list[AssociationRow]:
        return self._edges(L.c.destination_arn, arns, limit)

    def _edges(self, column: sa.Column[Any], arns: Sequence[str], limit: int) -> list[AssociationRow]:
        found: list[AssociationRow] = []
        unique = sorted(set(arns))
        for start in range(0, len(unique), _IN_CHUNK):
            if len(found) >= limit:
                break
            chunk = unique[start : start + _IN_CHUNK]
            stmt = (
                L.select()
                .where(column.in_(chunk))
                .order_by(L.c.source_arn, L.c.destination_arn)
                .limit(limit - len(found))
            )
            found.extend(from_row(AssociationRow, r) for r in self.conn.execute(stmt))
        return found
