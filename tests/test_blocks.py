"""Large binary bodies read and written past libyaml: exactly what PyYAML reads and writes."""

from __future__ import annotations

import base64
import contextlib
import io
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_cassettes import blocks, large, storage
from pytest_cassettes.errors import CassetteLoadError

RANDOM = random.Random(11)
BODY = RANDOM.randbytes(3000)
LINES = base64.encodebytes(BODY).decode().splitlines()


def cassette(body: str, request_body: str = "null", after: str = "") -> str:
    return (
        "interactions:\n"
        "- request:\n"
        f"    body: {request_body}\n"
        "    headers: {}\n"
        "    method: GET\n"
        "    uri: http://x/\n"
        "  response:\n"
        "    body:\n"
        f"      string: {body}\n"
        "    headers: {}\n"
        "    status: {code: 200, message: OK}\n"
        f"{after}"
        "version: 1\n"
    )


def block(lines: list[str], indent: int = 8, header: str = "!!binary |") -> str:
    return header + "".join(f"\n{' ' * indent}{line}" for line in lines)


def pairs() -> list[tuple[str, str]]:
    text = cassette(block(LINES))
    return [
        ("PyYAML's own", text),
        ("CRLF", text.replace("\n", "\r\n")),
        ("no final line break", text[: -len("version: 1\n")] + "version: 1"),
        ("block last", cassette(block(LINES), after="")[: -len("version: 1\n")]),
        ("strip", cassette(block(LINES, header="!!binary |-"))),
        ("keep", cassette(block([*LINES, "", ""], header="!!binary |+"))),
        ("deeper lines", cassette(block([LINES[0], "  " + LINES[1], *LINES[2:]]))),
        ("blank lines", cassette(block([LINES[0], "", "   ", *LINES[1:], ""]))),
        ("indent 4", cassette(block(LINES, indent=12))),
        ("spaces inside", cassette(block([" ".join(LINES[:3]), *LINES[3:]]))),
        ("padding inside", cassette(block(["QQ==", *LINES]))),
        ("padding twice", cassette(block([*LINES, "QQ=="]))),
        ("bad padding", cassette(block([*LINES, "Q"]))),
        ("not base64", cassette(block([*LINES[:5], "ab#cd", *LINES[5:]]))),
        ("a tab", cassette(block([*LINES[:5], "\tabcd", *LINES[5:]]))),
        ("a lone CR", cassette(block([*LINES[:5], "ab\rcd", *LINES[5:]]))),
        ("non-ASCII", cassette(block([*LINES[:5], "abcé", *LINES[5:]]))),
        ("comment after", cassette(block(LINES)) + "# the end\n"),
        ("less indented line", cassette(block([*LINES[:5], "     abcd", *LINES[5:]]))),
        ("request body too", cassette(block(LINES), request_body=block(LINES, indent=6))),
        ("two bodies", two_interactions()),
        ("blank line first", cassette(block(["", *LINES]))),
        ("an anchor", cassette("&a " + block(LINES))),
        ("a tag directive", "%TAG !! tag:example.com,2000:\n---\n" + cassette(block(LINES))),
        (
            "a BOM, a tag directive",
            "\ufeff%TAG !! tag:example.com,2000:\n---\n" + cassette(block(LINES)),
        ),
        ("in a flow mapping", in_flow(cassette(block(LINES)))),
        (
            "in a quoted text",
            cassette("'text\n\n        string: " + block(LINES, indent=10) + "'"),
        ),
        ("elsewhere", cassette(block(LINES), after="meta:\n  string: " + block(LINES, 4) + "\n")),
        ("empty block", cassette("!!binary |\n    headers2: 1")),
    ]


def two_interactions() -> str:
    one = cassette(block(LINES))
    interaction = one[len("interactions:\n") : -len("version: 1\n")]
    return (
        "interactions:\n" + interaction + interaction.replace(LINES[0], LINES[1]) + "version: 1\n"
    )


def in_flow(text: str) -> str:
    # The response body as a flow mapping, over lines: no block scalar may be in one.
    text = text.replace("    body:\n      string: ", "    body: {\n      string: ")
    return text.replace("    headers: {}\n    status", "      }\n    headers: {}\n    status")


PAIRS = pairs()


