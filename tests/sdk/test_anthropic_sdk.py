"""The official `anthropic` Python SDK against `keyway up`: messages (JSON and
SSE), the Anthropic-shaped model list, and every refusal as the SDK's own
exception with Anthropic's error body."""

from __future__ import annotations

import anthropic
import pytest

from conftest import mock_reply, words

SYSTEM = "Be brief."
PROMPT = "ping the gateway please"
MESSAGES = [{"role": "user", "content": PROMPT}]
REPLY = mock_reply(PROMPT)
# Anthropic input tokens count the system prompt too.
INPUT_TOKENS = 6
OUTPUT_TOKENS = 12
assert words(SYSTEM, PROMPT) == INPUT_TOKENS
assert words(REPLY) == OUTPUT_TOKENS


def create(client: anthropic.Anthropic, **overrides):
    args = {"model": "mock-claude", "max_tokens": 64, "system": SYSTEM, "messages": MESSAGES}
    args.update(overrides)
    return client.messages.create(**args)


def error_body(exc: anthropic.APIStatusError) -> dict:
    """The inner `error` of a refusal, checked for Keyway's Anthropic shape."""
    body = exc.response.json()
    assert body.get("type") == "error", body
    error = body["error"]
    assert set(error) >= {"type", "message", "keyway_code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert exc.body == body
    return error


# --- messages ---------------------------------------------------------------


def test_message_returns_the_mock_reply_with_exact_usage(claude):
    message = create(claude)

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.id
    assert message.stop_reason == "end_turn"
    assert len(message.content) == 1
    block = message.content[0]
    assert block.type == "text"
    assert block.text == REPLY
    assert message.usage.input_tokens == INPUT_TOKENS
    assert message.usage.output_tokens == OUTPUT_TOKENS


def test_message_without_system_counts_only_the_messages(claude):
    messages = [
        {"role": "user", "content": "first question here"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    message = claude.messages.create(model="mock-claude", max_tokens=64, messages=messages)

    assert message.content[0].text == mock_reply("second question")
    assert message.usage.input_tokens == 3 + 2 + 2
    assert message.usage.output_tokens == words(mock_reply("second question"))


def test_message_reports_cache_reads_outside_input_tokens(claude):
    message = create(claude, extra_body={"mock": {"cached_tokens": 3}})

    assert message.usage.cache_read_input_tokens == 3
    assert message.usage.input_tokens == INPUT_TOKENS - 3
    assert message.usage.output_tokens == OUTPUT_TOKENS


def test_streamed_message_text_joins_to_the_reply_and_the_final_message_has_usage(claude):
    with claude.messages.stream(
        model="mock-claude", max_tokens=64, system=SYSTEM, messages=MESSAGES
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert "".join(pieces) == REPLY
    assert len(pieces) == OUTPUT_TOKENS, "one word per delta"
    assert final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == INPUT_TOKENS
    assert final.usage.output_tokens == OUTPUT_TOKENS


def test_streamed_message_matches_the_non_streamed_text(claude):
    plain = create(claude)
    with claude.messages.stream(
        model="mock-claude", max_tokens=64, system=SYSTEM, messages=MESSAGES
    ) as stream:
        streamed = stream.get_final_text()
    assert streamed == plain.content[0].text == REPLY


def test_raw_message_stream_emits_events_in_the_api_order(claude):
    events = list(create(claude, stream=True))
    kinds = [e.type for e in events if e.type != "ping"]

    assert kinds[0] == "message_start"
    assert kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert "".join(d.delta.text for d in deltas) == REPLY

    start = events[0]
    assert start.message.usage.input_tokens == INPUT_TOKENS
    (message_delta,) = [e for e in events if e.type == "message_delta"]
    assert message_delta.delta.stop_reason == "end_turn"
    assert message_delta.usage.output_tokens == OUTPUT_TOKENS


# --- models -----------------------------------------------------------------


def test_models_list_is_anthropic_shaped_with_keyway_key_info(claude):
    page = claude.models.list()
    models = {m.id: m for m in page.data}

    assert {"mock-gpt", "mock-claude", "mock-embed", "mock-gpt-byok"} <= set(models)
    for model in models.values():
        assert model.type == "model"
        assert model.display_name
        keyway = model.model_extra["keyway"]
        assert isinstance(keyway["key_source"], list) and keyway["key_source"]
        assert isinstance(keyway["key_required"], bool)
    assert models["mock-claude"].model_extra["keyway"] == {
        "key_source": ["system"],
        "key_required": False,
    }
    assert models["mock-gpt-byok"].model_extra["keyway"]["key_required"] is True
    assert page.has_more is False


# --- errors from Keyway itself ---------------------------------------------


def test_a_bad_key_is_an_authentication_error(claude_bad_key):
    with pytest.raises(anthropic.AuthenticationError) as info:
        create(claude_bad_key)

    assert info.value.status_code == 401
    error = error_body(info.value)
    assert error["type"] == "authentication_error"
    assert error["keyway_code"] == "KW-AUTH-002"


def test_a_bad_key_cannot_list_models_and_gets_an_anthropic_error(claude_bad_key):
    with pytest.raises(anthropic.AuthenticationError) as info:
        claude_bad_key.models.list()
    error = error_body(info.value)
    assert error["type"] == "authentication_error"
    assert error["keyway_code"] == "KW-AUTH-002"


def test_an_unknown_model_is_not_found(claude):
    with pytest.raises(anthropic.NotFoundError) as info:
        create(claude, model="no-such-model")

    assert info.value.status_code == 404
    error = error_body(info.value)
    assert error["type"] == "not_found_error"
    assert error["keyway_code"] == "KW-MODEL-001"
    assert "no-such-model" in error["message"]


def test_an_unknown_model_on_a_stream_is_not_found(claude):
    with pytest.raises(anthropic.NotFoundError) as info:
        with claude.messages.stream(
            model="no-such-model", max_tokens=64, messages=MESSAGES
        ) as stream:
            stream.get_final_message()
    assert error_body(info.value)["keyway_code"] == "KW-MODEL-001"


def test_an_openai_model_served_only_to_openai_clients_points_to_chat_completions(claude):
    with pytest.raises(anthropic.BadRequestError) as info:
        create(claude, model="mock-gpt-byok")

    assert info.value.status_code == 400
    error = error_body(info.value)
    assert error["type"] == "invalid_request_error"
    assert error["keyway_code"] == "KW-MODEL-002"
    assert "/v1/chat/completions" in error["message"]


# --- upstream errors, injected through the mock controls --------------------


def test_an_upstream_rate_limit_passes_through_as_429_with_retry_after(claude):
    with pytest.raises(anthropic.RateLimitError) as info:
        create(claude, extra_body={"mock": {"error": "429"}})

    exc = info.value
    assert exc.status_code == 429
    assert exc.response.headers.get("retry-after") == "1"
    error = error_body(exc)
    assert error["type"] == "rate_limit_error"
    assert error["keyway_code"] == "KW-UP-001"
    assert "upstream provider refused" in error["message"]


def test_an_upstream_rate_limit_on_a_stream_raises_before_any_text(claude):
    with pytest.raises(anthropic.RateLimitError) as info:
        with claude.messages.stream(
            model="mock-claude",
            max_tokens=64,
            messages=MESSAGES,
            extra_body={"mock": {"error": "429"}},
        ) as stream:
            list(stream.text_stream)
    assert error_body(info.value)["keyway_code"] == "KW-UP-001"


def test_an_upstream_bad_request_passes_through_as_400(claude):
    with pytest.raises(anthropic.BadRequestError) as info:
        create(claude, extra_body={"mock": {"error": "400"}})
    error = error_body(info.value)
    assert error["type"] == "invalid_request_error"
    assert error["keyway_code"] == "KW-UP-001"


@pytest.mark.parametrize("upstream_status", ["500", "503"])
def test_an_upstream_server_error_becomes_a_502(claude, upstream_status):
    with pytest.raises(anthropic.InternalServerError) as info:
        create(claude, extra_body={"mock": {"error": upstream_status}})

    exc = info.value
    assert exc.status_code == 502
    error = error_body(exc)
    assert error["type"] == "api_error"
    assert error["keyway_code"] == "KW-UP-002"
    assert upstream_status in error["message"]


def test_a_rate_limited_key_gets_a_rate_limit_error_with_retry_after(base_url, one_request_a_minute_key):
    client = anthropic.Anthropic(base_url=base_url, api_key=one_request_a_minute_key, max_retries=0, timeout=30.0)
    assert create(client).content[0].text
    # Two more tries: the first may straddle a minute boundary, never both.
    with pytest.raises(anthropic.RateLimitError) as info:
        create(client)
        create(client)
    error = error_body(info.value)
    assert error["type"] == "rate_limit_error"
    assert error["keyway_code"] == "KW-LIMIT-001"
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
