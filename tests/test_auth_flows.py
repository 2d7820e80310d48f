"""Authentication flows as real clients record them: no secret of the flow reaches disk, what is
no secret stays readable, and the client still runs on replay."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

# Imported here so that pytester's in-process runs find them loaded (see test_clients.py).
import boto3  # noqa: F401
import msal  # noqa: F401
import pycognito  # noqa: F401
import pytest
import requests_oauthlib  # noqa: F401

from tests.conftest import Suite

CODE = "SplxlOBeZQQYbYS6WxSbIA"
CLIENT_SECRET = "cs-7Hq2Lw9Zr4Tn8Vb3Kx6M"
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


def test_an_authorization_code_flow_records_no_code_and_replays(suite: Suite) -> None:
    # The code in the redirect's Location and in the token request's form is the flow's
    # bearer credential until it is redeemed: `code` alone names too much (an error's) to be
    # sensitive, beside `state`, `grant_type` or `redirect_uri` it is OAuth's.
    base = suite.server.base_url
    suite.server.route(
        "/authorize",
        status=302,
        headers={"Location": f"{base}/callback?code={CODE}&state=st4te"},
    )
    token = {
        "access_token": ACCESS,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": REFRESH,
        "scope": "read write",
    }
    suite.server.route("/token", headers=JSON, body=json.dumps(token))
    suite.write(
        f"""
        from requests_oauthlib import OAuth2Session

        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the server is http://127.0.0.1

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_login():
            session = OAuth2Session("client-1", redirect_uri=URL + "/callback", state="st4te")
            url, state = session.authorization_url(URL + "/authorize")
            location = requests.get(url, allow_redirects=False).headers["Location"]
            token = session.fetch_token(
                URL + "/token", authorization_response=location, client_secret={CLIENT_SECRET!r}
            )
            assert token["token_type"] == "Bearer"
            assert token["scope"] == ["read", "write"]
        """
    )
    suite.run().assert_outcomes(passed=1)
    cassettes = suite.path / "cassettes"
    assert on_disk(cassettes, CODE, CLIENT_SECRET, ACCESS, REFRESH) == []
    text = recorded(suite, "test_login")
    assert "code=%3CSCRUBBED%3E&state=st4te" in text  # in the Location and the form
    assert '"token_type": "Bearer"' in text and '"expires_in": 3600' in text
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 2


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


def test_a_jwt_a_request_sends_matches_its_recording_minted_anew_or_sent_back(
    suite: Suite,
) -> None:
    # A client mints some JWTs at each run (a token request's client_assertion, a signed URL's
    # token: their iat and jti change) and sends back the ones it was answered: the real one
    # when recorded, the placeholder (claims kept) on replay. Each must scrub in a request as
    # the other did, or the request no longer matches its recording.
    answer = {"access_token": jwt({"sub": "u-1", "exp": 4000000000}), "token_type": "Bearer"}
    suite.server.route("/token", headers=JSON, body=json.dumps(answer))
    suite.write(
        f"""
        import base64
        import json
        import uuid

        def minted():
            encode = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
            claims = {{"iss": "app", "jti": str(uuid.uuid4())}}
            return f"{{encode({{'alg': 'RS256'}})}}.{{encode(claims)}}.{SIGNATURE}{{uuid.uuid4().hex}}"

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_token():
            form = {{"client_id": "c1", "client_assertion": minted(), "grant_type": "x"}}
            token = requests.post(URL + "/token", data=form).json()["access_token"]
            requests.get(URL + "/media?token=" + minted())
            requests.get(URL + "/sessions/" + token + "/items")
            requests.get(URL + "/logout?id_token_hint=" + token)
            requests.post(URL + "/revoke", data={{"token": token}})
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert on_disk(suite.path / "cassettes", SIGNATURE) == []
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 5


class Flow(NamedTuple):
    routes: dict[str, Any]  # path: LocalServer.route's keywords
    test: str  # the test's body, in a module with `URL`, `requests` and `json`
    secrets: tuple[str, ...]
    kept: tuple[str, ...] = ()  # what is no secret, readable in the cassette


