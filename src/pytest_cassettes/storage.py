"""The one place that reads cassettes and the one place that writes them.

Reads are safe-YAML only, validated, and cached per process while the file is unchanged.
Writes take a cross-process lock, re-read the file, merge, and replace it atomically.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import hashlib
import importlib
import json
import os
import re
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import yaml

try:
    import fcntl
except ImportError:  # Windows: filelock's msvcrt locking instead
    fcntl = None  # type: ignore[assignment]

from pytest_cassettes import blocks, large, runmarks, yamldump, yamlload
from pytest_cassettes.errors import CassetteLoadError, LockFolderError
from pytest_cassettes.paths import Stamp, file_stamp, stamp_of
from pytest_cassettes.runmarks import first_rewrite, key_of, lock_dir, real_path

try:
    from yaml import CSafeDumper as SafeDumper
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeDumper, SafeLoader  # type: ignore[assignment]

FORMAT_VERSION = 1

# A temporary file beside a cassette while it is written: `.NAME.<8 hex>.tmp`.
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{8}\.tmp")
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation

Interaction = dict[str, Any]  # {"request": {...}, "response": {...}} as stored


class CassetteLoader(SafeLoader):
    """A safe loader that also reads the harmless Python tags old vcrpy cassettes contain."""


def _construct_str(loader: CassetteLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _construct_tuple(loader: CassetteLoader, node: yaml.Node) -> tuple[Any, ...]:
    return tuple(loader.construct_sequence(node))  # type: ignore[arg-type]


def _construct_bytesio(loader: CassetteLoader, node: yaml.Node) -> bytes:
    # A file-like request body as vcrpy (and pytest-recording) wrote it, pickled:
    # `!!python/object/new:_io.BytesIO` whose `state` starts with the content. Only that one
    # scalar is read; no object is built from the tag.
    state = _pickled(node, "state")
    if state is None:
        return b""
    if not isinstance(state, yaml.SequenceNode) or not state.value:
        raise _not_a_body(node, "a file body's `state` must start with its content")
    return _chunk(loader, state.value[0], node)


def _construct_iter(loader: CassetteLoader, node: yaml.Node) -> bytes:
    # An iterator's request body (`!!python/object/apply:builtins.iter`, `args` holding the list
    # of its chunks): the bytes they make, as a body sent from an iterator is matched. Each
    # chunk is a scalar of its own: an alias repeated (a file of a few KiB that joins to GiB)
    # is refused.
    args = _pickled(node, "args")
    if args is None:
        return b""
    if not isinstance(args, yaml.SequenceNode) or len(args.value) != 1:
        raise _not_a_body(node, "an iterator body's `args` must hold one list of chunks")
    chunks = args.value[0]
    if not isinstance(chunks, yaml.SequenceNode):
        raise _not_a_body(node, "an iterator body's `args` must hold one list of chunks")
    if len({id(chunk) for chunk in chunks.value}) != len(chunks.value):
        raise _not_a_body(node, "an iterator body repeats a chunk by alias")
    return b"".join(_chunk(loader, chunk, node) for chunk in chunks.value)


def _pickled(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        raise _not_a_body(node, "a pickled body must be a mapping")
    for key_node, value in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value
            return found
    return None


def _chunk(loader: CassetteLoader, chunk: yaml.Node, body: yaml.Node) -> bytes:
    if not isinstance(chunk, yaml.ScalarNode) or chunk.tag not in _CHUNK_TAGS:
        raise _not_a_body(body, "a pickled body's content must be text or !!binary")
    value = loader.construct_object(chunk)
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


_CHUNK_TAGS = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:binary",
        "tag:yaml.org,2002:python/str",
        "tag:yaml.org,2002:python/unicode",
    }
)


def _not_a_body(node: yaml.Node, problem: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


CassetteLoader.add_constructor("tag:yaml.org,2002:python/str", _construct_str)
CassetteLoader.add_constructor(
    "tag:yaml.org,2002:python/object/new:_io.BytesIO", _construct_bytesio
)
CassetteLoader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:builtins.iter", _construct_iter
)
CassetteLoader.add_constructor("tag:yaml.org,2002:python/unicode", _construct_str)
CassetteLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)
CassetteLoader.add_constructor("tag:yaml.org,2002:binary", large.construct_binary)


class CassetteDumper(SafeDumper):
    """The safe dumper, writing tuples as vcrpy does (`!!python/tuple`, which vcrpy's safe loader
    and ours read back as tuples): aiohttp's `data=[(name, value), ...]` is stored as such pairs,
    and vcrpy's `body` matcher tells a tuple from a list."""


def _represent_tuple(dumper: SafeDumper, data: tuple[Any, ...]) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:python/tuple", data)


CassetteDumper.add_representer(tuple, _represent_tuple)


