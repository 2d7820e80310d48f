"""pytest-recording's names, honoured when pytest-recording itself is not loaded.

A suite written for pytest-recording runs unchanged: `@pytest.mark.vcr`, the `vcr_config`,
`vcr_cassette_dir`, `default_cassette_name` and `vcr` fixtures, `@pytest.mark.default_cassette`,
`@pytest.mark.block_network`, `--block-network` and `--allowed-hosts`. Cassettes land where
pytest-recording puts them, so both plugins replay each other's files.

When pytest-recording is loaded it owns these names and none of this is registered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cassettes.paths import without_repetition
from pytest_cassettes.settings import merge_options, validate_options
from pytest_cassettes.values import Value

if TYPE_CHECKING:
    from pytest_cassettes.cassette import Cassette

VCR_MARKER = "vcr"
LIBRARY_DIR = "cassette_library_dir"  # vcrpy's option, honoured for `vcr` tests only
ACTIVE: pytest.StashKey[bool] = pytest.StashKey()
PLUGIN_NAME = "cassettes-compat"
# pytest-recording's replacement of characters forbidden in file names (not control characters).
UNSAFE = r"<>?%*:|\"'/\\"
try:
    MAX_FILENAME_LEN = os.pathconf(".", "PC_NAME_MAX")
except (AttributeError, ValueError, OSError):  # Windows
    MAX_FILENAME_LEN = 255


class NetworkOptions(Value):
    """What the network guard reads: pytest-recording's flags and marker, with ours.

    `block_network`: `--block-network`, ini `cassette_block_network` or the test's
    `@pytest.mark.block_network`. `allow_hosts`: `--cassette-allow-hosts`, `--allowed-hosts`,
    ini `cassette_allow_hosts`, the marker's `allowed_hosts` and `vcr_config["allowed_hosts"]`.
    """

    __slots__ = _compared = ("block_network", "allow_hosts")

    def __init__(self, block_network: bool = False, allow_hosts: tuple[str, ...] = ()) -> None:
        self.block_network = block_network
        self.allow_hosts = allow_hosts


def add_options(group: pytest.OptionGroup) -> None:
    """pytest-recording's network flags (called only when pytest-recording is not loaded)."""
    with contextlib.suppress(ValueError):  # already added beside --record-mode
        group.addoption(
            "--block-network",
            dest="block_network",
            action="store_true",
            default=None,
            help="Block real network connections in every test (pytest-recording's flag; "
            "ini cassette_block_network).",
        )
    group.addoption(
        "--disable-recording",
        dest="disable_recording",
        action="store_true",
        default=False,
        help="Run cassette tests live, without their cassettes (pytest-recording's flag; "
        "same as --cassette-disable).",
    )
    group.addoption(
        "--allowed-hosts",
        dest="allowed_hosts",
        default=None,
        help="Comma-separated hosts that stay reachable under --block-network "
        "(pytest-recording's flag; same as --cassette-allow-hosts).",
    )


def disabled(config: pytest.Config) -> str | None:
    """The flag that runs cassette tests without cassettes, if given: ours, or
    pytest-recording's when it is not loaded (loaded, its flag is its own)."""
    if config.getoption("cassette_disable", False):
        return "--cassette-disable"
    if config.getoption("disable_recording", False) and not config.pluginmanager.has_plugin(
        "recording"
    ):
        return "--disable-recording"
    return None


def is_active(config: pytest.Config) -> bool:
    """Whether this process honours pytest-recording's names (it is not loaded)."""
    return config.stash.get(ACTIVE, False)


def install(config: pytest.Config) -> None:
    """Register the markers and fixtures, unless pytest-recording is loaded and owns them."""
    active = not config.pluginmanager.has_plugin("recording")
    config.stash[ACTIVE] = active
    if not active:
        return
    for line in (
        f"{VCR_MARKER}(*extra_cassettes, **options): pytest-recording's marker, run by "
        "pytest-cassettes: records into cassettes/<module>/<test>.yaml; names are extra "
        "read-only cassettes in that directory; options are vcrpy options.",
        "default_cassette(name): the cassette a `vcr` test records into (pytest-recording).",
        "block_network(allowed_hosts=None): block real network access (pytest-recording).",
        "allowed_hosts(*hosts): hosts reachable despite blocked network (pytest-recording).",
    ):
        config.addinivalue_line("markers", line)
    from pytest_cassettes import recording_fixtures

    config.pluginmanager.register(recording_fixtures, PLUGIN_NAME)


def split_hosts(value: object) -> list[str]:
    """Hosts from a comma- or space-separated string, or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        from pytest_cassettes.network import split_entries

        return split_entries(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(h) for h in value]
    raise pytest.UsageError(f"allowed hosts: expected a string or a list, got {value!r}")


def uses_vcr(item: pytest.Item) -> bool:
    """Whether the test carries pytest-recording's marker (and compat is on)."""
    return is_active(item.config) and item.get_closest_marker(VCR_MARKER) is not None


def vcr_markers(item: pytest.Item) -> list[pytest.Mark]:
    """The test's `vcr` markers, closest first."""
    return list(item.iter_markers(VCR_MARKER))


