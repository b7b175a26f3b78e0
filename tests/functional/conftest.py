"""The offline stack, started once per test module, on free ports bound to 127.0.0.1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devstack.client import ApiClient
from tests.stacks import running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devstack.stack import LocalStack

STACK_KEY = "functional-test-key"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    data_dir = tmp_path_factory.mktemp("stack")
    with running_stack(data_dir, key=STACK_KEY, workers=4, env={"INGEST_CHUNK_ROWS": "4"}) as local:
        yield local


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> ApiClient:
    return ApiClient(stack.api_url, STACK_KEY)


@pytest.fixture
def write(tmp_path: Path) -> object:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode())
        return path

    return _write
