"""EventBridge rules and their targets (service ``events``), on the one event bus modelreg has.

Only the bus ``default`` exists: ``EventBusName`` may be absent, ``default`` or the default bus ARN;
any other bus is EventBridge's ``ResourceNotFoundException`` "Event bus <name> does not exist.".

A rule is the NamedResource kind ``rule``; its body is the DescribeRule output (Name, Arn,
EventPattern, State, Description, RoleArn, EventBusName, CreatedBy) plus ``Targets``, the Target
dicts exactly as PutTargets sent them (PutTargets with an existing Id replaces that target). The
delivery worker (``modelreg.events.delivery``) reads that layout.

modelreg runs event-pattern rules only (no ``ScheduleExpression``) and delivers to API destinations
of the same account and region; other target ARNs are reported per target in ``FailedEntries``, as
EventBridge reports per-target failures (HTTP 200).

The helpers at the top (bus check, ARNs, pattern validation, pagination by name) are shared by
``connections``, ``archives`` and ``put_events``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from modelreg import arns, json_text
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import (
    InvalidEventPatternException,
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from modelreg.events.patterns import EventPattern, InvalidEventPatternError
from modelreg.sagemaker.common import tag_dict, tag_list
from modelreg.sagemaker.pagination import decode_token, encode_token
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import NamedResource

DEFAULT_BUS = "default"
RULE = "rule"
API_DESTINATION = "api-destination"
MAX_TARGETS = 5  # EventBridge's quota of targets per rule
DEFAULT_LIMIT = 100

_ARN_FORMAT = re.compile(r"arn:aws[\w-]*:[\w-]+:[\w-]*:\d{0,12}:.+")
_INPUT_MEMBERS = ("Input", "InputPath", "InputTransformer")
_LIST_MEMBERS = (
    "Name",
    "Arn",
    "EventPattern",
    "State",
    "Description",
    "RoleArn",
    "ManagedBy",
    "EventBusName",
)
_TOO_MANY = "The requested resource exceeds the maximum number allowed."

# --------------------------------------------------------------------------- shared helpers


def events_arn(ctx: RequestContext, resource: str) -> str:
    """``arn:aws:events:<region>:<account>:<resource>``, e.g. ``rule/my-rule``."""
    return f"arn:aws:events:{ctx.region}:{ctx.account}:{resource}"


def bus_arn(ctx: RequestContext) -> str:
    return events_arn(ctx, f"event-bus/{DEFAULT_BUS}")


def check_bus(ctx: RequestContext, name_or_arn: str | None) -> None:
    """Accept the default bus (absent, by name or by ARN); any other bus does not exist."""
    if name_or_arn in (None, DEFAULT_BUS, bus_arn(ctx)):
        return
    assert name_or_arn is not None
    shown = name_or_arn
    if name_or_arn.startswith("arn:") and ":event-bus/" in name_or_arn:
        name = name_or_arn.split(":event-bus/", 1)[1]
        shown = name if name != DEFAULT_BUS else name_or_arn  # another account's or region's default
    raise ResourceNotFoundException(f"Event bus {shown} does not exist.")


def parse_pattern(text: str) -> EventPattern:
    """Validate an event pattern; EventBridge's InvalidEventPatternException with the parser's reason."""
    try:
        return EventPattern.parse(text)
    except InvalidEventPatternError as exc:
        raise InvalidEventPatternException(str(exc)) from None


def pick(body: dict[str, Any], members: Sequence[str]) -> dict[str, Any]:
    """The listed members of a stored body that are present (a List* summary)."""
    return {m: body[m] for m in members if body.get(m) is not None}


def _token_params(params: dict[str, Any]) -> dict[str, Any]:
    # Limit is a page size: a paginator may change it between pages without changing the query
    return {k: v for k, v in params.items() if k != "Limit"}


def _cursor(params: dict[str, Any]) -> str | None:
    cursor = decode_token(params.get("NextToken"), _token_params(params))
    if cursor is None:
        return None
    if len(cursor) != 1 or not isinstance(cursor[0], str):
        raise ValidationException("Invalid NextToken: it was not issued by this server.")
    return cursor[0]


def page_by_name(
    tx: Transaction,
    ctx: RequestContext,
    kind: str,
    params: dict[str, Any],
    *,
    prefix: str | None = None,
    keep: Callable[[NamedResource], bool] | None = None,
) -> tuple[list[NamedResource], str | None]:
    """One page (``Limit``, default 100) of one kind's resources in name order, optionally filtered
    by ``keep``, and the opaque NextToken of the next page (None on the last one)."""
    limit = params.get("Limit") or DEFAULT_LIMIT
    after = _cursor(params)
    found: list[NamedResource] = []
    while True:
        batch = tx.list_resources(ctx.region, kind, prefix, after, limit + 1)
        for row in batch:  # names are case-sensitive; SQLite's LIKE is not
            if (prefix is None or row.name.startswith(prefix)) and (keep is None or keep(row)):
                found.append(row)
                if len(found) > limit:
                    page = found[:limit]
                    return page, encode_token([page[-1].name], _token_params(params))
        if len(batch) <= limit:
            return found, None
        after = batch[-1].name


def page_items(
    items: list[dict[str, Any]], key: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of an in-memory list sorted by ``key`` (rule targets by Id)."""
    limit = params.get("Limit") or DEFAULT_LIMIT
    after = _cursor(params)
    rows = sorted((i for i in items if after is None or i[key] > after), key=lambda i: i[key])
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_token([rows[limit - 1][key]], _token_params(params))


