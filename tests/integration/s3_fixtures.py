"""S3 for tests: one moto server for the session, and boto3 clients of it. Fixtures by name,
like ``store_fixtures``; ``s3_client`` and ``make_bucket`` may be imported
(``from integration.s3_fixtures import ...``)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import skip_or_fail  # the root conftest (tests/conftest.py)

# --- S3: one moto server for the session ---------------------------------------------------------

# boto3's environment in tests: moto's keys, a region, and no developer's profile or config files.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (every AWS API moto serves, S3 among them): its endpoint URL.
    Its state lives as long as the session: tests make their own buckets (``s3_bucket``)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        skip_or_fail("S3 tests need moto: pip install 'moto[server]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_server(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto's endpoint, with AWS_ENDPOINT_URL_S3 and test credentials set for this test (boto3
    clients made during it, here or in the job processes it starts, talk to moto)."""
    for name in _AWS_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL_S3": moto_server}.items():
        monkeypatch.setenv(name, value)
    return moto_server


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client of moto at ``endpoint`` (whatever the environment says)."""
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def make_bucket(endpoint: str, name: str | None = None) -> str:
    """Create a bucket on moto at ``endpoint`` (a new name unless given); its name."""
    name = name or f"adhere-test-{secrets.token_hex(6)}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A new, empty bucket on the session's moto server (with ``s3_server``'s environment)."""
    return make_bucket(s3_server)
