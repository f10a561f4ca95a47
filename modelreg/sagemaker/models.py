"""Models: CreateModel / DescribeModel / ListModels / DeleteModel.

A model names the container(s) an endpoint runs: an ``Image`` and ``ModelDataUrl``, or a
``ModelPackageName`` whose inference specification supplies them. The package is resolved again
each time an endpoint deploys the model (``resolve_containers``), so what serves is always the
package version as it stands then, and the promotion guard applies at every deploy: only an
Approved version serves, unless the server runs with ``--allow-unapproved-deploy``.
"""

from __future__ import annotations

from typing import Any

from modelreg.aws.dispatch import RequestContext, operation
from modelreg.errors import ValidationException
from modelreg.registering import REGISTERED_SHA256
from modelreg.sagemaker import named
from modelreg.sagemaker.common import find_package, package_arn_for, tag_dict, us_to_epoch
from modelreg.store.base import DuplicateKey, Transaction
from modelreg.store.rows import NamedResource

_STORED = (
    "ModelName",
    "PrimaryContainer",
    "Containers",
    "InferenceExecutionConfig",
    "ExecutionRoleArn",
    "VpcConfig",
    "EnableNetworkIsolation",
)


def containers_of(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a model as sent: ``PrimaryContainer`` or ``Containers``."""
    if model.get("PrimaryContainer"):
        return [model["PrimaryContainer"]]
    return list(model.get("Containers") or [])


def resolve_containers(tx: Transaction, ctx: RequestContext, model: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of ``model`` with package references resolved to the package version's image
    and model data: ``[{"Image", "ModelDataUrl", "Environment", "ModelPackageArn"?}]``.

    Raises ValidationException when a package is gone or (by default) not Approved."""
    resolved = []
    for container in containers_of(model):
        env = dict(container.get("Environment") or {})
        package_name = container.get("ModelPackageName")
        if not package_name:
            resolved.append(
                {
                    "Image": container.get("Image"),
                    "ModelDataUrl": container.get("ModelDataUrl"),
                    "Environment": env,
                }
            )
            continue
        package = find_package(tx, ctx, package_name)
        if package is None:
            raise ValidationException(f"ModelPackage {package_arn_for(ctx, package_name)} does not exist.")
        check_deployable(ctx, package.arn, package.version, package.approval_status)
        spec_containers = (package.body.get("InferenceSpecification") or {}).get("Containers") or []
        if not spec_containers:
            raise ValidationException(
                f"ModelPackage {package.arn} has no InferenceSpecification containers to deploy."
            )
        # `modelreg register` records the archive's digest before it uploads it: the bytes are
        # pinned from registration on, not only from the first deployment
        registered = (package.body.get("CustomerMetadataProperties") or {}).get(REGISTERED_SHA256)
        for spec in spec_containers:
            container = {
                "Image": spec.get("Image"),
                "ModelDataUrl": spec.get("ModelDataUrl"),
                "Environment": {**(spec.get("Environment") or {}), **env},
                "ModelPackageArn": package.arn,
            }
            if registered and len(spec_containers) == 1:
                container["RegisteredSha256"] = registered
            resolved.append(container)
    return resolved


def check_deployable(ctx: RequestContext, arn: str, version: int | None, approval_status: str | None) -> None:
    """The promotion guard: a versioned package deploys only when Approved (by default)."""
    if version is None or approval_status == "Approved" or ctx.settings.allow_unapproved_deploy:
        return
    raise ValidationException(
        f"ModelPackage {arn} is {approval_status}: only an Approved model package version can be "
        "deployed. Approve it first (UpdateModelPackage with ModelApprovalStatus=Approved and an "
        "ApprovalDescription), or start the server with --allow-unapproved-deploy."
    )


#: what the SageMaker Python SDK puts in its User-Agent
SAGEMAKER_SDK_MARKER = "AWS-SageMaker-Python-SDK"


def refuse_approval_on_deploy(
    ctx: RequestContext, params: dict[str, Any], current_status: str | None
) -> None:
    """The SageMaker Python SDK's ``ModelPackage.deploy()`` approves a version that is not Approved
    (UpdateModelPackage with only the ARN and ``Approved``) before it deploys it. modelreg refuses
    that silent approval, so deploying never bypasses review; an approval with a reason
    (ApprovalDescription) from the SDK, or any approval from other clients, is a normal approval."""
    if (
        ctx.settings.allow_unapproved_deploy
        or params.get("ModelApprovalStatus") != "Approved"
        or current_status == "Approved"
        or SAGEMAKER_SDK_MARKER not in ctx.user_agent
        or set(params) - {"ModelPackageArn", "ModelApprovalStatus", "ClientToken"}
    ):
        return
    raise ValidationException(
        f"ModelPackage {params['ModelPackageArn']} is {current_status}: modelreg does not approve a version "
        "on deploy. Only an Approved model package version can be deployed: approve it with a reason first "
        "(update_approval_status('Approved', approval_description=...) or UpdateModelPackage with an "
        "ApprovalDescription), or start the server with --allow-unapproved-deploy."
    )


@operation("sagemaker", "CreateModel")
def create_model(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelName"]
    containers = containers_of(params)
    if params.get("PrimaryContainer") and params.get("Containers"):
        raise ValidationException("Specify either PrimaryContainer or Containers, not both.")
    if not containers:
        raise ValidationException("Either PrimaryContainer or Containers must be specified.")
    for container in containers:
        if not container.get("ModelPackageName") and not container.get("Image"):
            raise ValidationException("Every container needs an Image or a ModelPackageName.")
    arn = named.arn_of(ctx, named.MODEL, name)
    now = ctx.now_us()
    body = {k: params[k] for k in _STORED if k in params}
    body.update(ModelArn=arn, CreationTime=us_to_epoch(now))
    try:
        with ctx.store.write() as tx:
            resolve_containers(tx, ctx, body)  # the packages exist and may be deployed
            tx.insert_resource(NamedResource(ctx.region, named.MODEL, name.lower(), arn, now, body))
            if params.get("Tags"):
                tx.put_tags(arn, tag_dict(params["Tags"]))
    except DuplicateKey:
        raise ValidationException(f'Cannot create already existing model "{arn}".') from None
    return {"ModelArn": arn}


def get_model(tx: Transaction, ctx: RequestContext, name: str) -> NamedResource:
    found = named.get(tx, ctx, named.MODEL, name)
    if found is None:
        raise ValidationException(f'Could not find model "{named.arn_of(ctx, named.MODEL, name)}".')
    return found


@operation("sagemaker", "DescribeModel")
def describe_model(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        return get_model(tx, ctx, params["ModelName"]).body


@operation("sagemaker", "ListModels")
def list_models(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as tx:
        rows, token = named.list_page(tx, ctx, named.MODEL, params, "ModelName")
    summaries = [{k: r.body[k] for k in ("ModelName", "ModelArn", "CreationTime")} for r in rows]
    return {"Models": summaries, "NextToken": token}


@operation("sagemaker", "DeleteModel")
def delete_model(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as tx:
        model = get_model(tx, ctx, params["ModelName"])
        named.delete_with_tags(tx, model)
    return {}
