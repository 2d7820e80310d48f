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
    """Each event's JSON (one `data:` line each; TGI writes no space after the colon)."""
    datas = [line[5:].lstrip(" ") for line in re.split(r"\r\n|\r|\n", body)]
    return [
        json.loads(data)
        for line, data in zip(re.split(r"\r\n|\r|\n", body), datas)
        if line.startswith("data:") and data != "[DONE]"
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


def test_a_token_field_that_is_no_model_output_goes_beside_logprobs() -> None:
    # Tokens beside their logprob are the model's text, kept without reading each event's JSON
    # key by key; a `token` of another object in the same event is a credential all the same.
    tokens = tokenize("The answer is forty-two.")
    body = chat_chunks(tokens).replace(
        '"object": "chat.completion.chunk"',
        '"object": "chat.completion.chunk", "meta": {"token": "hunter2"}',
        1,
    )
    new, count = scrub(body, SSE)
    assert count == 1
    assert '"meta": {"token": "<SCRUBBED>"}' in new
    assert new.replace('"<SCRUBBED>"', '"hunter2"') == body


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


# Other shapes of log probabilities (legacy completions', Gemini's, Ollama's, Cohere's) and
# an audio answer's transcript: a recorded response of each keeps no piece of the secret,
# stays JSON of the same shape, and replays.

PLACEHOLDERS = {OPENAI: "<SCRUBBED:openai>", ENV_KEY: "<ACME_API_KEY>"}


def secret_tokens(secret: str) -> list[str]:
    return ["Your", " key", " is", " ", *tokenize(secret, 3), "."]


def secret_pieces(secret: str) -> list[str]:
    """The tokens of a secret (see secret_tokens) past its known prefix."""
    prefix = len("sk-proj-" if secret == OPENAI else "acme-live-")
    tokens = [(i, secret[i : i + 3]) for i in range(0, len(secret), 3)]
    return [token for i, token in tokens if i >= prefix and len(token) == 3]


def sse(events: list[dict[str, Any]], eol: str = "\n", done: bool = False) -> str:
    names = [f"event: {e['type']}{eol}" if "type" in e else "" for e in events]
    text = "".join(f"{name}data: {json.dumps(e)}{eol}{eol}" for name, e in zip(names, events))
    return text + (f"data: [DONE]{eol}{eol}" if done else "")


def offsets(tokens: list[str], start: int = 0) -> list[int]:
    return [start + len("".join(tokens[:i])) for i in range(len(tokens))]


def legacy_logprobs(tokens: list[str], start: int = 0) -> dict[str, Any]:
    """A legacy completion's logprobs (`/v1/completions`, vLLM): alternatives keyed by text."""
    return {
        "tokens": tokens,
        "token_logprobs": [-0.01 * i for i in range(len(tokens))],
        "top_logprobs": [{t: -0.01 * i, f"alt{t[:1]}": -1.5 - i} for i, t in enumerate(tokens)],
        "text_offset": offsets(tokens, start),
    }


def legacy_completion(tokens: list[str], stream: bool) -> str:
    head = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "instruct"}
    if not stream:
        choice = {"text": "".join(tokens), "index": 0, "logprobs": legacy_logprobs(tokens)}
        return json.dumps({**head, "choices": [{**choice, "finish_reason": "stop"}]}, indent=2)
    chunks = [
        {**head, "choices": [{"text": t, "index": 0, "logprobs": legacy_logprobs([t], start)}]}
        for t, start in zip(tokens, offsets(tokens))
    ]
    return sse(chunks, done=True)


def gemini_logprobs(tokens: list[str]) -> dict[str, Any]:
    def candidate(token: str, k: int) -> dict[str, Any]:
        return {"token": token, "tokenId": 1000 + k, "logProbability": -0.5 * k}

    return {
        "topCandidates": [
            {"candidates": [candidate(t, 0), candidate(f"alt{t[:1]}", 1)]} for t in tokens
        ],
        "chosenCandidates": [candidate(t, 0) for t in tokens],
        "logProbabilitySum": -1.5,
    }


def gemini_chunk(part: list[str]) -> dict[str, Any]:
    content = {"parts": [{"text": "".join(part)}], "role": "model"}
    candidate = {"content": content, "index": 0, "logprobsResult": gemini_logprobs(part)}
    return {"candidates": [candidate], "modelVersion": "gemini-2.0-flash"}


def gemini_response(tokens: list[str], stream: bool) -> str:
    if not stream:
        return json.dumps(gemini_chunk(tokens), indent=2)
    return sse([gemini_chunk([t]) for t in tokens], eol="\r\n")  # Gemini's framing


def gemini_array(tokens: list[str]) -> str:
    """Gemini's stream without `alt=sse`: one JSON array of its chunks, each pretty-printed."""
    return "[" + ",\r\n".join(json.dumps(gemini_chunk([t]), indent=2) for t in tokens) + "]"


def tgi_token(text: str, k: int = 0, special: bool = False) -> dict[str, Any]:
    return {"id": 900 + 10 * len(text) + k, "text": text, "logprob": -0.5 * k, "special": special}


