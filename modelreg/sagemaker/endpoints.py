"""Endpoints: CreateEndpoint / DescribeEndpoint / ListEndpoints / UpdateEndpoint /
UpdateEndpointWeightsAndCapacities / DeleteEndpoint, and modelreg's rollback.

An endpoint row (NamedResource kind ``endpoint``) holds the DESIRED state: ``Change`` (a number
that grows with every change) and ``Variants`` (each variant's weight, instance count and resolved
containers), plus ``Serving``: the change that serves traffic now. Handlers only write desired
state and the deployment history (``deployments`` rows, one per variant of a change); the
reconciler (``modelreg.serving.reconciler``) starts workers and reports back through
``change_went_live`` / ``change_failed``, which move ``EndpointStatus`` as SageMaker does:
Creating -> InService | Failed, InService -> Updating -> InService (a failed update keeps the
previous configuration serving, with a FailureReason).
"""

from __future__ import annotations

import uuid
from typing import Any

from modelreg.aws.auth import Principal
from modelreg.aws.dispatch import RequestContext, operation
from modelreg.config import Settings
from modelreg.errors import ValidationException
from modelreg.events import outbox
from modelreg.sagemaker import lineage, named
from modelreg.sagemaker.common import tag_dict, us_to_epoch
from modelreg.sagemaker.endpoint_configs import get_endpoint_config
from modelreg.sagemaker.models import get_model, resolve_containers
from modelreg.store.base import DuplicateKey, Store, Transaction
from modelreg.store.rows import DeploymentRow, NamedResource

ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
IN_SERVICE, CREATING, UPDATING, FAILED, DELETING = "InService", "Creating", "Updating", "Failed", "Deleting"
_PUBLIC = (
    "EndpointName",
    "EndpointArn",
    "EndpointConfigName",
    "EndpointStatus",
    "FailureReason",
    "CreationTime",
    "LastModifiedTime",
)


