"""`pytest-cassettes check` and `show`: validate cassette files and list what they hold.

Both read cassettes through `storage` (the one loader) and report `path:line:` places that
editors and CI annotations understand.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pytest_cassettes import storage
from pytest_cassettes.bodies import (
    UTF8_CHARSETS,
    charset,
    encoding_mismatch,
    header_values,
    normalize_response,
)
from pytest_cassettes.errors import CassetteLoadError
from pytest_cassettes.paths import CASSETTE_SUFFIXES

OK, FAULTS, UNREADABLE = 0, 1, 2
# Content types whose bodies are bytes, not text: a replacement character there means loss.
BINARY_TYPES = re.compile(
    r"^(image|audio|video|font)/|^application/(octet-stream|pdf|zip|gzip|x-tar|"
    r"x-protobuf|protobuf|grpc|msgpack|x-msgpack|vnd\.)",
    re.IGNORECASE,
)


@dataclass
class Found:
    """What the given paths hold: cassette files, temporary files, and paths that do not exist."""

    cassettes: list[Path] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def find(paths: Sequence[str]) -> Found:
    """Files named, and *.yaml / *.yml / *.json files under directories named (hidden ones
    skipped)."""
    found = Found()
    for name in paths:
        path = Path(name)
        if not path.is_dir():
            if path.exists() or path.is_symlink():
                found.cassettes.append(path)
            else:
                found.missing.append(name)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file_name in sorted(files):
                if storage.is_temp_file(file_name):
                    found.temp_files.append(Path(root, file_name))
                elif file_name.endswith(CASSETTE_SUFFIXES) and not file_name.startswith("."):
                    found.cassettes.append(Path(root, file_name))
    return found


@dataclass(frozen=True)
class Loaded:
    """A cassette file as read: its text and its validated interactions."""

    text: str
    interactions: tuple[storage.Interaction, ...]


def load(path: Path) -> Loaded:
    """Read and validate one cassette. Raises OSError (unreadable) or CassetteLoadError."""
    raw = path.read_bytes()
    text = storage.decode_text(raw, str(path))
    return Loaded(text, storage.parse_file_text(text, str(path)))


def problem(exc: CassetteLoadError) -> str:
    """The fault of a CassetteLoadError, without the file name and the advice around it."""
    where = f"{exc.path}:{exc.line}" if exc.line is not None else exc.path
    first = str(exc).split("\n", 1)[0]
    prefix = f"Cannot read cassette {where}: "
    return first[len(prefix) :] if first.startswith(prefix) else first


def _each_cassette(
    found: Found, out: TextIO
) -> Iterator[tuple[Path, Loaded | CassetteLoadError | None]]:
    """Each cassette found, loaded; reports missing paths, unreadable files (None) and parse
    faults (the error) on `out`, so that `check` and `show` only decide what they mean."""
    for name in found.missing:
        out.write(f"{name}: no such file or directory\n")
    for path in found.cassettes:
        try:
            yield path, load(path)
        except OSError as exc:
            out.write(f"{path}: cannot be read ({exc.strerror or exc})\n")
            yield path, None
        except CassetteLoadError as exc:
            out.write(f"{path}:{exc.line or 1}: {problem(exc)}\n")
            yield path, exc


# --- check ---------------------------------------------------------------------------------


def check(paths: Sequence[str], out: TextIO) -> int:
    """Report faults in cassettes as `path:line: fault`; 0 clean, 1 faults, 2 unreadable path."""
    found = find(paths)
    faults = interactions = notes = 0
    status = OK
    for path, loaded in _each_cassette(found, out):
        if isinstance(loaded, CassetteLoadError):
            faults += 1  # a cassette that does not parse is a fault to report, not an error
            continue
        if loaded is None:
            status = UNREADABLE
            continue
        interactions += len(loaded.interactions)
        for line, fault in interaction_faults(loaded):
            if fault.startswith(NOTE):
                out.write(f"{path}:{line}: {fault}\n")
                notes += 1
                continue
            out.write(f"{path}:{line}: {fault}\n")
            faults += 1
    for temp in found.temp_files:
        out.write(f"{temp}:1: temporary file left by an interrupted cassette write; delete it\n")
        faults += 1
    cassettes = len(found.cassettes)
    summary = f"{_plural(faults, 'fault')}" if faults else "no faults"
    if notes:
        summary += f", {_plural(notes, 'note')}"
    if not (found.missing and not cassettes and not found.temp_files):  # (nothing checked)
        out.write(
            f"checked {_plural(cassettes, 'cassette')} "
            f"({_plural(interactions, 'interaction')}): {summary}\n"
        )
    if status == UNREADABLE or found.missing:
        return UNREADABLE
    return FAULTS if faults else OK


NOTE = "note: "  # what `check` reports without failing: the cassette replays as it is


def interaction_faults(loaded: Loaded) -> Iterator[tuple[int, str]]:
    """(line, fault) for each problem of each interaction of a readable cassette; a fault
    starting with NOTE is told, not counted."""
    locator: storage.Locator | None = None

    def line(index: int, *keys: str) -> int:
        nonlocal locator
        if locator is None:  # composing the YAML again is only worth it when there is a fault
            locator = storage.Locator(loaded.text)
        return locator.line(index, *keys) or 1

    seen: dict[str, int] = {}
    for index, interaction in enumerate(loaded.interactions):
        number = index + 1
        response = interaction["response"]
        mismatch = encoding_mismatch(response)
        if mismatch:
            yield (
                line(index, "response", "headers", "content-encoding"),
                f"interaction {number}: {mismatch}; under vcrpy, clients that decode it "
                "(httpx, urllib3 1) fail; re-record it or remove the header",
            )
        key = storage.identity(interaction)
        if key in seen:
            # A note, not a fault: a test that sends a request twice (robots.txt read again, a
            # poll answered alike) records it twice, and its replay plays both in turn.
            yield (
                line(index),
                f"{NOTE}interaction {number}: duplicate of interaction {seen[key]} (same request "
                "and response): replayed in turn to a test sending it twice; one recording "
                "with allow_playback_repeats=True would do",
            )
        else:
            seen[key] = number
        for keys, fault in round_trip_faults(interaction):
            yield line(index, *keys), f"interaction {number}: {fault}"


def round_trip_faults(interaction: storage.Interaction) -> Iterator[tuple[tuple[str, ...], str]]:
    """Bodies that would not come back as they were recorded: (place, fault)."""
    document = {"interactions": [interaction], "version": storage.FORMAT_VERSION}
    try:
        again = storage.YAML.loads(storage.YAML.dumps(document))
    except Exception as exc:  # any failure to write it back is the fault reported
        yield (), f"cannot be written back ({exc})"
        return
    if again != document:
        yield (), "changes when written back and read again"
    response = interaction["response"]
    body = (response.get("body") or {}).get("string")
    if not isinstance(body, str):
        return
    headers = response.get("headers") or {}
    content_type = ", ".join(str(v) for v in header_values(headers, "content-type"))
    place = ("response", "body")
    if "\ufffd" in body and BINARY_TYPES.search(content_type.strip()):
        yield (
            place,
            f"binary body ({content_type}) stored as text with replacement characters: "
            "the original bytes are lost; re-record it",
        )
        return
    named = charset(content_type)
    if named and named not in UTF8_CHARSETS and not body.isascii():
        yield (
            place,
            f"text body is replayed as UTF-8 but Content-Type says charset={named}; re-record it",
        )


# --- show ----------------------------------------------------------------------------------


def show(paths: Sequence[str], out: TextIO) -> int:
    """List `path:N: METHOD URL -> STATUS (SIZE bytes)` per interaction; 0, or 2 if unreadable."""
    found = find(paths)
    status = UNREADABLE if found.missing else OK
    total = 0
    for path, loaded in _each_cassette(found, out):
        if loaded is None or isinstance(loaded, CassetteLoadError):
            status = UNREADABLE
            continue
        for number, interaction in enumerate(loaded.interactions, start=1):
            out.write(f"{path}:{number}: {describe(interaction)}\n")
        total += len(loaded.interactions)
    if found.cassettes or not found.missing:  # (after "no such file" alone: nothing shown)
        out.write(
            f"{_plural(total, 'interaction')} in {_plural(len(found.cassettes), 'cassette')}\n"
        )
    return status


def describe(interaction: storage.Interaction) -> str:
    """`METHOD URL -> STATUS (SIZE bytes)`, the size of the body as it is replayed."""
    request, response = interaction["request"], interaction["response"]
    size = len(_replayed_body(response))
    return f"{request['method']} {request['uri']} -> {response['status']['code']} ({size} bytes)"


def _replayed_body(response: dict[str, Any]) -> bytes:
    body = (response.get("body") or {}).get("string")
    as_bytes = body.encode("utf-8") if isinstance(body, str) else body or b""
    replayed = normalize_response({**response, "body": {"string": as_bytes}})
    string = replayed["body"]["string"]
    return string if isinstance(string, bytes) else as_bytes


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
