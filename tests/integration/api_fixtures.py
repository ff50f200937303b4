"""A real `adhere serve` (loop and Glue's API in one process, as `adhere serve` hosts them) on
a free port, and boto3 clients for it. Fixtures by name, like ``store_fixtures``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator import settings as settings_module
from orchestrator import store
from orchestrator.service import open_store, orchestration
from orchestrator.settings import Settings

BACKENDS = ("sqlite", "postgres")
DEADLINE = 60.0


@dataclass
class Served:
    """A running server: its URL, store, settings and a folder for scripts."""

    url: str
    db: store.Store
    settings: Settings
    folder: Path

    def client(self, service: str = "glue", **options: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=options.pop("key_id", "test"),
                            aws_secret_access_key=options.pop("secret", "test"),
                            config=Config(retries={"max_attempts": 1}, **options))

    def script(self, name: str, body: str) -> str:
        path = self.folder / name
        path.write_text(body)
        return str(path)


def serve(db_url: str, folder: Path, **overrides: Any) -> Iterator[Served]:
    config = settings_module.load({"home": folder / ".adhere", "db_url": db_url, "port": 0,
                                   "poll_interval": 0.05, "kill_grace": 1.0, **overrides}, environ={})
    db = open_store(config)
    try:
        with orchestration.host(db, config, serving=True) as hosted:
            yield Served(f"http://127.0.0.1:{hosted.port}", db, config, folder)
    finally:
        db.close()


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           fresh_db_url: Callable[..., Any]) -> Iterator[Served]:
    """One server per module and backend; tests use names of their own."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    with fresh_db_url(request.param, folder) as url:
        yield from serve(url, folder)


def wait_for(check: Callable[[], Any], timeout: float = DEADLINE, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(every)
