"""Large binary bodies read and written past libyaml, as the base64 blocks they are in the file.

libyaml holds a scalar whole while it reads or writes it: reading, in a buffer it doubles as
it grows (32 MiB for the 27 MiB of base64 of a 20 MiB body) beside the Python str it becomes;
writing, as a copy in its event beside the str or bytes given to it. A binary body is stored
as a literal block of base64 lines (`string: !!binary |`), simple to read and write exactly: a
large one is cut out of what libyaml reads, a short placeholder in its place, and decoded on
the way; on writing, a placeholder libyaml wrote is replaced by the block, line by line.

Reading checks what it did: a block that is not plain base64 lines, a placeholder that does not
come back as a body, or any error, and the file is parsed as it is, the plain way.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterator
from io import BytesIO
from typing import Any, BinaryIO, Callable

from pytest_cassettes import yamlload

_PIECE = 1 << 20
_TAG = b": !!binary |"
# A block's header line as PyYAML writes one (what follows `|` may be a chomping indicator).
_HEADER = re.compile(rb"( *)(string|body): !!binary \|[-+]?(\r?\n)")
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_PLACEHOLDER = "pytest-cassettes-body-{token}-{number}"
_SPACES = re.compile(rb" *")


class _Unexpected(Exception):
    """Not a block read here: the plain parse decides."""


def _base64_text(lines: bytes) -> bytes:
    """The base64 characters of block lines; raises _Unexpected for anything else in them."""
    if lines.count(b"\r") != lines.count(b"\r\n"):
        raise _Unexpected("a line break libyaml reads that we do not")
    text = lines.translate(None, b" \r\n")
    if text.translate(None, _BASE64):
        raise _Unexpected("not base64")
    return text


class _Base64:
    """Base64 text decoded piece by piece into `sink`, as one `binascii.a2b_base64` call
    decodes it whole: four characters at a time up to the first `=`, the rest in one call."""

    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self._sink = sink
        self._carry = b""
        self._padded: list[bytes] | None = None

    def feed(self, text: bytes) -> None:
        if self._padded is None and b"=" in text:
            self._padded = [self._carry]
        if self._padded is not None:
            self._padded.append(text)
            return
        text = self._carry + text
        whole = len(text) // 4 * 4
        self._sink(binascii.a2b_base64(text[:whole]))
        self._carry = text[whole:]

    def close(self) -> None:
        rest = b"".join(self._padded) if self._padded is not None else self._carry
        try:
            self._sink(binascii.a2b_base64(rest))
        except binascii.Error as exc:
            raise _Unexpected("bad base64") from exc


class _Lines:
    """A binary file in pieces of whole lines (the last one may lack its line break)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._tail = b""
        self._back: list[bytes] = []
        self.position = 0  # in the file, of the next piece

    def next(self) -> bytes:
        """The next piece; b"" at the end."""
        piece = self._next()
        self.position += len(piece)
        return piece

    def _next(self) -> bytes:
        if self._back:
            return self._back.pop()
        while True:
            data = self._file.read(_PIECE)
            if not data:
                data, self._tail = self._tail, b""
                return data
            data = self._tail + data
            cut = data.rfind(b"\n") + 1
            data, self._tail = data[:cut], data[cut:]
            if data:
                return data

    def push_back(self, piece: bytes) -> None:
        if piece:
            self._back.append(piece)
            self.position -= len(piece)

    def reread(self, start: int, end: int) -> Iterator[bytes]:
        """The file's bytes from `start` to `end` again, in pieces."""
        resume = self._file.tell()
        self._file.seek(start)
        try:
            while start < end:
                piece = self._file.read(min(_PIECE, end - start))
                if not piece:
                    raise _Unexpected("the file changed")
                start += len(piece)
                yield piece
        finally:
            self._file.seek(resume)