class LargeBodyDumper(CassetteDumper):
    """The safe dumper for cassettes holding large bodies, which it hands to libyaml as bytes
    (see large.py). Other cassettes keep PyYAML's dumper: the resolver override, called twice a
    scalar, would cost them some 20 us a write."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if isinstance(value, bytes):  # a scalar handed to libyaml as UTF-8
            return large.resolve_utf8(super().resolve, kind, value, implicit)
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


# libyaml takes a scalar as UTF-8 bytes as well as a str; PyYAML's own emitter does not.
UTF8_SCALARS = SafeDumper is getattr(yaml, "CSafeDumper", None)
LargeBodyDumper.add_representer(bytes, large.represent_binary)
LargeBodyDumper.add_representer(large.LargeBody, large.represent_large)


class Codec:
    """How a cassette file's text becomes data and back.

    This module's classes are written by hand, not as dataclasses (see values.py)."""

    __slots__ = ("name", "serializer")

    def __init__(self, name: str, serializer: Any = None) -> None:
        self.name = name
        self.serializer = serializer  # a vcrpy serializer for anything but our YAML

    def loads(self, text: str | bytes | large.FileSource) -> Any:
        if isinstance(text, large.FileSource):  # large binary bodies read past libyaml
            return blocks.load(text.file, text.rewind, CassetteLoader, large.LARGE_BODY)
        if self.serializer is None:
            return yamlload.load(text, CassetteLoader)
        return self.serializer.deserialize(text)

    def dumps(self, data: dict[str, Any]) -> str:
        if self.serializer is None:
            text = _fast_dumps(data)
            if text is not None:
                return text
            return _pyyaml_dumps(data)
        return str(self.serializer.serialize(data))

    def encoded(self, data: dict[str, Any]) -> bytes | None:
        """The file's bytes for `data` when written by yamldump, the common case; None when
        `dump` is to write it."""
        if self.serializer is not None:
            return None  # (a large body, bytes or LargeBody, is not yamldump's either)
        text = _fast_dumps(data)
        return None if text is None else text.encode("ascii")

    def dump(self, data: dict[str, Any], stream: BinaryIO) -> None:
        """Write `data` to a binary stream; YAML is emitted piece by piece, not as one string.

        Large bodies (`stored_form` gives them as `large.LargeBody` when UTF8_SCALARS) are
        handed to libyaml as bytes, large binary ones written past it (see blocks.py)."""
        if self.serializer is not None:
            stream.write(self.dumps(data).encode("utf-8"))
        elif UTF8_SCALARS and large.holds_large_body(data.get("interactions") or ()):
            writer = blocks.BlockWriter(stream)
            dumper = writer.dumper(LargeBodyDumper)
            yaml.dump(data, writer, Dumper=dumper, sort_keys=True, encoding="utf-8")
            writer.finish()
        else:
            yaml.dump(data, stream, Dumper=CassetteDumper, sort_keys=True, encoding="utf-8")


def _pyyaml_dumps(data: Any) -> str:
    return str(yaml.dump(data, Dumper=CassetteDumper, sort_keys=True))


# yamldump writes what libyaml writes: PyYAML's own emitter differs in places, and so does a
# libyaml before 0.2.2 (a distribution's PyYAML built against an old system one).
_YAMLDUMP = UTF8_SCALARS and yamldump.agrees(_pyyaml_dumps, CassetteDumper.yaml_implicit_resolvers)


def _fast_dumps(data: dict[str, Any]) -> str | None:
    if not _YAMLDUMP:
        return None
    return yamldump.dumps(data, CassetteDumper.yaml_implicit_resolvers)


YAML = Codec("yaml")


# vcrpy's own serializers, by module name (a pytester run may have imported vcrpy afresh).
_VCR_YAML = "vcr.serializers.yamlserializer"
_VCR_JSON = "vcr.serializers.jsonserializer"


def codec_for(name: str, serializer: Any) -> Codec:
    """Our YAML codec for vcrpy's yaml serializer; the registered serializer otherwise, even
    under the name "yaml" (pytest-recording users replace it so: their files are theirs)."""
    return YAML if getattr(serializer, "__name__", None) == _VCR_YAML else Codec(name, serializer)


def store_name(codec: Codec, persisted: bool) -> str:
    """How a record of the run names the way a cassette is stored (see run_old), for the run's
    end to write it so too (drop_old): our YAML, vcrpy's json serializer, or a serializer or a
    persister registered on vcrpy's object (by the serializer's name), which every process of
    the run registers in pytest_cassettes_configure."""
    if persisted:
        return f"persister:{codec.name}"
    if codec is YAML:
        return "yaml"
    if getattr(codec.serializer, "__name__", None) == _VCR_JSON:
        return _VCR_JSON
    return f"serializer:{codec.name}"


