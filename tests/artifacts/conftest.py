"""A moto S3 server for the artifact store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.artifacts.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()
