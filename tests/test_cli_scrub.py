"""`pytest-cassettes scrub`: cassettes recorded in the clear (by vcrpy, as pytest-recording and
pytest-vcr users have them) get the placeholders recording writes, and still replay."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import urllib3
import yaml
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import jsonserializer, yamlserializer

from pytest_cassettes import storage
from pytest_cassettes.cli import main
from pytest_cassettes.storage import CassetteLoader
from tests.conftest import Suite

TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SESSION = "sess_Q7w2E9r4T1y6U3i8O5p0"
PASSWORD = "hunter2-Correct-Horse"
API_KEY = "ak_live_5f4e3d2c1b0a99887766"
GITHUB = "ghp_" + "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7"
SECRETS = (TOKEN, SESSION, PASSWORD, API_KEY, GITHUB)

# The suite as an incumbent recorded it: vcrpy itself, nothing filtered.
INCUMBENT = """
import vcr

def cassette(test):
    folder = os.path.join(os.path.dirname(__file__), "cassettes", "test_suite")
    return vcr.VCR(record_mode="once").use_cassette(os.path.join(folder, test.__name__ + ".yaml"))(test)
"""
OURS = """
cassette = pytest.mark.cassette(match_on=["method", "uri", "body"])
"""
TESTS = f"""
TOKEN, SESSION, PASSWORD, API_KEY, GITHUB = {SECRETS!r}

@cassette
def test_session():
    assert requests.get(URL + "/public").text == "hello"
    login = requests.post(URL + "/login", data={{"username": "ada", "password": PASSWORD}})
    token = login.json()["access_token"]  # the token, or its placeholder once scrubbed
    items = requests.get(
        URL + "/sessions/" + token + "/items",
        params={{"api_key": API_KEY, "page": "1"}},
        headers={{"Authorization": "Bearer " + token}},
        cookies={{"session": SESSION, "theme": "dark"}},
    )
    assert items.json() == {{"items": [1, 2]}}
    note = {{"user": {{"name": "ada", "password": PASSWORD}}, "note": "key " + GITHUB}}
    assert requests.post(URL + "/notes", json=note).json()["method"] == "POST"
    assert requests.get(URL + "/packed").json()["plan"] == "pro"
