"""Endpoint configs: CreateEndpointConfig / DescribeEndpointConfig / ListEndpointConfigs /
DeleteEndpointConfig. A config is immutable: which models serve in which production variants, with
what weight and how many instances. Deleting a config an endpoint uses is allowed, as in SageMaker:
the endpoint keeps what it deployed."""

from __future__ import annotations

from typing import Any

from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ValidationException
from modelreg.sagemaker import named
from modelreg.sagemaker.common import tag_dict, us_to_epoch
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import NamedResource

_NOT_STORED = {"Tags"}


@operation("sagemaker", "CreateEndpointConfig")
def create_endpoint_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointConfigName"]
    variants = params["ProductionVariants"]
    seen: set[str] = set()
    for variant in variants:
        vname = variant["VariantName"]
        if vname.lower() in seen:
            raise ValidationException(f"Duplicate VariantName {vname} in ProductionVariants.")
        seen.add(vname.lower())
        if variant.get("ServerlessConfig"):
            raise ValidationException(
                f"Variant {vname}: ServerlessConfig is not supported by modelreg; give InitialInstanceCount "
                "and InstanceType (each instance is a local worker process)."
            )
        if not variant.get("InitialInstanceCount"):
            raise ValidationException(f"Variant {vname}: InitialInstanceCount is required.")
    arn = named.arn_of(ctx, named.ENDPOINT_CONFIG, name)
    now = ctx.now_us()
    body = {k: v for k, v in params.items() if k not in _NOT_STORED}
    body["ProductionVariants"] = [{"InitialVariantWeight": 1.0, **v} for v in variants]
    body.update(EndpointConfigArn=arn, CreationTime=us_to_epoch(now))
    try:
        with ctx.store.write() as tx:
            for variant in variants:
                if named.get(tx, ctx, named.MODEL, variant["ModelName"]) is None:
                    model_arn = named.arn_of(ctx, named.MODEL, variant["ModelName"])
                    raise ValidationException(f'Could not find model "{model_arn}".')
            tx.insert_resource(NamedResource(ctx.region, named.ENDPOINT_CONFIG, name.lower(), arn, now, body))
            if params.get("Tags"):
                tx.put_tags(arn, tag_dict(params["Tags"]))
    except DuplicateKey:
        raise ValidationException(f'Cannot create already existing endpoint configuration "{arn}".') from None
    return {"EndpointConfigArn": arn}


def get_endpoint_config(tx: Transaction, ctx: RequestContext, name: str) -> NamedResource:
    found = named.get(tx, ctx, named.ENDPOINT_CONFIG, name)
    if found is None:
        arn = named.arn_of(ctx, named.ENDPOINT_CONFIG, name)
        raise ValidationException(f'Could not find endpoint configuration "{arn}".')
    return found


@operation("sagemaker", "DescribeEndpointConfig")
def describe_endpoint_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_endpoint_config(tx, ctx, params["EndpointConfigName"]).body


@operation("sagemaker", "ListEndpointConfigs")
def list_endpoint_configs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        rows, token = named.list_page(tx, ctx, named.ENDPOINT_CONFIG, params, "EndpointConfigName")
    summaries = [
        {k: r.body[k] for k in ("EndpointConfigName", "EndpointConfigArn", "CreationTime")} for r in rows
    ]
    return {"EndpointConfigs": summaries, "NextToken": token}


@operation("sagemaker", "DeleteEndpointConfig")
def delete_endpoint_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        config = get_endpoint_config(tx, ctx, params["EndpointConfigName"])
        named.delete_with_tags(tx, config)
    return {}
