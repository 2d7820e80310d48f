"""AWS Bedrock's streamed answers: a binary event stream (`application/vnd.amazon.eventstream`),
each message's payload JSON (InvokeModelWithResponseStream's `chunk` holds the model's own JSON
chunk in base64), a secret the model echoes split over messages. Recorded with boto3 against a
local server writing genuine messages, read back with botocore's own parser."""

from __future__ import annotations

import base64
import json
import struct
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer

from pytest_cassettes.cli import main
from pytest_cassettes.scrub import Scrubber, ScrubRules
from pytest_cassettes.streams import BEDROCK_CHUNKS, event_streams, json_streams
from tests.conftest import Suite

OPENAI = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 4
ENV_KEY = "acme-live-7Q2w9E4r1T6y3U8i"
EVENTSTREAM = "application/vnd.amazon.eventstream"
MODEL = "anthropic.claude-v2"


def tokenize(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message, as AWS writes it: string headers, lengths and CRCs."""
    written = b""
    for name, value in headers.items():
        data = value.encode()
        written += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(data))
        written += data
    prelude = struct.pack(">II", 12 + len(written) + len(payload) + 4, len(written))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    whole = prelude + written + payload
    return whole + struct.pack(">I", zlib.crc32(whole))


def event(kind: str, body: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return message(headers, json.dumps(body, separators=(",", ":")).encode())


def padding(i: int) -> str:
    return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[: 7 * i % 60]


def invoke_stream(tokens: list[str]) -> bytes:
    """InvokeModelWithResponseStream with an Anthropic model: each chunk's bytes its JSON."""
    chunks: list[dict[str, Any]] = [{"type": "message_start", "message": {"role": "assistant"}}]
    chunks.append({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}})
    for token in tokens:
        delta = {"type": "text_delta", "text": token}
        chunks.append({"type": "content_block_delta", "index": 0, "delta": delta})
    chunks += [{"type": "content_block_stop", "index": 0}, {"type": "message_stop"}]
    return chunk_stream(chunks)


def chunk_stream(chunks: list[dict[str, Any]]) -> bytes:
    """InvokeModelWithResponseStream's messages: each chunk's bytes a model's JSON."""
    return b"".join(
        event(
            "chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode(), "p": padding(i)}
        )
        for i, c in enumerate(chunks)
    )


# Each model family's chunks as Bedrock streams them (InvokeModelWithResponseStream), and how
# a client joins their text (the AWS SDK examples', LangChain's).
FAMILIES: dict[str, tuple[Any, str]] = {
    "amazon.titan-text-premier-v1:0": (
        lambda t, last: {
            "outputText": t,
            "index": 0,
            "totalOutputTextTokenCount": 9 if last else None,
            "completionReason": "FINISH" if last else None,
            "inputTextTokenCount": 5,
        },
        "c['outputText']",
    ),
    "meta.llama3-8b-instruct-v1:0": (
        lambda t, last: {
            "generation": t,
            "prompt_token_count": None,
            "generation_token_count": 3,
            "stop_reason": "stop" if last else None,
        },
        "c['generation']",
    ),
    "mistral.mistral-large-2402-v1:0": (
        lambda t, last: {"outputs": [{"text": t, "stop_reason": "stop" if last else None}]},
        "c['outputs'][0]['text']",
    ),
    "cohere.command-r-v1:0": (
        lambda t, last: {"is_finished": False, "event_type": "text-generation", "text": t},
        "c.get('text', '')",
    ),
    "cohere.command-text-v14": (
        lambda t, last: {"generations": [{"finish_reason": None, "id": "g1", "text": t}]},
        "c['generations'][0]['text']",
    ),
    "ai21.jamba-1-5-mini-v1:0": (
        lambda t, last: {
            "id": "chatcmpl-1",
            "choices": [
                {"index": 0, "delta": {"content": t}, "finish_reason": "stop" if last else None}
            ],
        },
        "c['choices'][0]['delta'].get('content') or ''",
    ),
    "anthropic.claude-v2": (
        lambda t, last: {"completion": t, "stop_reason": "stop_sequence" if last else None},
        "c['completion']",
    ),
}
ECHO = ["Your", " key", " is", " ", *tokenize(OPENAI), "."]