class BlockReader:
    """What libyaml reads of a large cassette: the file, each large binary block in it replaced
    by a placeholder (a plain scalar), its body decoded into `bodies`."""

    def __init__(self, file: BinaryIO, large: int) -> None:
        self.bodies: dict[str, bytes] = {}
        self.failed = False
        self._large = large
        self._token = secrets.token_hex(8)
        self._pieces = self._transformed(_Lines(file))
        self._piece = b""
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        while self._at >= len(self._piece):
            try:
                self._piece = next(self._pieces, b"")
            except _Unexpected:
                self.failed = True  # libyaml turns the error into its own; load() knows
                raise
            self._at = 0
            if not self._piece:
                return b""
        end = len(self._piece) if size < 0 else self._at + size
        data = self._piece[self._at : end]
        self._at += len(data)
        return data

    def _transformed(self, lines: _Lines) -> Iterator[bytes]:
        while True:
            piece = lines.next()
            if not piece:
                return
            if piece.startswith((b"%", b"\xef\xbb\xbf%")) or b"\n%" in piece:
                # A directive (after the file's BOM, if any) may give `!!` another meaning:
                # the rest is read as it is.
                yield piece
                yield from iter(lines.next, b"")
                return
            found = piece.find(_TAG)
            header = None
            while found >= 0 and header is None:
                start = piece.rfind(b"\n", 0, found) + 1
                header = _HEADER.match(piece, start)
                if header is None or header.start(2) + len(header.group(2)) != found:
                    header = None
                    found = piece.find(_TAG, found + 1)
            if header is None:
                yield piece
                continue
            if header.start():
                yield piece[: header.start()]
            after = piece[header.end() :]
            if not after:  # the block starts in the next piece
                after = lines.next()
            out, rest = self._block(header, after, lines)
            yield out
            lines.push_back(rest)

    def _block(self, header: re.Match[bytes], text: bytes, lines: _Lines) -> tuple[bytes, bytes]:
        """The header and block as libyaml is to read them, and what follows the block."""
        indent = _SPACES.match(text).end()  # type: ignore[union-attr]  # always matches
        text_indent = text[:indent]
        if indent <= len(header.group(1)) or text[indent : indent + 1] in (b"\r", b"\n", b""):
            return header.group(0), text  # empty, or blank lines first: as it is
        inside = re.compile(rb" {%d}| *\r?\n" % indent)  # a line of the block, or blank
        end = re.compile(rb"\n(?! {%d}| *\r?\n|\Z)" % indent)  # the line after the block
        held: list[bytes] | None = [header.group(0)]
        start, held_size, sizes = lines.position - len(text), 0, []
        decoder = _Base64(lambda decoded: sizes.append(len(decoded)))  # the size, first
        while True:
            if inside.match(text):
                found = end.search(text)
                cut = found.end() if found else len(text)
            else:
                cut = 0  # the block ended with the previous piece
            block, rest = text[:cut], text[cut:]
            if held is not None:
                held.append(block)
                held_size += len(block)
                if held_size >= self._large:  # large: read past libyaml, what was held too
                    for part in held[1:]:
                        decoder.feed(_base64_text(part))
                    held = None
            else:
                decoder.feed(_base64_text(block))
            if rest:
                break
            text = lines.next()
            if not text:
                break
        if held is not None:
            return b"".join(held), rest
        decoder.close()
        placeholder = _PLACEHOLDER.format(token=self._token, number=len(self.bodies))
        end_at = lines.position - len(rest)
        self.bodies[placeholder] = self._decoded(lines, start, end_at, sum(sizes))
        # Still a literal block, its first line as indented: libyaml refuses it where it would
        # refuse the block (in a flow mapping), which a plain scalar would not make it do.
        key, newline = header.group(1) + header.group(2), header.group(3)
        line = key + b": |-" + newline + text_indent + placeholder.encode() + newline
        return line, rest

    @staticmethod
    def _decoded(lines: _Lines, start: int, end: int, size: int) -> bytes:
        # Decoded again, now that its size is known, into a buffer of that size: the body is
        # then held once, not as pieces and their join.
        out = BytesIO()
        if size:
            out.seek(size - 1)
            out.write(b"\0")  # writing past the end sizes the buffer once, exactly
            out.seek(0)
        decoder = _Base64(out.write)
        for piece in lines.reread(start, end):
            decoder.feed(piece.translate(None, b" \r\n"))  # checked the first time
        decoder.close()
        if out.tell() != size:
            raise _Unexpected("the file changed")
        return out.getvalue()  # the buffer itself, not a copy

    def put_back(self, data: Any) -> bool:
        """Put the decoded bodies where their placeholders came back; False if any did not."""
        prefix = _PLACEHOLDER.format(token=self._token, number="")
        bodies = dict(self.bodies)
        interactions = data.get("interactions") if isinstance(data, dict) else None
        for interaction in interactions if isinstance(interactions, list) else []:
            if not isinstance(interaction, dict):
                continue
            response = interaction.get("response")
            places = (
                (response.get("body") if isinstance(response, dict) else None, "string"),
                (interaction.get("request"), "body"),
            )
            for holder, key in places:
                if not isinstance(holder, dict):
                    continue
                value = holder.get(key)
                if isinstance(value, str) and value.startswith(prefix):
                    if value not in bodies:
                        return False
                    holder[key] = bodies.pop(value)
        return not bodies


