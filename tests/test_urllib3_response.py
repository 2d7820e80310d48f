"""Under urllib3 2, what urllib3 and requests get from a cassette is urllib3's own response, as
live (urllib3_response.py): the same observations of the same server's responses, live,
recorded and replayed both ways (requests' shortcut on and off, as in test_shortcut.py).

urllib3 1.x wraps vcrpy's stub response in its own in `urlopen`: not what is tested here.
"""

from __future__ import annotations

import gzip
import json
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest
import urllib3

# Imported here so that pytester's in-process runs find them loaded (as test_data_clients.py
# does): vcrpy imported afresh by a later run would hand out its own stub response, not ours.
import vcr  # noqa: F401
import yaml

from tests.conftest import Suite
from tests.test_replay_fidelity import observed_recording
from tests.test_shortcut import SAVE, both_ways

pytestmark = pytest.mark.skipif(
    not urllib3.__version__.startswith("2."), reason="urllib3 1.x wraps the stub in urlopen"
)

BODY = json.dumps({"k": "v", "n": list(range(30))})

OBSERVE = """
import io

import urllib3


def safe(call):
    try:
        value = call()
    except Exception as error:  # what a user would have seen raised
        return type(error).__name__
    return value.decode("latin-1") if isinstance(value, bytes) else value


def seen_by_urllib3(pool, url):
    out = {}
    r = pool.request("GET", url)
    out["types"] = [
        isinstance(r, urllib3.HTTPResponse),
        isinstance(r, urllib3.BaseHTTPResponse),
        isinstance(r, io.IOBase),
    ]
    out["status"] = [r.status, r.reason, r.version, safe(lambda: r.version_string)]
    out["body"] = [safe(lambda: r.data), safe(lambda: r.json()), safe(lambda: r.url), safe(lambda: r.geturl())]
    out["preloaded"] = [
        r.closed,
        safe(lambda: r.isclosed()),
        safe(lambda: r.connection is None),
        safe(lambda: r.tell()),
        safe(lambda: r.read()),
        safe(lambda: type(r.info()).__name__),
        safe(lambda: type(r.retries).__name__),
    ]
    r = pool.request("GET", url, preload_content=False)
    out["lazy"] = [
        safe(lambda: r.connection is None),
        safe(lambda: r.read(5)),
        safe(lambda: r.tell()),
        safe(lambda: r.read1(3)),
        safe(lambda: r.read()),
        r.closed,
        safe(lambda: r.connection is None),
        safe(lambda: r.read()),
    ]
    r = pool.request("GET", url, preload_content=False)
    out["shut down"] = [safe(lambda: r.shutdown()), safe(lambda: r.read(5)), r.closed, safe(lambda: r.read())]
    r = pool.request("GET", url, preload_content=False)
    out["stream"] = safe(lambda: [len(piece) for piece in r.stream(7)])
    r = pool.request("GET", url, preload_content=False)
    out["drained"] = [safe(lambda: r.drain_conn()), safe(lambda: r.tell()), safe(lambda: r.read()), r.closed]
    if url.endswith("/cl"):
        r = pool.request("GET", url, preload_content=False)
        out["read_chunked"] = safe(lambda: list(r.read_chunked()))
    return out


def seen_by_requests(session, url):
    out = {}
    r = session.get(url)
    out["types"] = [
        isinstance(r.raw, urllib3.HTTPResponse),
        isinstance(r.raw, urllib3.BaseHTTPResponse),
    ]
    out["body"] = [
        r.text,
        safe(lambda: r.json()),
        safe(lambda: r.raw.url),
        r.raw.closed,
        safe(lambda: r.raw.read()),
        safe(lambda: type(r.raw.retries).__name__),
        safe(lambda: r.raw.version_string),
    ]
    r = session.get(url, stream=True)
    out["stream"] = [safe(lambda: r.raw.read(5)), safe(lambda: r.raw.read()), r.raw.closed, safe(lambda: r.raw.read())]
    r = session.get(url, stream=True)
    out["iter_content"] = b"".join(r.iter_content(7)).decode()
    return out


def observe(name):
    pool = urllib3.PoolManager()
    session = requests.Session()
    seen = {}
    for path in ("/cl", "/chunked"):
        seen["urllib3 " + path] = seen_by_urllib3(pool, URL + path)
    for path in ("/cl", "/chunked", "/gz"):
        seen["requests " + path] = seen_by_requests(session, URL + path)
    save(name, seen)
"""


