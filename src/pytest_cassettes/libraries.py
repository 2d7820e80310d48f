"""vcrpy imported without the HTTP libraries the process has not imported, and a watch for them.

Importing any part of vcrpy runs `vcr/__init__`, which imports `vcr.patch`, which imports every
HTTP library it knows (aiohttp, httpx, botocore, tornado, ...) to keep their original classes:
0.2 s and 22 MiB in a process whose tests use only requests. We import vcrpy with the libraries
that are not loaded yet hidden (a finder fails their import, on the importing thread only), so
`vcr.patch` skips them as it skips uninstalled ones. A finder on `sys.meta_path` notices when
one of them is imported later (test modules are collected after vcrpy is imported, and a test
may import its client inside its body): the listeners (our patches) switch off while it is
imported, so its classes are built on the real ones; `vcr.patch` is then reloaded, keeping the
originals it already holds, and the listeners rebuild. A test's background thread importing one
of them while vcrpy is imported gets it (only the importing thread's imports are hidden); one
whose import ends while another thread imports vcrpy or reloads `vcr.patch` leaves the reload
to that thread (which waits for this very import), so the library is patched once it is done.

vcrpy is imported when the first cassette test starts: a run without one does not load it (nor
requests and urllib3, which vcr.patch imports). A finder installed when the plugin loads makes
the process's first `import vcr` the lean one even when the project's own code (a conftest, a
test module using vcrpy directly) imports it first; vcrpy's own `use_cassette` still sees every
library. A process where vcrpy was imported in full before the plugin loaded (pytest-recording
does) keeps it so.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Protocol

from pytest_cassettes.importhooks import Exec, WrappingFinder

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

_lock = threading.RLock()  # taken through _holding()
_patch_sees: frozenset[str] | None = None  # the libraries vcr.patch was (re)loaded with
_seen: dict[str, ModuleType | None] = {}  # their modules then (see new_session)
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()  # the list only: never held while importing
# A library's import ended on a thread that found _lock taken by a thread importing libraries:
# vcr.patch is to be reloaded and the listeners told by the thread releasing _lock (see
# _after_import).
_deferred = False
_held = threading.local()  # how deep this thread holds _lock
_importing: int | None = None  # the thread importing vcrpy, or reloading vcr.patch, under _lock
# Per thread: whether it is reloading vcr.patch, and whether a library was imported meanwhile
# (everything mode and the fallback import them for real; the watcher must not reload then).
_reload = threading.local()


def loaded() -> frozenset[str]:
    """The libraries imported in this process."""
    return frozenset(name for name in LIBRARIES if sys.modules.get(name) is not None)


class _Hider(importlib.abc.MetaPathFinder):
    """Fails the import of the libraries `hidden` names, on the thread hiding them only.

    Not `sys.modules[name] = None`, which hides a library from every thread: a test's
    background thread importing httpx while vcrpy is imported (or its patchers built) on
    another would get an ImportError."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def names(self) -> frozenset[str]:
        names: frozenset[str] = getattr(self._local, "names", frozenset())
        return names

    @names.setter
    def names(self, names: frozenset[str]) -> None:
        self._local.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden)", name=fullname)
        return None


_HIDER = _Hider()


@contextlib.contextmanager
def hidden(names: frozenset[str]) -> Iterator[None]:
    """Make `import name` fail with ImportError, on this thread, for these (not yet imported)
    libraries."""
    names = frozenset(name for name in names - NOT_HIDDEN if name not in sys.modules)
    with _holding():
        if _HIDER not in sys.meta_path:  # once: never removed, so no import misses a finder
            sys.meta_path.insert(0, _HIDER)
    outer = _HIDER.names
    _HIDER.names = outer | names
    try:
        yield
    finally:
        _HIDER.names = outer


@contextlib.contextmanager
def _holding() -> Iterator[None]:
    """Hold `_lock`; once this thread lets go of it, do what other threads' imports left to the
    holder (see _after_import)."""
    with _lock:
        _held.depth = getattr(_held, "depth", 0) + 1
        try:
            yield
        finally:
            _held.depth -= 1
    if not _held.depth:
        _catch_up()


def import_vcr() -> None:
    """Import vcrpy, seeing only the libraries already imported (a no-op once done)."""
    with _holding():
        if _patch_sees is not None:
            return
        if "vcr.patch" in sys.modules:  # imported in full before our hook was installed
            _imported(LIBRARIES, hooked=False)
            return
        install()
        with _importing_libraries():
            import vcr.cassette  # noqa: F401 (through _FirstImport: see below)

        if _patch_sees is None:  # vcr was half imported when the hook was installed
            _imported(LIBRARIES, hooked=False)


def _sees(libraries: frozenset[str] | None) -> None:
    """vcr.patch has been (re)loaded seeing these libraries (None: vcrpy is not imported)."""
    global _patch_sees
    _patch_sees = libraries
    _seen.clear()
    _seen.update((name, sys.modules.get(name)) for name in libraries or ())