def family_stream(model: str, pieces: list[str]) -> bytes:
    shape, _ = FAMILIES[model]
    return chunk_stream([shape(piece, i == len(pieces) - 1) for i, piece in enumerate(pieces)])


def converse_stream(texts: list[str], inputs: list[str], thoughts: list[str]) -> bytes:
    """ConverseStream: reasoning, text and a tool call's input in deltas, per content block."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for thought in thoughts:
        delta = {"reasoningContent": {"text": thought}}
        events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
    events.append(("contentBlockStop", {"contentBlockIndex": 0}))
    for text in texts:
        events.append(("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": text}}))
    events.append(("contentBlockStop", {"contentBlockIndex": 1}))
    start = {"toolUse": {"toolUseId": "tooluse_1", "name": "login"}}
    events.append(("contentBlockStart", {"contentBlockIndex": 2, "start": start}))
    for piece in inputs:
        delta = {"toolUse": {"input": piece}}
        events.append(("contentBlockDelta", {"contentBlockIndex": 2, "delta": delta}))
    events.append(("contentBlockStop", {"contentBlockIndex": 2}))
    events.append(("messageStop", {"stopReason": "tool_use"}))
    usage = {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}
    events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 12}}))
    return b"".join(event(kind, {**body, "p": padding(i)}) for i, (kind, body) in enumerate(events))


def read(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each message's headers and JSON (a chunk's bytes decoded), read by botocore's parser."""
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    out = []
    for parsed in buffer:
        payload = json.loads(parsed.payload)
        if parsed.headers[":event-type"] == "chunk":
            payload = {**payload, "bytes": json.loads(base64.b64decode(payload["bytes"]))}
        out.append((parsed.headers, payload))
    return out


def scrub(body: bytes, environ: dict[str, str] | None = None) -> tuple[bytes, int]:
    scrubber = Scrubber(ScrubRules(), environ=environ or {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [EVENTSTREAM]},
        "body": {"string": body},
    }
    new, count = scrubber.scrub_response(response)
    assert new is not None
    return new["body"]["string"], count


def no_piece_of(secret: str, text: str) -> None:
    for piece in tokenize(secret)[2:]:
        assert piece not in text


def recorded_body(suite: Suite, test: str) -> bytes:
    body = suite.cassette(test)["interactions"][0]["response"]["body"]["string"]
    assert isinstance(body, bytes)  # stored as !!binary
    return body


CLIENT = textwrap.dedent(
    f"""
    import json
    import pathlib

    import boto3

    def client():
        return boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=URL,
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )

    MODEL = "{MODEL}"
    """
)


# A test joining each content block's text (its text, a tool call's input, reasoning, a tool
# result's text) and a tool result's JSON items, as converse_stream's callers do.
CONVERSE = CLIENT + textwrap.dedent(
    """
    @pytest.mark.cassette
    def test_converse():
        messages = [{"role": "user", "content": [{"text": "hi"}]}]
        response = client().converse_stream(modelId=MODEL, messages=messages)
        blocks = {}
        for event in response["stream"]:
            delta = event.get("contentBlockDelta")
            if not delta:
                continue
            block = blocks.setdefault(delta["contentBlockIndex"], {"text": "", "json": []})
            part = delta["delta"]
            block["text"] += part.get("text", "")
            block["text"] += part.get("toolUse", {}).get("input", "")
            block["text"] += part.get("reasoningContent", {}).get("text", "")
            for item in part.get("toolResult", []):
                block["text"] += item.get("text", "")
                block["json"] += [item["json"]] if "json" in item else []
        pathlib.Path("got.json").write_text(json.dumps(blocks))
    """
)


