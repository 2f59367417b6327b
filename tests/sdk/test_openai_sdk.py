"""The official `openai` Python SDK against `keyway up`: chat (JSON and SSE),
embeddings, the model list, and every refusal as the SDK's own exception."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from conftest import mock_reply, words

SYSTEM = "You are terse."
PROMPT = "ping the gateway please"
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": PROMPT},
]
REPLY = mock_reply(PROMPT)
# Literal counts, cross-checked against the word rule so a change to either
# the prompt or the mock's reply shows up here.
PROMPT_TOKENS = 7
COMPLETION_TOKENS = 12
assert words(SYSTEM, PROMPT) == PROMPT_TOKENS
assert words(REPLY) == COMPLETION_TOKENS


def error_body(exc: openai.APIStatusError) -> dict:
    """The full JSON body of a refusal, checked for Keyway's OpenAI shape."""
    body = exc.response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code", "keyway_code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    # The SDK unwraps `error` into .body and lifts `code`/`type` onto the exception.
    assert exc.body == error
    assert exc.code == error["code"]
    assert exc.type == error["type"]
    return error


# --- chat completions -------------------------------------------------------


def test_chat_completion_returns_the_mock_reply_with_exact_usage(oai):
    completion = oai.chat.completions.create(model="mock-gpt", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.id
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == REPLY
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == COMPLETION_TOKENS
    assert completion.usage.total_tokens == PROMPT_TOKENS + COMPLETION_TOKENS
    assert completion.usage.prompt_tokens_details.cached_tokens == 0


def test_chat_reply_proves_the_system_key_reached_the_upstream(oai):
    completion = oai.chat.completions.create(
        model="mock-gpt", messages=[{"role": "user", "content": "who am I"}]
    )
    assert completion.choices[0].message.content.endswith(
        " [Authenticated as keyway-system]"
    )


def test_chat_counts_text_parts_and_answers_the_last_user_message(oai):
    messages = [
        {"role": "user", "content": "first question here"},
        {"role": "assistant", "content": "an answer"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "second"},
                {"type": "text", "text": "question"},
            ],
        },
    ]
    completion = oai.chat.completions.create(model="mock-gpt", messages=messages)

    assert completion.choices[0].message.content == mock_reply("second question")
    assert completion.usage.prompt_tokens == 3 + 2 + 2
    assert completion.usage.completion_tokens == words(mock_reply("second question"))


def test_chat_reports_cached_prompt_tokens_requested_through_the_mock_controls(oai):
    completion = oai.chat.completions.create(
        model="mock-gpt",
        messages=MESSAGES,
        extra_body={"mock": {"cached_tokens": 3}},
    )
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.prompt_tokens_details.cached_tokens == 3
    assert completion.usage.total_tokens == PROMPT_TOKENS + COMPLETION_TOKENS


def test_streamed_chat_concatenates_to_the_mock_reply_and_reports_usage_once(oai):
    stream = oai.chat.completions.create(
        model="mock-gpt",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert chunks, "the stream produced no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "all chunks share one completion id"

    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    text = "".join(c.choices[0].delta.content for c in content_chunks)
    assert text == REPLY
    # One word per delta.
    assert len(content_chunks) == COMPLETION_TOKENS
    assert [c.choices[0].delta.content.strip() for c in content_chunks] == REPLY.split()

    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]

    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, "usage must arrive exactly once"
    usage_chunk = with_usage[0]
    assert usage_chunk is chunks[-1], "the usage chunk is the last one"
    assert usage_chunk.choices == []
    assert usage_chunk.usage.prompt_tokens == PROMPT_TOKENS
    assert usage_chunk.usage.completion_tokens == COMPLETION_TOKENS
    assert usage_chunk.usage.total_tokens == PROMPT_TOKENS + COMPLETION_TOKENS