USER_PASSWORD = "Hunter2-correct-horse"
DEVICE_CODE = "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
STATE_HANDLE = "02tYS1NHhCPLcOpT3GByBBRHmuU4"
SAML = base64.b64encode(b"<samlp:Response><saml:Assertion>signed</saml:Assertion>").decode()
UNSEAL = "1c9d0d8e2f4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c"
RSA_D = "nJpbmQtZmxhZy1kLXZhbHVlLXByaXZhdGUtZXhwb25lbnQx"
HMAC_K = "c3ltbWV0cmljLWtleS1tYXRlcmlhbC0xMjM0NTY3"
SESSION = "AYABeK" + "q3Zx9Lw2Vb7Nm4Tr8Hs1Jd6Fg0Pk5Ya" * 8
TOTP_SEED = "JBSWY3DPEHPK3PXP5QGKZ7M2LRT4VW6Y"
SECRET_HASH = "q7Lw2Zr9Xs4Tn8Vb3KpQ1mH6jD5fG0aYcE2uI8oW4k="
MFA_CODE = "482913"
INTERACTION_HANDLE = "Ih7Rw2Zq9Lx4Vb8Nm3Ts6Kd1"
INTERACTION_CODE = "Ic5Pq8Wz3Lm7Xr2Vn9Ts4Hb6"
IMDS_TOKEN = "AQAEAHq" + "9Lw2Vb7Nm4Tr8Hs1Jd6Fg0Pk5YaZx3Qe7Uc1Wi=="
TICKET = "Tk4rZ8qLw2Vb7Nm3Hs6Jd1Fg9PxYa5Ce"
BARE_TICKET = "PVE:ada@pve:6650A1B2::" + "dGlja2V0LXNpZ25lZC1ieS10aGUtc2VydmVyLTEyMzQ1Njc4OTA"
CONTAINER_ID = "7d1f21ae-0d0c-4f8b-a8f2-6b8b5d8c3c2b"
WEATHER_KEY = "bd82977b86bf27fb59a04b61b657fb6f"
EMAIL_HASH = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
CLIENT_KEY = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIC9k\n").decode()
CERTIFICATE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2g\n").decode()
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: c-1
  cluster:
    server: https://k8s.test:6443
    certificate-authority-data: {CERTIFICATE}
users:
- name: admin
  user:
    client-certificate-data: {CERTIFICATE}
    client-key-data: {CLIENT_KEY}
