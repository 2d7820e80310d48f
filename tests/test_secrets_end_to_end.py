"""No secret reaches disk: record real requests carrying secrets, grep every byte, replay."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

# Imported here so that pytester's in-process runs find it loaded (pytester restores
# sys.modules after each run; the session's patches hold the first import's classes).
import httpx  # noqa: F401
import pytest
import vcr
import yaml

from pytest_cassettes.storage import CassetteLoader
from tests.conftest import Suite

TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
GITHUB = "ghp_" + "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7"
ENV_KEY = "acme-live-7Q2w9E4r1T6y3U8i"

PLACES = {
    "authorization header": 'requests.get(URL + "/a", headers={"Authorization": "Bearer " + TOKEN})',
    "lower-case api key header": 'requests.get(URL + "/a", headers={"x-api-key": TOKEN})',
    "custom *-token header": 'requests.get(URL + "/a", headers={"X-Session-Token": TOKEN})',
    "x-authorization header": 'requests.get(URL + "/a", headers={"x-authorization": "Token " + TOKEN})',
    "authentication header": 'requests.get(URL + "/a", headers={"Authentication": TOKEN})',
    "cookie header": 'requests.get(URL + "/a", cookies={"session": TOKEN, "theme": "dark"})',
    "query parameter": 'requests.get(URL + "/a", params={"api_key": TOKEN, "page": "1"})',
    "php session in the query": 'requests.get(URL + "/cart.php", params={"PHPSESSID": TOKEN})',
    "form body": (
        'requests.post(URL + "/oauth", data={"grant_type": "refresh_token", '
        '"refresh_token": TOKEN, "client_secret": TOKEN + "x"})'
    ),
    "json body at depth": (
        'requests.post(URL + "/j", json={"user": {"name": "ada", "password": TOKEN}, '
        '"items": [{"id": 1, "access_token": TOKEN}]})'
    ),
    "token format in an innocent header": 'requests.get(URL + "/a", headers={"X-Note": GITHUB})',
    "env value in the url path": 'requests.get(URL + "/users/" + os.environ["ACME_API_KEY"])',
    "env value in a json body": (
        'requests.post(URL + "/j", json={"note": "key is " + os.environ["ACME_API_KEY"]})'
    ),
    "response set-cookie": 'assert requests.get(URL + "/login").status_code == 200',
    "response x-authorization header": 'assert requests.get(URL + "/renew").status_code == 200',
    "response json token": 'assert requests.post(URL + "/token").json()["token_type"] == "bearer"',
}


def secrets_on_disk(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s}" for s in (TOKEN, GITHUB, ENV_KEY) if s.encode() in data]
    return found


@pytest.mark.parametrize("place", sorted(PLACES))
def test_no_secret_reaches_disk_and_replay_still_matches(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, place: str
) -> None:
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    suite.server.route(
        "/login", headers={"Set-Cookie": f"sid={TOKEN}; Path=/; HttpOnly"}, body=b"welcome"
    )
    suite.server.route("/renew", headers={"X-Authorization": f"Token {TOKEN}"}, body=b"renewed")
    suite.server.route(
        "/token",
        headers={"Content-Type": "application/json"},
        body=json.dumps(
            {"access_token": TOKEN, "refresh_token": GITHUB, "token_type": "bearer"}
        ).encode(),
    )
    suite.write(
        f"""
        TOKEN = {TOKEN!r}
        GITHUB = {GITHUB!r}

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_secret():
            {PLACES[place]}
        """
    )
    result = suite.run()
    result.assert_outcomes(passed=1)
    assert suite.server.hits == 1
    assert secrets_on_disk(suite.path / "cassettes") == []
    result.stdout.fnmatch_lines(["*secret value* scrubbed*"])
    assert "0 secret values scrubbed" not in result.stdout.str()

    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_env_values_in_binary_bodies_do_not_reach_disk(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    suite.server.route("/bin", body=b"\xff\x00" + ENV_KEY.encode() + b"\x00")
    suite.write(
        """
        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_binary():
            key = os.environ["ACME_API_KEY"].encode()
            got = requests.post(URL + "/bin", data=b"\\xff\\x00" + key + b"\\x00").content
            assert got.startswith(b"\\xff\\x00")
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.server.requests[0].body == b"\xff\x00" + ENV_KEY.encode() + b"\x00"
    text = suite.cassette_path("test_binary").read_text()
    assert "!!binary" in text
    interaction = yaml.load(text, Loader=CassetteLoader)["interactions"][0]
    for body in (interaction["request"]["body"], interaction["response"]["body"]["string"]):
        assert body == b"\xff\x00<ACME_API_KEY>\x00"

    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_an_env_value_in_xml_cdata_becomes_its_placeholder_as_written(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside CDATA nothing is escaped: `&lt;ACME_API_KEY&gt;` there is what a parser reads.
    # Outside it, in XML text, the placeholder is escaped (the document stays well-formed).
    # A detector's placeholder alike.
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    suite.server.route(
        "/config",
        headers={"Content-Type": "application/xml"},
        body=(
            f"<config><note><![CDATA[key {ENV_KEY} & {GITHUB}]]></note>"
            f"<text>key {ENV_KEY}</text></config>"
        ),
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_config():
            assert requests.get(URL + "/config").text.startswith("<config>")
        """
    )
    suite.run().assert_outcomes(passed=1)
    body = suite.cassette("test_config")["interactions"][0]["response"]["body"]["string"]
    assert body == (
        "<config><note><![CDATA[key <ACME_API_KEY> & <SCRUBBED:github>]]></note>"
        "<text>key &lt;ACME_API_KEY&gt;</text></config>"
    )
    assert secrets_on_disk(suite.path / "cassettes") == []
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


MULTIPART = {
    "requests": (
        'requests.post(URL + "/up", data={"user": "ada", "password": PASSWORD}, '
        'files={"f": ("a.bin", FILE)})'
    ),
    "urllib3": (
        'urllib3.PoolManager().request("POST", URL + "/up", '
        'fields={"user": "ada", "password": PASSWORD, "f": ("a.bin", FILE)})'
    ),
    "httpx": (
        'httpx.post(URL + "/up", data={"user": "ada", "password": PASSWORD}, '
        'files={"f": ("a.bin", FILE)}, '
        'headers={"Content-Type": "multipart/form-data; boundary=fixedboundary42"})'
    ),
}


@pytest.mark.parametrize("client", sorted(MULTIPART))
def test_multipart_form_fields_do_not_reach_disk_and_replay_still_matches(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    if client == "httpx" and vcr.__version__.startswith("7."):
        pytest.skip(
            "vcrpy 7's httpx stub decodes every request body as UTF-8: a binary upload fails"
        )
    suite.server.route("/up", body=b"stored")
    suite.write(
        f"""
        import httpx
        import urllib3

        PASSWORD = os.environ.get("REAL_PASSWORD", "hunter2-first-password")
        FILE = b"\\x89PNG\\x00\\xff file bytes"

        @pytest.fixture(autouse=True)
        def fixed_boundary(monkeypatch):
            # requests and urllib3 draw a boundary per request: fixed, so that bodies can match.
            monkeypatch.setattr("urllib3.filepost.choose_boundary", lambda: "fixedboundary42")

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_upload():
            {MULTIPART[client]}
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert b"hunter2-first-password" in suite.server.requests[0].body  # sent for real
    text = suite.cassette_path("test_upload").read_text()
    request = yaml.load(text, Loader=CassetteLoader)["interactions"][0]["request"]
    body = request["body"]  # bytes: the file part is not UTF-8
    assert b"hunter2-first-password" not in body
    assert b'name="password"\r\n\r\n<SCRUBBED>\r\n' in body
    assert b'name="user"\r\n\r\nada\r\n' in body
    assert b"\x89PNG\x00\xff file bytes" in body
    # requests records a Content-Length; urllib3's and httpx's recorded headers have none.
    length = request["headers"].get("Content-Length")
    assert length == [str(len(body))] if client == "requests" else length is None

    monkeypatch.setenv("REAL_PASSWORD", "another-real-password")
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_placeholders_keep_the_shape(suite: Suite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    suite.write(
        f"""
        @pytest.mark.cassette
        def test_shape():
            requests.post(
                URL + "/j?api_key={TOKEN}",
                json={{"user": {{"password": "{TOKEN}"}}, "note": os.environ["ACME_API_KEY"]}},
                headers={{"Authorization": "Bearer {TOKEN}"}},
            )
        """
    )
    suite.run().assert_outcomes(passed=1)
    request = suite.cassette("test_shape")["interactions"][0]["request"]
    assert request["headers"]["Authorization"] == ["Bearer <SCRUBBED>"]
    assert request["uri"].endswith("/j?api_key=%3CSCRUBBED%3E")
    body = json.loads(request["body"])
    assert body == {"user": {"password": "<SCRUBBED>"}, "note": "<ACME_API_KEY>"}
    assert request["headers"]["Content-Length"] == [str(len(request["body"].encode()))]


def test_user_rules_extend_the_defaults_and_a_default_can_be_turned_off(suite: Suite) -> None:
    suite.pytester.makeini("[pytest]\ncassette_scrub_headers = x-tenant\n")
    suite.write(
        """
        @pytest.fixture
        def cassette_config():
            return {"scrub_params": ["account"]}

        @pytest.mark.cassette(scrub_disable=["cookie"], scrub_json_paths=["profile.email"])
        def test_rules():
            requests.post(
                URL + "/r?account=acct-123456",
                headers={"X-Tenant": "tenant-42", "Cookie": "theme=dark", "X-Api-Key": "k-123456789"},
                json={"profile": {"email": "ada@example.com", "name": "Ada"}},
            )
        """
    )
    suite.run().assert_outcomes(passed=1)
    request = suite.cassette("test_rules")["interactions"][0]["request"]
    assert request["headers"]["X-Tenant"] == ["<SCRUBBED>"]
    assert request["headers"]["X-Api-Key"] == ["<SCRUBBED>"]
    assert request["headers"]["Cookie"] == ["theme=dark"]
    assert "acct-123456" not in request["uri"]
    assert json.loads(request["body"])["profile"] == {"email": "<SCRUBBED>", "name": "Ada"}


def test_scrub_hooks_run_after_the_built_in_rules(suite: Suite) -> None:
    # The hooks write down the secrets they are handed: already scrubbed, built-in rules first.
    suite.pytester.makeconftest(
        """
        def pytest_cassettes_scrub_request(request):
            with open("seen.txt", "a") as seen:
                seen.write(request.headers["Authorization"] + "\\n")
            request.headers["X-Internal-Id"] = "<INTERNAL>"
            return request

        def pytest_cassettes_scrub_response(response):
            with open("seen.txt", "a") as seen:
                seen.write(response["headers"]["Set-Cookie"][0] + "\\n")
            response["headers"].pop("Server", None)
            return response
        """
    )
    suite.server.route("/h", headers={"Set-Cookie": "sid=plain-session-value"}, body=b"ok")
    suite.write(
        """
        @pytest.mark.cassette
        def test_hooks():
            requests.get(
                URL + "/h",
                headers={"X-Internal-Id": "emp-0042", "Authorization": "Bearer plain-token-value"},
            )
        """
    )
    suite.run().assert_outcomes(passed=1)
    interaction = suite.cassette("test_hooks")["interactions"][0]
    assert interaction["request"]["headers"]["X-Internal-Id"] == ["<INTERNAL>"]
    assert "Server" not in interaction["response"]["headers"]
    seen = (suite.path / "seen.txt").read_text().splitlines()
    assert seen == ["Bearer <SCRUBBED>", "sid=<SCRUBBED>"]
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_a_bad_scrub_rule_is_a_usage_error_naming_it(suite: Suite) -> None:
    suite.write(
        """
        @pytest.mark.cassette(scrub_disable=["cokie"])
        def test_bad():
            pass
        """
    )
    result = suite.run()
    result.stdout.fnmatch_lines(["*cokie*"])
    assert result.ret != 0


@pytest.mark.parametrize("with_filter", [False, True])
def test_the_client_gets_the_real_response_while_the_cassette_gets_it_scrubbed(
    suite: Suite, with_filter: bool
) -> None:
    # Scrubbing and filters work on copies: the response the test reads is the server's.
    suite.server.route(
        "/token",
        headers={"Content-Type": "application/json", "Set-Cookie": f"sid={TOKEN}; Path=/"},
        body=json.dumps({"access_token": TOKEN, "token_type": "bearer"}).encode(),
    )
    options = "before_record_response=edit" if with_filter else ""
    suite.write(
        f"""
        TOKEN = {TOKEN!r}

        def edit(response):  # edits its argument in place
            response["headers"]["X-Filtered"] = ["yes"]
            response["status"]["message"] = "Edited"
            return response

        @pytest.mark.cassette({options})
        def test_live():
            r = requests.post(URL + "/token")
            assert r.json()["access_token"] == TOKEN
            assert r.cookies["sid"] == TOKEN
            assert "X-Filtered" not in r.headers and r.reason == "OK"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    stored = suite.cassette("test_live")["interactions"][0]["response"]
    assert ("X-Filtered" in stored["headers"]) is with_filter


def test_tokens_in_urls_and_echoed_bodies_inside_responses_do_not_reach_disk(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pagination links carrying the token (JSON, a Link header, HTML) and an echo server's copy
    # of the request body: response query parameters are scrubbed by name, as in requests.
    page = {
        "items": [1, 2],
        "next": f"{suite.server.base_url}/items?page=2&access_token={TOKEN}",
        "echo": {
            "data": f"grant_type=refresh_token&refresh_token={TOKEN}",
            "json": json.dumps({"password": TOKEN}),
        },
    }
    suite.server.route(
        "/items",
        headers={
            "Content-Type": "application/json",
            "Link": f'<{suite.server.base_url}/items?page=2&access_token={TOKEN}>; rel="next"',
        },
        body=json.dumps(page).encode(),
    )
    suite.server.route(
        "/page",
        headers={"Content-Type": "text/html"},
        body=f'<a href="/items?page=2&amp;api_key={TOKEN}">next</a>'.encode(),
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_pages():
            r = requests.get(URL + "/items")
            assert r.json()["items"] == [1, 2]
            assert r.links["next"]["url"].startswith(URL + "/items?page=2&access_token=")
            assert "api_key=" in requests.get(URL + "/page").text
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2
    assert secrets_on_disk(suite.path / "cassettes") == []
    stored = suite.cassette("test_pages")["interactions"][0]["response"]
    body = json.loads(stored["body"]["string"])
    assert body["next"].endswith("/items?page=2&access_token=%3CSCRUBBED%3E")
    assert json.loads(body["echo"]["json"]) == {"password": "<SCRUBBED>"}
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2


def test_xml_credentials_do_not_reach_disk_and_the_replay_still_parses(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS STS answers AssumeRole in XML: its secret key and session token reached disk, and the
    # access key id's placeholder, written raw, made the replayed document unparseable.
    suite.server.route(
        "/sts",
        headers={"Content-Type": "text/xml"},
        body=(
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleResult><Credentials>"
            "<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>"
            f"<SecretAccessKey>{TOKEN}</SecretAccessKey><SessionToken>{GITHUB}</SessionToken>"
            "<Expiration>2019-11-09T13:34:41Z</Expiration>"
            "</Credentials></AssumeRoleResult></AssumeRoleResponse>"
        ),
    )
    suite.write(
        """
        import xml.etree.ElementTree as ET

        @pytest.mark.cassette
        def test_assume_role():
            root = ET.fromstring(requests.post(URL + "/sts", data={"Action": "AssumeRole"}).content)
            texts = {e.tag.rpartition("}")[2]: e.text for e in root.iter()}
            assert texts["Expiration"] == "2019-11-09T13:34:41Z"
            assert texts["SecretAccessKey"]
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_a_csv_export_with_a_signed_link_replays_the_same_rows(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite.server.route(
        "/export",
        headers={"Content-Type": "text/csv"},
        body=(
            "id,link,created,status\n"
            f"1,https://cdn.example.com/f.pdf?key={TOKEN},2026-01-05,active\n"
            "2,https://cdn.example.com/g.pdf,2026-01-06,deleted\n"
        ),
    )
    suite.write(
        """
        import csv
        import io

        @pytest.mark.cassette
        def test_export():
            rows = list(csv.DictReader(io.StringIO(requests.get(URL + "/export").text)))
            assert [r["status"] for r in rows] == ["active", "deleted"]
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_a_csv_export_s_secret_columns_do_not_reach_disk_and_its_rows_replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user export with a password and an API key column: their values (quoted or not) were
    # recorded as they were; the other columns, a generic `key` column's words, and the rows'
    # shape stay, so csv reads the same rows on replay.
    suite.server.route(
        "/users.csv",
        headers={"Content-Type": "text/csv; charset=utf-8"},
        body=(
            "id,email,password,api_key,key\r\n"
            '1,ada@example.com,"Tr0ub4dor,&3",Hq7vLw2Zr9Xs4Tn8Vb3K,title\r\n'
            "2,bob@example.com,Xs4Tn8Vb3K-q,,lead\r\n"
        ),
    )
    suite.write(
        """
        import csv
        import io

        @pytest.mark.cassette
        def test_export():
            rows = list(csv.DictReader(io.StringIO(requests.get(URL + "/users.csv").text)))
            assert [r["email"] for r in rows] == ["ada@example.com", "bob@example.com"]
            assert [r["key"] for r in rows] == ["title", "lead"]
            assert rows[1]["api_key"] == ""
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_export").read_text()
    for secret in ("Tr0ub4dor", "Hq7vLw2Zr9Xs4Tn8Vb3K", "Xs4Tn8Vb3K-q"):
        assert secret not in text
    assert '1,ada@example.com,\\"<SCRUBBED>\\",<SCRUBBED>,title' in text
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1


def test_tokens_in_html_forms_scripts_and_error_text_do_not_reach_disk(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenID Connect's form_post page hands the tokens on in hidden inputs; a server-rendered
    # page keeps its session in a script; an error page echoes what it was sent.
    suite.server.route(
        "/callback",
        headers={"Content-Type": "text/html; charset=utf-8"},
        body=(
            '<html><head><meta name="csrf-token" content="' + TOKEN + '"></head>'
            '<body onload="document.forms[0].submit()"><form method="post" action="/cb">'
            '<input type="hidden" name="id_token" value="' + TOKEN + '">'
            '<input type="hidden" name="state" value="xyz"></form>'
            "<script>window.__STATE__ = {refreshToken: '" + TOKEN + "'};</script>"
            "</body></html>"
        ),
    )
    suite.server.route(
        "/fail",
        headers={"Content-Type": "text/plain"},
        body=f"400 Bad Request: grant_type=password password={TOKEN} rejected\n",
    )
    suite.write(
        """
        from html.parser import HTMLParser

        class Inputs(HTMLParser):
            def __init__(self):
                super().__init__()
                self.values = {}

            def handle_starttag(self, tag, attrs):
                attrs = dict(attrs)
                if tag == "input":
                    self.values[attrs["name"]] = attrs["value"]

        @pytest.mark.cassette
        def test_login():
            page = Inputs()
            page.feed(requests.get(URL + "/callback").text)
            assert page.values["state"] == "xyz"
            assert page.values["id_token"]
            assert requests.get(URL + "/fail").text.endswith(" rejected\\n")
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2


def serve_token(suite: Suite) -> None:
    """The server's token endpoint: a login handing out TOKEN."""
    suite.server.route(
        "/token",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"access_token": TOKEN}),
    )


BOT = "AAH" + "dqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
SLACK_HOOK = "aB3dE5gH7jK9mN1pQ3sT5vX7"
DISCORD_HOOK = "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7" * 2
SERVICE_TOKENS = {
    "huggingface": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "gitlab": "glpat-" + "AbCdEf0123456789xyzw",
    "groq": "gsk_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl",
    "sendgrid": "SG." + "AbCdEfGhIjKlMnOpQrStUv.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfG",
    "npm": "npm_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
}


def test_secrets_in_url_paths_and_service_tokens_do_not_reach_disk(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bot's or a webhook's URL is its credential: no header, parameter or field to scrub by
    # name. The unknown paths are echoed back by the server (path and body in the response).
    secrets = [BOT, SLACK_HOOK, DISCORD_HOOK, *SERVICE_TOKENS.values()]
    suite.write(
        f"""
        import httpx

        SERVICE_TOKENS = {SERVICE_TOKENS!r}

        @pytest.mark.cassette
        def test_hooks():
            r = requests.get(URL + "/bot123456789:{BOT}/getMe")
            assert r.json()["path"].startswith("/bot123456789:")
            r = requests.post(URL + "/services/T0A1B2C3D/B0A1B2C3D/{SLACK_HOOK}", json={{"text": "hi"}})
            assert r.json()["method"] == "POST"
            r = httpx.post(URL + "/api/webhooks/1234567890123456789/{DISCORD_HOOK}", json={{"a": 1}})
            assert r.json()["body"] == '{{"a":1}}'
            r = requests.post(URL + "/settings", json={{"notes": SERVICE_TOKENS}})
            assert r.status_code == 200
        """
    )
    result = suite.run()
    result.assert_outcomes(passed=1)
    text = (suite.path / "cassettes" / "test_suite" / "test_hooks.yaml").read_text()
    assert [s for s in secrets if s in text] == []
    assert "bot123456789:<SCRUBBED:telegram-bot-token>/getMe" in text
    for kind in SERVICE_TOKENS:
        assert f"<SCRUBBED:{kind}>" in text
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 4


FREE_TEXT_TOKENS = {
    "contentful": "CFPAT-" + "q7Rk2Lw9_Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga-Ye7Ui2Ko9P",
    "postman": "PMAK-" + "5f8a2c9e1b7d4f60a3e8c2b1-" + "9d4e7a1c3f6b8e2d5a0c9f7e1b4d6a8c3e",
    "tailscale": "tskey-api-" + "kQ7rT2xCNTRL-Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt",
    "openrouter": "sk-or-v1-" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c" * 2,
    "resend": "re_" + "Zp4Lw9Xs_8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua",
    "pinecone": "pcsk_" + "3Ui7d2_" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua" * 2,
    "langsmith": "lsv2_sk_" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c_3f6b8e2d5a",
    "mapbox": "sk.eyJ1IjoiYWNtZSIsImEiOiJjbHg3" + ".Zp4Lw9Xs8Nc1Vb6Hm3Jd5F",
}


def test_service_tokens_in_free_text_do_not_reach_disk(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Known by their prefixes only: in a log line, an HTML page and a JSON value under a
    # harmless key, no name says they are secrets. Words after a prefix stay (`re_run`).
    log = "\n".join(f"WARN rejected {token} (revoked)" for token in FREE_TEXT_TOKENS.values())
    suite.server.route("/log", headers={"Content-Type": "text/plain"}, body=log + "\nre_run ok")
    page = "".join(f"<li><code>{token}</code></li>" for token in FREE_TEXT_TOKENS.values())
    suite.server.route("/keys", headers={"Content-Type": "text/html"}, body=f"<ul>{page}</ul>")
    message = json.dumps({"message": "use " + " or ".join(FREE_TEXT_TOKENS.values())})
    suite.server.route("/error", headers={"Content-Type": "application/json"}, body=message)
    suite.write(
        """
        import httpx

        @pytest.mark.cassette
        def test_read():
            assert requests.get(URL + "/log").text.endswith("re_run ok")
            assert httpx.get(URL + "/keys").text.startswith("<ul><li>")
            assert requests.get(URL + "/error").json()["message"].startswith("use ")
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = (suite.path / "cassettes" / "test_suite" / "test_read.yaml").read_text()
    assert [t for t in FREE_TEXT_TOKENS.values() if t in text] == []
    for kind in FREE_TEXT_TOKENS:  # in the HTML page as `&lt;SCRUBBED:...&gt;`
        assert text.count(f"SCRUBBED:{kind}") == 3, kind
    assert "re_run ok" in text
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 3


def test_a_token_from_a_response_sent_back_in_a_path_is_scrubbed_and_replays(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session id a response hands out goes into the next URL's path: it was written to
    # disk there, and replay then asked for /sessions/<SCRUBBED>/items, which matched nothing.
    suite.server.route(
        "/auth", headers={"Content-Type": "application/json"}, body=json.dumps({"token": TOKEN})
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_flow():
            token = requests.get(URL + "/auth").json()["token"]
            r = requests.get(f"{URL}/sessions/{token}/items")
            assert r.json()["path"] == f"/sessions/{token}/items"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    assert suite.uris("test_flow")[1].endswith("/sessions/%3CSCRUBBED%3E/items")
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 2


def test_a_base64_json_cursor_sent_back_in_a_query_path_or_form_is_scrubbed_alike(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A page's cursor is a JSON document in base64 holding a key named like a secret: the
    # answer's copy was scrubbed (re-encoded), the next request's query, path and form kept the
    # cursor as sent, so replay sent the scrubbed cursor back and matched nothing.
    from pytest_cassettes.cli import main

    standard = {"key": "user#000410", "offset": 20, "q": "a?b>c"}  # '/' and '=' in base64
    urlsafe = {"key": "user#000410", "offset": 40}  # unpadded: no '=' in the URL
    answer = {
        "next": base64.b64encode(json.dumps(standard).encode()).decode(),
        "after": base64.urlsafe_b64encode(json.dumps(urlsafe).encode()).decode().rstrip("="),
    }
    suite.server.route(
        "/page1", headers={"Content-Type": "application/json"}, body=json.dumps(answer)
    )
    suite.write(
        """
        @pytest.mark.cassette(match_on=["method", "path", "query", "body"])
        def test_pages():
            page = requests.get(URL + "/page1").json()
            assert requests.get(URL + "/items", params={"cursor": page["next"]}).ok
            assert requests.get(URL + "/items/" + page["after"], headers={"X-After": page["after"]}).ok
            assert requests.post(URL + "/items", data={"cursor": page["next"]}).ok
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_pages").read_text()
    for value in answer.values():
        assert value not in text and value.rstrip("=") not in text
    # `scan` finds nothing in it, and a fresh `scrub` changes nothing.
    folder = str(suite.path / "cassettes")
    assert (main(["scan", folder]), main(["scrub", "--write", folder])) == (0, 0)
    assert suite.cassette_path("test_pages").read_text() == text
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 4


def test_a_placeholder_a_replayed_login_gave_is_not_sent_to_be_recorded(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Adding a request with new_episodes replays the login, scrubbed: the new request would
    # carry `Bearer <SCRUBBED>` to the server and record its 401. It fails, saying what to do.
    serve_token(suite)
    suite.write(
        """
        @pytest.mark.cassette
        def test_flow():
            s = requests.Session()
            token = s.post(URL + "/token").json()["access_token"]
            s.headers["Authorization"] = "Bearer " + token
            s.get(URL + "/users")
            if os.environ.get("STEP2"):
                s.get(URL + "/orders")
        """
    )
    suite.run().assert_outcomes(passed=1)
    monkeypatch.setenv("STEP2", "1")
    result = suite.run("--record-mode=new_episodes")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*PlaceholderSentError: A request to record carries a scrubbed placeholder*",
            "*GET http://127.0.0.1:*/orders",
            "*<SCRUBBED> in its Authorization header came from a replayed response*",
            "*record the whole test again: pytest --record-mode=rewrite 'test_suite.py::test_flow'",
        ]
    )
    assert suite.server.hits == 2  # /orders never reached the server
    suite.run("--record-mode=rewrite").assert_outcomes(passed=1)
    assert suite.server.requests[-1].headers["Authorization"] == "Bearer " + TOKEN


def test_a_shared_login_whose_token_was_scrubbed_is_sent_while_a_test_records(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shared login cassette replays `<SCRUBBED>` for the token: a test recording its own
    # cassette beside it would send that to the server. The login goes out instead (not
    # recorded: the shared cassette has it), and the token it gets is scrubbed where the test
    # sends it (a path), so the test replays against both cassettes.
    serve_token(suite)
    suite.write(
        """
        def login(session):
            token = session.post(URL + "/token").json()["access_token"]
            session.headers["Authorization"] = "Bearer " + token
            return token

        @pytest.mark.cassette("shared/login.yaml")
        def test_login():
            login(requests.Session())

        @pytest.mark.cassette("flows/orders.yaml", "shared/login.yaml")
        def test_orders():
            s = requests.Session()
            token = login(s)
            assert s.get(f"{URL}/sessions/{token}/orders").json()["method"] == "GET"
        """
    )
    suite.run("-k", "test_login").assert_outcomes(passed=1)
    result = suite.run("-k", "test_orders")
    result.assert_outcomes(passed=1)
    sent = suite.server.requests[-1]
    assert sent.headers["Authorization"] == "Bearer " + TOKEN
    assert sent.path == f"/sessions/{TOKEN}/orders"
    assert suite.server.hits == 3
    assert secrets_on_disk(suite.path / "cassettes") == []
    recorded = yaml.safe_load((suite.path / "cassettes" / "flows" / "orders.yaml").read_text())
    assert [i["request"]["uri"].split("/", 3)[3] for i in recorded["interactions"]] == [
        "sessions/%3CSCRUBBED%3E/orders"
    ]
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=2)
    assert suite.server.hits == 3


def test_new_episodes_replays_a_shared_login_offline_when_the_own_cassette_exists(
    suite: Suite,
) -> None:
    # Review: the shared login went out on every new_episodes run (can_record is true there),
    # so a fully recorded test needed the network.
    serve_token(suite)
    suite.write(
        """
        def login(session):
            token = session.post(URL + "/token").json()["access_token"]
            session.headers["Authorization"] = "Bearer " + token

        @pytest.mark.cassette("shared/login.yaml")
        def test_login():
            login(requests.Session())

        @pytest.mark.cassette("flows/orders.yaml", "shared/login.yaml")
        def test_orders():
            s = requests.Session()
            login(s)
            assert s.get(URL + "/orders").status_code == 200
        """
    )
    suite.run("-k", "test_login").assert_outcomes(passed=1)
    suite.run("-k", "test_orders").assert_outcomes(passed=1)
    hits = suite.server.hits
    suite.run("-k", "test_orders", "--record-mode=new_episodes").assert_outcomes(passed=1)
    assert suite.server.hits == hits


def test_a_replayed_cookie_does_not_stop_new_episodes_from_recording(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review: a load balancer's or bot filter's cookie, set by a replayed response and scrubbed,
    # is sent back by the client with every new request; servers take it in their stride.
    suite.server.route(
        "/models",
        headers={"Content-Type": "application/json", "Set-Cookie": "__cf_bm=Xk9aLm2QpR7sT4uV8wY1"},
        body='{"data": []}',
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_flow():
            s = requests.Session()
            assert s.get(URL + "/models").status_code == 200
            if os.environ.get("STEP2"):
                assert s.get(URL + "/files").status_code == 200
        """
    )
    suite.run().assert_outcomes(passed=1)
    monkeypatch.setenv("STEP2", "1")
    suite.run("--record-mode=new_episodes").assert_outcomes(passed=1)
    assert [r.path for r in suite.server.requests] == ["/models", "/files"]


def test_a_validation_error_replays_as_recorded(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A registration test asserts on the API's message for a weak password: replayed, the
    # message must be the one the test saw live (the password sent is scrubbed all the same).
    message = ["This password is too short. It must contain at least 8 characters."]
    suite.server.route("/register", status=400, body=json.dumps({"password": message}))
    suite.write(
        f"""
        @pytest.mark.cassette
        def test_weak_password():
            r = requests.post(URL + "/register", json={{"password": "Zq9kT4"}})
            assert r.status_code == 400
            assert r.json() == {{"password": {message!r}}}
        """
    )
    suite.run("--record-mode=once").assert_outcomes(passed=1)
    assert "Zq9kT4" not in suite.cassette_path("test_weak_password").read_text()
    monkeypatch.setenv("CI", "true")
    suite.server.reset()
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_secrets_a_save_keeps_of_an_old_cassette_are_told(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An adopter's old pytest-recording cassette held a password, a token and a cookie; a
    `new_episodes` run added a request and rewrote the file, the new interaction scrubbed,
    the old ones as they were, and nothing said so. The old interactions stay as they are
    (other processes know them so: scrubbed, they would pass for new recordings), and the
    summary names the file and what to do."""
    suite.server.route("/login", body=b'{"access_token": "x", "user": "ada"}')
    suite.server.route("/public", body=b"nothing secret here\n")
    old = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": suite.server.base_url + "/login?api_key=" + TOKEN,
                    "body": json.dumps({"user": "ada", "password": TOKEN + "pw"}),
                    "headers": {"Content-Type": ["application/json"]},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {
                        "Content-Type": ["application/json"],
                        "Set-Cookie": ["sessionid=" + TOKEN + "ck; Path=/"],
                    },
                    "body": {"string": json.dumps({"access_token": GITHUB, "user": "ada"})},
                },
            },
            {
                "request": {
                    "method": "GET",
                    "uri": suite.server.base_url + "/public",
                    "body": None,
                    "headers": {},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Type": ["text/plain"]},
                    "body": {"string": "nothing secret here\n"},
                },
            },
        ],
    }
    cassette = suite.cassette_path("test_login_then_more")
    cassette.parent.mkdir(parents=True)
    cassette.write_text(yaml.safe_dump(old))
    public_before = yaml.safe_dump(old["interactions"][1])
    suite.write(
        """
        TOKEN = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"

        @pytest.mark.cassette
        def test_login_then_more():
            login = requests.post(
                URL + "/login", params={"api_key": TOKEN}, json={"user": "ada", "password": TOKEN + "pw"}
            )
            assert login.json()["user"] == "ada"
            assert requests.get(URL + "/public").text == "nothing secret here\\n"
            assert requests.get(URL + "/new").status_code == 200
        """
    )
    report = suite.path / "report.json"
    result = suite.run("--record-mode=new_episodes", f"--cassette-report={report}")
    result.assert_outcomes(passed=1)
    assert suite.server.hits == 1  # only the new request went out
    written = yaml.safe_load(cassette.read_text())
    assert len(written["interactions"]) == 3
    assert yaml.safe_dump(written["interactions"][1]) == public_before
    assert written["interactions"][:2] == old["interactions"]  # as they were
    result.stdout.fnmatch_lines(
        [
            "1 cassette written in this run holds secrets in interactions recorded before, "
            "unscrubbed (by vcrpy or pytest-recording): re-record it with --record-mode=rewrite:",
            "  cassettes/test_suite/test_login_then_more.yaml: * secret values",
        ]
    )
    old_secrets = json.loads(report.read_text())["cassettes_with_old_secrets"]
    assert list(old_secrets) == ["cassettes/test_suite/test_login_then_more.yaml"]
    monkeypatch.setenv("CI", "true")
    replay = suite.run()
    replay.assert_outcomes(passed=1)
    assert suite.server.hits == 1
    assert "recorded before" not in replay.stdout.str()  # a replay writes nothing
    monkeypatch.delenv("CI")
    rewrite = suite.run("--record-mode=rewrite")
    rewrite.assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    assert "recorded before" not in rewrite.stdout.str()


def test_a_secret_json_document_keeps_its_shape_so_the_client_still_parses_it(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    # AWS Secrets Manager's GetSecretValue answers the secret as a JSON document in a string,
    # which every client parses (`json.loads(r["SecretString"])["password"]`). Replaced whole,
    # the replay handed the test `<SCRUBBED>`, which no client parses.
    from pytest_cassettes.cli import main

    password = "db-pw-" + "Xk2j3h4k5l6m7n8b9v0c"
    secret = {"username": "app", "password": password, "port": 5432, "ssl": True}
    suite.server.route(
        "/",
        headers={"Content-Type": "application/x-amz-json-1.1"},
        body=json.dumps({"Name": "prod/db", "SecretString": json.dumps(secret)}),
    )
    suite.write(
        """
        import json

        @pytest.mark.cassette
        def test_secret():
            answer = requests.post(URL + "/", json={"SecretId": "prod/db"}).json()
            secret = json.loads(answer["SecretString"])
            assert sorted(secret) == ["password", "port", "ssl", "username"]
            assert secret["ssl"] is True
        """
    )
    suite.run().assert_outcomes(passed=1)
    path = suite.cassette_path("test_secret")
    text = path.read_text()
    assert password not in text and "5432" not in text
    stored = json.loads(
        suite.cassette("test_secret")["interactions"][0]["response"]["body"]["string"]
    )
    assert json.loads(stored["SecretString"]) == {
        "username": "<SCRUBBED>",
        "password": "<SCRUBBED>",
        "port": 0,
        "ssl": True,
    }
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert main(["scan", str(path)]) == 0, capsys.readouterr().out


def test_a_resumable_upload_session_uri_is_scrubbed_and_replays(suite: Suite) -> None:
    # Google's resumable upload session URI takes unsigned uploads from anyone holding it for
    # a week: its upload_id (in Location, every chunk's URL, X-GUploader-UploadID) is a
    # credential, and was written as it was (an adopter's google-cloud-storage run).
    upload_id = "ADPycdvX7fq2kTn3Zs9mWq1LrE0bYcT5hGuJ8oKp"
    suite.server.route(
        "/upload/storage/v1/b/bkt/o",
        headers={
            "Location": f"{suite.server.base_url}/upload/session?upload_id={upload_id}",
            "X-GUploader-UploadID": upload_id,
        },
    )
    suite.write(
        """
        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_upload():
            start = requests.post(URL + "/upload/storage/v1/b/bkt/o?uploadType=resumable")
            session = start.headers["Location"]
            chunk = requests.put(session, data=b"chunk-1")
            assert chunk.json()["path"].startswith("/upload/session?upload_id=")
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_upload").read_text()
    assert upload_id not in text and upload_id[:16] not in text
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def _chat_chunk(piece: str) -> str:
    delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
    return "data: " + json.dumps({"object": "chat.completion.chunk", "choices": [delta]})


STREAMED = {
    "requests": (
        'with requests.post(URL + "/v1/chat/completions", json=ASK, stream=True) as response:\n'
        "    lines = list(response.iter_lines(decode_unicode=True))"
    ),
    "httpx": (
        "with httpx.Client() as client:\n"
        '    with client.stream("POST", URL + "/v1/chat/completions", json=ASK) as response:\n'
        "        lines = list(response.iter_lines())"
    ),
}


@pytest.mark.parametrize("encoding", [None, "gzip"])
@pytest.mark.parametrize("client", sorted(STREAMED))
def test_a_secret_a_stream_splits_over_its_events_does_not_reach_disk_and_replays(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, client: str, encoding: str | None
) -> None:
    # A model echoing a token and an environment's key a few characters an event (OpenAI's
    # chat chunks, CRLF framing): each piece alone is no secret; joined they are.
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    pieces = ["Token ", GITHUB[:7], GITHUB[7:25], GITHUB[25:], ", key ", ENV_KEY[:9]]
    pieces += [ENV_KEY[9:], "."]
    events = [_chat_chunk(piece) for piece in pieces] + ["data: [DONE]"]
    suite.server.route(
        "/v1/chat/completions",
        headers={"Content-Type": "text/event-stream; charset=utf-8"},
        body="".join(event + "\r\n\r\n" for event in events),
        encoding=encoding,
    )
    code = STREAMED[client].replace("\n", "\n" + " " * 12)
    suite.write(
        f"""
        import json
        import pathlib

        import httpx

        ASK = {{"model": "gpt-4o", "stream": True, "messages": [{{"role": "user", "content": "hi"}}]}}

        @pytest.mark.cassette
        def test_stream():
            {code}
            datas = [line[len("data: "):] for line in lines if line.startswith("data: ")]
            assert len(datas) == {len(events)} and datas[-1] == "[DONE]"
            text = "".join(json.loads(d)["choices"][0]["delta"]["content"] for d in datas[:-1])
            pathlib.Path("joined.txt").write_text(text)
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert (suite.path / "joined.txt").read_text() == "".join(pieces)  # the live answer
    assert secrets_on_disk(suite.path / "cassettes") == []
    text = suite.cassette_path("test_stream").read_text()
    for piece in pieces[2:4] + pieces[6:7]:  # the pieces without a prefix
        assert piece not in text

    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    replayed = (suite.path / "joined.txt").read_text()
    assert replayed == "Token <SCRUBBED:github>, key <ACME_API_KEY>."


def route_tool_call_stream(suite: Suite, pieces: list[str]) -> str:
    """Serve OpenAI chat chunks streaming a tool call's arguments in these pieces; the body."""
    events = [
        "data: "
        + json.dumps(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"function": {"arguments": p}}]},
                        "finish_reason": None,
                    }
                ]
            }
        )
        for p in pieces
    ]
    body = "".join(event + "\n\n" for event in [*events, "data: [DONE]"])
    suite.server.route(
        "/v1/chat/completions", headers={"Content-Type": "text/event-stream"}, body=body
    )
    return body


ARGUMENTS = {
    "requests": (
        'response = requests.post(URL + "/v1/chat/completions", json={}, stream=True)\n'
        "datas = [line[6:] for line in response.iter_lines(decode_unicode=True)"
        ' if line.startswith("data: ")]'
    ),
    "httpx": (
        'with httpx.stream("POST", URL + "/v1/chat/completions", json={}) as response:\n'
        '    datas = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]'
    ),
}


def write_tool_call_test(suite: Suite, client: str, pieces: int) -> None:
    """A test reading the streamed arguments with `client` into arguments.json."""
    code = ARGUMENTS[client].replace("\n", "\n" + " " * 12)
    suite.write(
        f"""
        import json
        import pathlib

        import httpx

        @pytest.mark.cassette
        def test_stream():
            {code}
            assert len(datas) == {pieces + 1} and datas[-1] == "[DONE]"
            arguments = "".join(
                json.loads(d)["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                for d in datas[:-1]
            )
            pathlib.Path("arguments.json").write_text(arguments)
        """
    )


def test_a_value_streamed_whole_after_its_name_in_an_earlier_event_does_not_reach_disk(
    suite: Suite,
) -> None:
    # A tool call's arguments streamed `{"password": "`, then the value whole, then `"}`: the
    # value's event alone names it `arguments`, no secret; the joined arguments name it.
    value = "Qx7mP2vL9kR4tW8zN3bH6jF1"
    pieces = ['{"user": "app", "password": "', value, '"}']
    route_tool_call_stream(suite, pieces)
    write_tool_call_test(suite, "httpx", len(pieces))
    suite.run().assert_outcomes(passed=1)
    assert value not in suite.cassette_path("test_stream").read_text()
    assert secrets_on_disk(suite.path / "cassettes") == []
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    replayed = json.loads((suite.path / "arguments.json").read_text())
    assert replayed == {"user": "app", "password": "<SCRUBBED>"}


@pytest.mark.parametrize("client", sorted(ARGUMENTS))
def test_a_short_password_its_name_streamed_in_an_earlier_event_does_not_reach_disk(
    suite: Suite, client: str
) -> None:
    # A tool call's arguments `{"password":` then ` "hunter2"}`: a short word, no token format,
    # found by its name only, which no event shows beside it. The joined arguments are JSON.
    pieces = ['{"user": "bob", "pass', 'word":', ' "hunter2"}']
    route_tool_call_stream(suite, pieces)
    write_tool_call_test(suite, client, len(pieces))
    suite.run().assert_outcomes(passed=1)
    assert json.loads((suite.path / "arguments.json").read_text())["password"] == "hunter2"
    assert "hunter2" not in suite.cassette_path("test_stream").read_text()
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    replayed = json.loads((suite.path / "arguments.json").read_text())
    assert replayed == {"user": "bob", "password": "<SCRUBBED>"}


def test_a_tool_call_chunk_ending_in_a_sensitive_name_keeps_its_event_valid_json(
    suite: Suite,
) -> None:
    # A chunk of streamed arguments `{"password":` is, in its event, `"{\"password\":"}`: the
    # free-text rule for fields took the event's own closing quote for the value's opening
    # one and replaced the JSON after it, and the client's json.loads failed on replay.
    pieces = ['{"password":', ' "<SCRUBBED>"}']
    body = route_tool_call_stream(suite, pieces)
    write_tool_call_test(suite, "requests", len(pieces))
    suite.run().assert_outcomes(passed=1)
    stored = suite.cassette("test_stream")["interactions"][0]["response"]["body"]["string"]
    assert stored == body
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert json.loads((suite.path / "arguments.json").read_text()) == {"password": "<SCRUBBED>"}


def _cohere_event(kind: str, message: dict[str, object]) -> str:
    event = {"type": kind, "index": 0, "delta": {"message": message}}
    return f"event: {kind}\ndata: {json.dumps(event)}\n\n"


def test_a_secret_split_over_cohere_s_tool_call_and_tool_plan_deltas_does_not_reach_disk(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cohere's v2 chat streams a tool call's arguments and its tool plan piece by piece too.
    monkeypatch.setenv("ACME_API_KEY", ENV_KEY)
    arguments = json.dumps({"token": GITHUB, "note": ENV_KEY})
    cuts = [0, arguments.index("ghp_") + 3, arguments.index(ENV_KEY) + 5, len(arguments)]
    events = [_cohere_event("tool-plan-delta", {"tool_plan": p}) for p in ("I use ", GITHUB[:6])]
    events.append(_cohere_event("tool-plan-delta", {"tool_plan": GITHUB[6:]}))
    events += [
        _cohere_event(
            "tool-call-delta", {"tool_calls": {"function": {"arguments": arguments[a:b]}}}
        )
        for a, b in zip(cuts, cuts[1:])
    ]
    suite.server.route(
        "/v2/chat",
        headers={"Content-Type": "text/event-stream"},
        body="".join(events),
    )
    suite.write(
        """
        import json
        import pathlib

        import httpx

        @pytest.mark.cassette
        def test_stream():
            plan, arguments = "", ""
            with httpx.stream("POST", URL + "/v2/chat", json={"stream": True}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        message = json.loads(line[6:])["delta"]["message"]
                        plan += message.get("tool_plan", "")
                        call = message.get("tool_calls", {})
                        arguments += call.get("function", {}).get("arguments", "")
            assert json.loads(arguments).keys() == {"token", "note"}
            pathlib.Path("joined.txt").write_text(plan + "|" + arguments)
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    text = suite.cassette_path("test_stream").read_text()
    assert GITHUB[6:] not in text and ENV_KEY[5:] not in text

    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    plan, arguments = (suite.path / "joined.txt").read_text().split("|")
    assert plan == "I use <SCRUBBED:github>"
    assert json.loads(arguments) == {"token": "<SCRUBBED:github>", "note": "<ACME_API_KEY>"}


def test_a_dotenv_files_values_with_punctuation_do_not_reach_disk_in_part(suite: Suite) -> None:
    # A `.env` or INI line's value runs to the end of the line: a generated password's `&`,
    # `#`, `;`, `,` or `|` ended it, and the rest stayed on disk (an SDK's file upload, echoed).
    suite.write(
        """
        DOTENV = (
            "DB_PASSWORD=Tr0ub4dor&3-hunter2-tail\\n"
            "API_SECRET=k9#Zq;Lm,Xv|Rt-second-tail\\n"
            "client_secret=abc123;def456  # rotated\\n"
            "query=a=1&password=from-a-query&b=2\\n"
        )

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_upload(monkeypatch):
            monkeypatch.setattr("urllib3.filepost.choose_boundary", lambda: "fixedboundary42")
            echoed = requests.post(URL + "/v1/files", files={"file": ("x.env", DOTENV)}).json()
            assert "DB_PASSWORD=" in echoed["body"]
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_upload").read_text()
    for piece in ("hunter2-tail", "second-tail", "def456", "Tr0ub4dor", "from-a-query"):
        assert piece not in text
    body = suite.cassette("test_upload")["interactions"][0]["request"]["body"]
    assert "DB_PASSWORD=<SCRUBBED>\nAPI_SECRET=<SCRUBBED>\n" in body
    assert "client_secret=<SCRUBBED>  # rotated\n" in body
    assert "query=a=1&password=%3CSCRUBBED%3E&b=2\n" in body  # pairs: a query string's rules
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_a_model_conversation_beside_a_json_schema_s_list_of_types_is_recorded(
    suite: Suite,
) -> None:
    # A JSON Schema's `"type": ["string", "null"]` (a tool's optional parameter) beside an
    # assistant's message: reading where the model's output is raised TypeError (a list is
    # no role), so no request of a multi-turn tool conversation could be recorded.
    suite.write(
        """
        SCHEMA = {"type": "object", "properties": {"api_key": {"type": ["string", "null"]}}}

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_turn():
            body = {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Look it up"},
                ],
                "tools": [{"name": "lookup", "input_schema": SCHEMA}],
                "metadata": {"password": "hunter2-Xk2j3h4k"},
            }
            assert requests.post(URL + "/v1/messages", json=body).status_code == 200
        """
    )
    suite.run().assert_outcomes(passed=1)
    body = json.loads(suite.cassette("test_turn")["interactions"][0]["request"]["body"])
    assert body["tools"][0]["input_schema"]["properties"]["api_key"]["type"] == ["string", "null"]
    assert body["metadata"] == {"password": "<SCRUBBED>"}
    suite.run("--record-mode=none").assert_outcomes(passed=1)


def test_a_files_base64_contents_and_a_vault_secret_do_not_reach_disk_and_replay(
    suite: Suite,
) -> None:
    # GitHub's contents API hands a file out in base64 (60 characters a line), Vault's KV a
    # secret under names no rule knew: both reached disk whole.
    dotenv = f"DB_HOST=db.internal\nDB_PASSWORD={TOKEN}\nDEPLOY_KEY={GITHUB}\n".encode()
    encoded = base64.b64encode(dotenv).decode()
    answers = {
        "/repos/acme/app/contents/deploy/.env": {
            "type": "file",
            "encoding": "base64",
            "size": len(dotenv),
            "name": ".env",
            "path": "deploy/.env",
            "content": "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60)),
            "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
        },
        "/v1/secret/data/app": {
            "request_id": "5e7f",
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": {
                "data": {"db_conn": TOKEN},
                "metadata": {"created_time": "2024-01-01T00:00:00Z", "version": 1},
            },
            "mount_type": "kv",
        },
    }
    for path, answer in answers.items():
        suite.server.route(
            path, headers={"Content-Type": "application/json"}, body=json.dumps(answer)
        )
    suite.write(
        f"""
        import base64

        TOKEN = {TOKEN!r}

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_config():
            file = requests.get(URL + "/repos/acme/app/contents/deploy/.env").json()
            text = base64.b64decode(file["content"]).decode()
            assert text.startswith("DB_HOST=db.internal\\nDB_PASSWORD=")
            vault = {{"X-Vault-Token": "hvs." + "a" * 24, "X-Vault-Request": "true"}}
            written = requests.post(
                URL + "/v1/secret/data/app", json={{"data": {{"db_conn": TOKEN}}}}, headers=vault
            ).json()
            assert written["data"]["metadata"]["version"] == 1
            print("READ", text.split("\\n")[1], written["data"]["data"]["db_conn"])
        """
    )
    result = suite.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*READ DB_PASSWORD={TOKEN} {TOKEN}"])
    assert TOKEN.encode() in suite.server.requests[1].body  # sent for real
    assert secrets_on_disk(suite.path / "cassettes") == []
    interactions = suite.cassette("test_config")["interactions"]
    content = json.loads(interactions[0]["response"]["body"]["string"])["content"]
    assert base64.b64decode(content).decode() == (
        "DB_HOST=db.internal\nDB_PASSWORD=<SCRUBBED>\nDEPLOY_KEY=<SCRUBBED:github>\n"
    )
    assert json.loads(interactions[1]["request"]["body"]) == {"data": {"db_conn": "<SCRUBBED>"}}

    suite.server.reset()
    result = suite.run("-s", "--record-mode=none")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*READ DB_PASSWORD=<SCRUBBED> <SCRUBBED>"])
    assert suite.server.hits == 0


def test_base64_secrets_replay_as_the_placeholder_s_base64(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    # boto3 decodes SecretBinary, and a client reads a Kubernetes Secret's data and a Secret
    # Manager version's payload by decoding them: `<SCRUBBED>` decoded to six bytes of
    # garbage (b'H$T\x04\x11\x03'). The secrets created (CreateSecret's SecretBinary, a
    # Secret applied) are written the same way.
    from pytest_cassettes.cli import main
    from pytest_cassettes.scrub_stores import crc32c

    password = "db-pw-" + "Xk2j3h4k5l6m7n8b9v0c"
    encoded = base64.b64encode(password.encode()).decode()
    suite.server.route(
        "/",
        headers={"Content-Type": "application/x-amz-json-1.1"},
        body=json.dumps(
            {
                "ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db",
                "Name": "db",
                "VersionId": "v1",
                "SecretBinary": encoded,
            }
        ),
    )
    k8s = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "type": "Opaque",
        "data": {"password": encoded},
    }
    suite.server.route(
        "/api/v1/namespaces/default/secrets/db",
        headers={"Content-Type": "application/json"},
        body=json.dumps(k8s),
    )
    gsm = {
        "name": "projects/1/secrets/db/versions/1",
        "payload": {"data": encoded, "dataCrc32c": str(crc32c(password.encode()))},
    }
    suite.server.route(
        "/v1/projects/p/secrets/db/versions/latest:access",
        headers={"Content-Type": "application/json"},
        body=json.dumps(gsm),
    )
    suite.write(
        f"""
        import base64
        import pathlib

        import boto3

        from pytest_cassettes.scrub_stores import crc32c

        PASSWORD = {password!r}

        @pytest.mark.cassette
        def test_secrets():
            client = boto3.client(
                "secretsmanager",
                region_name="us-east-1",
                endpoint_url=URL,
                aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            client.create_secret(Name="db", SecretBinary=PASSWORD.encode())
            got = [client.get_secret_value(SecretId="db")["SecretBinary"]]
            requests.post(
                URL + "/api/v1/namespaces/default/secrets",
                json={{"kind": "Secret", "metadata": {{"name": "db"}},
                      "data": {{"password": base64.b64encode(PASSWORD.encode()).decode()}}}},
            )
            secret = requests.get(URL + "/api/v1/namespaces/default/secrets/db").json()
            got.append(base64.b64decode(secret["data"]["password"], validate=True))
            version = requests.get(URL + "/v1/projects/p/secrets/db/versions/latest:access")
            payload = version.json()["payload"]
            data = base64.b64decode(payload["data"], validate=True)
            # Google's samples check the data read against its checksum: the checksum of
            # the placeholder once scrubbed (the real secret's was kept: replay failed it).
            assert int(payload["dataCrc32c"]) == crc32c(data)
            got.append(data)
            pathlib.Path("got.txt").write_bytes(b"|".join(got))
        """
    )
    suite.run().assert_outcomes(passed=1)
    path = suite.cassette_path("test_secrets")
    text = path.read_text()
    assert password not in text and encoded not in text
    sent = suite.cassette("test_secrets")["interactions"]
    placeholder = base64.b64encode(b"<SCRUBBED>").decode()
    assert json.loads(sent[0]["request"]["body"])["SecretBinary"] == placeholder
    assert json.loads(sent[2]["request"]["body"])["data"] == {"password": placeholder}
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.txt").read_bytes() == b"<SCRUBBED>|<SCRUBBED>|<SCRUBBED>"
    assert main(["scan", str(path)]) == 0, capsys.readouterr().out


def test_a_streamed_chat_completion_is_scrubbed_as_the_same_answer_not_streamed(
    suite: Suite,
) -> None:
    # The same answer as one chat completion and as chunks (the openai SDK reading both): the
    # model's JSON keeps its generic names, its text loses a generated-looking token after one.
    # Was: streamed, the arguments sent whole in one chunk lost their `key` (the events' text
    # rules knew no model's output), and a token split over chunks stayed on disk.
    pytest.importorskip("openai")
    content = "Use token=Qm9vb2tzLTEyMzQ1Njc4OTA to log in.\nkey: Zk3jQ9xLp2Vb7Tq8\nDone."
    arguments = json.dumps({"key": "a8Fh2kLq9Zx7Wv3Np5Rt", "password": "Tr0ub4dor-x1"})
    call = {"id": "call_1", "type": "function", "function": {"name": "login", "arguments": ""}}
    message = {"role": "assistant", "content": content, "tool_calls": [call]}
    message["tool_calls"] = [{**call, "function": {**call["function"], "arguments": arguments}}]
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": content[i : i + 3]} for i in range(0, len(content), 3)]
    deltas.append({"tool_calls": [{"index": 0, **call}]})
    deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]})
    chunks = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        for delta in deltas
    ]
    events = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
    suite.server.route(
        "/plain/v1/chat/completions",
        headers={"Content-Type": "application/json"},
        body=json.dumps(completion),
    )
    suite.server.route(
        "/sse/v1/chat/completions", headers={"Content-Type": "text/event-stream"}, body=events
    )
    suite.write(
        """
        import json
        import pathlib

        import openai

        def client(kind):
            return openai.OpenAI(base_url=f"{URL}/{kind}/v1", api_key="sk-test", max_retries=0)

        ASK = {"model": "gpt-4o", "messages": [{"role": "user", "content": "log in"}]}

        # Each its own cassette: a value one scrubs is then scrubbed wherever it comes.
        @pytest.mark.cassette
        def test_plain():
            message = client("plain").chat.completions.create(**ASK).choices[0].message
            got = [message.content, message.tool_calls[0].function.arguments]
            pathlib.Path("plain.json").write_text(json.dumps(got))

        @pytest.mark.cassette
        def test_streamed():
            got = ["", ""]
            for chunk in client("sse").chat.completions.create(**ASK, stream=True):
                delta = chunk.choices[0].delta
                got[0] += delta.content or ""
                for call in delta.tool_calls or []:
                    got[1] += call.function.arguments or ""
            pathlib.Path("streamed.json").write_text(json.dumps(got))
        """
    )
    suite.run().assert_outcomes(passed=2)
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=2)
    assert suite.server.hits == 0
    plain = json.loads((suite.path / "plain.json").read_text())
    assert plain[0] == content.replace("Qm9vb2tzLTEyMzQ1Njc4OTA", "<SCRUBBED>").replace(
        "Zk3jQ9xLp2Vb7Tq8", "<SCRUBBED>"
    )
    assert json.loads(plain[1]) == {"key": "a8Fh2kLq9Zx7Wv3Np5Rt", "password": "<SCRUBBED>"}
    assert json.loads((suite.path / "streamed.json").read_text()) == plain


