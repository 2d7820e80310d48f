"""What secret stores and file APIs answer and are sent, by the shape of a JSON document (and
its request's URL): the values that are secrets whatever their names (a Vault KV secret's data,
Doppler's, a 1Password concealed field's), and the strings that are base64 (a file's contents
from GitHub's or GitLab's API, Consul's values, Vault transit's plaintext, an ECR login, a Key
Vault certificate's PFX), which scrub.py decodes to scrub. Paths are lower-case keys from the
document's number (JSON lines)."""

from __future__ import annotations

import base64
import binascii
import functools
import pathlib
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from pytest_cassettes.detect import SCRUBBED, is_placeholder
from pytest_cassettes.scrub_shared import lazy_regex
from pytest_cassettes.streams import Path

__all__ = [
    "CREDENTIALS",
    "DOWNLOAD_LINE",
    "PKCS12",
    "SHAPED",
    "STORE_HINT",
    "Found",
    "RequestShape",
    "pkcs12_placeholder",
    "request_paths",
    "response_paths",
    "store_paths",
]

# Each alternative starts with a literal: a search tries few positions (see detect.py); the
# quoted names share their quote, which a search tries once (half the time of one each).
STORE_HINT = lazy_regex(
    r'"(?:lease_duration|deletion_time|dataCrc32c|computed|CONCEALED|TOTP|OTP|SSHKEY|PASSWORD'
    r'|organizationId|encoding|LockIndex|SecretBinary|privateKeyData|authorizationToken|Verb)"'
    r'|"masked"\s*:\s*true|/secrets/|/x-pkcs12"'
    r'|keys_base64"'  # Vault's sys/init: keys_base64, recovery_keys_base64
)

# A base64 string's meaning: the name of the file it holds ("" when unknown: read as text),
# None when it is a secret whole (its placeholder is encoded in its place), or one of the
# secrets below, which keep a shape a client decodes (no file's name holds a slash).
Encoded = Optional[str]
CREDENTIALS = "/user:password"  # `user:password`, the password replaced (a docker login)
PKCS12 = "/pkcs12"  # a PFX: a certificate and its private key, replaced by a placeholder PFX
SHAPED = (CREDENTIALS, PKCS12)  # what such a secret is, whatever its name says


class Found:
    """The paths found in a document: values secret whole (what is under them too), and
    base64 strings."""

    def __init__(self) -> None:
        self.secrets: list[Path] = []
        self.encoded: dict[Path, Encoded] = {}
        self.fixed: dict[Path, str] = {}  # values written whatever they were (a checksum)

    def encode(self, path: Path, meaning: Encoded) -> None:
        """A base64 string's path, and what it holds (the first one said stays)."""
        self.encoded.setdefault(path, meaning)

    def base64_secret(self, path: Path) -> None:
        """A secret that is base64 (its placeholder is encoded in its place), or, when it
        does not decode, a secret all the same."""
        self.secrets.append(path)
        self.encode(path, None)


def store_paths(node: Mapping[str, Any], path: Path, found: Found) -> None:
    """The secrets and base64 strings of one object (not of the objects in it)."""
    _vault_paths(node, path, found)
    payload, name = node.get("payload"), node.get("name")
    if isinstance(payload, dict) and isinstance(name, str) and "/secrets/" in name:
        secret_payload(payload, (*path, "payload"), found)  # Google Secret Manager
    for key in _BASE64_SECRETS:
        if isinstance(node.get(key), str):
            found.base64_secret((*path, key.lower()))
    if isinstance(node.get("authorizationToken"), str) and "expiresAt" in node:
        found.encode((*path, "authorizationtoken"), CREDENTIALS)  # ECR's (and ECR Public's)
    keys = {key.lower(): key for key in node if isinstance(key, str)}
    value = keys.get("value")
    if node.get("contentType") == "application/x-pkcs12" and value is not None:
        found.secrets.append((*path, "value"))  # Azure Key Vault's certificate as a secret
        found.encode((*path, "value"), PKCS12)
    elif value is not None:
        kind, purpose = node.get("type"), node.get("purpose")
        if (
            kind in ("CONCEALED", "TOTP", "OTP", "SSHKEY")  # 1Password's fields
            or purpose == "PASSWORD"
            or (node.get("object") == "secret" and "organizationid" in keys)  # Bitwarden's
            or (node.get("masked") is True and "key" in keys)  # GitLab's CI/CD variables
        ):
            found.secrets.append((*path, "value"))
            if "totp" in keys:
                found.secrets.append((*path, "totp"))
        elif "key" in keys and (
            {"lockindex", "modifyindex"} <= keys.keys()  # Consul's KV entries
            or node.get("Verb") in ("set", "cas", "lock", "unlock")  # and /v1/txn's writes
        ):
            key = node[keys["key"]]
            found.encode((*path, "value"), key if isinstance(key, str) else "")
    if _doppler_secret(node, path, keys):
        found.secrets.extend([(*path, "raw"), (*path, "computed")])
    encoding, content = node.get("encoding"), node.get("content")
    if isinstance(encoding, str) and encoding.lower() == "base64" and isinstance(content, str):
        # A file's contents: GitHub's, Gitea's, GitLab's repository files, a git blob.
        file = next((node[k] for k in _FILE_NAMES if isinstance(node.get(k), str)), "")
        found.encode((*path, "content"), posixpath.basename(file))