def desired_variants(tx: Transaction, ctx: RequestContext, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The variants of an endpoint config with their models' containers resolved (and guarded)."""
    variants = []
    for variant in config["ProductionVariants"]:
        model = get_model(tx, ctx, variant["ModelName"])
        variants.append(
            {
                "VariantName": variant["VariantName"],
                "ModelName": model.body["ModelName"],
                "ModelArn": model.arn,
                "Weight": float(variant.get("InitialVariantWeight", 1.0)),
                "InstanceCount": int(variant["InitialInstanceCount"]),
                "InstanceType": variant.get("InstanceType"),
                "StartupTimeoutSeconds": variant.get("ContainerStartupHealthCheckTimeoutInSeconds"),
                "Containers": resolve_containers(tx, ctx, model.body),
            }
        )
    return variants


def get_endpoint(
    tx: Transaction, ctx: RequestContext, name: str, *, for_update: bool = False
) -> NamedResource:
    found = named.get(tx, ctx, named.ENDPOINT, name, for_update=for_update)
    if found is None:
        raise ValidationException(f'Could not find endpoint "{named.arn_of(ctx, named.ENDPOINT, name)}".')
    return found


def record_change(tx: Transaction, ctx: RequestContext, endpoint: NamedResource, action: str) -> None:
    """Append the endpoint's desired state as change number ``Change`` to the deployment history."""
    body = endpoint.body
    rows = [
        DeploymentRow(
            region=endpoint.region,
            endpoint_arn=endpoint.arn,
            endpoint_name=body["EndpointName"],
            change=body["Change"],
            action=action,
            principal=ctx.principal.user_name,
            request_id=ctx.request_id,
            requested_us=ctx.now_us(),
            body=variant,
            config_name=body.get("EndpointConfigName"),
            variant_name=variant["VariantName"],
            model_name=variant.get("ModelName"),
            package_arn=next(
                (c["ModelPackageArn"] for c in variant["Containers"] if c.get("ModelPackageArn")), None
            ),
            weight=variant["Weight"],
            instance_count=variant["InstanceCount"],
        )
        for variant in body["Variants"]
    ]
    tx.insert_deployments(rows)


def emit_state_change(tx: Transaction, ctx: RequestContext, endpoint: NamedResource) -> None:
    """SageMaker's "SageMaker Endpoint State Change" event (detail: the DescribeEndpoint output)."""
    detail = outbox.with_iso_times(describe(endpoint))
    detail["Tags"] = dict(tx.list_tags(endpoint.arn))
    detail["modelreg"] = {
        "change": endpoint.body["Change"],
        "operation": ctx.operation,
        "principal": ctx.principal.user_name,
        "requestId": ctx.request_id,
    }
    outbox.emit(
        tx,
        ctx,
        detail_type=ENDPOINT_STATE_CHANGE,
        detail=detail,
        resources=[endpoint.arn],
        sequenced_arn=endpoint.arn,
    )


def _set_status(endpoint: NamedResource, status: str, now_us: int, reason: str | None = None) -> None:
    endpoint.body["EndpointStatus"] = status
    endpoint.body["LastModifiedTime"] = us_to_epoch(now_us)
    if reason:
        endpoint.body["FailureReason"] = reason
    else:
        endpoint.body.pop("FailureReason", None)


def _require_in_service(endpoint: NamedResource, what: str) -> None:
    status = endpoint.body["EndpointStatus"]
    if status != IN_SERVICE:
        raise ValidationException(
            f'Cannot {what} endpoint "{endpoint.arn}" while it is {status}: wait until it is InService.'
        )


@operation("sagemaker", "CreateEndpoint")
def create_endpoint(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointName"]
    arn = named.arn_of(ctx, named.ENDPOINT, name)
    now = ctx.now_us()
    try:
        with ctx.store.write() as tx:
            config = get_endpoint_config(tx, ctx, params["EndpointConfigName"]).body
            body = {
                "EndpointName": name,
                "EndpointArn": arn,
                "EndpointConfigName": config["EndpointConfigName"],
                "CreationTime": us_to_epoch(now),
                # an endpoint re-created under a deleted one's name continues its history's numbering
                "Change": tx.last_deployment_change(arn) + 1,
                "Variants": desired_variants(tx, ctx, config),
                "Serving": None,
            }
            _set_status(
                endpoint := NamedResource(ctx.region, named.ENDPOINT, name.lower(), arn, now, body),
                CREATING,
                now,
            )
            tx.insert_resource(endpoint)
            if params.get("Tags"):
                tx.put_tags(arn, tag_dict(params["Tags"]))
            record_change(tx, ctx, endpoint, "Create")
            emit_state_change(tx, ctx, endpoint)
    except DuplicateKey:
        raise ValidationException(f'Cannot create already existing endpoint "{arn}".') from None
    ctx.signals.fire_endpoint_changed()
    return {"EndpointArn": arn}


def describe(endpoint: NamedResource) -> dict[str, Any]:
    """The DescribeEndpoint output of an endpoint row."""
    body = endpoint.body
    result = {k: body[k] for k in _PUBLIC if body.get(k) is not None}
    serving = {v["VariantName"]: v for v in (body.get("Serving") or {}).get("Variants", [])}
    desired = {v["VariantName"]: v for v in body["Variants"]}
    variants = []
    for name in list(serving) + [n for n in desired if n not in serving]:
        live, want = serving.get(name), desired.get(name)
        entry: dict[str, Any] = {"VariantName": name}
        source = live or want
        assert source is not None
        entry["DeployedImages"] = [
            {
                "SpecifiedImage": c["Image"],
                "ResolvedImage": c["Image"],
                "ResolutionTime": body["LastModifiedTime"],
            }
            for c in source["Containers"]
        ]
        if live:
            entry["CurrentWeight"] = live["Weight"]
            entry["CurrentInstanceCount"] = live["InstanceCount"]
        if want:
            entry["DesiredWeight"] = want["Weight"]
            entry["DesiredInstanceCount"] = want["InstanceCount"]
        variants.append(entry)
    result["ProductionVariants"] = variants
    return result


@operation("sagemaker", "DescribeEndpoint")
def describe_endpoint(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return describe(get_endpoint(tx, ctx, params["EndpointName"]))


@operation("sagemaker", "ListEndpoints")
def list_endpoints(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        rows, token = named.list_page(
            tx, ctx, named.ENDPOINT, params, "EndpointName", status_of=lambda r: r.body["EndpointStatus"]
        )
    members = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
    return {"Endpoints": [{k: r.body[k] for k in members} for r in rows], "NextToken": token}


def _apply_change(tx: Transaction, ctx: RequestContext, endpoint: NamedResource, action: str) -> None:
    now = ctx.now_us()
    # numbered after every change the history holds: a failed update reverts ``Change``, never reuses it
    endpoint.body["Change"] = tx.last_deployment_change(endpoint.arn) + 1
    _set_status(endpoint, UPDATING, now)
    tx.update_resource(endpoint)
    record_change(tx, ctx, endpoint, action)
    emit_state_change(tx, ctx, endpoint)


@operation("sagemaker", "UpdateEndpoint")
def update_endpoint(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        endpoint = get_endpoint(tx, ctx, params["EndpointName"], for_update=True)
        _require_in_service(endpoint, "update")
        config = get_endpoint_config(tx, ctx, params["EndpointConfigName"]).body
        variants = desired_variants(tx, ctx, config)
        if params.get("RetainAllVariantProperties"):
            current = {v["VariantName"]: v for v in endpoint.body["Variants"]}
            excluded = {
                p["VariantPropertyType"] for p in params.get("ExcludeRetainedVariantProperties") or []
            }
            for variant in variants:
                old = current.get(variant["VariantName"])
                if old is not None and "DesiredWeight" not in excluded:
                    variant["Weight"] = old["Weight"]
                if old is not None and "DesiredInstanceCount" not in excluded:
                    variant["InstanceCount"] = old["InstanceCount"]
        endpoint.body["EndpointConfigName"] = config["EndpointConfigName"]
        endpoint.body["Variants"] = variants
        _apply_change(tx, ctx, endpoint, "Update")
    ctx.signals.fire_endpoint_changed()
    return {"EndpointArn": endpoint.arn}


@operation("sagemaker", "UpdateEndpointWeightsAndCapacities")
def update_endpoint_weights_and_capacities(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        endpoint = get_endpoint(tx, ctx, params["EndpointName"], for_update=True)
        _require_in_service(endpoint, "update")
        variants = {v["VariantName"]: dict(v) for v in endpoint.body["Variants"]}
        missing = [
            d["VariantName"]
            for d in params["DesiredWeightsAndCapacities"]
            if d["VariantName"] not in variants
        ]
        if missing:
            raise ValidationException(
                f"The variant name(s) [{', '.join(missing)}] is/are not present on endpoint {endpoint.arn}."
            )
        for desired in params["DesiredWeightsAndCapacities"]:
            variant = variants[desired["VariantName"]]
            if desired.get("DesiredWeight") is not None:
                variant["Weight"] = float(desired["DesiredWeight"])
            if desired.get("DesiredInstanceCount") is not None:
                variant["InstanceCount"] = int(desired["DesiredInstanceCount"])
        endpoint.body["Variants"] = list(variants.values())
        _apply_change(tx, ctx, endpoint, "UpdateWeightsAndCapacities")
    ctx.signals.fire_endpoint_changed()
    return {"EndpointArn": endpoint.arn}


@operation("sagemaker", "DeleteEndpoint")
def delete_endpoint(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        endpoint = get_endpoint(tx, ctx, params["EndpointName"], for_update=True)
        assert endpoint.id is not None
        now = ctx.now_us()
        tx.end_deployments(endpoint.arn, now)
        _set_status(endpoint, DELETING, now)
        emit_state_change(tx, ctx, endpoint)
        named.delete_with_tags(tx, endpoint)
        endpoint.body["Change"] = tx.last_deployment_change(endpoint.arn) + 1
        tx.insert_deployments(
            [
                DeploymentRow(
                    region=endpoint.region,
                    endpoint_arn=endpoint.arn,
                    endpoint_name=endpoint.body["EndpointName"],
                    change=endpoint.body["Change"],
                    action="Delete",
                    principal=ctx.principal.user_name,
                    request_id=ctx.request_id,
                    requested_us=now,
                    body={},
                    outcome="InService",
                    live_us=now,
                    ended_us=now,
                )
            ]
        )
    ctx.signals.fire_endpoint_changed()
    return {}


def rollback(ctx: RequestContext, name: str, to_change: int | None = None) -> dict[str, Any]:
    """Return an endpoint to the configuration that served before the current one (or to change
    ``to_change``): the recorded variants, containers and digests, as a new change."""
    with ctx.store.write() as tx:
        endpoint = get_endpoint(tx, ctx, name, for_update=True)
        _require_in_service(endpoint, "roll back")
        serving = endpoint.body.get("Serving") or {}
        rows = tx.list_deployments(endpoint_arn=endpoint.arn)
        created = max(r.change for r in rows if r.action == "Create")  # this endpoint, not a deleted namesake
        rows = [r for r in rows if r.change >= created]
        live_changes = sorted({r.change for r in rows if r.live_us is not None and r.action != "Delete"})
        if to_change is None:
            earlier = [c for c in live_changes if c < serving.get("Change", 0)]
            if not earlier:
                raise ValidationException(
                    f"Endpoint {endpoint.body['EndpointName']} has no earlier configuration to roll back to."
                )
            to_change = earlier[-1]
        elif to_change not in live_changes or to_change == serving.get("Change"):
            before = [c for c in live_changes if c != serving.get("Change")]
            raise ValidationException(
                f"Change {to_change} of endpoint {endpoint.body['EndpointName']} never served traffic or "
                f"serves now; changes that served before: {before}."
            )
        target = [r for r in rows if r.change == to_change]
        endpoint.body["Variants"] = [r.body for r in target]
        endpoint.body["EndpointConfigName"] = target[0].config_name
        _apply_change(tx, ctx, endpoint, "Rollback")
    ctx.signals.fire_endpoint_changed()
    return {
        "endpoint": endpoint.body["EndpointName"],
        "change": endpoint.body["Change"],
        "rolledBackTo": to_change,
    }


def system_context(settings: Settings, store: Store, region: str, operation_name: str) -> RequestContext:
    """The context of a change modelreg makes itself (the reconciler reporting a deployment)."""
    principal = Principal("modelreg", "modelreg", settings.account_id, region, "sagemaker")
    return RequestContext(principal, str(uuid.uuid4()), settings, store, operation=operation_name)


def change_went_live(
    ctx: RequestContext, endpoint_key: str, change: int, digests: dict[tuple[str, str], str]
) -> None:
    """Workers of ``change`` are ready and serve traffic: InService, history settled, digests of
    first deployments recorded (``digests`` maps (owner ARN, URI) to SHA-256)."""
    with ctx.store.write() as tx:
        endpoint = tx.get_resource(ctx.region, named.ENDPOINT, endpoint_key, for_update=True)
        if endpoint is None or endpoint.body["Change"] != change:
            return  # deleted or changed again meanwhile: the newer desired state wins
        now = ctx.now_us()
        for (owner, uri), sha in digests.items():
            if tx.get_artifact_digest(owner, uri) is None:
                tx.put_artifact_digest(owner, uri, sha, now)
        serving = endpoint.body.get("Serving") or {}
        if serving.get("Change") == change and endpoint.body["EndpointStatus"] == IN_SERVICE:
            return  # restarted after a server restart: nothing changed for users
        endpoint.body["Serving"] = {
            "Change": change,
            "EndpointConfigName": endpoint.body["EndpointConfigName"],
            "Variants": endpoint.body["Variants"],
        }
        _set_status(endpoint, IN_SERVICE, now)
        tx.update_resource(endpoint)
        tx.settle_deployment(endpoint.arn, change, IN_SERVICE, now)
        lineage.on_change_live(tx, ctx, endpoint)
        emit_state_change(tx, ctx, endpoint)


def change_failed(ctx: RequestContext, endpoint_key: str, change: int, reason: str) -> None:
    """Workers of ``change`` could not start. A new endpoint is Failed; a failed update leaves the
    previous configuration serving (InService, with the reason in FailureReason)."""
    with ctx.store.write() as tx:
        endpoint = tx.get_resource(ctx.region, named.ENDPOINT, endpoint_key, for_update=True)
        if endpoint is None or endpoint.body["Change"] != change:
            return
        now = ctx.now_us()
        serving = endpoint.body.get("Serving")
        if serving and serving["Change"] != change:
            endpoint.body.update(
                Change=serving["Change"],
                Variants=serving["Variants"],
                EndpointConfigName=serving["EndpointConfigName"],
            )
            _set_status(endpoint, IN_SERVICE, now, reason)
        else:
            _set_status(endpoint, FAILED, now, reason)
        tx.update_resource(endpoint)
        tx.settle_deployment(endpoint.arn, change, FAILED, now, reason)
        emit_state_change(tx, ctx, endpoint)
