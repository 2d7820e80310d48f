"""The cache of parsed cassettes: used on the next run, never stale, a bad entry is a miss."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_cassettes import storage
from tests.conftest import Suite

MANY = 40  # above ParsedCache.MIN_INTERACTIONS: small cassettes are not worth an entry


def cassette_of(count: int, body: str) -> str:
    return yaml.safe_dump(
        {
            "version": 1,
            "interactions": [
                {
                    "request": {
                        "method": "GET",
                        "uri": f"http://x/{i}",
                        "body": None,
                        "headers": {},
                    },
                    "response": {
                        "status": {"code": 200, "message": "OK"},
                        "headers": {},
                        "body": {"string": f"{body} {i}"},
                    },
                }
                for i in range(count)
            ],
        }
    )


@pytest.fixture
def cache(tmp_path: Path) -> storage.ParsedCache:
    cache = storage.ParsedCache()
    cache.folder = tmp_path / "parsed"
    cache.folder.mkdir()
    return cache


def test_an_entry_is_written_for_a_large_cassette_and_read_back(
    cache: storage.ParsedCache,
) -> None:
    interactions = storage.parse(cassette_of(MANY, "old"), "c.yaml")
    cache.put("yaml-abc", interactions)
    assert [p.name for p in cache.folder.iterdir()] == ["yaml-abc.json"]  # type: ignore[union-attr]
    assert cache.get("yaml-abc") == interactions
    cache.put("yaml-small", interactions[:3])
    assert cache.get("yaml-small") is None


def test_binary_bodies_round_trip_through_the_cache(cache: storage.ParsedCache) -> None:
    interactions = storage.parse(cassette_of(MANY, "x"), "c.yaml")
    interactions[0]["response"]["body"]["string"] = bytes(range(256))
    cache.put("yaml-bin", interactions)
    assert cache.get("yaml-bin") == interactions


def test_request_bodies_of_pairs_stay_tuples_through_the_cache(cache: storage.ParsedCache) -> None:
    # aiohttp's data=[(name, value)] as vcrpy stores it: vcrpy's body matcher tells a tuple
    # from a list, so a cached cassette must give back what the YAML gives.
    interactions = storage.parse(cassette_of(MANY, "x"), "c.yaml")
    interactions[0]["request"]["body"] = [("user", "ada"), ("tags", ("a", "b"))]
    interactions[1]["request"]["body"] = {"user": {"ids": [1, 2]}}
    # A body's own mappings spelled like the cache's tags stay mappings.
    interactions[2]["request"]["body"] = {"__tuple__": [1], "x": {"__bytes__": "AA=="}}
    interactions[3]["request"]["body"] = {"__dict__": {"__tuple__": ("a", "b")}}
    cache.put("yaml-pairs", interactions)
    assert cache.get("yaml-pairs") == interactions


def test_a_corrupt_entry_is_a_miss(cache: storage.ParsedCache) -> None:
    (cache.folder / "yaml-bad.json").write_text('{"format": 1, "interactions": [')  # type: ignore[operator]
    assert cache.get("yaml-bad") is None
    (cache.folder / "yaml-old.json").write_text('{"format": 0, "interactions": []}')  # type: ignore[operator]
    assert cache.get("yaml-old") is None


def test_a_second_run_reads_the_cache_and_an_edited_cassette_is_never_stale(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = suite.path / "cassettes" / "big.yaml"
    path.parent.mkdir()
    path.write_text(cassette_of(MANY, "old"))
    suite.write(
        """
        import urllib3

        @pytest.mark.cassette("big.yaml", match_on=["method", "uri"])
        def test_big():
            assert urllib3.PoolManager().request("GET", "http://x/7").data == os.environ["EXPECTED"].encode()
        """
    )
    run = suite.pytester.runpytest  # with the cache provider, unlike suite.run
    monkeypatch.setenv("EXPECTED", "old 7")
    run("-p", "no:recording", "-p", "no:asyncio", "--record-mode=none").assert_outcomes(passed=1)
    entries = list((suite.path / ".pytest_cache").rglob("pytest-cassettes-parsed/yaml-*.json"))
    assert len(entries) == 1
    # The same bytes again: served from the entry (which we mark to prove it was read).
    entries[0].write_text(entries[0].read_text().replace('"old 7"', '"cached 7"'))
    storage._cache.clear()
    monkeypatch.setenv("EXPECTED", "cached 7")
    run("-p", "no:recording", "-p", "no:asyncio", "--record-mode=none").assert_outcomes(passed=1)
    # An edited cassette has another hash: parsed afresh, never the stale entry.
    path.write_text(cassette_of(MANY, "new"))
    storage._cache.clear()
    monkeypatch.setenv("EXPECTED", "new 7")
    run("-p", "no:recording", "-p", "no:asyncio", "--record-mode=none").assert_outcomes(passed=1)
