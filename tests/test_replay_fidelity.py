"""What a client sees of a response is the same recording as replaying, so the code that reads
it passes both times (response.py, urllib3_response.py, patching.py)."""

from __future__ import annotations

import json

import pytest

# Imported here so that pytester's in-process runs find them loaded (as test_data_clients.py
# does): vcrpy imported afresh by a later run would hand out its own stub response, not ours.
import urllib3  # noqa: F401
import vcr  # noqa: F401

from tests.conftest import Suite

BODY = json.dumps({"k": "v", "n": list(range(300))})


def record_then_replay(suite: Suite, source: str, passed: int) -> None:
    """The suite recorded, then replayed offline, passing each time."""
    suite.write(source)
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=passed)
    hits = suite.server.hits
    replayed = suite.run("--record-mode=none", "-p", "no:randomly")
    replayed.assert_outcomes(passed=passed)
    assert suite.server.hits == hits


@pytest.mark.parametrize("chunk", [0, 100])
def test_a_client_that_decompresses_what_content_encoding_names_reads_the_body_recording(
    suite: Suite, chunk: int
) -> None:
    """A gzip response read undecoded (`raw.read()`, `read(decode_content=False)`, http.client)
    and decompressed when Content-Encoding says gzip: recording, the client was handed the
    decoded body under the live headers, which still said gzip, and gzip.decompress raised
    BadGzipFile; replayed it passed (the headers as stored). Now both are the body as stored:
    decoded, no Content-Encoding, its Content-Length its own."""
    suite.server.route(
        "/gz", body=BODY, headers={"Content-Type": "application/json"}, encoding="gzip", chunk=chunk
    )
    source = f"""
        import gzip
        import urllib.request

        import urllib3

        BODY = {BODY!r}.encode()

        def as_sent(data, headers):
            return gzip.decompress(data) if headers.get("Content-Encoding") == "gzip" else data

        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_download():
            r = requests.get(URL + "/gz", stream=True)
            assert as_sent(r.raw.read(), r.headers) == BODY
            r = urllib3.PoolManager().request("GET", URL + "/gz", preload_content=False)
            data = r.read(decode_content=False)
            assert as_sent(data, r.headers) == BODY
            length = r.headers.get("Content-Length")
            assert length is None or int(length) == len(data)
            req = urllib.request.Request(URL + "/gz", headers={{"Accept-Encoding": "gzip"}})
            with urllib.request.urlopen(req) as r:
                assert as_sent(r.read(), r.headers) == BODY
    """
    record_then_replay(suite, source, passed=1)


def test_fileno_of_a_response_without_a_socket_raises_what_file_objects_raise(
    suite: Suite,
) -> None:
    """Live, `fileno()` gives the socket's descriptor; a recorded or replayed response has
    none. It raised AttributeError (http.client's `fp` is None), which code written to io's
    contract (OSError, io.UnsupportedOperation, as BytesIO and urllib3 raise) did not catch."""
    suite.server.route("/page", body=BODY)
    source = """
        import io
        import urllib.request

        import urllib3

        def descriptor(response):
            try:
                return response.fileno()
            except io.UnsupportedOperation:  # an OSError
                return -1

        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_fileno():
            seen = [
                descriptor(requests.get(URL + "/page", stream=True).raw),
                descriptor(urllib3.PoolManager().request("GET", URL + "/page", preload_content=False)),
                descriptor(urllib.request.urlopen(URL + "/page")),
            ]
            assert seen == [-1, -1, -1]
    """
    record_then_replay(suite, source, passed=1)