def json_data(text: str) -> dict[str, Any] | None:
    """A cassette file's data if its text is a JSON object (vcrpy's `serializer="json"`), else
    None. Such a file is read as JSON: YAML does not read the surrogate pair JSON escapes a
    character beyond the BMP (an emoji) as."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:  # YAML in flow style
        return None
    return data if isinstance(data, dict) else None


def parse_file_text(text: str, where: str) -> tuple[Interaction, ...]:
    """`parse` of a cassette file's text, read as JSON where it is (see json_data)."""
    return parse(text, where, _vcr_json_codec() if json_data(text) is not None else YAML)


def _vcr_json_codec() -> Codec:
    return Codec("json", importlib.import_module(_VCR_JSON))


def _cacheable(codec: Codec) -> bool:
    """Whether a parse may go to the parsed-cassette cache: not a serializer of a user's, whose
    results may not survive JSON and whose name says nothing of its version."""
    return codec is YAML or getattr(codec.serializer, "__name__", None) == _VCR_JSON


# --- reading -------------------------------------------------------------------------------


class Snapshot:
    """A cassette file as read: its interactions, as stored, and the file's identity."""

    __slots__ = ("interactions", "mode", "path", "stamp")

    def __init__(
        self,
        path: Path,
        interactions: tuple[Interaction, ...],
        stamp: Stamp,  # a replaced file is a new inode
        mode: int | None = None,  # its permission bits, kept when it is rewritten
    ) -> None:
        self.path = path
        self.interactions = interactions
        self.stamp = stamp
        self.mode = mode


# Snapshots of recently read cassettes (shared cassettes are read by many tests), bounded so a
# suite of thousands of cassettes does not keep them all.
_cache: OrderedDict[Path, Snapshot] = OrderedDict()
_CACHE_SIZE = 128
_cache_lock = threading.Lock()


def read(path: Path, codec: Codec = YAML) -> Snapshot | None:
    """The cassette at `path`, or None when there is no such file. Raises CassetteLoadError."""
    stamp = file_stamp(path)
    if stamp is None:
        return None
    with _cache_lock:
        cached = _cache.get(path)
    if cached is not None and cached.stamp == stamp:
        return cached
    snapshot = _read_uncached(path, codec)
    # A large body is let go once played (see Entry.forget_response), which a cached snapshot
    # would prevent: a cassette holding one is read again when another test uses it.
    if snapshot is not None and not large.holds_large_body(snapshot.interactions):
        with _cache_lock:
            _cache[path] = snapshot
            _cache.move_to_end(path)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return snapshot


def _read_uncached(path: Path, codec: Codec, served: bool = True) -> Snapshot | None:
    """`served`: response bodies as the bytes the stubs serve; else as stored (for a merge)."""
    try:
        # The stamp is that of the file actually read, even if it is replaced meanwhile.
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            stamp = stamp_of(st)
            raw = large.contents(handle, stamp[2]) if codec is YAML else handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise CassetteLoadError(str(path), "is a directory, not a cassette file") from exc
    except OSError as exc:
        raise CassetteLoadError(str(path), f"cannot be read ({exc.strerror})") from exc
    cached = stamp[2] >= ParsedCache.MIN_BYTES and _cacheable(codec)
    digest = f"{codec.name}-{large.sha256(raw)}" if cached else ""
    interactions = parsed_cache.get(digest) if cached else None
    if interactions is None:
        if large.head(raw, 2) in (b"\xff\xfe", b"\xfe\xff"):  # libyaml would read UTF-16
            decode_text(large.whole(raw), str(path))  # cassettes are UTF-8
        interactions = parse(raw, str(path), codec)
        del raw  # a large body would otherwise be held three times while it is converted
        if cached:
            parsed_cache.put(digest, interactions)
    interactions = _bodies_as_bytes(interactions) if served else interactions
    return Snapshot(path, interactions, stamp, st.st_mode & 0o7777)


def _bodies_as_bytes(interactions: tuple[Interaction, ...]) -> tuple[Interaction, ...]:
    """Response bodies as the bytes vcrpy's stubs serve, converted once, in place: the text form
    is then freed instead of living beside a bytes copy for as long as the cassette is used."""
    for interaction in interactions:
        body = interaction["response"].get("body")
        if isinstance(body, dict) and isinstance(body.get("string"), str):
            body["string"] = body["string"].encode("utf-8")
    return interactions