def marker_layers(item: pytest.Item) -> list[dict[str, Any]]:
    """The `vcr` markers' options, broadest first, validated like ours."""
    if item.get_closest_marker("cassette") is not None:
        raise pytest.UsageError(
            f"{item.nodeid}: both @pytest.mark.cassette and @pytest.mark.vcr apply; "
            "use one (`pytest-cassettes migrate` rewrites vcr markers)."
        )
    return [
        validate_options(
            {k: v for k, v in m.kwargs.items() if k != LIBRARY_DIR},
            f"{item.nodeid}: @pytest.mark.{VCR_MARKER}",
        )
        for m in reversed(vcr_markers(item))
    ]


def library_dir(item: pytest.Item, vcr_config: Mapping[str, Any]) -> Path | None:
    """vcrpy's `cassette_library_dir` of a `vcr` test, as pytest-recording honours it (the
    closest marker's, else `vcr_config`'s): the directory of its cassettes, flat, relative to
    where pytest was started. None: `vcr_cassette_dir` decides."""
    value = next(
        (m.kwargs[LIBRARY_DIR] for m in vcr_markers(item) if LIBRARY_DIR in m.kwargs),
        vcr_config.get(LIBRARY_DIR),
    )
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise pytest.UsageError(f"{item.nodeid}: {LIBRARY_DIR} must be a path, got {value!r}")
    return Path(item.config.invocation_params.dir, os.fspath(value))


def config_options(vcr_config: Mapping[str, Any]) -> dict[str, Any]:
    """`vcr_config` as our options: pytest-recording's `allowed_hosts` key is `allow_hosts`."""
    options = {k: v for k, v in vcr_config.items() if k != LIBRARY_DIR}  # see library_dir
    if "allowed_hosts" in options:
        hosts = split_hosts(options.pop("allowed_hosts"))
        options["allow_hosts"] = [*split_hosts(options.get("allow_hosts")), *hosts]
    return validate_options(options, "vcr_config")


def default_cassette_name(item: pytest.Item) -> str:
    """pytest-recording's name: `Class.test[params]` (innermost class), or default_cassette."""
    marker = item.get_closest_marker("default_cassette")
    if marker is not None:
        if not marker.args or not isinstance(marker.args[0], str):
            raise pytest.UsageError(
                f"{item.nodeid}: pass the cassette name to @pytest.mark.default_cassette('name')"
            )
        return marker.args[0]
    cls = getattr(item, "cls", None)
    name = f"{cls.__name__}.{item.name}" if cls is not None else item.name
    name = without_repetition(item, name)  # pytest-repeat's repetitions share it
    for char in UNSAFE:
        name = name.replace(char, "-")
    return name


class LegacyCassettes:
    """The cassettes of a `vcr` test, laid out as pytest-recording lays them out."""

    __slots__ = ("default_name", "directory", "extra", "extra_directory", "layers")

    def __init__(
        self,
        layers: list[dict[str, Any]],
        directory: Path,  # of the test's own cassette: `vcr_cassette_dir`, or cassette_library_dir
        default_name: str,
        extra: tuple[str, ...],
        extra_directory: Path | None = None,  # what extra names are relative to, if not `directory`
    ) -> None:
        self.layers = layers
        self.directory = directory
        self.default_name = default_name
        self.extra = extra
        self.extra_directory = extra_directory

    def paths(self, serializer: str | None) -> tuple[Path, list[Path]]:
        """The cassette recorded into, and the extra ones replayed read-only."""
        suffix = f".{serializer}" if serializer else ".yaml"
        name = self.default_name
        # pytest-recording measures against the serializer's name, not the suffix: kept so
        # long names hash to the same file.
        if len(name) + len(serializer or ".yaml") > MAX_FILENAME_LEN:
            digest = hashlib.md5(name.encode()).hexdigest()
            name = f"{name[: MAX_FILENAME_LEN - len(serializer or '.yaml') - len(digest) - 3]}"
            name += f"...{digest}"
        own = Path(self.directory, name if name.endswith(suffix) else name + suffix)
        base = self.extra_directory or self.directory
        extra = [Path(p) if os.path.isabs(p) else base / p for p in self.extra]
        return own, [p for p in _unique(extra) if p != own]


def legacy_cassettes(request: pytest.FixtureRequest) -> LegacyCassettes:
    """Read a `vcr` test's markers and pytest-recording's fixtures."""
    item = request.node
    extra: list[str] = []
    for marker in vcr_markers(item):
        for name in marker.args:
            if not isinstance(name, (str, os.PathLike)):
                raise pytest.UsageError(
                    f"{item.nodeid}: cassette names must be strings, got {name!r}"
                )
            extra.append(os.fspath(name))
    module_dir = Path(request.getfixturevalue("vcr_cassette_dir"))
    # pytest-recording: the own cassette in the library dir, extra names still relative to
    # `vcr_cassette_dir`.
    return LegacyCassettes(
        layers=marker_layers(item),
        directory=library_dir(item, request.getfixturevalue("vcr_config")) or module_dir,
        default_name=str(request.getfixturevalue("default_cassette_name")),
        extra=tuple(extra),
        extra_directory=module_dir,
    )


