"""Log probabilities: a secret a model echoes is in its logprobs' tokens too, split over them
(`token`, and `bytes` as numbers; `top_logprobs` the alternatives), streamed or not. The tokens
are read joined, as a stream's deltas, and a secret is replaced in every token it spans, their
bytes and the alternatives at those positions with them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_cassettes.cli import main
from pytest_cassettes.scrub import Scrubber, ScrubRules
from tests.conftest import Suite

OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 4  # 136 characters
ENV_KEY = "acme-live-7Q2w9E4r1T6y3U8i"
SSE = "text/event-stream; charset=utf-8"


def tokenize(text: str, size: int = 4) -> list[str]:
    """The text in tokens of a few characters, as a model's tokenizer cuts it."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def entry(token: str, rank: int, alternatives: int = 3) -> dict[str, Any]:
    """A logprobs entry as OpenAI writes it: the chosen token first among its alternatives."""
    others = [f"alt{k}{token[:1]}" for k in range(1, alternatives)]
    return {
        "token": token,
        "logprob": -0.01 * rank,
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": alt, "logprob": -0.01 * rank - k, "bytes": list(alt.encode())}
            for k, alt in enumerate([token, *others])
        ],
    }


def chat_completion(tokens: list[str]) -> str:
    """A non-streamed chat completion with logprobs, pretty-printed as OpenAI sends it."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                "logprobs": {
                    "content": [entry(t, i) for i, t in enumerate(tokens)],
                    "refusal": None,
                },
                "finish_reason": "stop",
            }
        ],
    }
    return json.dumps(body, indent=2)


def chat_chunks(tokens: list[str]) -> str:
    """A streamed chat completion with logprobs: each chunk's logprobs list its delta's token."""
    chunks = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": token},
                    "logprobs": {"content": [entry(token, i)], "refusal": None},
                    "finish_reason": None,
                }
            ],
        }
        for i, token in enumerate(tokens)
    ]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def responses_events(tokens: list[str]) -> str:
    """The Responses API's stream: text deltas with their logprobs, then the whole text's."""
    events: list[dict[str, Any]] = [
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": token,
            "logprobs": [entry(token, i)],
            "sequence_number": i,
        }
        for i, token in enumerate(tokens)
    ]
    whole = [entry(t, i) for i, t in enumerate(tokens)]
    events.append(
        {
            "type": "response.output_text.done",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "text": "".join(tokens),
            "logprobs": whole,
            "sequence_number": len(tokens),
        }
    )
    part = {"type": "output_text", "text": "".join(tokens), "annotations": [], "logprobs": whole}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [part]}
    events.append(
        {
            "type": "response.completed",
            "response": {"id": "resp_1", "object": "response", "output": [message]},
            "sequence_number": len(tokens) + 1,
        }
    )
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def scrub(body: str, content_type: str, environ: dict[str, str] | None = None) -> tuple[str, int]:
    scrubber = Scrubber(ScrubRules(), environ=environ or {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [content_type]},
        "body": {"string": body.encode()},
    }
    new, count = scrubber.scrub_response(response)
    assert new is not None
    return new["body"]["string"].decode(), count


def data_lines(body: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for line in re.split(r"\r\n|\r|\n", body)
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def check_entries(old: list[dict[str, Any]], new: list[dict[str, Any]], joined: str) -> None:
    """The entries stay as many, their logprobs as they were, each one's bytes its token's,
    the alternative that was the chosen token still it, and the tokens join to `joined`."""
    assert len(new) == len(old)
    assert "".join(e["token"] for e in new) == joined
    for before, after in zip(old, new):
        assert after["logprob"] == before["logprob"]
        assert after["bytes"] == list(after["token"].encode())
        assert len(after["top_logprobs"]) == len(before["top_logprobs"])
        for alt_before, alt_after in zip(before["top_logprobs"], after["top_logprobs"]):
            assert alt_after["logprob"] == alt_before["logprob"]
            assert alt_after["bytes"] == list(alt_after["token"].encode())
        if after["token"] != before["token"]:  # every alternative reads the chosen text
            assert {alt["token"] for alt in after["top_logprobs"]} == {after["token"]}
        else:
            assert after["top_logprobs"] == before["top_logprobs"]


def no_piece_of_the_key(text: str) -> None:
    for piece in tokenize(OPENAI)[3:]:  # past `sk-proj-`: the key's own characters
        assert piece not in text
    for piece in tokenize(OPENAI)[3:]:
        assert json.dumps(list(piece.encode()))[1:-1] not in text


def test_a_chat_completion_s_logprobs_lose_a_key_split_over_tokens() -> None:
    tokens = ["Your", " key", " is", " ", *tokenize(OPENAI), "."]
    body = chat_completion(tokens)
    new, _ = scrub(body, "application/json")
    no_piece_of_the_key(new)
    before, after = json.loads(body), json.loads(new)
    assert after["choices"][0]["message"]["content"] == "Your key is <SCRUBBED:openai>."
    check_entries(
        before["choices"][0]["logprobs"]["content"],
        after["choices"][0]["logprobs"]["content"],
        "Your key is <SCRUBBED:openai>.",
    )
    # The formatting is kept: a changed `bytes` is written in its array's own layout.
    assert new.count("\n") < body.count("\n")
    assert '"bytes": [\n' in new
    assert scrub(new, "application/json") == (new, 0)


def test_a_streamed_chat_completion_s_logprobs_lose_a_key_split_over_chunks() -> None:
    tokens = ["Your", " key", " is", " ", *tokenize(OPENAI), "."]
    body = chat_chunks(tokens)
    new, _ = scrub(body, SSE)
    no_piece_of_the_key(new)
    before, after = data_lines(body), data_lines(new)
    assert len(after) == len(before)
    text = "".join(c["choices"][0]["delta"]["content"] for c in after)
    assert text == "Your key is <SCRUBBED:openai>."
    check_entries(
        [e for c in before for e in c["choices"][0]["logprobs"]["content"]],
        [e for c in after for e in c["choices"][0]["logprobs"]["content"]],
        "Your key is <SCRUBBED:openai>.",
    )
    assert scrub(new, SSE) == (new, 0)


def test_an_environment_value_and_a_password_split_over_tokens_go_too() -> None:
    text = f"Use {ENV_KEY} and password=hunter2 now"
    tokens = tokenize(text, 3)
    new, _ = scrub(chat_chunks(tokens), SSE, environ={"ACME_API_KEY": ENV_KEY})
    entries = [e for c in data_lines(new) for e in c["choices"][0]["logprobs"]["content"]]
    joined = "".join(e["token"] for e in entries)
    assert joined == "Use <ACME_API_KEY> and password=<SCRUBBED> now"
    assert "hunter2" not in "".join(json.dumps(e) for e in entries)
    new, _ = scrub(chat_completion(tokens), "application/json", {"ACME_API_KEY": ENV_KEY})
    entries = json.loads(new)["choices"][0]["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == (
        "Use <ACME_API_KEY> and password=<SCRUBBED> now"
    )


def test_the_responses_api_s_logprobs_streamed_and_whole_lose_the_key() -> None:
    tokens = ["Key: ", *tokenize(OPENAI), " ok"]
    body = responses_events(tokens)
    new, _ = scrub(body, SSE)
    no_piece_of_the_key(new)
    before, after = data_lines(body), data_lines(new)
    expected = "Key: <SCRUBBED:openai> ok"
    deltas = [e for e in after if e["type"] == "response.output_text.delta"]
    assert "".join(e["delta"] for e in deltas) == expected
    check_entries(
        [lp for e in before[: len(deltas)] for lp in e["logprobs"]],
        [lp for e in deltas for lp in e["logprobs"]],
        expected,
    )
    done, completed = after[len(deltas)], after[len(deltas) + 1]
    check_entries(before[len(deltas)]["logprobs"], done["logprobs"], expected)
    part = completed["response"]["output"][0]["content"][0]
    check_entries(
        before[len(deltas) + 1]["response"]["output"][0]["content"][0]["logprobs"],
        part["logprobs"],
        expected,
    )
    assert scrub(new, SSE) == (new, 0)
    # Not streamed: the response object, its content part's logprobs.
    whole = json.dumps(before[len(deltas) + 1]["response"])
    new_whole, _ = scrub(whole, "application/json")
    no_piece_of_the_key(new_whole)
    lps = json.loads(new_whole)["output"][0]["content"][0]["logprobs"]
    check_entries(part["logprobs"], lps, expected)


def test_nothing_changes_in_logprobs_without_a_secret() -> None:
    tokens = tokenize("The key is in the drawer, the token on the desk: Ab3dEf6hIj9k.")
    for body, kind in (
        (chat_completion(tokens), "application/json"),
        (chat_chunks(tokens), SSE),
        (responses_events(tokens), SSE),
    ):
        assert scrub(body, kind) == (body, 0)


def test_a_key_whole_in_one_token_still_loses_its_bytes() -> None:
    tokens = ["Key ", ENV_KEY, "."]  # no rule of the JSON pass touches `bytes`
    new, _ = scrub(chat_completion(tokens), "application/json", {"ACME_API_KEY": ENV_KEY})
    assert ENV_KEY not in new
    entries = json.loads(new)["choices"][0]["logprobs"]["content"]
    assert b"".join(bytes(e["bytes"]) for e in entries) == b"Key <ACME_API_KEY>."
    assert [alt["token"] for alt in entries[1]["top_logprobs"]] == ["<ACME_API_KEY>"] * 3


def test_scan_reports_a_key_left_in_the_logprobs_of_an_old_cassette(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Recorded before logprobs were read: the content scrubbed, the tokens not.
    tokens = ["Your", " key", " is", " ", *tokenize(OPENAI), "."]
    body = json.loads(chat_completion(tokens))
    body["choices"][0]["message"]["content"] = "Your key is <SCRUBBED:openai>."
    text = json.dumps(body).replace("'", "''")
    cassette = tmp_path / "old.yaml"
    cassette.write_text(
        "interactions:\n- request:\n    body: null\n    headers: {}\n    method: POST\n"
        "    uri: https://api.openai.com/v1/chat/completions\n  response:\n"
        f"    body:\n      string: '{text}'\n"
        "    headers:\n      Content-Type:\n      - application/json\n"
        "    status:\n      code: 200\n      message: OK\nversion: 1\n"
    )
    status = main(["scan", str(cassette)])
    out = capsys.readouterr().out
    assert status == 1
    assert "openai" in out


def test_a_long_logprobs_stream_keeps_no_key() -> None:
    # (How its time grows is measured outside the suite: no timed test.)
    body = chat_chunks(tokenize("word " * 20_000 + OPENAI, 3))
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [SSE]},
        "body": {"string": body.encode()},
    }
    new, count = Scrubber(ScrubRules(), environ={}).scrub_response(response)
    assert new is not None and count >= 1
    text = new["body"]["string"].decode()
    assert all(OPENAI[i : i + 8] not in text for i in range(0, len(OPENAI) - 8, 4))


def test_a_recorded_logprobs_stream_keeps_no_key_and_replays(suite: Suite) -> None:
    tokens = ["Your", " key", " is", " ", *tokenize(OPENAI), "."]
    suite.server.route(
        "/v1/chat/completions",
        headers={"Content-Type": "text/event-stream"},
        body=chat_chunks(tokens),
    )
    suite.write(
        """
        import json
        import pathlib

        import httpx

        @pytest.mark.cassette
        def test_stream():
            body = {"model": "gpt-4o-mini", "stream": True, "logprobs": True, "top_logprobs": 3}
            with httpx.stream("POST", URL + "/v1/chat/completions", json=body) as response:
                datas = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
            entries = [
                e for d in datas[:-1] for e in json.loads(d)["choices"][0]["logprobs"]["content"]
            ]
            text = "".join(e["token"] for e in entries)
            decoded = b"".join(bytes(e["bytes"]) for e in entries).decode()
            pathlib.Path("joined.txt").write_text(text + "|" + decoded)
        """
    )
    suite.run().assert_outcomes(passed=1)
    cassette = suite.cassette_path("test_stream").read_text()
    for piece in tokenize(OPENAI)[3:]:
        assert piece not in cassette
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    expected = "Your key is <SCRUBBED:openai>."
    assert (suite.path / "joined.txt").read_text() == expected + "|" + expected


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_logprobs_of_events_pretty_printed_over_data_lines_stay_json(newline: str) -> None:
    """An event's JSON over several `data:` lines (a server pretty-printing it): a `bytes`
    array spans lines, and is replaced whole, on one line, the event still JSON."""
    tokens = tokenize(OPENAI)
    events = []
    for i, token in enumerate(tokens):
        chunk = {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": token},
                    "logprobs": {"content": [entry(token, i)]},
                }
            ]
        }
        lines = json.dumps(chunk, indent=1).split("\n")
        events.append("".join(f"data: {line}{newline}" for line in lines) + newline)
    body = "".join(events)
    new, _ = scrub(body, SSE)
    chunks = []
    for block in re.split(r"(?:\r\n|\n){2}", new):
        if block.strip():
            lines = re.split(r"\r\n|\n", block)
            chunks.append(json.loads("\n".join(line[6:] for line in lines)))
    assert len(chunks) == len(tokens)
    old = [entry(t, i) for i, t in enumerate(tokens)]
    new_entries = [c["choices"][0]["logprobs"]["content"][0] for c in chunks]
    joined = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    check_entries(old, new_entries, joined)
    no_piece_of_the_key(new)
    assert scrub(new, SSE)[0] == new
