"""What a client sees of a response is the same recording as replaying, so the code that reads
it passes both times (response.py, urllib3_response.py, patching.py)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

# Imported here so that pytester's in-process runs find them loaded (as test_data_clients.py
# does): vcrpy imported afresh by a later run would hand out its own stub response, not ours.
import urllib3
import vcr  # noqa: F401

from tests.conftest import Suite
from tests.test_shortcut import SAVE, both_ways

URLLIB3_MAJOR = int(urllib3.__version__.split(".")[0])
BODY = json.dumps({"k": "v", "n": list(range(300))})

# The end of a generated module whose `observe(name)` saves what a client saw: seen live, and
# through a cassette.
OBSERVED = """

def sizes(pieces):
    return [len(piece) for piece in pieces]


def test_live():
    observe("live")


@pytest.mark.cassette
def test_replayed():
    observe("replayed")
"""


def record_then_replay(suite: Suite, source: str, passed: int) -> None:
    """The suite recorded, then replayed offline, passing each time."""
    suite.write(source)
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=passed)
    hits = suite.server.hits
    replayed = suite.run("--record-mode=none", "-p", "no:randomly")
    replayed.assert_outcomes(passed=passed)
    assert suite.server.hits == hits


def observed_recording(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> dict[str, Any]:
    """What `observe(name)` in `source` saved live and recording ($OUT: the file it saves to)."""
    suite.write(SAVE + source + OBSERVED)
    out = tmp_path / "out.json"
    out.write_text("{}")
    monkeypatch.setenv("OUT", str(out))
    suite.run("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=2)
    seen: dict[str, Any] = json.loads(out.read_text())
    return seen


def live_recorded_replayed(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> tuple[Any, Any, Any]:
    """What `observe(name)` in `source` saved live, recording and replaying offline."""
    seen = observed_recording(suite, monkeypatch, tmp_path, source)
    hits = suite.server.hits
    suite.run("--record-mode=none", "-p", "no:randomly", "-k", "replayed").assert_outcomes(
        passed=1, deselected=1
    )
    assert suite.server.hits == hits
    replayed = json.loads((tmp_path / "out.json").read_text())["replayed"]
    return seen["live"], seen["replayed"], replayed


def compressor(coding: str) -> Any:
    """`coding`'s compress function, or a skip when its package is not installed."""
    if coding == "gzip":
        return gzip.compress
    return pytest.importorskip({"br": "brotli", "zstd": "zstandard"}[coding]).compress


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("chunk", [0, 100])
def test_a_client_that_decompresses_what_content_encoding_names_reads_the_body_recording(
    suite: Suite, chunk: int, coding: str
) -> None:
    """A gzip response read undecoded (`raw.read()`, `read(decode_content=False)`, http.client)
    and decompressed when Content-Encoding says gzip: recording, the client was handed the
    decoded body under the live headers, which still said gzip, and gzip.decompress raised
    BadGzipFile; replayed it passed (the headers as stored). Now both are the body as stored:
    decoded, no Content-Encoding, its Content-Length its own. So for br and zstd."""
    suite.server.route(
        "/gz",
        body=compressor(coding)(BODY.encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": coding},
        chunk=chunk,
    )
    source = f"""
        import gzip
        import urllib.request

        import urllib3

        BODY = {BODY!r}.encode()

        def as_sent(data, headers):
            coding = headers.get("Content-Encoding")
            if coding == "gzip":
                return gzip.decompress(data)
            if coding == "br":
                import brotli
                return brotli.decompress(data)
            if coding == "zstd":
                import zstandard
                return zstandard.ZstdDecompressor().decompressobj().decompress(data)
            return data

        @pytest.mark.cassette(allow_playback_repeats=True)
        def test_download():
            r = requests.get(URL + "/gz", stream=True)
            assert as_sent(r.raw.read(), r.headers) == BODY
            r = urllib3.PoolManager().request("GET", URL + "/gz", preload_content=False)
            data = r.read(decode_content=False)
            assert as_sent(data, r.headers) == BODY
            length = r.headers.get("Content-Length")
            assert length is None or int(length) == len(data)
            req = urllib.request.Request(URL + "/gz", headers={{"Accept-Encoding": {coding!r}}})
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


CHUNKS = """
import asyncio

import aiohttp
import httpx
import urllib3


def seen(url):
    out = {}
    for size in (1, 7, 1000):
        out[f"iter_content({size})"] = sizes(requests.get(url, stream=True).iter_content(size))
    out["iter_lines"] = list(requests.get(url, stream=True).iter_lines())
    r = urllib3.PoolManager().request("GET", url, preload_content=False)
    out["stream(7)"] = sizes(r.stream(7))
    with httpx.Client() as client, client.stream("GET", url) as r:
        out["iter_bytes(7)"] = sizes(r.iter_bytes(7))
    with httpx.Client() as client, client.stream("GET", url) as r:
        out["httpx iter_lines"] = list(r.iter_lines())

    async def read():
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as r:
                chunked = [len(c) async for c in r.content.iter_chunked(7)]
            async with session.get(url) as r:
                lines = [line async for line in r.content]
        return chunked, [line.decode() for line in lines]

    out["iter_chunked(7)"], out["aiohttp lines"] = asyncio.run(read())
    return {key: [v.decode() if isinstance(v, bytes) else v for v in value] for key, value in out.items()}


def observe(name):
    save(name, {path: seen(URL + path) for path in ("/length", "/gzip", "/chunked")})

"""


def test_pieces_of_a_size_the_client_asks_for_are_as_live(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pieces a client reads of a size it chooses (`iter_content(n)`, `iter_lines()`,
    urllib3's `stream(n)`, httpx's `iter_bytes(n)`, aiohttp's `iter_chunked(n)`) are the
    same live, recording and replaying, for a body sent with its Content-Length, gzip'd or
    not. A chunked body replays as one: requests and urllib3 cut their pieces at the server's
    chunks too live, not replaying; httpx cuts them at the size asked for both ways."""
    body = "".join(f"line {i} of the body\n" for i in range(40))
    suite.server.route("/length", body=body)
    suite.server.route("/gzip", body=body, encoding="gzip")
    suite.server.route("/chunked", body=body, chunk=100)
    live, recorded, replayed = live_recorded_replayed(suite, monkeypatch, tmp_path, CHUNKS)
    assert recorded == replayed
    assert live["/length"]["iter_content(7)"][:2] == [7, 7]
    assert len(live["/length"]["iter_lines"]) == 40
    assert replayed["/length"] == live["/length"]
    if URLLIB3_MAJOR >= 2:
        assert replayed["/gzip"] == live["/gzip"]
    else:
        # urllib3 1.x reads n bytes as sent, then decodes them: live, a gzip'd body's pieces
        # are what its compressed pieces decode to, which a cassette (stored decoded) cannot
        # give back. The other readers' pieces are as live.
        sized = {key for key in live["/gzip"] if "(" in key and "iter_bytes" not in key}
        sized -= {"iter_chunked(7)"}
        assert {k: v for k, v in replayed["/gzip"].items() if k not in sized} == {
            k: v for k, v in live["/gzip"].items() if k not in sized
        }
    chunked = {key: value for key, value in live["/chunked"].items() if "(" not in key}
    for key in ("iter_bytes(7)", "iter_content(1)"):
        chunked[key] = live["/chunked"][key]
    assert {key: replayed["/chunked"][key] for key in chunked} == chunked
    # aiohttp's pieces live are cut where the network's reads end too.
    whole, rest = divmod(len(body), 7)
    assert replayed["/chunked"]["iter_chunked(7)"] == [7] * whole + [rest] * bool(rest)
    # What a cassette does not keep: the server's chunks (100 bytes each here).
    assert live["/chunked"]["iter_content(1000)"][0] == 100
    assert replayed["/chunked"]["iter_content(1000)"] == [len(body)]


S3 = """
import gzip
import hashlib

import boto3
from botocore.config import Config


def s3(**config):
    return boto3.client(
        "s3",
        endpoint_url=URL,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        config=Config(s3={"addressing_style": "path"}, **config),
    )


def observe(name):
    client = s3()
    get = lambda: client.get_object(Bucket="bucket", Key="plain.txt")
    body = get()["Body"]
    seen = {
        "read": get()["Body"].read().decode(),
        "read(7)": [len(body.read(7)), len(body.read(7)), len(body.read())],
        "iter_chunks(100)": sizes(get()["Body"].iter_chunks(100)),
        "iter_lines": [line.decode() for line in get()["Body"].iter_lines()],
        "checksum": client.get_object(
            Bucket="bucket", Key="plain.txt", ChecksumMode="ENABLED"
        )["ChecksumCRC32"],
    }
    # An object stored gzip'd: botocore does not decode it; the client does when it says so.
    got = s3(response_checksum_validation="when_required").get_object(Bucket="bucket", Key="gz.txt")
    data = got["Body"].read()
    if got.get("ContentEncoding") == "gzip":
        data = gzip.decompress(data)
    seen["gzip'd"] = data.decode()
    save(name, seen)

"""


def test_an_s3_object_s_body_reads_as_live(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """botocore reads through urllib3 undecoded, in pieces it or its caller sizes, and checks
    the body's CRC32 against the one S3 sends: the same live, recording and replaying. An
    object stored gzip'd (Content-Encoding: gzip) read by a client decompressing it when
    ContentEncoding says so: recording, it was handed the decoded body under gzip
    (BadGzipFile); its checksum, of the compressed bytes, cannot be checked replaying (README)."""
    pytest.importorskip("boto3")
    data = "".join(f"line {i} of the object\n" for i in range(40)).encode()
    packed = gzip.compress(data, mtime=0)

    def crc32(body: bytes) -> str:
        return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()

    suite.server.route(
        "/bucket/plain.txt",
        body=data,
        headers={"Content-Type": "text/plain", "x-amz-checksum-crc32": crc32(data)},
    )
    suite.server.route(
        "/bucket/gz.txt",
        body=packed,
        headers={
            "Content-Type": "text/plain",
            "Content-Encoding": "gzip",
            "x-amz-checksum-crc32": crc32(packed),
        },
    )
    live, recorded, replayed = live_recorded_replayed(suite, monkeypatch, tmp_path, S3)
    assert live["gzip'd"] == data.decode()
    assert live["iter_chunks(100)"][:2] == [100, 100]
    assert live["checksum"] == crc32(data)
    assert (recorded, replayed) == (live, live)


CODINGS = """
import asyncio
import hashlib
import urllib.request
import zlib

import aiohttp
import httpx
import urllib3

try:
    import brotli
except ImportError:
    brotli = None
try:
    import zstandard
except ImportError:
    zstandard = None


def once(data, headers):
    # what a client that reads the body as sent decodes: the codings Content-Encoding names
    coding = (headers.get("Content-Encoding") or "").lower()
    if coding == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompress(data)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def read_urlopen(url):
    with urllib.request.urlopen(url) as r:
        return once(r.read(), r.headers)


def read_aiohttp(url):
    async def read():
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as r:
                return await r.read()

    return asyncio.run(read())


def decodes(coding):
    # What aiohttp decodes with the packages installed: a request for a body it cannot decode
    # raises live and recording, so no response is recorded and replaying has none to play.
    from aiohttp import compression_utils

    return {"br": compression_utils.HAS_BROTLI, "zstd": compression_utils.HAS_ZSTD}.get(
        coding, True
    )


def seen(url, name):
    readers = {
        "requests": lambda: requests.get(url).content,
        "urllib3": lambda: urllib3.PoolManager().request("GET", url).data,
        "http.client": lambda: read_urlopen(url),
        "httpx": lambda: httpx.get(url).content,
        "aiohttp": lambda: read_aiohttp(url),
    }
    out = {}
    for client, read in readers.items():
        if client == "aiohttp" and name == "replayed" and not decodes(url.split("/")[-1][:4]):
            out[client] = "not recorded"
            continue
        try:
            out[client] = digest(read())
        except Exception as exc:  # a coding the client cannot decode live
            out[client] = type(exc).__name__
    return out


def observe(name):
    save(name, {path: seen(URL + path, name) for path in PATHS})

"""


def test_a_body_that_is_itself_compressed_is_decoded_once_as_live(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A `.gz` file served with Content-Encoding: gzip (gzip(gzip(data)) on the wire) is the
    .gz file's bytes to requests, urllib3, httpx and aiohttp live: they undo the transfer's
    coding once. Recording and replaying, requests and urllib3 (urllib3 2 decodes the body
    before vcrpy's stub records it) got the inner data: the stored body, decoded already, was
    decoded again because it still decoded. Plain gzip, deflate, br and zstd bodies stay as
    they were, and a `.gz` file sent with br or zstd is decoded once too: what the client sees
    is the same live, recording and replaying, but for a coding the client cannot decode live
    (zstd without backports.zstd), which replays decoded (README)."""
    payload = json.dumps({"n": list(range(200))}).encode()
    packed = gzip.compress(payload, mtime=0)
    suite.server.route("/gz-file", body=packed, encoding="gzip")
    suite.server.route("/gzip", body=payload, encoding="gzip")
    suite.server.route("/deflate", body=payload, encoding="deflate")
    suite.server.route("/deflate-gz", body=packed, encoding="deflate")
    suite.server.route("/deflate-twice", body=zlib.compress(payload), encoding="deflate")
    paths = ["/gz-file", "/gzip", "/deflate", "/deflate-gz", "/deflate-twice"]
    # The server knows gzip and deflate; br and zstd bodies are sent encoded with their header.
    for coding, module, compress in (
        ("br", "brotli", "compress"),
        ("zstd", "zstandard", "compress"),
    ):
        try:
            encode = getattr(__import__(module), compress)
        except ImportError:
            continue
        for path, body in ((f"/{coding}", payload), (f"/{coding}-gz", packed)):
            suite.server.route(path, body=encode(body), headers={"Content-Encoding": coding})
            paths.append(path)
    source = f"PATHS = {paths!r}\n" + CODINGS
    live, recorded, replayed = live_recorded_replayed(suite, monkeypatch, tmp_path, source)
    expected = json.loads(json.dumps(live))
    for path in paths:
        if not path.startswith("/zstd"):
            continue
        # A coding the client library cannot decode (zstd, under urllib3 2 and aiohttp without
        # backports.zstd or Python 3.14): live, requests and urllib3 hand over the encoded
        # bytes under Content-Encoding; a cassette stores the body decoded, as http.client's
        # and httpx's, and replays it so (README: Storage). aiohttp raises: nothing recorded.
        if "zstd" not in urllib3.response.HTTPResponse.CONTENT_DECODERS:
            for client in ("requests", "urllib3"):
                assert live[path][client] != live[path]["http.client"]
                expected[path][client] = live[path]["http.client"]
        from aiohttp import compression_utils

        if not compression_utils.HAS_ZSTD:
            assert live[path]["aiohttp"] == "ClientResponseError"
            expected[path]["aiohttp"] = "not recorded"
    digest = hashlib.sha256(packed).hexdigest()[:16]
    assert set(live["/gz-file"].values()) == {digest}  # the .gz file, decoded once
    inner = hashlib.sha256(zlib.compress(payload)).hexdigest()[:16]
    assert set(live["/deflate-twice"].values()) == {inner}
    assert {live[path]["httpx"] for path in paths if path.endswith("-gz")} == {digest}
    assert (recorded, replayed) == (expected, expected)


MATRIX = """
import asyncio
import hashlib
import http.client
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import httpx
import urllib3

SIMPLE = ["/cl", "/chunked", "/empty", "/204", "/304", "/latin1", "/reason", "/missing"]
LARGE = "/large"


def digest(data):
    return [len(data), hashlib.sha256(data).hexdigest()[:12]]


def headers_of(get_all):
    return {name: get_all(name) for name in ("content-length", "content-type", "set-cookie")}


def by_requests():
    session = requests.Session()
    out = {}
    for path in SIMPLE:
        r = session.get(URL + path)
        out[path] = [r.status_code, r.reason, r.raw.version, digest(r.content), r.encoding,
                     r.text[:12], headers_of(lambda n: r.headers.get(n))]
        out[path + " more"] = [r.ok, r.is_redirect, type(r.elapsed).__name__, r.apparent_encoding,
                               r.raw.length_remaining, r.raw.tell(), r.raw.closed, r.url, r.links]
    r = session.head(URL + "/cl")
    out["HEAD"] = [r.status_code, r.reason, digest(r.content), headers_of(lambda n: r.headers.get(n))]
    r = session.get(URL + "/r1")
    out["redirects"] = [[h.status_code, h.url, h.reason] for h in r.history] + [[r.status_code, r.url]]
    r = session.get(URL + "/cookies")
    out["cookies"] = [r.headers.get("Set-Cookie"), r.raw.headers.getlist("Set-Cookie"),
                      sorted(session.cookies.items()), sorted(r.cookies.items())]
    r = session.get(URL + LARGE, stream=True)
    out["raw.read(amt)"] = [len(r.raw.read(10000)) for _ in range(3)]
    r = session.get(URL + LARGE, stream=True)
    sizes = [len(c) for c in r.iter_content(65536)]
    out["iter_content(65536)"] = [sizes[:3], len(sizes), sum(sizes)]
    return out


def by_httpx_more(r):
    return [r.is_success, type(r.elapsed).__name__, r.num_bytes_downloaded, sorted(r.extensions),
            r.request.method, str(r.url), r.is_closed, r.is_stream_consumed, r.charset_encoding]


def by_httpx_response(r):
    return [r.status_code, r.reason_phrase, r.http_version, digest(r.content), r.encoding,
            r.text[:12], headers_of(lambda n: r.headers.get_list(n))]


def by_httpx():
    out = {}
    with httpx.Client(follow_redirects=True) as client:
        for path in SIMPLE:
            r = client.get(URL + path)
            out[path], out[path + " more"] = by_httpx_response(r), by_httpx_more(r)
        r = client.head(URL + "/cl")
        out["HEAD"] = [r.status_code, r.reason_phrase, digest(r.content), headers_of(lambda n: r.headers.get_list(n))]
        r = client.get(URL + "/r1")
        out["redirects"] = [[h.status_code, str(h.url), h.reason_phrase] for h in r.history] + [[r.status_code, str(r.url)]]
        r = client.get(URL + "/cookies")
        out["cookies"] = [r.headers.get_list("set-cookie"), sorted(client.cookies.items()), sorted(r.cookies.items())]
        with client.stream("GET", URL + LARGE) as r:
            sizes = [len(c) for c in r.iter_bytes(65536)]
        out["iter_bytes(65536)"] = [sizes[:3], len(sizes), sum(sizes)]
    return out


async def by_httpx_async_run():
    out = {}
    async with httpx.AsyncClient(follow_redirects=True) as client:
        for path in SIMPLE:
            r = await client.get(URL + path)
            out[path], out[path + " more"] = by_httpx_response(r), by_httpx_more(r)
        r = await client.head(URL + "/cl")
        out["HEAD"] = [r.status_code, r.reason_phrase, digest(r.content), headers_of(lambda n: r.headers.get_list(n))]
        r = await client.get(URL + "/r1")
        out["redirects"] = [[h.status_code, str(h.url), h.reason_phrase] for h in r.history] + [[r.status_code, str(r.url)]]
        r = await client.get(URL + "/cookies")
        out["cookies"] = [r.headers.get_list("set-cookie"), sorted(client.cookies.items()), sorted(r.cookies.items())]
        async with client.stream("GET", URL + LARGE) as r:
            sizes = [len(c) async for c in r.aiter_bytes(65536)]
        out["iter_bytes(65536)"] = [sizes[:3], len(sizes), sum(sizes)]
    return out


def by_httpx_async():
    return asyncio.run(by_httpx_async_run())


async def by_aiohttp_run():
    out = {}
    async with aiohttp.ClientSession() as session:
        for path in SIMPLE:
            async with session.get(URL + path) as r:
                body = await r.read()
                text = await r.text()
                out[path] = [r.status, r.reason, list(r.version), digest(body), r.get_encoding(),
                             text[:12], headers_of(lambda n: r.headers.getall(n, None))]
                out[path + " more"] = [r.ok, r.content_length, r.charset, r.content_type,
                                       r.request_info.method, str(r.real_url), r.closed,
                                       r.content.at_eof(), r.content.total_bytes]
        async with session.head(URL + "/cl") as r:
            out["HEAD"] = [r.status, r.reason, digest(await r.read()), headers_of(lambda n: r.headers.getall(n, None))]
        async with session.get(URL + "/r1") as r:
            out["redirects"] = [[h.status, str(h.url), h.reason] for h in r.history] + [[r.status, str(r.url)]]
        async with session.get(URL + "/cookies") as r:
            out["cookies"] = [r.headers.getall("Set-Cookie", None), sorted((c.key, c.value) for c in session.cookie_jar),
                              sorted((k, v.value) for k, v in r.cookies.items())]
        async with session.get(URL + LARGE) as r:
            sizes = [len(c) async for c in r.content.iter_chunked(65536)]
        out["iter_chunked(65536)"] = [sizes[:3], len(sizes), sum(sizes)]
        async with session.get(URL + "/cl") as r:
            first = await r.content.read(10)
            out["content, then read()"] = [
                len(first), len(await r.read()), len(await r.text()), len(await r.content.read())
            ]
    return out


def by_aiohttp():
    return asyncio.run(by_aiohttp_run())


def by_urllib3():
    pool = urllib3.PoolManager()
    out = {}
    for path in SIMPLE:
        r = pool.request("GET", URL + path)
        out[path] = [r.status, r.reason, r.version, digest(r.data), headers_of(lambda n: r.headers.getlist(n))]
        # urllib3 1.x's response has neither `url` nor `version_string` (2.0 added them).
        out[path + " more"] = [r.length_remaining, r.chunked, r.tell(), r.closed, r.geturl(),
                               getattr(r, "version_string", None),
                               r.retries.total if r.retries else None]
    r = pool.request("HEAD", URL + "/cl")
    out["HEAD"] = [r.status, r.reason, digest(r.data), headers_of(lambda n: r.headers.getlist(n))]
    r = pool.request("GET", URL + "/r1")
    out["redirects"] = [[h.status, h.redirect_location] for h in r.retries.history] + [[r.status, r.geturl()]]
    r = pool.request("GET", URL + "/cookies")
    out["cookies"] = [r.headers.getlist("Set-Cookie"), r.headers.get("Set-Cookie")]
    r = pool.request("GET", URL + LARGE, preload_content=False)
    out["read(amt)"] = [len(r.read(10000)) for _ in range(3)]
    r = pool.request("GET", URL + LARGE, preload_content=False)
    sizes = [len(c) for c in r.stream(65536)]
    out["stream(65536)"] = [sizes[:3], len(sizes), sum(sizes)]
    return out


def by_http_client():
    address = urlsplit(URL)
    out = {}

    def get(path, method="GET"):
        connection = http.client.HTTPConnection(address.hostname, address.port)
        connection.request(method, path)
        return connection.getresponse()

    for path in SIMPLE:
        r = get(path)
        out[path] = [r.status, r.reason, r.version, digest(r.read()), headers_of(r.msg.get_all)]
        out[path + " more"] = [r.length, r.chunked, r.closed, r.isclosed(), r.will_close]
    r = get("/cl", "HEAD")
    out["HEAD"] = [r.status, r.reason, digest(r.read()), headers_of(r.msg.get_all)]
    with urllib.request.urlopen(URL + "/r1") as r:
        out["redirects"] = [r.status, r.geturl(), r.reason]
    r = get("/cookies")
    out["cookies"] = [r.msg.get_all("Set-Cookie"), r.getheader("Set-Cookie")]
    r = get(LARGE)
    out["read(amt)"] = [len(r.read(10000)) for _ in range(3)]
    return out


CLIENTS = {
    "requests": by_requests,
    "httpx": by_httpx,
    "httpx async": by_httpx_async,
    "aiohttp": by_aiohttp,
    "urllib3": by_urllib3,
    "http.client": by_http_client,
}


def observe(name):
    seen = {}
    for client, read in CLIENTS.items():
        try:
            seen[client] = read()
        except Exception as error:
            seen[client] = {"raised": f"{type(error).__name__}: {error}"}
    save(name, seen)
"""


def serve_matrix(suite: Suite) -> None:
    server = suite.server
    server.fixed_date = "Wed, 25 Nov 2026 12:00:00 GMT"
    text = {"Content-Type": "text/plain"}
    server.route("/cl", body=BODY, headers={"Content-Type": "application/json"})
    server.route("/chunked", body=BODY * 3, headers=text, chunk=100)
    server.route("/empty", body=b"", headers=text)
    server.route("/204", status=204)
    server.route("/304", status=304, headers={"ETag": '"v1"'})
    server.route(
        "/latin1",
        body="café, naïve, Grüße".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=ISO-8859-1"},
    )
    server.route("/reason", body=b"ok", reason="Fine Thanks")
    server.route("/missing", status=404, body=b"nope", reason="Not Here", headers=text)
    server.route("/r1", status=302, headers={"Location": "/r2"}, reason="Found It")
    server.route("/r2", status=301, headers={"Location": "/final"})
    server.route("/final", body=b"landed", headers=text)
    # One Set-Cookie under two spellings: two header lines of the same name.
    server.route(
        "/cookies",
        body=b"cookies",
        headers={"Set-Cookie": "a=1; Path=/", "set-cookie": "b=2; Path=/"},
    )
    server.route("/large", body=bytes(range(256)) * 1200)


def test_what_every_client_sees_is_as_live(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    serve_matrix(suite)
    seen = observed_recording(suite, monkeypatch, tmp_path, MATRIX)
    live, recorded = seen["live"], seen["replayed"]
    hits = suite.server.hits
    ways = both_ways(suite, monkeypatch, tmp_path, "-k", "replayed")
    assert suite.server.hits == hits
    assert {on: outcome for on, (outcome, _) in ways.items()} == {
        True: {"passed": 1, "deselected": 1},
        False: {"passed": 1, "deselected": 1},
    }
    assert not any("raised" in seen for seen in live.values()), live
    for name, seen, replaying in (
        ("recording", recorded, False),
        ("replaying", ways[True][1]["replayed"], True),
        ("replaying without requests' shortcut", ways[False][1]["replayed"], True),
    ):
        expected = as_cassettes_keep(live, replaying)
        assert not differences(seen, expected), f"{name}:\n{differences(seen, expected)}"


def as_cassettes_keep(live: dict[str, Any], replaying: bool) -> dict[str, Any]:
    """What the clients see of `live` recording (through the cassette's stub responses, but for
    httpx's) or replaying: the same, but for what a cassette does not keep (README, "How it
    works")."""
    expected: dict[str, Any] = json.loads(json.dumps(live))
    # The server's chunks: the body comes whole, not chunked; requests' raw.tell() counts it.
    expected["requests"]["/chunked more"][5] = live["requests"]["/chunked"][3][0]
    expected["urllib3"]["/chunked more"][1] = False
    expected["http.client"]["/chunked more"][1] = False
    # aiohttp's pieces live end where the network's reads end too; from a cassette, as asked.
    total = live["aiohttp"]["iter_chunked(65536)"][2]
    whole, rest = divmod(total, 65536)
    expected["aiohttp"]["iter_chunked(65536)"] = [[65536] * 3, whole + bool(rest), total]
    if not replaying:
        return expected
    for client, seen in expected.items():
        # Cookies are secrets: replayed scrubbed, under their names.
        seen["cookies"] = json.loads(
            json.dumps(seen["cookies"])
            .replace("=1;", "=<SCRUBBED>;")
            .replace("=2;", "=<SCRUBBED>;")
            .replace('"1"]', '"<SCRUBBED>"]')
            .replace('"2"]', '"<SCRUBBED>"]')
        )
        if client.startswith("httpx"):  # httpx's network stream (the socket's): none replayed
            for key, observed in seen.items():
                if key.endswith(" more"):
                    observed[3].remove("network_stream")
    return expected


def differences(seen: dict[str, Any], expected: dict[str, Any]) -> str:
    """One line per observation that differs: client, observation, seen, expected."""
    return "\n".join(
        f"{client} {key}: {seen.get(client, {}).get(key)!r} (expected {value!r})"
        for client, observations in expected.items()
        for key, value in observations.items()
        if seen.get(client, {}).get(key) != value
    )