# --------------------------------------------------------------------------- rules


def rule_arn(ctx: RequestContext, name: str) -> str:
    return events_arn(ctx, f"rule/{name}")


def get_rule(tx: Transaction, ctx: RequestContext, name: str, *, for_update: bool = False) -> NamedResource:
    row = tx.get_resource(ctx.region, RULE, name, for_update=for_update)
    if row is None:
        raise ResourceNotFoundException(f"Rule {name} does not exist on EventBus {DEFAULT_BUS}.")
    return row


def _describe(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "Targets"}


@operation("events", "PutRule")
def put_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Create the rule, or replace every member of an existing one (its targets and tags stay)."""
    check_bus(ctx, params.get("EventBusName"))
    if params.get("ScheduleExpression") is not None:
        raise ValidationException(
            "modelreg does not run scheduled rules: ScheduleExpression is not supported. "
            "Give the rule an EventPattern instead."
        )
    if params.get("EventPattern") is None:
        raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    parse_pattern(params["EventPattern"])
    try:
        return _put_rule(ctx, params)
    except DuplicateKey:  # a concurrent PutRule created it first: this one is an update
        return _put_rule(ctx, params)


def _put_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    arn = rule_arn(ctx, name)
    with ctx.store.write() as tx:
        row = tx.get_resource(ctx.region, RULE, name, for_update=True)
        body = {
            "Name": name,
            "Arn": arn,
            "EventPattern": params["EventPattern"],
            "State": params.get("State") or "ENABLED",
            "Description": params.get("Description"),
            "RoleArn": params.get("RoleArn"),
            "EventBusName": DEFAULT_BUS,
            "CreatedBy": row.body["CreatedBy"] if row else ctx.account,
            "Targets": row.body.get("Targets", []) if row else [],
        }
        body = {k: v for k, v in body.items() if v is not None}
        if row is None:
            tx.insert_resource(NamedResource(ctx.region, RULE, name, arn, ctx.now_us(), body))
        else:
            row.body = body
            tx.update_resource(row)
        if params.get("Tags"):
            tx.put_tags(arn, tag_dict(params["Tags"]))
    return {"RuleArn": arn}


@operation("events", "DescribeRule")
def describe_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    with ctx.store.read() as tx:
        return _describe(get_rule(tx, ctx, params["Name"]).body)


@operation("events", "ListRules")
def list_rules(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    with ctx.store.read() as tx:
        rows, token = page_by_name(tx, ctx, RULE, params, prefix=params.get("NamePrefix"))
    return {"Rules": [pick(r.body, _LIST_MEMBERS) for r in rows], "NextToken": token}


@operation("events", "DeleteRule")
def delete_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deleting a rule that does not exist succeeds, as in EventBridge; one with targets is refused.

    ``Force`` is accepted and changes nothing: it is for rules managed by AWS services, and modelreg
    has none."""
    check_bus(ctx, params.get("EventBusName"))
    with ctx.store.write() as tx:
        row = tx.get_resource(ctx.region, RULE, params["Name"], for_update=True)
        if row is None:
            return {}
        if row.body.get("Targets"):
            raise ValidationException("Rule can't be deleted since it has targets.")
        tx.delete_tags(row.arn, [k for k, _ in tx.list_tags(row.arn)])
        assert row.id is not None
        tx.delete_resource(row.id)
    return {}


def _set_state(ctx: RequestContext, params: dict[str, Any], state: str) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    with ctx.store.write() as tx:
        row = get_rule(tx, ctx, params["Name"], for_update=True)
        row.body["State"] = state
        tx.update_resource(row)
    return {}


@operation("events", "EnableRule")
def enable_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _set_state(ctx, params, "ENABLED")


@operation("events", "DisableRule")
def disable_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _set_state(ctx, params, "DISABLED")


# --------------------------------------------------------------------------- targets


def _check_target(target: dict[str, Any]) -> None:
    """What EventBridge refuses for the whole PutTargets request."""
    if not _ARN_FORMAT.fullmatch(target["Arn"]):
        raise ValidationException(
            f"Parameter {target['Arn']} is not valid. Reason: Provided Arn is not in correct format."
        )
    if sum(target.get(m) is not None for m in _INPUT_MEMBERS) > 1:
        raise ValidationException(
            f"Only one of Input, InputPath, or InputTransformer must be provided for target {target['Id']}."
        )
    if target.get("Input") is not None:
        try:
            json_text.loads(target["Input"])
        except ValueError:
            raise ValidationException(
                f"Parameter Input is not valid for target {target['Id']}. "
                "Reason: Input must be valid JSON text."
            ) from None


