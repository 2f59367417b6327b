"""The Responses API bridged onto models without one, through `keyway up`
with openai-python: `mock-claude` (Anthropic's wire: Responses → chat →
messages) and `mock-compat` (an OpenAI-compatible server with chat
completions only). Text and tool round trips, stream and non-stream, the
SDK's own stream helper (which rebuilds the response from the events and
fails on a malformed sequence), refusals of what needs upstream state, and
exact billing of every bridged request."""

from __future__ import annotations

import json
import time

import openai
import pytest

from conftest import CLIENT_TIMEOUT_S, mock_reply
from test_responses_api import WEATHER, admin, new_tenant_key

BRIDGED = ["mock-claude", "mock-compat"]
PROMPT = "tell me a joke"


class Bill:
    """A fresh tenant's client, and the tokens its bridged requests reported."""

    def __init__(self, base_url: str, api_key: str):
        self.tenant, key = new_tenant_key(base_url, api_key, "responses bridge")
        self.client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)
        self.requests = {m: 0 for m in BRIDGED}
        self.input = {m: 0 for m in BRIDGED}
        self.output = {m: 0 for m in BRIDGED}

    def add(self, model: str, usage) -> None:
        assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        self.requests[model] += 1
        self.input[model] += usage.input_tokens
        self.output[model] += usage.output_tokens


@pytest.fixture(scope="module")
def bill(base_url: str, api_key: str) -> Bill:
    return Bill(base_url, api_key)


@pytest.mark.parametrize("model", BRIDGED)
def test_a_text_response_json_and_stream(bill, model):
    response = bill.client.responses.create(model=model, instructions="be brief", input=PROMPT, max_output_tokens=64)
    bill.add(model, response.usage)
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text == mock_reply(PROMPT)
    assert response.instructions == "be brief" and response.max_output_tokens == 64

    with bill.client.responses.stream(model=model, input=[{"role": "user", "content": PROMPT}]) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    bill.add(model, final.usage)
    assert final.output_text == mock_reply(PROMPT)
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert "response.output_text.delta" in types


@pytest.mark.parametrize("model", BRIDGED)
def test_a_function_call_round_trip_json_and_stream(bill, model):
    first = bill.client.responses.create(model=model, input="weather in Paris?", tools=[WEATHER])
    bill.add(model, first.usage)
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)

    follow_up = [
        {"role": "user", "content": "weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = bill.client.responses.create(model=model, input=follow_up, tools=[WEATHER])
    bill.add(model, second.usage)
    assert second.output_text.startswith("Hello from mock-llm!")
    assert not [item for item in second.output if item.type == "function_call"]

    with bill.client.responses.stream(model=model, input="weather in Rome?", tools=[WEATHER]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    bill.add(model, final.usage)
    (streamed,) = [item for item in final.output if item.type == "function_call"]
    assert "".join(deltas) == streamed.arguments and streamed.name == "get_weather"
    assert streamed.call_id and streamed.status == "completed"


def test_what_needs_upstream_state_is_refused_in_the_openai_shape(bill):
    with pytest.raises(openai.BadRequestError) as refused:
        bill.client.responses.create(model="mock-claude", input=PROMPT, previous_response_id="resp_123")
    error = refused.value.response.json()["error"]
    assert error["keyway_code"] == "KW-TRANSLATE-001"
    assert "previous_response_id" in error["message"]


def test_a_bridged_response_is_not_stored_and_its_tokens_are_counted_here(bill):
    response = bill.client.responses.create(model="mock-claude", input=PROMPT)
    bill.add("mock-claude", response.usage)
    with pytest.raises(openai.NotFoundError):
        bill.client.responses.retrieve(response.id)
    raw = bill.client.responses.input_tokens.with_raw_response.count(model="mock-claude", input=PROMPT)
    assert raw.headers["x-keyway-counted"] == "local"
    assert raw.parse().input_tokens > 0


# --- billing (runs last in this module: pytest keeps file order) -------------


def test_every_bridged_request_is_billed_as_the_client_was_told(base_url, api_key, bill):
    path = f"/usage/summary?tenant_id={bill.tenant}&group_by=model"
    # The local count is a request of mock-claude's too, with no tokens.
    want = {m: n + (1 if m == "mock-claude" else 0) for m, n in bill.requests.items()}
    deadline = time.monotonic() + 60
    rows = {}
    while time.monotonic() < deadline:
        rows = {row["key"]: row for row in admin(base_url, api_key, "GET", path)["rows"]}
        if all(rows.get(m, {}).get("requests", 0) >= n for m, n in want.items()):
            break
        time.sleep(0.2)
    for model in BRIDGED:
        row = rows[model]
        assert row["requests"] == want[model], (model, row)
        assert (row["input_tokens"], row["output_tokens"]) == (bill.input[model], bill.output[model]), (model, row)
        assert row["estimated_requests"] == 0

    # The export holds a row back while any transaction older than it is
    # still open on the server (its cursor rule, docs/billing.md), and
    # parallel tests keep such transactions open: wait for it as for the view.
    want_wires = {("mock-claude", "openai", "anthropic"), ("mock-compat", "openai", "openai")}
    wires = set()
    while True:
        events = admin(base_url, api_key, "GET", f"/usage/events?tenant_id={bill.tenant}&limit=1000")["events"]
        # The refused request (previous_response_id) never reached a model.
        wires = {(e["data"]["model"], e["data"]["client_wire"], e["data"]["upstream_wire"]) for e in events if e["data"]["model"]}
        if wires == want_wires or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    assert wires == want_wires
