"""Session-wide test setup: a clean environment, and what a missing service means (STYLE 13).

Locally a test that needs an absent service (PostgreSQL, Java, moto) is skipped with a reason;
with ``ADHERE_REQUIRE_SERVICES=1`` (set by ``.ci/run``) it fails, so CI cannot pass by
skipping. The store fixtures (``db``, ``db_url``, ``settings``, ...) come from the plugin
``tests/integration/store_fixtures.py``. S3 is a moto server for the session (pyiceberg's
conftest): ``moto_server`` (its endpoint), ``s3_server`` (the same, with boto3's environment
pointing S3 at it for the test and the job processes it starts), ``s3_bucket`` (a new bucket),
and ``s3_client(endpoint)`` / ``make_bucket(endpoint)`` for code outside a fixture.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# Test switches, not settings: kept in the environment (some test modules read them at import).
KEPT = ("ADHERE_REQUIRE_SERVICES", "ADHERE_TEST_POSTGRES_URL")
REQUIRE_SERVICES = os.environ.get("ADHERE_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("ADHERE_TEST_POSTGRES_URL") or None


def _clean_environment() -> None:
    """Drop every other ``ADHERE_*`` variable: a developer's ADHERE_DB_URL must not reach a test."""
    for name in [n for n in os.environ if n.startswith("ADHERE_") and n not in KEPT]:
        del os.environ[name]


# At import, so before collection imports any test module or settings are read.
_clean_environment()

pytest_plugins = ["integration.store_fixtures", "integration.api_fixtures", "integration.s3_fixtures"]


def require_services() -> bool:
    """True under ``ADHERE_REQUIRE_SERVICES=1``: missing services fail tests instead of skipping."""
    return REQUIRE_SERVICES


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test for ``reason``, or fail it when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ADHERE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)
