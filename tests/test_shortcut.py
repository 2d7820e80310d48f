"""requests' shortcut (shortcut.py) replays exactly what vcrpy's stubs would, and no more.

Each test replays the same cassette twice, with the shortcut and without it (the stubs' path),
and compares what the client saw: the same responses, the same misses, the same errors.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml

from pytest_cassettes import shortcut
from tests.conftest import Suite

CALLS = """
import base64, json

def summary(r):
    return {
        "status": r.status_code,
        "reason": r.reason,
        "url": r.url,
        "headers": sorted(r.headers.items()),
        "raw_headers": sorted(r.raw.headers.items()),
        "raw_headers_type": type(r.raw.headers).__name__,
        "content": base64.b64encode(r.content).decode(),
        "encoding": r.encoding,
        "cookies": sorted(r.cookies.items()),
        "history": [(h.status_code, h.url) for h in r.history],
        "request_headers": sorted(r.request.headers.items()),
        "pooled": getattr(r.raw, "_pool", None) is not None,
    }

class Tagging(requests.adapters.HTTPAdapter):
    def add_headers(self, request, **kwargs):
        request.headers["X-Tag"] = "t"

def calls(session, tagged):
    host = URL.replace("127.0.0.1", "LOCALHOST")
    return {
        "plain": lambda: requests.get(URL + "/plain"),
        "upper host": lambda: requests.get(host + "/plain?upper=1"),
        "params": lambda: requests.get(URL + "/q", params={"a": "1", "b": "café", "c": "a b"}),
        "odd path": lambda: requests.get(URL + "/pa th|x;p?y=1&y=2#frag"),
        "lower-case escape": lambda: requests.get(URL + "/a%7cb?c=%7c"),
        "str body": lambda: requests.post(URL + "/post", data="text body é"),
        "bytes body": lambda: requests.post(URL + "/post", data=b"\\x00\\x01bytes"),
        "json body": lambda: requests.post(URL + "/json", json={"k": [1, 2]}),
        "form body": lambda: requests.put(URL + "/form", data={"f": "v"}),
        "head": lambda: requests.head(URL + "/plain"),
        "redirect": lambda: requests.get(URL + "/redirect"),
        "cookie": lambda: requests.get(URL + "/cookie"),
        "session cookie": lambda: session.get(URL + "/cookie?s=1"),
        "session sends it": lambda: session.get(URL + "/echo"),
        "gzip": lambda: requests.get(URL + "/gz"),
        "404": lambda: requests.get(URL + "/missing"),
        "stream": lambda: requests.get(URL + "/plain?stream=1", stream=True),
        "timeouts": lambda: requests.get(URL + "/plain?t=2", timeout=(5, 5)),
        "timeout": lambda: requests.get(URL + "/plain?t=1", timeout=5),
        # Not taken: the stubs' path replays these, whichever way.
        "generator body": lambda: requests.post(URL + "/gen", data=iter([b"a", b"b"])),
        "proxy": lambda: requests.get(URL + "/plain?proxied=1", proxies={"http": URL}),
        "own add_headers": lambda: tagged.get(URL + "/echo?tagged=1"),
    }

def test_calls(cassette):
    session = requests.Session()
    session.headers["X-Session"] = "1"
    tagged = requests.Session()
    tagged.mount("http://", Tagging())
    out = {name: summary(call()) for name, call in calls(session, tagged).items()}
    with open(os.environ["OUT"], "w", encoding="utf-8") as handle:
        json.dump(out, handle)
