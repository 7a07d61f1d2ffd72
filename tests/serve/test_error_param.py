"""`glm-nb serve`'s error bodies are OpenAI's error object: `message`, `type`, `param` and `code`, all four keys
always there (as OpenAI and vLLM write them), `param` naming the request field at fault where the server knows it.
The server runs in a thread (`inline_server`)."""

from __future__ import annotations

import http.client
import json

import pytest

CHAT = {"messages": [{"role": "user", "content": "Hi"}]}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _error(server, method: str, path: str, body=None) -> tuple[int, dict]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body).encode())
        response = connection.getresponse()
        return response.status, json.loads(response.read())["error"]
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/completions", {"prompt": "Hi", "max_tokens": 0}, "max_tokens"),
        ("/v1/chat/completions", {**CHAT, "max_completion_tokens": 0}, "max_completion_tokens"),
        ("/v1/completions", {"prompt": "Hi", "temperature": "hot"}, "temperature"),
        ("/v1/completions", {"prompt": "Hi", "max_tokens": 4, "min_tokens": 5}, "min_tokens"),
        ("/v1/completions", {"prompt": ""}, "prompt"),
        ("/v1/chat/completions", {"messages": []}, "messages"),
        (
            "/v1/chat/completions",
            {"messages": [*CHAT["messages"], {"role": "user", "content": 5}]},
            "messages[1].content",
        ),
        ("/v1/chat/completions", {"messages": [{"role": "user"}]}, "messages[0].content"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content",
        ),
        ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "Hi"}]}, "messages[0]"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url"}]}]},
            "messages[0].content[1]",
        ),
        ("/v1/chat/completions", {**CHAT, "tool_choice": "required"}, "tool_choice"),
        ("/v1/chat/completions", {**CHAT, "n": 2}, "n"),
        ("/v1/chat/completions", {**CHAT, "stop": 5}, "stop"),
        ("/v1/completions", {"prompt": "Hi", "stop_token_ids": [10**9]}, "stop_token_ids"),
        ("/v1/completions", {"prompt": "Hi", "model": "gpt-4o"}, "model"),
    ],
)
def test_a_refused_field_is_named_in_param(inline_server, path, body, param):
    server = inline_server()

    status, error = _error(server, "POST", path, body)

    assert status in (400, 404)
    assert error["param"] == param


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/completions", {"prompt": "weather " * 100}, "prompt"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "weather " * 100}]}, "messages"),
        ("/v1/completions", {"prompt": "Hi", "max_tokens": 100}, "max_tokens"),
    ],
)
def test_a_context_length_error_names_the_prompt_or_the_token_limit(inline_server, path, body, param):
    server = inline_server(max_length=64)

    status, error = _error(server, "POST", path, body)

    assert (status, error["code"], error["param"]) == (400, "context_length_exceeded", param)


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/v1/models"), ("POST", "/v1/models")])
def test_an_error_without_a_field_at_fault_still_has_all_four_keys(inline_server, method, path):
    server = inline_server()

    _, error = _error(server, method, path)

    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] is None


@pytest.mark.parametrize(
    ("messages", "param", "said"),
    [
        (
            [*CHAT["messages"], {"role": "assistant", "tool_calls": [{**CALL, "id": {"n": 1}}]}],
            "messages[1]",
            "A tool call's 'id' must be a string",
        ),
        (
            [
                *CHAT["messages"],
                {"role": "assistant", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": ["c1"]},
            ],
            "messages[2]",
            "A tool message's 'tool_call_id' must be a string",
        ),
    ],
)
def test_a_call_id_that_is_no_string_is_a_400_naming_its_message(inline_server, messages, param, said):
    server = inline_server()

    status, error = _error(server, "POST", "/v1/chat/completions", {"messages": messages})

    assert (status, error["type"], error["param"]) == (400, "invalid_request_error", param)  # was a 500: unhashable
    assert said in error["message"] and "Send" in error["message"]  # what to send instead
