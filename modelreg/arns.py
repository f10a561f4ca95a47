"""Build and parse SageMaker ARNs the way SageMaker forms them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = re.compile(
    r"arn:aws[a-z\-]*:(?P<service>[a-z0-9\-]+):(?P<region>[a-z0-9\-]*):(?P<account>\d{12}):"
    r"(?P<type>[a-z\-]+)/(?P<rest>.+)"
)


@dataclass(frozen=True)
class Arn:
    service: str
    region: str
    account: str
    resource_type: str
    resource: str  # everything after "<type>/"


def parse(value: str) -> Arn | None:
    """Split an ARN into its parts; ``None`` when ``value`` is not an ARN."""
    m = _ARN.fullmatch(value)
    if m is None:
        return None
    return Arn(m["service"], m["region"], m["account"], m["type"], m["rest"])


def sagemaker(region: str, account: str, resource_type: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:<resource_type>/<name>``.

    SageMaker lower-cases names in ARNs."""
    return f"arn:aws:sagemaker:{region}:{account}:{resource_type}/{name.lower()}"


def model_package_group(region: str, account: str, name: str) -> str:
    return sagemaker(region, account, "model-package-group", name)


def model_package(region: str, account: str, name: str, version: int | None = None) -> str:
    """``model-package/<group>/<version>`` for a version, ``model-package/<name>`` for an unversioned one."""
    base = sagemaker(region, account, "model-package", name)
    return base if version is None else f"{base}/{version}"


def name_from(value: str, resource_type: str) -> str:
    """Accept a name or an ARN of ``resource_type`` and return the name part (as given, case kept)."""
    arn = parse(value)
    if arn is None or arn.resource_type != resource_type:
        return value
    return arn.resource