"""


def secrets_in(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*.yaml"):
        text = path.read_text()
        found += [f"{path.name}: {secret}" for secret in SECRETS if secret in text]
    return found


def routes(suite: Suite) -> None:
    suite.server.route("/public", body="hello")
    suite.server.route(
        "/login",
        headers={"Content-Type": "application/json", "Set-Cookie": f"sid={SESSION}; Path=/"},
        body=json.dumps({"access_token": TOKEN, "token_type": "bearer"}),
    )
    suite.server.route(
        f"/sessions/{TOKEN}/items",
        headers={"Content-Type": "application/json", "X-Authorization": f"Token {TOKEN}"},
        body=json.dumps({"items": [1, 2]}),
    )
    suite.server.route(
        "/packed",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"plan": "pro", "api_key": API_KEY}),
        encoding="gzip",
    )


def test_scrub_replaces_an_incumbents_secrets_and_the_cassette_still_replays(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    routes(suite)
    suite.write(INCUMBENT + TESTS)
    suite.run("-p", "no:cassettes").assert_outcomes(passed=1)
    folder = suite.path / "cassettes"
    cassette = suite.cassette_path("test_session")
    recorded = cassette.read_text()
    assert len(secrets_in(folder)) == len(SECRETS)  # each of them, in the clear
    assert "- gzip" in recorded
    if urllib3.__version__.startswith("2."):
        # vcrpy under urllib3 2 keeps the gzip body decoded under its Content-Encoding (as in
        # docling's cassettes): replay serves it as it is. Under urllib3 1.26 it is stored
        # compressed (`!!binary`), which scrubbing undoes first.
        assert f'"api_key": "{API_KEY}"' in recorded

    # A dry run says what, never the values, and writes nothing.
    assert main(["scrub", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"{cassette}: would scrub " in out
    assert "sensitive-field:Authorization" in out and "github" in out
    # The token the login answered, sent back in the next URL's path, is replaced there too:
    # replayed, the login hands the test the placeholder, which it sends back so.
    assert "learned" in out
    assert not any(secret in out for secret in SECRETS)
    assert "--write" in out.splitlines()[-1]
    assert cassette.read_text() == recorded

    assert main(["scrub", str(folder), "--write"]) == 0
    assert f"{cassette}: scrubbed " in capsys.readouterr().out
    scrubbed = cassette.read_text()
    assert secrets_in(folder) == []
    assert "<SCRUBBED>" in scrubbed
    # What held no secret is kept as it was written: the first interaction, byte for byte.
    public = recorded[: recorded.index("- request:", 1)]
    assert scrubbed.startswith(public)
    assert main(["scan", str(folder)]) == 0
    assert main(["scrub", str(folder)]) == 0  # nothing left: a second run changes nothing
    assert "nothing to scrub in 1 cassette file" in capsys.readouterr().out

    suite.server.reset()
    suite.write(OURS + TESTS)
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert cassette.read_text() == scrubbed


def vcrpy_cassette(
    path: Path,
    url: str,
    response_body: bytes,
    headers: dict[str, list[str]],
    serializer: object = yamlserializer,
) -> Path:
    request = Request("GET", url, None, {"Authorization": f"Bearer {TOKEN}"})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": headers,
        "body": {"string": response_body},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(serialize({"requests": [request], "responses": [response]}, serializer))
    return path


def test_a_gzip_body_vcrpy_kept_compressed_is_stored_decoded_scrubbed_and_replays(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"plan": "pro", "api_key": API_KEY}).encode()
    packed = gzip.compress(body)
    headers = {
        "Content-Type": ["application/json"],
        "Content-Encoding": ["gzip"],
        "Content-Length": [str(len(packed))],
    }
    path = suite.cassette_path("test_packed")
    vcrpy_cassette(path, suite.server.url("/packed"), packed, headers)
    assert "!!binary" in path.read_text()
    assert main(["scan", str(path)]) == 1  # scan undoes the gzip, and finds the key

    assert main(["scrub", str(path), "--write"]) == 0
    assert "sensitive-field:api_key" in capsys.readouterr().out
    interaction = yaml.load(path.read_text(), Loader=CassetteLoader)["interactions"][0]
    response = interaction["response"]
    # As recording stores a compressed answer: decoded, readable, Content-Encoding dropped.
    assert json.loads(response["body"]["string"]) == {"plan": "pro", "api_key": "<SCRUBBED>"}
    assert "Content-Encoding" not in response["headers"]
    assert response["headers"]["Content-Length"] == [str(len(response["body"]["string"]))]
    assert interaction["request"]["headers"]["Authorization"] == ["Bearer <SCRUBBED>"]
    assert main(["scan", str(path)]) == 0

    suite.write(
        f"""
        @pytest.mark.cassette
        def test_packed():
            got = requests.get(URL + "/packed", headers={{"Authorization": "Bearer {TOKEN}"}})
            assert got.json() == {{"plan": "pro", "api_key": "<SCRUBBED>"}}
        """
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_a_json_cassette_is_written_as_vcrpys_json_serializer_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"Set-Cookie": [f"sid={SESSION}; Path=/"]}
    path = vcrpy_cassette(
        tmp_path / "a.json", "https://api.example.com/me", b"me", headers, jsonserializer
    )
    assert main(["scrub", str(path), "--write"]) == 0
    text = path.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=4) + "\n"
    interaction = data["interactions"][0]
    assert interaction["request"]["headers"]["Authorization"] == ["Bearer <SCRUBBED>"]
    assert interaction["response"]["headers"]["Set-Cookie"] == ["sid=<SCRUBBED>; Path=/"]
    assert main(["scan", str(path)]) == 0


def test_a_json_cassette_holding_an_emoji_is_scrubbed_checked_and_scanned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # vcrpy's JSON serializer escapes a character beyond the BMP as a surrogate pair, which YAML
    # does not read: scrub and check told "invalid YAML", scan failed with a traceback.
    message = {"msg": "launched \N{PARTY POPPER}", "api_key": API_KEY}
    body = json.dumps(message, ensure_ascii=False).encode()
    headers = {"Content-Type": ["application/json"]}
    path = vcrpy_cassette(
        tmp_path / "a.json", "https://api.example.com/me", body, headers, jsonserializer
    )
    assert "\\ud83c\\udf89" in path.read_text()
    assert main(["check", str(path)]) == 0
    assert main(["scan", str(path)]) == 1
    assert main(["scrub", str(path), "--write"]) == 0
    assert "sensitive-field:api_key" in capsys.readouterr().out
    response = json.loads(path.read_text())["interactions"][0]["response"]
    assert json.loads(response["body"]["string"]) == {
        "msg": "launched \N{PARTY POPPER}",
        "api_key": "<SCRUBBED>",
    }
    assert main(["scan", str(path)]) == 0


INDENTED = f"""\
# recorded for the billing tests
interactions:
  - request:
      body: null
      headers:
        X-Api-Key:
          - {API_KEY}
      method: GET
      uri: https://api.example.com/plans?page=2
    response:
      body:
        string: 'no secret here'
      headers: {{}}
      status:
        code: 200
        message: OK