def decode_text(raw: bytes, where: str) -> str:
    """A cassette file's bytes as text. Raises CassetteLoadError naming the line if not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CassetteLoadError(where, "not UTF-8 text", line) from exc


class ParsedCache:
    """Parsed cassettes on disk, keyed by the hash of the file's bytes: never stale.

    PyYAML parses about 1.7 MB/s; JSON reads the same data some 20 times faster. The YAML file
    stays the one source of truth: an entry is only ever found for the very same bytes. Entries
    are JSON (bytes tagged and base64-encoded), in pytest's cache directory.
    """

    FORMAT = 3  # 2: tuples in request bodies are tagged; 3: and dicts spelled like a tag

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

    # Below this many interactions, parsing YAML costs less than writing the cache entry.
    MIN_INTERACTIONS = 32
    # A smaller file is neither hashed nor looked up: it parses in about 0.2 ms, and that many
    # interactions as vcrpy writes them take several times this (an entry stays optional).
    MIN_BYTES = 4096

    def put(self, digest: str, interactions: tuple[Interaction, ...]) -> None:
        """Remember parsed interactions; a failure to write only costs the next run a parse."""
        file = self._file(digest)
        if file is None or len(interactions) < self.MIN_INTERACTIONS or file.exists():
            return
        document = {
            "format": self.FORMAT,
            "interactions": [_tuples_tagged(i) for i in interactions],
        }
        with contextlib.suppress(OSError, TypeError, ValueError):
            text = json.dumps(document, default=_to_json, separators=(",", ":"))
            _atomic_write(file, text)


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
    if len(value) == 1 and "__tuple__" in value:
        return tuple(value["__tuple__"])
    if len(value) == 1 and "__dict__" in value:
        return dict(value["__dict__"])
    return value


def _tuples_tagged(interaction: Interaction) -> Interaction:
    """JSON writes a tuple as a list, never asking `_to_json`: tuples in a request body (aiohttp's
    form pairs, as vcrpy stores them) are tagged beforehand. Other bodies are not walked."""
    request = interaction.get("request")
    if not isinstance(request, dict):
        return interaction
    body = request.get("body")
    if not isinstance(body, (list, tuple, dict)):
        return interaction
    return {**interaction, "request": {**request, "body": _tag_tuples(body)}}


def _tag_tuples(value: Any) -> Any:
    if isinstance(value, tuple):
        return {"__tuple__": [_tag_tuples(item) for item in value]}
    if isinstance(value, list):
        return [_tag_tuples(item) for item in value]
    if isinstance(value, dict):
        tagged = {key: _tag_tuples(item) for key, item in value.items()}
        if len(value) == 1 and next(iter(value)) in _TAGS:
            # A body's own {"__bytes__": ...} must not come back as bytes: as pairs, which
            # object_hook does not see.
            return {"__dict__": list(tagged.items())}
        return tagged
    return value


_TAGS = frozenset({"__bytes__", "__tuple__", "__dict__"})


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


_OLD_FORMAT = "written by a vcrpy older than 1.0; convert it with `python -m vcr.migration`"


def parse(
    source: str | bytes | large.FileSource, where: str, codec: Codec = YAML
) -> tuple[Interaction, ...]:
    """Parse and validate a cassette's text (or its UTF-8 bytes, which libyaml reads without a
    copy, or a large file's source, which it reads piece by piece). Raises CassetteLoadError
    naming the place."""
    if isinstance(source, bytes) and codec is not YAML:
        source = decode_text(source, where)
    try:
        with _no_gc():
            data = codec.loads(source)
    except yaml.reader.ReaderError as exc:
        if not isinstance(source, str):
            decode_text(large.whole(source), where)  # raises, naming the line
        raise CassetteLoadError(where, f"invalid YAML: {exc}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = str(exc.problem or exc)
        if isinstance(exc, yaml.constructor.ConstructorError):
            if "python/object:vcr." in str(exc.problem):  # vcrpy before 1.0 pickled its objects
                raise CassetteLoadError(where, _OLD_FORMAT, line) from exc
            problem = f"refused YAML tag ({exc.problem}); only plain data is loaded"
        raise CassetteLoadError(where, f"invalid YAML: {problem}", line) from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise CassetteLoadError(where, f"invalid {codec.name}: {exc}") from exc
    if isinstance(data, list):
        raise CassetteLoadError(where, _OLD_FORMAT, 1)
    if data is None:  # also what a machine crash right after a write may leave (see below)
        raise CassetteLoadError(where, "empty: delete it and record it again", 1)
    if not isinstance(data, dict) or "interactions" not in data:  # a CI config, a package.json
        raise CassetteLoadError(where, "not a cassette (expected a mapping with `interactions`)", 1)

    def line_of(key: int | str | None) -> int | None:  # only on the error path
        if isinstance(source, str):
            return _line_of(source, codec, key)
        return _line_of(large.whole(source).decode("utf-8", "replace"), codec, key)

    # No `version` at all: vcrpy does not check it either (it always writes it).
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise CassetteLoadError(
            where,
            f"unknown cassette format version {data.get('version')!r} (expected {FORMAT_VERSION})",
            line_of("version"),
        )
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        raise CassetteLoadError(where, "`interactions` must be a list", line_of(None))
    for index, interaction in enumerate(interactions):
        fault = _interaction_problem(interaction)
        if fault:
            raise CassetteLoadError(where, f"interaction {index + 1}: {fault}", line_of(index))
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


class Locator:
    """Lines of the parts of a YAML cassette, for messages that point into the file."""

    def __init__(self, text: str) -> None:
        self.interactions: list[yaml.Node] = []
        try:
            root = yaml.compose(text, Loader=SafeLoader)
        except yaml.YAMLError:
            return
        if isinstance(root, yaml.MappingNode):
            for key, value in root.value:
                if key.value == "interactions" and isinstance(value, yaml.SequenceNode):
                    self.interactions = list(value.value)

    def line(self, index: int, *keys: str) -> int | None:
        """The line of interaction `index` (from 0), or of the deepest of `keys` found in it.

        Keys are matched case-insensitively, as header names are.
        """
        if index >= len(self.interactions):
            return None
        node = self.interactions[index]
        line = int(node.start_mark.line) + 1
        for wanted in keys:
            if not isinstance(node, yaml.MappingNode):
                break
            for key, value in node.value:
                if str(key.value).lower() == wanted.lower():
                    node, line = value, int(key.start_mark.line) + 1
                    break
            else:
                break
        return line


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
        # A body read as text and the same body held as bytes are the same interaction.
        text = to_text(value)
        return text if isinstance(text, str) else {"__bytes__": value.hex()}
    return repr(value)


# Cassettes share a bounded set of lock files, chosen by the hash of their path: one file per
# cassette ever written would pile up in the temp directory. Two cassettes of one slot only
# wait for each other's (millisecond) writes; no code path holds two locks at once.
LOCK_SLOTS = 1024


def _lock_file(path: Path) -> Path:
    return _lock_of(real_path(path)[0])


def _lock_of(real: str) -> Path:
    return _slot_file(int(key_of(real)[:8], 16) % LOCK_SLOTS)


@functools.lru_cache(maxsize=LOCK_SLOTS)
def _slot_file(slot: int) -> Path:
    return lock_dir() / f"slot-{slot:04d}.lock"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Path]:
    """Hold the cross-process (and cross-thread) lock of the cassette at `path`; gives the file
    to write: `path`, or the file a symbolic link there names (a cassette shared by link is
    written through, not replaced by a file), as told when its lock was chosen.

    Lock files live outside the cassette directory so that nothing is left beside cassettes.
    On POSIX, flock(2) on a descriptor of our own: each holder opens the file, so threads
    exclude each other too, and the kernel releases the lock of a killed process. It costs
    about 4 us, where filelock's machinery costs some 60-90 us a write.
    """
    real, link = real_path(path)
    target = Path(real) if link else path
    file = _lock_of(real)
    try:
        fd = _open_lock(file)
    except OSError as exc:  # a read-only temp directory, its path too long, a file of its name
        raise LockFolderError(reason=f"{file.parent}: {exc.strerror}") from None
    if fd is None:
        from filelock import FileLock

        with FileLock(str(file)):
            yield target
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield target
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _locked_if_possible(path: Path) -> Iterator[None]:
    """The cassette's lock (_locked), or none where there is no lock folder (LockFolderError):
    for a persister's loads and saves, which worked without one before they took it."""
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(LockFolderError):
            stack.enter_context(_locked(path))
        yield