_RUN_NETWORK: pytest.StashKey[tuple[bool, tuple[str, ...]]] = pytest.StashKey()


def run_network(config: pytest.Config) -> tuple[bool, tuple[str, ...]]:
    """The flags' and ini's part of the network options, the same for every test of a run:
    whether the network is blocked, and the allowed hosts (ini first, then the flags)."""
    cached = config.stash.get(_RUN_NETWORK, None)
    if cached is None:
        block = bool(config.getoption("block_network", None)) or bool(
            config.getini("cassette_block_network")
        )
        hosts = (
            *config.getini("cassette_allow_hosts"),
            *split_hosts(config.getoption("cassette_allow_hosts", None)),
            *split_hosts(config.getoption("allowed_hosts", None)),
        )
        cached = config.stash[_RUN_NETWORK] = (block, hosts)
    return cached


def run_blocks_network(config: pytest.Config) -> bool:
    """Whether --block-network (or the ini option) is on for the whole run."""
    return run_network(config)[0]


def network_options(
    item: pytest.Item,
    config_options: Mapping[str, Any] | None = None,
    marker_names: Collection[str] | None = None,
) -> NetworkOptions:
    """The network settings of one test, for the network guard.

    `marker_names`: the names of every marker of the test, when the caller has them (a test
    without `block_network` then costs no marker lookup)."""
    config = item.config
    block, run_hosts = run_network(config)
    hosts = list(run_hosts)
    if config_options:
        block = block or bool(config_options.get("block_network"))
        hosts += split_hosts(config_options.get("allow_hosts"))
    marker = None
    if is_active(config) and (marker_names is None or "block_network" in marker_names):
        marker = item.get_closest_marker("block_network")
    if marker is not None:
        unexpected = set(marker.kwargs) - {"allowed_hosts"}
        if marker.args or unexpected:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.block_network takes only allowed_hosts=..., "
                f"got args {marker.args!r}, kwargs {sorted(marker.kwargs)!r}"
            )
        block = True
        hosts += split_hosts(marker.kwargs.get("allowed_hosts"))
    return NetworkOptions(block_network=block, allow_hosts=tuple(_unique(hosts)))


def vcr_test_config(
    request: pytest.FixtureRequest, cassette_config: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """A `vcr` test's options: `cassette_config`, then a `record_mode` fixture the user
    overrides (pytest-recording's base mode), then `vcr_config` (lists extend); and the name of
    the layer whose `record_mode` counts, for messages."""
    from pytest_cassettes.session import own_fixtures

    layers = [cassette_config]
    source = "cassette_config"
    if not own_fixtures(request.node, ("record_mode",)):
        mode = request.getfixturevalue("record_mode")
        layers.append(validate_options({"record_mode": mode}, "record_mode fixture"))
        source = "record_mode fixture"
    vcr_config = config_options(request.getfixturevalue("vcr_config"))
    if "record_mode" in vcr_config:
        source = "vcr_config"
    return merge_options([*layers, vcr_config]), source


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


class VcrCassette:
    """What pytest-recording's `vcr` fixture gives a test, a vcrpy `Cassette`, as a view of the
    test's cassette with vcrpy's meanings: `data` (every interaction loaded, then those
    recorded), `requests`, `responses`, `play_counts`, `play_count`, `all_played` (False
    while anything recorded was not replayed, as in vcrpy), `dirty`, `write_protected`,
    `rewound`, `_path`, `len()`. Anything else is the cassette's own (`path`,
    `recorded_requests`, `unused`, ...)."""

    def __init__(self, cassette: Cassette) -> None:
        self._cassette = cassette

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cassette, name)

    def __repr__(self) -> str:
        return f"<VcrCassette {self._cassette!r}>"

    @property
    def data(self) -> list[tuple[Any, dict[str, Any]]]:
        loaded = [(entry.request, entry.response) for entry in self._cassette.entries]
        return loaded + list(self._cassette.recorded)

    @property
    def requests(self) -> list[Any]:
        return [request for request, _ in self.data]

    @property
    def responses(self) -> list[dict[str, Any]]:
        return [response for _, response in self.data]

    @property
    def play_counts(self) -> Counter[int]:
        return Counter({i: e.plays for i, e in enumerate(self._cassette.entries) if e.plays})

    @property
    def play_count(self) -> int:
        return self._cassette.play_count

    @property
    def all_played(self) -> bool:
        return not self._cassette.recorded and self._cassette.all_played

    @property
    def dirty(self) -> bool:
        return bool(self._cassette.recorded)

    @property
    def write_protected(self) -> bool:
        return not self._cassette.can_record

    @property
    def rewound(self) -> bool:
        return self._cassette.own_exists

    @property
    def _path(self) -> str:
        return str(self._cassette.path)

    def __len__(self) -> int:
        return len(self._cassette.entries) + len(self._cassette.recorded)