"""

NOT_TAKEN = {"generator body", "proxy", "own add_headers"}
# With urllib3 1.x (Python 3.9 here) the shortcut is off: every request takes the stubs' path.
TAKEN = urllib3.__version__.startswith("2.")


def replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, on: bool, *args: str
) -> tuple[pytest.RunResult, Any]:
    out = tmp_path / f"out-{on}-{len(args)}.json"
    monkeypatch.setenv("OUT", str(out))
    monkeypatch.setattr(shortcut, "ENABLED", on)
    result = suite.run("--record-mode=none", *args)
    return result, json.loads(out.read_text()) if out.exists() else None


def test_replays_what_the_stubs_replay_and_the_client_sees_the_same(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    suite.server.route("/plain", body="plain text\n", headers={"Content-Type": "text/plain"})
    suite.server.route("/redirect", status=302, headers={"Location": "/plain?to=1"})
    suite.server.route("/cookie", body="c", headers={"Set-Cookie": "flavour=oat; Path=/"})
    suite.server.route("/gz", body='{"zipped": true}', encoding="gzip")
    suite.server.route("/missing", status=404, body="nope")
    suite.write(CALLS)
    monkeypatch.setenv("OUT", str(tmp_path / "recorded.json"))
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    hits = suite.server.hits

    with_it, seen = replay(suite, monkeypatch, tmp_path, True)
    with_it.assert_outcomes(passed=1)
    without, expected = replay(suite, monkeypatch, tmp_path, False)
    without.assert_outcomes(passed=1)
    assert suite.server.hits == hits  # both replayed, offline

    # The shortcut was taken where it may be, and not elsewhere.
    assert {name for name, r in seen.items() if r["pooled"]} == (NOT_TAKEN if TAKEN else set(seen))
    assert all(r["pooled"] for r in expected.values())
    for name in expected:
        seen[name].pop("pooled"), expected[name].pop("pooled")
        assert seen[name] == expected[name], name
    # The session's jar took the replayed cookie (scrubbed when recorded) and sent it back.
    assert "flavour=" in json.dumps(seen["session sends it"]["request_headers"])
    assert seen["redirect"]["history"] == [[302, suite.server.url("/redirect")]]


def test_ports_and_host_spellings_match_as_the_stubs_match_them(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    uris = [
        "http://example.invalid/a",
        "https://example.invalid/b",
        "http://example.invalid:8080/c",
    ]
    interactions = [
        {
            "request": {"body": None, "headers": {}, "method": "GET", "uri": uri},
            "response": {
                "body": {"string": uri},
                "headers": {"Content-Type": ["text/plain"]},
                "status": {"code": 200, "message": "OK"},
            },
        }
        for uri in uris
    ]
    cassette = suite.path / "cassettes" / "spellings.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    suite.write(
        """
        SPELLINGS = {
            "http://EXAMPLE.invalid:80/a": "http://example.invalid/a",
            "https://example.invalid:443/b": "https://example.invalid/b",
            "http://example.invalid.:8080/c": "http://example.invalid:8080/c",
        }

        @pytest.mark.cassette("spellings", match_on=["method", "uri"])
        def test_spellings():
            import urllib3
            from pytest_cassettes import shortcut

            taken = shortcut.ENABLED and urllib3.__version__.startswith("2.")
            for url, recorded in SPELLINGS.items():
                r = requests.get(url)
                assert r.text == recorded
                assert (getattr(r.raw, "_pool", None) is None) == taken, url

        @pytest.mark.cassette("spellings", match_on=["method", "uri"])
        @pytest.mark.parametrize("url", ["http://example.invalid:8080/a", "http://example.invalid/c"])
        def test_not_the_same(url):
            requests.get(url)
        """
    )
    outcomes = {}
    for on in (True, False):
        monkeypatch.setattr(shortcut, "ENABLED", on)
        result = suite.run("--record-mode=none", "-p", "no:randomly")
        result.assert_outcomes(passed=1, failed=2)
        errors = [line for line in result.outlines if line.startswith("E ")]
        assert any("UnmatchedRequestError" in line for line in errors), result.outlines
        outcomes[on] = errors
    assert outcomes[True] == outcomes[False]


def test_bad_arguments_fail_as_they_do_when_sent(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.write(
        """
        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_timeout():
            requests.get(URL + "/t")
            with pytest.raises(ValueError, match="Invalid timeout"):
                requests.get(URL + "/t", timeout=(1, 2, 3))
            with pytest.raises(OSError, match="TLS certificate file"):
                requests.get(URL + "/t", cert="/nonexistent/client.pem")
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    for on in (True, False):
        monkeypatch.setattr(shortcut, "ENABLED", on)
        suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_taken_only_while_a_cassette_has_what_to_replay(suite: Suite) -> None:
    """Recording, --record-mode=all and a test without a cassette go the stubs' way."""
    suite.write(
        textwrap.dedent(
            """
            def test_once(cassette):
                assert getattr(requests.get(URL + "/x").raw, "_pool", None) is not None

            def test_plain():
                assert getattr(requests.get(URL + "/y").raw, "_pool", None) is not None
            """
        )
    )
    suite.run("--record-mode=once").assert_outcomes(passed=2)
    suite.run("--record-mode=all").assert_outcomes(passed=2)
    assert suite.server.hits == 4