_FILE_NAMES = ("name", "file_name", "path", "file_path")
# Secrets sent and answered in base64 by their names: AWS Secrets Manager's binary secret (in
# GetSecretValue's answer, CreateSecret's and PutSecretValue's requests), a Google service
# account key's file.
_BASE64_SECRETS = ("SecretBinary", "privateKeyData")


def _doppler_secret(node: Mapping[str, Any], path: Path, keys: Mapping[str, str]) -> bool:
    """Doppler's secret: its `raw` and `computed` strings (null when restricted), one of a
    config's `secrets` or a secret's `value`; other objects of those names (a score's numbers,
    a spreadsheet's cell) are not."""
    return (
        (path[-1:] == ("value",) or path[-2:-1] == ("secrets",))
        and all(isinstance(node.get(key, 0), (str, type(None))) for key in ("raw", "computed"))
        and all(key.startswith(("raw", "computed")) or key == "note" for key in keys)
    )


def _vault_paths(node: Mapping[str, Any], path: Path, found: Found) -> None:
    """Vault's (and OpenBao's) answers: the unseal and recovery keys `sys/init` and
    `sys/rekey` hand out; KV version 2's `data.data` (beside its `metadata`);
    the whole `data` of a secret with a lease (dynamic credentials), of one with a lease
    duration and no lease (KV version 1's), of a cubbyhole's, but a listing's; transit's base64
    `plaintext`."""
    for unseal in ("keys_base64", "recovery_keys_base64"):  # `sys/init`'s and `sys/rekey`'s
        if unseal in node:
            found.secrets.extend([(*path, unseal), (*path, unseal[: -len("_base64")])])
    data, metadata = node.get("data"), node.get("metadata")
    if isinstance(data, dict) and isinstance(metadata, dict) and "deletion_time" in metadata:
        found.secrets.append((*path, "data"))  # KV version 2's data, without its envelope
    if not ("lease_id" in node and "lease_duration" in node and isinstance(data, dict)):
        return
    inner, metadata = data.get("data"), data.get("metadata")
    lease, duration = node.get("lease_id"), node.get("lease_duration")
    if isinstance(inner, dict) and isinstance(metadata, dict):
        found.secrets.append((*path, "data", "data"))
    elif (
        lease
        or (isinstance(duration, int) and duration > 0)
        or node.get("mount_type") == "cubbyhole"
    ) and list(data) != ["keys"]:  # a listing's keys are names
        found.secrets.append((*path, "data"))
        return
    _transit_paths(data, (*path, "data"), found)


def _transit_paths(data: Mapping[str, Any], path: Path, found: Found) -> None:
    """Vault transit's base64 `plaintext`, sent (one or a batch's) and answered (decrypted)."""
    items: list[tuple[Path, Any]] = [(path, data)]
    for list_key in ("batch_input", "batch_results"):
        batch = data.get(list_key)
        if isinstance(batch, list):
            items += [((*path, list_key, i), item) for i, item in enumerate(batch)]
    for at, item in items:
        if isinstance(item, dict) and isinstance(item.get("plaintext"), str):
            found.encode((*at, "plaintext"), None)


