"""modelreg: a self-hosted model registry that speaks the Amazon SageMaker Model Registry API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "register"]

if TYPE_CHECKING:
    from modelreg.registering import register


def __getattr__(name: str) -> Any:
    if name == "register":  # imported on first use: the server does not need boto3's S3 client
        from modelreg.registering import register

        return register
    raise AttributeError(name)
