"""Large bodies: nothing but the client keeps a replayed or recorded body once it has read it.

The tests find every bytes object of the body's size that the process can still reach (from the
garbage collector's objects, through what they refer to, BytesIO buffers included): the
client's copy should be the only one.
"""

from __future__ import annotations

import http.client
import io
import random
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from vcr.stubs import parse_headers as vcr_parse_headers

from pytest_cassettes import response
from tests.conftest import Suite

SIZE = (1 << 20) + 12345  # above the size from which bodies are let go
TEXT = (b"A line of a large text body, 0123456789.\n" * (SIZE // 41 + 1))[:SIZE]
BINARY = random.Random(7).randbytes(SIZE)

HOLDERS = """
import gc
import http.client
import io

import urllib3

SIZE = {size}


def holders():
    # Every distinct bytes object of SIZE reachable from the collector's objects.
    found, seen, stack = {{}}, set(), gc.get_objects()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if type(obj) is bytes:
            if len(obj) == SIZE:
                found[id(obj)] = obj
            continue
        if isinstance(obj, io.BytesIO) and not obj.closed:
            value = obj.getvalue()
            if len(value) == SIZE:
                found[id(value)] = value
        stack.extend(gc.get_referents(obj))
    return found


def only_held_by_the_client(body):
    # The cassette may keep what it can still play; this body it cannot.
    assert len(body) == SIZE
    copies = [b for b in holders().values() if b is not body and b == body]
    assert copies == [], f"the body is held {{len(copies)}} more time(s)"
"""


def in_own_process(suite: Suite, *args: str) -> pytest.RunResult:
    # Not in this process, which holds the bodies (the server's routes, these constants).
    plugins = ("-p", "no:cacheprovider", "-p", "no:recording", "-p", "no:asyncio")
    return suite.pytester.runpytest_subprocess(*plugins, *args)


def serve(suite: Suite) -> None:
    suite.server.route("/text", body=TEXT, headers={"Content-Type": "text/plain"})
    suite.server.route("/binary", body=BINARY, headers={"Content-Type": "application/octet-stream"})


def record(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette("large")
        def test_record():
            assert len(requests.get(URL + "/text").content) == len(requests.get(URL + "/binary").content)
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)


def test_a_replayed_large_body_is_held_by_the_client_alone(suite: Suite) -> None:
    serve(suite)
    record(suite)
    suite.server.reset()
    suite.write(
        HOLDERS.format(size=SIZE)
        + textwrap.dedent(
            """
        @pytest.mark.cassette("large")
        @pytest.mark.parametrize("path", ["/text", "/binary"])
        def test_requests(path):
            response = requests.get(URL + path)  # kept, as a test keeps its response
            only_held_by_the_client(response.content)


        @pytest.mark.cassette("large")
        def test_http_client():
            connection = http.client.HTTPConnection(URL.split("//")[1])
            connection.request("GET", "/binary")
            response = connection.getresponse()
            only_held_by_the_client(response.read())
        """
        )
    )
    in_own_process(suite, "--record-mode=none").assert_outcomes(passed=3)
    assert suite.server.hits == 0


def test_a_recorded_large_body_is_held_by_the_client_alone_and_saved_as_pyyaml_writes_it(
    suite: Suite,
) -> None:
    serve(suite)
    suite.write(
        HOLDERS.format(size=SIZE)
        + textwrap.dedent(
            """
        @pytest.mark.cassette
        def test_text():
            response = requests.get(URL + "/text")
            only_held_by_the_client(response.content)


        @pytest.mark.cassette
        def test_binary():
            response = requests.get(URL + "/binary")
            only_held_by_the_client(response.content)


        @pytest.mark.cassette
        def test_fails():
            assert len(requests.get(URL + "/binary").content) == 0  # not saved
        """
        )
    )
    result = in_own_process(suite, "--record-mode=once", "-W", "error::ResourceWarning")
    result.assert_outcomes(passed=2, failed=1)
    assert "ResourceWarning" not in result.stdout.str()
    assert not suite.cassette_path("test_fails").exists()
    for test, body in (("test_text", TEXT.decode()), ("test_binary", BINARY)):
        written = suite.cassette_path(test).read_bytes()
        data = yaml.load(written, Loader=yaml.CSafeLoader)
        assert data["interactions"][0]["response"]["body"]["string"] == body
        assert yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=True, encoding="utf-8") == written


def test_a_cassette_with_large_bodies_is_added_to_and_rerecorded_exactly(suite: Suite) -> None:
    serve(suite)
    suite.server.route("/small", body=b"small")
    record(suite)
    path = suite.path / "cassettes" / "large.yaml"
    suite.write(
        f"""
        @pytest.mark.cassette("large")
        def test_record():
            assert len(requests.get(URL + "/text").content) == {SIZE}
            upload = bytes(reversed(requests.get(URL + "/binary").content))
            assert len(requests.post(URL + "/binary", data=upload).content) == {SIZE}
            assert requests.get(URL + "/small").content == b"small"
        """
    )
    for mode, uris in (
        ("new_episodes", ["/text", "/binary", "/binary", "/small"]),  # the POST is new
        ("all", ["/text", "/binary", "/binary", "/small"]),  # all of it, sent again
    ):
        suite.server.reset()
        serve(suite)
        suite.server.route("/small", body=b"small")
        suite.run(f"--record-mode={mode}").assert_outcomes(passed=1)
        written = path.read_bytes()
        data = yaml.load(written, Loader=yaml.CSafeLoader)
        interactions = data["interactions"]
        base = suite.server.base_url
        assert [i["request"]["uri"][len(base) :] for i in interactions] == uris, mode
        bodies = [i["response"]["body"]["string"] for i in interactions]
        assert bodies == [{"/text": TEXT.decode(), "/binary": BINARY}.get(u, "small") for u in uris]
        assert yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=True, encoding="utf-8") == written
    posts = [i["request"] for i in interactions if i["request"]["method"] == "POST"]
    assert [post["body"] for post in posts] == [BINARY[::-1]]  # binary, read past libyaml too


