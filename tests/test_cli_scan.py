"""`pytest-cassettes scan`: one line per finding, a summary, and the exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from pytest_cassettes.cli import main
from pytest_cassettes.scrub import Scrubber

DOCLING = Path("/work/shared/data/test_docling_source.yaml")
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
SECRET = "s3cr3t-Value-9f8e7d6c"

DIRTY = f"""\
interactions:
- request:
    body: '{{"user": "bob", "password": "hunter2"}}'
    headers:
      Authorization:
      - Bearer {SECRET}
      X-Api-Key:
      - <SCRUBBED>
    method: POST
    uri: https://api.example.com/v1?api_key={SECRET}&page=2
  response:
    body:
      string: "your token is {GITHUB} and more text"
    headers:
      Set-Cookie:
      - sid=<SCRUBBED>; Path=/; HttpOnly
    status:
      code: 200
      message: OK
version: 1
"""

CLEAN = """\
interactions:
- request:
    body: '{"user": "bob", "password": "<SCRUBBED>"}'
    headers:
      Authorization:
      - Bearer <SCRUBBED>
      Cookie:
      - a=<SCRUBBED>; b=<SCRUBBED>
    method: POST
    uri: https://api.example.com/v1/items/123e4567-e89b-12d3-a456-426614174000?api_key=%3CSCRUBBED%3E
  response:
    body:
      string: '{"token": "<SCRUBBED:github>", "sha": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"}'
    headers:
      Set-Cookie:
      - sid=<SCRUBBED>; Path=/; HttpOnly
    status:
      code: 200
      message: OK