def _open_lock(file: Path) -> int | None:
    """A descriptor of the lock file, created with its folder the first time (None without
    fcntl: filelock opens it)."""
    if fcntl is None:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return None
    try:
        return os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # first lock of this user since the temp directory was emptied
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(file, os.O_RDWR | os.O_CREAT, 0o600)


def is_temp_file(name: str) -> bool:
    """Whether a file name is one of our temporary files (`.NAME.<8 hex>.tmp`)."""
    return _TEMP_NAME.fullmatch(name) is not None


def temp_files(path: Path) -> list[Path]:
    """Temporary files of the cassette at `path` left beside it by writers that were killed."""
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is not None and match.group("name") == path.name:
            found.append(path.parent / entry.name)
    return sorted(found)


def _locked_temp(path: Path) -> str:
    # Writers of a cassette hold its lock while their temporary file exists, so one name is
    # enough: a killed writer's file is found without listing the directory (which cost a
    # scan of every cassette beside it, per write) and is replaced by the next writer.
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}.{'0' * 8}{TEMP_SUFFIX}")


def _remove_stale_temp_files(path: Path) -> None:
    # Called under the cassette's lock: a temporary file seen now belongs to a dead writer.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_locked_temp(path))


def write(
    path: Path,
    new: Sequence[Interaction],
    drop: Iterable[str] = (),
    codec: Codec = YAML,
    rewrite_run: str | None = None,
    known: Counter[str] | None = None,
    dedupe: Callable[[Sequence[Interaction], list[Interaction]], list[Interaction]] | None = None,
    check: Callable[[list[Interaction]], None] | None = None,
    replace_run: str | None = None,
) -> int:
    """Merge `new` into the cassette at `path`, removing interactions whose identity is in `drop`
    (as many copies as `drop` lists).

    `known`: the `request_key`s of what the writer loaded from the file and keeps. Given, a
    new interaction whose request another process wrote meanwhile is not written again
    (`dedupe(new, theirs)` says which are left: the cassette's matchers; else equal stored
    requests): xdist workers that each record a session fixture's login keep one, the other
    would never play. Returns how many of `new` were written.

    `check`: shown what is kept of the file, as it is written (for secrets an older
    recorder left there; see Cassette.save).

    Under a cross-process lock: re-read what is on disk now (other workers may have written),
    merge, write a temporary file beside it, rename it over the cassette. A file that cannot
    be read raises CassetteLoadError and is left as it is.

    `rewrite_run`: the id of a run rewriting this cassette. Only the run's first write removes
    `drop` (the old recording); later writes of the same run, from any process, append: what
    other xdist workers recorded in the run is fresh, not old.

    `replace_run`: the id of a run rewriting this cassette in part (see run_old): `drop` is cut
    to what is still old (an interaction the run recorded may be identical to an old one,
    another save's replacement of which it is), and what it removes is added to the run's
    record of what its saves replaced, before the file is written (a writer killed between
    the two leaves an old interaction counted as replaced: kept at the run's end).
    """
    with _locked(path) as target:
        if rewrite_run is not None and not first_rewrite(path, rewrite_run):
            drop = ()
        if replace_run is not None and drop:
            left = _old_left(path, replace_run)
            drop = (Counter(drop) & left[1]).elements() if left else ()
        current = _read_uncached(target, codec, served=False)
        removed: list[str] = []
        kept = _without(current.interactions if current else (), drop, removed)
        if replace_run is not None and removed:
            _replaced(path, replace_run, removed)
        if known is not None and kept:
            new = _not_written_by_others(new, kept, known, dedupe)
        if check is not None and kept:
            check(kept)
        interactions = kept + list(new)
        data = {"interactions": interactions, "version": FORMAT_VERSION}
        text = codec.encoded(data)
        _atomic_write(
            target,
            text if text is not None else lambda stream: codec.dump(data, stream),
            temp=_locked_temp(target),
            mode=current.mode if current else None,  # None: read under the lock, none there
        )
    with _cache_lock:
        _cache.pop(path, None)
    return len(new)


