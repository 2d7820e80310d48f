"""Detectors: each well-known token format is found, ordinary text is not."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import pytest
import yaml

from pytest_cassettes.detect import (
    KINDS,
    NameMatcher,
    find_secrets,
    is_placeholder,
    looks_random,
    placeholder,
    redact,
)

DOCLING = Path("/work/shared/data/test_docling_source.yaml")

# Made-up values with the shape of real ones (none of them is a live credential).
GITHUB_CLASSIC = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8"
GITHUB_FINE = "github_pat_11ABCDEFG0123456789abc_" + "Zy9" * 19 + "Xw"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GOOGLE = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
OPENAI = "sk-proj-" + "Ab3dEf6hIj9lMn2pQr5tUv8xYz1BcD4fGh7"
OPENAI_LEGACY = "sk-" + "T3BlbkFJ" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9"
ANTHROPIC = "sk-ant-api03-" + "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA-_9x8"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)


def kinds(text: str) -> list[str]:
    return [finding.kind for finding in find_secrets(text)]


@pytest.mark.parametrize(
    ("kind", "secret", "context"),
    [
        ("github", GITHUB_CLASSIC, "token {} in text"),
        ("github", GITHUB_FINE, "export GH={}"),
        ("aws-access-key-id", AWS_KEY_ID, "<AccessKeyId>{}</AccessKeyId>"),
        ("aws-secret-key", AWS_SECRET, "<SecretAccessKey>{}</SecretAccessKey>"),
        ("aws-secret-key", AWS_SECRET, "aws_secret_access_key = {}"),
        ("aws-secret-key", AWS_SECRET, '{{"SecretAccessKey": "{}"}}'),
        ("google-api-key", GOOGLE, "https://maps.googleapis.com/maps/api/js?k={}&v=3"),
        ("openai", OPENAI, "using {} now"),
        ("openai", OPENAI_LEGACY, "using {} now"),
        ("anthropic", ANTHROPIC, "using {} now"),
        ("slack", SLACK, "slack {}"),
        ("stripe", STRIPE, "stripe {}"),
        ("jwt", JWT, '{{"data": "{}"}}'),
        ("pem-private-key", PEM, "key:\n{}\nafter"),
        ("bearer", "0a1b2c3d4e5f6a7b8c9d0e1f", "echo: Authorization: Bearer {}"),
        ("basic-auth", base64.b64encode(b"user:pa55word").decode(), "Basic {}"),
        ("url-password", "s3cr3tpw", "postgres://app:{}@db.internal:5432/app"),
        (
            "telegram-bot-token",
            "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9",
            "https://api.telegram.org/bot123456789:{}/getMe",
        ),
        (
            "slack-webhook",
            "aB3dE5gH7jK9mN1pQ3sT5vX7",
            "https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/{}",
        ),
        (
            "slack-webhook",
            "aB3dE5gH7jK9mN1pQ3sT5vX7",
            "https://hooks.slack.com/workflows/T0A1B2C3D/A0A1B2C3D/4711/{}",
        ),
        (
            "discord-webhook",
            "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7" * 2,
            "https://discord.com/api/webhooks/1234567890123456789/{}?wait=true",
        ),
        (
            "teams-webhook",
            "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "https://acme.webhook.office.com/webhookb2/x@y/IncomingWebhook/{}/z",
        ),
        # Its first part is the bot's id (digits) in base64.
        (
            "discord-bot-token",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2U",
            '{{"DISCORD": "{}"}}',
        ),
        (
            "discord-bot-token",
            "OTk5ODg4Nzc3NjY2NTU1NDQ0.Yx9_Qz.AbCdEfGhIjKlMnOpQrStUv-wxyz01",
            "{} !",
        ),
        # Formats gitleaks' and trufflehog's rules know that ours did not.
        ("deepseek", "sk-" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c", "Bearer-less {} in a log"),
        ("twilio", "SK" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c", '{{"sid": "{}"}}'),
        ("alibaba", "LTAI" + "5tQ7rT2xZp4Lw9Xs8Nc1", "AccessKeyId={}&Action=x"),
        ("mailchimp", "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c-us21", "apikey {}"),
        (
            "dynatrace",
            "dt0c01." + "ABCDEFGHIJ0123456789KLMN." + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c" * 2,
            "Api-Token {}",
        ),
        ("pulumi", "pul-" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c3f6b8e2d", "{}"),
        ("prefect", "pnu_" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua4817", "{}"),
        ("tavily", "tvly-" + "dev-" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua", "{}"),
        ("gitlab", "glpat-AbCdEf0123456789xyzw", "PRIVATE-TOKEN: {}"),
        ("huggingface", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", '{{"note": "{}"}}'),
        ("groq", "gsk_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGh", "k={}"),
        ("sendgrid", "SG.AbCdEfGhIjKlMnOpQrStUv.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd", "{}"),
        ("npm", "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "//registry/:_authToken={}"),
        ("pypi", "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWlqa2wtbW5vcC1xcnN0LXV2d3h5ejAx", "{}"),
        ("google-oauth", "ya29.a0AfB_byC1d2E3f4G5h6I7j8K9l0", "token {} here"),
        ("google-oauth", "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", "secret {}"),
        (
            "google-session",
            "g.a000" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl8Qn3Mx6Cv1B-z5Wt_0E",
            '{{"name": "LSID", "val": "{}"}}',
        ),
        (
            "google-session",
            "sidts-" + "CjEB3EgAEq7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9K",
            "s='{}';",
        ),
        ("databricks", "dapi0123456789abcdef0123456789abcdef", "{}"),
        ("shopify", "shpat_0123456789abcdef0123456789abcdef", "{}"),
        # In free text: a log line, an error body, a JSON value under a harmless key.
        (
            "contentful",
            "CFPAT-" + "q7Rk2Lw9_Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga-Ye7Ui2Ko9P",
            "401 for {} (expired)",
        ),
        (
            "postman",
            "PMAK-" + "5f8a2c9e1b7d4f60a3e8c2b1-" + "9d4e7a1c3f6b8e2d5a0c9f7e1b4d6a8c3e",
            "{}",
        ),
        ("tailscale", "tskey-auth-" + "kQ7rT2xCNTRL-Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt", "joined with {}."),
        ("new-relic", "NRAK-" + "7Q2W9E4R1T6Y3U8I5O0P2A4S6D8", "key={} ok"),
        ("new-relic", "NRII-" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga_", '{{"message": "{}"}}'),
        ("figma", "figd_" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua-Be8Gi3O", "<td>{}</td>"),
        (
            "square",
            "EAAA" + "l7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl8Qn3Mx6Cv1Bz5Wt0E",
            "t: {}",
        ),
        ("square", "sq0csp-" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua-Be8Gi3Ox", "{}"),
        (
            "facebook",
            "EAAB" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl" * 3,
            "token {} expired",
        ),
        (
            "facebook",
            "EAAG" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl" * 4,
            '{{"note": "{}"}}',
        ),
        ("facebook", "EAAG" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl" * 4, "/me?t={}&f=id"),
        ("mapbox", "sk.eyJ1IjoiYWNtZSIsImEiOiJjbHg3" + ".Zp4Lw9Xs8Nc1Vb6Hm3Jd5F", "{}"),
        ("openrouter", "sk-or-v1-" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c" * 2, "with {}:"),
        ("heroku", "HRKU-AA" + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl8Qn3Mx6Cv1Bz5Wt", "{}"),
        ("flyio", "fm2_" + "lJPECAAAAAAAAVz2xQ9+Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga/" * 3, "FlyV1 {}"),
        ("supabase", "sbp_" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c3f6b8e2d", "{}"),
        ("render", "rnd_" + "jQ7rT2xZp4Lw9Xs8Nc1Vb6Hm3Jd5", "{}"),
        ("netlify", "nfp_" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua4817", "{}"),
        ("resend", "re_" + "Zp4Lw9Xs_8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua", "send with {} failed"),
        ("pinecone", "pcsk_" + "3Ui7d2_" + "Zp4Lw9Xs8Nc1Vb6Hm3Jd5Fq2Rt7Ky0Ua" * 2, "{}"),
        ("elevenlabs", "sk_" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c3f6b8e2d5a0c9f7e", "{}"),
        ("langsmith", "lsv2_pt_" + "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c_3f6b8e2d5a", "{}"),
        ("high-entropy", "Zq8xW2kP9mR4tY7uV1nB3cL6", '{{"client_secret": "{}"}}'),
        ("high-entropy", "Zq8xW2kP9mR4tY7uV1nB3cL6", "password=Zq8xW2kP9mR4tY7uV1nB3cL6&x=1"),
        ("high-entropy", "Zq8xW2kP9mR4tY7uV1nB3cL6", r"'{\"api_key\": \"{}\"}'"),
    ],
)
def test_detector_finds_the_secret_and_only_the_secret(kind: str, secret: str, context: str):
    text = context.replace("{}", secret).replace("{{", "{").replace("}}", "}")
    findings = find_secrets(text)
    assert [f.kind for f in findings] == [kind]
    assert text[findings[0].start : findings[0].end] == secret
    redacted, count = redact(text)
    assert count == 1
    assert secret not in redacted
    assert placeholder(kind) in redacted


@pytest.mark.parametrize(
    "text",
    [
        f"https://api.example.com/users/{uuid.UUID(int=0x1234567890ABCDEF1234567890ABCDEF)}",
        f"commit {hashlib.sha256(b'x').hexdigest()} and {hashlib.sha1(b'y').hexdigest()}",
        f"https://github.com/o/r/blob/{hashlib.sha1(b'z').hexdigest()}/README.md",
        '{"sha256": "' + hashlib.sha256(b"file").hexdigest() + '", "id": 123456789}',
        '<img src="data:image/png;base64,'
        + base64.b64encode(bytes(range(256)) * 4).decode()
        + '" alt="chart">',
        '<div class="sk-fading-circle-container-element"><p>Hello</p></div>',
        "He was the bearer of bad news, and the token of our esteem was a secret.",
        '{"token_type": "bearer", "expires_in": 3600, "max_tokens": 1024}',
        '{"password": "<SCRUBBED>", "token": "<SCRUBBED:github>", "key": "<OPENAI_API_KEY>"}',
        "Authorization: Bearer <SCRUBBED>",
        "https://user:%3CSCRUBBED%3E@example.com/",
        '{"password": "aaaaaaaaaaaaaaaaaaaaaaaa"}',
        '{"checksum": "Zq8xW2kP9mR4tY7uV1nB3cL6"}',
        '{"next_page_token": "Zq8xW2kP9mR4tY7uV1nB3cL6"}',
        "Basic authentication is required for this endpoint",
        "integrity='sha256-Z6b7bjMInLKehWvMldeqOfcASaQrEjEFUxJloNnxJYs='",
        # Masks and examples of service tokens, and their prefixes inside longer words.
        "export HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx GITLAB=glpat-xxxxxxxxxxxxxxxxxxxx",
        "from huggingface_hub import hf_hub_download_with_a_long_helper_name",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "bot id 123456789: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA (all A)",
        "https://example.com/services/Team/Bots/theirhelpfulpageaboutwebhooks",
        '{"path": "/cache/key-d41d8cd98f00b204e9800998ecf8427e"}',
        "model = hf_XLMRobertaForSequenceClassification2",
        # Discord's shape, but the first part is no id in base64 (a word, base64 of letters).
        "MyVeryLongClassNameForTests.method.q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga",
        "TWFueSBoYW5kcyBtYWtlIGxpZ2h0.GaBcDe.q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2U",
        "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GaBcDe.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        # Their prefixes in words and hashes: a task's id, a hash list, a region's name.
        "task-5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c and ASK5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c",
        "5f8a2c9e1b7d4f60a3e8c2b19d4e7a1c3f6b8e2d5a0c9f7e-us21 us-east-1 5f8a2c9e-us2",
        "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx pul-request tvly-your-api-key-here-please",
        # Prefixes of service tokens followed by words, and their placeholders.
        "re_run the job; re_compile_the_pattern_for_the_second_time; rnd_seed = 42",
        "see sk.example and sk.eyJ; sk_buff is a struct; figd_ is a prefix",
        "export RENDER_API_KEY=rnd_xxxxxxxxxxxxxxxxxxxxxxxxxxxx NETLIFY_AUTH_TOKEN=nfp_YOUR_TOKEN_HERE",
        "use lsv2_pt_your_langsmith_api_key_here, tskey-auth-xxxxx or PMAK-xxxx",
        "rnd_XavierUniformInitializer2Weights and EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "sk-or-v1-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        # A binary file's base64 (an executable's: small numbers, so many A's): `EAA` after
        # base64's `/` or `+` runs on to the next one as Square's and Facebook's tokens do.
        '{"content": "AAAAAAB/EAAAAAABVQVdBVkFVQVRTUInxi1cISq7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0GqXy2+AAAA"}',
        "AAAA+EAAPhTYEAABNhf8PhC0EAABJwecEMc"
        + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl" * 3
        + "/A",
        # A JSON string of base64 that starts with `EAA` (a protobuf's first field): its run
        # of letters and digits ends at base64's `+`, `/` or `=` padding, no token's does.
        '{"data": "EAAH'
        + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl" * 3
        + '+Vb6H/m3Jd5Fs0Gw=="}',
        '{"data": "EAAH' + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl" * 3 + 'w=="}',
        '{"data": "EAAA'
        + "q7Rk2Lw9Xp4Tz8Nc1Vb6Hm3Jd5Fs0Ga7Ye2Ui9Ko4Pl8Qn3Mx6Cv1Bz5Wt0E"
        + '+/w="}',
        # ... or runs to the string's end holding zero bytes' `AAAA` twice, as no token does.
        '{"data": "EAAPEYQkgAAAAEyLRCRoSIuUJAgBAABMiwpIi4QkkAAAAEiLnCSYAAAASIuMJKAAAABIi7wkqAAAA'
        + 'EiLtCSwAAAATIkEJA8QRCRwDxFEJAgP"}',
    ],
)
def test_ordinary_text_is_not_a_secret(text: str):
    assert find_secrets(text) == []
    assert redact(text) == (text, 0)


def test_docling_cassette_text_is_clean():
    text = DOCLING.read_text(encoding="utf-8")
    assert find_secrets(text) == []
    body = yaml.safe_load(text)["interactions"][0]["response"]["body"]["string"]
    assert len(body) > 100_000  # the real HTML page, not an empty placeholder
    assert find_secrets(body) == []


def test_pem_block_is_redacted_whole_and_a_truncated_header_still_counts():
    redacted, count = redact(f"before\n{PEM}\nafter")
    assert count == 1
    assert redacted == "before\n<SCRUBBED:pem-private-key>\nafter"
    assert kinds("-----BEGIN PRIVATE KEY-----") == ["pem-private-key"]
    # As stored in a JSON string: escaped newlines.
    assert kinds('{"pem": "' + PEM.replace("\n", "\\n") + '"}') == ["pem-private-key"]
    # Two keys, then a truncated one: each block whole, the text between kept.
    truncated = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n</pre>"
    redacted, count = redact(f"{PEM}\nmiddle\n{PEM}\n{truncated}")
    assert count == 3
    assert redacted == (
        "<SCRUBBED:pem-private-key>\nmiddle\n<SCRUBBED:pem-private-key>\n"
        "<SCRUBBED:pem-private-key></pre>"
    )


@pytest.mark.parametrize("offset", [0, 65530, 65533, 65536, 3 * 65536 - 2])
def test_an_aws_secret_key_is_found_anywhere_in_a_large_text(offset: int):
    # The word that lets the detector run is looked for piece by piece, across their edges.
    key = f"SeCrEt_Access_Key = {AWS_SECRET}"
    text = "x " * (offset // 2) + " " * (offset % 2) + key + " y" * 100_000
    assert [(f.kind, text[f.start : f.end]) for f in find_secrets(text)] == [
        ("aws-secret-key", AWS_SECRET)
    ]


def test_overlapping_detectors_give_one_finding():
    # A JWT after "Bearer" is both; it is reported once, as the more specific kind.
    assert kinds(f"Authorization: Bearer {JWT}") == ["jwt"]


def test_several_secrets_are_all_found_in_order():
    text = f"a {GITHUB_CLASSIC} b {STRIPE} c {AWS_KEY_ID}"
    assert kinds(text) == ["github", "stripe", "aws-access-key-id"]
    redacted, count = redact(text)
    assert count == 3
    assert redacted == "a <SCRUBBED:github> b <SCRUBBED:stripe> c <SCRUBBED:aws-access-key-id>"


def test_redact_is_idempotent():
    once, count = redact(f"{GITHUB_CLASSIC} password={'Zq8xW2kP9mR4tY7uV1nB3cL6'}")
    assert count == 2
    assert redact(once) == (once, 0)


def test_excluded_kinds_are_skipped():
    assert [f.kind for f in find_secrets(JWT, exclude={"jwt"})] == []
    assert [f.kind for f in find_secrets(JWT)] == ["jwt"]


def test_kinds_lists_every_detector():
    assert set(KINDS) >= {"github", "jwt", "pem-private-key", "high-entropy", "openai"}
    assert len(KINDS) == len(set(KINDS))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<SCRUBBED>", True),
        ("<SCRUBBED:github>", True),
        ("<OPENAI_API_KEY>", True),
        ("%3CSCRUBBED%3E", True),
        (" <SCRUBBED> ", True),
        ("Bearer <SCRUBBED>", False),
        ("secret", False),
        ("", False),
        ("<SCRUBBED>x", False),
    ],
)
def test_is_placeholder(value: str, expected: bool):
    assert is_placeholder(value) is expected


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "PROXY-AUTHORIZATION",
        "x-api-key",
        "X-Goog-Api-Key",
        "X-Amz-Security-Token",
        "api_key",
        "apiKey",
        "API-KEY",
        "accessToken",
        "client_secret",
        "user[password]",
        "credentials.private_key",
        "Ocp-Apim-Subscription-Key",
        "passwd",
    ],
)
def test_default_names_are_sensitive(name: str):
    assert NameMatcher()(name)


@pytest.mark.parametrize(
    "name",
    ["Content-Type", "keyboard", "max_tokens", "token_type", "page_token", "nextToken", "id"],
)
def test_ordinary_names_are_not_sensitive(name: str):
    assert not NameMatcher()(name)


def test_name_matcher_extra_and_exempt():
    matcher = NameMatcher(extra=["x-*-id"], exempt=["x-csrf-token"])
    assert matcher("X-Tenant-Id")
    assert not matcher("X-CSRF-Token")
    assert matcher("X-Auth-Token")


def test_looks_random():
    assert looks_random("Zq8xW2kP9mR4tY7uV1nB3cL6")
    assert not looks_random("aaaaaaaaaaaaaaaaaaaa1")
    assert not looks_random("short1A")
    assert not looks_random("only-letters-here-and-there")
