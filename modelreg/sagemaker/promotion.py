"""Promotion policies: the rules a model package group sets for approving its versions.

A modelreg extension (SageMaker has nothing like it), set per group with
``PUT /api/model-package-groups/{group}/promotion-policy``::

    {"gates": [{"metric": "auc", "min": 0.85},
               {"metric": "auc", "min_improvement": 0.01},
               {"metric": "latency_p99_ms", "max": 20},
               {"metric": "latency_p99_ms", "max_regression": 2, "direction": "lower"}],
     "auto_approve": true,
     "four_eyes": true}

A gate names one ``metric`` and exactly one test:

- ``min`` / ``max``: the version's value must be ``>= min`` / ``<= max``.
- ``min_improvement`` (>= 0): the value must be at least this much *better* than that of the
  group's latest Approved version; ``max_regression`` (>= 0): it may be at most this much *worse*.
  "Better" is higher unless the gate says ``"direction": "lower"`` (latency, error rates).
  ``direction`` belongs to these two tests only. With no Approved version yet they pass; when the
  Approved version's metrics cannot be read or lack the metric they fail (nothing to compare with).
  Differences are compared with a 1e-9 tolerance, so 0.57 - 0.56 counts as an improvement of 0.01.

Metrics are read from the version's ``ModelMetrics.ModelQuality.Statistics.S3Uri``
(:mod:`modelreg.sagemaker.metrics` gives the formats), never inside a write transaction: a check
that needs files not read yet raises ``MetricsNeeded``, the transaction rolls back, and
``with_metrics`` reads them and runs the transaction again (so a request without a policy, or
without gates, pays nothing for the feature).

What the policy does:

- ``auto_approve``: a version registered PendingManualApproval whose every gate passes is
  registered Approved, with an ApprovalDescription listing the gates, and a ledger entry by the
  principal ``promotion-policy`` after its creation entry. Otherwise it stays pending and the
  ledger gets a ``PromotionCheck`` entry saying which gate failed, or why the metrics could not
  be read. Registration never fails because of metrics.
- Every approval (UpdateModelPackage to Approved, or CreateModelPackage with
  ``ModelApprovalStatus=Approved``) must pass every gate, or it is refused with a
  ValidationException naming the gate and the values. Rejecting is always allowed.
- ``four_eyes``: the principal who registered a version (its CreatedBy) may not approve it, so
  a version cannot be registered Approved either. The policy's own auto-approval is not the
  registrant and is allowed.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from modelreg.artifacts import ArtifactError, ArtifactStore, open_artifacts
from modelreg.aws.dispatch import RequestContext
from modelreg.config import Settings
from modelreg.errors import ValidationException
from modelreg.sagemaker.metrics import MetricsError, parse_metrics
from modelreg.store.base import Transaction
from modelreg.store.rows import GroupRow, HistoryEntry, NamedResource, PackageQuery, PackageRow

T = TypeVar("T")

#: kind of the NamedResource that holds a group's policy (its name: the group name, lower-cased)
KIND = "promotion-policy"
#: the principal of ledger entries the policy writes
PRINCIPAL = "promotion-policy"
APPROVED = "Approved"
PENDING = "PendingManualApproval"
MAX_GATES = 50
MAX_METRIC_NAME = 256
#: a metrics file larger than this is refused rather than read into memory
MAX_METRICS_BYTES = 4 * 1024 * 1024

ABSOLUTE = ("min", "max")
RELATIVE = ("min_improvement", "max_regression")
DIRECTIONS = ("higher", "lower")
_GATE_FIELDS = ("metric", *ABSOLUTE, *RELATIVE, "direction")
_POLICY_FIELDS = ("gates", "auto_approve", "four_eyes")
_TOLERANCE = 1e-9


class PolicyError(ValueError):
    """A promotion policy document breaks the format; the message names the field."""


@dataclass(frozen=True)
class Gate:
    metric: str
    test: str  # one of ABSOLUTE + RELATIVE
    threshold: int | float
    direction: str = "higher"  # for RELATIVE tests: which way is better

    @property
    def relative(self) -> bool:
        return self.test in RELATIVE

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, self.test: self.threshold}
        if self.relative:
            out["direction"] = self.direction
        return out


@dataclass(frozen=True)
class Policy:
    gates: tuple[Gate, ...] = ()
    auto_approve: bool = False
    four_eyes: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "gates": [g.as_json() for g in self.gates],
            "auto_approve": self.auto_approve,
            "four_eyes": self.four_eyes,
        }


# -- the policy document ----------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(where: str, document: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in document:
        if key not in allowed:
            raise PolicyError(f"{where}unknown field {_shown(key)}; allowed: {', '.join(allowed)}.")


def _parse_gate(index: int, item: Any) -> Gate:
    where = f"gates[{index}]"
    if not isinstance(item, dict):
        raise PolicyError(f'{where} must be an object like {{"metric": "auc", "min": 0.85}}.')
    _unknown(f"{where}: ", item, _GATE_FIELDS)
    metric = item.get("metric")
    if not isinstance(metric, str) or not metric.strip():
        raise PolicyError(f"{where}.metric must be a metric name (a non-empty string).")
    if len(metric) > MAX_METRIC_NAME or any(ord(c) < 32 for c in metric):
        raise PolicyError(f"{where}.metric must be at most {MAX_METRIC_NAME} printable characters.")
    tests = [t for t in (*ABSOLUTE, *RELATIVE) if t in item]
    if not tests:
        raise PolicyError(f"{where} needs one of {', '.join((*ABSOLUTE, *RELATIVE))}.")
    if len(tests) > 1:
        raise PolicyError(
            f"{where} has both {tests[0]} and {tests[1]}: give one test per gate "
            "(add another gate for the same metric)."
        )
    test = tests[0]
    threshold = item[test]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise PolicyError(f"{where}.{test} must be a number, not {_shown(threshold)}.")
    if test in RELATIVE and threshold < 0:
        raise PolicyError(
            f"{where}.{test} must be zero or more, not {_shown(threshold)} "
            "(min_improvement is how much better, max_regression how much worse, a version may be)."
        )
    direction = item.get("direction", "higher")
    if "direction" in item and test not in RELATIVE:
        raise PolicyError(f"{where}.direction applies only to min_improvement and max_regression gates.")
    if direction not in DIRECTIONS:
        raise PolicyError(f'{where}.direction must be "higher" or "lower", not {_shown(direction)}.')
    return Gate(metric=metric, test=test, threshold=threshold, direction=direction)


def parse_policy(document: Any) -> Policy:
    """A policy from its JSON document (already decoded); ``PolicyError`` names the bad field."""
    if not isinstance(document, dict):
        raise PolicyError("The promotion policy must be a JSON object with gates, auto_approve, four_eyes.")
    _unknown("", document, _POLICY_FIELDS)
    gates = document.get("gates", [])
    if not isinstance(gates, list):
        raise PolicyError(f"gates must be a list of gate objects, not {_shown(gates)}.")
    if len(gates) > MAX_GATES:
        raise PolicyError(f"gates has {len(gates)} gates; at most {MAX_GATES} are allowed.")
    flags = {}
    for name in ("auto_approve", "four_eyes"):
        value = document.get(name, False)
        if not isinstance(value, bool):
            raise PolicyError(f"{name} must be true or false, not {_shown(value)}.")
        flags[name] = value
    policy = Policy(gates=tuple(_parse_gate(i, g) for i, g in enumerate(gates)), **flags)
    if policy.auto_approve and not policy.gates:
        raise PolicyError(
            "auto_approve needs at least one gate in gates: without one it would approve anything."
        )
    return policy


# -- storage ----------------------------------------------------------------------------------


def _key(group_name: str) -> str:
    return group_name.lower()


def policy_in(resource_body: dict[str, Any] | None) -> Policy | None:
    """The policy a group's resource of kind ``KIND`` holds (None for none), from its body: the
    registry reads it with the row it checks (``Transaction.next_version_of``,
    ``Transaction.get_package_and_group_resource``)."""
    return None if resource_body is None else parse_policy(resource_body["policy"])


def get_policy_resource(tx: Transaction, region: str, group_name: str) -> NamedResource | None:
    return tx.get_resource(region, KIND, _key(group_name))


def save_policy(tx: Transaction, group: GroupRow, policy: Policy, now_us: int) -> NamedResource:
    """Set (create or replace) the policy of ``group``."""
    body = {"policy": policy.as_json(), "group_arn": group.arn, "updated_us": now_us}
    existing = tx.get_resource(group.region, KIND, _key(group.name), for_update=True)
    if existing is None:
        return tx.insert_resource(
            NamedResource(
                region=group.region,
                kind=KIND,
                name=_key(group.name),
                arn=group.arn,
                created_us=now_us,
                body=body,
            )
        )
    existing.body, existing.arn = body, group.arn
    tx.update_resource(existing)
    return existing


def delete_policy(tx: Transaction, region: str, group_name: str) -> bool:
    """Remove a group's policy (when the group is deleted, in that transaction); False if none."""
    existing = tx.get_resource(region, KIND, _key(group_name), for_update=True)
    if existing is None or existing.id is None:
        return False
    tx.delete_resource(existing.id)
    return True


