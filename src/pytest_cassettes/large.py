"""Large cassettes and bodies, read without whole extra copies.

A 20 MiB body read the plain way is held several times at once: the file's bytes, libyaml's
copy of the scalar, the Python str, then its bytes (and for a binary body the base64 text, its
ASCII bytes and the decoded body). Here a large file is not read whole: libyaml reads it piece
by piece from the file, and a binary body is decoded straight from the base64 text.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import weakref
from typing import Any, BinaryIO

import yaml

# A cassette file from this size on is read piece by piece.
LARGE_FILE = 1 << 20
_PIECE = 1 << 20


class FileSource:
    """A large cassette file, open, for libyaml to read piece by piece (it calls `read`)."""

    def __init__(self, handle: BinaryIO) -> None:
        # Our own descriptor of the same open file: the caller's may be closed before we read.
        self._file = os.fdopen(os.dup(handle.fileno()), "rb")
        self._finalizer = weakref.finalize(self, self._file.close)

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
