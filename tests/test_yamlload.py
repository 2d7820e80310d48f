"""Our YAML load gives exactly what PyYAML's gives, or fails exactly as it fails."""

from __future__ import annotations

import datetime
import random
from typing import Any

import pytest
import yaml

from pytest_cassettes import yamlload
from pytest_cassettes.storage import CassetteLoader, SafeDumper


def pyyaml(text: str | bytes) -> Any:
    return yaml.load(text, Loader=CassetteLoader)


def ours(text: str | bytes) -> Any:
    return yamlload.load(text, CassetteLoader)


def same_outcome(text: str | bytes) -> Any:
    try:
        expected = pyyaml(text)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)) as excinfo:
            ours(text)
        assert str(excinfo.value) == str(exc)
        return exc
    got = ours(text)
    assert repr(got) == repr(expected)  # types too (1, 1.0, True; str, bytes), and cycles
    if "[...]" not in repr(got) and "{...}" not in repr(got):
        assert got == expected
    return got


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment\n",
        "~",
        "plain",
        "'quoted'",
        "[1, 2.5, .inf, -.Inf, .nan, 0x1F, 0o17, 1_000, 1:30, +12]",
        "[yes, no, on, off, true, False, ~, null, Null, '']",
        "[2001-12-14t21:59:43.10-05:00, 2002-12-14, 2001-12-14 21:59:43.10]",
        "a: 1\na: 2\n",  # a duplicate key: the last wins
        "? [1, 2]\n: unhashable key\n",
        "{? {a: 1} : x}",
        "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n",  # a merge key
        "=: the value key\n",
        "a: &x [1, 2]\nb: *x\n",
        "a: &x {k: v}\nb: [*x, *x]\n",
        "a: &n ~\nb: *n\n",
        "&loop [*loop]",  # a sequence that contains itself
        "&loop {self: *loop}",
        "data: !!binary aGVsbG8=\n",
        "data: !!binary '!!!'\n",
        "s: !!python/str text\nu: !!python/unicode text\nt: !!python/tuple [1, 2]\n",
        "x: !!python/object/apply:os.system ['echo pwned']\n",
        "x: !!str 12\ny: !!int '12'\nz: !!float '1'\n",
        "x: !!map [1]\n",
        "x: !!seq {a: 1}\n",
        "x: !!set {a, b}\nomap: !!omap [{a: 1}, {b: 2}]\npairs: !!pairs [{a: 1}, {a: 2}]\n",
        "--- a\n--- b\n",  # two documents
        "a: [1, 2\n",
        "key: 'unterminated\n",
        "\tindented: tab\n",
        "body: {string: 'line one\n\n  line two\n\n  '}\n",
        "body: |\n  literal\n  block\n",
        "body: >-\n  folded\n  text\n",
        "uri: http://example.com/a?b=1&c=%20#frag\n",
        "interactions: []\nversion: 1\n",
    ],
)
def test_documents_load_as_pyyaml_loads_them(text: str) -> None:
    same_outcome(text)
    same_outcome(text.encode("utf-8"))


def test_an_alias_is_the_same_object_as_pyyaml_gives() -> None:
    data = ours("a: &x [1, 2]\nb: *x\nc: &y {k: v}\nd: *y\n")
    assert data["a"] is data["b"]
    assert data["c"] is data["d"]


def random_value(rng: random.Random, depth: int) -> Any:
    kinds = ["str", "int", "float", "bool", "none", "bytes", "date", "text"]
    if depth < 4:
        kinds += ["list", "dict", "dict", "tuple"]
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(
            rng.choice("ab yes:#-'\"{}[]&*!|>%@`\\\n\t0.5é☃") for _ in range(rng.randint(0, 12))
        )
    if kind == "text":
        return rng.choice(
            ["yes", "No", "null", "~", "1_0", "0x10", "1:20", "2002-12-14", ".inf", "=", "<<", ""]
        )
    if kind == "int":
        return rng.randint(-(10**20), 10**20)
    if kind == "float":
        return rng.choice([0.5, -1e300, float("inf"), 1.0, 3.14159])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    if kind == "date":
        return datetime.date(2000 + rng.randint(0, 30), rng.randint(1, 12), rng.randint(1, 28))
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if kind == "tuple":
        return [tuple(random_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))]
    keys = [random_value(rng, 4) for _ in range(rng.randint(0, 5))]
    return {k: random_value(rng, depth + 1) for k in keys if not isinstance(k, (bytes, float))}


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_load_as_pyyaml_loads_them(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        value = random_value(rng, 0)
        shared = random_value(rng, 2)
        document = {"a": value, "b": [shared, shared], "c": {"x": shared}}  # anchors and aliases
        for dumper in (SafeDumper, yaml.Dumper):  # yaml.Dumper writes !!python/tuple
            for flow in (False, True, None):
                same_outcome(yaml.dump(document, Dumper=dumper, default_flow_style=flow))
