"""PostgreSQL planner statistics for modelreg's tables, kept current by the store itself.

PostgreSQL picks a table's index for a query from the table's statistics, which ``ANALYZE``
gathers and autovacuum usually keeps current. Without them the planner cannot always tell a
full-key probe of a unique index from a range of another index with the same leading columns:

- a table never analyzed, or analyzed while nearly empty;
- autovacuum is off, or has not come round yet (it looks once a minute).

On such tables a lineage lookup by (region, kind, name) ran on the (region, kind, created_us,
id) index and read every row of the kind, so each registration cost more than the one before. At
3,000 versions that was 4.8 ms of PostgreSQL CPU per registration, against 1.9 ms once the table
had been analyzed.

A thread looks every :data:`INTERVAL` seconds while writes commit, and for :data:`SETTLE`
seconds after the last one (an idle PostgreSQL backend reports its row counts up to 10 s late).
It reads ``pg_stat_user_tables`` for modelreg's tables and ANALYZEs each one that:

- has changed by more rows since its last analyze than autovacuum's default threshold (50 rows
  plus 10% of the table);
- was not analyzed in the last minute.

That is what autovacuum does, but without waiting for its first look, and also when autovacuum
is off.
"""

from __future__ import annotations

import logging
import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelreg.store import schema

log = logging.getLogger("modelreg.store")

#: seconds between two looks at the statistics while writes go on
INTERVAL = 2.0
#: seconds after the last write during which the thread goes on looking
SETTLE = 15.0
#: autovacuum's defaults (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor)
BASE_ROWS, SCALE = 50, 0.1
#: seconds between two analyzes of one table (autovacuum_naptime's default). The first analyze is
#: what matters: while the tables grew from empty, analyzing each at every 10% took a fifth of
#: PostgreSQL's CPU.
PAUSE = 60.0

# only tables this user may analyze (it owns them, as when its migrations made them): for others
# ANALYZE would only warn, on every look
_STALE = sa.text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)"
    " AND pg_has_role(c.relowner, 'USAGE')"
    " AND s.n_mod_since_analyze > :base + :scale * s.n_live_tup"
    " AND coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity')"
    " < now() - make_interval(secs => :pause)"
)


class StatisticsKeeper:
    """Call ``committed()`` after each write transaction; ``close()`` stops the thread."""

    def __init__(self, engine: Engine, interval: float = INTERVAL) -> None:
        self._engine = engine
        self._interval = interval
        self._tables = sorted(schema.metadata.tables)
        self._last_commit = 0.0
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelreg-analyze", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._last_commit = time.monotonic()
        self._due.set()

    def close(self) -> None:
        self._stop.set()
        self._due.set()
        self._thread.join(timeout=30)

    def analyze_stale(self) -> list[str]:
        """ANALYZE every modelreg table past the threshold now; the names analyzed."""
        quote = self._engine.dialect.identifier_preparer.quote
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            limits = {"tables": self._tables, "base": BASE_ROWS, "scale": SCALE, "pause": PAUSE}
            stale = conn.execute(_STALE, limits)
            names = [row[0] for row in stale]
            for name in names:
                conn.exec_driver_sql(f"ANALYZE {quote(name)}")
        return names

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._last_commit > SETTLE:
                self._due.wait()
            if self._stop.is_set():
                return
            self._due.clear()
            try:
                self.analyze_stale()
            except Exception:  # never take the store down for statistics; try again later
                log.warning("could not refresh PostgreSQL statistics", exc_info=True)
            self._stop.wait(self._interval)
