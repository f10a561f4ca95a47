"""The model frameworks a worker serves, behaving as SageMaker's own containers for them do.

``framework_for_image(image)`` tells which framework a container image stands for;
``load_model(framework, model_dir)`` loads the model from an extracted ``model.tar.gz`` and gives a
:class:`LoadedModel` whose ``predict`` turns one request body into one response body. The
framework modules (and numpy, xgboost, scikit-learn) are imported only by ``load_model``, so the
registry process can call ``framework_for_image`` without the ``serving`` extra installed.
"""

from __future__ import annotations

import importlib
import pathlib
from typing import Protocol

#: the frameworks ``load_model`` knows, by the name the worker's ``--framework`` takes
FRAMEWORKS = ("xgboost", "sklearn")


class ModelInputError(Exception):
    """The request is bad (a body that does not parse, the wrong number of features, ...);
    ``str(error)`` says what is wrong, for the caller. The worker answers 400."""


class UnsupportedContentType(ModelInputError):
    """The request's content type or accept type is not one the framework supports;
    ``str(error)`` names it and the supported ones. The worker answers 415."""


class ModelLoadError(Exception):
    """The model directory lacks the file the framework expects, or the file cannot be loaded;
    ``str(error)`` says which file and why."""


class LoadedModel(Protocol):
    """A model ready to serve requests, one at a time."""

    def predict(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """Run the model on one request body; returns (response body, response content type).

        ``content_type`` and ``accept`` are the request's header values as sent (parameters such
        as ``; charset=utf-8`` allowed; empty when absent). Raises :class:`UnsupportedContentType`
        or :class:`ModelInputError` for a bad request; any other exception is a model failure."""
        ...


def framework_for_image(image: str) -> str | None:
    """``'xgboost'`` or ``'sklearn'`` for images SageMaker uses for those frameworks; None otherwise.

    The repository name decides: one containing ``sagemaker-xgboost`` or named ``xgboost`` (the
    first built-in algorithm image) is XGBoost, one containing ``sagemaker-scikit-learn`` is
    scikit-learn, whatever the registry host, tag or digest, e.g.
    ``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1`` and
    ``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3``."""
    reference = image.strip().lower().partition("@")[0]
    host, slash, path = reference.partition("/")
    if slash and ("." in host or ":" in host or host == "localhost"):
        reference = path
    repository, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        repository = reference
    if "sagemaker-xgboost" in repository or repository.rpartition("/")[2] == "xgboost":
        return "xgboost"
    if "sagemaker-scikit-learn" in repository:
        return "sklearn"
    return None


def load_model(framework: str, model_dir: pathlib.Path) -> LoadedModel:
    """Load the model of ``framework`` from the extracted ``model.tar.gz`` folder ``model_dir``.

    xgboost reads the file ``xgboost-model``, as the SageMaker XGBoost container does: a Booster
    saved with ``save_model`` (JSON, UBJSON or the legacy binary format) or a pickled Booster.
    sklearn reads ``model.joblib`` with ``joblib.load``. Raises :class:`ModelLoadError`."""
    if framework not in FRAMEWORKS:
        raise ModelLoadError(f"unknown framework {framework!r}; modelreg serves {', '.join(FRAMEWORKS)}")
    try:
        module = importlib.import_module(f"{__name__}.{framework}")
    except ImportError as error:
        raise ModelLoadError(
            f"the {framework} framework cannot be imported ({error}); install modelreg[serving]"
        ) from error
    model: LoadedModel = module.load(model_dir)
    return model