def _undeliverable(tx: Transaction, ctx: RequestContext, arn: str) -> tuple[str, str] | None:
    """(ErrorCode, ErrorMessage) when modelreg cannot deliver to ``arn``, else None."""
    parsed = arns.parse(arn)
    if parsed is not None and parsed.service == "events" and parsed.resource_type == API_DESTINATION:
        name = parsed.resource.split("/", 1)[0]
        found = None
        if parsed.region == ctx.region and parsed.account == ctx.account:
            found = tx.get_resource(ctx.region, API_DESTINATION, name)
        if found is None or found.arn != arn:
            return (
                "ResourceNotFoundException",
                f"Failed to describe the api-destination(s). An api-destination '{name}' does not exist.",
            )
        return None
    if parsed is not None and parsed.service == "sagemaker" and parsed.resource_type == "endpoint":
        return (
            "ValidationException",
            f"modelreg cannot deliver to the SageMaker endpoint {arn} yet: deploy targets arrive with "
            "endpoint support. Today modelreg delivers only to API destinations.",
        )
    return (
        "ValidationException",
        f"modelreg delivers events only to API destinations "
        f"(arn:aws:events:{ctx.region}:{ctx.account}:api-destination/<name>/<id>); {arn} is not one.",
    )


@operation("events", "PutTargets")
def put_targets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    for target in params["Targets"]:
        _check_target(target)
    failed = []
    with ctx.store.write() as tx:
        row = get_rule(tx, ctx, params["Rule"], for_update=True)
        targets = {t["Id"]: t for t in row.body.get("Targets", [])}
        for target in params["Targets"]:
            problem = _undeliverable(tx, ctx, target["Arn"])
            if problem is None:
                targets[target["Id"]] = target
            else:
                failed.append({"TargetId": target["Id"], "ErrorCode": problem[0], "ErrorMessage": problem[1]})
        if len(targets) > MAX_TARGETS:
            raise LimitExceededException(_TOO_MANY)
        row.body["Targets"] = list(targets.values())
        tx.update_resource(row)
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


@operation("events", "RemoveTargets")
def remove_targets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    with ctx.store.write() as tx:
        row = get_rule(tx, ctx, params["Rule"], for_update=True)
        targets = {t["Id"]: t for t in row.body.get("Targets", [])}
        failed = [
            {
                "TargetId": target_id,
                "ErrorCode": "ResourceNotFoundException",
                "ErrorMessage": f"Rule '{row.name}' does not have a target with the Id '{target_id}'.",
            }
            for target_id in params["Ids"]
            if target_id not in targets
        ]
        for target_id in params["Ids"]:
            targets.pop(target_id, None)
        row.body["Targets"] = list(targets.values())
        tx.update_resource(row)
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


@operation("events", "ListTargetsByRule")
def list_targets_by_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    with ctx.store.read() as tx:
        row = get_rule(tx, ctx, params["Rule"])
    targets, token = page_items(row.body.get("Targets", []), "Id", params)
    return {"Targets": targets, "NextToken": token}


@operation("events", "ListRuleNamesByTarget")
def list_rule_names_by_target(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    check_bus(ctx, params.get("EventBusName"))
    target_arn = params["TargetArn"]

    def targets_it(row: NamedResource) -> bool:
        return any(t["Arn"] == target_arn for t in row.body.get("Targets", []))

    with ctx.store.read() as tx:
        rows, token = page_by_name(tx, ctx, RULE, params, keep=targets_it)
    return {"RuleNames": [r.name for r in rows], "NextToken": token}


# --------------------------------------------------------------------------- tags


def _taggable_arn(tx: Transaction, ctx: RequestContext, arn_text: str) -> str:
    """The ARN of an existing rule, or of the default bus; modelreg keeps tags on nothing else."""
    if arn_text == bus_arn(ctx):
        return arn_text
    parsed = arns.parse(arn_text)
    if parsed is None or parsed.service != "events":
        raise ValidationException(
            f"Parameter ResourceARN is not valid. Reason: Provided Arn is not in correct format: {arn_text}."
        )
    if parsed.resource_type == "event-bus":
        check_bus(ctx, arn_text)
    if parsed.resource_type != RULE:
        raise ValidationException(
            f"modelreg keeps tags on rules and on the default event bus only; {arn_text} is neither."
        )
    bus, _, name = parsed.resource.rpartition("/")
    check_bus(ctx, bus or None)
    row = None
    if parsed.region == ctx.region and parsed.account == ctx.account:
        row = tx.get_resource(ctx.region, RULE, name)
    if row is None:
        raise ResourceNotFoundException(f"Rule {name} does not exist on EventBus {DEFAULT_BUS}.")
    return row.arn


@operation("events", "TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        tx.put_tags(_taggable_arn(tx, ctx, params["ResourceARN"]), tag_dict(params["Tags"]))
    return {}


@operation("events", "UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        tx.delete_tags(_taggable_arn(tx, ctx, params["ResourceARN"]), params["TagKeys"])
    return {}


@operation("events", "ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return {"Tags": tag_list(tx.list_tags(_taggable_arn(tx, ctx, params["ResourceARN"])))}
