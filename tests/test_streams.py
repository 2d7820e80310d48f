"""Server-sent events: a secret a stream splits over its events is found in the joined text and
replaced in every piece, the stream keeping its events, their JSON and its framing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pytest_cassettes.scrub import Scrubber, ScrubRules

OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 4  # 136 characters
ANTHROPIC = "sk-ant-api03-" + "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7"
ENV_KEY = "acme-live-7Q2w9E4r1T6y3U8i"
SSE = "text/event-stream; charset=utf-8"


def scrub(body: str, environ: dict[str, str] | None = None, **rules: Any) -> tuple[str, int]:
    scrubber = Scrubber(ScrubRules(**rules), environ=environ or {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [SSE]},
        "body": {"string": body.encode()},
    }
    new, count = scrubber.scrub_response(response)
    assert new is not None
    return new["body"]["string"].decode(), count


def events(body: str) -> list[tuple[str, str]]:
    """(event name, data) of each event, as a client reads them (WHATWG's rules)."""
    found: list[tuple[str, str]] = []
    name, data = "message", []
    for line in re.split(r"\r\n|\r|\n", body):
        if not line:
            if data:
                found.append((name, "\n".join(data)))
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    return found


def chat(*pieces: str, field: str = "content", index: int = 0) -> str:
    return "".join(
        "data: "
        + json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [{"index": index, "delta": {field: piece}, "finish_reason": None}],
            }
        )
        + "\n\n"
        for piece in pieces
    )


def chat_text(body: str, index: int = 0, field: str = "content") -> str:
    text = ""
    for _, data in events(body):
        if data == "[DONE]":
            continue
        for choice in json.loads(data)["choices"]:
            if choice["index"] == index:
                text += choice["delta"].get(field) or ""
    return text


def unstreamed(content: str, **rules: Any) -> str:
    """The same answer not streamed, one chat completion's message, as it is scrubbed."""
    message = {"role": "assistant", "content": content}
    answer = json.dumps({"object": "chat.completion", "choices": [{"message": message}]})
    scrubber = Scrubber(ScrubRules(**rules), environ={})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"]},
        "body": {"string": answer.encode()},
    }
    new, _ = scrubber.scrub_response(response)
    assert new is not None
    text: str = json.loads(new["body"]["string"])["choices"][0]["message"]["content"]
    return text


def test_a_key_split_over_two_chat_chunks_is_scrubbed_in_both() -> None:
    # The adopter's case: the first chunk's part is too short for the detector, the second
    # (the rest of the key) has no prefix; each looked at alone, 128 characters were left.
    body = chat("Your key is ", OPENAI[:11], OPENAI[11:], " - keep it safe.") + "data: [DONE]\n\n"
    new, count = scrub(body)
    assert OPENAI[11:] not in new and OPENAI[20:40] not in new
    assert count == 1
    assert len(events(new)) == len(events(body)) == 5
    assert chat_text(new) == "Your key is <SCRUBBED:openai> - keep it safe."
    # The placeholder where the key starts, nothing in the piece after.
    assert [d for _, d in events(new)][1:3] == [
        data.replace(OPENAI[:11], "<SCRUBBED:openai>").replace(OPENAI[11:], "")
        for _, data in events(body)[1:3]
    ]


def test_a_key_split_with_a_long_first_piece_leaves_nothing_of_the_rest() -> None:
    # A first piece long enough for the detector alone was replaced alone, the rest kept.
    body = chat(OPENAI[:40], OPENAI[40:])
    new, _ = scrub(body)
    assert OPENAI[40:] not in new
    assert chat_text(new) == "<SCRUBBED:openai>"


def tool_call(*pieces: str) -> str:
    """OpenAI's chat chunks streaming a tool call's arguments."""
    return "".join(
        "data: "
        + json.dumps(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                    }
                ]
            }
        )
        + "\n\n"
        for piece in pieces
    )