def test_streamed_chat_matches_the_non_streamed_text(oai):
    plain = oai.chat.completions.create(model="mock-gpt", messages=MESSAGES)
    stream = oai.chat.completions.create(
        model="mock-gpt",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = "".join(
        c.choices[0].delta.content or "" for c in stream if c.choices
    )
    assert streamed == plain.choices[0].message.content == REPLY


def test_streamed_chat_without_include_usage_sends_no_usage_chunk(oai):
    stream = oai.chat.completions.create(model="mock-gpt", messages=MESSAGES, stream=True)
    chunks = list(stream)

    assert chunks
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks), "no empty-choices usage chunk either"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_stream_helper_accumulates_the_reply(oai):
    with oai.chat.completions.stream(
        model="mock-gpt",
        messages=MESSAGES,
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()

    assert final.choices[0].message.content == REPLY
    assert final.usage.prompt_tokens == PROMPT_TOKENS
    assert final.usage.completion_tokens == COMPLETION_TOKENS


# --- embeddings -------------------------------------------------------------


def test_embeddings_return_eight_floats_per_input_and_count_words(oai):
    inputs = ["one two three", "four five"]
    result = oai.embeddings.create(model="mock-embed", input=inputs)

    assert result.object == "list"
    assert [e.index for e in result.data] == [0, 1]
    for item in result.data:
        assert item.object == "embedding"
        assert len(item.embedding) == 8
        assert all(isinstance(x, float) for x in item.embedding)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens == 5
    assert result.usage.total_tokens == 5


def test_embeddings_are_deterministic_in_float_and_base64_encodings(oai):
    text = "the same words every time"
    default = oai.embeddings.create(model="mock-embed", input=text)  # SDK asks for base64
    again = oai.embeddings.create(model="mock-embed", input=text)
    as_float = oai.embeddings.create(model="mock-embed", input=text, encoding_format="float")

    assert len(default.data) == 1
    assert default.data[0].embedding == again.data[0].embedding
    assert default.data[0].embedding == pytest.approx(as_float.data[0].embedding)
    assert as_float.usage.prompt_tokens == 5


def test_raw_base64_embedding_decodes_to_eight_little_endian_floats(oai):
    raw = oai.embeddings.with_raw_response.create(
        model="mock-embed", input="decode me", encoding_format="base64"
    )
    body = raw.http_response.json()
    encoded = body["data"][0]["embedding"]
    assert isinstance(encoded, str)
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    as_float = oai.embeddings.create(model="mock-embed", input="decode me", encoding_format="float")
    assert list(decoded) == pytest.approx(as_float.data[0].embedding)
    assert body["usage"]["prompt_tokens"] == 2


# --- models -----------------------------------------------------------------


def test_models_list_has_the_dev_catalog_with_keyway_key_info(oai):
    models = {m.id: m for m in oai.models.list()}

    assert {"mock-gpt", "mock-claude", "mock-embed", "mock-gpt-byok"} <= set(models)
    for model in models.values():
        assert model.object == "model"
        keyway = model.model_extra["keyway"]
        assert isinstance(keyway["key_source"], list) and keyway["key_source"]
        assert isinstance(keyway["key_required"], bool)

    assert models["mock-gpt"].model_extra["keyway"] == {
        "key_source": ["system"],
        "key_required": False,
    }
    assert models["mock-gpt-byok"].model_extra["keyway"] == {
        "key_source": ["user"],
        "key_required": True,
    }
    assert models["mock-gpt"].owned_by == "openai"
    assert models["mock-claude"].owned_by == "anthropic"


# --- errors from Keyway itself ---------------------------------------------


def test_a_bad_key_is_an_authentication_error(oai_bad_key):
    with pytest.raises(openai.AuthenticationError) as info:
        oai_bad_key.chat.completions.create(model="mock-gpt", messages=MESSAGES)

    assert info.value.status_code == 401
    error = error_body(info.value)
    assert error["code"] == "invalid_api_key"
    assert error["keyway_code"] == "KW-AUTH-002"
    assert error["type"] == "authentication_error"


def test_a_bad_key_cannot_list_models(oai_bad_key):
    with pytest.raises(openai.AuthenticationError) as info:
        oai_bad_key.models.list()
    assert error_body(info.value)["keyway_code"] == "KW-AUTH-002"


def test_an_unknown_model_is_not_found(oai):
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="no-such-model", messages=MESSAGES)

    assert info.value.status_code == 404
    error = error_body(info.value)
    assert error["code"] == "model_not_found"
    assert error["keyway_code"] == "KW-MODEL-001"
    assert "no-such-model" in error["message"]


def test_an_unknown_embedding_model_is_not_found(oai):
    with pytest.raises(openai.NotFoundError) as info:
        oai.embeddings.create(model="no-such-embedder", input="x")
    assert error_body(info.value)["keyway_code"] == "KW-MODEL-001"


