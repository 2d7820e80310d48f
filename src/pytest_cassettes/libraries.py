"""vcrpy imported without the HTTP libraries the process has not imported, and a watch for them.

Importing any part of vcrpy runs `vcr/__init__`, which imports `vcr.patch`, which imports every
HTTP library it knows (aiohttp, httpx, botocore, tornado, ...) to keep their original classes:
0.2 s and 22 MiB in a process whose tests use only requests. We import vcrpy with the libraries
that are not loaded yet hidden (`sys.modules[name] = None`), so `vcr.patch` skips them as it
skips uninstalled ones. A finder on `sys.meta_path` notices when one of them is imported later
(test modules are collected after vcrpy is imported, and a test may import its client inside
its body); `vcr.patch` is then reloaded, keeping the originals it already holds, and the
listeners (our patches) rebuild. A project that imports vcrpy itself (or pytest-recording,
which does) gets vcrpy as usual, every library included.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Protocol

# Every library vcr.patch imports (module level or in CassettePatcherBuilder), by its top name.
LIBRARIES = frozenset(
    {
        "aiohttp",
        "botocore",
        "httplib2",
        "httpx",
        "httpx2",
        "httpx_curl_cffi",
        "pyreqwest",
        "requests",
        "tornado",
        "urllib3",
    }
)

# Never hidden: cheap to import, and other libraries (botocore) import them from modules
# vcr.patch imports.
NOT_HIDDEN = frozenset({"requests", "urllib3"})

_lock = threading.RLock()
_patch_sees: frozenset[str] | None = None  # the libraries vcr.patch was (re)loaded with
_listeners: list[Listener] = []
# Per thread: whether it is reloading vcr.patch, and whether a library was imported meanwhile
# (everything mode and the fallback import them for real; the watcher must not reload then).
_reload = threading.local()


def loaded() -> frozenset[str]:
    """The libraries imported in this process."""
    return frozenset(name for name in LIBRARIES if sys.modules.get(name) is not None)


@contextlib.contextmanager
def hidden(names: frozenset[str]) -> Iterator[None]:
    """Make `import name` fail with ImportError for these (not yet imported) libraries."""
    names = frozenset(name for name in names - NOT_HIDDEN if name not in sys.modules)
    for name in names:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in names:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_vcr() -> None:
    """Import vcrpy, seeing only the libraries already imported (a no-op once done)."""
    global _patch_sees
    with _lock:
        if _patch_sees is not None:
            return
        if "vcr.patch" in sys.modules:  # imported in full by somebody else
            _patch_sees = LIBRARIES
            return
        seen = loaded()
        with hidden(LIBRARIES - seen):
            import vcr.cassette

        _patch_sees = seen
        # vcrpy's own use_cassette (a project may use vcrpy directly too) builds its patchers
        # after vcr.patch has seen every library, as it would without us.
        vcr.cassette.CassettePatcherBuilder = _builder_seeing_everything(
            vcr.cassette.CassettePatcherBuilder
        )
        sys.meta_path.insert(0, _WATCHER)


def patch_module(everything: bool = False) -> ModuleType:
    """`vcr.patch`, reloaded first if a library it could not see has been imported since.

    `everything`: reload it seeing every installed library (which imports them).
    """
    global _patch_sees
    import_vcr()
    with _lock:
        vcr_patch = sys.modules["vcr.patch"]
        assert _patch_sees is not None
        now = LIBRARIES if everything else loaded() | _patch_sees
        if now != _patch_sees:
            # Originals saved by the first load stay: a class patched since must not be
            # taken for the original.
            kept = {name: value for name, value in vars(vcr_patch).items() if name[:1] == "_"}
            _reload.active = True
            try:
                with hidden(LIBRARIES - now):
                    importlib.reload(vcr_patch)
            except (ImportError, RuntimeError):
                # A library whose modules import a hidden one: let vcr.patch see them all.
                importlib.reload(vcr_patch)
                now = LIBRARIES
            finally:
                _reload.active = False
            vars(vcr_patch).update(kept)
            _patch_sees = now
        if _reload.__dict__.pop("imported", False):
            _tell("after_import")  # what the watcher held back during the reload
        return vcr_patch


def build_patchers(router: Any) -> list[Any]:
    """vcrpy's patchers for the imported libraries, bound to `router`."""
    vcr_patch = patch_module()
    with hidden(LIBRARIES - loaded()):
        return list(vcr_patch.CassettePatcherBuilder(router).build())


def _builder_seeing_everything(builder: type[Any]) -> type[Any]:
    class CassettePatcherBuilder(builder):  # type: ignore[misc]
        def build(self) -> Any:
            patch_module(everything=True)
            return super().build()

    return CassettePatcherBuilder


class Listener(Protocol):
    """Told around the import of a library vcr.patch has not seen (see Patches)."""

    def before_import(self) -> None: ...

    def after_import(self) -> None: ...


def watch(listener: Listener) -> Callable[[], None]:
    """Tell `listener` about library imports from now on; returns the function that stops it."""
    with _lock:
        _listeners.append(listener)

    def stop() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop


def _tell(event: str) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        getattr(listener, event)()


class _Watcher(importlib.abc.MetaPathFinder):
    """Wraps the import of a library vcr.patch has not seen, outermost import of a thread only:
    listeners switch their patches off before it (the library's classes must be built on the
    real ones, as they are without us), vcr.patch is reloaded after it, then listeners rebuild.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        seen = _patch_sees or LIBRARIES
        if fullname not in LIBRARIES or fullname in seen or getattr(self._local, "finding", False):
            return None
        self._local.finding = True
        try:
            spec = next(
                (
                    found
                    for finder in sys.meta_path
                    if finder is not self and hasattr(finder, "find_spec")
                    for found in [finder.find_spec(fullname, path, target)]
                    if found is not None
                ),
                None,
            )
        finally:
            self._local.finding = False
        loader = spec.loader if spec is not None else None
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec
        local = self._local

        def exec_and_tell(module: ModuleType) -> None:
            depth = getattr(local, "depth", 0)
            if depth == 0:
                _tell("before_import")
            local.depth = depth + 1
            try:
                exec_module(module)
            finally:
                local.depth = depth
                if depth == 0 and getattr(_reload, "active", False):
                    _reload.imported = True  # imported by our reload: it tells when done
                elif depth == 0:
                    patch_module()
                    _tell("after_import")

        with contextlib.suppress(AttributeError):  # a loader with slots: not watched
            loader.exec_module = exec_and_tell  # type: ignore[union-attr,method-assign]
        return spec


_WATCHER = _Watcher()


# The vcrpy names the rest of the package uses; importing this module imports vcrpy, so it is
# imported from pytest_configure on (see plugin.py).
import_vcr()

from vcr import matchers as vcr_matchers  # noqa: E402
from vcr.request import Request  # noqa: E402

__all__ = [
    "Request",
    "build_patchers",
    "hidden",
    "import_vcr",
    "loaded",
    "patch_module",
    "vcr_matchers",
    "watch",
]