version: 1
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    status = main(["scan", *args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err


def test_findings_are_reported_by_line_and_kind_without_the_secret(tmp_path, capsys):
    path = write(tmp_path / "dirty.yaml", DIRTY)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert lines[:-1] == [
        f"{path}:3: sensitive-field:password",
        f"{path}:6: bearer",  # the detector names it; the field on that line is not repeated
        f"{path}:10: sensitive-field:api_key",  # named, not the detector's `high-entropy`
        f"{path}:13: github",
    ]
    assert lines[-1].startswith("scan: 4 possible secrets in 1 of 1 cassette file.")
    output = "\n".join(lines)
    for secret in (SECRET, GITHUB, "hunter2"):
        assert secret not in output


def test_the_summary_counts_the_files_that_hold_secrets_and_says_how_to_re_record(tmp_path, capsys):
    write(tmp_path / "dirty.yaml", DIRTY)
    write(tmp_path / "clean.yaml", CLEAN)
    status, lines, _ = run(capsys, str(tmp_path))
    assert status == 1
    assert lines[-1].startswith("scan: 4 possible secrets in 1 of 2 cassette files. ")
    assert "pytest --record-mode=rewrite path/to/test_x.py::test_y" in lines[-1]
    # A login fixture's file, written by vcrpy's own use_cassette, stays unscrubbed however
    # often its tests are re-recorded: the advice sent a migrating user round in circles.
    assert "vcrpy's own use_cassette" in lines[-1]
    assert "pytest_cassettes.use_cassette(request, ...)" in lines[-1]


def test_clean_cassette_exits_zero(tmp_path, capsys):
    path = write(tmp_path / "clean.yaml", CLEAN)
    status, lines, err = run(capsys, str(path))
    assert (status, lines, err) == (0, ["scan: no secrets found in 1 cassette file."], "")


def test_docling_cassette_scans_clean(tmp_path, capsys):
    copy = tmp_path / "cassettes" / "test_docling_source.yaml"
    copy.parent.mkdir()
    shutil.copy(DOCLING, copy)
    status, lines, _ = run(capsys, str(DOCLING), str(tmp_path))
    assert status == 0
    assert lines == ["scan: no secrets found in 2 cassette files."]


def test_token_folded_over_lines_is_still_found(tmp_path, capsys):
    # PyYAML breaks long double-quoted scalars with a trailing backslash, even inside a token.
    folded = DIRTY.replace(
        f"your token is {GITHUB} and more text",
        f"your token is {GITHUB[:20]}\\\n        {GITHUB[20:]}",
    )
    path = write(tmp_path / "folded.yaml", folded)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert f"{path}:13: github" in lines


def test_directories_are_searched_for_cassettes(tmp_path, capsys):
    write(tmp_path / "a" / "one.yaml", DIRTY)
    write(tmp_path / "a" / "b" / "two.yml", CLEAN)
    write(tmp_path / "three.json", json.dumps({"interactions": [{"token": GITHUB}]}, indent=1))
    write(tmp_path / "notes.txt", f"not a cassette {GITHUB}")
    status, lines, _ = run(capsys, str(tmp_path))
    assert status == 1
    reported = {line.split(":")[0] for line in lines[:-1]}
    assert reported == {str(tmp_path / "a" / "one.yaml"), str(tmp_path / "three.json")}
    assert f"{tmp_path / 'three.json'}:4: github" in lines
    assert "in 2 of 3 cassette files" in lines[-1]


def test_hidden_directories_and_files_are_skipped_as_check_skips_them(tmp_path, capsys):
    # `scan .` in a project's root: its virtualenv's and Git's YAML and JSON are no cassettes.
    write(tmp_path / "cassettes" / "one.yaml", CLEAN)
    write(tmp_path / ".venv" / "lib" / "schema.json", json.dumps({"token": GITHUB}))
    write(tmp_path / ".tox" / "junk.yaml", "not: [a cassette")
    write(tmp_path / ".pre-commit-config.yaml", f"token: {GITHUB}\n")
    status, lines, err = run(capsys, str(tmp_path))
    assert (status, err) == (0, "")
    assert lines == ["scan: no secrets found in 1 cassette file."]


def test_missing_path_exits_two_and_names_it(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    status, _, err = run(capsys, str(missing))
    assert status == 2
    assert str(missing) in err and "no such file" in err


def test_bad_yaml_exits_two_naming_the_file_and_the_place(tmp_path, capsys):
    bad = write(tmp_path / "bad.yaml", "interactions:\n- request: [unclosed\n  uri: x\n")
    good = write(tmp_path / "good.yaml", CLEAN)
    status, lines, err = run(capsys, str(bad), str(good))
    assert status == 2
    assert f"{bad}:" in err and "line" in err
    assert "1 unreadable" in lines[-1]


def test_env_secret_left_in_a_cassette_is_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "plain-but-secret-1234")
    path = write(tmp_path / "env.yaml", CLEAN.replace("OK", "plain-but-secret-1234"))
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert lines[0] == f"{path}:19: env:MY_SERVICE_API_KEY"


def test_env_secret_left_in_a_binary_body_is_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "plain-but-secret-1234")
    request = Request("POST", "https://api.example.com/up", b"\xff\x00plain-but-secret-1234", {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {},
        "body": {"string": b"\xfe" + b"plain-but-secret-1234" * 3},
    }
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "binary.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    lines_of = [n for n, line in enumerate(text.splitlines(), 1) if "!!binary" in line]
    assert len(lines_of) == 2
    assert lines[:-1] == [
        f"{path}:{lines_of[0]}: env:MY_SERVICE_API_KEY",
        *[f"{path}:{lines_of[1]}: env:MY_SERVICE_API_KEY"] * 3,
    ]


def test_a_multipart_field_left_in_a_cassette_is_reported(tmp_path, capsys):
    body = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="password"\r\n\r\nhunter2hunter2\r\n'
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
    )
    text_request = Request("POST", "https://x.example/t", body + b"text\r\n--b0undary--\r\n", {})
    binary = body + b"\xff\x00\r\n--b0undary--\r\n"  # stored as !!binary
    binary_request = Request("POST", "https://x.example/b", binary, {})
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
    cassette = {"requests": [text_request, binary_request], "responses": [response, response]}
    text = serialize(cassette, yamlserializer)
    path = write(tmp_path / "multipart.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert [line.rpartition(": ")[2] for line in lines[:-1]] == ["sensitive-field:password"] * 2
    assert "hunter2hunter2" not in "\n".join(lines)


def test_tokens_in_links_inside_response_headers_and_bodies_are_reported(tmp_path, capsys):
    secret = "opensesame-opensesame"  # no detector sees it: only the names can
    page = json.dumps({"next": f"https://x.example/items?page=2&access_token={secret}"})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Link": [f"<https://x.example/items?page=2&api_key={secret}>; rel=next"]},
        "body": {"string": page.encode()},
    }
    cassette = {"requests": [Request("GET", "https://x.example/items", None, {})]}
    text = serialize({**cassette, "responses": [response]}, yamlserializer)
    path = write(tmp_path / "links.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    kinds = sorted(line.rpartition(": ")[2] for line in lines[:-1])
    assert kinds == ["sensitive-field:access_token", "sensitive-field:api_key"]
    assert secret not in "\n".join(lines)


def test_each_cookie_of_a_folded_cookie_line_is_named_on_its_line(tmp_path, capsys):
    # A long Cookie value is folded over lines: its cookies were all reported on the first,
    # each as `sensitive-field:Cookie`, which told them apart nowhere.
    cookies = f"sessionid={SECRET}-{SECRET}; csrftoken=Kq82jd7Hs91Lx0Pz3Vb6Nm4Wc8; theme=dark"
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Set-Cookie": [f"sid={SECRET}; Path=/; Domain=example.com; HttpOnly"]},
        "body": {"string": b""},
    }
    request = Request("GET", "https://api.example.com/me", None, {"Cookie": cookies})
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "cookies.yaml", text)
    numbers = {
        name: next(n for n, line in enumerate(text.splitlines(), 1) if f"{name}=" in line)
        for name in ("sessionid", "csrftoken", "theme", "sid")
    }
    assert numbers["sessionid"] == numbers["csrftoken"] == numbers["theme"] - 1  # folded
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert [line[len(str(path)) :] for line in lines[:-1]] == [
        f":{numbers['csrftoken']}: sensitive-field:Cookie:csrftoken",
        f":{numbers['sessionid']}: sensitive-field:Cookie:sessionid",
        f":{numbers['theme']}: sensitive-field:Cookie:theme",
        f":{numbers['sid']}: sensitive-field:Set-Cookie:sid",
    ]
    assert SECRET not in "\n".join(lines)