def load(file: BinaryIO, rewind: Callable[[], None], loader: Any, large: int) -> Any:
    """`yaml.load` of a large cassette file, its large binary bodies read past libyaml."""
    reader = BlockReader(file, large)
    try:
        data = yamlload.load(reader, loader)
        if reader.put_back(data):
            return data
    except Exception:
        if not reader.failed and not reader.bodies:
            raise  # what libyaml read was the file as it is: its error is the file's
    rewind()
    return yamlload.load(file, loader)


class BlockWriter:
    """The stream our YAML dumper writes to: a placeholder it wrote for a large binary body
    becomes the `!!binary |` block libyaml would have written, written line by line."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._token = secrets.token_hex(8)
        self._prefix = _PLACEHOLDER.format(token=self._token, number="").encode()
        self._bodies: dict[bytes, bytes] = {}
        self._line = b""  # the line written last, while it is short and not ended

    def placeholder(self, data: bytes) -> str:
        """The plain scalar to write in place of this body."""
        key = _PLACEHOLDER.format(token=self._token, number=len(self._bodies))
        self._bodies[key.encode()] = data
        return key

    def write(self, data: bytes) -> None:
        data, start = self._line + data, 0
        found = data.find(self._prefix)
        while found >= 0:
            end = data.find(b"\n", found)
            if end < 0:
                break  # the rest of the line comes with the next write
            line = data.rfind(b"\n", 0, found) + 1
            match = re.fullmatch(rb"( *)(?:string|body): (\S+)", data[line:end])
            if match is None or match.group(2) not in self._bodies:
                raise ValueError("pytest-cassettes: a body placeholder out of place")
            self._stream.write(data[start:found])
            self._write_block(self._bodies.pop(match.group(2)), len(match.group(1)) + 2)
            start = end + 1
            found = data.find(self._prefix, start)
        # A placeholder's line is short: keep a short unended line until its end comes.
        cut = max(data.rfind(b"\n", start) + 1, start)
        self._line = data[cut:] if len(data) - cut <= 200 else b""
        self._stream.write(data[start : len(data) - len(self._line)])

    def _write_block(self, data: bytes, indent: int) -> None:
        # As libyaml writes a literal block: `|`, then each base64 line indented.
        self._stream.write(b"!!binary |\n")
        pad = b" " * indent
        view = memoryview(data)
        for start in range(0, len(data), 57 * 1024):  # whole 76-character lines
            lines = base64.encodebytes(view[start : start + 57 * 1024])
            self._stream.write(pad + lines[:-1].replace(b"\n", b"\n" + pad) + b"\n")

    def finish(self) -> None:
        self._stream.write(self._line)
        self._line = b""
        if self._bodies:
            raise ValueError("pytest-cassettes: a body placeholder was not written")

    def dumper(self, dumper: type[Any]) -> Callable[..., Any]:
        """`dumper`, made to know this writer (yaml.dump builds it)."""

        def build(stream: Any, **options: Any) -> Any:
            instance = dumper(stream, **options)
            instance.block_writer = self
            return instance

        return build
