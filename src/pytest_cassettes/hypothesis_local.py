"""The same hypothesis examples in a recording and in its replay, this package installed editable.

Hypothesis (6.170 here, not its older versions) draws some examples from the constants of the
modules it counts as the project's own (not in site-packages, not tests), read from the modules
loaded when it draws. Installed editable (`pip install -e`), ours count, and a recording and a
replay-only run load different ones (the guard's `network_pycurl` and `children_os` only in
the replay): the same seed drew other examples, requests the cassette did not hold. So where
hypothesis counts this package as local, a run that imported hypothesis loads all its modules
first.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import sys


def load_all_where_counted() -> None:
    """Import every module of this package, where a collected test module (or a conftest)
    imported hypothesis and hypothesis draws constants from this package (~0.13 s, once)."""
    if "hypothesis" not in sys.modules:  # its pytest plugin imports it only when a test does
        return
    try:
        from hypothesis.internal.constants_ast import is_local_module_file
    except ImportError:  # a hypothesis that draws no local constants
        return
    if not is_local_module_file(__file__):  # installed in site-packages: never looked at
        return
    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(sys.modules[package].__path__):
        with contextlib.suppress(ImportError):  # an optional library's module
            importlib.import_module(f"{package}.{module.name}")