def test_a_short_cookie_name_is_reported_on_the_line_holding_the_cookie(tmp_path, capsys):
    # A folded Cookie value whose last cookie has a one-letter name: its line was the first
    # line of the value that merely contained the letter (in `sessionid`), not its own.
    cookies = f"sessionid={SECRET}-{SECRET}; csrftoken=Kq82jd7Hs91Lx0Pz3Vb6Nm4Wc8; s={SECRET}"
    request = Request("GET", "https://api.example.com/me", None, {"Cookie": cookies})
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "cookies.yaml", text)
    numbers = {
        name: next(n for n, line in enumerate(text.splitlines(), 1) if f" {name}=" in line)
        for name in ("csrftoken", "s")
    }
    assert numbers["csrftoken"] < numbers["s"]  # folded
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert f"{path}:{numbers['s']}: sensitive-field:Cookie:s" in lines, lines


def test_a_secret_field_is_named_not_reported_as_high_entropy(tmp_path, capsys):
    # A value after a sensitive name is also what the line detector `high-entropy` finds:
    # the field's name replaces it, as a token's format (github, bearer) is kept.
    body = json.dumps({"user": "ann", "db_password": SECRET, "token": GITHUB})
    request = Request("POST", "https://api.example.com/login", body.encode(), {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/x-www-form-urlencoded"]},
        "body": {"string": f"grant_type=password&client_secret={SECRET}".encode()},
    }
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "fields.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert sorted(line.rpartition(": ")[2] for line in lines[:-1]) == [
        "github",
        "sensitive-field:client_secret",
        "sensitive-field:db_password",
    ]
    assert SECRET not in "\n".join(lines)