# A Vault write's path: KV version 2's data (`/v1/<mount>/data/<path>`); a body secret whole
# (KV version 1's, a cubbyhole's, a wrapping's): with Vault's headers, at any mount but Vault's
# own (sys/, auth/, identity/) and the other secrets engines' default ones, but KV version 2's
# other paths; without them (a client of Vault Agent or a proxy), at secret/ (Consul's KV is
# at /v1/kv/), a cubbyhole and a wrapping; transit's encryption (its plaintext base64).
_KV2_OTHER = r"(?!(?:data|metadata|delete|undelete|destroy|subkeys|detailed-metadata)/|config\Z)"
_ENGINES = (
    r"sys|auth|identity|transit|pki|database|aws|azure|gcp|gcpkms|ssh|totp|kubernetes|ldap"
    r"|openldap|ad|rabbitmq|consul|nomad|kmip|transform|keymgmt|terraform|alicloud|mongodbatlas"
)
_VAULT_KV2 = lazy_regex(r"/v1/(?:[^/]+/)+?data/")
_VAULT_WHOLE = lazy_regex(rf"/v1/(?:cubbyhole/|sys/wrapping/wrap\Z|secret/{_KV2_OTHER})")
_VAULT_ANY_KV = lazy_regex(
    rf"/v1/(?:cubbyhole/|sys/wrapping/wrap\Z|(?!(?:{_ENGINES})/)[^/]+/{_KV2_OTHER})"
)
_VAULT_TRANSIT = lazy_regex(r"/v1/(?:[^/]+/)+?encrypt/[^/]+\Z")
# A file's new contents sent to GitHub or Gitea (`PUT /repos/<owner>/<repo>/contents/<path>`),
# or several (Gitea's `POST /repos/<owner>/<repo>/contents`, their paths in `files`).
_CONTENTS = lazy_regex(r"/repos/[^/]+/[^/]+/contents(?:/(.*))?\Z")
_DOPPLER_SECRETS = lazy_regex(r"/v3/configs/config/secrets\Z")
_DOPPLER_DOWNLOAD = lazy_regex(r"/v3/configs/config/secrets/download\Z")
# A Google Secret Manager secret's new version (`POST .../secrets/<id>:addVersion`).
_ADD_VERSION = lazy_regex(r"/secrets/[^/]+:addVersion\Z")
# Azure Key Vault's (`?api-version=` on every request): a secret set, a certificate imported.
_KEY_VAULT_SET = lazy_regex(r"/secrets/[^/]+\Z")
_KEY_VAULT_IMPORT = lazy_regex(r"/certificates/[^/]+/import\Z")
# A line of a download as text (env, docker, YAML): a name, `=` or `:`, and its value, with
# the indented lines of a YAML block under it.
DOWNLOAD_LINE = lazy_regex(
    r"^([A-Za-z_][\w.-]*)([ \t]*[=:][ \t]*)([^\r\n]*(?:\r?\n[ \t]+[^\r\n]*)*)", re.MULTILINE
)


RequestShape = Callable[[Any, Found], None]


def request_paths(method: str, uri: str, headers: Mapping[str, Any]) -> RequestShape | None:
    """For a request whose body's shape its URL tells, a function giving the paths in its
    first JSON document (`store_paths`' for a request); None for any other request."""
    parts = urlsplit(uri)
    path = parts.path
    if method in ("POST", "PUT", "PATCH") and path.startswith("/v1/"):
        vault = _vault_write(path, headers)
        if vault is not None:
            return vault
    contents = _CONTENTS.search(path)
    if method in ("POST", "PUT") and contents:
        file = posixpath.basename(unquote(contents.group(1) or ""))

        def file_contents(document: Any, found: Found) -> None:
            if not isinstance(document, dict):
                return
            if isinstance(document.get("content"), str):
                found.encode((0, "content"), file)
            files = document.get("files")
            for i, item in enumerate(files if isinstance(files, list) else ()):
                if isinstance(item, dict) and isinstance(item.get("content"), str):
                    name = item.get("path")
                    name = posixpath.basename(name) if isinstance(name, str) else ""
                    found.encode((0, "files", i, "content"), name)

        return file_contents
    if method in ("POST", "PUT") and _DOPPLER_SECRETS.search(path):

        def doppler(document: Any, found: Found) -> None:
            secrets = document.get("secrets") if isinstance(document, dict) else None
            if isinstance(secrets, dict):
                found.secrets.extend((0, "secrets", key.lower()) for key in secrets)

        return doppler
    if method == "POST" and _ADD_VERSION.search(unquote(path)):

        def add_version(document: Any, found: Found) -> None:
            if isinstance(document, dict) and isinstance(document.get("payload"), dict):
                secret_payload(document["payload"], (0, "payload"), found)

        return add_version
    if "api-version=" in parts.query:
        if method == "PUT" and _KEY_VAULT_SET.search(path):
            return _key_vault_set
        if method == "POST" and _KEY_VAULT_IMPORT.search(path):
            return _key_vault_import
    return None