def test_a_recorded_invoke_model_stream_keeps_no_piece_of_the_key_and_replays(
    suite: Suite,
) -> None:
    suite.server.route(
        f"/model/{MODEL}/invoke-with-response-stream",
        headers={"Content-Type": EVENTSTREAM, "X-Amzn-Bedrock-Content-Type": "application/json"},
        body=invoke_stream(["Your", " key", " is", " ", *tokenize(OPENAI), "."]),
    )
    suite.write(
        CLIENT
        + textwrap.dedent(
            """
        @pytest.mark.cassette
        def test_stream():
            response = client().invoke_model_with_response_stream(modelId=MODEL, body=b"{}")
            chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
            text = "".join(c["delta"]["text"] for c in chunks if "delta" in c and "text" in c["delta"])
            pathlib.Path("got.txt").write_text(text)
        """
        )
    )
    suite.run().assert_outcomes(passed=1)
    body = recorded_body(suite, "test_stream")
    messages = read(body)  # every message's lengths and CRCs right, or botocore raises
    assert len(messages) == len(
        read(suite.server.routes[f"/model/{MODEL}/invoke-with-response-stream"].body)
    )
    no_piece_of(OPENAI, json.dumps([payload for _, payload in messages]))
    assert all(headers[":event-type"] == "chunk" for headers, _ in messages)
    assert [p["p"] for _, p in messages] == [padding(i) for i in range(len(messages))]
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.txt").read_text() == "Your key is <SCRUBBED:openai>."


def test_a_recorded_converse_stream_keeps_no_piece_of_a_secret_and_replays(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    suite.server.route(
        f"/model/{MODEL}/converse-stream",
        headers={"Content-Type": EVENTSTREAM},
        body=converse_stream(
            ["Your", " key", " is", " ", *tokenize(OPENAI), "."],
            ['{"user": "ada", "pass', 'word": "Tr0ub4', "dor-hunter2-", 'xyz"}'],
            tokenize(f"The key {ENV_KEY} is set.", 3),
        ),
    )
    suite.write(CONVERSE)
    suite.run().assert_outcomes(passed=1)
    body = recorded_body(suite, "test_converse")
    messages = read(body)
    written = json.dumps([payload for _, payload in messages])
    no_piece_of(OPENAI, written)
    assert "hunter2" not in written and "dor-" not in written
    assert "7Q2w" not in written and "U8i" not in written
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    blocks = json.loads((suite.path / "got.json").read_text())
    assert blocks["0"]["text"] == "The key <ACME_API_KEY> is set."
    assert blocks["1"]["text"] == "Your key is <SCRUBBED:openai>."
    arguments = json.loads(blocks["2"]["text"])
    assert arguments["user"] == "ada" and arguments["password"].startswith("<SCRUBBED")


def test_bedrock_s_answers_not_streamed_keep_no_key_and_replay(suite: Suite) -> None:
    """InvokeModel and Converse answer JSON: the JSON rules' (checked, not new)."""
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": f"Your key is {OPENAI}."}],
    }
    suite.server.route(
        f"/model/{MODEL}/invoke",
        headers={"Content-Type": "application/json"},
        body=json.dumps(answer),
    )
    output = {"message": {"role": "assistant", "content": [{"text": f"Here it is: {OPENAI}"}]}}
    suite.server.route(
        f"/model/{MODEL}/converse",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"output": output, "stopReason": "end_turn", "usage": {}, "metrics": {}}),
    )
    suite.write(
        CLIENT
        + textwrap.dedent(
            """
        @pytest.mark.cassette
        def test_answers():
            invoked = json.loads(client().invoke_model(modelId=MODEL, body=b"{}")["body"].read())
            messages = [{"role": "user", "content": [{"text": "hi"}]}]
            conversed = client().converse(modelId=MODEL, messages=messages)
            texts = [
                invoked["content"][0]["text"],
                conversed["output"]["message"]["content"][0]["text"],
            ]
            pathlib.Path("got.json").write_text(json.dumps(texts))
        """
        )
    )
    suite.run().assert_outcomes(passed=1)
    no_piece_of(OPENAI, suite.cassette_path("test_answers").read_text())
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert json.loads((suite.path / "got.json").read_text()) == [
        "Your key is <SCRUBBED:openai>.",
        "Here it is: <SCRUBBED:openai>",
    ]


