"""The official SDKs across wires, through Keyway's translation:
openai-python's chat completions served by `mock-claude` (an Anthropic-wire
model) and anthropic-python's messages served by `mock-gpt` (an OpenAI-wire
model). Tool round trips (parallel calls included), stream and non-stream,
the SDKs' own stream helpers, refusals and dropped parameters in the
client's shape, and exact billing of every translated request.

The mock calls every offered tool when the last turn is the user's, with
each string property set to the user's text, and answers tool results with
"Hello from mock-llm! You said: <results>"; a call's output tokens are the
words of its name and arguments."""

from __future__ import annotations

import json
import time
import urllib.request

import anthropic
import openai
import pytest

from conftest import CLIENT_TIMEOUT_S, mock_reply

CITY = "Paris"
WEATHER = "sunny and warm"
OAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
    },
]
ANT_TOOLS = [
    {"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in OAI_TOOLS
]
# One word for each name and each argument object, two calls.
CALL_OUTPUT_TOKENS = 4


def admin_call(base_url: str, api_key: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base_url}/api/v1{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as response:
        return json.load(response)


class Ledger:
    """A fresh tenant's clients, and the tokens its translated requests reported."""

    def __init__(self, base_url: str, admin_key: str):
        self.base_url, self.admin_key = base_url, admin_key
        tenant = admin_call(base_url, admin_key, "POST", "/tenants", {"name": "sdk translation", "plan": "starter"})
        self.tenant = tenant["id"]
        key = admin_call(base_url, admin_key, "POST", f"/tenants/{self.tenant}/api-keys", {"name": "translation"})["key"]
        self.oai = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)
        self.claude = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)
        self.requests = 0
        self.input = 0
        self.output = 0
        self.seen: list[tuple[int, int]] = []

    def openai_usage(self, usage) -> None:
        assert usage is not None
        self.count(usage.prompt_tokens, usage.completion_tokens)

    def anthropic_usage(self, usage) -> None:
        # Anthropic's input excludes cache reads; Keyway's includes them.
        self.count(usage.input_tokens + (usage.cache_read_input_tokens or 0), usage.output_tokens)

    def count(self, input_tokens: int, output_tokens: int) -> None:
        self.requests += 1
        self.input += input_tokens
        self.output += output_tokens
        self.seen.append((input_tokens, output_tokens))


def event_summary(event: dict) -> tuple:
    data = event["data"]
    return tuple(
        data.get(k)
        for k in ("model", "input_tokens", "output_tokens", "status", "streamed", "estimated", "client_disconnected")
    )


@pytest.fixture(scope="module")
def ledger(base_url: str, api_key: str) -> Ledger:
    return Ledger(base_url, api_key)


def assert_two_weather_calls(calls: list, city: str = CITY) -> None:
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert calls[0]["arguments"] == {"city": city}
    assert calls[1]["arguments"] == {"zone": city}
    assert len({c["id"] for c in calls}) == 2


# --- openai-python → mock-claude ---------------------------------------------


def test_openai_chat_runs_a_parallel_tool_round_trip_on_an_anthropic_model(ledger):
    messages = [{"role": "user", "content": CITY}]
    first = ledger.oai.chat.completions.create(model="mock-claude", messages=messages, tools=OAI_TOOLS)
    ledger.openai_usage(first.usage)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert_two_weather_calls(
        [{"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in calls]
    )
    assert first.usage.completion_tokens == CALL_OUTPUT_TOKENS

    messages.append(choice.message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": calls[0].id, "content": WEATHER},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "noon"},
    ]
    second = ledger.oai.chat.completions.create(model="mock-claude", messages=messages, tools=OAI_TOOLS)
    ledger.openai_usage(second.usage)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == mock_reply(f"{WEATHER} noon")
    assert second.usage.completion_tokens == len(mock_reply(f"{WEATHER} noon").split())


def test_openai_stream_deltas_accumulate_into_the_tool_calls_and_end_with_done(ledger):
    stream = ledger.oai.chat.completions.create(
        model="mock-claude",
        messages=[{"role": "user", "content": CITY}],
        tools=OAI_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict] = {}
    finish, usage = None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert_two_weather_calls([{**c, "arguments": json.loads(c["arguments"])} for _, c in sorted(calls.items())])
    ledger.openai_usage(usage)
    assert usage.completion_tokens == CALL_OUTPUT_TOKENS


def test_the_openai_stream_helper_parses_a_translated_answer_to_tool_results(ledger):
    messages = [
        {"role": "user", "content": CITY},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": WEATHER},
    ]
    with ledger.oai.chat.completions.stream(
        model="mock-claude", messages=messages, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == mock_reply(WEATHER)
    assert final.choices[0].finish_reason == "stop"
    ledger.openai_usage(final.usage)


def test_the_openai_stream_helper_parses_strict_tool_calls_on_a_model_that_drops_strict(ledger):
    # The helper only accepts strict tools; Anthropic tools have no strict
    # mode, so a model with drop_unsupported drops it (and says so).
    strict = [{**t, "function": {**t["function"], "strict": True}} for t in OAI_TOOLS]
    with ledger.oai.chat.completions.stream(
        model="mock-claude-lenient",
        messages=[{"role": "user", "content": CITY}],
        tools=strict,
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.parsed_arguments for c in choice.message.tool_calls] == [{"city": CITY}, {"zone": CITY}]
    ledger.openai_usage(final.usage)


# --- anthropic-python → mock-gpt ---------------------------------------------


def tool_uses(message) -> list:
    return [{"id": b.id, "name": b.name, "arguments": b.input} for b in message.content if b.type == "tool_use"]


def test_anthropic_messages_run_a_parallel_tool_round_trip_on_an_openai_model(ledger):
    messages = [{"role": "user", "content": CITY}]
    first = ledger.claude.messages.create(model="mock-gpt", max_tokens=256, messages=messages, tools=ANT_TOOLS)
    ledger.anthropic_usage(first.usage)
    assert first.stop_reason == "tool_use"
    assert_two_weather_calls(tool_uses(first))
    assert first.usage.output_tokens == CALL_OUTPUT_TOKENS

    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    calls = tool_uses(first)
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": calls[0]["id"], "content": WEATHER},
                {"type": "tool_result", "tool_use_id": calls[1]["id"], "content": "noon"},
            ],
        }
    )
    second = ledger.claude.messages.create(model="mock-gpt", max_tokens=256, messages=messages, tools=ANT_TOOLS)
    ledger.anthropic_usage(second.usage)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == mock_reply(f"{WEATHER} noon")