# -- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """What could be learnt about one version's metrics: the values, or why there are none."""

    version: int | None
    values: dict[str, float] | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        return f"version {self.version}" if self.version is not None else "the version"


def metrics_uri(body: dict[str, Any]) -> str | None:
    """``ModelMetrics.ModelQuality.Statistics.S3Uri`` of a package body (or a create request)."""
    stats = ((body.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    uri = stats.get("S3Uri")
    return uri if isinstance(uri, str) and uri else None


def read_metrics(artifacts: ArtifactStore, uri: str) -> dict[str, float] | str:
    """The metrics at ``uri``, or the reason they could not be read (network I/O: call this
    outside any transaction)."""
    try:
        return parse_metrics(artifacts.read(uri, max_bytes=MAX_METRICS_BYTES))
    except ArtifactError as exc:
        return str(exc).rstrip(".")
    except MetricsError as exc:
        return f"{uri}: {str(exc).rstrip('.')}"


@functools.lru_cache(maxsize=8)
def _artifacts(settings: Settings) -> ArtifactStore:
    return open_artifacts(settings)


class MetricsNeeded(Exception):
    """Raised inside a write transaction by a check that needs metrics files not read yet."""

    def __init__(self, uris: set[str]) -> None:
        super().__init__(", ".join(sorted(uris)))
        self.uris = uris


class MetricsCache:
    """Metrics files read outside the write transaction, by URI. While ``final`` is false a check
    that needs a file not read yet raises ``MetricsNeeded``; once final (the files changed under
    us several times), such a file fails its check with a "try again"."""

    def __init__(
        self, reads: dict[str, dict[str, float] | str] | None = None, *, final: bool = False
    ) -> None:
        self.reads = reads or {}
        self.final = final

    def require(self, bodies: list[dict[str, Any]]) -> None:
        """Raise ``MetricsNeeded`` for the metrics files of ``bodies`` not read yet (unless final)."""
        missing = {uri for uri in map(metrics_uri, bodies) if uri and uri not in self.reads}
        if missing and not self.final:
            raise MetricsNeeded(missing)

    def for_version(self, body: dict[str, Any]) -> Metrics:
        version = body.get("ModelPackageVersion")
        uri = metrics_uri(body)
        if uri is None:
            return Metrics(version, error="it has no ModelMetrics.ModelQuality.Statistics.S3Uri")
        read = self.reads.get(uri)
        if read is None:
            return Metrics(
                version,
                error="its metrics were not read before the check (the policy or the Approved version "
                "changed meanwhile); try again",
            )
        return Metrics(version, values=read) if isinstance(read, dict) else Metrics(version, error=read)


def with_metrics(ctx: RequestContext, attempt: Callable[[MetricsCache], T]) -> T:
    """Run ``attempt(cache)``, a function that opens and commits one write transaction. When a
    promotion check inside it raises ``MetricsNeeded``, the transaction has rolled back: read
    those files (blocking I/O, outside any transaction) and run it again; after three rounds the
    cache is final."""
    cache = MetricsCache()
    for _ in range(3):
        try:
            return attempt(cache)
        except MetricsNeeded as needed:
            ctx.allow_blocking_io()  # metrics files may be remote: not on the event loop
            artifacts = _artifacts(ctx.settings)
            fetched = {uri: read_metrics(artifacts, uri) for uri in sorted(needed.uris)}
            cache = MetricsCache({**cache.reads, **fetched})
    return attempt(MetricsCache(cache.reads, final=True))


def latest_approved(
    tx: Transaction, region: str, group_id: int, exclude_arn: str | None = None
) -> PackageRow | None:
    """The group's latest Approved version other than ``exclude_arn``: what candidates compare with."""
    query = PackageQuery(region=region, group_id=group_id, approval_status=APPROVED, descending=True)
    for row in tx.list_packages(query, None, 2):
        if row.arn != exclude_arn:
            return row
    return None


# -- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    passed: bool
    text: str  # "auc 0.91 >= 0.85", or why the gate failed


def _num(x: float) -> str:
    return f"{x:.10g}"


def _signed(x: float) -> str:
    return f"{x:+.10g}"


def _check(gate: Gate, candidate: Metrics, baseline: Metrics | None) -> GateResult:
    metric = gate.metric
    if candidate.values is None:
        return GateResult(
            gate, False, f"the metrics of {candidate.label} could not be read: {candidate.error}"
        )
    if metric not in candidate.values:
        names = ", ".join(sorted(candidate.values)[:10])
        return GateResult(gate, False, f"{candidate.label} has no metric {metric} (its metrics: {names})")
    value = candidate.values[metric]
    if gate.test == "min":
        ok = value >= gate.threshold
        return GateResult(
            gate,
            ok,
            f"{metric} {_num(value)} " + (">= " if ok else "is below the minimum ") + _num(gate.threshold),
        )
    if gate.test == "max":
        ok = value <= gate.threshold
        return GateResult(
            gate,
            ok,
            f"{metric} {_num(value)} " + ("<= " if ok else "is above the maximum ") + _num(gate.threshold),
        )
    if baseline is None:
        return GateResult(gate, True, f"{metric}: no Approved version yet to compare with")
    if baseline.values is None:
        return GateResult(
            gate,
            False,
            f"{metric} cannot be compared with {baseline.label}: its metrics could not be read: "
            f"{baseline.error}",
        )
    if metric not in baseline.values:
        return GateResult(
            gate, False, f"{metric} cannot be compared with {baseline.label}: it has no metric {metric}"
        )
    base = baseline.values[metric]
    delta = value - base
    # the bound on ``delta``: >= bound when higher is better, <= bound when lower is
    step = gate.threshold if gate.test == "min_improvement" else -gate.threshold
    higher = gate.direction == "higher"
    bound = step if higher else -step
    slack = _TOLERANCE * max(1.0, abs(value), abs(base))
    ok = delta >= bound - slack if higher else delta <= bound + slack
    op = ">=" if higher else "<="
    where = f"{'over' if delta >= 0 else 'under'} {baseline.label}"
    if ok:
        return GateResult(gate, True, f"{metric} {_signed(delta)} {where} ({op} {_signed(bound)})")
    need = f"at least {_signed(bound)}" if higher else f"at most {_signed(bound)}"
    lower_note = " (lower is better)" if not higher else ""
    return GateResult(
        gate,
        False,
        f"{metric} {_num(value)} is {_signed(delta)} {where} ({_num(base)}); "
        f"the policy requires a change of {need}{lower_note}",
    )


def evaluate(policy: Policy, candidate: Metrics, baseline: Metrics | None) -> list[GateResult]:
    """One result per gate of ``policy``, in order; ``baseline`` is the latest Approved version
    (None when the group has none)."""
    return [_check(gate, candidate, baseline) for gate in policy.gates]


def _texts(results: list[GateResult], passed: bool) -> str:
    texts: list[str] = []
    for r in results:
        if r.passed == passed and r.text not in texts:
            texts.append(r.text)
    return "; ".join(texts)


def describe_passed(results: list[GateResult]) -> str:
    return _texts(results, True)


def describe_failed(results: list[GateResult]) -> str:
    """The failed gates, each once (a file that cannot be read fails every gate for one reason)."""
    return _texts(results, False)


def _results(tx: Transaction, policy: Policy, row: PackageRow, cache: MetricsCache) -> list[GateResult]:
    approved = None
    if any(g.relative for g in policy.gates) and row.group_id is not None:
        approved = latest_approved(tx, row.region, row.group_id, exclude_arn=row.arn)
    cache.require([row.body] + ([approved.body] if approved is not None else []))
    baseline = None if approved is None else cache.for_version(approved.body)
    return evaluate(policy, cache.for_version(row.body), baseline)


def _refuse(group_name: str, why: str) -> ValidationException:
    return ValidationException(f"Promotion policy of group {group_name} refuses approval: {why}.")


def _entry(
    ctx: RequestContext, arn: str, at_us: int, field: str, old: str | None, new: str, reason: str
) -> HistoryEntry:
    return HistoryEntry(
        arn=arn,
        at_us=at_us,
        principal=PRINCIPAL,
        field=field,
        old_value=old,
        new_value=new,
        reason=reason,
        request_id=ctx.request_id,
    )


# -- the seams model_packages.py calls --------------------------------------------------------


def on_create(
    tx: Transaction,
    ctx: RequestContext,
    group: GroupRow,
    policy: Policy | None,
    row: PackageRow,
    cache: MetricsCache,
) -> None:
    """CreateModelPackage, in its write transaction, after the new version ``row`` is inserted
    with its creation ledger entry and before its event: apply the group's ``policy`` to it. The
    caller reads the policy with the version number (``policy_in``), so that no reading sends the
    version's rows apart from the rest (``modelreg.store.sql_appends``).

    A version registered Approved must pass the policy (else ``ValidationException``, and the
    transaction rolls back); one registered pending in a group with ``auto_approve`` is approved
    here when every gate passes (``row`` is updated and a ledger entry by ``promotion-policy``
    appended), else the ledger records the failed check."""
    if policy is None:
        return
    status = row.body.get("ModelApprovalStatus")
    if status == APPROVED:
        if policy.four_eyes:
            raise _refuse(
                group.name,
                f"four-eyes rule: {ctx.principal.user_name} cannot register a version as Approved (that "
                "approves it themselves); register it PendingManualApproval and have another principal "
                "approve it",
            )
        _enforce(tx, ctx, policy, group.name, row, cache)
        return
    if status != PENDING or not policy.auto_approve:
        return
    results = _results(tx, policy, row, cache)
    failed = describe_failed(results)
    if failed:
        tx.append_history(
            _entry(
                ctx, row.arn, row.created_us, "PromotionCheck", None, "Failed", f"Not auto-approved: {failed}"
            )
        )
        return
    reason = f"Auto-approved by promotion policy: {describe_passed(results)}"
    row.body["ModelApprovalStatus"] = row.approval_status = APPROVED
    row.body["ApprovalDescription"] = reason
    tx.update_package(row)
    tx.append_history(_entry(ctx, row.arn, row.created_us, "ModelApprovalStatus", PENDING, APPROVED, reason))


def check_approval(
    tx: Transaction,
    ctx: RequestContext,
    row: PackageRow,
    before: dict[str, Any],
    policy: Policy | None,
    cache: MetricsCache,
) -> None:
    """UpdateModelPackage, in its write transaction, before anything is written: refuse (with a
    ``ValidationException``) an approval the group's ``policy`` forbids (the caller reads it with
    the package: ``policy_in``). Only a change to Approved is checked; rejecting and every other
    update always pass. An approval that passes gates gets a ``PromotionCheck`` ledger entry
    listing them."""
    if before.get("ModelApprovalStatus") == APPROVED or row.body.get("ModelApprovalStatus") != APPROVED:
        return
    group_name = row.body.get("ModelPackageGroupName")
    if not group_name or policy is None:
        return
    if policy.four_eyes:
        creator = (before.get("CreatedBy") or {}).get("UserProfileName")
        if creator == ctx.principal.user_name:
            raise _refuse(
                group_name,
                f"four-eyes rule: {creator} registered version {row.version} and cannot also approve it; "
                "another principal must approve it",
            )
    _enforce(tx, ctx, policy, group_name, row, cache)


def _enforce(
    tx: Transaction,
    ctx: RequestContext,
    policy: Policy,
    group_name: str,
    row: PackageRow,
    cache: MetricsCache,
) -> None:
    """Refuse approving ``row`` unless every gate passes; record the passed check in the ledger."""
    if not policy.gates:
        return
    results = _results(tx, policy, row, cache)
    failed = describe_failed(results)
    if failed:
        raise _refuse(group_name, failed)
    tx.append_history(
        _entry(
            ctx,
            row.arn,
            ctx.now_us(),
            "PromotionCheck",
            None,
            "Passed",
            f"Gates passed: {describe_passed(results)}",
        )
    )
