"""The plugin's state for one process: settings, the router, open and close of each cassette."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cassettes import paths, storage
from pytest_cassettes.cassette import Cassette, Context
from pytest_cassettes.patching import Patches, Router
from pytest_cassettes.report import Stats
from pytest_cassettes.settings import (
    RunMode,
    Settings,
    as_list,
    check_record_mode,
    resolve,
    validate_options,
)

if TYPE_CHECKING:
    from pytest_cassettes.compat import LegacyCassettes

MARKER = "cassette"
# vcrpy options that change what is stored or matched: only then is vcrpy's (deep-copying)
# request filter chain worth running.
REQUEST_FILTERS = frozenset(
    {
        "filter_headers",
        "filter_query_parameters",
        "filter_post_data_parameters",
        "ignore_hosts",
        "ignore_localhost",
        "before_record_request",
        "before_record",
    }
)
RESPONSE_FILTERS = frozenset({"before_record_response", "decode_compressed_response"})
INI_LISTS = (
    "allow_hosts",
    "scrub_headers",
    "scrub_params",
    "scrub_json_paths",
    "scrub_patterns",
    "scrub_env",
    "scrub_disable",
)
INI_FLAGS = ("strict", "record_on_exception", "block_network")


def marker_layers(item: pytest.Item) -> list[dict[str, Any]]:
    """The cassette markers' options, broadest (module) first, validated."""
    markers = list(item.iter_markers(MARKER))
    return [
        validate_options(m.kwargs, f"{item.nodeid}: @pytest.mark.{MARKER}")
        for m in reversed(markers)
    ]


def marker_names(item: pytest.Item) -> tuple[str, ...]:
    """Cassette names from the closest marker that names any."""
    for marker in item.iter_markers(MARKER):
        if marker.args:
            for name in marker.args:
                if not isinstance(name, str):
                    raise pytest.UsageError(
                        f"{item.nodeid}: cassette names must be strings, got {name!r}"
                    )
            return tuple(marker.args)
    return ()