def test_the_anthropic_stream_helper_builds_the_final_message_with_tool_use(ledger):
    with ledger.claude.messages.stream(
        model="mock-gpt", max_tokens=256, messages=[{"role": "user", "content": CITY}], tools=ANT_TOOLS
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "input_json" in kinds, kinds
    assert final.stop_reason == "tool_use"
    assert_two_weather_calls(tool_uses(final))
    assert final.usage.output_tokens == CALL_OUTPUT_TOKENS
    assert final.usage.input_tokens == 1
    ledger.anthropic_usage(final.usage)


def test_the_anthropic_stream_helper_joins_the_translated_text(ledger):
    with ledger.claude.messages.stream(
        model="mock-gpt", max_tokens=256, system="Be brief.", messages=[{"role": "user", "content": "hello there"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text == mock_reply("hello there")
    assert final.stop_reason == "end_turn"
    ledger.anthropic_usage(final.usage)


# --- what does not map --------------------------------------------------------


def test_a_parameter_that_does_not_map_is_a_400_in_the_openai_shape(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="mock-claude", messages=[{"role": "user", "content": "x"}], n=2)
    error = info.value.response.json()["error"]
    assert error["param"] == "n"
    assert error["keyway_code"] == "KW-TRANSLATE-001"
    assert "`n`" in error["message"]


def test_a_parameter_that_does_not_map_is_a_400_in_the_anthropic_shape(claude):
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(
            model="mock-gpt",
            max_tokens=2048,
            messages=[{"role": "user", "content": "x"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    body = info.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["keyway_code"] == "KW-TRANSLATE-001"
    assert "`thinking`" in body["error"]["message"]


def test_a_model_that_drops_unsupported_parameters_lists_them_in_a_header(oai):
    raw = oai.chat.completions.with_raw_response.create(
        model="mock-claude-lenient",
        messages=[{"role": "user", "content": "hi"}],
        seed=7,
        logprobs=True,
    )
    assert raw.headers["x-keyway-dropped-params"] == "logprobs, seed"
    assert raw.parse().choices[0].message.content == mock_reply("hi")


def test_a_model_narrowed_to_its_own_wire_points_to_its_route(claude):
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="mock-gpt-byok", max_tokens=16, messages=[{"role": "user", "content": "x"}])
    error = info.value.response.json()["error"]
    assert error["keyway_code"] == "KW-MODEL-002"
    assert "/v1/chat/completions" in error["message"]


# --- billing (runs last in this module: pytest keeps file order) -------------


def test_every_translated_request_is_billed_as_the_mock_reported_with_both_wires(ledger):
    assert ledger.requests >= 8
    path = f"/usage/summary?tenant_id={ledger.tenant}&group_by=model"
    # Generous: on a loaded CI machine the projector may fold late, never wrongly.
    deadline = time.monotonic() + 120
    summary = admin_call(ledger.base_url, ledger.admin_key, "GET", path)
    while summary["totals"]["requests"] < ledger.requests and time.monotonic() < deadline:
        time.sleep(0.2)
        summary = admin_call(ledger.base_url, ledger.admin_key, "GET", path)
    totals = summary["totals"]
    # The export holds a row back while any transaction older than it is
    # still open on the server (its cursor rule), and parallel tests keep
    # such transactions open: wait for it as for the views.
    events_path = f"/usage/events?tenant_id={ledger.tenant}&limit=1000"
    events = admin_call(ledger.base_url, ledger.admin_key, "GET", events_path)
    while len(events["events"]) < ledger.requests and time.monotonic() < deadline:
        time.sleep(0.2)
        events = admin_call(ledger.base_url, ledger.admin_key, "GET", events_path)
    # On a mismatch, say what was billed, event by event, next to what the SDKs saw.
    seen = f"SDKs saw {ledger.seen}; billed {[event_summary(e) for e in events['events']]}"
    assert totals["requests"] == ledger.requests, seen
    assert (totals["input_tokens"], totals["output_tokens"]) == (ledger.input, ledger.output), seen
    assert {row["key"] for row in summary["rows"]} == {"mock-claude", "mock-claude-lenient", "mock-gpt"}

    wires = {(e["data"]["model"], e["data"]["client_wire"], e["data"]["upstream_wire"]) for e in events["events"]}
    assert wires == {
        ("mock-claude", "openai", "anthropic"),
        ("mock-claude-lenient", "openai", "anthropic"),
        ("mock-gpt", "anthropic", "openai"),
    }
    assert all(e["data"]["estimated"] is False for e in events["events"]), seen