def tgi_response(tokens: list[str], stream: bool) -> str:
    """Hugging Face TGI: `/generate` with `details` (the prompt's `prefill` too: it echoes the
    answer), or `/generate_stream`'s events, the last with the whole text; `</s>` special."""
    end = tgi_token("</s>", special=True)
    alternatives = [[tgi_token(t), tgi_token(f"alt{t[:1]}", 1)] for t in tokens]
    if not stream:
        prefill = [{"id": tgi_token(t)["id"], "text": t, "logprob": -1.0} for t in tokens]
        details = {
            "finish_reason": "eos_token",
            "generated_tokens": len(tokens) + 1,
            "seed": None,
            "prefill": [{**prefill[0], "logprob": None}, *prefill[1:]],
            "tokens": [tgi_token(t) for t in tokens] + [end],
            "top_tokens": [*alternatives, [end]],
        }
        return json.dumps({"generated_text": "".join(tokens), "details": details})
    events: list[dict[str, Any]] = [
        {"index": i + 1, "token": tgi_token(t), "top_tokens": top, "generated_text": None}
        for i, (t, top) in enumerate(zip(tokens, alternatives))
    ]
    details = {"finish_reason": "eos_token", "generated_tokens": len(tokens) + 1, "seed": None}
    last = {"index": len(tokens) + 1, "token": end, "top_tokens": [end]}
    events.append({**last, "generated_text": "".join(tokens), "details": details})
    return "".join(f"data:{json.dumps(e, separators=(',', ':'))}\n\n" for e in events)


def cohere_v1(tokens: list[str], stream: bool) -> str:
    """Cohere's v1 API: `/v1/chat`'s stream (JSON lines, the whole text at its end), or
    `/v1/generate`'s generations with `return_likelihoods`."""
    if not stream:
        likelihoods = [{"token": t, "likelihood": -0.1 * i} for i, t in enumerate(tokens)]
        generation = {"id": "g1", "text": "".join(tokens), "token_likelihoods": likelihoods}
        return json.dumps({"id": "r1", "generations": [generation], "prompt": "Say it."})
    events: list[dict[str, Any]] = [
        {"is_finished": False, "event_type": "stream-start", "generation_id": "g1"}
    ]
    events += [{"is_finished": False, "event_type": "text-generation", "text": t} for t in tokens]
    response = {"response_id": "r1", "text": "".join(tokens), "finish_reason": "COMPLETE"}
    events.append({"is_finished": True, "event_type": "stream-end", "response": response})
    return "".join(json.dumps(e) + "\n" for e in events)


def vllm_prompt_position(token: str) -> dict[str, Any]:
    """A prompt position of vLLM's `prompt_logprobs`: the prompt's token first, keyed by id."""
    return {
        str(700 + len(token)): {"logprob": -2.5, "rank": 4, "decoded_token": token},
        "13": {"logprob": -0.3, "rank": 1, "decoded_token": f"alt{token[:1]}"},
    }


def vllm_prompt(tokens: list[str], chat: bool) -> str:
    """vLLM's `prompt_logprobs`: the prompt's tokens (here the text to echo), the first
    position `null`; on a chat completion at its top level, on a completion's choices."""
    positions = [None, *(vllm_prompt_position(t) for t in tokens)]
    answer = {"index": 0, "logprobs": None, "finish_reason": "length"}
    if chat:
        message = {"role": "assistant", "content": "OK."}
        choice = {**answer, "message": message}
        body = {"object": "chat.completion", "choices": [choice], "prompt_logprobs": positions}
    else:
        choice = {**answer, "text": "OK.", "prompt_logprobs": positions}
        body = {"object": "text_completion", "choices": [choice]}
    return json.dumps(body, indent=2)


def ollama_lines(tokens: list[str], endpoint: str) -> str:
    """Ollama's streamed answer (`/api/chat`, `/api/generate`): a JSON line a chunk."""

    def chunk(text: str, done: bool) -> dict[str, Any]:
        answer: dict[str, Any] = (
            {"message": {"role": "assistant", "content": text}}
            if endpoint == "chat"
            else {"response": text}
        )
        lines = [entry(text, 1, 2)] if text else []
        return {"model": "llama3.2", **answer, "done": done, "logprobs": lines}

    chunks = [chunk(t, False) for t in tokens] + [chunk("", True)]
    return "".join(json.dumps(c) + "\n" for c in chunks)


def cohere_logprob(text: str) -> dict[str, Any]:
    return {"token_ids": [300 + len(text), 7], "text": text, "logprobs": [-0.25, -0.5]}


