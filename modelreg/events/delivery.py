"""The delivery worker: outbox events -> matching rules -> API destination calls, with retries.

Two steps, each its own short transaction, so a crash at any point loses nothing:

1. *dispatch*: claim undispatched outbox events, match them against the enabled rules of their
   region, and write one ``pending`` delivery per (event, rule, target) in the same transaction
   that marks the events dispatched. Several servers on one PostgreSQL claim disjoint events.
2. *deliver*: lease due deliveries (a lease lapses if the server dies mid-call, and another
   attempt is made, so a receiver may see an event twice, never zero times), call the target,
   record the attempt, and then mark the delivery succeeded, schedule a retry (exponential
   backoff with jitter, ``Retry-After`` honoured, within the target's RetryPolicy) or move it to
   the dead-letter list (``dead``).

Replays (StartReplay) are worked here too: the archive's events in the replay window are
dispatched again to the rules named by the replay.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from modelreg import arns
from modelreg.config import Settings
from modelreg.events.patterns import EventPattern, InvalidEventPatternError
from modelreg.events.transform import InputTransformError, render_input
from modelreg.events.webhook import Call, Outcome, WebhookSender
from modelreg.store.base import Store, Transaction
from modelreg.store.rows import Delivery, DeliveryAttempt, NamedResource, OutboxEvent

log = logging.getLogger("modelreg.events")

DEFAULT_MAX_RETRIES = 185  # EventBridge's defaults for a target's RetryPolicy
DEFAULT_MAX_AGE_SECONDS = 86_400
#: a claimed delivery is another worker's again after this long: longer than one call can take (the
#: HTTP timeout, 5 s, plus an OAuth token fetch, 5 s), short so a crash delays little
LEASE_SECONDS = 15


def _now_us() -> int:
    return time.time_ns() // 1000


class RuleCache:
    """Compiled patterns, keyed by pattern text (a rule's pattern rarely changes)."""

    def __init__(self) -> None:
        self._compiled: dict[str, EventPattern | None] = {}

    def pattern(self, text: str) -> EventPattern | None:
        if text not in self._compiled:
            try:
                self._compiled[text] = EventPattern.parse(text)
            except InvalidEventPatternError:
                log.warning("stored rule pattern no longer parses: %s", text)
                self._compiled[text] = None
        return self._compiled[text]


def enabled_rules(tx: Transaction, region: str) -> list[NamedResource]:
    rules, after = [], None
    while True:
        page = tx.list_resources(region, "rule", None, after, 500)
        rules += [r for r in page if r.body.get("State", "ENABLED").startswith("ENABLED")]
        if len(page) < 500:
            return rules
        after = page[-1].name


def retry_delay(settings: Settings, attempts: int, retry_after: float | None) -> float:
    """Seconds before the next attempt: doubling from the base, full jitter, Retry-After as a floor."""
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** max(0, attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.retry_max_seconds))
    return delay