def test_not_taken_when_another_tool_wraps_the_adapter(suite: Suite) -> None:
    """responses, or a project's own wrapper of HTTPAdapter.send, keeps seeing every request."""
    suite.write(
        """
        import requests.adapters

        SEEN = []
        real_send = requests.adapters.HTTPAdapter.send

        def counting_send(self, request, **kwargs):
            SEEN.append(request.url)
            return real_send(self, request, **kwargs)

        @pytest.fixture(autouse=True, scope="module")
        def wrapped():
            requests.adapters.HTTPAdapter.send = counting_send
            yield
            requests.adapters.HTTPAdapter.send = real_send

        def test_wrapped(cassette):
            requests.get(URL + "/w")
            assert SEEN == [URL + "/w"]
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


def write_cassette(suite: Suite, name: str, responses: list[tuple[str, int, str]]) -> None:
    """cassettes/<name>.yaml: a GET of each uri answered with (status, body)."""
    interactions = [
        {
            "request": {"body": None, "headers": {}, "method": "GET", "uri": uri},
            "response": {
                "body": {"string": body},
                "headers": {"Content-Type": ["text/plain"]},
                "status": {"code": status, "message": "Whatever"},
            },
        }
        for uri, status, body in responses
    ]
    cassette = suite.path / "cassettes" / f"{name}.yaml"
    cassette.parent.mkdir(parents=True, exist_ok=True)
    cassette.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))


def both_ways(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str
) -> dict[bool, tuple[dict[str, int], Any]]:
    """Each way's outcomes and what the tests wrote to $OUT (a JSON dict, test -> value)."""
    seen = {}
    for on in (True, False):
        out = tmp_path / f"out-{on}.json"
        out.write_text("{}")
        monkeypatch.setenv("OUT", str(out))
        monkeypatch.setattr(shortcut, "ENABLED", on)
        result = suite.run("--record-mode=none", "-p", "no:randomly", *args)
        seen[on] = (result.parseoutcomes(), json.loads(out.read_text()))
    return seen


SAVE = """
import json

def save(name, value):
    with open(os.environ["OUT"], encoding="utf-8") as handle:
        out = json.load(handle)
    out[name] = value
    with open(os.environ["OUT"], "w", encoding="utf-8") as handle:
        json.dump(out, handle)
"""


def test_a_request_send_refuses_plays_nothing(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """send checks cert= (and timeout=) before urllib3 reaches the cassette: the recorded
    response is still there for the next request."""
    write_cassette(suite, "once", [("http://example.invalid/a", 200, "ok")])
    suite.write(
        SAVE
        + textwrap.dedent(
            """
            @pytest.mark.cassette("once")
            @pytest.mark.parametrize("bad", [{"cert": "/no/client.pem"}, {"timeout": (1, 2, 3)}])
            def test_refused_then_sent(bad):
                with pytest.raises((OSError, ValueError)):
                    requests.get("http://example.invalid/a", **bad)
                save(str(bad), requests.get("http://example.invalid/a").text)
            """
        )
    )
    seen = both_ways(suite, monkeypatch, tmp_path)
    assert seen[True] == seen[False]
    assert seen[False][0] == {"passed": 2}


def test_adapters_choosing_their_pool_take_the_stubs_way(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The stub spells the URI from the pool's host: an adapter that picks another pool (a
    pinned host, a proxy manager as its pool manager, a pool class of its own) is replayed as
    the stubs replay it."""
    write_cassette(
        suite,
        "pools",
        [
            ("http://example.invalid/a", 200, "direct"),
            ("http://example.invalid/b", 200, "b"),
            ("http://pinned.invalid/a", 200, "pinned"),
            ("http://proxy.invalid:3128/a", 200, "proxy"),
        ],
    )
    suite.write(
        SAVE
        + textwrap.dedent(
            """
            import urllib3
            from requests.adapters import HTTPAdapter

            class PinnedKey(HTTPAdapter):
                def build_connection_pool_key_attributes(self, request, verify, cert=None):
                    host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
                    return {**host, "host": "pinned.invalid"}, pool

            class PinnedPool(HTTPAdapter):
                def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
                    return self.poolmanager.connection_from_host("pinned.invalid", 80, "http")

            class ProxyPool(HTTPAdapter):
                def init_poolmanager(self, *args, **kwargs):
                    self.poolmanager = urllib3.ProxyManager("http://proxy.invalid:3128")

            class TaggingPool(urllib3.HTTPConnectionPool):
                def urlopen(self, method, url, *args, **kwargs):
                    return super().urlopen(method, url.replace("/b", "/a"), *args, **kwargs)

            class OwnPool(HTTPAdapter):
                def init_poolmanager(self, *args, **kwargs):
                    super().init_poolmanager(*args, **kwargs)
                    self.poolmanager.pool_classes_by_scheme = {"http": TaggingPool}

            @pytest.mark.cassette("pools", allow_playback_repeats=True)
            @pytest.mark.parametrize("adapter", [PinnedKey, PinnedPool, ProxyPool, OwnPool])
            def test_adapter(adapter):
                session = requests.Session()
                session.mount("http://", adapter())
                path = "/b" if adapter is OwnPool else "/a"
                save(adapter.__name__, session.get("http://example.invalid" + path).text)
            """
        )
    )
    seen = both_ways(suite, monkeypatch, tmp_path)
    assert seen[True] == seen[False]
    assert seen[False] == (
        {"passed": 4},
        {"PinnedKey": "pinned", "PinnedPool": "pinned", "ProxyPool": "proxy", "OwnPool": "direct"},
    )


def test_statuses_the_adapter_retries_are_retried_as_urllib3_retries_them(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """urlopen replays the next response when the adapter's Retry retries a status; the
    response keeps the Retry it was given (`r.raw.retries`), as urlopen leaves it."""
    write_cassette(
        suite,
        "retried",
        [
            ("http://example.invalid/a", 503, "busy"),
            ("http://example.invalid/a", 200, "ok"),
            ("http://example.invalid/b", 200, "plain"),
        ],
    )
    suite.write(
        SAVE
        + textwrap.dedent(
            """
            from urllib3.util import Retry

            @pytest.mark.cassette("retried")
            def test_retried():
                session = requests.Session()
                retry = Retry(total=2, status_forcelist=[503])
                session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
                r = session.get("http://example.invalid/a")
                save("retried", [r.status_code, r.text, len(r.raw.retries.history)])
                r = session.get("http://example.invalid/b")
                save("plain", [r.status_code, r.text, r.raw.retries is retry])
            """
        )
    )
    seen = both_ways(suite, monkeypatch, tmp_path)
    assert seen[True] == seen[False]
    assert seen[False] == (
        {"passed": 1},
        {"retried": [200, "ok", 1], "plain": [200, "plain", True]},
    )


def test_a_miss_runs_the_request_hooks_once(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a miss the shortcut hands what it prepared (filtered, scrubbed) to the stubs' path:
    `before_record_request` sees each live request once, and the recorded one is scrubbed."""
    write_cassette(suite, "episodes", [(suite.server.url("/a"), 200, "old")])
    suite.write(
        SAVE
        + textwrap.dedent(
            """
            SEEN = []

            def hook(request):
                SEEN.append(request.path)
                return request

            @pytest.fixture
            def cassette_config():
                return {"before_record_request": hook}

            @pytest.mark.cassette("episodes")
            def test_episodes():
                assert requests.get(URL + "/a").text == "old"
                headers = {"Authorization": "Bearer sk-live-abcdefghijklmnop1234"}
                assert requests.get(URL + "/b", headers=headers).status_code == 200
                save("seen", SEEN)
            """
        )
    )
    out = tmp_path / "out.json"
    out.write_text("{}")
    monkeypatch.setenv("OUT", str(out))
    suite.run("--record-mode=new_episodes").assert_outcomes(passed=1)
    # The stored /a when the cassette loads (stored requests are filtered as live ones are),
    # then each live request once.
    assert json.loads(out.read_text()) == {"seen": ["/a", "/a", "/b"]}
    recorded = yaml.safe_load((suite.path / "cassettes" / "episodes.yaml").read_text())
    assert [i["request"]["uri"] for i in recorded["interactions"]] == [
        suite.server.url("/a"),
        suite.server.url("/b"),
    ]
    assert "sk-live" not in (suite.path / "cassettes" / "episodes.yaml").read_text()
    assert suite.server.hits == 1
