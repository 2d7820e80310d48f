"""The one place that reads cassettes and the one place that writes them.

Reads are safe-YAML only, validated, and cached per process while the file is unchanged.
Writes take a cross-process lock, re-read the file, merge, and replace it atomically.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from pytest_cassettes.errors import CassetteLoadError

try:
    from yaml import CSafeDumper as SafeDumper
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeDumper, SafeLoader  # type: ignore[assignment]

FORMAT_VERSION = 1
LOCK_DIR = Path(tempfile.gettempdir()) / "pytest-cassettes-locks"
_UMASK = os.umask(0)
os.umask(_UMASK)

Interaction = dict[str, Any]  # {"request": {...}, "response": {...}} as stored


class CassetteLoader(SafeLoader):
    """A safe loader that also reads the harmless Python tags old vcrpy cassettes contain."""


def _construct_str(loader: CassetteLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _construct_tuple(loader: CassetteLoader, node: yaml.Node) -> tuple[Any, ...]:
    return tuple(loader.construct_sequence(node))  # type: ignore[arg-type]


CassetteLoader.add_constructor("tag:yaml.org,2002:python/str", _construct_str)
CassetteLoader.add_constructor("tag:yaml.org,2002:python/unicode", _construct_str)
CassetteLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)


@dataclass(frozen=True)
class Codec:
    """How a cassette file's text becomes data and back."""

    name: str
    serializer: Any = None  # a vcrpy serializer for anything but our YAML

    def loads(self, text: str) -> Any:
        if self.serializer is None:
            return yaml.load(text, Loader=CassetteLoader)
        return self.serializer.deserialize(text)

    def dumps(self, data: dict[str, Any]) -> str:
        if self.serializer is None:
            return str(yaml.dump(data, Dumper=SafeDumper, sort_keys=True))
        return str(self.serializer.serialize(data))


YAML = Codec("yaml")


def codec_for(name: str, serializer: Any) -> Codec:
    """Our YAML codec for vcrpy's yaml serializer; the registered serializer otherwise."""
    from vcr.serializers import yamlserializer

    return YAML if serializer is yamlserializer or name == "yaml" else Codec(name, serializer)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A cassette file as read: its interactions, as stored, and the file's identity."""

    path: Path
    interactions: tuple[Interaction, ...]
    stamp: tuple[int, int]  # (mtime_ns, size)


_cache: dict[Path, Snapshot] = {}
_cache_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read(path: Path, codec: Codec = YAML) -> Snapshot | None:
    """The cassette at `path`, or None when there is no such file. Raises CassetteLoadError."""
    stamp = _stamp(path)
    if stamp is None:
        return None
    with _cache_lock:
        cached = _cache.get(path)
    if cached is not None and cached.stamp == stamp:
        return cached
    snapshot = _read_uncached(path, codec)
    if snapshot is not None:
        with _cache_lock:
            _cache[path] = snapshot
    return snapshot


def _read_uncached(path: Path, codec: Codec) -> Snapshot | None:
    try:
        stamp = _stamp(path)
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise CassetteLoadError(str(path), "is a directory, not a cassette file") from exc
    except OSError as exc:
        raise CassetteLoadError(str(path), f"cannot be read ({exc.strerror})") from exc
    digest = f"{codec.name}-{hashlib.sha256(raw).hexdigest()}"
    cached = parsed_cache.get(digest)
    if cached is not None:
        return Snapshot(path, cached, stamp or (0, 0))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CassetteLoadError(str(path), "not UTF-8 text", line) from exc
    interactions = parse(text, str(path), codec)
    parsed_cache.put(digest, interactions)
    return Snapshot(path, interactions, stamp or (0, 0))


