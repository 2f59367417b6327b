"""Azure-, Bedrock- and Gemini-shaped models through `keyway up` with the
official SDKs, stream and non-stream, on a fresh tenant; then the tenant's
usage summary must hold exactly the tokens the mock reported and the cost
they come to at the test catalog's prices.

Not collected with the rest of tests/sdk (its name does not start with
`test_`): it needs the catalog `tests/e2e/providers.rs` writes, whose models
point at the mock's Azure, Bedrock and Gemini routes. The mock checks each
shape — Azure's `api-key` and `api-version`, Gemini's bearer token, and for
Bedrock the SigV4 signature (recomputed), the event-stream framing and
Converse's body for a non-Anthropic model — so a
wrong header or signature fails these tests rather than passing unseen."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict

import anthropic
import openai
import pytest

from conftest import CLIENT_TIMEOUT_S, mock_reply, words

# Micro-units per million tokens: input, cached input, output (the catalog's).
PRICES = {
    "azure-gpt": (2_500_000, 1_250_000, 10_000_000),
    "azure-gpt-v1": (150_000, 75_000, 600_000),
    "bedrock-claude": (800_000, 80_000, 4_000_000),
    "bedrock-llama": (720_000, 0, 720_000),
    "gemini-flash": (300_000, 75_000, 2_500_000),
}
REPORTED: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def record(model: str, *, input: int, output: int, cached: int = 0) -> None:
    r = REPORTED[model]
    r["requests"] += 1
    r["input_tokens"] += input
    r["output_tokens"] += output
    r["cached_tokens"] += cached
    p = PRICES[model]
    scaled = (input - cached) * p[0] + cached * p[1] + output * p[2]
    r["cost_micros"] += (scaled + 500_000) // 1_000_000


def admin(base_url: str, api_key: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base_url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def tenant(base_url: str, api_key: str) -> tuple[str, str]:
    t = admin(base_url, api_key, "POST", "/tenants", {"name": "sdk providers", "plan": "starter"})
    key = admin(base_url, api_key, "POST", f"/tenants/{t['id']}/api-keys", {"name": "providers"})["key"]
    return t["id"], key


# The tenant's own clients: everything they send is billed to it and
# checked at the end. The refusals below use conftest's admin-key clients,
# so they do not count on this tenant's bill.
@pytest.fixture(scope="module")
def t_oai(base_url: str, tenant) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=tenant[1], max_retries=0, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="module")
def t_claude(base_url: str, tenant) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=tenant[1], max_retries=0, timeout=CLIENT_TIMEOUT_S)


def said(text: str) -> str:
    return mock_reply(text).replace(" [Authenticated as keyway-system]", "")


@pytest.mark.parametrize("model", ["azure-gpt", "azure-gpt-v1", "gemini-flash"])
def test_openai_shaped_providers_answer_the_openai_sdk(t_oai, model):
    cached = 2 if model == "gemini-flash" else 0
    extra = {"mock": {"cached_tokens": cached}} if cached else None
    reply = t_oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello there provider"}], extra_body=extra
    )
    assert reply.choices[0].message.content.startswith(said("hello there provider"))
    assert reply.usage.prompt_tokens == 3
    assert (reply.usage.prompt_tokens_details.cached_tokens or 0) == cached
    record(model, input=reply.usage.prompt_tokens, output=reply.usage.completion_tokens, cached=cached)


@pytest.mark.parametrize("model", ["azure-gpt", "azure-gpt-v1", "gemini-flash"])
def test_openai_shaped_providers_stream_to_the_openai_sdk(t_oai, model):
    cached = 1 if model == "gemini-flash" else 0
    extra = {"mock": {"cached_tokens": cached}} if cached else None
    stream = t_oai.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "stream me four words"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body=extra,
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text.startswith(said("stream me four words"))
    assert usage is not None and usage.completion_tokens == words(text)
    assert (usage.prompt_tokens_details.cached_tokens or 0) == cached
    record(model, input=usage.prompt_tokens, output=usage.completion_tokens, cached=cached)


def test_bedrock_answers_the_anthropic_sdk(t_claude):
    message = t_claude.messages.create(
        model="bedrock-claude", max_tokens=64, messages=[{"role": "user", "content": "hello bedrock"}]
    )
    assert message.content[0].text.startswith(said("hello bedrock"))
    assert message.usage.input_tokens == 2
    record("bedrock-claude", input=message.usage.input_tokens, output=message.usage.output_tokens)


def test_bedrock_streams_its_event_stream_as_anthropic_sse(t_claude):
    with t_claude.messages.stream(
        model="bedrock-claude", max_tokens=64, messages=[{"role": "user", "content": "stream from bedrock"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith(said("stream from bedrock"))
    assert final.usage.output_tokens == words(text)
    assert final.stop_reason == "end_turn"
    record("bedrock-claude", input=final.usage.input_tokens, output=final.usage.output_tokens)


def test_bedrock_serves_the_openai_sdk_through_translation(t_oai):
    stream = t_oai.chat.completions.create(
        model="bedrock-claude",
        messages=[{"role": "user", "content": "translate my stream"}],
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=64,
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text.startswith(said("translate my stream"))
    assert usage is not None
    record("bedrock-claude", input=usage.prompt_tokens, output=usage.completion_tokens)


def test_bedrock_converse_answers_the_openai_sdk(t_oai):
    reply = t_oai.chat.completions.create(
        model="bedrock-llama", messages=[{"role": "user", "content": "hello converse"}], max_tokens=64
    )
    assert reply.choices[0].message.content.startswith(said("hello converse"))
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 2
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    record("bedrock-llama", input=reply.usage.prompt_tokens, output=reply.usage.completion_tokens)


def test_bedrock_converse_streams_to_the_openai_sdk(t_oai):
    stream = t_oai.chat.completions.create(
        model="bedrock-llama",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "stream converse words"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text.startswith(said("stream converse words"))
    assert finish == "stop"
    assert usage is not None and usage.prompt_tokens == 5 and usage.completion_tokens == words(text)
    record("bedrock-llama", input=usage.prompt_tokens, output=usage.completion_tokens)


def test_bedrock_converse_serves_the_anthropic_sdk_through_translation(t_claude):
    message = t_claude.messages.create(
        model="bedrock-llama", max_tokens=64, messages=[{"role": "user", "content": "translated converse"}]
    )
    assert message.content[0].text.startswith(said("translated converse"))
    assert message.usage.input_tokens == 2
    record("bedrock-llama", input=message.usage.input_tokens, output=message.usage.output_tokens)


def test_bedrock_converse_streams_to_the_anthropic_sdk_through_translation(t_claude):
    # ConverseStream -> OpenAI chunks -> Anthropic SSE: two translations, and
    # the SDK's own stream helper must still build the whole message.
    with t_claude.messages.stream(
        model="bedrock-llama", max_tokens=64, messages=[{"role": "user", "content": "stream translated converse"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith(said("stream translated converse"))
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 3 and final.usage.output_tokens == words(text)
    record("bedrock-llama", input=final.usage.input_tokens, output=final.usage.output_tokens)


def test_a_wrong_bedrock_signature_is_bedrocks_403_passed_through(claude):
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        claude.messages.create(model="bedrock-bad-key", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert "signature" in str(refused.value).lower()


def test_an_azure_content_filter_refusal_is_a_clear_400(oai):
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(
            model="azure-gpt", messages=[{"role": "user", "content": "please [azure-content-filter] this"}]
        )
    error = refused.value.body
    assert error["code"] == "content_filter" and error["keyway_code"] == "KW-UP-005", error
    assert "violence" in error["message"]


# --- billing (runs last in this module: pytest keeps file order) -------------


def test_the_usage_summary_holds_exactly_what_the_mock_reported(base_url, api_key, tenant):
    expected = {model: dict(sums) for model, sums in REPORTED.items()}
    assert set(expected) == set(PRICES)
    deadline = time.monotonic() + 60
    while True:
        summary = admin(base_url, api_key, "GET", f"/usage/summary?group_by=model&tenant_id={tenant[0]}")
        rows = {row["key"]: row for row in summary["rows"]}
        requests = {m: rows.get(m, {}).get("requests") for m in expected}
        if requests == {m: e["requests"] for m, e in expected.items()} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for model, sums in expected.items():
        row = rows[model]
        for field, value in sums.items():
            assert row[field] == value, (model, field, row[field], value)