class Session:
    """Everything pytest-cassettes keeps for one pytest process."""

    def __init__(self, config: pytest.Config, run: RunMode) -> None:
        self.config = config
        self.run = run
        self.router = Router()
        self.patches = Patches(self.router)
        self.stats = Stats()
        self.rewritten: set[Path] = set()
        self._vcr: Any = None
        ini_mode = config.getini("cassette_record_mode") or None
        self.ini_mode = (
            check_record_mode(ini_mode, "ini cassette_record_mode") if ini_mode else None
        )
        self.ini_options = self._ini_options()

    def _ini_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for name in INI_LISTS:
            values = self.config.getini(f"cassette_{name}")
            if values:
                options[name] = list(values)
        for name in INI_FLAGS:
            if self.config.getini(f"cassette_{name}"):
                options[name] = True
        return options

    @property
    def mode_line(self) -> str:
        """The record mode in force for the run, and why."""
        if self.run.mode is not None:
            return f"record mode {self.run.mode} ({self.run.source})"
        if self.ini_mode is not None:
            return f"record mode {self.ini_mode} (ini cassette_record_mode; markers may override)"
        return "record mode once (default; markers may override)"

    @property
    def vcr(self) -> Any:
        """The vcrpy configuration object, built once and offered to pytest_cassettes_configure."""
        if self._vcr is None:
            import vcr

            self._vcr = vcr.VCR()
            self.config.hook.pytest_cassettes_configure(config=self.config, vcr=self._vcr)
        return self._vcr

    # --- one test ------------------------------------------------------------------------

    def settings_for(
        self,
        item: pytest.Item,
        config_options: Mapping[str, Any],
        cassette_dir: Path,
        legacy: LegacyCassettes | None = None,
    ) -> Settings:
        """Resolve the test's settings (the one place where record mode is decided).

        `legacy`: a pytest-recording `vcr` test's markers and cassette layout (see compat.py).
        """
        config_options = validate_options(config_options, "cassette_config")
        layers = marker_layers(item) if legacy is None else legacy.layers
        serializer = _merged(config_options, layers, "serializer")
        suffix = ".json" if serializer == "json" else ".yaml"
        names = marker_names(item)
        if legacy is not None:
            own, shared = legacy.paths(serializer)
        elif names:
            own = paths.named_cassette(names[0], cassette_dir, suffix)
            shared = [paths.named_cassette(n, cassette_dir, suffix) for n in names[1:]]
        else:
            own, shared = paths.default_cassette(item, cassette_dir, suffix), []
        for name in shared_option(config_options, layers, item.nodeid):
            path = paths.named_cassette(name, cassette_dir, suffix)
            if path != own and path not in shared:
                shared.append(path)
        return resolve(
            run=self.run,
            ini_options=self.ini_options,
            ini_mode=self.ini_mode,
            config_options=config_options,
            marker_layers=layers,
            path=own,
            shared_paths=shared,
        )

    def open(self, item: pytest.Item, settings: Settings) -> Cassette:
        """Build the test's cassette and load what it may replay."""
        options = settings.vcr_options
        try:
            merged = self.vcr.get_merged_config(**options)
        except (KeyError, ValueError) as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc.args[0] if exc.args else exc}") from None
        codec = storage.codec_for(options.get("serializer", "yaml"), merged["serializer"])
        vcr_any = self.vcr
        prepare_request = (
            vcr_any._build_before_record_request(options)
            if REQUEST_FILTERS & options.keys()
            else (lambda request: request)
        )
        prepare_response = (
            vcr_any._build_before_record_response(options)
            if RESPONSE_FILTERS & options.keys()
            else (lambda response: response)
        )
        cassette = Cassette(
            path=settings.path,
            shared_paths=settings.shared_paths,
            record_mode=settings.record_mode,
            context=Context(
                test=item.nodeid,
                nodeid=item.nodeid,
                mode=settings.record_mode,
                reason=settings.mode_source,
            ),
            matchers=merged["match_on"],
            prepare_request=prepare_request,
            prepare_response=prepare_response,
            allow_playback_repeats=bool(merged["allow_playback_repeats"]),
            replay_only=settings.replay_only,
            codec=codec,
        )
        own = storage.read(settings.path, codec)
        cassette.own_exists = own is not None
        if settings.record_mode == "rewrite":
            # The old recording goes; it is removed when the new one is written, so a test that
            # fails keeps the old file. A cassette already rewritten in this run is appended to.
            if own is not None and settings.path not in self.rewritten:
                cassette.preset_drop = {storage.identity(i) for i in own.interactions}
            cassette.own_exists = False
            self.rewritten.add(settings.path)
        else:
            cassette.load(own, settings.path, own=True)
        for path in settings.shared_paths:
            cassette.load(storage.read(path, codec), path, own=False)
        return cassette

    @contextlib.contextmanager
    def active(self, cassette: Cassette) -> Iterator[Cassette]:
        """Route HTTP to this cassette while the test runs."""
        self.patches.switch_on()
        self.router.active = cassette
        try:
            yield cassette
        finally:
            self.router.active = None

    def close(self, cassette: Cassette, settings: Settings, failed: bool) -> None:
        """Save what the test recorded (unless it failed) and count what happened."""
        stats = self.stats
        played = cassette.play_count
        if played:
            stats.cassettes_replayed += 1
            stats.interactions_played += played
        stats.interactions_unused += len(cassette.unused)
        if failed and not settings.flag("record_on_exception"):
            stats.not_saved += len(cassette.recorded)
            return
        written = cassette.save(drop_unused=settings.flag("drop_unused_requests"))
        if written:
            stats.cassettes_recorded += 1
            stats.interactions_recorded += written
            stats.values_scrubbed += cassette.scrubbed


def shared_option(
    config_options: Mapping[str, Any], layers: list[dict[str, Any]], where: str
) -> list[str]:
    """The `shared=[...]` cassettes of every layer, broadest first."""
    names = [n for layer in [config_options, *layers] for n in as_list(layer.get("shared"))]
    for name in names:
        if not isinstance(name, str):
            raise pytest.UsageError(f"{where}: shared cassette names must be strings, got {name!r}")
    return names


def _merged(config_options: Mapping[str, Any], layers: list[dict[str, Any]], name: str) -> Any:
    value = config_options.get(name)
    for layer in layers:
        value = layer.get(name, value)
    return value
