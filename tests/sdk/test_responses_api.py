"""The Responses API, token counts and legacy completions through `keyway up`
with the official SDKs, on a fresh tenant of their own; then the tenant's
usage summary must hold exactly the tokens the mock reported (reasoning,
cache reads and cache writes included), and the cost those tokens come to
at the dev catalog's prices."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict

import anthropic
import openai
import pytest

from conftest import CLIENT_TIMEOUT_S, mock_reply, words

PROMPT = "tell me a joke"
INSTRUCTIONS = "be brief"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

# What the mock reported, per model, summed as the gateway must bill it
# (Keyway's input includes cache reads and writes; output includes reasoning).
REPORTED: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
# Micro-units per million tokens: input, cached, 5-min write, 1-h write, output.
PRICES = {
    "mock-gpt": (150_000, 75_000, 187_500, 300_000, 600_000),
    "mock-claude": (3_000_000, 300_000, 3_750_000, 6_000_000, 15_000_000),
    "mock-instruct": (1_500_000, 750_000, 1_875_000, 3_000_000, 2_000_000),
}


def record(model: str, *, input=0, output=0, cached=0, reasoning=0, write=0, write_1h=0, requests=1):
    r = REPORTED[model]
    r["requests"] += requests
    r["input_tokens"] += input
    r["output_tokens"] += output
    r["cached_tokens"] += cached
    r["reasoning_tokens"] += reasoning
    r["cache_write_tokens"] += write
    r["cache_write_1h_tokens"] += write_1h
    p = PRICES[model]
    scaled = (
        (input - cached - write) * p[0] + cached * p[1] + (write - write_1h) * p[2] + write_1h * p[3] + output * p[4]
    )
    # Rounded half up once per event, as the gateway does.
    r["cost_micros"] += (scaled + 500_000) // 1_000_000


def record_responses(model: str, usage, *, requests=1):
    record(
        model,
        input=usage.input_tokens,
        output=usage.output_tokens,
        cached=usage.input_tokens_details.cached_tokens,
        reasoning=usage.output_tokens_details.reasoning_tokens,
        requests=requests,
    )


def admin(base_url: str, api_key: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base_url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as response:
        return json.load(response)


def new_tenant_key(base_url: str, api_key: str, name: str) -> tuple[str, str]:
    tenant = admin(base_url, api_key, "POST", "/tenants", {"name": name, "plan": "starter"})
    key = admin(base_url, api_key, "POST", f"/tenants/{tenant['id']}/api-keys", {"name": name})
    return tenant["id"], key["key"]


@pytest.fixture(scope="module")
def tenant(base_url, api_key):
    return new_tenant_key(base_url, api_key, "responses sdk")


@pytest.fixture(scope="module")
def client(base_url, tenant):
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=tenant[1], max_retries=0, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="module")
def other_client(base_url, api_key):
    _, key = new_tenant_key(base_url, api_key, "responses sdk other")
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture(scope="module")
def claude_client(base_url, tenant):
    return anthropic.Anthropic(base_url=base_url, api_key=tenant[1], max_retries=0, timeout=CLIENT_TIMEOUT_S)


def test_a_text_response_is_created_retrieved_and_hidden_from_other_tenants(client, other_client):
    response = client.responses.create(
        model="mock-gpt",
        instructions=INSTRUCTIONS,
        input=PROMPT,
        extra_body={"mock": {"reasoning_tokens": 3, "cached_tokens": 2}},
    )
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == mock_reply(PROMPT)
    assert response.usage.input_tokens == words(INSTRUCTIONS, PROMPT)
    assert response.usage.input_tokens_details.cached_tokens == 2
    assert response.usage.output_tokens_details.reasoning_tokens == 3
    assert response.usage.output_tokens == words(mock_reply(PROMPT)) + 3
    record_responses("mock-gpt", response.usage)

    again = client.responses.retrieve(response.id)
    record("mock-gpt")
    assert again.id == response.id and again.output_text == response.output_text

    with pytest.raises(openai.NotFoundError) as refused:
        other_client.responses.retrieve(response.id)
    assert refused.value.response.json()["error"]["keyway_code"] == "KW-RESP-001"
    with pytest.raises(openai.NotFoundError):
        other_client.responses.delete(response.id)


def test_a_streamed_text_response_is_parsed_by_the_sdk_and_retrievable(client):
    with client.responses.stream(model="mock-gpt", input=PROMPT) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == mock_reply(PROMPT) == final.output_text
    record_responses("mock-gpt", final.usage)

    again = client.responses.retrieve(final.id)
    record("mock-gpt")
    assert again.output_text == final.output_text


def test_a_function_call_round_trip_json_and_stream(client):
    first = client.responses.create(model="mock-gpt", input="weather in Paris?", tools=[WEATHER])
    record_responses("mock-gpt", first.usage)
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "mock"}

    follow_up = [
        {"role": "user", "content": "weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = client.responses.create(model="mock-gpt", input=follow_up, tools=[WEATHER])
    record_responses("mock-gpt", second.usage)
    assert second.output_text == mock_reply("weather in Paris?")

    with client.responses.stream(model="mock-gpt", input="weather in Rome?", tools=[WEATHER]) as stream:
        argument_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    record_responses("mock-gpt", final.usage)
    (streamed_call,) = [item for item in final.output if item.type == "function_call"]
    assert "".join(argument_deltas) == streamed_call.arguments == call.arguments
    assert client.responses.retrieve(final.id).output[0].call_id == streamed_call.call_id
    record("mock-gpt")


def test_input_items_delete_and_input_tokens(client):
    response = client.responses.create(model="mock-gpt", input=PROMPT)
    record_responses("mock-gpt", response.usage)
    items = client.responses.input_items.list(response.id)
    record("mock-gpt")
    assert [i.type for i in items.data] == ["message"]
    deleted = client.responses.delete(response.id)
    record("mock-gpt")
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    record("mock-gpt")

    counted = client.responses.input_tokens.count(model="mock-gpt", input=PROMPT, instructions=INSTRUCTIONS)
    record("mock-gpt")
    assert counted.input_tokens == words(INSTRUCTIONS, PROMPT)


def test_a_stream_cut_short_is_estimated_and_flagged(client):
    """The client hangs up after the first delta: the upstream's usage
    never arrives, so the gateway estimates it and flags the event."""
    stream = client.responses.create(
        model="mock-gpt", input=PROMPT, stream=True, extra_body={"mock": {"chunk_delay_ms": 300}}
    )
    for event in stream:
        if event.type == "response.output_text.delta":
            break
    stream.close()
    REPORTED["mock-gpt"]["requests"] += 1
    REPORTED["mock-gpt"]["estimated"] += 1


def test_anthropic_cache_writes_and_server_tools_are_reported(claude_client):
    extra = {"mock": {"cached_tokens": 2, "cache_write_tokens": 5, "cache_write_1h_tokens": 3, "web_search_requests": 2}}
    message = claude_client.messages.create(
        model="mock-claude", max_tokens=64, messages=[{"role": "user", "content": PROMPT}], extra_body=extra
    )
    u = message.usage
    assert (u.cache_read_input_tokens, u.cache_creation_input_tokens) == (2, 8)
    assert u.cache_creation.ephemeral_1h_input_tokens == 3
    assert u.server_tool_use.web_search_requests == 2
    total_input = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    record("mock-claude", input=total_input, output=u.output_tokens, cached=2, write=8, write_1h=3)
    REPORTED["mock-claude"]["web_search_requests"] += 2

    with claude_client.messages.stream(
        model="mock-claude", max_tokens=64, messages=[{"role": "user", "content": PROMPT}], extra_body=extra
    ) as stream:
        final = stream.get_final_message()
    f = final.usage
    record("mock-claude", input=f.input_tokens + 2 + 8, output=f.output_tokens, cached=2, write=8, write_1h=3)
    REPORTED["mock-claude"]["web_search_requests"] += 2

    counted = claude_client.messages.count_tokens(model="mock-claude", messages=[{"role": "user", "content": PROMPT}])
    record("mock-claude")
    assert counted.input_tokens == words(PROMPT)


def test_legacy_completions_json_and_stream(client):
    completion = client.completions.create(model="mock-instruct", prompt="say this")
    assert completion.choices[0].text == mock_reply("say this")
    record("mock-instruct", input=completion.usage.prompt_tokens, output=completion.usage.completion_tokens)
    chunks = list(client.completions.create(model="mock-instruct", prompt="say this", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == mock_reply("say this")
    # Keyway asked for the usage chunk itself and removed it.
    assert all(c.usage is None for c in chunks)
    record("mock-instruct", input=2, output=words(mock_reply("say this")))


def test_the_usage_summary_holds_exactly_what_the_mock_reported(base_url, api_key, tenant):
    expected = {model: dict(sums) for model, sums in REPORTED.items()}
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
        estimated = sums.pop("estimated", 0)
        assert row["estimated_requests"] == estimated, (model, row)
        assert row["disconnects"] == estimated, (model, row)
        if estimated:
            # The cut stream's tokens are estimates: compare the rest only.
            for field in ("input_tokens", "output_tokens", "cost_micros"):
                assert row[field] >= sums[field], (model, field, row, sums)
                sums.pop(field)
        for field, value in sums.items():
            assert row[field] == value, (model, field, row[field], value)
