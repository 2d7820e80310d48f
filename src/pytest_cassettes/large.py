"""Large cassettes and bodies, read, kept and written without whole extra copies.

A 20 MiB body read the plain way is held several times at once: the file's bytes, libyaml's
copy of the scalar, the Python str, then its bytes (and for a binary body the base64 text, its
ASCII bytes and the decoded body). Here a large file is not read whole: libyaml reads it piece
by piece from the file, and a binary body is decoded straight from the base64 text.

A large body a test records waits in a temporary file until the cassette is saved, instead of
in memory beside the client's copy. It is handed to the YAML writer as bytes: a text body as
its UTF-8, which libyaml takes as it is; a binary one is written past libyaml (blocks.py), or
as base64 built in one buffer (PyYAML's own way holds it a few times over, in 77-byte pieces).
Large binary bodies are read past libyaml too (blocks.py).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import os
import tempfile
import weakref
from io import BytesIO
from typing import Any, BinaryIO

import yaml

# A cassette file from this size on is read piece by piece; a body from this size on is kept on
# disk once recorded, and let go once played (see Entry.forget_response).
LARGE_FILE = 1 << 20
LARGE_BODY = 1 << 20
_PIECE = 1 << 20


class FileSource:
    """A large cassette file, open, for libyaml to read piece by piece (it calls `read`)."""

    def __init__(self, handle: BinaryIO) -> None:
        # Our own descriptor of the same open file: the caller's may be closed before we read.
        self._file = os.fdopen(os.dup(handle.fileno()), "rb")
        self._finalizer = weakref.finalize(self, self._file.close)

    @property
    def file(self) -> BinaryIO:
        return self._file

    def rewind(self) -> None:
        self._file.seek(0)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def sha256(self) -> str:
        """The hex SHA-256 of the whole file, as `hashlib.sha256(whole).hexdigest()`."""
        digest = hashlib.sha256()
        self._file.seek(0)
        for piece in iter(lambda: self._file.read(_PIECE), b""):
            digest.update(piece)
        self._file.seek(0)
        return digest.hexdigest()

    def head(self, size: int) -> bytes:
        self._file.seek(0)
        data = self._file.read(size)
        self._file.seek(0)
        return data

    def whole(self) -> bytes:
        """The file's bytes: for error messages only."""
        self._file.seek(0)
        data = self._file.read()
        self._file.seek(0)
        return data

    def close(self) -> None:
        self._finalizer()


def contents(handle: BinaryIO, size: int) -> bytes | FileSource:
    """The bytes of an open cassette file of `size` bytes, or a source for a large one."""
    return FileSource(handle) if size >= LARGE_FILE else handle.read()


def sha256(contents: bytes | FileSource) -> str:
    if isinstance(contents, FileSource):
        return contents.sha256()
    return hashlib.sha256(contents).hexdigest()


def head(contents: bytes | FileSource, size: int) -> bytes:
    return contents.head(size) if isinstance(contents, FileSource) else contents[:size]


def whole(contents: bytes | FileSource) -> bytes:
    return contents.whole() if isinstance(contents, FileSource) else contents


def construct_binary(loader: Any, node: yaml.Node) -> bytes:
    """PyYAML's `!!binary` constructor, decoding the base64 text without an ASCII copy of it."""
    value = loader.construct_scalar(node)
    try:
        return binascii.a2b_base64(value)
    except ValueError as exc:  # binascii.Error is one; a non-ASCII str is another
        if isinstance(exc, binascii.Error):
            problem = f"failed to decode base64 data: {exc}"
        else:
            problem = f"failed to convert base64 data into ascii: {exc}"
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from exc


class Spilled:
    """A large recorded body, in an anonymous temporary file until the cassette is saved."""

    def __init__(self, data: bytes) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115  # closed by the finalizer
        self._finalizer = weakref.finalize(self, self._file.close)
        self._file.write(data)

    def read(self) -> bytes:
        self._file.seek(0)
        return self._file.read()