"""
SECRET_KEY_BASE = "9f1c" + "e4b7a2d05c83f6e1b9a7d4c2f0e8b6a4d2c0f8e6b4a2d0c8e6f4a2b0d8c6e4f2" * 2
MAGIC = "mL9xQ2vZ7kR4tW8nB3cF6hJ1pS5dG0aY"
VERIFY = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
RESET = "c4z1a8-5b6a3e0c4b7f0e8d1a2b3c4d5e6f7a8b"
AUTH_REQ_ID = "1c266114-a1be-4252-8ad1-04986c5b9ac1"
MODULUS = "vrjOfz9Ccdgx5nQudyhdoR17V-IubWMeOZCwX_jj0hgAsz2J_pqYW08PLbK_PdiVGKPrqzmDIsLI7sA25VEnHU1u"

IMDS_TOKEN_2 = "AQAEAPx" + "3Kd8Lm2Qw7Rt5Yv9Zb4Nc6Hj1Fg0Sa"
ROLE = "/latest/meta-data/iam/security-credentials/app-role"
IMDS = {  # EC2's instance metadata service: its token, the role's name and credentials
    "/latest/api/token": {"headers": {"Content-Type": "text/plain"}, "body": IMDS_TOKEN},
    "/latest/meta-data/iam/security-credentials/": {
        "headers": {"Content-Type": "text/plain"},
        "body": "app-role",
    },
    ROLE: {
        "headers": {"Content-Type": "text/plain"},
        "body": json.dumps(
            {
                "Code": "Success",
                "Type": "AWS-HMAC",
                "AccessKeyId": "ASIA" + "Q7RZ2XLM4VB8NT3K",
                "SecretAccessKey": CLIENT_SECRET,
                "Token": SESSION,
                "Expiration": "2099-01-01T00:00:00Z",
            }
        ),
    },
}

FLOWS = {
    "authorization code in JSON, an HTML form_post and a link": Flow(
        {
            "/form-post": {
                "headers": {"Content-Type": "text/html"},
                "body": '<form method="post" action="/cb"><input type="hidden" name="code" '
                f'value="{CODE}"/><input type="hidden" name="state" value="s1"/></form>',
            },
            "/next": {"headers": JSON, "body": f'{{"next": "/cb?code={CODE}&state=s1"}}'},
            # Not OAuth's: a coupon's code beside its state, a country's in a query.
            "/coupon": {
                "headers": JSON,
                "body": '{"code": "SUMMER2024X", "state": "active", "scope": "cart"}',
            },
        },
        f"""
        body = {{"grant_type": "authorization_code", "code": "{CODE}", "redirect_uri": "/cb"}}
        requests.post(URL + "/token", json=body)
        assert 'value="' in requests.get(URL + "/form-post").text
        assert requests.get(URL + "/next").json()["next"].startswith("/cb?code=")
        assert requests.get(URL + "/coupon").json()["code"] == "SUMMER2024X"
        requests.get(URL + "/geo?code=US&state=CA")
        """,
        (CODE,),
        ("SUMMER2024X", "code=US&state=CA"),
    ),
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
    "device flow's user code": Flow(
        {
            "/devicecode": {
                "headers": JSON,
                "body": json.dumps(
                    {
                        "device_code": DEVICE_CODE,
                        "user_code": "WDJB-MJHT",
                        "verification_uri": "https://example.com/device",
                        "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
                        "expires_in": 1800,
                        "interval": 5,
                    }
                ),
            }
        },
        """
        flow = requests.post(URL + "/devicecode", data={"client_id": "c"}).json()
        assert flow["interval"] == 5
        """,
        (DEVICE_CODE, "WDJB-MJHT"),
        ('"interval": 5', '"expires_in": 1800'),
    ),
    "Keycloak's credentials by their type": Flow(
        {
            "/admin/realms/demo/clients/c1/client-secret": {
                "headers": JSON,
                "body": json.dumps({"type": "secret", "value": CLIENT_SECRET}),
            },
            "/keys": {"headers": JSON, "body": '[{"type": "key", "value": "Enter"}]'},
        },
        f"""
        credential = {{"type": "password", "value": "{USER_PASSWORD}", "temporary": False}}
        user = {{"username": "bob", "enabled": True, "credentials": [credential]}}
        requests.post(URL + "/admin/realms/demo/users", json=user)
        requests.put(URL + "/admin/realms/demo/users/u1/reset-password", json=credential)
        url = URL + "/admin/realms/demo/clients/c1/client-secret"
        assert requests.get(url).json()["type"] == "secret"
        assert requests.get(URL + "/keys").json()[0]["value"] == "Enter"
        """,
        (USER_PASSWORD, CLIENT_SECRET),
        ('"value": "Enter"', '"temporary": false'),
    ),
    "Okta's passcode and state handle": Flow(
        {
            "/idp/idx/identify": {
                "headers": {"Content-Type": "application/ion+json; okta-version=1.0.0"},
                "body": json.dumps({"version": "1.0.0", "stateHandle": STATE_HANDLE}),
            }
        },
        f"""
        state = requests.post(URL + "/idp/idx/identify", json={{"identifier": "ada"}}).json()
        answer = {{"credentials": {{"passcode": "{USER_PASSWORD}"}}, "stateHandle": state["stateHandle"]}}
        requests.post(URL + "/idp/idx/challenge/answer", json=answer)
        """,
        (USER_PASSWORD, STATE_HANDLE),
    ),
    "AWS STS' SAML assertion (boto3)": Flow(
        {
            "/": {
                "headers": {"Content-Type": "text/xml"},
                "body": '<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/'
                '2011-06-15/"><AssumeRoleWithSAMLResult><Credentials><AccessKeyId>ASIAEXAMPLE'
                "</AccessKeyId><SecretAccessKey>sk</SecretAccessKey><SessionToken>st"
                "</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>"
                "</AssumeRoleWithSAMLResult></AssumeRoleWithSAMLResponse>",
            }
        },
        f"""
        import boto3

        sts = boto3.client(
            "sts", endpoint_url=URL, region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="not-a-secret",
        )
        answer = sts.assume_role_with_saml(
            RoleArn="arn:aws:iam::1:role/r", PrincipalArn="arn:aws:iam::1:saml-provider/p",
            SAMLAssertion="{SAML}",
        )
        assert answer["Credentials"]["AccessKeyId"] == "ASIAEXAMPLE"
        """,
        (SAML,),
        ("Action=AssumeRoleWithSAML",),
    ),
    "Vault's unseal keys": Flow(
        {
            "/v1/sys/init": {
                "headers": JSON,
                "body": json.dumps(
                    {
                        "keys": [UNSEAL],
                        "keys_base64": [base64.b64encode(bytes.fromhex(UNSEAL)).decode()],
                        "root_token": "hvs.root",
                    }
                ),
            }
        },
        """
        init = {"secret_shares": 1, "secret_threshold": 1}
        headers = {"X-Vault-Request": "true"}
        assert requests.put(URL + "/v1/sys/init", json=init, headers=headers).json()["keys"]
        """,
        (UNSEAL, base64.b64encode(bytes.fromhex(UNSEAL)).decode()),
        ('"secret_shares": 1',),
    ),
    "a JSON Web Key's private members": Flow(
        {
            "/admin/keys/app": {
                "headers": JSON,
                "body": json.dumps(
                    {
                        "keys": [
                            {"kty": "RSA", "kid": "r1", "n": MODULUS, "e": "AQAB", "d": RSA_D},
                            {"kty": "oct", "kid": "h1", "alg": "HS256", "k": HMAC_K},
                        ]
                    }
                ),
            }
        },
        """
        keys = requests.post(URL + "/admin/keys/app", json={"alg": "RS256"}).json()["keys"]
        assert keys[0]["n"] and keys[1]["kid"] == "h1"
        """,
        (RSA_D, HMAC_K),
        (MODULUS, '"e": "AQAB"', '"kid": "r1"'),
    ),
    "a Redis URL's password without a user": Flow(
        {
            "/config": {
                "headers": JSON,
                "body": json.dumps({"redis": f"redis://:{USER_PASSWORD}@cache:6379/0"}),
            }
        },
        """
        assert requests.get(URL + "/config").json()["redis"].startswith("redis://:")
        """,
        (USER_PASSWORD,),
        ("@cache:6379/0",),
    ),
    "Cognito's challenge session and TOTP seed (boto3)": Flow(
        {
            "/": {
                "headers": {"Content-Type": "application/x-amz-json-1.1"},
                "body": json.dumps(
                    {"ChallengeName": "MFA_SETUP", "Session": SESSION, "ChallengeParameters": {}}
                ),
            },
            "/totp/": {
                "headers": {"Content-Type": "application/x-amz-json-1.1"},
                "body": json.dumps({"SecretCode": TOTP_SEED, "Session": SESSION}),
            },
        },
        f"""
        import boto3

        def client(url):
            return boto3.client(
                "cognito-idp", endpoint_url=url, region_name="us-east-1",
                aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="not-a-secret",
            )

        idp = client(URL)
        started = idp.initiate_auth(
            ClientId="c1", AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={{"USERNAME": "ada", "PASSWORD": "{USER_PASSWORD}"}},
        )
        assert started["ChallengeName"] == "MFA_SETUP"
        seed = client(URL + "/totp/").associate_software_token(Session=started["Session"])
        assert seed["SecretCode"]
        answer = idp.respond_to_auth_challenge(
            ClientId="c1", ChallengeName="MFA_SETUP", Session=seed["Session"],
            ChallengeResponses={{"USERNAME": "ada"}},
        )
        assert answer["ChallengeParameters"] == {{}}
        """,
        (SESSION, TOTP_SEED, USER_PASSWORD),
        ('"ChallengeName": "MFA_SETUP"', "AWSCognitoIdentityProviderService.InitiateAuth"),
    ),
    "Cognito's secret hash and MFA code (boto3)": Flow(
        {
            "/": {
                "headers": {"Content-Type": "application/x-amz-json-1.1"},
                "body": json.dumps(
                    {
                        "ChallengeName": "SOFTWARE_TOKEN_MFA",
                        "Session": SESSION,
                        "ChallengeParameters": {},
                    }
                ),
            },
        },
        f"""
        import boto3

        keys = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
        idp = keys.client("cognito-idp", endpoint_url=URL, region_name="us-east-1")
        started = idp.initiate_auth(
            ClientId="c1", AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={{"USERNAME": "ada", "PASSWORD": "{USER_PASSWORD}", "SECRET_HASH": "{SECRET_HASH}"}},
        )
        idp.respond_to_auth_challenge(
            ClientId="c1", ChallengeName="SOFTWARE_TOKEN_MFA", Session=started["Session"],
            ChallengeResponses={{
                "USERNAME": "ada", "SOFTWARE_TOKEN_MFA_CODE": "{MFA_CODE}", "SECRET_HASH": "{SECRET_HASH}"
            }},
        )
        idp.sign_up(ClientId="c1", SecretHash="{SECRET_HASH}", Username="bob", Password="{USER_PASSWORD}")
        """,
        (SECRET_HASH, MFA_CODE, USER_PASSWORD),
        ('"USERNAME": "ada"', '"ChallengeName": "SOFTWARE_TOKEN_MFA"'),
    ),
    "Okta's interaction handle and interaction code": Flow(
        {
            "/oauth2/v1/interact": {
                "headers": JSON,
                "body": json.dumps({"interaction_handle": INTERACTION_HANDLE}),
            },
            "/idp/idx/challenge/answer": {
                "headers": {"Content-Type": "application/ion+json; okta-version=1.0.0"},
                "body": json.dumps(
                    {
                        "successWithInteractionCode": {
                            "name": "issue",
                            "value": [
                                {"name": "grant_type", "value": "interaction_code"},
                                {"name": "interaction_code", "value": INTERACTION_CODE},
                            ],
                        }
                    }
                ),
            },
        },
        """
        form = {"client_id": "c1", "scope": "openid", "code_challenge": "x" * 43}
        handle = requests.post(URL + "/oauth2/v1/interact", data=form).json()
        requests.post(URL + "/idp/idx/introspect", json={"interactionHandle": handle["interaction_handle"]})
        issue = requests.post(URL + "/idp/idx/challenge/answer", json={"stateHandle": "s"}).json()
        fields = {f["name"]: f["value"] for f in issue["successWithInteractionCode"]["value"]}
        assert fields["grant_type"] == "interaction_code"
        requests.post(URL + "/oauth2/v1/token", data=dict(fields, client_id="c1"))
        """,
        (INTERACTION_HANDLE, INTERACTION_CODE),
        ("grant_type=interaction_code",),
    ),
    "OpenID CIBA's auth_req_id": Flow(
        {
            "/bc-authorize": {
                "headers": JSON,
                "body": json.dumps({"auth_req_id": AUTH_REQ_ID, "expires_in": 120, "interval": 2}),
            }
        },
        """
        started = requests.post(URL + "/bc-authorize", data={"login_hint": "ada", "scope": "openid"}).json()
        assert started["interval"] == 2
        grant = "urn:openid:params:grant-type:ciba"
        requests.post(URL + "/token", data={"grant_type": grant, "auth_req_id": started["auth_req_id"]})
        """,
        (AUTH_REQ_ID,),
        ('"interval": 2', "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba"),
    ),
    "EC2 instance metadata's session token and credentials (botocore; trailing slashes)": Flow(
        {
            **IMDS,
            # The same paths with a trailing slash (another token: the first one, learned,
            # is replaced wherever it comes back).
            "/latest/api/token/": {"headers": {"Content-Type": "text/plain"}, "body": IMDS_TOKEN_2},
            f"{ROLE}/": IMDS[ROLE],
        },
        """
        from botocore.utils import InstanceMetadataFetcher

        fetcher = InstanceMetadataFetcher(timeout=5, num_attempts=1, base_url=URL)
        credentials = fetcher.retrieve_iam_role_credentials()
        assert credentials["role_name"] == "app-role"
        assert credentials["expiry_time"] == "2099-01-01T00:00:00Z"
        ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}
        token = requests.put(URL + "/latest/api/token/", headers=ttl).text
        role = URL + "/latest/meta-data/iam/security-credentials/app-role/"
        answer = requests.get(role, headers={"X-aws-ec2-metadata-token": token}).json()
        assert answer["Code"] == "Success" and answer["Token"]
        """,
        (IMDS_TOKEN, IMDS_TOKEN_2, "ASIA" + "Q7RZ2XLM4VB8NT3K", CLIENT_SECRET, SESSION),
        ("app-role", '"Code": "Success"', "/security-credentials/app-role/"),
    ),
    "a ticket in JSON that is a token, not a help desk's": Flow(
        {
            "/api2/json/access/ticket": {
                "headers": JSON,
                "body": json.dumps({"data": {"ticket": BARE_TICKET, "username": "ada@pve"}}),
            },
            "/helpdesk/4711": {
                "headers": JSON,
                "body": json.dumps({"ticket": {"id": 4711, "subject": "Printer jammed"}}),
            },
            "/jira/latest": {"headers": JSON, "body": json.dumps({"ticket": "SUP-1234"})},
        },
        f"""
        login = {{"username": "ada@pve", "password": "{USER_PASSWORD}"}}
        ticket = requests.post(URL + "/api2/json/access/ticket", data=login).json()["data"]["ticket"]
        requests.post(URL + "/api2/json/access/ticket/check", json={{"ticket": ticket}})
        assert requests.get(URL + "/helpdesk/4711").json()["ticket"]["id"] == 4711
        assert requests.get(URL + "/jira/latest").json()["ticket"] == "SUP-1234"
        """,
        (BARE_TICKET, USER_PASSWORD),
        ('"ticket": {"id": 4711, "subject": "Printer jammed"}', '"ticket": "SUP-1234"'),
    ),
    "a Ticket in any case (an ASP.NET API's JSON, a link's query)": Flow(
        {
            "/api/Account/Ticket": {
                "headers": JSON,
                "body": json.dumps({"Ticket": BARE_TICKET, "UserName": "ada"}),
            },
            "/api/Support/Latest": {"headers": JSON, "body": json.dumps({"Ticket": "SUP-1234"})},
        },
        f"""
        answer = requests.get(URL + "/api/Account/Ticket").json()
        assert answer["UserName"] == "ada" and answer["Ticket"]
        assert requests.get(URL + "/api/Support/Latest").json()["Ticket"] == "SUP-1234"
        assert requests.get(URL + "/lo/reset?Ticket={TICKET}").json()["method"] == "GET"
        """,
        (BARE_TICKET, TICKET),
        ('"Ticket": "SUP-1234"', '"UserName": "ada"'),
    ),
    "an API key named appid (OpenWeatherMap's), not an app's number": Flow(
        {},
        f"""
        weather = {{"q": "London", "APPID": "{WEATHER_KEY}"}}
        requests.get(URL + "/data/2.5/weather", params=weather)
        requests.get(URL + "/ISteamNews/GetNewsForApp/v2/", params={{"appid": "440"}})
        """,
        (WEATHER_KEY,),
        ("/data/2.5/weather?q=London&APPID=%3CSCRUBBED%3E", "/GetNewsForApp/v2/?appid=440"),
    ),
    "Heroku's config vars: Rails' SECRET_KEY_BASE": Flow(
        {
            "/apps/shop/config-vars": {
                "headers": JSON,
                "body": json.dumps({"SECRET_KEY_BASE": SECRET_KEY_BASE, "RACK_ENV": "production"}),
            }
        },
        """
        assert requests.get(URL + "/apps/shop/config-vars").json()["RACK_ENV"] == "production"
        """,
        (SECRET_KEY_BASE,),
        ('"RACK_ENV": "production"',),
    ),
    "Auth0's password-change ticket": Flow(
        {
            "/api/v2/tickets/password-change": {
                "status": 201,
                "headers": JSON,
                "body": json.dumps({"ticket": f"/lo/reset?ticket={TICKET}#"}),
            }
        },
        """
        ticket = requests.post(URL + "/api/v2/tickets/password-change", json={"user_id": "u1"})
        link = ticket.json()["ticket"]
        assert link.startswith("/lo/reset?ticket=")
        assert requests.get(URL + link).json()["method"] == "GET"
        requests.get(URL + "/helpdesk?ticket=4711")  # a help desk's ticket: an id
        requests.get(URL + "/helpdesk?ticket=TKT-20240115-ABC123")  # one with letters too
        """,
        (TICKET,),
        ("/helpdesk?ticket=4711", "/helpdesk?ticket=TKT-20240115-ABC123"),
    ),
    "one-time links' tokens in URL paths": Flow(
        {
            "/mailbox/latest": {
                "headers": JSON,
                "body": json.dumps(
                    {
                        "html": f'<a href="/auth/magic/{MAGIC}">Sign in</a>',
                        "verify": f"/verify-email/{VERIFY}",
                        "reset": f"/reset-password/MQ/{RESET}/",
                    }
                ),
            }
        },
        """
        import re

        mail = requests.get(URL + "/mailbox/latest").json()
        magic = re.search(r'href="([^"]+)"', mail["html"]).group(1)
        for link in (magic, mail["verify"], mail["reset"]):
            assert requests.get(URL + link).json()["method"] == "GET"  # matched on replay
        # An id, a slug, a word: no token.
        for path in ("/verify/12345", "/confirm/summer-sale-2024", "/reset/MQ/set-password/"):
            assert requests.get(URL + path).json()["path"] == path
        """,
        (MAGIC, VERIFY, RESET),
        ("/verify/12345", "/confirm/summer-sale-2024", "/reset/MQ/set-password/"),
    ),
    "a one-time link in PHP's JSON, its slashes escaped": Flow(
        {
            "/api/register": {
                "status": 201,
                "headers": JSON,
                # Laravel's answer: json_encode writes `/` as `\/`.
                "body": '{"verify_url":"\\/email\\/verify\\/42\\/' + EMAIL_HASH + '"}',
            }
        },
        """
        link = requests.post(URL + "/api/register").json()["verify_url"]
        assert link.startswith("/email/verify/42/")
        assert requests.get(URL + link).json()["method"] == "GET"  # matched on replay
        """,
        (EMAIL_HASH,),
        ("/email/verify/42/%3CSCRUBBED%3E",),
    ),
    "a browser's cookies in JSON (WebDriver's answer)": Flow(
        {
            "/session/s1/cookie": {
                "headers": JSON,
                "body": json.dumps(
                    {
                        "value": [
                            {
                                "name": "sessionid",
                                "value": ACCESS,
                                "path": "/",
                                "domain": "shop.test",
                                "secure": False,
                                "httpOnly": True,
                            }
                        ]
                    }
                ),
            }
        },
        """
        cookies = requests.get(URL + "/session/s1/cookie").json()["value"]
        assert cookies[0]["name"] == "sessionid" and cookies[0]["value"]
        """,
        (ACCESS,),
        ('"name": "sessionid"', '"domain": "shop.test"'),
    ),
    "a kubeconfig's client key (Rancher's generateKubeconfig)": Flow(
        {
            "/v3/clusters/c-1": {
                "headers": JSON,
                "body": json.dumps({"config": KUBECONFIG}),
            }
        },
        """
        import yaml

        answer = requests.post(URL + "/v3/clusters/c-1?action=generateKubeconfig").json()
        config = yaml.safe_load(answer["config"])
        assert config["users"][0]["user"]["client-key-data"]
        assert config["clusters"][0]["cluster"]["server"] == "https://k8s.test:6443"
        """,
        (CLIENT_KEY,),
        (CERTIFICATE, "server: https://k8s.test:6443"),
    ),
    "Azure App Service's identity header": Flow(
        {},
        f"""
        headers = {{"X-IDENTITY-HEADER": "{CLIENT_SECRET}"}}
        requests.get(URL + "/msi/token?resource=https://vault.azure.net", headers=headers)
        """,
        (CLIENT_SECRET,),
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


def test_cognito_srp_s_secret_block_replays_as_the_placeholder_s_base64(suite: Suite) -> None:
    # pycognito's SRP sign-in: Cognito's PASSWORD_VERIFIER challenge hands out a SECRET_BLOCK,
    # which pycognito base64-decodes into the claim it signs and sends back as
    # PASSWORD_CLAIM_SECRET_BLOCK. Both were recorded in the clear. (One answer serves both
    # calls: the server routes by path.)
    secret_block = base64.b64encode(b"cognito-srp-secret-block:" + bytes(range(64))).decode()
    answer = {
        "ChallengeName": "PASSWORD_VERIFIER",
        "ChallengeParameters": {
            "SALT": "5f3c9a",
            "SRP_B": "ab" * 64,
            "SECRET_BLOCK": secret_block,
            "USERNAME": "ada",
            "USER_ID_FOR_SRP": "ada",
        },
        "AuthenticationResult": {"AccessToken": ACCESS, "TokenType": "Bearer", "ExpiresIn": 60},
    }
    suite.server.route(
        "/", headers={"Content-Type": "application/x-amz-json-1.1"}, body=json.dumps(answer)
    )
    suite.write(
        f"""
        import boto3
        from pycognito.aws_srp import AWSSRP

        @pytest.mark.cassette
        def test_sign_in():
            keys = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
            idp = keys.client("cognito-idp", endpoint_url=URL, region_name="us-east-1")
            srp = AWSSRP("ada", "{USER_PASSWORD}", "us-east-1_Pool1", "c1", client=idp)
            tokens = srp.authenticate_user()
            assert tokens["AuthenticationResult"]["TokenType"] == "Bearer"
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert on_disk(suite.path / "cassettes", secret_block, ACCESS) == []
    text = recorded(suite, "test_sign_in")
    # The placeholder's base64: pycognito decodes it on replay, and sends it back.
    assert '"SECRET_BLOCK": "PFNDUlVCQkVEPg=="' in text
    assert '"PASSWORD_CLAIM_SECRET_BLOCK": "PFNDUlVCQkVEPg=="' in text
    assert base64.b64decode("PFNDUlVCQkVEPg==", validate=True) == b"<SCRUBBED>"
    assert '"SRP_B": "' + "ab" * 64 in text  # SRP's public values stay
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 2