version: 1
"""


def test_a_cassette_in_another_layout_keeps_it_and_its_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(INDENTED)
    assert main(["scrub", str(path), "--write"]) == 0
    assert path.read_text() == INDENTED.replace(API_KEY, "<SCRUBBED>")


def test_custom_rules_are_given_as_options_as_the_tests_scrub_options_take_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = INDENTED.replace("X-Api-Key", "X-Internal").replace("page=2", "page=2&cursor=c9")
    path = tmp_path / "a.yaml"
    path.write_text(text)
    assert main(["scrub", str(path)]) == 0  # neither is a secret by the built-in rules
    assert "nothing to scrub" in capsys.readouterr().out
    assert main(["scrub", str(path), "--header", "x-internal", "--param", "cursor"]) == 1
    out = capsys.readouterr().out
    assert "sensitive-field:X-Internal" in out and "sensitive-field:cursor" in out
    assert path.read_text() == text

    path.write_text(INDENTED)
    assert main(["scrub", str(path), "--disable", "x-api-key", "--write"]) == 0
    assert path.read_text() == INDENTED


def test_the_values_of_secret_environment_variables_are_scrubbed_as_recording_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_API_KEY", "plans")  # too short to be taken for a secret
    monkeypatch.setenv("BILLING_TOKEN", "page=2")
    path = tmp_path / "a.yaml"
    path.write_text(INDENTED.replace("no secret here", "key ak_live_5f4e3d2c1b0a99887766"))
    monkeypatch.setenv("ACME_API_KEY", API_KEY)
    assert main(["scrub", str(path), "--write"]) == 0
    assert "env:ACME_API_KEY" in capsys.readouterr().out
    assert "key <ACME_API_KEY>" in path.read_text()


def test_errors_exit_two_and_other_files_are_still_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scrub", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such file or directory" in capsys.readouterr().err
    assert main(["scrub", str(tmp_path), "--disable", "nonsense"]) == 2
    assert "unknown scrub rule(s) to disable: 'nonsense'" in capsys.readouterr().err

    (tmp_path / "bad.yaml").write_text("interactions: [\n")
    (tmp_path / "good.yaml").write_text(INDENTED)
    assert main(["scrub", str(tmp_path), "--write"]) == 2
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'bad.yaml'}:2: invalid YAML" in err
    assert "1 value scrubbed in 1 of 1 cassette file, 1 unreadable" in out
    assert API_KEY not in (tmp_path / "good.yaml").read_text()
    assert (tmp_path / "bad.yaml").read_text() == "interactions: [\n"


def test_write_goes_through_the_cassettes_lock_and_leaves_a_clean_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirty = tmp_path / "dirty.yaml"
    dirty.write_text(INDENTED)
    # What a writer killed under the lock leaves: the next writer, under it, replaces it.
    stale = tmp_path / ".dirty.yaml.00000000.tmp"
    stale.write_text("half a cassette")
    clean = tmp_path / "clean.yaml"
    clean.write_text(INDENTED.replace(API_KEY, "<SCRUBBED>"))
    inode = clean.stat().st_ino
    assert main(["scrub", str(tmp_path), "--write"]) == 0
    assert not stale.exists()
    assert API_KEY not in dirty.read_text()
    assert clean.stat().st_ino == inode  # not written again
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("scrub: 1 value scrubbed in 1 of 2 cassette files.")
    )


def test_a_cassette_in_flow_style_is_written_whole_as_recording_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.yaml"
    data = yaml.safe_load(INDENTED)
    path.write_text(yaml.safe_dump(data, default_flow_style=True))
    assert main(["scrub", str(path), "--write"]) == 0
    text = path.read_text()
    assert text.startswith("interactions:\n- request:\n")
    assert yaml.safe_load(text) == yaml.safe_load(INDENTED.replace(API_KEY, "<SCRUBBED>"))


def test_a_long_value_on_one_line_stays_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Written by hand or by another tool: only the secret changes, not where lines break.
    long = json.dumps({"plan": "pro", "seats": list(range(30)), "api_key": API_KEY})
    text = INDENTED.replace("'no secret here'", f"'{long}'")
    path = tmp_path / "a.yaml"
    path.write_text(text)
    assert main(["scrub", str(path), "--write"]) == 0
    assert path.read_text() == text.replace(API_KEY, "<SCRUBBED>")


def test_a_file_written_again_whole_keeps_its_other_top_level_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Another tool's note beside `interactions`, in a file scrub writes again whole (flow
    # style): it was dropped, with the version that was kept.
    path = tmp_path / "a.yaml"
    data = {**yaml.safe_load(INDENTED), "recorded_by": "the billing team"}
    path.write_text(yaml.safe_dump(data, default_flow_style=True))
    assert main(["scrub", str(path), "--write"]) == 0
    assert yaml.safe_load(path.read_text()) == {
        **yaml.safe_load(INDENTED.replace(API_KEY, "<SCRUBBED>")),
        "recorded_by": "the billing team",
    }


def test_a_file_with_windows_line_endings_keeps_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A long body vcrpy folded over several lines, its secret replaced: the lines written again
    # ended in a bare LF amid the file's CRLF.
    long = json.dumps({"items": [f"item number {i}" for i in range(30)], "api_key": API_KEY})
    text = INDENTED.replace("'no secret here'", yaml.safe_dump(long).strip().replace("\n", "\n  "))
    path = tmp_path / "a.yaml"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    assert main(["scrub", str(path), "--write"]) == 0
    written = path.read_bytes()
    assert API_KEY.encode() not in written
    assert written.count(b"\n") == written.count(b"\r\n")
    assert written.startswith(b"# recorded for the billing tests\r\n")


def test_a_file_starting_with_a_byte_order_mark_keeps_it_and_its_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was written again whole, as recording writes it: comments and layout gone.
    path = tmp_path / "a.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + INDENTED.encode())
    assert main(["scrub", str(path), "--write"]) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + INDENTED.replace(API_KEY, "<SCRUBBED>").encode()


def test_a_file_named_twice_or_by_a_link_is_counted_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dry run told 3 values in 3 files, where --write then scrubbed 1 in 1.
    path = tmp_path / "a.yaml"
    path.write_text(INDENTED)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "link.yaml").symlink_to(path)
    assert main(["scrub", str(tmp_path), str(path)]) == 1
    out = capsys.readouterr().out
    assert out.count("would scrub") == 1
    assert "1 value to scrub in 1 of 1 cassette file." in out
    assert main(["scrub", str(tmp_path), str(path), "--write"]) == 0
    assert "1 value scrubbed in 1 of 1 cassette file." in capsys.readouterr().out


def test_a_file_another_program_writes_while_it_is_scrubbed_is_left_as_that_program_wrote_it(
    tmp_path: Path,
) -> None:
    # vcrpy (pytest-recording) takes no lock: a recording it saved while a large file was being
    # scrubbed was replaced by the old interactions, scrubbed.
    path = tmp_path / "a.yaml"
    path.write_text(INDENTED)
    recorded = INDENTED.replace("page=2", "page=3")

    def scrub_while_vcrpy_records(text: str) -> str:
        path.write_text(recorded)
        return text.replace(API_KEY, "<SCRUBBED>")

    with pytest.raises(OSError, match="changed meanwhile"):
        storage.rewrite_text(path, scrub_while_vcrpy_records)
    assert path.read_text() == recorded


def test_other_yaml_and_json_files_in_a_folder_are_left_alone_and_named_not_cassettes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # They were told "`interactions` must be a list", or, for a package.json, "unknown cassette
    # format version '1.0'".
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(f"services:\n  db:\n    environment:\n      API_KEY: {API_KEY}\n")
    package = tmp_path / "package.json"
    package.write_text(json.dumps({"name": "app", "version": "1.0", "password": PASSWORD}))
    (tmp_path / "a.yaml").write_text(INDENTED)
    others = {path: path.read_bytes() for path in (compose, package)}
    assert main(["scrub", str(tmp_path), "--write"]) == 2
    out, err = capsys.readouterr()
    for path in others:
        assert f"{path}:1: not a cassette (expected a mapping with `interactions`)" in err
    assert "1 value scrubbed in 1 of 1 cassette file, 2 unreadable" in out
    assert {path: path.read_bytes() for path in others} == others
    assert API_KEY not in (tmp_path / "a.yaml").read_text()


HAND_WRITTEN = f"""\
interactions:
- request:
    body: null
    headers:
      Authorization:
      - Bearer {TOKEN}
      - Bearer {SESSION}
      Cookie:
      - theme=dark
      - session={SESSION}
      Accept:
      - text/plain
      - '*/*'
    method: GET
    uri: https://api.example.com/plans
  response:
    body:
      string: hello
    headers: {{}}
    status:
      code: 200
      message: OK token={TOKEN} key {GITHUB}
