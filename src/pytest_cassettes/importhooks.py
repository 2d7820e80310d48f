"""Import hooks that let Python's other finders find a module, then wrap how it runs."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

Exec = Callable[[ModuleType], None]


class WrappingFinder:
    """On `sys.meta_path`: for the modules `wants` names, the spec the other finders give, its
    loader's `exec_module` replaced by what `wrap` makes of it. A loader that takes no new
    attribute (slots) runs the module unwrapped. (Not an importlib.abc.MetaPathFinder: a
    guarded child process imports this module at start-up, importlib.abc costs it 7 ms.)"""

    def __init__(self) -> None:
        self._local = threading.local()  # per thread: asking the other finders now

    def wants(self, fullname: str) -> bool:
        raise NotImplementedError

    def wrap(self, exec_module: Exec) -> Exec:
        raise NotImplementedError

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if getattr(self._local, "finding", False) or not self.wants(fullname):
            return None
        self._local.finding = True  # other wrapping finders ask us back: not twice
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
        exec_module = getattr(getattr(spec, "loader", None), "exec_module", None)
        if spec is None or exec_module is None:
            return spec
        with contextlib.suppress(AttributeError):
            spec.loader.exec_module = self.wrap(exec_module)  # type: ignore[union-attr,method-assign]
        return spec