def spill(response: dict[str, Any]) -> dict[str, Any]:
    """The response with a large bytes body moved to a temporary file (see `unspilled`)."""
    body = response.get("body")
    if not isinstance(body, dict):
        return response
    data = body.get("string")
    if not isinstance(data, bytes) or len(data) < LARGE_BODY:
        return response
    return {**response, "body": {**body, "string": Spilled(data)}}


def unspilled(data: Any) -> Any:
    """A body as it was recorded."""
    return data.read() if isinstance(data, Spilled) else data


class LargeBody:
    """A large body on its way into a YAML cassette, as bytes: a text one is handed to libyaml
    as its UTF-8 (PyYAML would copy a str to UTF-8, and hold both), a binary one is written
    past libyaml (blocks.py) or as base64 built in one buffer."""

    __slots__ = ("data", "text")

    def __init__(self, data: bytes, text: bool) -> None:
        self.data = data
        self.text = text


def large_body(data: Any) -> LargeBody | None:
    """A large bytes body as `LargeBody`; None for anything else."""
    if not isinstance(data, bytes) or len(data) < LARGE_BODY:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:  # piece by piece: no str of the whole body
        for start in range(0, len(data), _PIECE):
            decoder.decode(data[start : start + _PIECE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return LargeBody(data, text=False)
    return LargeBody(data, text=True)


def holds_large_body(interactions: Any) -> bool:
    """Whether a response or request body is large bytes (or a LargeBody, on its way out)."""
    for interaction in interactions:
        response = interaction.get("response") or {}
        request = interaction.get("request") or {}
        body = response.get("body")
        for data in (body.get("string") if isinstance(body, dict) else None, request.get("body")):
            if isinstance(data, LargeBody) or (isinstance(data, bytes) and len(data) >= LARGE_BODY):
                return True
    return False


def represent_large(dumper: Any, body: LargeBody) -> yaml.ScalarNode:
    """The scalar PyYAML writes for the body (str or !!binary), given to libyaml as bytes."""
    if body.text:
        node: yaml.ScalarNode = dumper.represent_scalar("tag:yaml.org,2002:str", body.data)
        return node
    writer = getattr(dumper, "block_writer", None)
    if writer is not None:  # a placeholder, which the writer replaces by the block
        node = dumper.represent_scalar("tag:yaml.org,2002:str", writer.placeholder(body.data))
        return node
    return represent_binary(dumper, body.data)


def resolve_utf8(resolve: Any, kind: Any, value: bytes, implicit: Any) -> Any:
    """What a resolver says of a scalar given as UTF-8 bytes (LargeBody's, or base64 text).

    libyaml writes no scalar with a line break plain, so whether it would read back as another
    type (the only question asked) does not matter then; other values are decoded."""
    if b"\n" in value or b"\r" in value:
        return "tag:yaml.org,2002:str"
    return resolve(kind, value.decode("utf-8"), implicit)


# base64.encodebytes writes lines of 76 characters, each from 57 bytes.
_LINE_BYTES = 57
_BLOCK = _LINE_BYTES * 1024


def base64_lines(data: bytes) -> bytes:
    """`base64.encodebytes(data)` (PyYAML's form of a binary scalar), built in one buffer of its
    final size instead of from a 77-byte piece per line."""
    size = len(data)
    lines, rest = divmod(size, _LINE_BYTES)
    total = lines * (_LINE_BYTES * 4 // 3 + 1) + ((rest + 2) // 3 * 4 + 1 if rest else 0)
    if total == 0:
        return b""
    out = BytesIO()
    out.seek(total - 1)
    out.write(b"\n")  # sized once: writing past the end sizes the buffer exactly
    out.seek(0)
    view = memoryview(data)
    for start in range(0, size, _BLOCK):
        out.write(base64.encodebytes(view[start : start + _BLOCK]))
    return out.getvalue()  # the buffer itself, not a copy


def represent_binary(dumper: Any, data: bytes) -> yaml.ScalarNode:
    """PyYAML's representer of bytes for its C emitter, which takes the scalar as UTF-8 bytes:
    the same `!!binary |` scalar without the str of the base64 text and its UTF-8 copy."""
    node: yaml.ScalarNode = dumper.represent_scalar(
        "tag:yaml.org,2002:binary", base64_lines(data), style="|"
    )
    return node