class DeliveryWorker:
    """Runs dispatch and delivery in a background thread until ``stop()``."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        sender: WebhookSender,
        *,
        batch: int = 100,
        senders: int = 8,
        idle_poll_seconds: float = 0.5,
        coalesce_seconds: float = 0.05,
    ) -> None:
        self.store = store
        self.settings = settings
        self.sender = sender
        self.batch = batch
        self.idle_poll_seconds = idle_poll_seconds
        self.coalesce_seconds = coalesce_seconds
        self._replays_checked = 0.0
        self.rules = RuleCache()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(senders, thread_name_prefix="modelreg-deliver")
        self._thread: threading.Thread | None = None

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelreg-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.sender.close()

    def wake(self) -> None:
        """Something was committed: look at the outbox now rather than at the next poll. The
        worker's own commits (its threads are named ``modelreg-deliver...``) do not count."""
        if not threading.current_thread().name.startswith("modelreg-deliver"):
            self._wake.set()

    def _run(self) -> None:
        last_pass = 0.0
        while not self._stop.is_set():
            self._wake.clear()  # a commit from here on wakes the wait below: no wake-up is lost
            try:
                wait = self.run_once()
            except Exception:
                log.exception("delivery worker pass failed; retrying")
                wait = self.idle_poll_seconds
            last_pass = time.monotonic()
            if wait > 0 and self._wake.wait(wait) and not self._stop.is_set():
                # Woken by a commit. Under a burst of commits, passes are spaced by the coalescing
                # window so one pass serves many writes (a pass per commit would double the cost of
                # every write); an isolated commit is served at once.
                gap = time.monotonic() - last_pass
                if gap < self.coalesce_seconds:
                    self._stop.wait(self.coalesce_seconds - gap)

    def run_once(self) -> float:
        """One pass over whatever work there is; returns how long to wait before the next pass."""
        check_replays = time.monotonic() - self._replays_checked >= self.idle_poll_seconds
        with self.store.read() as tx:
            events_waiting = tx.has_undispatched_events()
            replays = False
            if check_replays:  # replays are rare: look for them at the idle poll's pace
                self._replays_checked = time.monotonic()
                replays = any(
                    r.body.get("State") in ("STARTING", "CANCELLING")
                    for r in tx.list_resources(None, "replay", None, None, 1000)
                )
            due_us = tx.next_delivery_due_us()
        more = False
        if events_waiting:
            dispatched, fanned_out = self.dispatch()
            more |= dispatched >= self.batch
            if fanned_out:  # the deliveries it just wrote are due now
                due_us = _now_us()
        if replays:
            self.work_replays()
            with self.store.read() as tx:
                due_us = tx.next_delivery_due_us()
        if due_us is not None and due_us <= _now_us():
            more |= self.deliver_due() >= self.batch
            with self.store.read() as tx:
                due_us = tx.next_delivery_due_us()
        if more:
            return 0.0
        until_due = (due_us - _now_us()) / 1e6 if due_us is not None else self.idle_poll_seconds
        return max(0.0, min(self.idle_poll_seconds, until_due))

    # step 1: match events to rules --------------------------------------------------------
    def dispatch(self) -> tuple[int, int]:
        """Match a batch of undispatched events to the enabled rules of their regions and write a
        pending delivery per matched target; returns (events dispatched, deliveries written)."""
        written = 0
        with self.store.write() as tx:
            events = tx.claim_undispatched_events(self.batch)
            rules_by_region: dict[str, list[NamedResource]] = {}
            for event in events:
                if event.region not in rules_by_region:
                    rules_by_region[event.region] = enabled_rules(tx, event.region)
                written += self._fan_out(tx, event, rules_by_region[event.region])
            tx.mark_dispatched([e.id for e in events if e.id is not None])
        return len(events), written

    def _fan_out(
        self, tx: Transaction, event: OutboxEvent, rules: list[NamedResource], replay_name: str | None = None
    ) -> int:
        """Write a pending delivery for every target of every rule the event matches; returns how
        many it wrote."""
        body = event.body if replay_name is None else {**event.body, "replay-name": replay_name}
        now = _now_us()
        written = 0
        for rule in rules:
            pattern = self.rules.pattern(rule.body.get("EventPattern") or "")
            if pattern is None or not pattern.matches(body):
                continue
            for target in rule.body.get("Targets") or []:
                assert event.id is not None
                snapshot = {"Target": target, "RuleArn": rule.arn, "ReplayName": replay_name}
                tx.insert_delivery(
                    Delivery(
                        event_row_id=event.id,
                        region=event.region,
                        rule_name=rule.name,
                        target_id=target["Id"],
                        target=snapshot,
                        status="pending",
                        next_attempt_us=now,
                        created_us=now,
                        updated_us=now,
                    )
                )
                written += 1
        return written

    # replays ------------------------------------------------------------------------------
    def work_replays(self) -> None:
        """Run every replay in state STARTING to completion (archives are filters over the outbox)."""
        with self.store.write() as tx:
            for listed in tx.list_resources(None, "replay", None, None, 1000):
                replay = tx.get_resource(listed.region, "replay", listed.name, for_update=True)
                if replay is None:
                    continue
                if replay.body.get("State") == "CANCELLING":
                    replay.body.update({"State": "CANCELLED", "ReplayEndTime": time.time()})
                    tx.update_resource(replay)
                elif replay.body.get("State") == "STARTING":
                    self._replay(tx, replay)

    def _replay(self, tx: Transaction, replay: NamedResource) -> None:
        source = arns.parse(replay.body.get("EventSourceArn", ""))
        archive = (
            tx.get_resource(replay.region, "archive", source.resource)
            if source and source.resource_type == "archive"
            else None
        )
        start_us = int(float(replay.body["EventStartTime"]) * 1_000_000)
        end_us = int(float(replay.body["EventEndTime"]) * 1_000_000)
        wanted = set((replay.body.get("Destination") or {}).get("FilterArns") or [])
        rules = [r for r in enabled_rules(tx, replay.region) if not wanted or r.arn in wanted]
        archive_pattern = (
            self.rules.pattern(archive.body["EventPattern"])
            if archive and archive.body.get("EventPattern")
            else None
        )
        after, last_time = 0, None
        while True:
            events = tx.events_between(replay.region, start_us, end_us, after, 500)
            for event in events:
                if archive_pattern is None or archive_pattern.matches(event.body):
                    self._fan_out(tx, event, rules, replay_name=replay.name)
                    last_time = event.created_us
            if len(events) < 500:
                break
            after = events[-1].id or after
        now = time.time()
        replay.body.update({"State": "COMPLETED", "ReplayEndTime": now})
        if last_time is not None:
            replay.body["EventLastReplayedTime"] = last_time / 1_000_000
        tx.update_resource(replay)

    # step 2: call the targets -------------------------------------------------------------
    def deliver_due(self) -> int:
        now = _now_us()
        with self.store.write() as tx:
            due = tx.claim_due_deliveries(now, LEASE_SECONDS * 1_000_000, self.batch)
            calls = [(d, self._prepare_call(tx, d)) for d in due]
        futures = [self._pool.submit(self._attempt, d, call) for d, call in calls]
        for future in futures:
            future.result()
        return len(due)

    def _prepare_call(self, tx: Transaction, delivery: Delivery) -> Call | str:
        """The call to make, or the reason it cannot be made (a dead letter)."""
        event = tx.get_event(delivery.event_row_id)
        target = delivery.target["Target"]
        if event is None:
            return "the event is no longer in the outbox"
        destination_arn = arns.parse(target["Arn"])
        if destination_arn is None or destination_arn.resource_type != "api-destination":
            return f"modelreg cannot deliver to {target['Arn']}"
        name = destination_arn.resource.split("/", 1)[0]
        destination = tx.get_resource(delivery.region, "api-destination", name)
        if destination is None:
            return f"API destination {name} no longer exists"
        connection_arn = arns.parse(destination.body.get("ConnectionArn", ""))
        connection = (
            tx.get_resource(delivery.region, "connection", connection_arn.resource.split("/", 1)[0])
            if connection_arn
            else None
        )
        if connection is None:
            return f"the connection of API destination {name} no longer exists"
        if connection.body.get("ConnectionState") != "AUTHORIZED":
            return (
                f"connection {connection.name} is {connection.body.get('ConnectionState', 'not authorized')}"
            )
        body = dict(event.body)
        if delivery.target.get("ReplayName"):
            body["replay-name"] = delivery.target["ReplayName"]
        rule_arn = delivery.target.get("RuleArn", "")
        try:
            payload = render_input(target, body, rule_arn=rule_arn, rule_name=delivery.rule_name)
        except InputTransformError as exc:
            return f"input transformation failed: {exc}"
        return Call(
            message_id=event.event_id,
            destination=destination.body,
            connection=connection.body,
            target=target,
            body=payload,
        )

    def _attempt(self, delivery: Delivery, call: Call | str) -> None:
        outcome = Outcome(None, call, 0, retryable=False) if isinstance(call, str) else self.sender.send(call)
        now = _now_us()
        updated = replace(
            delivery,
            attempts=delivery.attempts + 1,
            updated_us=now,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
        )
        if outcome.ok:
            updated.status = "succeeded"
        elif outcome.retryable and self._may_retry(delivery, updated.attempts, now):
            delay = retry_delay(self.settings, updated.attempts, outcome.retry_after_seconds)
            updated.next_attempt_us = now + int(delay * 1_000_000)
        else:
            updated.status = "dead"
        with self.store.write() as tx:
            assert delivery.id is not None
            tx.add_attempt(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    at_us=now,
                    duration_us=outcome.duration_us,
                    status_code=outcome.status_code,
                    error=outcome.error,
                )
            )
            tx.update_delivery(updated)

    @staticmethod
    def _may_retry(delivery: Delivery, attempts: int, now_us: int) -> bool:
        policy = delivery.target["Target"].get("RetryPolicy") or {}
        max_retries = policy.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES)
        max_age = policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_SECONDS)
        return attempts <= max_retries and now_us - delivery.created_us < max_age * 1_000_000


def delivery_json(delivery: Delivery, attempts: list[DeliveryAttempt] | None = None) -> dict[str, Any]:
    """One delivery as modelreg's API returns it."""
    out: dict[str, Any] = {
        "id": delivery.id,
        "rule": delivery.rule_name,
        "targetId": delivery.target_id,
        "targetArn": delivery.target["Target"].get("Arn"),
        "status": delivery.status,
        "attempts": delivery.attempts,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "createdAt": delivery.created_us / 1e6,
        "updatedAt": delivery.updated_us / 1e6,
        "nextAttemptAt": delivery.next_attempt_us / 1e6 if delivery.status == "pending" else None,
        "replayName": delivery.target.get("ReplayName"),
    }
    if attempts is not None:
        out["attemptLog"] = [
            {
                "at": a.at_us / 1e6,
                "durationMs": a.duration_us / 1000,
                "statusCode": a.status_code,
                "error": a.error,
            }
            for a in attempts
        ]
    return out