def test_a_stream_cut_short_keeps_its_tail_and_a_broken_one_is_left_as_it_is() -> None:
    body = invoke_stream(["Your", " key", " is", " ", *tokenize(OPENAI), "."])
    last = event("chunk", {"bytes": base64.b64encode(b'{"type":"message_stop"}').decode()})
    cut = body + last[:-7]  # the last message cut short: what a client got of it
    new, count = scrub(cut)
    assert count >= 1 and new.endswith(last[:-7])
    messages = read(new)  # botocore reads the whole ones, then waits for more
    assert len(messages) == len(read(body))
    no_piece_of(OPENAI, json.dumps([payload for _, payload in messages]))
    # A CRC that does not match, or bytes that are no event stream: as they were, no error.
    broken = bytearray(body)
    broken[9] ^= 0xFF  # the first message's prelude CRC
    assert scrub(bytes(broken)) == (bytes(broken), 0)
    assert scrub(b"\x00\x01 not an event stream") == (b"\x00\x01 not an event stream", 0)


def test_scrubbing_a_scrubbed_stream_again_changes_nothing_and_no_secret_changes_nothing() -> None:
    body = invoke_stream(["Your", " key", " is", " ", *tokenize(OPENAI), "."])
    new, _ = scrub(body)
    assert new != body
    assert scrub(new) == (new, 0)
    plain = invoke_stream(tokenize("The key is in the drawer, the token on the desk."))
    assert scrub(plain) == (plain, 0)


def test_an_environment_value_in_a_chunk_and_an_exception_s_message_go(tmp_path: Path) -> None:
    exception = message(
        {":exception-type": "modelStreamErrorException", ":message-type": "exception"},
        json.dumps({"message": f"bad key {ENV_KEY}"}).encode(),
    )
    body = invoke_stream(["Use ", ENV_KEY, " now"]) + exception
    new, count = scrub(body, {"ACME_API_KEY": ENV_KEY})
    assert count >= 2
    assert ENV_KEY.encode() not in new and base64.b64encode(ENV_KEY.encode()) not in new
    buffer = EventStreamBuffer()
    buffer.add_data(new)
    last = list(buffer)[-1]
    assert last.headers[":exception-type"] == "modelStreamErrorException"
    assert json.loads(last.payload) == {"message": "bad key <ACME_API_KEY>"}


def test_scan_reports_a_key_left_in_an_old_cassette_s_event_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = invoke_stream(["Your", " key", " is", " ", *tokenize(OPENAI), "."])
    encoded = base64.encodebytes(body).decode().replace("\n", "\n        ")
    cassette = tmp_path / "old.yaml"
    cassette.write_text(
        "interactions:\n- request:\n    body: null\n    headers: {}\n    method: POST\n"
        f"    uri: https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL}/"
        "invoke-with-response-stream\n  response:\n"
        f"    body:\n      string: !!binary |\n        {encoded.rstrip()}\n"
        f"    headers:\n      Content-Type:\n      - {EVENTSTREAM}\n"
        "    status:\n      code: 200\n      message: OK\nversion: 1\n"
    )
    status = main(["scan", str(cassette)])
    assert status == 1
    assert "openai" in capsys.readouterr().out


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_each_model_family_s_chunks_are_read_joined(model: str) -> None:
    # Was: Titan's, Llama's, Mistral's, Cohere's and Claude v2's chunks were read one at a
    # time: every piece of the key but the first (too short for a detector) stayed on disk.
    body = family_stream(model, ECHO)
    new, count = scrub(body)
    assert count >= 1
    chunks = [payload["bytes"] for _, payload in read(new)]  # botocore reads every message
    assert len(chunks) == len(ECHO)
    no_piece_of(OPENAI, json.dumps(chunks))
    _, join = FAMILIES[model]
    text = "".join(eval(join, {"c": c}) for c in chunks)  # the client's expression
    assert text == "Your key is <SCRUBBED:openai>."
    assert scrub(new) == (new, 0)


