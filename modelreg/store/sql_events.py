"""SQL for the events half of the store: named resources, the outbox, deliveries and attempts."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelreg.json_text import dumps
from modelreg.store import schema
from modelreg.store import sql_fast as fast
from modelreg.store.base import DuplicateKey
from modelreg.store.rows import Delivery, DeliveryAttempt, DeliveryQuery, NamedResource, OutboxEvent
from modelreg.store.sql_appends import Appends
from modelreg.store.sql_rows import column_values, from_row

R = schema.named_resources
E = schema.events
D = schema.deliveries
A = schema.delivery_attempts

_b = sa.bindparam

GET_RESOURCE = R.select().where(R.c.region == _b("region"), R.c.kind == _b("kind"), R.c.name == _b("name"))
_GET_RESOURCE_LOCKED = GET_RESOURCE.with_for_update()
_INSERT_RESOURCE = R.insert().returning(R.c.id)
_ANY_UNDISPATCHED = sa.select(E.c.id).where(E.c.dispatched.is_(False)).limit(1)
# a leased delivery is due again only when its lease lapses (its worker may have died mid-call)
_NEXT_DUE = sa.select(
    sa.func.min(
        sa.case((D.c.lease_until_us > D.c.next_attempt_us, D.c.lease_until_us), else_=D.c.next_attempt_us)
    )
).where(D.c.status == "pending")
_CLAIM_EVENTS = E.select().where(E.c.dispatched.is_(False)).order_by(E.c.id).limit(_b("limit"))
_CLAIM_EVENTS_LOCKED = _CLAIM_EVENTS.with_for_update(skip_locked=True)
_MARK_DISPATCHED = E.update().where(E.c.id.in_(_b("ids", expanding=True))).values(dispatched=True)
_CLAIM_DUE = (
    D.select()
    .where(D.c.status == "pending", D.c.next_attempt_us <= _b("now"), D.c.lease_until_us <= _b("now"))
    .order_by(D.c.next_attempt_us, D.c.id)
    .limit(_b("limit"))
)
_CLAIM_DUE_LOCKED = _CLAIM_DUE.with_for_update(skip_locked=True)
_NEXT_SEQUENCE = sa.select(sa.func.coalesce(sa.func.max(E.c.sequence), 0) + 1).where(
    E.c.resource_arn == _b("arn")
)


@cache
def _list_resources_stmt(by_region: bool, by_prefix: bool, paged: bool) -> sa.Select[Any]:
    if by_region:
        stmt = R.select().where(R.c.kind == _b("kind"), R.c.region == _b("region"))
    else:  # the kind in the SQL text, so that a partial index of that kind can serve it
        stmt = R.select().where(R.c.kind == _b("kind", literal_execute=True))
    if by_prefix:  # case-sensitive, as EventBridge's NamePrefix is (LIKE is not, on SQLite)
        stmt = stmt.where(sa.func.substr(R.c.name, 1, _b("prefix_len")) == _b("prefix"))
    if paged:
        stmt = stmt.where(R.c.name > _b("after"))
    return stmt.order_by(R.c.name).limit(_b("limit"))


class EventQueries:
    """``EventTransaction`` (see ``modelreg.store.base``) over ``self.conn``; mixed into SqlTransaction."""

    conn: Connection
    _conn: Connection  # the connection without sending the appends held back first
    _appends: Appends
    _lock_rows: bool

    # named resources ----------------------------------------------------------------------
    def insert_resource(self, resource: NamedResource) -> NamedResource:
        try:
            resource.id = self.conn.execute(_INSERT_RESOURCE, column_values(resource)).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise DuplicateKey(resource.name) from exc
        return resource

    def get_resource(
        self, region: str, kind: str, name: str, *, for_update: bool = False
    ) -> NamedResource | None:
        params = {"region": region, "kind": kind, "name": name}
        stmt = _GET_RESOURCE_LOCKED if for_update and self._lock_rows else GET_RESOURCE
        row = fast.run(self.conn, stmt, params).first()
        return from_row(NamedResource, row) if row else None

    def update_resource(self, resource: NamedResource) -> None:
        self.conn.execute(
            R.update().where(R.c.id == resource.id).values(body=dumps(resource.body), arn=resource.arn)
        )

    def delete_resource(self, resource_id: int) -> None:
        self.conn.execute(R.delete().where(R.c.id == resource_id))

    def list_resources(
        self, region: str | None, kind: str, name_prefix: str | None, after: str | None, limit: int
    ) -> list[NamedResource]:
        stmt = _list_resources_stmt(region is not None, bool(name_prefix), after is not None)
        params = {
            "kind": kind,
            "region": region,
            "prefix": name_prefix,
            "prefix_len": len(name_prefix or ""),
            "after": after,
            "limit": limit,
        }
        return [from_row(NamedResource, r) for r in self.conn.execute(stmt, params)]

    # outbox -------------------------------------------------------------------------------
    def append_event(self, event: OutboxEvent) -> OutboxEvent:
        self._appends.add(E, column_values(event, dispatched=False))
        return event

    def next_event_sequence(self, resource_arn: str) -> int:
        # reads only the outbox, so the appends held back need not be sent first: their events
        # count from here (a transaction may emit several for one resource)
        stored = int(fast.run(self._conn, _NEXT_SEQUENCE, {"arn": resource_arn}).scalar_one())
        held = [v["sequence"] or 0 for v in self._appends.pending(E) if v["resource_arn"] == resource_arn]
        return max([stored, *(s + 1 for s in held)])

    def claim_undispatched_events(self, limit: int) -> list[OutboxEvent]:
        stmt = _CLAIM_EVENTS_LOCKED if self._lock_rows else _CLAIM_EVENTS
        return [from_row(OutboxEvent, r) for r in self.conn.execute(stmt, {"limit": limit})]

    def mark_dispatched(self, event_row_ids: Sequence[int]) -> None:
        if event_row_ids:
            self.conn.execute(_MARK_DISPATCHED, {"ids": list(event_row_ids)})

    def has_undispatched_events(self) -> bool:
        return self.conn.execute(_ANY_UNDISPATCHED).first() is not None

    def next_delivery_due_us(self) -> int | None:
        return self.conn.execute(_NEXT_DUE).scalar()

    def events_between(
        self, region: str, start_us: int, end_us: int, after_id: int, limit: int
    ) -> list[OutboxEvent]:
        stmt = (
            E.select()
            .where(
                E.c.region == region, E.c.created_us >= start_us, E.c.created_us < end_us, E.c.id > after_id
            )
            .order_by(E.c.id)
            .limit(limit)
        )
        return [from_row(OutboxEvent, r) for r in self.conn.execute(stmt)]

    def get_event(self, event_row_id: int) -> OutboxEvent | None:
        row = self.conn.execute(E.select().where(E.c.id == event_row_id)).first()
        return from_row(OutboxEvent, row) if row else None

    # deliveries ---------------------------------------------------------------------------
    def insert_delivery(self, delivery: Delivery) -> Delivery:
        delivery.id = self.conn.execute(
            D.insert().returning(D.c.id), column_values(delivery, lease_until_us=0)
        ).scalar_one()
        return delivery

    def claim_due_deliveries(self, now_us: int, lease_us: int, limit: int) -> list[Delivery]:
        stmt = _CLAIM_DUE_LOCKED if self._lock_rows else _CLAIM_DUE
        rows = [from_row(Delivery, r) for r in self.conn.execute(stmt, {"now": now_us, "limit": limit})]
        if rows:
            self.conn.execute(
                D.update().where(D.c.id.in_([r.id for r in rows])).values(lease_until_us=now_us + lease_us)
            )
        return rows

    def update_delivery(self, delivery: Delivery) -> None:
        self.conn.execute(
            D.update()
            .where(D.c.id == delivery.id)
            .values(
                status=delivery.status,
                attempts=delivery.attempts,
                next_attempt_us=delivery.next_attempt_us,
                lease_until_us=0,
                updated_us=delivery.updated_us,
                last_status_code=delivery.last_status_code,
                last_error=delivery.last_error,
            )
        )

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = self.conn.execute(D.select().where(D.c.id == delivery_id)).first()
        return from_row(Delivery, row) if row else None

    def list_deliveries(self, query: DeliveryQuery, after_id: int | None, limit: int) -> list[Delivery]:
        stmt = D.select()
        if query.region is not None:
            stmt = stmt.where(D.c.region == query.region)
        if query.rule_name is not None:
            stmt = stmt.where(D.c.rule_name == query.rule_name)
        if query.status is not None:
            stmt = stmt.where(D.c.status == query.status)
        if after_id is not None:
            stmt = stmt.where(D.c.id < after_id)
        return [from_row(Delivery, r) for r in self.conn.execute(stmt.order_by(D.c.id.desc()).limit(limit))]

    def add_attempt(self, attempt: DeliveryAttempt) -> None:
        self.conn.execute(A.insert(), column_values(attempt))

    def list_attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        rows = self.conn.execute(A.select().where(A.c.delivery_id == delivery_id).order_by(A.c.id))
        return [from_row(DeliveryAttempt, r) for r in rows]