def parse_large(text: str, tmp_path: Path) -> Any:
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode())
    with open(path, "rb") as handle:
        source = large.FileSource(handle)
    try:
        return storage.parse(source, str(path))
    except CassetteLoadError as exc:
        return type(exc), str(exc), exc.line


def parse_plain(text: str) -> Any:
    try:
        return storage.parse(text.encode(), "PATH")
    except CassetteLoadError as exc:
        return type(exc), str(exc), exc.line


@pytest.mark.parametrize("piece", [5, 77, 1 << 20])
@pytest.mark.parametrize(("name", "text"), PAIRS, ids=[name for name, _ in PAIRS])
def test_a_cassette_reads_as_pyyaml_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, piece: int
) -> None:
    # Blocks of 100 bytes and more are read past libyaml here, in pieces of `piece` bytes.
    monkeypatch.setattr(large, "LARGE_BODY", 100)
    monkeypatch.setattr(blocks, "_PIECE", piece)
    expected = parse_plain(text)
    got = parse_large(text, tmp_path)
    if isinstance(expected, tuple) and isinstance(got, tuple) and len(expected) == 3:
        expected = (expected[0], expected[1].replace("PATH", str(tmp_path / "c.yaml")), expected[2])
    assert got == expected


READ_PAST = {"PyYAML's own", "CRLF", "no final line break", "block last", "strip", "keep"}
READ_PAST |= {"deeper lines", "blank lines", "indent 4", "spaces inside", "padding inside"}
READ_PAST |= {"padding twice", "comment after", "request body too", "two bodies"}
READ_PAST |= {"less indented line", "elsewhere", "in a flow mapping"}  # the plain parse decides


@pytest.mark.parametrize(("name", "text"), PAIRS, ids=[name for name, _ in PAIRS])
def test_plain_base64_blocks_are_those_read_past_libyaml(name: str, text: str) -> None:
    reader = blocks.BlockReader(io.BytesIO(text.encode()), 100)
    with contextlib.suppress(Exception):  # the plain parse decides
        reader.put_back(yaml.load(reader, Loader=storage.CassetteLoader))
    assert bool(reader.bodies) == (name in READ_PAST)


def test_a_large_body_is_read_past_libyaml(tmp_path: Path) -> None:
    # The plain way, libyaml would be handed the whole base64 text.
    text = cassette(block(base64.encodebytes(RANDOM.randbytes(large.LARGE_BODY)).decode().split()))
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with open(path, "rb") as handle:
        reader = blocks.BlockReader(handle, large.LARGE_BODY)
        seen = b"".join(iter(lambda: reader.read(16384), b""))
    assert len(reader.bodies) == 1
    assert len(seen) < 1000
    assert b"string: |-\n        pytest-cassettes-body-" in seen


def test_a_large_binary_body_is_written_as_pyyaml_writes_it() -> None:
    data = RANDOM.randbytes(large.LARGE_BODY + 100)
    interaction: dict[str, Any] = {
        "request": {"body": data, "headers": {}, "method": "POST", "uri": "http://x/"},
        "response": {"body": {"string": data}, "headers": {}, "status": {"code": 200}},
    }
    expected = yaml.dump(
        {"interactions": [interaction], "version": 1},
        Dumper=yaml.CSafeDumper,
        sort_keys=True,
        encoding="utf-8",
    )
    ours = {
        "request": {**interaction["request"], "body": large.large_body(data)},
        "response": {**interaction["response"], "body": {"string": large.large_body(data)}},
    }
    written = io.BytesIO()
    storage.YAML.dump({"interactions": [ours], "version": 1}, written)
    assert written.getvalue() == expected


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1000])
def test_the_writer_finds_a_placeholder_cut_anywhere(chunk: int) -> None:
    written = io.BytesIO()
    writer = blocks.BlockWriter(written)
    key = writer.placeholder(BODY)
    long_line = "x" * 500
    text = f"a:\n  b: {long_line}\n    string: {key}\n  c: 2\n".encode()
    for start in range(0, len(text), chunk):
        writer.write(text[start : start + chunk])
    writer.finish()
    lines = "".join(f"      {line}\n" for line in LINES)
    expected = f"a:\n  b: {long_line}\n    string: !!binary |\n{lines}  c: 2\n"
    assert written.getvalue().decode() == expected