def cohere_response(tokens: list[str], stream: bool) -> str:
    if not stream:
        message = {"role": "assistant", "content": [{"type": "text", "text": "".join(tokens)}]}
        logprobs = [cohere_logprob(t) for t in tokens]
        return json.dumps(
            {"id": "c1", "message": message, "finish_reason": "COMPLETE", "logprobs": logprobs}
        )
    events: list[dict[str, Any]] = [{"type": "message-start", "id": "c1"}]
    events += [
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"text": t}}},
            "logprobs": cohere_logprob(t),
        }
        for t in tokens
    ]
    return sse([*events, {"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}])


def audio_chunks(tokens: list[str]) -> str:
    """A chat completion's audio answer, streamed: its transcript a few characters a chunk."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "audio": {"id": "a1", "transcript": ""}}]
    deltas += [{"audio": {"transcript": t}} for t in tokens]
    deltas += [{"audio": {"data": "UklGRg=="}}, {"audio": {"id": "a1", "expires_at": 9}}]
    chunks = [{"id": "c1", "choices": [{"index": 0, "delta": d}]} for d in deltas]
    return sse(chunks, done=True)


def llamacpp_entry(token: str, i: int, sampled: bool) -> dict[str, Any]:
    """llama.cpp's own `/completion` with `n_probs`: a token, its id and bytes, its
    alternatives (`post_sampling_probs`: `prob` and `top_probs`)."""
    value, top = ("prob", "top_probs") if sampled else ("logprob", "top_logprobs")

    def one(text: str, k: int) -> dict[str, Any]:
        return {"id": 500 + 7 * k + len(text), "token": text, "bytes": list(text.encode())}

    alternatives = [{**one(t, k), value: -0.5 * k} for k, t in enumerate([token, f"al{i}"])]
    return {**one(token, 0), value: -0.01 * i, top: alternatives}


def llamacpp_old_entry(token: str, i: int) -> dict[str, Any]:
    """Older llama.cpp's: the token's `content`, its alternatives' `tok_str`."""
    return {"content": token, "probs": [{"tok_str": token, "prob": 0.9}, {"tok_str": f"al{i}"}]}


def llamacpp(tokens: list[str], stream: bool, sampled: bool = False, old: bool = False) -> str:
    """llama.cpp's `/completion` answer with `n_probs`, or its stream (older versions list
    every token's probabilities again in the last event)."""

    def entries(part: list[str], start: int) -> list[dict[str, Any]]:
        if old:
            return [llamacpp_old_entry(t, start + i) for i, t in enumerate(part)]
        return [llamacpp_entry(t, start + i, sampled) for i, t in enumerate(part)]

    last = {"index": 0, "id_slot": 0, "stop": True, "model": "qwen.gguf", "stop_type": "eos"}
    last |= {"tokens_predicted": len(tokens), "tokens_evaluated": 5, "truncated": False}
    if not stream:
        whole = {**last, "content": "".join(tokens), "tokens": []}
        return json.dumps({**whole, "completion_probabilities": entries(tokens, 0)}, indent=2)
    events = [
        {"index": 0, "content": t, "tokens": [600 + i], "stop": False, "id_slot": -1}
        | {"tokens_predicted": i + 1, "completion_probabilities": entries([t], i)}
        for i, t in enumerate(tokens)
    ]
    end = {**last, "content": "", "tokens": []}
    events.append({**end, "completion_probabilities": entries(tokens, 0)} if old else end)
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events)


def documents(body: str, kind: str) -> list[Any]:
    if kind == "sse":
        return data_lines(body)
    if kind == "lines":
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    if kind == "array":
        return list(json.loads(body))
    return [json.loads(body)]


def answers(docs: list[Any], shape: str) -> list[str]:
    """The texts a client reads in a response: the answer, and its tokens joined."""
    if shape == "legacy":
        choices = [d["choices"][0] for d in docs]
        tokens = [t for c in choices for t in c["logprobs"]["tokens"]]
        return ["".join(c["text"] for c in choices), "".join(tokens)]
    if shape == "gemini":
        candidates = [d["candidates"][0] for d in docs]
        chosen = [c for d in candidates for c in d["logprobsResult"]["chosenCandidates"]]
        text = "".join(d["content"]["parts"][0]["text"] for d in candidates)
        return [text, "".join(c["token"] for c in chosen)]
    if shape == "ollama":
        text = "".join(d["message"]["content"] if "message" in d else d["response"] for d in docs)
        return [text, "".join(e["token"] for d in docs for e in d["logprobs"])]
    if shape == "tgi":
        if len(docs) == 1:
            details = docs[0]["details"]
            tokens = "".join(t["text"] for t in details["tokens"] if not t["special"])
            prefill = "".join(t["text"] for t in details["prefill"])
            return [docs[0]["generated_text"], tokens, prefill]
        tokens = "".join(d["token"]["text"] for d in docs if not d["token"]["special"])
        return [tokens, docs[-1]["generated_text"]]
    if shape == "cohere-v1":
        if len(docs) == 1:
            generation = docs[0]["generations"][0]
            likelihoods = generation["token_likelihoods"]
            return [generation["text"], "".join(t["token"] for t in likelihoods)]
        texts = [d["text"] for d in docs if d["event_type"] == "text-generation"]
        return ["".join(texts), docs[-1]["response"]["text"]]
    if shape == "vllm-prompt":
        positions = docs[0].get("prompt_logprobs") or docs[0]["choices"][0]["prompt_logprobs"]
        return ["".join(next(iter(p.values()))["decoded_token"] for p in positions if p)]
    if shape == "cohere":
        if len(docs) == 1:
            text = docs[0]["message"]["content"][0]["text"]
            return [text, "".join(lp["text"] for lp in docs[0]["logprobs"])]
        deltas = [d for d in docs if d["type"] == "content-delta"]
        text = "".join(d["delta"]["message"]["content"]["text"] for d in deltas)
        return [text, "".join(d["logprobs"]["text"] for d in deltas)]
    if shape == "llamacpp":
        lists = [d.get("completion_probabilities", []) for d in docs]
        joined = ["".join(e.get("token", e.get("content")) for e in entries) for entries in lists]
        if len(docs) == 1:
            return [docs[0]["content"], joined[0]]
        again = [joined[-1]] if lists[-1] else []  # older versions list them all again
        return ["".join(d["content"] for d in docs), "".join(joined[:-1]), *again]
    audio = [d["choices"][0]["delta"].get("audio", {}) for d in docs]
    return ["".join(a.get("transcript", "") for a in audio)]


def structure(value: Any, key: str = "") -> Any:
    """A JSON value's shape: its keys and types (an array of numbers, of any length, an array; a
    legacy completion's alternatives, keyed by their text, by the types of their values)."""
    if isinstance(value, dict):
        if key == "top_logprobs" and "logprob" not in value:
            return {"<token>": sorted({type(v).__name__ for v in value.values()})}
        if key == "prompt_logprobs":  # alternatives keyed by their ids
            return {"<id>": sorted({repr(structure(v)) for v in value.values()})}
        return {k: structure(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [structure(item, key) for item in value]
        return items if any(isinstance(item, (dict, list)) for item in items) else "array"
    return type(value).__name__


NDJSON = "application/x-ndjson"
JSON = "application/json"
COHERE_V1 = "application/stream+json"
GEMINI_STREAM = "/v1beta/models/g:streamGenerateContent"
VLLM_CHAT = "/v1/chat/completions"
SHAPES = {
    # name: (path, content type, body, how it is read, shape, secret)
    "legacy": ("/v1/completions", JSON, legacy_completion, "json", "legacy", OPENAI),
    "legacy-stream": ("/v1/completions", SSE, legacy_completion, "sse", "legacy", ENV_KEY),
    "gemini": (
        "/v1beta/models/g:generateContent",
        JSON,
        gemini_response,
        "json",
        "gemini",
        ENV_KEY,
    ),
    "gemini-sse": (
        "/v1beta/models/g:streamGenerateContent",
        SSE,
        gemini_response,
        "sse",
        "gemini",
        OPENAI,
    ),
    "ollama-chat": ("/api/chat", NDJSON, ollama_lines, "lines", "ollama", OPENAI),
    "ollama-generate": ("/api/generate", NDJSON, ollama_lines, "lines", "ollama", ENV_KEY),
    "cohere": ("/v2/chat", JSON, cohere_response, "json", "cohere", OPENAI),
    "cohere-stream": ("/v2/chat", SSE, cohere_response, "sse", "cohere", ENV_KEY),
    "audio-stream": ("/v1/chat/completions", SSE, audio_chunks, "sse", "audio", OPENAI),
    "gemini-array": (GEMINI_STREAM, JSON, gemini_array, "array", "gemini", OPENAI),
    "tgi": ("/generate", JSON, tgi_response, "json", "tgi", OPENAI),
    "tgi-stream": ("/generate_stream", SSE, tgi_response, "sse", "tgi", ENV_KEY),
    "cohere-v1-stream": ("/v1/chat", COHERE_V1, cohere_v1, "lines", "cohere-v1", OPENAI),
    "cohere-v1-generate": ("/v1/generate", JSON, cohere_v1, "json", "cohere-v1", ENV_KEY),
    "vllm-prompt": ("/v1/completions", JSON, vllm_prompt, "json", "vllm-prompt", OPENAI),
    "vllm-chat-prompt": (VLLM_CHAT, JSON, vllm_prompt, "json", "vllm-prompt", ENV_KEY),
    "llamacpp": ("/completion", JSON, llamacpp, "json", "llamacpp", OPENAI),
    "llamacpp-stream": ("/completion", SSE, llamacpp, "sse", "llamacpp", ENV_KEY),
    "llamacpp-sampled": ("/completion", JSON, llamacpp, "json", "llamacpp", ENV_KEY),
    "llamacpp-sampled-stream": ("/completion", SSE, llamacpp, "sse", "llamacpp", OPENAI),
    "llamacpp-old": ("/completion", JSON, llamacpp, "json", "llamacpp", ENV_KEY),
    "llamacpp-old-stream": ("/completion", SSE, llamacpp, "sse", "llamacpp", OPENAI),
}


def shape_body(name: str, tokens: list[str]) -> str:
    path, _, make, kind, _, _ = SHAPES[name]
    if make is ollama_lines:
        return ollama_lines(tokens, path.rpartition("/")[2])
    if make in (audio_chunks, gemini_array):
        return make(tokens)  # type: ignore[operator]
    if make is vllm_prompt:
        return vllm_prompt(tokens, chat="chat" in path)
    if make is llamacpp:
        return llamacpp(tokens, kind == "sse", sampled="sampled" in name, old="old" in name)
    return make(tokens, kind in ("sse", "lines"))  # type: ignore[call-arg]


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_recorded_answer_of_each_shape_keeps_no_piece_of_the_secret_and_replays(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path, content_type, _, kind, shape, secret = SHAPES[name]
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    body = shape_body(name, secret_tokens(secret))
    suite.server.route(path, headers={"Content-Type": content_type}, body=body)
    suite.write(
        f"""
        import pathlib

        import httpx

        @pytest.mark.cassette
        def test_answer():
            response = httpx.post(URL + "{path}?alt=sse", json={{"logprobs": True}})
            pathlib.Path("got.txt").write_text(response.text)
        """
    )
    suite.run().assert_outcomes(passed=1)
    cassette = suite.cassette_path("test_answer").read_text()
    recorded = suite.cassette("test_answer")["interactions"][0]["response"]["body"]["string"]
    recorded = recorded.decode() if isinstance(recorded, bytes) else recorded
    for piece in secret_pieces(secret):
        assert piece not in cassette and piece not in recorded
    old, new = documents(body, kind), documents(recorded, kind)
    assert [structure(d) for d in new] == [structure(d) for d in old]
    expected = f"Your key is {PLACEHOLDERS[secret]}."
    assert answers(new, shape) == [expected] * len(answers(old, shape))
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.txt").read_bytes().decode() == recorded


def test_a_legacy_completion_s_alternatives_are_one_and_its_offsets_follow() -> None:
    tokens = secret_tokens(OPENAI)
    body = legacy_completion(tokens, stream=False)
    new, _ = scrub(body, JSON)
    old_lp = json.loads(body)["choices"][0]["logprobs"]
    lp = json.loads(new)["choices"][0]["logprobs"]
    text = "".join(lp["tokens"])
    assert text == "Your key is <SCRUBBED:openai>."
    assert lp["token_logprobs"] == old_lp["token_logprobs"]
    # Alternatives keyed by text: one at a changed position, the new token's (with the chosen
    # token's log probability), so a client's `top_logprobs[i][tokens[i]]` still reads.
    for token, before, after, logprob in zip(
        lp["tokens"], old_lp["top_logprobs"], lp["top_logprobs"], lp["token_logprobs"]
    ):
        assert after == (before if token in before else {token: logprob})
    # Each offset still says where its token is in the text.
    assert all(text[o:].startswith(t) for t, o in zip(lp["tokens"], lp["text_offset"]))
    first = tokens.index(" ") + 1  # the secret's first token: it and those before keep theirs
    assert lp["text_offset"][: first + 1] == old_lp["text_offset"][: first + 1]
    assert lp["text_offset"][first + 1 :] != old_lp["text_offset"][first + 1 :]
    assert '{\n            "<SCRUBBED:openai>": ' in new  # the object's own layout
    assert scrub(new, JSON) == (new, 0)


def test_a_streamed_legacy_completion_s_offsets_follow_over_chunks() -> None:
    tokens = ["Key ", *tokenize(OPENAI, 5), " and more", " text"]
    new, _ = scrub(legacy_completion(tokens, stream=True), SSE)
    choices = [c["choices"][0] for c in data_lines(new)]
    text = "".join(c["text"] for c in choices)
    assert text == "Key <SCRUBBED:openai> and more text"
    for before, choice in zip(tokens, choices):
        (token,), (offset,) = choice["logprobs"]["tokens"], choice["logprobs"]["text_offset"]
        assert token == choice["text"] and text[offset:].startswith(token)
        alternatives = choice["logprobs"]["top_logprobs"][0]
        assert list(alternatives) == ([token] if token != before else [token, f"alt{token[:1]}"])


def test_legacy_alternatives_keyed_by_a_sensitive_word_keep_their_log_probabilities() -> None:
    # `{" password": -0.2}`: the key is a token, not a field's name; its value a number.
    tokens = ["My", " password", " is", " secret"]
    for body, kind in (
        (legacy_completion(tokens, stream=False), JSON),
        (legacy_completion(tokens, stream=True), SSE),
    ):
        assert scrub(body, kind) == (body, 0)


def test_gemini_s_token_ids_go_with_the_tokens_they_spell() -> None:
    tokens = secret_tokens(OPENAI)
    body = gemini_response(tokens, stream=False)
    new, _ = scrub(body, JSON)
    old = json.loads(body)["candidates"][0]["logprobsResult"]
    result = json.loads(new)["candidates"][0]["logprobsResult"]
    text = "".join(chosen["token"] for chosen in result["chosenCandidates"])
    assert text == "Your key is <SCRUBBED:openai>."
    pairs = zip(old["chosenCandidates"], result["chosenCandidates"], result["topCandidates"])
    for before, chosen, top in pairs:
        assert chosen["logProbability"] == before["logProbability"]
        if chosen["token"] == before["token"]:
            assert chosen["tokenId"] == before["tokenId"]
        else:  # the old ids spell the secret in the model's vocabulary
            assert chosen["tokenId"] == 0
            assert [(c["token"], c["tokenId"]) for c in top["candidates"]] == [
                (chosen["token"], 0)
            ] * 2
    assert result["topCandidates"][0] == old["topCandidates"][0]
    assert result["logProbabilitySum"] == old["logProbabilitySum"]


def test_cohere_s_token_ids_are_zeroed_where_the_text_changed() -> None:
    tokens = secret_tokens(ENV_KEY)
    new, _ = scrub(cohere_response(tokens, stream=False), JSON, {"ACME_API_KEY": ENV_KEY})
    items = json.loads(new)["logprobs"]
    assert "".join(item["text"] for item in items) == "Your key is <ACME_API_KEY>."
    for token, item in zip(tokens, items):
        expected = cohere_logprob(token)
        if item["text"] == token:
            assert item == expected
        else:
            assert item == {**expected, "text": item["text"], "token_ids": [0, 0]}


def test_ollama_s_logprobs_whole_and_in_json_lines_lose_the_key() -> None:
    tokens = secret_tokens(OPENAI)
    lines = ollama_lines(tokens, "chat")
    new, _ = scrub(lines, NDJSON)
    old_entries = [e for d in documents(lines, "lines") for e in d["logprobs"]]
    entries = [e for d in documents(new, "lines") for e in d["logprobs"]]
    check_entries(old_entries, entries, "Your key is <SCRUBBED:openai>.")
    # Not streamed: one document, its logprobs at its top level.
    whole = json.dumps(
        {
            "model": "llama3.2",
            "message": {"role": "assistant", "content": "".join(tokens)},
            "done": True,
            "logprobs": old_entries,
        }
    )
    new, _ = scrub(whole, JSON)
    check_entries(old_entries, json.loads(new)["logprobs"], "Your key is <SCRUBBED:openai>.")
    no_piece_of_the_key(new)


def test_ollama_s_streamed_answer_without_logprobs_is_joined_over_its_lines() -> None:
    tokens = ["Use ", *tokenize(OPENAI, 7), " now"]
    body = "".join(
        json.dumps({"model": "m", "message": {"role": "assistant", "content": t}, "done": False})
        + "\n"
        for t in tokens
    )
    new, count = scrub(body, NDJSON)
    assert count == 1
    text = "".join(d["message"]["content"] for d in documents(new, "lines"))
    assert text == "Use <SCRUBBED:openai> now"
    assert len(new.splitlines()) == len(tokens)


def test_json_lines_of_other_records_are_not_joined_as_one_answer() -> None:
    # Records with a `response` and a `done` that are no chunks of a model's answer (not
    # Ollama's: no `model`): the end of one and the start of the next are no name and value.
    records = [
        {"id": 1, "response": "The reset form says password=", "done": True},
        {"id": 2, "response": "hunter2 is what I typed", "done": True},
    ]
    body = "".join(json.dumps(record) + "\n" for record in records)
    assert scrub(body, NDJSON) == (body, 0)
    # Ollama's chunks (a `model`, a boolean `done`) still are.
    chunks = [{"model": "m", **record, "done": False} for record in records]
    new, count = scrub("".join(json.dumps(chunk) + "\n" for chunk in chunks), NDJSON)
    assert count == 1
    assert [d["response"] for d in documents(new, "lines")] == [
        "The reset form says password=",
        "<SCRUBBED> is what I typed",
    ]


@pytest.mark.parametrize(
    "spoiled",
    [
        lambda lines: [*lines, '{"model": "m", "message": {"role": "assis'],  # cut short
        lambda lines: [*lines[:5], "not json", *lines[5:]],
        lambda lines: ["<html>proxy notice</html>", *lines],
    ],
    ids=["cut", "middle", "first"],
)
def test_json_lines_with_a_line_not_json_are_joined_all_the_same(spoiled: Any) -> None:
    # One line that is not JSON (the last one cut short) left the whole stream unread: every
    # piece of the key its chunks carry stayed on disk.
    tokens = ["Use ", *tokenize(OPENAI, 7), " now"]
    lines = [
        json.dumps({"model": "m", "message": {"role": "assistant", "content": t}, "done": False})
        for t in tokens
    ]
    new, count = scrub("\n".join(spoiled(lines)) + "\n", NDJSON)
    assert count == 1
    for piece in tokenize(OPENAI, 7)[2:]:
        assert piece not in new
    assert len(new.splitlines()) == len(spoiled(lines))


def test_nothing_changes_in_the_other_shapes_without_a_secret() -> None:
    tokens = tokenize("The key is in the drawer, the token on the desk: Ab3dEf6hIj9k.")
    for name, (_, content_type, _, _, _, _) in SHAPES.items():
        body = shape_body(name, tokens)
        assert scrub(body, content_type) == (body, 0), name
    # JSON lines of another kind (a watch stream) are not read as chunks.
    watch = "".join(
        json.dumps({"type": "ADDED", "object": {"message": t, "done": False}}) + "\n"
        for t in tokenize(OPENAI, 20)
    )
    assert scrub(watch, NDJSON)[0] == watch


@pytest.mark.parametrize("name", ["legacy-stream", "gemini-sse", "cohere-stream"])
def test_other_shapes_pretty_printed_over_data_lines_stay_json(name: str) -> None:
    """Alternatives keyed by text, token ids, over several `data:` lines: written again whole,
    on one line, the event still JSON."""
    tokens = secret_tokens(OPENAI)
    chunks = data_lines(shape_body(name, tokens))
    body = "".join(
        "".join(f"data: {line}\r\n" for line in json.dumps(chunk, indent=1).split("\n")) + "\r\n"
        for chunk in chunks
    )
    new, _ = scrub(body, SSE)
    blocks = [block for block in new.split("\r\n\r\n") if block.strip()]
    docs = [json.loads("\n".join(line[6:] for line in b.split("\r\n"))) for b in blocks]
    assert [structure(d) for d in docs] == [structure(d) for d in chunks]
    shape = SHAPES[name][4]
    assert answers(docs, shape) == ["Your key is <SCRUBBED:openai>."] * 2
    for piece in secret_pieces(OPENAI):
        assert piece not in new


def test_tgi_s_alternatives_and_ids_follow_each_sequence_and_the_prompt_on_its_own() -> None:
    tokens = secret_tokens(OPENAI)
    body = json.loads(tgi_response(tokens, stream=False))
    best_of = {**body["details"], "generated_text": body["generated_text"]}
    del best_of["top_tokens"]
    body["details"]["best_of_sequences"] = [best_of]
    new, _ = scrub(json.dumps(body, indent=2), JSON)
    for piece in secret_pieces(OPENAI):
        assert piece not in new
    details = json.loads(new)["details"]
    expected = "Your key is <SCRUBBED:openai>."
    for sequence in (details, details["best_of_sequences"][0]):
        assert "".join(t["text"] for t in sequence["prefill"]) == expected
        assert "".join(t["text"] for t in sequence["tokens"] if not t["special"]) == expected
    old = body["details"]
    assert details["tokens"][-1] == old["tokens"][-1]  # `</s>`, special: no text of the answer
    for before, token, top in zip(old["tokens"], details["tokens"], details["top_tokens"]):
        assert token["logprob"] == before["logprob"]
        if token["text"] == before["text"]:
            assert token["id"] == before["id"]
        else:  # the old ids spell the secret in the model's vocabulary
            assert token["id"] == 0
            assert [(t["text"], t["id"]) for t in top] == [(token["text"], 0)] * 2
    assert scrub(new, JSON) == (new, 0)


def test_the_prompt_s_tokens_keep_no_generated_value_of_a_generic_name() -> None:
    # The prompt's tokens are what the user sent, scrubbed as the request's prompt is; a
    # model's free text loses a generated-looking value after a generic name too, as its
    # `generated_text` does (was: kept in its tokens, however it looked).
    tokens = tokenize("my token=Ab3dEf6hIj9kLm2nOp5qRs8t ok", 3)
    new, _ = scrub(tgi_response(tokens, stream=False), JSON)
    details = json.loads(new)["details"]
    prefill = "".join(t["text"] for t in details["prefill"])
    assert prefill == "my token=<SCRUBBED> ok"
    assert "".join(t["text"] for t in details["tokens"][:-1]) == "my token=<SCRUBBED> ok"
    assert json.loads(new)["generated_text"] == "my token=<SCRUBBED> ok"


def test_vllm_s_prompt_positions_are_one_alternative_where_the_prompt_changed() -> None:
    tokens = secret_tokens(ENV_KEY)
    body = vllm_prompt(tokens, chat=True)
    new, _ = scrub(body, JSON, {"ACME_API_KEY": ENV_KEY})
    positions = json.loads(new)["prompt_logprobs"]
    assert positions[0] is None
    for token, position in zip(tokens, positions[1:]):
        if token in ENV_KEY[3:] and len(token) == 3:
            first = vllm_prompt_position(token)[str(700 + len(token))]
            assert list(position) == ["0"]  # its ids spelled the secret
            assert position["0"] == {**first, "decoded_token": position["0"]["decoded_token"]}
        elif token in ("Your", " key", "."):  # a word's tokens are kept, `decoded_token` or not
            assert position == vllm_prompt_position(token)
    # The position's own layout, its one alternative written on one line.
    one = '{"logprob": -2.5, "rank": 4, "decoded_token": "<ACME_API_KEY>"}'
    assert '    {\n      "0": ' + one + "\n    }" in new


def test_gemini_s_array_keeps_its_layout_and_is_read_when_cut_short() -> None:
    tokens = secret_tokens(OPENAI)
    body = gemini_array(tokens)
    new, _ = scrub(body, JSON)
    assert new.count(",\r\n{\n") == body.count(",\r\n{\n") == len(tokens) - 1
    # The last chunks never came: the array ends in the middle of one.
    cut = body[: body.index(tokens[-2]) + 1]
    new, count = scrub(cut, JSON)
    assert count >= 1
    for piece in secret_pieces(OPENAI):
        assert piece not in new


def test_cohere_v1_s_tool_call_parameters_and_plan_are_joined_over_chunks() -> None:
    arguments = json.dumps({"api_key": OPENAI, "city": "Paris"})
    plan = f"I will call it with {ENV_KEY} now."
    events: list[dict[str, Any]] = [
        {"is_finished": False, "event_type": "tool-calls-chunk", "text": piece}
        for piece in tokenize(plan, 5)
    ]
    events += [
        {
            "is_finished": False,
            "event_type": "tool-calls-chunk",
            "tool_call_delta": {"index": 0, "parameters": piece},
        }
        for piece in tokenize(arguments, 6)
    ]
    body = "".join(json.dumps(e) + "\n" for e in events)
    new, _ = scrub(body, COHERE_V1, {"ACME_API_KEY": ENV_KEY})
    docs = documents(new, "lines")
    assert "".join(d.get("text", "") for d in docs) == "I will call it with <ACME_API_KEY> now."
    joined = "".join(d["tool_call_delta"]["parameters"] for d in docs if "tool_call_delta" in d)
    assert json.loads(joined) == {"api_key": "<SCRUBBED>", "city": "Paris"}


@pytest.mark.parametrize("sampled", [False, True])
def test_llamacpp_s_ids_bytes_and_alternatives_follow_a_changed_token(sampled: bool) -> None:
    body = llamacpp(secret_tokens(OPENAI), stream=False, sampled=sampled)
    new, _ = scrub(body, JSON)
    top = "top_probs" if sampled else "top_logprobs"
    old_entries = json.loads(body)["completion_probabilities"]
    new_entries = json.loads(new)["completion_probabilities"]
    assert "".join(e["token"] for e in new_entries) == "Your key is <SCRUBBED:openai>."
    for before, after in zip(old_entries, new_entries):
        written = list(after["token"].encode())
        if after["token"] == before["token"]:
            assert after == before
            continue
        assert after["id"] == 0 and after["bytes"] == written
        assert [(a["id"], a["token"], a["bytes"]) for a in after[top]] == [
            (0, after["token"], written)
        ] * 2
        assert [a.keys() for a in after[top]] == [a.keys() for a in before[top]]


def test_older_llamacpp_s_alternatives_follow_and_its_last_event_is_read_on_its_own() -> None:
    tokens = secret_tokens(ENV_KEY)
    body = llamacpp(tokens, stream=True, old=True)
    new, _ = scrub(body, SSE, {"ACME_API_KEY": ENV_KEY})
    before, after = data_lines(body), data_lines(new)
    old_lists = [[e for event in before[:-1] for e in event["completion_probabilities"]]]
    new_lists = [[e for event in after[:-1] for e in event["completion_probabilities"]]]
    old_lists.append(before[-1]["completion_probabilities"])  # every token's again
    new_lists.append(after[-1]["completion_probabilities"])
    for old_entries, new_entries in zip(old_lists, new_lists):
        assert "".join(e["content"] for e in new_entries) == "Your key is <ACME_API_KEY>."
        for old_entry, new_entry in zip(old_entries, new_entries):
            if new_entry["content"] == old_entry["content"]:
                assert new_entry == old_entry
            else:
                assert [a["tok_str"] for a in new_entry["probs"]] == [new_entry["content"]] * 2


def test_llamacpp_s_streamed_content_is_joined_without_probabilities(suite: Suite) -> None:
    events = data_lines(llamacpp(secret_tokens(OPENAI), stream=True))
    body = "".join(
        "data: "
        + json.dumps({k: v for k, v in e.items() if k != "completion_probabilities"})
        + "\n\n"
        for e in events
    )
    suite.server.route("/completion", headers={"Content-Type": SSE}, body=body)
    suite.write(
        """
        import json
        import pathlib

        @pytest.mark.cassette
        def test_stream():
            body = {"prompt": "Say it.", "stream": True}
            with requests.post(URL + "/completion", json=body, stream=True) as response:
                lines = [line for line in response.iter_lines() if line.startswith(b"data: ")]
            text = "".join(json.loads(line[6:])["content"] for line in lines)
            pathlib.Path("got.txt").write_text(text)
        """
    )
    suite.run().assert_outcomes(passed=1)
    cassette = suite.cassette_path("test_stream").read_text()
    for piece in secret_pieces(OPENAI):
        assert piece not in cassette
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.txt").read_text() == "Your key is <SCRUBBED:openai>."


# llama.cpp's `return_tokens`: the ids of the tokens beside each piece of text (`/completion`,
# streamed or not), and `/tokenize`'s `with_pieces`: each id beside its piece of the prompt.
def vocabulary(tokens: list[str]) -> dict[str, int]:
    """A made-up vocabulary: an id for each distinct token."""
    return {token: 1000 + i for i, token in enumerate(dict.fromkeys(tokens))}


def llamacpp_ids(tokens: list[str], stream: bool) -> str:
    ids = vocabulary(tokens)
    last = {"index": 0, "id_slot": 0, "stop": True, "model": "qwen.gguf", "stop_type": "eos"}
    if not stream:
        whole = {"content": "".join(tokens), "tokens": [ids[t] for t in tokens]}
        return json.dumps({"index": 0, **whole, **last, "tokens_predicted": len(tokens)})
    events = [
        {"index": 0, "content": t, "tokens": [ids[t]], "stop": False, "id_slot": -1} for t in tokens
    ]
    events.append({**last, "content": "", "tokens": []})
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events)


def test_llama_cpp_s_token_ids_beside_a_scrubbed_text_do_not_spell_the_secret(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: the text was scrubbed, the ids beside it were not: detokenized, or looked up in the
    # model's vocabulary, they spelled the secret again.
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    streamed, whole = secret_tokens(ENV_KEY), secret_tokens(OPENAI)
    pieces = ["My", " key", ":", " ", *tokenize(OPENAI, 3)]
    tokenized = {"tokens": [{"id": i, "piece": p} for p, i in vocabulary(pieces).items()]}
    suite.server.route(
        "/completion", headers={"Content-Type": SSE}, body=llamacpp_ids(streamed, True)
    )
    suite.server.route(
        "/completions", headers={"Content-Type": JSON}, body=llamacpp_ids(whole, False)
    )
    suite.server.route("/tokenize", headers={"Content-Type": JSON}, body=json.dumps(tokenized))
    suite.write(
        """
        import json
        import pathlib

        import httpx

        @pytest.mark.cassette
        def test_answers():
            ask = {"prompt": "key?", "return_tokens": True}
            with httpx.stream("POST", URL + "/completion", json={**ask, "stream": True}) as r:
                events = [json.loads(l[6:]) for l in r.iter_lines() if l.startswith("data: ")]
            whole = httpx.post(URL + "/completions", json=ask).json()
            pieces = httpx.post(URL + "/tokenize", json={"content": "x", "with_pieces": True})
            got = {"events": events, "whole": whole, "pieces": pieces.json()["tokens"]}
            pathlib.Path("got.json").write_text(json.dumps(got))
        """
    )
    suite.run().assert_outcomes(passed=1)
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    got = json.loads((suite.path / "got.json").read_text())
    ids = vocabulary(streamed)
    assert "".join(e["content"] for e in got["events"]) == "Your key is <ACME_API_KEY>."
    for token, event in zip(streamed, got["events"]):
        # An event whose text changed: as many ids as it had, each 0; the others as they were.
        assert event["tokens"] == ([ids[token]] if event["content"] == token else [0])
    assert got["whole"]["content"] == "Your key is <SCRUBBED:openai>."
    assert got["whole"]["tokens"] == [0] * len(whole)
    assert "".join(p["piece"] for p in got["pieces"]) == "My key: <SCRUBBED:openai>"
    for before, after in zip(tokenized["tokens"], got["pieces"]):
        assert after == (before if after["piece"] == before["piece"] else {**after, "id": 0})
