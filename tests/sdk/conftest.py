"""Shared fixtures for the real-client tests: the official `openai` and
`anthropic` Python SDKs talking to a running `keyway up`.

The stack is started by the caller (the Rust e2e test, or a developer by
hand); these tests only need where it listens and a key it accepts:

    KEYWAY_BASE_URL=http://127.0.0.1:PORT   (no trailing /v1)
    KEYWAY_API_KEY=<a key the gateway accepts, e.g. the admin key>

Both are required: a missing one is a usage error, never a skip, so a
misconfigured run cannot pass by testing nothing.
"""

from __future__ import annotations

import os

import json
import urllib.request

import anthropic
import openai
import pytest

# The in-process mock appends this when it checks the upstream key
# (KEYWAY_MOCK_REQUIRE_AUTH=true); seeing it proves the gateway sent the
# dev catalog's system key upstream.
SYSTEM_IDENTITY = "keyway-system"

# Generous for a debug build on a busy CI machine, far below the mock's
# injected 300 s hang.
CLIENT_TIMEOUT_S = 30.0

REQUIRED_ENV = ("KEYWAY_BASE_URL", "KEYWAY_API_KEY")


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            "tests/sdk need a running `keyway up`: set "
            + " and ".join(missing)
            + " (e.g. KEYWAY_BASE_URL=http://127.0.0.1:8080 KEYWAY_API_KEY=<admin key>)"
        )


def mock_reply(user_text: str) -> str:
    """The mock's deterministic answer to the last user message."""
    return f"Hello from mock-llm! You said: {user_text} [Authenticated as {SYSTEM_IDENTITY}]"


def words(*texts: str) -> int:
    """Mock token count: whitespace-separated words."""
    return sum(len(t.split()) for t in texts)


@pytest.fixture(scope="session")
def base_url() -> str:
    return os.environ["KEYWAY_BASE_URL"].rstrip("/")


@pytest.fixture(scope="session")
def api_key() -> str:
    return os.environ["KEYWAY_API_KEY"]


@pytest.fixture(scope="session")
def oai(base_url: str, api_key: str) -> openai.OpenAI:
    """OpenAI client; no retries so injected errors surface on the first try."""
    return openai.OpenAI(
        base_url=f"{base_url}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def oai_bad_key(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{base_url}/v1",
        api_key="kw-not-a-real-key-0000000000000000",
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def claude(base_url: str, api_key: str) -> anthropic.Anthropic:
    """Anthropic client; the SDK appends /v1/messages itself."""
    return anthropic.Anthropic(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def claude_bad_key(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=base_url,
        api_key="kw-not-a-real-key-0000000000000000",
        max_retries=0,
        timeout=CLIENT_TIMEOUT_S,
    )


@pytest.fixture
def one_request_a_minute_key(base_url: str, api_key: str) -> str:
    """A fresh tenant's API key limited to one request per minute (created
    with the admin key, which KEYWAY_API_KEY is in the e2e run)."""

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(
            f"{base_url}/api/v1{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as response:
            assert response.status == 201, response.status
            return json.load(response)

    tenant = post("/tenants", {"name": "sdk limits", "plan": "starter"})
    key = post(
        f"/tenants/{tenant['id']}/api-keys",
        {"name": "one a minute", "limits": {"requests_per_minute": 1}},
    )
    return key["key"]