def test_a_secret_split_into_many_pieces_of_a_tool_call_s_arguments() -> None:
    arguments = json.dumps({"api_key": OPENAI, "query": "weather in Paris"})
    pieces = [arguments[i : i + 9] for i in range(0, len(arguments), 9)]
    new, _ = scrub(tool_call(*pieces))
    assert len(events(new)) == len(pieces) > 10
    joined = "".join(
        json.loads(data)["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for _, data in events(new)
    )
    # As the arguments of a tool call not streamed: the sensitive key's value goes.
    assert json.loads(joined) == {"api_key": "<SCRUBBED>", "query": "weather in Paris"}
    for i in range(0, len(OPENAI) - 8, 4):
        assert OPENAI[i : i + 8] not in new


def anthropic(*pieces: str, kind: str = "text_delta", field: str = "text", eol: str = "\n") -> str:
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    lines = ["event: content_block_start", "data: " + json.dumps(start), ""]
    for piece in pieces:
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": kind, field: piece}}
        lines += ["event: content_block_delta", "data: " + json.dumps(delta), ""]
    lines += ["event: content_block_stop", 'data: {"type":"content_block_stop","index":0}', ""]
    lines += ["event: ping", "data: {}", "", ": a comment", ""]
    return eol.join(lines)


def anthropic_text(body: str, field: str = "text") -> str:
    return "".join(
        json.loads(data)["delta"][field]
        for name, data in events(body)
        if name == "content_block_delta"
    )


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_an_env_value_split_over_anthropic_deltas_in_any_line_framing(eol: str) -> None:
    body = anthropic("The key: ", ENV_KEY[:5], ENV_KEY[5:17], ENV_KEY[17:], ".", eol=eol)
    new, count = scrub(body, environ={"ACME_API_KEY": ENV_KEY})
    assert count == 1
    assert ENV_KEY[5:17] not in new and ENV_KEY[17:] not in new
    assert anthropic_text(new) == "The key: <ACME_API_KEY>."
    assert len(events(new)) == len(events(body))
    assert new.count(eol) == body.count(eol)


def test_input_json_deltas_with_escapes_map_back_to_the_right_characters() -> None:
    # partial_json is JSON text in a JSON string; a server may escape any character
    # (`\u0041`), and the text around the key holds escapes (`\n`, `\"`, a surrogate pair):
    # the joined text is the decoded one, each piece's replacement lands on its escaped text.
    note = "line one\nkey \U0001f600 " + ANTHROPIC
    arguments = json.dumps({"note": note, "n": 1}, ensure_ascii=False)
    cut = arguments.index(ANTHROPIC) + 20
    first, second = arguments[:cut], arguments[cut:]
    events_json = [
        json.dumps(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
        )
        for piece in (first, second)
    ]
    # A letter of the key escaped in each piece: `\u005a` (`Z`) in the first, the second's
    # first character too.
    assert ANTHROPIC[13] == "Z"
    events_json[0] = events_json[0].replace("api03-Z", "api03-\\u005a")
    after = second[0]
    events_json[1] = events_json[1].replace(
        '"partial_json": "' + after, '"partial_json": "\\u00' + format(ord(after), "02x")
    )
    body = "".join(f"event: content_block_delta\ndata: {data}\n\n" for data in events_json)
    head = body[: body.index("api03")]  # before the key: the inner `\n`, `\"`, the emoji
    assert "\\\\n" in head and '\\"' in head and "\\ud83d\\ude00" in head
    assert "api03-\\u005a" in body and '"partial_json": "\\u00' in body
    decoded = "".join(
        json.loads(data)["delta"]["partial_json"] for data in (e for _, e in events(body))
    )
    assert decoded == arguments  # the escapes are what a client reads
    new, count = scrub(body)
    assert count == 1
    joined = anthropic_text(new, "partial_json")
    assert json.loads(joined) == {"note": "line one\nkey \U0001f600 <SCRUBBED:anthropic>", "n": 1}
    assert "api03" not in new and ANTHROPIC[-12:] not in new


def test_multi_line_data_fields_are_one_event() -> None:
    # `data:` lines of one event are joined with "\n": JSON may be spread over them.
    def event(piece: str) -> str:
        payload = json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}, indent=1)
        return "".join(f"data: {line}\n" for line in payload.splitlines()) + "\n"

    body = event("key ") + event(OPENAI[:10]) + event(OPENAI[10:]) + "data: [DONE]\n\n"
    new, _ = scrub(body)
    assert OPENAI[10:] not in new
    assert chat_text(new) == "key <SCRUBBED:openai>"
    assert len(events(new)) == 4


