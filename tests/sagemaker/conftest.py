"""Models trained once per test session for the endpoint tests, and a runtime client."""

from __future__ import annotations

import pytest

from tests.conftest import client
from tests.sagemaker.trained_models import Trained, train_sklearn, train_xgboost
from tests.server import Server


@pytest.fixture
def runtime(server: Server):
    """A sagemaker-runtime client of the shared server."""
    return client(server.url, "sagemaker-runtime")


@pytest.fixture(scope="session")
def xgb_v1(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_xgboost(tmp_path_factory.mktemp("xgb-v1"), seed=0)


@pytest.fixture(scope="session")
def xgb_v2(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_xgboost(tmp_path_factory.mktemp("xgb-v2"), seed=7)


@pytest.fixture(scope="session")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    return train_sklearn(tmp_path_factory.mktemp("sklearn"))