# What a cassette does not keep: the server's chunks (a chunked response replays as one body
# of unknown length: stream(amt) yields amt-sized pieces, and a read after shutdown() gives
# b"" where live raised for the missing chunks) and the body's encoding on the wire (stored
# decoded: raw.read(decode_content=False) gives the decoded bytes).
NOT_KEPT = {
    ("urllib3 /chunked", "stream"),
    ("urllib3 /chunked", "shut down"),
    ("requests /gz", "stream"),
}


def differences(seen: dict[str, Any], live: dict[str, Any]) -> str:
    """One line per observation that differs from live's: response, observation, seen, live."""
    return "\n".join(
        f"{name} {key}: {seen.get(name, {}).get(key)!r} (live {value!r})"
        for name, observations in live.items()
        for key, value in observations.items()
        if seen.get(name, {}).get(key) != value and (name, key) not in NOT_KEPT
    )


def test_responses_are_urllib3s_as_live_recorded_and_replayed_both_ways(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    suite.server.route("/cl", body=BODY, headers={"Content-Type": "application/json"})
    suite.server.route(
        "/chunked", body=BODY, headers={"Content-Type": "application/json"}, chunk=16
    )
    suite.server.route(
        "/gz", body=BODY, headers={"Content-Type": "application/json"}, encoding="gzip"
    )
    recorded = observed_recording(suite, monkeypatch, tmp_path, OBSERVE)
    live = recorded["live"]
    assert live["urllib3 /cl"]["types"] == [True, True, True]
    assert live["urllib3 /cl"]["read_chunked"] == "ResponseNotChunked"
    assert live["requests /gz"]["body"][1] == json.loads(BODY)
    assert not differences(recorded["replayed"], live), differences(recorded["replayed"], live)

    hits = suite.server.hits
    seen = both_ways(suite, monkeypatch, tmp_path, "-k", "replayed")
    assert suite.server.hits == hits
    for on in (True, False):
        assert seen[on][0] == {"passed": 1, "deselected": 1}
        replayed = seen[on][1]["replayed"]
        assert not differences(replayed, live), f"shortcut {on}:\n{differences(replayed, live)}"
        assert replayed["urllib3 /chunked"]["stream"] == [7] * (len(BODY) // 7) + [len(BODY) % 7]
        shut = live["urllib3 /chunked"]["shut down"]
        if shut[0] != "AttributeError":  # urllib3 2.3+
            shut = [None, "", True, ""]
        assert replayed["urllib3 /chunked"]["shut down"] == shut
        assert replayed["requests /gz"]["stream"] == [BODY[:5], BODY[5:], True, ""]


def test_a_body_edited_under_its_old_content_length_replays_whole(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """urllib3 2 enforces Content-Length: a cassette edited by hand (a longer or shorter body,
    the header left as recorded) still replays its body, as vcrpy's stub played it."""
    interactions = [
        {
            "request": {"body": None, "headers": {}, "method": "GET", "uri": uri},
            "response": {
                "body": {"string": body},
                "headers": {"Content-Type": ["text/plain"], "Content-Length": [length]},
                "status": {"code": 200, "message": "OK"},
            },
        }
        for uri, body, length in [
            ("http://example.invalid/longer", "a body made longer by hand", "6"),
            ("http://example.invalid/shorter", "cut", "300"),
        ]
    ]
    cassette = suite.path / "cassettes" / "edited.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    suite.write(
        SAVE
        + textwrap.dedent(
            """
            import urllib3

            @pytest.mark.cassette("edited", allow_playback_repeats=True)
            @pytest.mark.parametrize("path", ["/longer", "/shorter"])
            def test_edited(path):
                url = "http://example.invalid" + path
                pool = urllib3.PoolManager()
                streamed = pool.request("GET", url, preload_content=False)
                save(path, [
                    requests.get(url).text,
                    b"".join(requests.get(url, stream=True).iter_content(4)).decode(),
                    pool.request("GET", url).data.decode(),
                    b"".join(streamed.stream(4)).decode(),
                ])
            """
        )
    )
    seen = both_ways(suite, monkeypatch, tmp_path)
    assert seen[True] == seen[False]
    assert seen[True] == (
        {"passed": 2},
        {"/longer": ["a body made longer by hand"] * 4, "/shorter": ["cut"] * 4},
    )


def test_a_response_held_past_its_test_gives_back_only_its_pool_slot(suite: Suite) -> None:
    """A connection still held when its cassette test ends is closed and taken out of its
    pool: read later, its response must not put the stub back, or the next test's request on
    that pool, without a cassette, would go through vcrpy's stub instead of urllib3's own."""
    suite.server.route("/held", body="held")
    suite.write(
        """
        import http.client

        import urllib3

        POOL = urllib3.PoolManager(maxsize=1)
        HELD = []

        @pytest.mark.cassette
        def test_holds():
            HELD.append(POOL.request("GET", URL + "/held", preload_content=False))

        def test_reads_later():
            assert HELD[0].read() == b"held"
            r = POOL.request("GET", URL + "/plain")
            assert type(r) is urllib3.HTTPResponse
            assert type(r._original_response) is http.client.HTTPResponse
        """
    )
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=2)
    suite.run("--record-mode=none", "-p", "no:randomly").assert_outcomes(passed=2)


def test_a_body_vcrpy_kept_compressed_replays_decoded_however_it_is_read(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """urllib3's response around a replayed one decodes nothing (a body is stored decoded):
    a body vcrpy kept compressed under urllib3 1.26 (`!!binary`, with its Content-Encoding) is
    decoded when its cassette is read, and replays decoded however urllib3 and requests read
    it, as it did when vcrpy's stub was handed on, and as urllib3 decodes it live."""
    body = json.dumps({"k": "v", "n": list(range(30))}).encode()
    packed = {"gzip": gzip.compress(body), "deflate": zlib.compress(body)}
    interactions = [
        {
            "request": {
                "body": None,
                "headers": {},
                "method": "GET",
                "uri": f"http://example.invalid/{coding}",
            },
            "response": {
                "body": {"string": data},
                "headers": {
                    "Content-Type": ["application/json"],
                    "Content-Encoding": [coding],
                    "Content-Length": [str(len(data))],
                },
                "status": {"code": 200, "message": "OK"},
            },
        }
        for coding, data in packed.items()
    ]
    cassette = suite.path / "cassettes" / "packed.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    assert cassette.read_text().count("!!binary") == 2
    suite.write(
        SAVE
        + textwrap.dedent(
            """
            import urllib3

            @pytest.mark.cassette("packed", allow_playback_repeats=True)
            @pytest.mark.parametrize("coding", ["gzip", "deflate"])
            def test_packed(coding):
                url = "http://example.invalid/" + coding
                pool = urllib3.PoolManager()
                reads = [
                    lambda: requests.get(url).content,
                    lambda: b"".join(requests.get(url, stream=True).iter_content(7)),
                    lambda: requests.get(url, stream=True).raw.read(decode_content=True),
                    lambda: b"".join(requests.get(url, stream=True).raw.stream(7, decode_content=True)),
                    lambda: pool.request("GET", url).data,
                    lambda: pool.request("GET", url, preload_content=False).read(),
                    lambda: b"".join(pool.request("GET", url, preload_content=False).stream(7)),
                ]
                save(coding, [read().decode("latin-1") for read in reads])
            """
        )
    )
    seen = both_ways(suite, monkeypatch, tmp_path)
    assert seen[True] == seen[False]
    assert seen[True] == ({"passed": 2}, {coding: [body.decode()] * 7 for coding in packed})