def test_choices_streamed_side_by_side_are_joined_each_on_its_own() -> None:
    # n=2: the chunks of two choices alternate; each choice's text is its own stream.
    body = ""
    for zero, one in zip(["The ", "answer", " is 42."], [OPENAI[:9], OPENAI[9:70], OPENAI[70:]]):
        body += chat(zero, index=0) + chat(one, index=1)
    new, count = scrub(body)
    assert count == 1
    assert chat_text(new, 0) == "The answer is 42."
    assert chat_text(new, 1) == "<SCRUBBED:openai>"


def test_the_responses_api_s_text_deltas() -> None:
    def delta(piece: str) -> str:
        event = {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": piece,
        }
        return f"event: response.output_text.delta\ndata: {json.dumps(event)}\n\n"

    body = "".join(delta(p) for p in ("Use ", OPENAI[:15], OPENAI[15:90], OPENAI[90:], " now"))
    new, _ = scrub(body)
    text = "".join(json.loads(d)["delta"] for _, d in events(new))
    assert text == "Use <SCRUBBED:openai> now"


def test_a_plain_text_stream_is_joined_too_but_done_is_no_text() -> None:
    body = f"data: key {OPENAI[:12]}\n\ndata: {OPENAI[12:]}\n\n: keep-alive\n\ndata: [DONE]\n\n"
    new, _ = scrub(body)
    assert OPENAI[12:] not in new
    assert [d for _, d in events(new)] == ["key <SCRUBBED:openai>", "", "[DONE]"]


def test_a_user_pattern_spanning_events_is_scrubbed() -> None:
    body = chat("order ", "ORD-12", "34-5678", " shipped")
    new, _ = scrub(body, patterns=(r"ORD-\d{4}-\d{4}",))
    assert chat_text(new) == "order <SCRUBBED> shipped"


def test_a_model_s_generic_names_are_kept_across_pieces_its_password_is_not() -> None:
    # A tool call's `{"key": ...}` and `{"token": ...}` are the model's words (see the
    # model-output rule); a password, a token format and an environment value are not.
    random_like = "Qm9vb2tzLTEyMzQ1Njc4OTA"
    arguments = json.dumps({"key": "Enter", "token": random_like, "password": random_like})
    pieces = [arguments[i : i + 7] for i in range(0, len(arguments), 7)]
    body = chat(*pieces)
    # tool-call arguments stream as `arguments`; the same text as content: the same rule.
    new, _ = scrub(body)
    joined = json.loads(chat_text(new))
    assert joined["key"] == "Enter"
    assert joined["token"] == random_like
    assert joined["password"] == "<SCRUBBED>"
    assert chat_text(new) == unstreamed(arguments)


def test_nothing_changes_when_no_secret_spans_pieces() -> None:
    body = chat("Hello", " world", ", the ", "key", " is ", "in the drawer.") + ("data: [DONE]\n\n")
    assert scrub(body) == (body, 0)
    # A key whole in one piece: the free-text rules alone, as before.
    whole = chat("Your key is ", OPENAI, " ok")
    new, count = scrub(whole)
    assert count == 1
    assert new == whole.replace(OPENAI, "<SCRUBBED:openai>")


def test_scrubbing_a_scrubbed_stream_again_changes_nothing() -> None:
    body = chat("Your key is ", OPENAI[:11], OPENAI[11:], ".") + anthropic(ENV_KEY[:9], ENV_KEY[9:])
    once, _ = scrub(body, environ={"ACME_API_KEY": ENV_KEY})
    assert scrub(once, environ={"ACME_API_KEY": ENV_KEY}) == (once, 0)


def test_events_that_are_not_json_or_not_deltas_do_not_break_a_stream() -> None:
    body = (
        chat("key ", OPENAI[:10])
        + "event: error\ndata: {not json\n\n"
        + 'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n\n'
        + chat(OPENAI[10:])
    )
    new, _ = scrub(body)
    assert OPENAI[10:] not in new
    assert "data: {not json" in new


def test_a_value_whole_in_one_event_after_its_name_in_another_is_scrubbed() -> None:
    # A tool call's arguments streamed `{"password": "` then the value whole: the value alone
    # is no secret to the free-text rules (its event names it `arguments`), the joined text
    # names it `password`. The same for a user pattern's group after its context.
    value = "Qx7mP2vL9kR4tW8zN3bH6jF1"
    for pieces in (['{"password": "', value, '"}'], ["pass", "word: " + value, " ok"]):
        new, count = scrub(chat(*pieces))
        assert value not in new, pieces
        assert count == 1
        assert chat_text(new) == unstreamed("".join(pieces))
    new, _ = scrub(
        chat("order number: ", "4711-0815", " shipped"), patterns=(r"number: (\d{4}-\d{4})",)
    )
    assert chat_text(new) == "order number: <SCRUBBED> shipped"
    # A name and its value in one event: read in the joined text all the same.
    whole = chat("a", 'password: "' + value + '"')
    assert chat_text(scrub(whole)[0]) == unstreamed('apassword: "' + value + '"')