def rewrite_text(path: Path, change: Callable[[str], str | None]) -> bool:
    """Replace the cassette at `path` by `change(its text)` (None: left as it is), under its
    lock and atomically, as a save does; whether it was written. Raises OSError (no such
    file, unreadable; or written meanwhile by a program that takes no lock, vcrpy's own
    recording: then left as it wrote it) and CassetteLoadError (not UTF-8), and what `change`
    raises."""
    with _locked(path) as target:
        raw = target.read_bytes()
        text = decode_text(raw, str(path))
        new = change(text)
        if new is None or new == text:
            return False
        if target.read_bytes() != raw:
            raise OSError("changed meanwhile (another program wrote it): left as it is, run again")
        _atomic_write(target, new, temp=_locked_temp(target))
    with _cache_lock:
        _cache.pop(path, None)
    return True


def request_key(request: Any) -> str:
    """A stored request (method, URI, body, headers) as a key."""
    try:
        return json.dumps(request, sort_keys=True, default=_json_default)
    except TypeError:  # keys of several types (aiohttp's json= {1: ..., "a": ...})
        return repr(request)


def _not_written_by_others(
    new: Sequence[Interaction],
    on_disk: Sequence[Interaction],
    known: Counter[str],
    dedupe: Callable[[Sequence[Interaction], list[Interaction]], list[Interaction]] | None,
) -> list[Interaction]:
    """`new` less one interaction per request that others wrote since the writer loaded."""
    unknown = Counter(request_key(i.get("request")) for i in on_disk) - known
    if not unknown:
        return list(new)
    others = []
    for interaction in on_disk:
        key = request_key(interaction.get("request"))
        if unknown[key] > 0:
            unknown[key] -= 1
            others.append(interaction)
    return (dedupe or _without_equal_requests)(new, others)


def _without_equal_requests(
    new: Sequence[Interaction], others: list[Interaction]
) -> list[Interaction]:
    theirs = Counter(request_key(i.get("request")) for i in others)
    kept = []
    for interaction in new:
        key = request_key(interaction.get("request"))
        if theirs[key] > 0:
            theirs[key] -= 1  # one of ours per one of theirs
        else:
            kept.append(interaction)
    return kept