def test_a_model_s_chunk_shape_is_read_only_in_a_bedrock_stream() -> None:
    # A `generation`, `outputText` or `text` key in other JSON is no model's streamed answer.
    events = "".join(
        f"event: chunk\ndata: {json.dumps({'generation': piece, 'is_finished': False})}\n\n"
        for piece in ECHO
    )
    assert event_streams(events) == []
    token = BEDROCK_CHUNKS.set(True)
    try:
        assert [stream.text() for stream in event_streams(events)] == ["".join(ECHO)]
    finally:
        BEDROCK_CHUNKS.reset(token)
    lines = "".join(json.dumps({"outputText": piece, "index": 0}) + "\n" for piece in ECHO)
    assert json_streams(lines) == []


def test_recorded_chunks_of_every_model_family_keep_no_piece_of_the_key_and_replay(
    suite: Suite,
) -> None:
    for model in FAMILIES:
        suite.server.route(
            f"/model/{model.replace(':', '%3A')}/invoke-with-response-stream",  # as boto3 sends it
            headers={"Content-Type": EVENTSTREAM},
            body=family_stream(model, ECHO),
        )
    joins = {model: join for model, (_, join) in FAMILIES.items()}
    suite.write(
        CLIENT
        + textwrap.dedent(
            f"""
        JOINS = {joins!r}

        @pytest.mark.cassette
        def test_models():
            texts = {{}}
            for model, join in JOINS.items():
                response = client().invoke_model_with_response_stream(modelId=model, body=b"{{}}")
                chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
                texts[model] = "".join(eval(join, {{"c": c}}) for c in chunks)
            pathlib.Path("got.json").write_text(json.dumps(texts))
        """
        )
    )
    suite.run().assert_outcomes(passed=1)
    interactions = suite.cassette("test_models")["interactions"]
    assert len(interactions) == len(FAMILIES)
    for interaction in interactions:
        messages = read(interaction["response"]["body"]["string"])
        assert len(messages) == len(ECHO)
        no_piece_of(OPENAI, json.dumps([payload for _, payload in messages]))
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    texts = json.loads((suite.path / "got.json").read_text())
    assert texts == {model: "Your key is <SCRUBBED:openai>." for model in FAMILIES}


# Other AWS event streams carry raw bytes, not JSON: S3 Select's `Records` (the rows the query
# selected, cut anywhere), Lambda's `PayloadChunk` (what a function streams). S3 answers with
# no Content-Type, Lambda with the function's own: the stream is known by its framing.
RAW = {":content-type": "application/octet-stream", ":message-type": "event"}


def raw_stream(kind: str, payloads: list[bytes], tail: list[bytes]) -> bytes:
    return b"".join(message({":event-type": kind, **RAW}, p) for p in payloads) + b"".join(tail)


def select_answer(rows: bytes, size: int) -> bytes:
    """SelectObjectContent's messages: the rows in Records of `size` bytes, Stats, End."""
    stats = b"<Stats><BytesScanned>9</BytesScanned><BytesReturned>9</BytesReturned></Stats>"
    tail = [
        message(
            {":event-type": "Stats", ":content-type": "text/xml", ":message-type": "event"}, stats
        ),
        message({":event-type": "End", ":message-type": "event"}, b""),
    ]
    return raw_stream("Records", [rows[i : i + size] for i in range(0, len(rows), size)], tail)


def lambda_answer(payloads: list[bytes]) -> bytes:
    """InvokeWithResponseStream's messages: the function's chunks, then InvokeComplete."""
    done = {":event-type": "InvokeComplete", ":content-type": "application/json"}
    return raw_stream(
        "PayloadChunk", payloads, [message({**done, ":message-type": "event"}, b"{}")]
    )