def test_credentials_in_commands_a_json_answer_holds_do_not_reach_disk(suite: Suite) -> None:
    # A model's answer (a JSON string, not streamed) writing commands: curl's `-u user:password`
    # and mysql's `-pPASSWORD` name no parameter, and were recorded as they were, while the
    # same text as a plain body or a stream lost them. `-p shop` asks for a password: `shop`
    # is the database, and stays.
    pytest.importorskip("openai")
    content = (
        "Try `curl -u bob:Hq7vLw2Zr9 https://api.example.com/me`, then\n"
        "`mysql -u root -pXs4Tn8Vb3K shop` or `mysql -u root -p shop`."
    )
    message = {"role": "assistant", "content": content}
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    suite.server.route(
        "/v1/chat/completions",
        headers={"Content-Type": "application/json"},
        body=json.dumps(completion),
    )
    suite.write(
        """
        import pathlib

        import openai

        @pytest.mark.cassette
        def test_ask():
            client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
            ask = [{"role": "user", "content": "how do I log in?"}]
            answer = client.chat.completions.create(model="gpt-4o", messages=ask)
            pathlib.Path("answer.txt").write_text(answer.choices[0].message.content)
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_ask").read_text()
    assert "Hq7vLw2Zr9" not in text and "Xs4Tn8Vb3K" not in text
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    replayed = (suite.path / "answer.txt").read_text()
    assert replayed == content.replace("Hq7vLw2Zr9", "<SCRUBBED>").replace(
        "Xs4Tn8Vb3K", "<SCRUBBED>"
    )


def test_ids_in_rest_paths_after_verify_confirm_invite_stay_and_replay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An API's resources under a bare verb: an invitation's UUID, a commit's SHA, a device's
    # id, an S3 key's file. They were taken for one-time links' tokens: the paths and every
    # place the id was echoed became `<SCRUBBED>`, so the test's own assertions failed on replay.
    invitation = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    suite.server.route(
        f"/v1/invite/{invitation}",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"id": invitation, "self": f"/v1/invite/{invitation}"}),
    )
    paths = (
        "/builds/verify/9fceb02d0ae598e95dc970b74767f19372d61af8",
        "/iot/activate/dev-8f3a9c2b71e4d5a6",
        "/bucket/backups/reset/9fceb02d0ae598e95dc970b74767f19372d61af8.tar.gz",
    )
    suite.write(
        f"""
        @pytest.mark.cassette
        def test_api():
            got = requests.get(URL + "/v1/invite/{invitation}").json()
            assert got["id"] == "{invitation}"
            assert requests.get(URL + got["self"]).json()["self"] == got["self"]
            for path in {paths!r}:
                assert requests.get(URL + path).json()["path"] == path
        """
    )
    suite.run().assert_outcomes(passed=1)
    uris = suite.uris("test_api")
    assert [uri.split("/", 3)[3] for uri in uris[2:]] == [path[1:] for path in paths]
    assert f"/v1/invite/{invitation}" in uris[0]
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)


def test_a_one_time_link_s_token_in_any_case_or_streamed_does_not_reach_disk(
    suite: Suite,
) -> None:
    # `/Account/Verify/<token>` (ASP.NET's casing) and a magic link a model's streamed answer
    # spells out over three events were recorded in the clear; their requests match on replay.
    verify, magic = "Vq7Lw2Zr9Xs4Tn8Vb3KpQ1", "mL9xQ2vZ7kR4tW8nB3cF6hJ1pS5dG0aY"
    pieces = ["Open /auth/", f"magic/{magic[:12]}", f"{magic[12:]} to sign in"]
    events = "".join(
        "data: " + json.dumps({"choices": [{"delta": {"content": piece}}]}) + "\n\n"
        for piece in pieces
    )
    suite.server.route(
        "/v1/chat/completions", headers={"Content-Type": "text/event-stream"}, body=events
    )
    suite.server.route(
        "/mail", headers={"Content-Type": "text/plain"}, body=f"Go to /Account/Verify/{verify}"
    )
    suite.write(
        """
        import json

        @pytest.mark.cassette
        def test_links():
            answer = requests.post(URL + "/v1/chat/completions", stream=True)
            lines = [line for line in answer.iter_lines() if line.startswith(b"data: ")]
            text = "".join(json.loads(line[6:])["choices"][0]["delta"]["content"] for line in lines)
            for link in (text.split()[1], requests.get(URL + "/mail").text.split()[-1]):
                assert requests.get(URL + link).json()["method"] == "GET"
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_links").read_text()
    assert magic[:12] not in text and magic[12:] not in text and verify not in text
    assert "/Account/Verify/%3CSCRUBBED%3E" in text
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_a_device_serial_after_activate_stays_and_a_long_random_token_goes(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A device's serial number after a bare `activate` (capitals and digits, 20 of them at
    # most) is a REST API's id: it was taken for a one-time link's token, and the device's
    # own path in its answer was scrubbed. A generated token there (mixed case, or longer)
    # still goes, and its request matches on replay.
    serials = ("SN-A1B2C3D4E5F6G7H8", "RPI4-8GB-X7K9M2P4", "G030PM0123456789")
    tokens = ("Xk9mQ2vZ7kR4tW8nB3cF6hJ1pS5dG0aY", "JBSWY3DPEHPK3PXP5QGKZ7M2LR")
    suite.write(
        f"""
        @pytest.mark.cassette
        def test_devices():
            for serial in {serials!r}:
                path = "/devices/activate/" + serial
                assert requests.post(URL + path).json()["path"] == path
            for token in {tokens!r}:
                assert requests.get(URL + "/activate/" + token).json()["method"] == "GET"
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_devices").read_text()
    for serial in serials:
        assert text.count(f"/devices/activate/{serial}") == 2  # the URI and the echoed path
    for token in tokens:
        assert token not in text
    assert suite.uris("test_devices")[-1].endswith("/activate/%3CSCRUBBED%3E")
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 5


def test_a_csv_export_s_booleans_and_empty_values_in_secret_columns_stay(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `secret` (or `password`) column holding yes/no, true/false or nothing says whether
    # there is one, as JSON's booleans do: those were recorded as `<SCRUBBED>`, and a test
    # reading them on replay read no boolean. A value that is a secret still goes.
    suite.server.route(
        "/flags.csv",
        headers={"Content-Type": "text/csv"},
        body=(
            "name,secret,password\n"
            "ada,yes,TRUE\n"
            "bob,no,False\n"
            'eve,"",true\n'
            "joe,,\n"
            "max,Hq7vLw2Zr9Xs4Tn8Vb3K,no\n"
        ),
    )
    suite.write(
        """
        import csv
        import io

        @pytest.mark.cassette
        def test_flags():
            rows = list(csv.DictReader(io.StringIO(requests.get(URL + "/flags.csv").text)))
            assert [r["secret"] for r in rows[:4]] == ["yes", "no", "", ""]
            assert [r["password"] for r in rows] == ["TRUE", "False", "true", "", "no"]
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_flags").read_text()
    assert "Hq7vLw2Zr9Xs4Tn8Vb3K" not in text
    assert "ada,yes,TRUE" in text and "bob,no,False" in text and "max,<SCRUBBED>,no" in text
    monkeypatch.setenv("CI", "true")
    suite.run().assert_outcomes(passed=1)
    assert suite.server.hits == 1


def replays_offline(suite: Suite) -> None:
    """The suite's test passes again from its cassettes, the server not asked."""
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_an_environment_dump_read_as_a_form_keeps_its_text_around_the_placeholder(
    suite: Suite,
) -> None:
    # A JSON string of `NAME=value&...` is read as a form: a token found inside one value
    # re-encoded the whole value, its `,`, `/` and `(` as `%2C`, `%2F`, `%28`, so the client
    # read other text on replay than the server sent around the placeholder.
    environ = f"HOME=/home/ci&NOTE=key:{GITHUB},see:/docs(ok);x&PATH=/usr/bin:/bin"
    suite.server.route(
        "/environ",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"environ": environ}),
    )
    suite.write(
        """
        import pathlib

        @pytest.mark.cassette
        def test_environ():
            got = requests.get(URL + "/environ").json()["environ"]
            pathlib.Path("environ.txt").write_text(got)
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    replays_offline(suite)
    replayed = (suite.path / "environ.txt").read_text()
    assert replayed == environ.replace(GITHUB, "%3CSCRUBBED:github%3E")


def test_cookies_a_json_answer_lists_by_name_do_not_reach_disk(suite: Suite) -> None:
    # httpbin's `/cookies` and debug endpoints answer a jar as `{"cookies": {name: value}}`, a
    # HAR its request's as `[{"name": ..., "value": ...}]`: a `session` is no sensitive name,
    # and no Cookie header sent the value, so it was recorded as it was.
    suite.server.route(
        "/cookies",
        headers={"Content-Type": "application/json"},
        body=json.dumps(
            {
                "cookies": {"session": TOKEN},
                "har": {"request": {"cookies": [{"name": "sid", "value": TOKEN}]}},
                "settings": {"cookies": {"enabled": True}},
            }
        ),
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_cookies():
            got = requests.get(URL + "/cookies").json()
            assert list(got["cookies"]) == ["session"]
            assert got["settings"] == {"cookies": {"enabled": True}}
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    replays_offline(suite)


def test_a_netrc_over_several_lines_does_not_reach_disk(suite: Suite) -> None:
    # A .netrc as most are written, `machine`, `login` and `password` each on a line of its
    # own: only an entry on one line lost its password, whether served raw or by GitHub's
    # contents API in base64.
    netrc = f"machine api.example.com\n  login bob\n  password {TOKEN}\n\n"
    netrc += f"default\n  password {TOKEN}\n"
    contents = {"name": ".netrc", "path": ".netrc", "encoding": "base64"}
    contents["content"] = base64.encodebytes(netrc.encode()).decode()
    suite.server.route("/raw/.netrc", headers={"Content-Type": "text/plain"}, body=netrc)
    suite.server.route(
        "/repos/o/r/contents/.netrc",
        headers={"Content-Type": "application/json"},
        body=json.dumps(contents),
    )
    suite.write(
        """
        import base64
        import netrc
        import pathlib

        @pytest.mark.cassette
        def test_netrc():
            raw = requests.get(URL + "/raw/.netrc").text
            got = requests.get(URL + "/repos/o/r/contents/.netrc").json()
            assert base64.b64decode(got["content"]).decode() == raw
            pathlib.Path("netrc").write_text(raw)
            assert netrc.netrc("netrc").authenticators("api.example.com")[0] == "bob"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    replays_offline(suite)
    assert (suite.path / "netrc").read_text() == netrc.replace(TOKEN, "<SCRUBBED>")


def test_a_kubeconfig_in_base64_in_json_loses_its_token_and_key(suite: Suite) -> None:
    # A CI's variable holding a kubeconfig in base64 (GitLab's, sent and answered): no shape
    # told its base64, so its user's token and client key were recorded. Its certificates
    # are public and stay.
    key = base64.b64encode(f"-----BEGIN EC PRIVATE KEY-----\n{TOKEN}\n".encode()).decode()
    certificate = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENCKzZnQXdJQkFnSUJBVEFL"
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n"
        f"    certificate-authority-data: {certificate}\n    server: https://10.0.0.1\n"
        f"users:\n- name: ci\n  user:\n    token: {TOKEN}\n"
        f"    client-certificate-data: {certificate}\n    client-key-data: {key}\n"
    )
    variable = {"key": "KUBECONFIG", "value": base64.b64encode(kubeconfig.encode()).decode()}
    suite.server.route(
        "/api/v4/projects/1/variables",
        headers={"Content-Type": "application/json"},
        body=json.dumps(variable),
    )
    suite.write(
        f"""
        import base64
        import pathlib

        VARIABLE = {variable!r}

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_kubeconfig():
            got = requests.post(URL + "/api/v4/projects/1/variables", json=VARIABLE).json()
            pathlib.Path("kubeconfig").write_bytes(base64.b64decode(got["value"]))
        """
    )
    suite.run().assert_outcomes(passed=1)
    interaction = suite.cassette("test_kubeconfig")["interactions"][0]
    for body in (interaction["request"]["body"], interaction["response"]["body"]["string"]):
        decoded = base64.b64decode(json.loads(body)["value"]).decode()
        assert TOKEN not in decoded and key not in decoded
        assert decoded.count(certificate) == 2
    replays_offline(suite)
    replayed = yaml.safe_load((suite.path / "kubeconfig").read_text())
    assert replayed["users"][0]["user"]["token"] == "<SCRUBBED>"
    assert replayed["users"][0]["user"]["client-key-data"] == "<SCRUBBED>"
    assert replayed["clusters"][0]["cluster"]["certificate-authority-data"] == certificate


def test_google_session_cookies_values_outside_a_cookie_header_do_not_reach_disk(
    suite: Suite,
) -> None:
    # Google's session cookies (`SID`, `LSID`: `g.a000...`; `__Secure-1PSIDTS`: `sidts-...`)
    # in a cookie export with no browser's fields and in a page's script: no name said they
    # were secrets, and they were recorded (notebooklm-py's cassettes leaked an LSID).
    sid = "g.a000" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl8Qn3Mx6Cv1B-z5Wt_0E"
    sidts = "sidts-" + "CjEB3EgAEq7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9K"
    suite.server.route(
        "/export",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"LSID": sid, "__Secure-1PSIDTS": sidts}),
    )
    suite.server.route(
        "/page",
        headers={"Content-Type": "text/html"},
        body=f"<script>var s = ['{sid}', '{sidts}'];</script>",
    )
    suite.write(
        """
        @pytest.mark.cassette
        def test_google():
            assert list(requests.get(URL + "/export").json()) == ["LSID", "__Secure-1PSIDTS"]
            assert requests.get(URL + "/page").text.startswith("<script>")
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_google").read_text()
    assert sid not in text and sidts not in text
    assert "<SCRUBBED:google-session>" in text
    replays_offline(suite)


def test_a_status_message_holding_secrets_is_scrubbed(suite: Suite) -> None:
    # A reason phrase is the server's free text: some echo what they were sent.
    suite.server.route("/echo-reason", reason=f"OK token={TOKEN} key {GITHUB}", body=b"hi")
    suite.write(
        """
        @pytest.mark.cassette
        def test_reason():
            answer = requests.get(URL + "/echo-reason")
            assert answer.reason.startswith("OK token=")
            print("REASON", answer.reason)
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert secrets_on_disk(suite.path / "cassettes") == []
    status = suite.cassette("test_reason")["interactions"][0]["response"]["status"]
    assert status == {"code": 200, "message": "OK token=<SCRUBBED> key <SCRUBBED:github>"}
    replayed = suite.run("--record-mode=none", "-s")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(["*REASON OK token=<SCRUBBED> key <SCRUBBED:github>"])
    assert suite.server.hits == 1


DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ" + ".GaBcDe." + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2U"
PG_PASSWORD = "Tr0ub4dor 3x"


def test_discord_bot_tokens_and_postgres_passwords_do_not_reach_disk(suite: Suite) -> None:
    # A config dump an API answers: a bot's token by its format, libpq's connection string
    # (a quoted password holds blanks) and a .pgpass line.
    config = (
        f"bot: {DISCORD}\n"
        f"dsn: host=db.internal dbname=shop user=app password='{PG_PASSWORD}'\n"
        f"pgpass: |\n  db.internal:5432:shop:app:{PG_PASSWORD.replace(' ', '')}\n"
    )
    suite.server.route("/config", headers={"Content-Type": "text/plain"}, body=config)
    suite.write(
        """
        @pytest.mark.cassette
        def test_config():
            assert requests.get(URL + "/config").text.startswith("bot: ")
        """
    )
    suite.run().assert_outcomes(passed=1)
    text = suite.cassette_path("test_config").read_text()
    for secret in (DISCORD, PG_PASSWORD, PG_PASSWORD.replace(" ", "")):
        assert secret not in text
    body = suite.cassette("test_config")["interactions"][0]["response"]["body"]["string"]
    assert body == (
        "bot: <SCRUBBED:discord-bot-token>\n"
        "dsn: host=db.internal dbname=shop user=app password='<SCRUBBED>'\n"
        "pgpass: |\n  db.internal:5432:shop:app:<SCRUBBED>\n"
    )
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1