class ParsedCache:
    """Parsed cassettes on disk, keyed by the hash of the file's bytes: never stale.

    PyYAML parses about 1.7 MB/s; JSON reads the same data some 20 times faster. The YAML file
    stays the one source of truth: an entry is only ever found for the very same bytes. Entries
    are JSON (bytes tagged and base64-encoded), in pytest's cache directory.
    """

    FORMAT = 1

    def __init__(self) -> None:
        self.folder: Path | None = None

    def _file(self, digest: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{digest}.json"

    def get(self, digest: str) -> tuple[Interaction, ...] | None:
        """The interactions parsed from a file with this digest, if cached."""
        file = self._file(digest)
        if file is None:
            return None
        try:
            with _no_gc():
                document = json.loads(file.read_bytes(), object_hook=_from_json)
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("format") != self.FORMAT:
            return None
        return tuple(document["interactions"])

    def put(self, digest: str, interactions: tuple[Interaction, ...]) -> None:
        """Remember parsed interactions; a failure to write only costs the next run a parse."""
        file = self._file(digest)
        if file is None or file.exists():
            return
        document = {"format": self.FORMAT, "interactions": list(interactions)}
        with contextlib.suppress(OSError, TypeError, ValueError):
            _atomic_write(file, json.dumps(document, default=_to_json, separators=(",", ":")))


parsed_cache = ParsedCache()


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not cacheable: {type(value).__name__}")


def _from_json(value: dict[str, Any]) -> Any:
    if len(value) == 1 and "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    return value


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    # Building many small objects triggers the cyclic GC again and again for nothing: about
    # half of a large cassette's load time. Parsed data has no cycles to collect.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse(text: str, where: str, codec: Codec = YAML) -> tuple[Interaction, ...]:
    """Parse and validate a cassette's text. Raises CassetteLoadError naming the place."""
    try:
        with _no_gc():
            data = codec.loads(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = str(exc.problem or exc)
        if isinstance(exc, yaml.constructor.ConstructorError):
            problem = f"refused YAML tag ({exc.problem}); only plain data is loaded"
        raise CassetteLoadError(where, f"invalid YAML: {problem}", line) from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise CassetteLoadError(where, f"invalid {codec.name}: {exc}") from exc
    if isinstance(data, list):
        raise CassetteLoadError(
            where, "written by a vcrpy older than 1.0; convert it with `python -m vcr.migration`", 1
        )
    if not isinstance(data, dict):
        raise CassetteLoadError(where, "not a cassette (expected a mapping with `interactions`)", 1)
    if data.get("version") != FORMAT_VERSION:
        raise CassetteLoadError(
            where,
            f"unknown cassette format version {data.get('version')!r} (expected {FORMAT_VERSION})",
            _line_of(text, codec, "version"),
        )
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        raise CassetteLoadError(where, "`interactions` must be a list", _line_of(text, codec, None))
    for index, interaction in enumerate(interactions):
        fault = _interaction_problem(interaction)
        if fault:
            raise CassetteLoadError(
                where, f"interaction {index + 1}: {fault}", _line_of(text, codec, index)
            )
    return tuple(interactions)


def _interaction_problem(interaction: Any) -> str | None:
    if not isinstance(interaction, dict):
        return "not a mapping"
    request, response = interaction.get("request"), interaction.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        return "needs a `request` and a `response` mapping"
    for key in ("method", "uri"):
        if not isinstance(request.get(key), str):
            return f"request.{key} is missing or not a string"
    if not isinstance(request.get("headers", {}), dict):
        return "request.headers must be a mapping"
    status = response.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("code"), int):
        return "response.status.code is missing or not a number"
    if not isinstance(response.get("headers", {}), dict):
        return "response.headers must be a mapping"
    body = response.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("string"), (str, bytes, type(None))):
        return "response.body.string is missing or not text or binary"
    return None


def _line_of(text: str, codec: Codec, where: int | str | None) -> int | None:
    """The line of a top-level key or of the n-th interaction; only computed on the error path."""
    if codec is not YAML:
        return None
    try:
        root = yaml.compose(text, Loader=SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return 1
    for key, value in root.value:
        if isinstance(where, str) and key.value == where:
            return int(key.start_mark.line) + 1
        if not isinstance(where, str) and key.value == "interactions":
            if where is None or not isinstance(value, yaml.SequenceNode):
                return int(value.start_mark.line) + 1
            if where < len(value.value):
                return int(value.value[where].start_mark.line) + 1
    return 1


# --- writing -------------------------------------------------------------------------------


def to_text(value: Any) -> Any:
    """bytes -> str when it is UTF-8 (readable cassettes), else kept as bytes (!!binary)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def identity(interaction: Interaction) -> str:
    """A stable key for an interaction's stored form, to recognise it in a re-read file."""
    digest = hashlib.sha256(
        json.dumps(interaction, sort_keys=True, default=_json_default).encode()
    ).hexdigest()
    return digest


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    return repr(value)


def _lock_for(path: Path) -> FileLock:
    # Lock files live outside the cassette directory so that nothing is left beside cassettes.
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return FileLock(str(LOCK_DIR / f"{key}.lock"))


def write(
    path: Path,
    new: Sequence[Interaction],
    drop: Iterable[str] = (),
    codec: Codec = YAML,
) -> int:
    """Merge `new` into the cassette at `path`, removing interactions whose identity is in `drop`.

    Under a cross-process lock: re-read what is on disk now (other workers may have written),
    merge, write a temporary file beside it, fsync, rename over. Returns the number written.
    """
    drop = set(drop)
    with _lock_for(path):
        current = _read_uncached(path, codec)
        kept = [i for i in (current.interactions if current else ()) if identity(i) not in drop]
        interactions = kept + list(new)
        data = {"interactions": interactions, "version": FORMAT_VERSION}
        _atomic_write(path, codec.dumps(data))
    with _cache_lock:
        _cache.pop(path, None)
    return len(interactions)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make cassettes private
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text(path: Path, text: str) -> None:
    """Write a file atomically (the JSON report)."""
    _atomic_write(path, text)


def delete(path: Path) -> None:
    """Remove a cassette file under its lock (rewrite mode, prune)."""
    with _lock_for(path), contextlib.suppress(FileNotFoundError):
        path.unlink()
    with _cache_lock:
        _cache.pop(path, None)