def _without(
    interactions: Iterable[Interaction], drop: Iterable[str], removed: list[str] | None = None
) -> list[Interaction]:
    """The interactions less those in `drop`, one copy per listed identity (added to
    `removed`, when given, as they are found)."""
    remaining = Counter(drop)
    kept = []
    for interaction in interactions:
        key = identity(interaction) if remaining else ""
        if remaining[key] > 0:
            remaining[key] -= 1
            if removed is not None:
                removed.append(key)
        else:
            kept.append(interaction)
    return kept


def run_old(path: Path, run: str, store: str, loaded: Snapshot | None) -> Counter[str] | None:
    """The identities of the interactions the cassette at `path` held when the run `run` first
    opened it to rewrite it in part (`loaded`: the file as this process read it, before any
    of the run's writes: each follows its test's call of this), less those the run's saves
    replaced since. Recorded by the first call, under the cassette's lock, in the run's
    folder, after `store` (store_name), for its other processes and its end (drop_old). None
    where no record can be made: a save then replaces any own interaction its test sent
    again, and the run's end removes nothing."""
    try:
        lines = runmarks.read_lines(path, run, "old")
        if lines is None:
            with _locked(path):
                lines = runmarks.read_lines(path, run, "old")
                if lines is None:
                    lines = [store, *map(identity, loaded.interactions if loaded else ())]
                    runmarks.write_lines(path, run, "old", lines)
    except (OSError, LockFolderError):
        return None
    left = _left(lines)
    return left[1] if left else None


def _replaced(path: Path, run: str, removed: list[str]) -> None:
    """Add to the run's record of the cassette (run_old) what a save of it removed."""
    runmarks.add_lines(path, run, "old", [f"-{key}" for key in removed])


def _old_left(path: Path, run: str) -> tuple[str, Counter[str]] | None:
    """The codec's name and the old interactions (run_old) none of the run's saves replaced
    yet; None without the run's record."""
    return _left(runmarks.read_lines(path, run, "old"))


def _left(lines: list[str] | None) -> tuple[str, Counter[str]] | None:
    """The run's record of a cassette read: its first line, the store's name; then the old
    identities and, each after a `-`, those the run's saves replaced."""
    if not lines:
        return None
    old: Counter[str] = Counter()
    replaced: Counter[str] = Counter()
    for line in lines[1:]:
        if line.startswith("-"):
            replaced[line[1:]] += 1
        else:
            old[line] += 1
    return lines[0], old - replaced


def old_left(path: Path, run: str) -> int:
    """How many of the interactions the cassette at `path` held when the run first opened it
    (run_old) none of its saves replaced: 0 without the run's record."""
    left = _old_left(path, run)
    return sum(left[1].values()) if left else 0


def drop_old(path: Path, run: str, vcr: Any) -> None:
    """Remove from the cassette at `path` the interactions it held when the run first opened it
    (run_old) that none of its saves replaced, stored as the run's record says (`vcr`: the
    vcrpy object, for a serializer or persister registered on it). None go without the run's
    record."""
    left = _old_left(path, run)
    if not (left and left[1]):
        return
    kind, _, name = left[0].partition(":")
    old = list(left[1].elements())
    from vcr.persisters.filesystem import FilesystemPersister

    # Registered in a conftest this process did not load (an xdist controller collects none).
    if kind in ("persister", "serializer") and name not in vcr.serializers:
        raise LookupError(f"its serializer {name!r} is not registered in pytest's main process")
    if kind == "persister" and vcr.persister is FilesystemPersister:
        raise LookupError("its persister is not registered in pytest's main process")
    if kind == "persister":
        Persisted(vcr.persister, vcr.serializers[name]).write(path, [], old)
    elif os.path.exists(path):
        if kind == "serializer":
            codec = codec_for(name, vcr.serializers[name])
        else:
            codec = YAML if kind == "yaml" else _vcr_json_codec()
        write(path, [], old, codec)


_STAT = -1  # _atomic_write's mode when its caller did not read the file