def test_a_secret_whose_name_and_value_a_fold_puts_on_two_lines_is_counted_once(tmp_path, capsys):
    # Was: 3 findings for 2 tokens. The field `b_token` is on line 11 (its name), its value's
    # detector finding on line 12: neither was taken for the other, both were counted.
    other = GITHUB[:-1] + "Z"
    body = json.dumps({"a_token": GITHUB, "b_token": other})
    path = write(
        tmp_path / "folded.yaml",
        f"""\
interactions:
- request:
    body: null
    headers: {{}}
    method: GET
    uri: https://api.example.com/v1
  response:
    body:
      string: '{body[: -len(other) - 3]}
        "{other}"}}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
version: 1
""",
    )
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert lines[:-1] == [f"{path}:9: github", f"{path}:10: github"]


def test_a_field_beside_another_secret_a_detector_found_on_its_line_is_counted(tmp_path, capsys):
    # Was: the password, not the token's text, was taken for the line's only detector
    # finding (the first left on the line): one finding for two secrets.
    text = DIRTY.replace(f"your token is {GITHUB} and more text", f"password=Zq7xW9pL2mKv {GITHUB}")
    path = write(tmp_path / "two.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert f"{path}:13: github" in lines and f"{path}:13: sensitive-field:password" in lines


def interaction() -> tuple[Request, dict[str, Any]]:
    body = json.dumps({"client_secret": SECRET, "nested": [{"refresh_token": SECRET}]})
    request = Request(
        "POST",
        f"https://api.example.com/oauth?api_key={SECRET}",
        body.encode(),
        {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
    )
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Set-Cookie": [f"sid={SECRET}; Path=/"], "Content-Length": ["40"]},
        "body": {"string": f'{{"access_token": "{GITHUB}", "long": "{"word " * 40}"}}'.encode()},
    }
    return request, response


def test_a_cassette_written_after_scrubbing_scans_clean_and_before_does_not(tmp_path, capsys):
    request, response = interaction()
    raw = write(
        tmp_path / "raw.yaml",
        serialize({"requests": [request], "responses": [response]}, yamlserializer),
    )
    scrubber = Scrubber(environ={})
    clean_request, _ = scrubber.scrub_request(request)
    clean_response, _ = scrubber.scrub_response(response)
    cassette = serialize(
        {"requests": [clean_request], "responses": [clean_response]}, yamlserializer
    )
    scrubbed = write(tmp_path / "scrubbed.yaml", cassette)

    status, lines, _ = run(capsys, str(scrubbed))
    assert (status, lines) == (0, ["scan: no secrets found in 1 cassette file."])
    status, lines, _ = run(capsys, str(raw))
    assert status == 1
    # Six secrets: client_secret and refresh_token share a line, the others have their own.
    assert len(lines) - 1 == 6
    text = raw.read_text().splitlines()
    for line in lines[:-1]:
        number = int(line.split(":")[1])
        assert any(secret in text[number - 1] for secret in (SECRET, GITHUB, "refresh_token"))
    assert "sensitive-field:refresh_token" in "\n".join(lines)
    assert "sensitive-field:Set-Cookie" in "\n".join(lines)


def test_a_form_of_pairs_vcrpy_wrote_for_aiohttp_is_scanned_by_field_name(tmp_path, capsys):
    # aiohttp's data=[(name, value), ...]: vcrpy writes the pairs as !!python/tuple sequences.
    request = Request("POST", "https://api.example.com/login", None, {})
    request.body = [("user", "bob"), ("password", "hunter2hunter2")]
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    assert "!!python/tuple" in text
    path = write(tmp_path / "pairs.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    number = text.splitlines().index("      - hunter2hunter2") + 1
    assert lines[:-1] == [f"{path}:{number}: sensitive-field:password"]


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_scan_needs_a_path(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["scan"])
    assert exit_info.value.code == 2


def test_short_values_of_generic_names_are_not_reported_but_still_scrubbed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = '{"license": {"key": "mit"}, "page": {"token": "2"}}'
    path = tmp_path / "github.yaml"
    path.write_text(
        "interactions:\n- request: {body: null, headers: {}, method: GET, uri: 'https://a.example/'}\n"
        f"  response:\n    body: {{string: '{body}'}}\n    headers: {{}}\n"
        "    status: {code: 200, message: OK}\nversion: 1\n"
    )
    assert main(["scan", str(tmp_path)]) == 0
    path.write_text(path.read_text().replace('"mit"', '"a1B2c3D4e5F6g7"'))
    assert main(["scan", str(tmp_path)]) == 1
    assert "sensitive-field:key" in capsys.readouterr().out
    scrubbed, count = Scrubber().scrub_response(
        {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": body.encode()}}
    )
    assert scrubbed is not None and count == 2
    assert b'"key": "<SCRUBBED>"' in scrubbed["body"]["string"]


@pytest.mark.parametrize(
    "content_type, body, findings",
    [
        # An HTML page that does not start with `<`: its form's hidden token is one.
        (
            "text/html; charset=utf-8",
            f'Welcome back <form><input type="hidden" name="csrf_token" value="{SECRET}">',
            ["sensitive-field:csrf_token"],
        ),
        # Plain text that starts with `<`: recording gave it the text rules, not the form's.
        ("text/plain", f'<meta name="csrf-token" content="{SECRET}"> as a sample', []),
    ],
)
def test_a_body_is_scanned_by_the_content_type_its_interaction_recorded(
    tmp_path, capsys, content_type: str, body: str, findings: list[str]
):
    # What the scanner reports is what recording would have scrubbed: the same type's rules.
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": [content_type]},
        "body": {"string": body.encode()},
    }
    recorded, _ = Scrubber(environ={}).scrub_response(response)
    assert (recorded["body"]["string"] == body.encode()) == (findings == [])
    cassette = {"requests": [Request("GET", "https://x.example/", None, {})]}
    text = serialize({**cassette, "responses": [response]}, yamlserializer)
    status, lines, _ = run(capsys, str(write(tmp_path / "page.yaml", text)))
    assert sorted(line.rpartition(": ")[2] for line in lines[:-1]) == findings
    assert status == (1 if findings else 0)


def test_a_secret_in_a_compressed_body_is_reported(tmp_path, capsys):
    # vcrpy keeps a gzip response as it came (`!!binary`, Content-Encoding: gzip): the scan
    # undoes the coding first, and reads the JSON by its Content-Type.
    import gzip

    request = Request("POST", "https://auth.example.com/token", b"grant_type=x", {})
    token = json.dumps({"access_token": SECRET, "token_type": "bearer"}).encode()
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Encoding": ["gzip"], "Content-Type": ["application/json"]},
        "body": {"string": gzip.compress(token)},
    }
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "gzip.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    binary = next(n for n, line in enumerate(text.splitlines(), 1) if "!!binary" in line)
    assert lines[:-1] == [f"{path}:{binary}: sensitive-field:access_token"]
    # A body stored decoded under a header that still claims gzip (docling's) is read as is.
    response["body"]["string"] = token.decode()
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    write(path, text)
    assert run(capsys, str(path))[0] == 1


def test_a_client_error_s_validation_message_is_not_reported(tmp_path, capsys):
    # As recording keeps it (a 4xx response's message under `password`), the scan does.
    request = Request("POST", "https://api.example.com/users", b"{}", {})
    body = json.dumps({"password": ["This field is required."]})
    response = {
        "status": {"code": 400, "message": "Bad Request"},
        "headers": {"Content-Type": ["application/json"]},
        "body": {"string": body},
    }
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "errors.yaml", text)
    assert run(capsys, str(path))[0] == 0
    write(path, text.replace("code: 400", "code: 200"))
    assert run(capsys, str(path))[0] == 1


