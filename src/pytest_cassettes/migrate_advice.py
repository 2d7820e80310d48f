"""`pytest-cassettes migrate`: what is left to do by hand once the files are rewritten.

The old plugin still installed (it owns its names while it is: a test asking for its `vcr`
fixture gets None, a test left on its marker records unscrubbed), the requirement files naming
it, and the cassettes it recorded that hold secrets (it scrubs only what the filters name).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from pytest_cassettes.paths import CASSETTE_SUFFIXES

OLD_PLUGINS = {"pytest_recording": "pytest-recording", "pytest_vcr": "pytest-vcr"}
# Where a project names its test dependencies, in its rootdir.
REQUIREMENTS = (
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "tox.ini",
    "Pipfile",
    "requirements*.txt",
    "requirements*.in",
    "requirements/*.txt",
    "requirements/*.in",
)
NAMED = re.compile(r"(?<![\w.-])pytest[-_.](recording|vcr)(?![\w.-])", re.IGNORECASE)


def advice(roots: Iterable[Path], cassette_dirs: Iterable[Path]) -> Iterator[str]:
    """migrate's last lines before its summary: what the user still has to do."""
    installed = [name for module, name in OLD_PLUGINS.items() if importlib.util.find_spec(module)]
    for name in installed:
        yield (
            f"{name} is installed: uninstall it once migrated (while it is, it owns the `vcr` "
            "and `block_network` markers, the `vcr` fixture and --block-network: a test asking "
            "for `vcr` gets None, one left on `vcr` records unscrubbed)"
        )
    for root in roots:
        for file in sorted({f for pattern in REQUIREMENTS for f in root.glob(pattern)}):
            text = file.read_text(encoding="utf-8", errors="replace") if file.is_file() else ""
            named = sorted({m.group().lower().replace("_", "-") for m in NAMED.finditer(text)})
            if named:
                yield f"{file}: names {' and '.join(named)}: replace it by pytest-cassettes"
    folders = sorted({folder for folder in cassette_dirs if folder.is_dir()})
    holding = _holding_secrets(folders)
    if holding:
        yield (
            f"{holding} cassette{' holds' if holding == 1 else 's hold'} what looks like "
            "secrets (pytest-recording and vcrpy scrub only what your filters name): "
            f"`pytest-cassettes scan {' '.join(map(str, folders))}` lists them; re-record each "
            "with `pytest --record-mode=rewrite path/to/test_x.py::test_y` and rotate the values "
            "(they stay in your Git history)"
        )


def _holding_secrets(folders: Iterable[Path]) -> int:
    """How many cassette files under `folders` `pytest-cassettes scan` would name."""
    from pytest_cassettes.cli import scan_text
    from pytest_cassettes.scrub import Scrubber, ScrubRules

    scrubber = Scrubber(ScrubRules())
    files = {p for folder in folders for p in folder.rglob("*") if p.suffix in CASSETTE_SUFFIXES}
    found = 0
    for path in files:
        try:
            found += bool(scan_text(path.read_text(encoding="utf-8"), scrubber))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # `pytest-cassettes check` tells what is wrong with it
    return found