def test_an_event_holding_many_streams_pieces_is_read_once() -> None:
    # n choices side by side, each splitting the key over the same two events: where each
    # piece is in its event was worked out by reading the whole event again for each piece
    # (1,000 choices: 12 s; 2,500: 75 s).
    choices = 1000
    body = "".join(
        "data: "
        + json.dumps(
            {"choices": [{"index": i, "delta": {"content": part}} for i in range(choices)]}
        )
        + "\n\n"
        for part in (ENV_KEY[:10], ENV_KEY[10:])
    )
    new, count = scrub(body, environ={"ACME_API_KEY": ENV_KEY})
    assert count == choices
    assert ENV_KEY[10:] not in new
    assert chat_text(new, index=choices - 1) == "<ACME_API_KEY>"


def test_an_event_nested_deeper_than_python_parses_is_no_stream() -> None:
    # json.loads raises RecursionError (no ValueError) for it: scrubbing the body failed.
    deep = '{"delta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    body = chat("key ", OPENAI[:10]) + f"data: {deep}\n\n" + chat(OPENAI[10:])
    new, _ = scrub(body)
    assert OPENAI[10:] not in new
    assert f"data: {deep}" in new


def cohere(kind: str, message: dict[str, Any], index: int | None = 0) -> str:
    event: dict[str, Any] = {"type": kind, "delta": {"message": message}}
    if index is not None:
        event["index"] = index
    return f"event: {kind}\ndata: {json.dumps(event)}\n\n"


def test_cohere_s_text_thinking_tool_plan_and_tool_call_deltas_are_each_a_stream() -> None:
    # Cohere's v2 chat streams more than its answer's text: the thinking beside it, the tool
    # plan, a tool call's arguments (`tool_calls` one object there). Each interleaved.
    arguments = json.dumps({"note": f"key {ANTHROPIC}"})
    cut = arguments.index("sk-ant") + 4
    parts = [
        cohere("content-delta", {"content": {"thinking": f"echo {OPENAI[:6]}"}}),
        cohere("tool-plan-delta", {"tool_plan": f"I will save {OPENAI[:9]}"}, index=None),
        cohere("tool-call-delta", {"tool_calls": {"function": {"arguments": arguments[:cut]}}}),
        cohere("content-delta", {"content": {"thinking": OPENAI[6:]}}),
        cohere("tool-plan-delta", {"tool_plan": OPENAI[9:] + "."}, index=None),
        cohere("tool-call-delta", {"tool_calls": {"function": {"arguments": arguments[cut:]}}}),
        cohere("content-delta", {"content": {"text": f"Done {OPENAI[:5]}"}}),
        cohere("content-delta", {"content": {"text": OPENAI[5:]}}),
    ]
    new, count = scrub("".join(parts))
    assert count == 4
    assert OPENAI[10:] not in new and ANTHROPIC[10:] not in new
    found: dict[str, str] = {"thinking": "", "plan": "", "arguments": "", "text": ""}
    for _, data in events(new):
        message = json.loads(data)["delta"]["message"]
        if "tool_plan" in message:
            found["plan"] += message["tool_plan"]
        elif "tool_calls" in message:
            found["arguments"] += message["tool_calls"]["function"]["arguments"]
        else:
            for field in ("thinking", "text"):
                found[field] += message["content"].get(field, "")
    assert found == {
        "thinking": "echo <SCRUBBED:openai>",
        "plan": "I will save <SCRUBBED:openai>.",
        "arguments": json.dumps({"note": "key <SCRUBBED:anthropic>"}),
        "text": "Done <SCRUBBED:openai>",
    }