recorded_with:
  tool: another recorder
  env:
    password: {PASSWORD}
    proxy: http://ada:{PASSWORD}@proxy.example.com:3128
    notes:
    - key {GITHUB}
    - keep me
version: 1
"""


def test_every_value_of_a_repeated_request_header_is_scrubbed_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A request reads only a header's first value: the second one stayed in the clear, or was
    # dropped from the file when the first was scrubbed.
    path = tmp_path / "a.yaml"
    path.write_text(HAND_WRITTEN)
    assert main(["scrub", str(path), "--write"]) == 0
    headers = yaml.safe_load(path.read_text())["interactions"][0]["request"]["headers"]
    assert headers == {
        "Authorization": ["Bearer <SCRUBBED>", "Bearer <SCRUBBED>"],
        "Cookie": ["theme=<SCRUBBED>", "session=<SCRUBBED>"],
        "Accept": ["text/plain", "*/*"],
    }


def test_a_header_written_twice_in_two_cases_keeps_each_value_under_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `Cookie` and `cookie` (a hand or another tool wrote both): a request holds one of them,
    # the last one's value under the first one's name. The first key's values were replaced
    # by the last key's, scrubbed (its own cookie lost), and the last key's kept in the clear.
    text = HAND_WRITTEN.replace(
        "      Accept:\n",
        f"      cookie:\n      - other={SESSION}\n      - lang=fr\n      Accept:\n",
    )
    path = tmp_path / "a.yaml"
    path.write_text(text)
    assert main(["scrub", str(path), "--write"]) == 0
    headers = yaml.safe_load(path.read_text())["interactions"][0]["request"]["headers"]
    assert headers["Cookie"] == ["theme=<SCRUBBED>", "session=<SCRUBBED>"]
    assert headers["cookie"] == ["other=<SCRUBBED>", "lang=<SCRUBBED>"]
    assert headers["Authorization"] == ["Bearer <SCRUBBED>", "Bearer <SCRUBBED>"]
    capsys.readouterr()
    assert main(["scan", str(path)]) == 0, capsys.readouterr().out


def test_a_status_message_and_other_top_level_keys_are_scrubbed_as_scan_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What scan reports, scrub replaces: after --write, scan finds nothing.
    path = tmp_path / "a.yaml"
    path.write_text(HAND_WRITTEN)
    assert main(["scan", str(path)]) == 1
    capsys.readouterr()
    assert main(["scrub", str(path), "--write"]) == 0
    text = path.read_text()
    assert [secret for secret in SECRETS if secret in text] == []
    data = yaml.safe_load(text)
    assert data["interactions"][0]["response"]["status"] == {
        "code": 200,
        "message": "OK token=<SCRUBBED> key <SCRUBBED:github>",
    }
    assert data["recorded_with"] == {
        "tool": "another recorder",
        "env": {
            "password": "<SCRUBBED>",
            "proxy": "http://ada:<SCRUBBED:url-password>@proxy.example.com:3128",
            "notes": ["key <SCRUBBED:github>", "keep me"],
        },
    }
    assert text.startswith(
        HAND_WRITTEN.split("      message:")[0]
        .replace(TOKEN, "<SCRUBBED>")
        .replace(f"Bearer {SESSION}", "Bearer <SCRUBBED>")
        .replace(SESSION, "<SCRUBBED>")
        .replace("theme=dark", "theme=<SCRUBBED>")
    )
    capsys.readouterr()
    assert main(["scan", str(path)]) == 0, capsys.readouterr().out


COMMENTED = f"""\
# recorded by hand; token {GITHUB}
interactions:
- request:
    body: null
    headers: {{}}
    method: GET
    uri: https://api.example.com/plans#top  # password: {PASSWORD}
  response:
    body:
      string: 'a # in a string, api_key={API_KEY}'
    headers: {{}}
    status:
      code: 200
      message: OK
