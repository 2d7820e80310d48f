"""Authentication flows as real clients record them: no secret of the flow reaches disk, what is
no secret stays readable, and the client still runs on replay."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

# Imported here so that pytester's in-process runs find them loaded (see test_clients.py).
import msal  # noqa: F401
import pytest

from tests.conftest import Suite

ACCESS = "2YotnFZFEjr1zCsicMWpAA8q"
REFRESH = "tGzv3JOkF0XG5Qx2TlKWIA5r"
SIGNATURE = "U2lnbmF0dXJlT2ZUaGVJZFRva2VuMTIzNDU2Nzg5MGFi"
JSON = {"Content-Type": "application/json"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "k1"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.{SIGNATURE}"


def on_disk(root: Path, *secrets: str) -> list[str]:
    """The secrets found in any file under `root`: raw, percent-encoded, JSON-escaped, base64."""
    data = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    found = []
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
        forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
        found += [secret for form in forms if form.encode() in data]
    return sorted(set(found))


def recorded(suite: Suite, test: str) -> str:
    """Every string a cassette holds (URIs, headers, bodies), one a line, as clients read them."""
    strings: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, (str, bytes)):
            strings.append(node if isinstance(node, str) else node.decode("utf-8", "replace"))

    walk(suite.cassette(test)["interactions"])
    return "\n".join(strings)


def test_an_id_token_keeps_its_claims_so_msal_still_replays(suite: Suite) -> None:
    # MSAL decodes the claims of every id_token it gets (to build its accounts): with the
    # token replaced whole, `"<SCRUBBED>".split(".")[1]` raised IndexError on replay. The
    # signature, which makes the token a credential, goes; the header and claims stay.
    claims = {"aud": "cid", "exp": 4000000000, "oid": "o-1", "preferred_username": "ada@x.org"}
    id_token = jwt(claims)
    answer = {
        "token_type": "Bearer",
        "expires_in": 3600,
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "id_token": id_token,
        "client_info": b64url(b'{"uid": "o-1", "utid": "t-1"}'),
    }
    suite.server.route("/tenant/oauth2/v2.0/token", headers=JSON, body=json.dumps(answer))
    suite.write(
        """
        from msal.oauth2cli.oidc import Client

        @pytest.mark.cassette
        def test_sign_in():
            client = Client({"token_endpoint": URL + "/tenant/oauth2/v2.0/token"}, client_id="cid")
            result = client.obtain_token_by_username_password(
                "ada@x.org", "Tr0ub4dor&3-horse", scope=["User.Read"]
            )
            assert result["id_token_claims"]["preferred_username"] == "ada@x.org"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert on_disk(suite.path / "cassettes", SIGNATURE, ACCESS, "Tr0ub4dor&3-horse") == []
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 1
    text = recorded(suite, "test_sign_in")
    assert id_token[: id_token.rindex(".") + 1] + "PFNDUlVCQkVEPg" in text


class Flow(NamedTuple):
    routes: dict[str, Any]  # path: LocalServer.route's keywords
    test: str  # the test's body, in a module with `URL`, `requests` and `json`
    secrets: tuple[str, ...]
    kept: tuple[str, ...] = ()  # what is no secret, readable in the cassette


FLOWS = {
    "an implicit flow's id_token in the redirect's fragment": Flow(
        {
            "/authorize": {
                "status": 302,
                "headers": {"Location": f"/cb#id_token={jwt({'sub': 'u-1'})}&state=s1"},
            }
        },
        """
        import base64

        location = requests.get(URL + "/authorize", allow_redirects=False).headers["Location"]
        fields = dict(pair.split("=") for pair in location.partition("#")[2].split("&"))
        claims = base64.urlsafe_b64decode(fields["id_token"].split(".")[1] + "==")
        assert json.loads(claims) == {"sub": "u-1"}
        """,
        (SIGNATURE,),
        ("&state=s1",),
    ),
}


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_a_flow_s_secrets_do_not_reach_disk_and_it_replays(suite: Suite, flow: str) -> None:
    case = FLOWS[flow]
    for path, route in case.routes.items():
        suite.server.route(path, **route)
    body = "\n".join("    " + line for line in case.test.strip("\n").splitlines())
    suite.write(
        "import json\n\n@pytest.mark.cassette(match_on=['method', 'uri', 'body'])\n"
        f"def test_flow():\n{body}\n"
    )
    suite.run().assert_outcomes(passed=1)
    hits = suite.server.hits
    assert on_disk(suite.path / "cassettes", *case.secrets) == []
    text = recorded(suite, "test_flow")
    for kept in case.kept:
        assert kept in text
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == hits
