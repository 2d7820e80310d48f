"""pytest-cassettes: a guarded test's network guard, installed in a Python child process.

Python imports ``sitecustomize`` at start-up; while a test of a replay-only run (or one under
--block-network) runs, its process puts this folder first on ``PYTHONPATH`` (see
pytest_cassettes/children.py). This module installs the guard the variable
``PYTEST_CASSETTES_CHILD_GUARD`` describes, then runs the ``sitecustomize`` it hides, if any.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys


def _guard() -> None:
    text = os.environ.get("PYTEST_CASSETTES_CHILD_GUARD")
    if not text:
        return
    try:
        data = json.loads(text)
        added = str(data["path"]) not in sys.path
        if added:  # another interpreter than the parent's: our package only, and only now
            sys.path.insert(0, str(data["path"]))
        try:
            from pytest_cassettes.children import guard_this_process
        finally:
            if added:
                sys.path.remove(str(data["path"]))
        guard_this_process(data)
    except Exception as error:  # a child that cannot be guarded still runs, and says so
        sys.stderr.write(f"pytest-cassettes: this child process is not guarded: {error!r}\n")


def _chain() -> None:
    """Run the sitecustomize this one stands in front of (a distribution's, a project's)."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_guard()
_chain()
