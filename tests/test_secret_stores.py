"""Secret stores' shapes the name rules miss, recorded from a server on 127.0.0.1 that answers as
the service does, with the service's own client where one installs (boto3, hvac): nothing secret
reaches disk, and what the client reads on replay still has the shape it decodes."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

# Imported here so that pytester's in-process runs find them loaded (pytester restores
# sys.modules after each run; the session's patches hold the first import's classes).
import boto3  # noqa: F401
import hvac  # noqa: F401
import pytest

from pytest_cassettes.cli import main
from tests.conftest import Suite

PASSWORD = "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1"


def serve_json(
    suite: Suite, path: str, document: object, content_type: str = "application/json"
) -> None:
    """The server answers `document` as JSON at `path`."""
    suite.server.route(path, headers={"Content-Type": content_type}, body=json.dumps(document))


def on_disk(root: Path, *secrets: str) -> list[str]:
    """The secrets (and their base64) found in the files under root."""
    found = []
    forms = {s: (s.encode(), base64.b64encode(s.encode())) for s in secrets}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s}" for s, f in forms.items() if any(x in data for x in f)]
    return found


def test_an_ecr_login_token_replays_as_aws_and_the_placeholder(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    # ECR's authorizationToken is base64 of `AWS:<password>` (a docker login): scrubbed as
    # `<SCRUBBED>` it decoded on replay to six bytes of garbage with no `:` in them.
    token = base64.b64encode(f"AWS:{PASSWORD}".encode()).decode()
    private = {
        "authorizationData": [
            {
                "authorizationToken": token,
                "expiresAt": 1767225600.0,
                "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            }
        ]
    }
    public = {"authorizationData": {"authorizationToken": token, "expiresAt": 1767225600.0}}
    for path, answer in (("/ecr", private), ("/ecr-public", public)):
        serve_json(suite, path, answer, "application/x-amz-json-1.1")
    suite.write(
        """
        import base64
        import pathlib

        import boto3

        def client(service, path):
            return boto3.client(
                service,
                region_name="us-east-1",
                endpoint_url=URL + path,
                aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )

        @pytest.mark.cassette
        def test_login():
            data = client("ecr", "/ecr").get_authorization_token()["authorizationData"][0]
            public = client("ecr-public", "/ecr-public").get_authorization_token()
            logins = []
            for token in (data["authorizationToken"], public["authorizationData"]["authorizationToken"]):
                user, password = base64.b64decode(token).decode().split(":")
                logins.append(f"{user}:{password}")
            pathlib.Path("logins.txt").write_text(" ".join(logins))
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert (suite.path / "logins.txt").read_text() == f"AWS:{PASSWORD} AWS:{PASSWORD}"
    assert on_disk(suite.path / "cassettes", PASSWORD, token) == []
    placeholder = base64.b64encode(b"AWS:<SCRUBBED>").decode()
    answers = [
        json.loads(i["response"]["body"]["string"])["authorizationData"]
        for i in suite.cassette("test_login")["interactions"]
    ]
    assert answers[0][0]["authorizationToken"] == placeholder
    assert answers[1]["authorizationToken"] == placeholder
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "logins.txt").read_text() == "AWS:<SCRUBBED> AWS:<SCRUBBED>"
    # The placeholder's base64 after a sensitive name is no high-entropy secret to `scan`.
    assert main(["scan", str(suite.cassette_path("test_login"))]) == 0, capsys.readouterr().out


DOPPLER = {
    "STRIPE": "rk_" + "live_51Hq2w9E4r1T6y3U8iO0pA",
    "ALGOLIA": "a7f3c9e1b5d24f6a8c0e2b4d6f8a1c3e",
    "DATABASE": "postgres://app:" + PASSWORD + "@db.internal:5432/app",
    "USER": "deploy-bot",
    "MOTD": "line one\nline two",
}


