"""SQL for the append-only records of what was done: the history of approvals and lifecycle
changes, and the client tokens of idempotent creates. Both are written with the transaction's
appends (``modelreg.store.sql_appends``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelreg.store import schema
from modelreg.store import sql_fast as fast
from modelreg.store.rows import HistoryEntry
from modelreg.store.sql_appends import Appends
from modelreg.store.sql_rows import column_values, from_row

H = schema.history
CT = schema.client_tokens

_b = sa.bindparam
_GET_TOKEN = sa.select(CT.c.request_hash, CT.c.result).where(
    CT.c.region == _b("region"), CT.c.operation == _b("operation"), CT.c.token == _b("token")
)


class LedgerQueries:
    """The history and client-token methods of ``RegistryTransaction`` (see
    ``modelreg.store.base``) over ``self.conn`` and ``self._appends``."""

    conn: Connection
    _appends: Appends

    def append_history(self, entry: HistoryEntry) -> None:
        self._appends.add(H, column_values(entry))

    def list_history(self, arn: str) -> list[HistoryEntry]:
        rows = self.conn.execute(H.select().where(H.c.arn == arn).order_by(H.c.id))
        return [from_row(HistoryEntry, r) for r in rows]

    def get_client_token(self, region: str, operation: str, token: str) -> tuple[str, str] | None:
        row = fast.run(
            self.conn, _GET_TOKEN, {"region": region, "operation": operation, "token": token}
        ).first()
        return (row.request_hash, row.result) if row else None

    def put_client_token(
        self, region: str, operation: str, token: str, request_hash: str, result: str, now_us: int
    ) -> None:
        self._appends.add(
            CT,
            {
                "region": region,
                "operation": operation,
                "token": token,
                "request_hash": request_hash,
                "result": result,
                "created_us": now_us,
            },
        )