def _atomic_write(
    path: Path,
    content: str | bytes | Callable[[BinaryIO], None],
    temp: str | None = None,
    mode: int | None = _STAT,
) -> None:
    """Replace `path` with `content`: readers see the old file or the new one, never a part,
    and a process killed at any moment leaves one of the two.

    Not fsynced: a crash of the whole machine within seconds of a write may leave a new
    cassette empty, which then fails to load with a message saying to delete it (a
    rewritten one stays whole on ext4 and btrfs, which flush a file renamed over another). An
    fsync, and the journal commit it waits for, cost two thirds of a cassette write.

    `temp`: the temporary file's name, for a writer holding the file's lock: a file of that
    name is then a killed writer's, replaced; others get a fresh random name.

    `mode`: the permission bits to keep, a mode the user chose, as the caller read them from
    the file (None: no file, a new cassette gets 0o666 less the umask, like any file the user
    creates); by default, the file's, looked up."""
    if mode == _STAT:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = None
    stale = temp is not None  # a killed writer's file may be in the way (once)
    while True:
        tmp = temp or os.path.join(path.parent, f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY
        try:
            try:
                fd = os.open(tmp, flags, 0o666)
            except FileNotFoundError:  # a cassette directory not made yet
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            if temp is not None:
                if not stale:
                    raise
                stale = False
                os.unlink(temp)
            continue
        break
    try:
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            if isinstance(content, (str, bytes)):  # os.write: no buffered file around it
                data = memoryview(content.encode("utf-8") if isinstance(content, str) else content)
                while data:
                    data = data[os.write(fd, data) :]
            else:
                with os.fdopen(fd, "wb", closefd=False) as stream:
                    content(stream)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    """Write a file atomically (the JSON report)."""
    _atomic_write(path, text)


def delete(path: Path) -> None:
    """Remove a cassette file under its lock (rewrite mode, prune)."""
    with _locked(path) as target:
        _remove_stale_temp_files(target)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    with _cache_lock:
        _cache.pop(path, None)


class Persisted:
    """Cassettes loaded and saved by a vcrpy persister registered in pytest_cassettes_configure.

    The persister owns the storage (a database, a bucket, another layout): our merge and atomic
    rename do not apply; the rest (matching, scrubbing, modes) does. Its loads and saves are
    under the cassette's cross-process lock: one that writes in steps (vcrpy's
    FilesystemPersister opens the file, emptying it, then writes) is never read halfway by
    another process of the run, and two saves do not lose each other's interactions. Without
    a lock folder (LockFolderError) they go without it, as the persister alone would.
    """

    __slots__ = ("persister", "serializer")

    def __init__(self, persister: Any, serializer: Any) -> None:
        self.persister = persister
        self.serializer = serializer

    def read(self, path: Path) -> Snapshot | None:
        """The cassette as the persister loads it, or None when it has none."""
        with _locked_if_possible(path):
            return self._load(path)

    def _load(self, path: Path) -> Snapshot | None:
        # Under the cassette's lock, when there is one.
        from vcr.persisters.filesystem import CassetteNotFoundError

        try:
            loaded = self.persister.load_cassette(str(path), serializer=self.serializer)
        except CassetteNotFoundError:
            return None
        except ValueError as exc:  # vcrpy's CassetteDecodeError and format errors
            raise CassetteLoadError(str(path), f"the persister cannot load it: {exc}") from exc
        requests, responses = loaded[0], loaded[1]
        interactions = tuple(
            {"request": _request_dict(request), "response": response}
            for request, response in zip(requests, responses)
        )
        return Snapshot(path, interactions, (0, 0, 0))

    def write(
        self,
        path: Path,
        new: Sequence[Interaction],
        drop: Iterable[str],
        rewrite_run: str | None = None,
        replace_run: str | None = None,
    ) -> int:
        """Hand the persister the whole cassette: what it holds, less `drop`, plus `new`
        (`rewrite_run`, `replace_run`: as for `write`, under our lock)."""
        rewriting = rewrite_run is not None or replace_run is not None
        with _locked(path) if rewriting else _locked_if_possible(path):
            if rewrite_run is not None and not first_rewrite(path, rewrite_run):
                drop = ()
            if replace_run is not None and drop:
                left = _old_left(path, replace_run)
                drop = (Counter(drop) & left[1]).elements() if left else ()
            current = self._load(path)
            if current is None and not new:
                return 0  # nothing to remove from, nothing to add (deleted meanwhile)
            removed: list[str] = []
            interactions = _without(current.interactions if current else (), drop, removed)
            if replace_run is not None and removed:
                _replaced(path, replace_run, removed)
            self._save(path, interactions + list(new))
        return len(interactions) + len(new)

    def _save(self, path: Path, interactions: list[Interaction]) -> None:
        from vcr.request import Request

        requests = [
            Request(i["request"]["method"], i["request"]["uri"], i["request"].get("body"), {})
            for i in interactions
        ]
        for request, interaction in zip(requests, interactions):
            request.headers = interaction["request"].get("headers") or {}
        # As vcrpy hands them over: response bodies as bytes (ours are stored as text).
        responses = [_with_bytes_body(i["response"]) for i in interactions]
        cassette = {"requests": requests, "responses": responses}
        self.persister.save_cassette(str(path), cassette, serializer=self.serializer)


def _with_bytes_body(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body")
    if isinstance(body, dict) and isinstance(body.get("string"), str):
        return {**response, "body": {**body, "string": body["string"].encode("utf-8")}}
    return response


def _request_dict(request: Any) -> dict[str, Any]:
    body = getattr(request, "_body", None)
    return {
        "method": request.method,
        "uri": request.uri,
        "body": to_text(body) if isinstance(body, bytes) else body,
        "headers": {name: [value] for name, value in request.headers.items()},
    }