def test_pytest_recording_filler_values_are_no_secrets_but_a_value_containing_one_is(
    tmp_path, capsys
):
    # pytest-recording's README filters with `filter_headers=[("x-api-key", "DUMMY")]`; vcrpy
    # users write `FILTERED`, `<REDACTED>`: whole values that are one such word, any case.
    headers = {
        "Authorization": "DUMMY",
        "X-API-Key": "dummy",
        "Cookie": "FILTERED",
        "X-Auth-Token": "[Redacted]",
        "X-Client-Secret": "<PLACEHOLDER>",
        "X-Session-Token": "**HIDDEN**",
    }
    request = Request("GET", "http://127.0.0.1:18765/users/1?api_key=%5BREMOVED%5D", None, headers)
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "dummy.yaml", text)
    assert run(capsys, str(path)) == (0, ["scan: no secrets found in 1 cassette file."], "")
    path.write_text(text.replace("- dummy", f"- dummy-{SECRET}").replace("FILTERED", "sid=dummy1"))
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert [line.rpartition(": ")[2] for line in lines[:-1]] == [
        "sensitive-field:Cookie:sid",
        "sensitive-field:X-API-Key",
    ]


def test_a_secret_a_stream_split_over_its_events_is_reported(tmp_path, capsys, monkeypatch):
    # A streamed answer (text/event-stream) recorded unscrubbed: a token and an environment's
    # value, each sent in pieces no detector sees alone. gzip'd as vcrpy may keep it.
    import gzip

    monkeypatch.setenv("MY_SERVICE_API_KEY", "plain-but-secret-1234")

    def chunk(piece: str) -> str:
        text = {"type": "text_delta", "text": piece}
        delta = {"type": "content_block_delta", "index": 0, "delta": text}
        return f"event: content_block_delta\ndata: {json.dumps(delta)}\n\n"

    pieces = ["a ", GITHUB[:6], GITHUB[6:], " b ", "plain-but-", "secret-1234", "."]
    body = "".join(chunk(piece) for piece in pieces)
    request = Request("POST", "https://api.example.com/v1/messages", b"{}", {})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["text/event-stream; charset=utf-8"]},
        "body": {"string": body},
    }
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    path = write(tmp_path / "stream.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    string = next(n for n, line in enumerate(text.splitlines(), 1) if "string:" in line)
    assert lines[:-1] == [f"{path}:{string}: env:MY_SERVICE_API_KEY", f"{path}:{string}: github"]

    response["headers"]["Content-Encoding"] = ["gzip"]
    response["body"]["string"] = gzip.compress(body.encode())
    text = serialize({"requests": [request], "responses": [response]}, yamlserializer)
    write(path, text)
    status, lines, _ = run(capsys, str(path))
    binary = next(n for n, line in enumerate(text.splitlines(), 1) if "!!binary" in line)
    assert lines[:-1] == [f"{path}:{binary}: env:MY_SERVICE_API_KEY", f"{path}:{binary}: github"]


def test_names_the_markers_exempt_can_be_exempted_from_the_scan_too(tmp_path, capsys):
    # A project exempting a name on its markers (`scrub_disable=["secret-id"]`: its secret ids
    # are names) could not use scan as a CI gate: every cassette had findings it asked for.
    text = DIRTY.replace('"password": "hunter2"', '"SecretId": "prod/db-credentials"')
    path = write(tmp_path / "ids.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1 and f"{path}:3: sensitive-field:SecretId" in lines
    status, lines, _ = run(capsys, "--disable", "secret-id", "--disable", "github", str(path))
    assert status == 1
    assert lines[:-1] == [f"{path}:6: bearer", f"{path}:10: sensitive-field:api_key"]


def test_an_unknown_name_to_exempt_is_an_error_listing_the_valid_ones(tmp_path, capsys):
    path = write(tmp_path / "clean.yaml", CLEAN)
    status, lines, err = run(capsys, "--disable", "no-such-rule", str(path))
    assert status == 2 and lines == []
    assert "'no-such-rule'" in err and "Valid names:" in err and "detectors" in err


def test_the_rules_scrub_takes_are_options_of_scan_too(tmp_path, capsys, monkeypatch):
    # The tests' own rules (`scrub_headers`, `scrub_params`, ...) scrub what recording writes
    # now; scan took only --disable, so it could not gate the values those rules name.
    internal = "ik-" + "7Hq2Lm9Xp4Rt"
    text = CLEAN.replace(
        "      Cookie:\n", f"      X-Internal:\n      - {internal}\n      Cookie:\n"
    ).replace("?api_key=", "?cursor=c9&tenant=acme&api_key=")
    text = text.replace('"sha":', '"tenant": "acme-tenant-77", "sha":')
    path = write(tmp_path / "own.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 0, lines
    monkeypatch.setenv("ACME_TENANT", "acme-tenant-77")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "X-Internal" in row) + 1
    uri = next(n for n, row in enumerate(text.splitlines(), 1) if "uri:" in row)
    body = next(n for n, row in enumerate(text.splitlines(), 1) if "string:" in row)
    rules = ["--header", "x-internal", "--param", "cursor", "--pattern", r"tenant=(\w+)"]
    status, lines, _ = run(capsys, *rules, "--env", "ACME_TENANT", str(path))
    assert status == 1
    assert lines[:-1] == [
        f"{path}:{line}: sensitive-field:X-Internal",
        f"{path}:{uri}: pattern",
        f"{path}:{uri}: sensitive-field:cursor",
        f"{path}:{body}: env:ACME_TENANT",
    ]
    status, lines, err = run(capsys, "--pattern", "(unclosed", str(path))
    assert status == 2 and lines == [] and "(unclosed" in err


def test_discord_bot_tokens_and_postgres_passwords_are_reported(tmp_path, capsys):
    discord = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ" + ".GaBcDe." + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2U"
    body = (
        "dsn host=db dbname=shop user=app password='Tr0ub4dor 3x'\\n"
        "db.internal:5432:shop:app:Tr0ub4dor3x\\n"
    )
    note = body.replace("'", "''")  # in a YAML string in single quotes
    text = CLEAN.replace('"sha":', f'"note": "{note}", "sha":')
    path = write(tmp_path / "db.yaml", text.replace("message: OK", f"message: OK bot {discord}"))
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert [line.rpartition(": ")[2] for line in lines[:-1]] == [
        "sensitive-field:password",
        "sensitive-field:password",
        "discord-bot-token",
    ]


def test_a_tab_before_a_comment_is_read_as_loading_a_cassette_reads_it(tmp_path, capsys):
    # libyaml (which vcrpy and this plugin load cassettes with) takes a tab before a comment;
    # PyYAML's Python scanner does not: scan called the cassette unreadable (exit 2, its
    # secrets unreported) though it replays, and scrub --write scrubbed it.
    text = DIRTY.replace("      message: OK", "      message: OK\t# as the server said it")
    path = write(tmp_path / "tab.yaml", text)
    status, lines, _ = run(capsys, str(path))
    assert status == 1
    assert f"{path}:13: github" in lines
    assert main(["scrub", str(path), "--write"]) == 0
    assert "\t# as the server said it" in path.read_text()
    capsys.readouterr()
    assert run(capsys, str(path))[0] == 0