@pytest.mark.parametrize(
    ("doppler_format", "content_type"),
    [("json", "application/json"), ("env", "text/plain"), ("yaml", "text/yaml")],
)
def test_a_doppler_download_loses_every_value_whatever_its_name(
    suite: Suite, doppler_format: str, content_type: str
) -> None:
    # Doppler's secrets/download answers a config's secrets as a file of the format asked for,
    # their names the user's own: names decided, and STRIPE, ALGOLIA and USER reached disk.
    if doppler_format == "json":
        body = json.dumps(DOPPLER)
    elif doppler_format == "env":
        body = "".join(f"{k}={json.dumps(v)}\n" for k, v in DOPPLER.items())
    else:  # Doppler's YAML: a value over several lines as a block scalar
        body = "".join(
            f"{k}: {v!r}\n"
            if "\n" not in v
            else f"{k}: |-\n    " + v.replace("\n", "\n    ") + "\n"
            for k, v in DOPPLER.items()
        )
    suite.server.route(
        "/v3/configs/config/secrets/download", headers={"Content-Type": content_type}, body=body
    )
    suite.write(
        f"""
        import pathlib

        @pytest.mark.cassette
        def test_download():
            answer = requests.get(
                URL + "/v3/configs/config/secrets/download",
                params={{"project": "web", "config": "prd", "format": {doppler_format!r}}},
                headers={{"Authorization": "Bearer dp.st.prd.Xk2j3h4k5l6m7n8b9v0c1x2z3a4s5d6f"}},
            )
            pathlib.Path("got.txt").write_text(answer.text)
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert (suite.path / "got.txt").read_text() == body
    assert on_disk(suite.path / "cassettes", *DOPPLER.values(), "line two") == []
    recorded = suite.cassette("test_download")["interactions"][0]["response"]["body"]["string"]
    if doppler_format == "json":
        assert json.loads(recorded) == dict.fromkeys(DOPPLER, "<SCRUBBED>")
    else:
        names = [
            line.split("=" if doppler_format == "env" else ":")[0] for line in recorded.splitlines()
        ]
        assert names == list(DOPPLER)
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    assert (suite.path / "got.txt").read_text() == recorded


def vault_answer(data: object, lease_duration: int = 0) -> str:
    """Vault's envelope around an answer's data."""
    return json.dumps(
        {
            "request_id": "5e7f0c1a-0000-4000-8000-000000000000",
            "lease_id": "",
            "renewable": False,
            "lease_duration": lease_duration,
            "data": data,
            "wrap_info": None,
            "warnings": None,
            "auth": None,
            "mount_type": "kv",
        }
    )


def test_vault_writes_without_its_headers_and_kv_v1_elsewhere_do_not_reach_disk(
    suite: Suite,
) -> None:
    # hvac sends X-Vault-Token and X-Vault-Request, but not to an agent or a proxy that logs
    # in for it (no token, request_header=False): a KV v2 write, a cubbyhole's and transit's
    # plaintext reached disk whole then; and KV v1 mounted elsewhere than secret/ or kv/ did
    # with the headers too. Each write sends its own secret (one read back would be learned).
    secrets = [f"{PASSWORD}-{i}" for i in range(5)]
    plaintext = base64.b64encode(secrets[4].encode()).decode()
    written = {"created_time": "2024-01-01T00:00:00Z", "deletion_time": "", "version": 1}
    answers = {
        "/v1/team/app": vault_answer({"db_conn": secrets[0], "region": "eu-west-1"}, 2764800),
        "/v1/secret/data/app": vault_answer(written),
        "/v1/cubbyhole/app": "",
        "/v1/transit/encrypt/app": vault_answer({"ciphertext": "vault:v1:8SDd3WHDOjf7mq69"}),
    }
    for path, answer in answers.items():
        suite.server.route(path, headers={"Content-Type": "application/json"}, body=answer)
    # Ordinary JSON with a `data`, beside Vault's: kept as it was.
    ordinary = {
        "/v1/articles": {"data": {"type": "articles", "attributes": {"title": "Q3"}}},
        "/v1/reports/data/q3": {"data": {"rows": "Xk2j3h4k5l6m"}, "format": "csv"},
        "/api/items": {"data": {"db_conn": "kept-Xk2j3h4k5l6m"}, "options": {}},
    }
    for path in ordinary:
        serve_json(suite, path, {})
    suite.write(
        f"""
        import hvac

        SECRETS = {secrets!r}
        ORDINARY = {ordinary!r}

        @pytest.mark.cassette
        def test_vault():
            client = hvac.Client(url=URL, token="hvs." + "a" * 24)
            client.secrets.kv.v1.create_or_update_secret(
                "app", secret={{"db_conn": SECRETS[1], "region": "eu-west-1"}}, mount_point="team"
            )
            read = client.secrets.kv.v1.read_secret("app", mount_point="team")
            assert read["data"]["db_conn"] in (SECRETS[0], "<SCRUBBED>")
            agent = hvac.Client(url=URL, request_header=False)  # Vault Agent logs in for it
            agent.secrets.kv.v2.create_or_update_secret("app", secret={{"db_conn": SECRETS[2]}})
            agent.write_data("cubbyhole/app", data={{"db_conn": SECRETS[3]}})
            agent.secrets.transit.encrypt_data("app", plaintext={plaintext!r})
            for path, body in ORDINARY.items():
                requests.post(URL + path, json=body)
        """
    )
    suite.run().assert_outcomes(passed=1)
    sent = b"".join(r.body for r in suite.server.requests)
    assert all(s.encode() in sent for s in secrets[1:4]) and plaintext.encode() in sent
    assert on_disk(suite.path / "cassettes", *secrets) == []
    interactions = suite.cassette("test_vault")["interactions"]
    bodies = {
        i["request"]["uri"].split("/", 3)[3]: json.loads(i["request"]["body"])
        for i in interactions
        if i["request"]["body"]
    }
    assert bodies["v1/team/app"] == {"db_conn": "<SCRUBBED>", "region": "<SCRUBBED>"}
    assert bodies["v1/secret/data/app"] == {"options": {}, "data": {"db_conn": "<SCRUBBED>"}}
    assert bodies["v1/cubbyhole/app"] == {"db_conn": "<SCRUBBED>"}
    assert bodies["v1/transit/encrypt/app"]["plaintext"] == "PFNDUlVCQkVEPg=="
    for path, body in ordinary.items():
        assert bodies[path[1:]] == body
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0


def test_gitea_s_multi_file_commit_and_consul_s_transactions_do_not_reach_disk(
    suite: Suite,
) -> None:
    # Gitea's POST /repos/{owner}/{repo}/contents sends each file's base64 content in `files`,
    # Consul's /v1/txn each KV operation's base64 Value: both reached disk whole (the
    # answers' contents were read, what was sent was not).
    dotenv = f"DB_HOST=db.internal\nDB_PASSWORD={PASSWORD}-env\n".encode()
    config = json.dumps({"db": {"host": "db.internal", "password": f"{PASSWORD}-json"}}).encode()
    raw = f"{PASSWORD}-raw".encode()
    b64 = {
        name: base64.b64encode(data).decode()
        for name, data in (("env", dotenv), ("json", config), ("raw", raw))
    }
    files = {
        "files": [
            {
                "name": ".env",
                "path": "deploy/.env",
                "type": "file",
                "encoding": "base64",
                "content": b64["env"],
                "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
            }
        ],
        "commit": {"sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "message": "config\n"},
    }
    serve_json(suite, "/api/v1/repos/acme/app/contents", files)
    kv = [
        {"LockIndex": 0, "Key": key, "Flags": 0, "Value": value, "CreateIndex": 7, "ModifyIndex": 7}
        for key, value in (("app/.env", None), ("app/config.json", b64["json"]))
    ]
    serve_json(suite, "/v1/txn", {"Results": [{"KV": entry} for entry in kv], "Errors": None})
    suite.write(
        f"""
        import base64
        import json

        B64 = {b64!r}

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_commit():
            gitea = {{"Authorization": "token " + "0123456789abcdef" * 2 + "abcdefgh"}}
            answer = requests.post(URL + "/api/v1/repos/acme/app/contents", headers=gitea, json={{
                "branch": "main",
                "message": "config",
                "files": [
                    {{"operation": "create", "path": "deploy/.env", "content": B64["env"]}},
                    {{"operation": "update", "path": "config/app.json", "content": B64["json"],
                     "sha": "95d9c02c1e3b5c1f6a1e1c0f8d3f5a2b7c9e0d1f"}},
                    {{"operation": "delete", "path": "old.txt", "sha": "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"}},
                ],
            }})
            assert answer.json()["files"][0]["name"] == ".env"
            txn = [
                {{"KV": {{"Verb": "set", "Key": "app/.env", "Value": B64["env"]}}}},
                {{"KV": {{"Verb": "cas", "Key": "db/password", "Value": B64["raw"], "Index": 6}}}},
                {{"KV": {{"Verb": "get", "Key": "app/config.json"}}}},
            ]
            results = requests.put(URL + "/v1/txn", data=json.dumps(txn)).json()["Results"]
            config = json.loads(base64.b64decode(results[1]["KV"]["Value"]))
            print("READ", config["db"]["host"])
        """
    )
    result = suite.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*READ db.internal"])
    secrets = [f"{PASSWORD}-env", f"{PASSWORD}-json", f"{PASSWORD}-raw", *b64.values()]
    assert on_disk(suite.path / "cassettes", *secrets) == []
    interactions = suite.cassette("test_commit")["interactions"]
    sent = json.loads(interactions[0]["request"]["body"])["files"]
    assert base64.b64decode(sent[0]["content"]) == b"DB_HOST=db.internal\nDB_PASSWORD=<SCRUBBED>\n"
    assert json.loads(base64.b64decode(sent[1]["content"]))["db"]["password"] == "<SCRUBBED>"
    txn = json.loads(interactions[1]["request"]["body"])
    assert base64.b64decode(txn[0]["KV"]["Value"]).endswith(b"DB_PASSWORD=<SCRUBBED>\n")
    assert base64.b64decode(txn[1]["KV"]["Value"]) == b"<SCRUBBED>"
    suite.server.reset()
    result = suite.run("-s", "--record-mode=none")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*READ db.internal"])
    assert suite.server.hits == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="reads the PFX with openssl")
def test_a_key_vault_pfx_replays_as_a_placeholder_pfx_a_client_can_load(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    # A certificate's secret in Key Vault (contentType application/x-pkcs12) is a base64 PFX
    # holding its private key: sent (set_secret, a certificate's import) it reached disk whole,
    # and answered by a vault outside Azure's public cloud too (its id .vault.azure.cn).
    pfx = base64.b64encode(b"0\x82\x09\xb1\x02\x01\x03" + PASSWORD.encode() * 8).decode()
    bundle = {
        "value": pfx,
        "contentType": "application/x-pkcs12",
        "id": "https://acme.vault.azure.cn/secrets/web/4387e9f3d6e14c459867679a90fd0f79",
        "kid": "https://acme.vault.azure.cn/keys/web/4387e9f3d6e14c459867679a90fd0f79",
        "managed": True,
        "attributes": {"enabled": True, "created": 1700000000, "recoveryLevel": "Recoverable"},
    }
    serve_json(suite, "/secrets/web", bundle)
    certificate = {
        "id": "https://acme.vault.azure.cn/certificates/web/4387e9f3d6e14c459867679a90fd0f79",
        "x5t": "fLi3U52HunIVNXubkEnf8tP6Wbo",
        "cer": "MIICODCCAeagAwIBAgIQqHmpBAv+CY9IJFoUhlbziTAJBgUrDgMCHQUAMBYxFDASBgNV",
        "policy": {"secret_props": {"contentType": "application/x-pkcs12"}},
    }
    serve_json(suite, "/certificates/web/import", certificate)
    suite.write(
        f"""
        import base64
        import pathlib

        PFX = {pfx!r}
        VERSION = {{"api-version": "7.4"}}

        @pytest.mark.cassette(match_on=["method", "uri", "body"])
        def test_certificate():
            sent = {{"value": PFX, "contentType": "application/x-pkcs12"}}
            requests.put(URL + "/secrets/web", params=VERSION, json=sent)
            imported = requests.post(URL + "/certificates/web/import", params=VERSION, json={{
                "value": PFX,
                "pwd": "import-Xk2j3h4k5l6m",
                "policy": {{"secret_props": {{"contentType": "application/x-pkcs12"}}}},
            }}).json()
            assert imported["x5t"] == "fLi3U52HunIVNXubkEnf8tP6Wbo"
            secret = requests.get(URL + "/secrets/web", params=VERSION).json()
            pathlib.Path("got.pfx").write_bytes(base64.b64decode(secret["value"]))
        """
    )
    suite.run().assert_outcomes(passed=1)
    assert (suite.path / "got.pfx").read_bytes() == base64.b64decode(pfx)
    assert on_disk(suite.path / "cassettes", PASSWORD, pfx, "import-Xk2j3h4k5l6m") == []
    suite.server.reset()
    suite.run("--record-mode=none").assert_outcomes(passed=1)
    assert suite.server.hits == 0
    # What the client reads on replay is a PFX without a password: a throwaway key and its
    # self-signed certificate, named SCRUBBED.
    read = subprocess.run(
        ["openssl", "pkcs12", "-in", str(suite.path / "got.pfx"), "-nodes", "-passin", "pass:"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "subject=CN = SCRUBBED" in read.stdout or "subject=CN=SCRUBBED" in read.stdout
    assert "-----BEGIN PRIVATE KEY-----" in read.stdout
    path = suite.cassette_path("test_certificate")
    assert main(["scan", str(path)]) == 0, capsys.readouterr().out