def payloads(body: bytes) -> list[tuple[str, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return [(parsed.headers[":event-type"], parsed.payload) for parsed in buffer]


AWS_CLIENTS = textwrap.dedent(
    """
    import pathlib

    import boto3

    def client(service):
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=URL,
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
    """
)


def test_s3_select_s_rows_with_crlf_keep_no_secret_and_replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: a Records payload holding a CR was passed over whole (an event's data line ends at
    # a CR), and S3's answer, which has no Content-Type, was read as a binary body: every row
    # reached disk as it was.
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    rows = (
        "id,user,note\r\n"
        f"1,ada,password=Tr0ub4dor-hunter2 key {OPENAI}\r\n"
        f"2,bob,env {ENV_KEY} here\r\n"
        "3,cy,caf\u00e9 cr\u00e8me\r\n"
    ).encode()
    suite.server.route("/bucket/rows.csv", body=select_answer(rows, 37))
    suite.write(
        AWS_CLIENTS
        + textwrap.dedent(
            """
        @pytest.mark.cassette
        def test_select():
            answer = client("s3").select_object_content(
                Bucket="bucket",
                Key="rows.csv",
                Expression="select * from s3object",
                ExpressionType="SQL",
                InputSerialization={"CSV": {"FileHeaderInfo": "NONE"}},
                OutputSerialization={"CSV": {}},
            )
            rows = b"".join(e["Records"]["Payload"] for e in answer["Payload"] if "Records" in e)
            pathlib.Path("got.csv").write_bytes(rows)
        """
        )
    )
    suite.run().assert_outcomes(passed=1)
    body = recorded_body(suite, "test_select")
    read_back = payloads(body)  # every message's lengths and CRCs right, or botocore raises
    assert [kind for kind, _ in read_back] == [
        kind for kind, _ in payloads(suite.server.routes["/bucket/rows.csv"].body)
    ]
    written = b"".join(payload for kind, payload in read_back if kind == "Records")
    assert b"hunter2" not in written and b"7Q2w" not in written
    no_piece_of(OPENAI, written.decode())
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.csv").read_bytes() == (
        "id,user,note\r\n"
        "1,ada,password=<SCRUBBED> key <SCRUBBED:openai>\r\n"
        "2,bob,env <ACME_API_KEY> here\r\n"
        "3,cy,caf\u00e9 cr\u00e8me\r\n"
    ).encode()


def test_lambda_s_streamed_chunks_keep_no_secret_and_a_binary_one_stays_as_it_was(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: a chunk that was not UTF-8 on its own (a character cut between two chunks, or
    # bytes that are no text) was passed over whole, the environment's values in it too.
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    text = f"Caf\u00e9 \u2603 password=Tr0ub4dor-x1 key {OPENAI} \u00e9t\u00e9\n".encode()
    cuts = [0, 4, 7, 25, 60, 120, len(text)]  # inside "\u00e9", "\u2603" and the values
    image = b"\x89PNG\r\n\x1a\n\x00\xff" + ENV_KEY.encode() + b"\xfe\x00\x01"
    plain = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00\x01 no secret \xc3"
    suite.server.route(
        "/2021-11-15/functions/text/response-streaming-invocations",
        headers={"Content-Type": "text/plain"},  # the function's: the stream is not told
        body=lambda_answer([text[a:b] for a, b in zip(cuts, cuts[1:])]),
    )
    suite.server.route(
        "/2021-11-15/functions/image/response-streaming-invocations",
        headers={"Content-Type": "application/octet-stream"},
        body=lambda_answer([image[:12], image[12:], plain]),
    )
    suite.write(
        AWS_CLIENTS
        + textwrap.dedent(
            """
        @pytest.mark.cassette
        def test_stream():
            got = {}
            for name in ("text", "image"):
                answer = client("lambda").invoke_with_response_stream(FunctionName=name)
                chunks = [e["PayloadChunk"]["Payload"] for e in answer["EventStream"] if "PayloadChunk" in e]
                got[name] = chunks
            pathlib.Path("got.txt").write_bytes(b"".join(got["text"]))
            pathlib.Path("got.bin").write_bytes(b"|".join(got["image"]))
        """
        )
    )
    suite.run().assert_outcomes(passed=1)
    interactions = suite.cassette("test_stream")["interactions"]
    written = b"".join(
        payload
        for interaction in interactions
        for _, payload in payloads(interaction["response"]["body"]["string"])
    )
    assert b"Tr0ub4" not in written and b"7Q2w" not in written
    no_piece_of(OPENAI, written.decode("latin-1"))
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.txt").read_bytes().decode() == (
        "Caf\u00e9 \u2603 password=<SCRUBBED> key <SCRUBBED:openai> \u00e9t\u00e9\n"
    )
    image_chunks = (suite.path / "got.bin").read_bytes().split(b"|")
    assert image_chunks[0] + image_chunks[1] == image.replace(ENV_KEY.encode(), b"<ACME_API_KEY>")
    assert image_chunks[2] == plain  # no secret in it: byte for byte as it was


def converse_blocks(blocks: list[tuple[str, list[Any]]]) -> bytes:
    """ConverseStream's messages: each block's start (a tool call's, a tool result's), its
    deltas (`toolUse.input` text, `toolResult` items of text or JSON), its stop."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, (kind, pieces) in enumerate(blocks):
        starts = {
            "toolUse": {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup"}},
            "toolResult": {"toolResult": {"toolUseId": "tooluse_1", "status": "success"}},
        }
        if kind in starts:
            events.append(
                ("contentBlockStart", {"contentBlockIndex": index, "start": starts[kind]})
            )
        for piece in pieces:
            if kind == "toolUse":
                delta: dict[str, Any] = {"toolUse": {"input": piece}}
            else:
                delta = {
                    "toolResult": [{"text": piece} if isinstance(piece, str) else {"json": piece}]
                }
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": "end_turn"}))
    return b"".join(event(kind, {**body, "p": padding(i)}) for i, (kind, body) in enumerate(events))


def test_converse_stream_s_tool_use_input_and_tool_result_keep_no_key_and_still_parse(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: a tool result's text was read one delta at a time (a key it echoed over several
    # stayed on disk but for its first piece), and its JSON as free text (a secret known by
    # its object's other fields stayed whole).
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    arguments = json.dumps({"query": "my key", "api_key": OPENAI, "env": ENV_KEY, "n": 2})
    result = f"Found: {OPENAI} and {ENV_KEY} (password=Tr0ub4dor-x1)"
    env = {"name": "DB_PASSWORD", "value": "Tr0ub4dor-x2"}
    suite.server.route(
        f"/model/{MODEL}/converse-stream",
        headers={"Content-Type": EVENTSTREAM},
        body=converse_blocks(
            [("toolUse", tokenize(arguments, 5)), ("toolResult", [*tokenize(result, 5), env])]
        ),
    )
    suite.write(CONVERSE)
    suite.run().assert_outcomes(passed=1)
    written = json.dumps([payload for _, payload in read(recorded_body(suite, "test_converse"))])
    no_piece_of(OPENAI, written)
    assert "7Q2w" not in written and "Tr0ub4" not in written
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    blocks = json.loads((suite.path / "got.json").read_text())
    assert json.loads(blocks["0"]["text"]) == {
        "query": "my key",
        "api_key": "<SCRUBBED>",
        "env": "<ACME_API_KEY>",
        "n": 2,
    }
    assert blocks["1"]["text"] == (
        "Found: <SCRUBBED:openai> and <ACME_API_KEY> (password=<SCRUBBED>)"
    )
    assert blocks["1"]["json"] == [{"name": "DB_PASSWORD", "value": "<SCRUBBED>"}]


def test_a_json_payload_with_crlf_is_scrubbed_and_keeps_its_line_breaks() -> None:
    # Was: passed over whole (a CR would have ended an event's data line).
    headers = {":event-type": "metadata", ":content-type": "application/json"}
    text = json.dumps({"note": f"key {OPENAI}", "n": 1}, indent=2).replace("\n", "\r\n")
    new, count = scrub(message({**headers, ":message-type": "event"}, text.encode()))
    ((_, payload),) = payloads(new)
    assert count == 1 and b"\r\n" in payload and b"\n" not in payload.replace(b"\r\n", b"")
    assert json.loads(payload) == {"note": "key <SCRUBBED:openai>", "n": 1}