@pytest.mark.parametrize("form", ["/v2/credentials/{}", "/v1/credentials?id={}"])
def test_an_ecs_container_s_credentials_uri_is_scrubbed_and_replays_in_another_task(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    # ECS hands a task its role's credentials at `/v2/credentials/<uuid>`, the agent's older
    # form at `/v1/credentials?id=<uuid>` (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI): the id is
    # all a caller needs, so it is a credential too; each task gets its own, and a replay in
    # another one still matches. An environment's dump shows the variable too.
    relative = form.format(CONTAINER_ID)
    dump = [
        "HOSTNAME=ip-10-0-1-23",
        f"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI={relative}",
        "AWS_REGION=eu-west-1",
    ]
    credentials = {
        "AccessKeyId": "ASIA" + "Q7RZ2XLM4VB8NT3K",
        "SecretAccessKey": CLIENT_SECRET,
        "Token": SESSION,
        "Expiration": "2099-01-01T00:00:00Z",
        "RoleArn": "arn:aws:iam::123456789012:role/app-task",
    }
    suite.server.route(relative.partition("?")[0], headers=JSON, body=json.dumps(credentials))
    suite.server.route("/debug/env", body="\n".join(dump) + "\n")
    suite.server.route("/containers/app/json", headers=JSON, body=json.dumps({"Env": dump}))
    suite.write(
        """
        from botocore.credentials import ContainerProvider

        @pytest.mark.cassette
        def test_task_role():
            # The dumps first: the id is not learned from the URI yet.
            assert "AWS_REGION=eu-west-1" in requests.get(URL + "/debug/env").text
            assert len(requests.get(URL + "/containers/app/json").json()["Env"]) == 3
            uri = URL + os.environ["TASK_CREDENTIALS_URI"]
            loaded = ContainerProvider({"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}).load()
            frozen = loaded.get_frozen_credentials()
            assert frozen.access_key.startswith("<SCRUBBED") or frozen.access_key.startswith("ASIA")
            assert frozen.token
        """
    )
    monkeypatch.setenv("TASK_CREDENTIALS_URI", relative)
    suite.run().assert_outcomes(passed=1)
    cassettes = suite.path / "cassettes"
    assert on_disk(cassettes, CONTAINER_ID, "ASIA" + "Q7RZ2XLM4VB8NT3K", CLIENT_SECRET) == []
    assert suite.uris("test_task_role")[2].endswith(form.format("%3CSCRUBBED%3E"))
    text = recorded(suite, "test_task_role")
    assert credentials["RoleArn"] in text
    assert f"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI={form.format('%3CSCRUBBED%3E')}" in text
    assert "HOSTNAME=ip-10-0-1-23\n" in text and '"AWS_REGION=eu-west-1"' in text
    monkeypatch.setenv("TASK_CREDENTIALS_URI", form.format("0b8e6f54-3c1a-4d2e-9f70-1a2b3c4d5e6f"))
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 3