def response_paths(method: str, uri: str) -> RequestShape | None:
    """For an answer whose body's shape its request's URL tells, a function giving the paths
    in its JSON: every value of Doppler's secrets/download (a config's secrets by their own
    names). scrub.py reads such an answer that is no JSON as lines of DOWNLOAD_LINE."""
    if method == "GET" and _DOPPLER_DOWNLOAD.search(urlsplit(uri).path):
        return _every_value
    return None


def _every_value(document: Any, found: Found) -> None:
    if isinstance(document, dict):
        found.secrets.extend((0, key.lower()) for key in document if isinstance(key, str))


def _vault_write(path: str, headers: Mapping[str, Any]) -> RequestShape | None:
    """A write to Vault (see _VAULT_KV2): a KV version 2's data, a whole body or transit's
    plaintext. Without Vault's headers, a KV version 2 write only by its body's keys too
    (`data`, and hvac's `options`): an API's `/v1/<x>/data/<y>` sends what it likes."""
    headed = bool({name.lower() for name in headers} & {"x-vault-token", "x-vault-request"})
    kv2 = _VAULT_KV2.match(path)
    whole = (_VAULT_ANY_KV if headed else _VAULT_WHOLE).match(path)
    transit = headed or _VAULT_TRANSIT.match(path)
    if not (kv2 or whole or transit):
        return None

    def vault(document: Any, found: Found) -> None:
        if not isinstance(document, dict):
            return
        if kv2:
            if headed or (document.keys() <= {"data", "options"} and "data" in document):
                found.secrets.append((0, "data"))
        elif whole:
            found.secrets.extend((0, key.lower()) for key in document)
        if transit:
            _transit_paths(document, (0,), found)

    return vault


def _key_vault_set(document: Any, found: Found) -> None:
    """A Key Vault secret set: its `value` (a PFX by its `contentType`, see store_paths)."""
    if isinstance(document, dict) and "value" in document:
        found.secrets.append((0, "value"))


def _key_vault_import(document: Any, found: Found) -> None:
    """A certificate imported to Key Vault: its `value` a PFX in base64 (or PEM, which does
    not decode: a secret whole), and the PFX's password, `pwd`."""
    if isinstance(document, dict):
        found.secrets.extend((0, key) for key in ("value", "pwd") if key in document)
        found.encode((0, "value"), PKCS12)


def secret_payload(payload: Mapping[str, Any], path: Path, found: Found) -> None:
    """Google Secret Manager's payload: its base64 `data` a secret, and its `dataCrc32c` that
    of the placeholder the data becomes (the real secret's is a fingerprint of it, and the
    integrity check Google's samples make on the data read would fail on a replay)."""
    found.base64_secret((*path, "data"))
    if "dataCrc32c" in payload and _replaced(payload.get("data")):
        checksum: Path = (*path, "datacrc32c")
        found.fixed[checksum] = str(crc32c(SCRUBBED.encode("ascii")))


def _replaced(data: object) -> bool:
    """Whether scrub.py replaces base64 `data` by the placeholder's (see _base64_string)."""
    if not isinstance(data, str):
        return False
    try:
        decoded = base64.b64decode(data.replace("\n", ""), validate=True)
    except (ValueError, binascii.Error):
        return False
    return bool(decoded) and not is_placeholder(decoded.decode("utf-8", "replace"))


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as Google's APIs checksum a payload."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@functools.cache
def pkcs12_placeholder() -> bytes:
    """A PFX a client loads on replay where a certificate's was (Key Vault's): no password, a
    throwaway RSA key and its self-signed certificate, CN=SCRUBBED, valid until 9999."""
    text = pathlib.Path(__file__).with_name("placeholder.pfx.b64").read_text("ascii")
    return base64.b64decode(text)


def _crc32c_entry(index: int) -> int:
    for _ in range(8):
        index = (index >> 1) ^ (0x82F63B78 if index & 1 else 0)
    return index


_CRC32C_TABLE = [_crc32c_entry(i) for i in range(256)]