def arguments_of(body: str) -> str:
    return "".join(
        json.loads(data)["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for _, data in events(body)
        if data != "[DONE]"
    )


@pytest.mark.parametrize(
    "pieces",
    [
        ['{"password":', ' "hunter2"}'],
        ['{"pass', 'word": "hunter2"}'],
        ['{"password": "hun', 'ter2"}'],
        ['{"user": "bob", "password": "', "hunter2", '", "n": 1}'],
    ],
)
def test_a_short_password_split_over_tool_call_argument_deltas_is_scrubbed(
    pieces: list[str],
) -> None:
    # The value is short and not random-looking: only its name says it is a secret, and no
    # event alone shows both. The joined arguments are JSON: the JSON field rules apply.
    body = tool_call(*pieces) + "data: [DONE]\n\n"
    new, count = scrub(body)
    assert "hunter2" not in new and "ter2" not in new
    assert count == 1
    assert len(events(new)) == len(events(body))
    expected = json.loads("".join(pieces))
    expected["password"] = "<SCRUBBED>"
    assert json.loads(arguments_of(new)) == expected
    assert scrub(new) == (new, 0)  # scrubbing twice is scrubbing once


def test_an_anthropic_tool_input_split_anywhere_loses_its_api_key() -> None:
    arguments = '{"api_key": "abc123", "city": "Paris"}'
    for cut in range(1, len(arguments)):
        body = anthropic(
            arguments[:cut], arguments[cut:], kind="input_json_delta", field="partial_json"
        )
        new, count = scrub(body)
        assert "abc123" not in new and "c123" not in new, cut
        assert count == 1, cut
        assert json.loads(anthropic_text(new, "partial_json")) == {
            "api_key": "<SCRUBBED>",
            "city": "Paris",
        }, cut
        assert len(events(new)) == len(events(body))
        assert scrub(new) == (new, 0)


def test_a_password_in_content_text_split_anywhere_is_scrubbed() -> None:
    # Content is free text: `name=value` and `password: value` lines, read joined.
    for text, secret in (("my password=hunter2 ok", "hunter2"), ("password: s3cr3t\n", "s3cr3t")):
        for cut in range(1, len(text)):
            body = chat(text[:cut], text[cut:]) + "data: [DONE]\n\n"
            new, count = scrub(body)
            assert secret not in new, (text, cut)
            assert count == 1, (text, cut)
            assert chat_text(new) == text.replace(secret, "<SCRUBBED>"), (text, cut)
            assert scrub(new) == (new, 0)


def test_sensitive_keys_at_any_depth_of_streamed_arguments_a_model_s_generic_names_kept() -> None:
    arguments = json.dumps(
        {
            "key": "Enter",
            "token": "abc12345",
            "signature": "x1y2z3",
            "db": {"hosts": [{"name": "a", "credentials": {"password": "pw1"}}]},
            "headers": {"api_key": 12345},
        }
    )
    pieces = [arguments[i : i + 5] for i in range(0, len(arguments), 5)]
    new, count = scrub(tool_call(*pieces))
    joined = json.loads(arguments_of(new))
    assert joined["key"] == "Enter" and joined["token"] == "abc12345"
    assert joined["signature"] == "x1y2z3"
    assert joined["db"]["hosts"][0]["credentials"] == {"password": "<SCRUBBED>"}
    assert joined["headers"] == {"api_key": "<SCRUBBED>"}
    assert count == 2
    assert len(events(new)) == len(pieces)
    # In free text, as in a message not streamed, a generic name's value goes when it looks
    # generated (was: kept, however it looked: split over chunks, a token stayed on disk).
    text = "the token=Qm9vb2tzLTEyMzQ1Njc4OTA and key: Enter"
    new, count = scrub(chat(*[text[i : i + 4] for i in range(0, len(text), 4)]))
    assert chat_text(new) == unstreamed(text) == "the token=<SCRUBBED> and key: Enter"


def test_a_name_and_its_value_in_one_event_are_scrubbed_as_in_that_event_alone() -> None:
    # The joined text reads them as the event alone would: the same placeholder, once.
    for pieces in (["Hi. ", "my password=hunter2 ok"], ["a", '{"password": "hunter2"}']):
        body = chat(*pieces)
        alone = "".join(scrub(chat(piece))[0] for piece in pieces)
        assert scrub(body)[0] == alone


def test_many_names_and_values_split_over_tiny_pieces_are_all_scrubbed() -> None:
    # Each value after its name in the event before, 20,000 events; and each name and value
    # whole in one event.
    split = chat(*["pass", "word=", "v4lue ", "ok. "] * 5000)
    own = chat(*["password=v4lue ok. ", "and "] * 5000)
    for body in (split, own):
        new, count = scrub(body)
        assert "v4lue" not in new and count == 5000


SAME_AS_UNSTREAMED = [
    "Use token=a8Fh2kLq9Zx7Wv3Np5Rt to log in.",  # a generic name's generated value goes
    "key: Zk3jQ9xLp2Vb7Tq8\nand key: Enter",
    '{"key": "a8Fh2kLq9Zx7Wv3Np5Rt", "n": 1}',  # a model's JSON keeps its generic names
    '{"token": "a8Fh2kLq9Zx7Wv3Np5Rt", "password": "Tr0ub4dor-x1"}',
    "password=hunter2hunter2 ok",
    "config:\n  password: hunter2hunter2\n",
    "{'key': 'a8Fh2kLq9Zx7Wv3Np5Rt'}",
    'curl -H "X-Api-Key: a8Fh2kLq9Zx7Wv3Np5Rt" x',
    "Authorization: Bearer a8Fh2kLq9Zx7Wv3Np5Rt",
    f"Your key is {OPENAI}.",
    f"Set it to {ENV_KEY} now, password={ENV_KEY}",
    "Server=db;Uid=app;Pwd=Tr0ub4dor-x1;",
    '<input name="csrf_token" value="a8Fh2kLq9Zx7Wv3Np5Rt">',
]


@pytest.mark.parametrize("content", SAME_AS_UNSTREAMED)
def test_a_streamed_answer_is_scrubbed_as_the_same_answer_not_streamed(content: str) -> None:
    # Was: each event's JSON got the free-text rules, a model's JSON losing its generic names
    # in one chunk; split over chunks, a generic name's generated value was kept; a value
    # found by its name in one event got the detector's placeholder, by the name rules not.
    environ = {"ACME_API_KEY": ENV_KEY}
    message = {"role": "assistant", "content": content}
    answer = json.dumps({"object": "chat.completion", "choices": [{"message": message}]})
    scrubber = Scrubber(ScrubRules(), environ=environ)
    whole, _ = scrubber.scrub_response(
        {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": answer.encode()},
        }
    )
    assert whole is not None
    expected = json.loads(whole["body"]["string"])["choices"][0]["message"]["content"]
    for size in (len(content), 40, 7, 3, 1):
        pieces = [content[i : i + size] for i in range(0, len(content), size)]
        new, _ = scrub(chat("", *pieces) + "data: [DONE]\n\n", environ)
        assert chat_text(new) == expected, size
        assert len(events(new)) == len(pieces) + 2


def test_an_event_s_json_gets_the_json_rules_and_its_framing_the_free_text_ones() -> None:
    # An MCP server's answer over server-sent events: a secret known by its object's other
    # fields (was: the free-text rules alone read an event's JSON, and missed it).
    result = {
        "env": [{"name": "DB_PASSWORD", "value": "Tr0ub4dor-x1"}, {"name": "X", "value": "1"}]
    }
    message = {"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": result}}
    body = f"event: message\nid: password=hunter2\ndata: {json.dumps(message)}\n\n"
    body += "event: log\ndata: token=a8Fh2kLq9Zx7Wv3Np5Rt\n\n"
    new, count = scrub(body)
    (name, data), (_, log) = events(new)
    assert json.loads(data)["result"]["structuredContent"]["env"] == [
        {"name": "DB_PASSWORD", "value": "<SCRUBBED>"},
        {"name": "X", "value": "1"},
    ]
    assert "id: password=<SCRUBBED>\n" in new and log == "token=<SCRUBBED>"
    assert count == 3 and name == "message"
    assert scrub(new) == (new, 0)


def test_a_jwt_streamed_keeps_its_claims_as_the_same_answer_not_streamed() -> None:
    # A streamed answer is scrubbed as the same text not streamed: a JWT's header and claims
    # stay (clients decode them), its signature becomes the placeholder's.
    header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    token = f"{header}.eyJzdWIiOiJ1LTEiLCJleHAiOjQwMDAwMDAwMDB9.U2lnbmF0dXJlT2ZUaGVUb2tlbjEy"
    content = f"Your token: {token} (expires soon)"
    new, count = scrub(chat(content[:20], content[20:60], content[60:]))
    assert count == 1
    assert chat_text(new) == unstreamed(content) != content
    assert "PFNDUlVCQkVEPg" in chat_text(new)