def _imported(seen: frozenset[str], hooked: bool = True) -> None:
    """vcrpy is imported, having seen these libraries."""
    with _holding():
        _sees(seen)
        import vcr.cassette

        # vcrpy's own use_cassette (a project may use vcrpy directly too) builds its patchers
        # after vcr.patch has seen every library, as it would without us (already so when it
        # was imported in full), and notes its file.
        vcr.cassette.CassettePatcherBuilder = _builder_seeing_everything(
            vcr.cassette.CassettePatcherBuilder
        )
        if hooked:
            _watching()


def _watching() -> None:
    """Put the watcher on `sys.meta_path`, once."""
    if _WATCHER not in sys.meta_path:
        sys.meta_path.insert(0, _WATCHER)


class _FirstImport(WrappingFinder):
    """The first `import vcr` of the process, ours or the project's (a conftest, a test module
    using vcrpy itself), runs with the HTTP libraries not imported yet hidden: vcr.patch would
    otherwise import aiohttp, httpx, botocore... (0.2 s and 22 MiB a process). Installed when
    the plugin loads; vcrpy itself is imported when the first cassette test starts, or when the
    project imports it."""

    def wants(self, fullname: str) -> bool:
        return fullname == "vcr"

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "vcr":
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)  # once, whatever happens
        return super().find_spec(fullname, path, target)

    def wrap(self, exec_module: Exec) -> Exec:
        def exec_lean(module: ModuleType) -> None:
            seen = loaded()
            with hidden(LIBRARIES - seen):
                exec_module(module)
            _imported(seen)

        return exec_lean  # a loader with slots: imported in full


_FIRST = _FirstImport()


def install() -> None:
    """Make the process's first `import vcr` the lean one (a no-op once vcr is imported)."""
    with _holding():
        if "vcr" not in sys.modules and _FIRST not in sys.meta_path:
            sys.meta_path.insert(0, _FIRST)


def new_session() -> None:
    """At the start of each pytest session: `install()`, and catch up with the libraries the
    process forgot since the last one (cheap: a look at a few modules).

    pytester's in-process runs forget the modules each run imported and restore
    `sys.meta_path`, while what was imported outside the runs (this module, vcrpy: a test
    calling the command line between two runs) stays. A library vcr.patch saw in one run
    (httpx imported in a test's body) is imported anew in the next: vcr.patch, holding the
    forgotten one, is to see it again (the watcher reloads it on that import, and the patches
    rebuild), and the watcher, put on `sys.meta_path` inside a run, is put back."""
    with _holding():
        if _patch_sees is None:
            install()
            return
        vcr_patch = sys.modules.get("vcr.patch")
        if vcr_patch is None:  # vcrpy itself forgotten: imported afresh, the lean way
            _sees(None)
            install()
            return
        gone = frozenset(name for name in _patch_sees if sys.modules.get(name) is not _seen[name])
        if gone:
            # The originals vcr.patch keeps across reloads (see patch_module): not those of a
            # forgotten library, which its next load saves from the new one.
            for name, value in list(vars(vcr_patch).items()):
                if name[:1] == "_" and _library_of(value) in gone:
                    delattr(vcr_patch, name)
            _sees(_patch_sees - gone)
        if _patch_sees != LIBRARIES:
            _watching()


def _library_of(value: Any) -> str:
    """The top-level package an original vcr.patch saved comes from (a class, a function, or
    httplib2's dict of them)."""
    if isinstance(value, dict):
        value = next(iter(value.values()), None)
    module = getattr(value, "__module__", None)
    return module.partition(".")[0] if isinstance(module, str) else ""


def patch_module(everything: bool = False) -> ModuleType:
    """`vcr.patch`, reloaded first if a library it could not see has been imported since.

    `everything`: reload it seeing every installed library (which imports them).
    """
    import_vcr()
    with _holding():
        vcr_patch = sys.modules["vcr.patch"]
        assert _patch_sees is not None
        now = LIBRARIES if everything else loaded() | _patch_sees
        if now != _patch_sees:
            # Originals saved by the first load stay: a class patched since must not be
            # taken for the original.
            kept = {name: value for name, value in vars(vcr_patch).items() if name[:1] == "_"}
            _reload.active = True
            try:
                with _importing_libraries(), hidden(LIBRARIES - now):
                    importlib.reload(vcr_patch)
            except (ImportError, RuntimeError):
                # A library whose modules import a hidden one: let vcr.patch see them all.
                with _importing_libraries():
                    importlib.reload(vcr_patch)
                now = LIBRARIES
            finally:
                _reload.active = False
            vars(vcr_patch).update(kept)
            _sees(now)
        if _reload.__dict__.pop("imported", False):
            _tell("after_import")  # what the watcher held back during the reload
        return vcr_patch


# httpx's transports that answer in the process, with no network: a test's own app
# (`ASGITransport(app)`, `WSGITransport(app)`) or its mock. vcrpy 9 patches them too, which
# recorded a FastAPI app's answers into the cassette and replayed them without running the app.
IN_PROCESS_TRANSPORTS = frozenset({"WSGITransport", "ASGITransport", "MockTransport"})


