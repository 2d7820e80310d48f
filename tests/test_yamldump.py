"""Our YAML writer gives, byte for byte, what PyYAML with libyaml writes, or leaves it to it."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_cassettes import storage, yamldump

pytestmark = pytest.mark.skipif(not storage.UTF8_SCALARS, reason="yamldump follows libyaml")


def pyyaml(data: Any) -> str:
    return str(yaml.dump(data, Dumper=storage.CassetteDumper, sort_keys=True))


def ours(data: Any) -> str | None:
    return yamldump.dumps(data, storage.CassetteDumper.yaml_implicit_resolvers)


def cassette(value: Any) -> dict[str, Any]:
    return {"interactions": [{"request": {"body": value, "uri": "http://h/"}}], "version": 1}


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        "ok /t/0\n",  # single-quoted, the line break doubled
        "a\n\nb\n",
        "\nleading break",
        " leading space",
        "trailing space ",
        "it's",
        "'quoted'",
        '{"json": [1, 2], "a": "b c"}',
        "key: value",
        "ends with:",
        "a #comment",
        "a#b",
        "- item",
        "-1",
        "? q",
        "---",
        "...x",
        "null",
        "~",
        "True",
        "0x1F",
        "1.5e3",
        "2024-01-01",
        "=",
        "<<",
        "word " * 40,  # folded past the width
        "x" * 200,  # no space: never folded
        "a  b " * 30,  # double spaces: never a break
        ("it's a 'word' " * 12) + "end\nnext\n",
        "a\n" * 300,  # no line to fold: written at once
        "x\n\n'y'\n\n\nz" * 40,
        "short\n" + "word " * 30 + "end\n\nlast\n",  # a line to fold
        ("w" * 70) + "\nb",  # the first line past the width, unfolded (no space)
        None,
        True,
        False,
        0,
        -5,
        10**30,
        {},
        [],
        ["a", ["b", ["c"]], {"k": "v"}],
        {"Content-Type": ["text/plain"], "'quoted key'": ["x"], "": ["empty key"]},
    ],
)
def test_writes_what_libyaml_writes(value: Any) -> None:
    data = cassette(value)
    assert ours(data) == pyyaml(data)


@pytest.mark.parametrize(
    "value",
    [
        "tab\there",  # double-quoted by libyaml
        "cr\r\nlf",
        "caf\u00e9",
        "del\x7f",
        "space \nbreak",
        "break\n space",
        1.5,
        b"bytes",
        ("a", "tuple"),
        {1: "int key"},
        {1: "keys of", "two": "types"},  # PyYAML leaves them unsorted
        {"k" * 129: "a long key"},
        {"multi\nline": "key"},
    ],
)
def test_leaves_other_values_to_pyyaml(value: Any) -> None:
    assert ours(cassette(value)) is None


def test_an_object_met_twice_is_left_to_pyyaml() -> None:
    shared = ["text/plain"]  # PyYAML writes an anchor and an alias
    data = cassette({"A": shared, "B": shared})
    assert ours(data) is None
    assert "&id001" in pyyaml(data)


def test_random_documents_match_pyyaml() -> None:
    rng = random.Random(7)
    pieces = [" ", " ", "\n", "'", '"', ":", "#", "-", "?", ",", "[", "{", "&", "!", "|", ">"]
    pieces += ["%", "@", "`", ".", "---", "null", "yes", "~", "0", "1.5", "=", "<<", "\t"]
    pieces += ["word", "x" * 30, "\u00e9"]

    def text() -> str:
        n = rng.choice([0, 1, 2, 3, 5, 8, 20, 40, 80])
        return "".join(
            rng.choice(pieces) if rng.random() < 0.6 else rng.choice("abcdef ghi") for _ in range(n)
        )

    def value(depth: int) -> Any:
        r = rng.random()
        if depth > 3 or r < 0.55:
            return text() if rng.random() < 0.85 else rng.choice([None, True, 0, 200, -5])
        if r < 0.78:
            return {text(): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    written = 0
    for _ in range(3000):
        data = {"interactions": [value(1) for _ in range(rng.randint(0, 3))], "version": 1}
        got = ours(data)
        if got is not None:
            written += 1
            assert got == pyyaml(data), data
    assert written > 1000  # the common shapes are ours


def test_a_recorded_cassette_is_written_as_before(tmp_path: Path) -> None:
    interaction = {
        "request": {
            "body": None,
            "headers": {"Accept": ["*/*"], "User-Agent": ["python-requests/2.32.3"]},
            "method": "GET",
            "uri": "http://127.0.0.1:8000/t/1?q=a b",
        },
        "response": {
            "body": {"string": '{"id": 1, "name": "it\'s"}\n'},
            "headers": {"Content-Type": ["application/json"], "Content-Length": ["27"]},
            "status": {"code": 200, "message": "OK"},
        },
    }
    path = tmp_path / "c.yaml"
    storage.write(path, [interaction])
    stream = io.BytesIO()
    yaml.dump(
        {"interactions": [interaction], "version": 1},
        stream,
        Dumper=storage.CassetteDumper,
        sort_keys=True,
        encoding="utf-8",
    )
    assert path.read_bytes() == stream.getvalue()
    assert storage.read(path) is not None


def test_a_long_text_is_left_to_libyaml() -> None:
    assert ours(cassette("word " * 20000)) is None  # libyaml folds it faster
    assert ours(cassette(("word " * 20 + "end\n") * 100)) is None  # lines to fold, 10 KiB
    assert ours(cassette("a short line\n" * 2000)) == pyyaml(cassette("a short line\n" * 2000))


def test_a_libyaml_writing_otherwise_leaves_every_cassette_to_pyyaml() -> None:
    resolvers = storage.CassetteDumper.yaml_implicit_resolvers

    def libyaml_before_0_2_2(data: Any) -> str:  # the closing quote after a break unindented
        return re.sub(r"^ +'$", "'", pyyaml(data), flags=re.MULTILINE)

    assert yamldump.agrees(pyyaml, resolvers)
    assert storage._YAMLDUMP  # this libyaml: cassettes are ours
    assert not yamldump.agrees(libyaml_before_0_2_2, resolvers)


def test_a_resolver_added_in_place_is_seen() -> None:
    class Dumper(storage.CassetteDumper):
        pass

    Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile("^ticket-1$"), ["t"])
    resolvers = Dumper.yaml_implicit_resolvers  # its own table now, added to in place below
    data = cassette("ticket-2")
    assert yamldump.dumps(data, resolvers) == yaml.dump(data, Dumper=Dumper, sort_keys=True)

    Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile("^ticket-2$"), ["t"])
    assert Dumper.yaml_implicit_resolvers is resolvers
    written = yamldump.dumps(data, resolvers)
    assert written == yaml.dump(data, Dumper=Dumper, sort_keys=True)
    assert "body: 'ticket-2'" in str(written)
