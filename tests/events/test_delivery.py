"""Retry decisions of the delivery worker (the HTTP side is covered in test_delivery_api.py)."""

from __future__ import annotations

from modelreg.config import Settings
from modelreg.events.delivery import DeliveryWorker, retry_delay
from modelreg.store.rows import Delivery

SETTINGS = Settings(retry_base_seconds=1.0, retry_max_seconds=300.0)


def delivery(retry_policy: dict | None = None, created_us: int = 0) -> Delivery:
    target = {"Id": "t", "Arn": "arn:x"}
    if retry_policy is not None:
        target["RetryPolicy"] = retry_policy
    return Delivery(
        event_row_id=1,
        region="us-east-1",
        rule_name="r",
        target_id="t",
        target={"Target": target},
        status="pending",
        next_attempt_us=0,
        created_us=created_us,
        updated_us=0,
    )


def test_delays_double_with_jitter_up_to_the_cap() -> None:
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (12, 300.0), (40, 300.0)]:
        delays = [retry_delay(SETTINGS, attempts, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays), max(delays))
        assert len(set(delays)) > 1  # jitter: retries of many deliveries do not fire together


def test_retry_after_is_a_floor_but_never_beyond_the_cap() -> None:
    assert retry_delay(SETTINGS, 1, 30.0) >= 30.0
    assert retry_delay(SETTINGS, 1, 10_000.0) == 300.0
    assert retry_delay(SETTINGS, 1, 0.0) >= 0.5


def test_retry_policy_bounds_attempts_and_event_age() -> None:
    hour_us = 3600 * 1_000_000
    may_retry = DeliveryWorker._may_retry
    assert may_retry(delivery(), attempts=185, now_us=1) is True  # EventBridge's defaults: 185 retries
    assert may_retry(delivery(), attempts=186, now_us=1) is False
    assert may_retry(delivery(), attempts=1, now_us=24 * hour_us + 1) is False  # and 24 hours
    policy = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}
    assert may_retry(delivery(policy), attempts=2, now_us=59 * 1_000_000) is True
    assert may_retry(delivery(policy), attempts=3, now_us=1) is False
    assert may_retry(delivery(policy), attempts=1, now_us=61 * 1_000_000) is False
    assert may_retry(delivery({"MaximumRetryAttempts": 0}), attempts=1, now_us=1) is False