# note: keep this line  # and this # one
version: 1
"""


def test_secrets_in_yaml_comments_are_reported_and_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Comments are read by people and kept byte for byte by scrub: a token pasted in one was
    # reported by scan (its format only) and left by scrub --write, so scan kept failing.
    path = tmp_path / "a.yaml"
    path.write_text(COMMENTED)
    assert main(["scan", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[:-1] == [
        f"{path}:1: github",
        f"{path}:7: sensitive-field:password",
        f"{path}:10: sensitive-field:api_key",
    ]
    assert main(["scrub", str(path)]) == 1
    assert "github, sensitive-field:api_key, sensitive-field:password" in capsys.readouterr().out
    assert main(["scrub", str(path), "--write"]) == 0
    assert path.read_text() == (
        COMMENTED.replace(GITHUB, "<SCRUBBED:github>")
        .replace(PASSWORD, "<SCRUBBED>")
        .replace(API_KEY, "<SCRUBBED>")
    )
    capsys.readouterr()
    assert main(["scan", str(path)]) == 0


def test_a_comment_after_a_block_scalars_indicator_is_a_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `string: |  # ...` opens a block scalar and comments on it: the comment is on the
    # scalar's first line, which was read as the scalar's own text, so a token pasted there
    # was neither reported nor scrubbed. The `#` lines of the text under it are its text.
    text = f"""\
interactions:
- request:
    body: null
    headers: {{}}
    method: GET
    uri: https://api.example.com/plans
  response:
    body:
      string: |-  # copied from the dashboard, key {GITHUB}
        # a heading, not a comment
        plain text
    headers: {{}}
    status:
      code: 200
      message: >  # as the server said it
        OK
version: 1
"""
    path = tmp_path / "a.yaml"
    path.write_text(text)
    assert main(["scan", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[:-1] == [f"{path}:9: github"]
    assert main(["scrub", str(path), "--write"]) == 0
    assert path.read_text() == text.replace(GITHUB, "<SCRUBBED:github>")
    capsys.readouterr()
    assert main(["scan", str(path)]) == 0
    assert storage.parse(path.read_text(), str(path))[0]["response"]["body"]["string"] == (
        "# a heading, not a comment\nplain text"
    )
