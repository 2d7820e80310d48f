"""The resolved settings of one test, and the one function that resolves them."""

from __future__ import annotations

import difflib
import functools
import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
ENV_RECORD_MODE = "PYTEST_CASSETTES_RECORD_MODE"
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})

# Our own options, valid in markers, `cassette_config` and (prefixed `cassette_`) ini files.
OUR_SCALARS = frozenset(
    {"record_mode", "strict", "record_on_exception", "block_network", "drop_unused_requests"}
)
OUR_LISTS = frozenset(
    {
        "shared",  # read-only cassettes beside the test's own (pytest-recording's marker names)
        "allow_hosts",
        "scrub_headers",
        "scrub_params",
        "scrub_json_paths",
        "scrub_patterns",
        "scrub_env",
        "scrub_disable",
        "scrub_request",
        "scrub_response",
    }
)
# Our options an ini file can set too (as `cassette_<name>`); callables and per-test names can't.
INI_LISTS = tuple(sorted(OUR_LISTS - {"shared", "scrub_request", "scrub_response"}))
INI_FLAGS = ("strict", "record_on_exception", "block_network")
# vcrpy options whose values are lists: they extend the broader lists instead of replacing them.
VCR_LISTS = frozenset(
    {
        "filter_headers",
        "filter_query_parameters",
        "filter_post_data_parameters",
        "ignore_hosts",
        "additional_matchers",
        "before_record_request",
        "before_record_response",
    }
)
# vcrpy options whose values are sequences but which replace the broader value (a bare string
# would be read letter by letter).
SEQUENCE_OPTIONS = frozenset({"match_on"})
# vcrpy options that make no sense per test here, with what to do instead.
UNSUPPORTED = {
    "path": "name the cassette in the marker: @pytest.mark.cassette('name.yaml')",
    "cassette_library_dir": "use the `cassette_dir` fixture or the `cassette_dir` ini option",
    "path_transformer": "name the cassette in the marker or override the `cassette_dir` fixture",
    "func_path_generator": "name the cassette in the marker",
    "inject_cassette": "request the `cassette` fixture instead",
    "custom_patches": "HTTP libraries are patched once per session; "
    "register patches in the pytest_cassettes_configure hook",
    "skip_patchers": "HTTP libraries are patched once per session",
    # vcrpy 9's save/load hooks: scrubbing does their job here, before anything is written.
    "filter_sensitive_data": "use scrub_patterns or scrub_env (placeholders are kept on replay)",
    "before_save_interaction": "use before_record_request / before_record_response or the "
    "pytest_cassettes_scrub_request / pytest_cassettes_scrub_response hooks",
    "after_load_interaction": "use before_record_request / before_record_response",
}
# The same for pytest-recording's `vcr` tests, whose cassettes its fixtures place (they honour
# `cassette_library_dir`: see compat.library_dir).
UNSUPPORTED_FOR_VCR = {
    "path": "override the `default_cassette_name` fixture or use @pytest.mark.default_cassette",
    "path_transformer": "override the `vcr_cassette_dir` or `default_cassette_name` fixture",
}


@functools.cache
def vcr_options() -> frozenset[str]:
    """The options of the installed vcrpy's use_cassette (imported late: see plugin.py)."""
    from pytest_cassettes import libraries

    libraries.import_vcr()
    import vcr

    names = set(inspect.signature(vcr.VCR.__init__).parameters) - {"self"}
    names |= {"allow_playback_repeats", "additional_matchers", "persister"}
    return frozenset(names - set(UNSUPPORTED))


@functools.cache
def known_options() -> frozenset[str]:
    """Every option a marker or cassette_config may set."""
    return vcr_options() | OUR_SCALARS | OUR_LISTS


@functools.cache
def list_options() -> frozenset[str]:
    """Options whose values extend the broader layers' lists."""
    return (VCR_LISTS & vcr_options()) | OUR_LISTS


def is_true(value: str | None) -> bool:
    """Whether an environment variable's value means yes."""
    return value is not None and value.strip().lower() in TRUE_VALUES


def check_record_mode(value: object, where: str) -> str:
    """Return a valid record mode, or raise a UsageError saying where the bad one came from."""
    if value not in RECORD_MODES:
        raise pytest.UsageError(
            f"{where}: invalid record mode {value!r}; choose one of {', '.join(RECORD_MODES)}."
        )
    return str(value)