def build_patchers(router: Any) -> list[Any]:
    """vcrpy's patchers for the imported libraries, bound to `router`; not those of httpx's
    in-process transports, which reach no network (see IN_PROCESS_TRANSPORTS)."""
    vcr_patch = patch_module()
    with hidden(LIBRARIES - loaded()):
        return [p for p in vcr_patch.CassettePatcherBuilder(router).build() if _networked(p)]


def patched_class(patcher: Any) -> type[Any] | None:
    """The class a vcrpy patcher (a `mock.patch.object`) patches, if it patches a class."""
    getter = getattr(patcher, "getter", None)
    target = getter() if callable(getter) else None
    return target if isinstance(target, type) else None


def _networked(patcher: Any) -> bool:
    target = patched_class(patcher)
    return not (
        target is not None
        and target.__name__ in IN_PROCESS_TRANSPORTS
        and target.__module__.partition(".")[0] in ("httpx", "httpx2")
    )


# The cassette files vcrpy's own use_cassette opened in this process (a fixture calling
# `vcr.use_cassette` itself): in use, so never taken for orphans. Each with the file's stamp
# (inode, mtime, size) when first opened, None if there was none: a changed one vcrpy wrote.
vcrpy_cassettes: dict[str, tuple[int, int, int] | None] = {}


def _builder_seeing_everything(builder: type[Any]) -> type[Any]:
    class CassettePatcherBuilder(builder):  # type: ignore[misc]
        def build(self) -> Any:
            path = getattr(getattr(self, "_cassette", None), "_path", None)
            if isinstance(path, (str, os.PathLike)):
                from pytest_cassettes.paths import file_stamp

                absolute = os.path.abspath(path)
                if absolute not in vcrpy_cassettes:
                    vcrpy_cassettes[absolute] = file_stamp(absolute, strict=False)
            patch_module(everything=True)
            return super().build()

    return CassettePatcherBuilder


class Listener(Protocol):
    """Told around the import of a library vcr.patch has not seen (see Patches)."""

    def before_import(self) -> None: ...

    def after_import(self) -> None: ...


def watch(listener: Listener) -> Callable[[], None]:
    """Tell `listener` about library imports from now on; returns the function that stops it."""
    with _listeners_lock:
        _listeners.append(listener)

    def stop() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop


def _tell(event: str) -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        getattr(listener, event)()


@contextlib.contextmanager
def _importing_libraries() -> Iterator[None]:
    """Mark this thread (holding `_lock`) as importing modules that import HTTP libraries."""
    global _importing
    outer, _importing = _importing, threading.get_ident()
    try:
        yield
    finally:
        _importing = outer


def _after_import() -> None:
    """Reload vcr.patch and tell the listeners, after a library's import on this thread (which
    still holds Python's lock on the library's module).

    It waits for `_lock`, unless its holder is importing vcrpy or reloading vcr.patch, whose
    import of this very library waits for this import to end: both would wait for ever. The
    holder then does it when it lets go of `_lock` (the library is patched from then on).
    Listeners are told with `_lock` let go: they build patchers, which import libraries."""
    global _deferred
    while not _lock.acquire(timeout=0.05):
        if _importing not in (None, threading.get_ident()):
            _deferred = True
            _catch_up()  # in case the holder let go meanwhile
            return
    _reload_holding_lock()
    _tell("after_import")
    if not getattr(_held, "depth", 0):
        _catch_up()


def _catch_up() -> None:
    """Do what other threads' imports left to the holder of `_lock`, if it can be taken now."""
    global _deferred
    while _deferred and _lock.acquire(blocking=False):
        _deferred = False
        try:
            _reload_holding_lock()
        except BaseException:
            _deferred = True  # the next holder tries again
            raise
        _tell("after_import")


def _reload_holding_lock() -> None:
    """`patch_module()`, with `_lock` acquired by the caller; lets go of it."""
    _held.depth = getattr(_held, "depth", 0) + 1
    try:
        patch_module()
    finally:
        _held.depth -= 1
        _lock.release()


class _Watcher(WrappingFinder):
    """Wraps the import of a library vcr.patch has not seen, outermost import of a thread only:
    listeners switch their patches off before it (the library's classes must be built on the
    real ones, as they are without us), vcr.patch is reloaded after it, then listeners rebuild.
    """

    def wants(self, fullname: str) -> bool:
        return fullname in LIBRARIES and fullname not in (_patch_sees or LIBRARIES)

    def wrap(self, exec_module: Exec) -> Exec:
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
                    _after_import()

        return exec_and_tell


_WATCHER = _Watcher()


def __getattr__(name: str) -> Any:
    """vcrpy's `Request` class and `matchers` module (as `vcr_matchers`), imported on first use."""
    if name == "Request":
        import_vcr()
        from vcr.request import Request

        return Request
    if name == "vcr_matchers":
        import_vcr()
        from vcr import matchers

        return matchers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # and, through __getattr__, vcrpy's Request and matchers (as vcr_matchers)
    "build_patchers",
    "hidden",
    "import_vcr",
    "install",
    "loaded",
    "new_session",
    "patch_module",
    "patched_class",
    "watch",
]