def test_a_replayed_response_read_to_the_end_or_closed_has_nothing_left(suite: Suite) -> None:
    suite.server.route("/small", body=b"twelve bytes")
    suite.write(
        """
        import http.client

        import urllib3

        def get():
            connection = http.client.HTTPConnection(URL.split("//")[1])
            connection.request("GET", "/small")
            return connection.getresponse()

        @pytest.mark.cassette("small", allow_playback_repeats=True)
        def test_small():
            response = get()
            assert response.read(5) == b"twelv"
            assert response.length_remaining == 7
            assert response.read() == b"e bytes"
            assert response.tell() == 12
            assert response.length_remaining == 0
            response.seek(0)
            assert response.read() == b""  # as a real response: what was read is gone

            response = get()
            assert response.getheader("Content-Length") == "12"
            response.close()
            assert response.read() == b""

            pool = urllib3.PoolManager()
            response = pool.request("GET", URL + "/small")
            assert response.data == b"twelve bytes"
            assert response.data is response.data  # the body itself, not a copy each time
            assert response.headers["Content-Length"] == "12"
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_a_response_stored_without_a_body_is_replayed_as_vcrpy_replays_it(suite: Suite) -> None:
    # `string: null` (a hand-written cassette): vcrpy's stub serves it as b"" until read(),
    # which raised TypeError (urllib3 2 preloads through read()).
    cassette = suite.path / "cassettes" / "null.yaml"
    cassette.parent.mkdir()
    uri = suite.server.base_url + "/null"
    cassette.write_text(
        "interactions:\n"
        f"- request: {{body: null, headers: {{}}, method: GET, uri: '{uri}'}}\n"
        "  response:\n"
        "    body: {string: null}\n"
        "    headers: {}\n"
        "    status: {code: 204, message: No Content}\n"
        "version: 1\n"
    )
    suite.write(
        """
        import urllib3

        @pytest.mark.cassette("null", allow_playback_repeats=True)
        def test_null():
            response = urllib3.PoolManager().request("GET", URL + "/null")
            assert response.status == 204
            assert response.data == b""
            lazy = urllib3.PoolManager().request("GET", URL + "/null", preload_content=False)
            assert lazy.read() == b""
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_a_large_body_plays_again_with_allow_playback_repeats(suite: Suite) -> None:
    serve(suite)
    record(suite)
    suite.write(
        f"""
        @pytest.mark.cassette("large", allow_playback_repeats=True)
        def test_twice():
            for _ in range(2):
                assert len(requests.get(URL + "/text").content) == {SIZE}
                assert len(requests.get(URL + "/binary").content) == {SIZE}
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)


HEADERS = [
    {},
    {"Content-Type": ["text/plain"], "Content-Length": ["5"]},
    {"Set-Cookie": ["a=1", "b=2"], "X-Spaces": ["  leading", "trailing  ", "\tx", ""]},
    {"Content-Type": ["text/html; charset=utf-8"], "content-type": ["x/y"]},
    # Beyond plain headers vcrpy's own parse gives the answer: beyond latin-1, line breaks,
    # names email does not read as names, bodies it parses, more lines than http.client takes.
    {"X-Utf": ["\u65e5\u672c"], "X-Latin": ["\x85"]},
    {"X-Break": ["a\r\nb"], "Y": ["c"]},
    {"": ["x"]},
    {"A B": ["x"]},
    {"Content-Type": ["multipart/form-data; boundary=x"]},
    {"X": "abc"},  # a string where a list belongs: one header per character, as vcrpy does
    {"X": [str(i) for i in range(98)]},
    {"X": [str(i) for i in range(99)]},
    {"X": ["a" * 65533]},
    {"X": ["a" * 65532]},
]


def message_state(parse: Callable[[Any], Any], headers: dict[str, Any]) -> object:
    try:
        message = parse(headers)
    except Exception as exc:
        return type(exc), str(exc)
    state = dict(vars(message), policy=repr(message.policy), defects=len(message.defects))
    if isinstance(message.get_payload(), list):  # a message/* body: parsed as a message
        state["_payload"] = [part.items() for part in message.get_payload()]
    return type(message), state


@pytest.mark.parametrize("headers", HEADERS, ids=range(len(HEADERS)))
def test_replayed_headers_are_the_message_vcrpy_would_parse(headers: dict[str, Any]) -> None:
    expected = message_state(vcr_parse_headers, headers)
    assert message_state(response.parse_headers, headers) == expected


def test_latin1_header_values_are_read_as_http_client_reads_them_live() -> None:
    """vcrpy's parse writes the values out as UTF-8 and reads them back as latin-1 (`GrÃ¼Ãe`);
    http.client reads a header line as latin-1, which is what a recording stored."""
    headers = {"X-Latin": ["Gr\u00fc\u00dfe", "\x85"], "Content-Type": ["text/plain"]}
    wire = b"".join(
        f"{name}: {value}\r\n".encode("latin-1")
        for name, values in headers.items()
        for value in values
    )
    live = http.client.parse_headers(io.BytesIO(wire + b"\r\n"))
    assert response.parse_headers(headers).items() == live.items()
    assert vcr_parse_headers(headers).items() != live.items()


def test_a_replayed_response_streamed_to_its_end_is_closed(suite: Suite) -> None:
    suite.server.route("/streamed", body=b"x" * 3000)
    suite.write(
        """
        import http.client

        @pytest.mark.cassette
        def test_streamed():
            response = requests.get(URL + "/streamed", stream=True)
            assert b"".join(response.iter_content(None)) == b"x" * 3000
            assert b"".join(requests.get(URL + "/streamed", stream=True).iter_content(7)) == (
                b"x" * 3000
            )
            connection = http.client.HTTPConnection(URL.split("//")[1])
            connection.request("GET", "/streamed")
            response = connection.getresponse()
            assert not response.isclosed()
            assert len(response.read()) == 3000
            assert response.isclosed()  # as a real response, once its body is read
        """
    )
    # urllib3 1.26 streams until the response says it is closed: this used to never end (the
    # recorded response is our stub too), hence processes with a time limit.
    plugins = ("-p", "no:recording", "-p", "no:asyncio")
    suite.pytester.runpytest_subprocess(*plugins, "--record-mode=once", timeout=60).assert_outcomes(
        passed=1
    )
    suite.server.reset()
    result = suite.pytester.runpytest_subprocess(*plugins, "--record-mode=none", timeout=60)
    result.assert_outcomes(passed=1)
    assert suite.server.hits == 0