def validate_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check option names and the shape of list options; return a plain dict."""
    for name, value in options.items():
        if name in UNSUPPORTED:
            legacy = where == "vcr_config" or "@pytest.mark.vcr" in where
            hint = UNSUPPORTED_FOR_VCR.get(name, UNSUPPORTED[name]) if legacy else UNSUPPORTED[name]
            raise pytest.UsageError(f"{where}: option {name!r} is not supported: {hint}.")
        if name not in known_options():
            close = difflib.get_close_matches(name, known_options(), n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            raise pytest.UsageError(
                f"{where}: unknown option {name!r}.{guess} "
                f"Known options: {', '.join(sorted(known_options()))}."
            )
        if (name in list_options() or name in SEQUENCE_OPTIONS) and not _is_list_value(name, value):
            fix = f": write {name}=[{value!r}]" if isinstance(value, str) else ""
            raise pytest.UsageError(
                f"{where}: option {name!r} takes a list, got {type(value).__name__} {value!r}{fix}."
            )
        if name == "record_mode":
            check_record_mode(value, f"{where}: record_mode")
        if name in OUR_SCALARS - {"record_mode"} and not isinstance(value, bool):
            raise pytest.UsageError(f"{where}: option {name!r} takes True or False, got {value!r}.")
    return dict(options)


def _is_list_value(name: str, value: object) -> bool:
    if name in {
        "before_record_request",
        "before_record_response",
        "scrub_request",
        "scrub_response",
    }:
        return callable(value) or (isinstance(value, (list, tuple)) and all(map(callable, value)))
    return isinstance(value, (list, tuple, set, frozenset))


def as_list(value: object) -> list[Any]:
    """A list option's value as a list (a single callable counts as a list of one)."""
    if value is None:
        return []
    if callable(value):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def merge_options(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge option layers, broadest first: scalars are replaced, list options extended."""
    merged: dict[str, Any] = {}
    lists = list_options()
    for layer in layers:
        for name, value in layer.items():
            if name in lists:
                merged[name] = [*as_list(merged.get(name)), *as_list(value)]
            else:
                merged[name] = value
    return merged


class RunMode:
    """The record mode decided for the whole run, before any marker is read.

    This module's classes are written by hand, not as dataclasses (see values.py)."""

    __slots__ = ("mode", "source")

    def __init__(self, mode: str | None, source: str) -> None:
        self.mode = mode  # None: markers, cassette_config, ini or the default decide per test
        self.source = source

    @property
    def replay_only(self) -> bool:
        return self.mode == "none"


def run_mode(flag: str | None, environ: Mapping[str, str]) -> RunMode:
    """Flag, then the environment variable, then a CI run: what no marker can override."""
    if flag is not None:
        return RunMode(flag, "--record-mode")
    env_value = environ.get(ENV_RECORD_MODE)
    if env_value:
        return RunMode(check_record_mode(env_value, ENV_RECORD_MODE), ENV_RECORD_MODE)
    if is_true(environ.get("CI")):
        return RunMode("none", "CI is set: a replay-only run")
    return RunMode(None, "")


class Settings:
    """Everything decided for one cassette test."""

    __slots__ = (
        "mode_source",
        "named",
        "options",
        "path",
        "record_mode",
        "replay_only",
        "shared_paths",
    )

    def __init__(
        self,
        record_mode: str,
        mode_source: str,
        replay_only: bool,
        path: Path,
        shared_paths: tuple[Path, ...],
        options: Mapping[str, Any],
        named: bool = False,  # the marker names the cassette: other tests may share it
    ) -> None:
        self.record_mode = record_mode
        self.mode_source = mode_source
        self.replay_only = replay_only
        self.path = path
        self.shared_paths = shared_paths
        self.options = options
        self.named = named

    @property
    def vcr_options(self) -> dict[str, Any]:
        """The options vcrpy understands."""
        names = vcr_options()
        return {k: v for k, v in self.options.items() if k in names and k != "record_mode"}

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean option."""
        return bool(self.options.get(name, default))

    def strings(self, name: str) -> tuple[str, ...]:
        """A list option of strings."""
        return tuple(str(v) for v in as_list(self.options.get(name)))


def resolve(
    *,
    run: RunMode,
    ini_options: Mapping[str, Any],
    ini_mode: str | None,
    config_options: Mapping[str, Any],
    marker_layers: Sequence[Mapping[str, Any]],
    path: Path,
    shared_paths: Sequence[Path],
    config_source: str = "cassette_config",
    named: bool = False,
) -> Settings:
    """Resolve a test's settings. Mode: flag > env > CI > marker > fixture > ini > default.
    `config_source` names `config_options` in messages; `named`: the marker names the cassette."""
    options = merge_options([ini_options, config_options, *marker_layers])
    marker_mode = next(
        (m["record_mode"] for m in reversed(marker_layers) if "record_mode" in m), None
    )
    if run.mode is not None:
        mode, source = run.mode, run.source
    elif marker_mode is not None:
        mode, source = marker_mode, "marker"
    elif "record_mode" in config_options:
        mode, source = config_options["record_mode"], config_source
    elif ini_mode is not None:
        mode, source = ini_mode, "ini cassette_record_mode"
    else:
        mode, source = "once", "default"
    options.pop("record_mode", None)
    return Settings(
        record_mode=mode,
        mode_source=source,
        replay_only=mode == "none",
        path=path,
        shared_paths=tuple(shared_paths),
        options=options,
        named=named,
    )


def environ() -> Mapping[str, str]:
    """The process environment (a seam for readability, not for mocking)."""
    return os.environ
