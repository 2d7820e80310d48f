"""pytest-cassettes: a guarded test's network guard, installed in a Python child process.

Python imports ``sitecustomize`` at start-up; while a test of a replay-only run (or one under
--block-network) runs, its process puts this folder first on ``PYTHONPATH`` (see
pytest_cassettes/children.py). This module installs the guard the variable
``PYTEST_CASSETTES_CHILD_GUARD`` describes, then runs the ``sitecustomize`` it hides, if any.

Any Python a test starts reads it, so it is written for Python 2.7 too (type comments, no
f-strings); it guards only the Pythons pytest-cassettes runs on (3.9 and later), and leaves
the others quiet (Python 2 without the project's sitecustomize).
"""

import json
import os
import sys


def _guard():  # type: () -> None
    text = os.environ.get("PYTEST_CASSETTES_CHILD_GUARD")
    if not text or sys.version_info < (3, 9):
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
        sys.stderr.write(
            "pytest-cassettes: this child process is not guarded: " + repr(error) + "\n"
        )


def _chain():  # type: () -> None
    """Run the sitecustomize this one stands in front of (a distribution's, a project's)."""
    try:
        import importlib.machinery
        import importlib.util
    except ImportError:  # Python 2: not found
        return

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_guard()
if __name__ == "sitecustomize":  # else run from our .pth, for a child ignoring PYTHONPATH
    _chain()  # (children.isolated_hook): site imports the project's sitecustomize itself