def test_a_byok_model_without_a_key_asks_for_one(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="mock-gpt-byok", messages=MESSAGES)

    assert info.value.status_code == 400
    error = error_body(info.value)
    assert error["code"] == "key_required"
    assert error["keyway_code"] == "KW-KEY-001"
    assert "mock-gpt-byok" in error["message"]


def test_an_embedding_model_on_chat_completions_points_to_v1_embeddings(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="mock-embed", messages=MESSAGES)

    assert info.value.status_code == 400
    error = error_body(info.value)
    assert error["keyway_code"] == "KW-MODEL-002"
    assert "/v1/embeddings" in error["message"]


def test_a_chat_model_on_embeddings_points_to_chat_completions(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.embeddings.create(model="mock-gpt", input="x")
    error = error_body(info.value)
    assert error["keyway_code"] == "KW-MODEL-002"
    assert "/v1/chat/completions" in error["message"]


# --- upstream errors, injected through the mock controls --------------------


def test_an_upstream_rate_limit_passes_through_as_429_with_retry_after(oai):
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(
            model="mock-gpt", messages=MESSAGES, extra_body={"mock": {"error": "429"}}
        )

    exc = info.value
    assert exc.status_code == 429
    assert exc.response.headers.get("retry-after") == "1"
    error = error_body(exc)
    assert error["keyway_code"] == "KW-UP-001"
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "rate_limit_error"
    assert "upstream provider refused" in error["message"]


def test_an_upstream_rate_limit_on_a_stream_raises_before_any_chunk(oai):
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(
            model="mock-gpt",
            messages=MESSAGES,
            stream=True,
            extra_body={"mock": {"error": "429"}},
        )
    assert error_body(info.value)["keyway_code"] == "KW-UP-001"


def test_an_upstream_rate_limit_on_embeddings_passes_through(oai):
    with pytest.raises(openai.RateLimitError) as info:
        oai.embeddings.create(
            model="mock-embed", input="x", extra_body={"mock": {"error": "429"}}
        )
    assert error_body(info.value)["keyway_code"] == "KW-UP-001"


def test_an_upstream_bad_request_passes_through_as_400(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model="mock-gpt", messages=MESSAGES, extra_body={"mock": {"error": "400"}}
        )
    assert info.value.status_code == 400
    error = error_body(info.value)
    assert error["keyway_code"] == "KW-UP-001"
    assert "upstream provider refused" in error["message"]


def test_an_upstream_auth_refusal_passes_through_as_401(oai):
    with pytest.raises(openai.AuthenticationError) as info:
        oai.chat.completions.create(
            model="mock-gpt", messages=MESSAGES, extra_body={"mock": {"error": "401"}}
        )
    assert info.value.status_code == 401
    error = error_body(info.value)
    # Not the caller's Keyway key: the upstream refused the provider key.
    assert error["keyway_code"] == "KW-UP-001"
    assert "upstream provider refused" in error["message"]


@pytest.mark.parametrize("upstream_status", ["500", "503"])
def test_an_upstream_server_error_becomes_a_502(oai, upstream_status):
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(
            model="mock-gpt",
            messages=MESSAGES,
            extra_body={"mock": {"error": upstream_status}},
        )

    exc = info.value
    assert exc.status_code == 502
    error = error_body(exc)
    assert error["keyway_code"] == "KW-UP-002"
    assert error["code"] == "upstream_error"
    assert error["type"] == "api_error"
    assert upstream_status in error["message"]


def test_a_rate_limited_key_gets_a_rate_limit_error_with_retry_after(base_url, one_request_a_minute_key):
    client = openai.OpenAI(
        base_url=f"{base_url}/v1", api_key=one_request_a_minute_key, max_retries=0, timeout=30.0
    )
    ask = lambda: client.chat.completions.create(model="mock-gpt", messages=MESSAGES)  # noqa: E731
    assert ask().choices[0].message.content
    # Two more tries: the first may straddle a minute boundary, never both.
    with pytest.raises(openai.RateLimitError) as info:
        ask()
        ask()
    error = error_body(info.value)
    assert error["code"] == "rate_limit_exceeded"
    assert error["keyway_code"] == "KW-LIMIT-001"
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
