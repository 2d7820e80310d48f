"""The `pytest-cassettes` command: tools over cassette files, outside a test run."""

from __future__ import annotations

import argparse
import binascii
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import yaml

from pytest_cassettes import bodies
from pytest_cassettes.detect import KINDS
from pytest_cassettes.scrub import Scrubber, ScrubRules

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
STR, BINARY = "tag:yaml.org,2002:str", "tag:yaml.org,2002:binary"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _joined(value: str) -> str:
    """A scalar's text, a surrogate pair (how JSON escapes an emoji; YAML reads it as two
    characters, which no encoding takes) joined into its character."""
    if _SURROGATE.search(value) is None:
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _documents(text: str) -> list[yaml.Node | None]:
    """The documents' nodes as PyYAML's Python loader composes them (it reads a JSON file's
    surrogate pairs, which libyaml refuses), else as libyaml does, which loading cassettes
    uses (a tab before a comment, which the Python scanner refuses)."""
    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        libyaml = getattr(yaml, "CSafeLoader", None)
        if libyaml is None:
            raise
        try:
            return list(yaml.compose_all(text, Loader=libyaml))
        except yaml.YAMLError:
            raise error from None  # the Python scanner's words, as before


def _node_lines(node: yaml.Node) -> range:
    return range(node.start_mark.line + 1, node.end_mark.line + 2)


def scan_text(text: str, scrubber: Scrubber) -> list[tuple[int, str]]:
    """Findings (line, kind) in one cassette's text; raises yaml.YAMLError on bad YAML."""
    from pytest_cassettes.scrub_files import comments

    lines = text.splitlines()
    findings: list[tuple[int, str]] = []
    # Line by line first, so line numbers are exact for tokens of well-known formats.
    # A field flagged by name on a line where a detector already fired is, most likely, the
    # same secret: each detector finding (kind, text, index in findings) takes one such field
    # finding on its line, the one whose value it found if any.
    hits: dict[int, list[tuple[str, str, int]]] = {}
    for number, line in enumerate(lines, 1):
        for finding in scrubber.detected(line):
            text_found = line[finding.start : finding.end]
            hits.setdefault(number, []).append((finding.kind, text_found, len(findings)))
            findings.append((number, finding.kind))

    def locate(node: yaml.Node, hint: str) -> int:
        # A value folded over several lines: the first of them where the field (a cookie, a
        # parameter, a JSON key) is given a value, else the first that mentions its name. A
        # short name (cookie `s`) is in many lines that do not hold it.
        span = _node_lines(node)
        if hint:
            assigned = re.compile(rf"(?<![\w.-]){re.escape(hint)}(?:=|[\"']?\s*:)")
            texts = [(number, lines[number - 1]) for number in span if number <= len(lines)]
            for holds in (assigned.search, lambda line: hint in line):
                for number, line in texts:
                    if holds(line):
                        return number
        return span[0]

    def visit(
        node: yaml.Node,
        key: str | None,
        content_type: str = "",
        coding: str = "",
        error: bool = False,
    ) -> None:
        if isinstance(node, yaml.MappingNode):
            # A request or a response: its body is scanned by the Content-Type it recorded,
            # a binary one once its Content-Encoding is undone (vcrpy stores gzip as is), a
            # 4xx response's as such (its validation messages are kept).
            content_type = _header(node, "content-type") or content_type
            coding = _header(node, "content-encoding") or coding
            error = error or _client_error(node)
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                name = name if isinstance(name, str) else None
                visit(value_node, name, content_type, coding, error)
        elif isinstance(node, yaml.SequenceNode):
            name = _pair_name(node)
            if name is not None:  # a form field vcrpy wrote as a (name, value) tuple
                visit(node.value[1], name)
                return
            for item in node.value:
                visit(item, key)
        elif isinstance(node, yaml.ScalarNode) and node.tag in (STR, BINARY):
            if node.tag == BINARY:
                try:
                    data = binascii.a2b_base64(node.value)
                except ValueError:  # not base64: no cassette reader would load it either
                    data = b""
                decoded = bodies.decode(data, [coding]) if coding else None
                data = data if decoded is None else decoded
                kinds = scrubber.scan_binary(data, content_type, error)
            else:
                kinds = scrubber.scan_field(key, _joined(node.value), content_type, error)
            report(kinds, _node_lines(node), lambda hint: locate(node, hint))

    def report(kinds: list[str], span: range, where: Callable[[str], int] | None = None) -> None:
        # Token formats the line scan already saw are not reported twice; those it missed
        # (split over folded lines, escaped) are reported where the value starts.
        seen = Counter(kind for number, kind in findings if number in span)
        for kind in kinds:
            if kind in KINDS:
                if seen[kind] > 0:
                    seen[kind] -= 1
                    continue
                number = span[0]
            else:
                # The field's (or cookie's) name: `sensitive-field:Cookie:sid` is at `sid`.
                field = kind.rpartition(":")[2]
                hint = field if kind.startswith("sensitive-field:") else ""
                number = span[0] if where is None else where(hint)
                others = [line for line in span if line != number]
                value = getattr(kind, "value", "")
                hit = _same_secret(hits, [number, *others], value, lines)
                if hit is not None:
                    if hit[0] == "high-entropy":  # a value after a name: the name says more
                        findings[hit[2]] = (number, kind)
                    continue  # a token's format (github, bearer, ...) says more
            findings.append((number, kind))

    for document in _documents(text):
        if document is not None:
            visit(document, None)
    # Comments, read as free text as scrub replaces them (`# password: ...`).
    for start, end in comments(text):
        number = text.count("\n", 0, start) + 1
        kinds = scrubber.scan_field(None, text[start:end])
        report(kinds, range(number, number + 1))
    return sorted(findings)


def _same_secret(
    hits: dict[int, list[tuple[str, str, int]]],
    numbers: list[int],
    value: str,
    lines: list[str],
) -> tuple[str, str, int] | None:
    """The detector finding that a field finding at line `numbers[0]` (its value on those
    lines) is taken for, removed from `hits`: the one whose text is in the field's value, on
    any of its lines (a fold can put the name on one, the value on the next); else, where the
    value is not written as such on the field's line (escaped, encoded, or not known), the
    first left there. None if none: a value written on its line that no detector finding
    holds is another secret."""
    for number in numbers:
        for at, hit in enumerate(hits.get(number, [])):
            if value and (hit[1] in value or value in hit[1]):
                return hits[number].pop(at)
    first = numbers[0]
    left = hits.get(first)
    if not left or (value and 0 < first <= len(lines) and value in lines[first - 1]):
        return None
    return left.pop(0)


def _client_error(node: yaml.MappingNode) -> bool:
    """Whether this mapping is a response with a 4xx status."""
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == "status" and isinstance(
            value_node, yaml.MappingNode
        ):
            for name_node, code in value_node.value:
                if getattr(name_node, "value", None) == "code" and isinstance(
                    code, yaml.ScalarNode
                ):
                    return code.value.isdigit() and 400 <= int(code.value) < 500
    return False


def _header(node: yaml.MappingNode, header: str) -> str:
    """A header (lower-case name) in the `headers` of an interaction's request or response."""
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == "headers" and isinstance(
            value_node, yaml.MappingNode
        ):
            for name_node, values in value_node.value:
                if str(getattr(name_node, "value", "")).lower() != header:
                    continue
                first = values
                if isinstance(values, yaml.SequenceNode):
                    first = values.value[0] if values.value else None
                if isinstance(first, yaml.ScalarNode):
                    return str(first.value)
    return ""


def _pair_name(node: yaml.SequenceNode) -> str | None:
    """The name of a (name, value) pair vcrpy wrote as `!!python/tuple` (aiohttp's form data)."""
    if node.tag != "tag:yaml.org,2002:python/tuple" or len(node.value) != 2:
        return None
    first = node.value[0]
    return first.value if isinstance(first, yaml.ScalarNode) else None


def _scan(args: argparse.Namespace) -> int:
    """Report secrets left in cassettes: `path:line: kind`, never the secret itself."""
    scrubber = _scrubber(args, "scan")
    if scrubber is None:
        return EXIT_ERROR
    errors = scanned = dirty = 0
    found: list[str] = []
    cassettes = _cassettes(args.paths, "scan")
    if cassettes is None:
        return EXIT_ERROR
    for path in cassettes:
        try:
            text = path.read_text(encoding="utf-8")
            findings = scan_text(text, scrubber)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            reason = str(error).replace("\n", " ")
            print(f"pytest-cassettes scan: error: {path}: {reason}", file=sys.stderr)
            errors += 1
            continue
        scanned += 1
        dirty += bool(findings)
        found.extend(f"{path}:{line}: {kind}" for line, kind in findings)
    for line in found:
        print(line)
    print(_summary(len(found), dirty, scanned, errors))
    if errors:
        return EXIT_ERROR
    return EXIT_FOUND if found else EXIT_CLEAN


def _cassettes(paths: Sequence[str], command: str) -> list[Path] | None:
    """The cassette files named and under the folders named, as `check` finds them (hidden
    folders such as .venv and .git skipped), each once (a file named twice, or also by a
    link, by its first name); None, each told, if a path does not exist."""
    from pytest_cassettes.checks import find

    files = find(paths)
    for name in files.missing:
        print(
            f"pytest-cassettes {command}: error: {name}: no such file or directory", file=sys.stderr
        )
    if files.missing:
        return None
    first = {os.path.realpath(path): path for path in reversed(files.cassettes)}
    return [path for path in files.cassettes if first[os.path.realpath(path)] is path]


def _summary(findings: int, dirty: int, scanned: int, errors: int) -> str:
    files = f"{scanned} cassette file{'s' if scanned != 1 else ''}"
    unread = f", {errors} unreadable" if errors else ""
    if not findings:
        return f"scan: no secrets found in {files}{unread}."
    plural = "s" if findings != 1 else ""
    return (
        f"scan: {findings} possible secret{plural} in {dirty} of {files}{unread}. Re-record "
        "the tests of each file named (`pytest --record-mode=rewrite path/to/test_x.py::test_y` "
        "scrubs what it records), or scrub them in place as recording would: "
        "`pytest-cassettes scrub PATH...` says what it would replace, `--write` does it. "
        "A file a fixture writes with vcrpy's own use_cassette stays unscrubbed whatever the "
        "mode: write it with pytest_cassettes.use_cassette(request, ...)."
    )


# The rules `scan` and `scrub` take, as the tests' `scrub_*` options (conftest files, markers and
# hooks are not read): option -> (ScrubRules field, help).
_RULE_OPTIONS = {
    "--header": ("headers", "NAME", "a header whose values are secrets too (scrub_headers)"),
    "--param": (
        "params",
        "NAME",
        "a query, form or JSON key whose values are secrets (scrub_params)",
    ),
    "--json-path": (
        "json_paths",
        "PATH",
        "a JSON path whose values are secrets (scrub_json_paths)",
    ),
    "--pattern": (
        "patterns",
        "REGEX",
        "a regex of secrets; a group, if any, is the secret (scrub_patterns)",
    ),
    "--env": ("env", "NAME", "an environment variable whose value is a secret (scrub_env)"),
    "--disable": ("disable", "NAME", "a default rule or name to leave, as scrub_disable takes it"),
}


def _add_scrub(parser: argparse.ArgumentParser) -> None:
    _add_rules(parser)
    parser.add_argument(
        "--write",
        action="store_true",
        help="replace the values in the files (default: say per file what would be replaced)",
    )


def _add_rules(parser: argparse.ArgumentParser) -> None:
    """The paths and the rule options `scan` and `scrub` share."""
    _add_paths(parser)
    for option, (field, metavar, help_text) in _RULE_OPTIONS.items():
        parser.add_argument(
            option,
            dest=field,
            action="append",
            default=[],
            metavar=metavar,
            help=f"{help_text} (repeatable)",
        )


def _scrub(args: argparse.Namespace) -> int:
    """Scrub cassettes on disk as recording would have: a dry run unless --write."""
    from pytest_cassettes.checks import problem
    from pytest_cassettes.errors import CassetteLoadError
    from pytest_cassettes.scrub_files import scrub_file

    scrubber = _scrubber(args, "scrub")
    if scrubber is None:
        return EXIT_ERROR
    rules = scrubber.rules
    cassettes = _cassettes(args.paths, "scrub")
    if cassettes is None:
        return EXIT_ERROR
    errors = values = dirty = 0
    for path in cassettes:
        try:
            found = scrub_file(path, rules, write=args.write)
        except OSError as error:
            print(f"pytest-cassettes scrub: error: {path}: {error}", file=sys.stderr)
            errors += 1
            continue
        except CassetteLoadError as error:  # as `check` tells it; the file is left as it is
            where = f"{path}:{error.line or 1}"
            print(f"pytest-cassettes scrub: error: {where}: {problem(error)}", file=sys.stderr)
            errors += 1
            continue
        except Exception as error:  # a fault of ours on a body's shape: the other files go on
            reason = f"cannot be scrubbed ({type(error).__name__}: {error})"
            print(f"pytest-cassettes scrub: error: {path}: {reason}", file=sys.stderr)
            errors += 1
            continue
        if found:
            dirty += 1
            values += sum(found.values())
            kinds = ", ".join(
                kind if count == 1 else f"{kind} ({count})" for kind, count in sorted(found.items())
            )
            verb = "scrubbed" if args.write else "would scrub"
            print(f"{path}: {verb} {_values(sum(found.values()))}: {kinds}")
    scanned = len(cassettes) - errors
    print(_scrub_summary(values, dirty, scanned, errors, args.write))
    if errors:
        return EXIT_ERROR
    return EXIT_FOUND if values and not args.write else EXIT_CLEAN


def _scrubber(args: argparse.Namespace, command: str) -> Scrubber | None:
    """The scrubber of the rules given as options; None, told, for a bad one (an unknown
    `--disable` name, a pattern that is no regex, a bad JSON path)."""
    rules = ScrubRules(
        **{field: tuple(getattr(args, field)) for field, *_ in _RULE_OPTIONS.values()}
    )
    try:
        return Scrubber(rules)
    except (ValueError, re.error) as error:
        print(f"pytest-cassettes {command}: error: {error}", file=sys.stderr)
        return None


def _values(count: int) -> str:
    return f"{count} value{'s' if count != 1 else ''}"


def _scrub_summary(values: int, dirty: int, scanned: int, errors: int, write: bool) -> str:
    files = f"{scanned} cassette file{'s' if scanned != 1 else ''}"
    unread = f", {errors} unreadable" if errors else ""
    if not values:
        return f"scrub: nothing to scrub in {files}{unread}."
    if not write:
        return (
            f"scrub: {_values(values)} to scrub in {dirty} of {files}{unread}. Run again with "
            "--write to replace them by placeholders (the tests still replay)."
        )
    return (
        f"scrub: {_values(values)} scrubbed in {dirty} of {files}{unread}. They are still in "
        "your Git history: rotate them."
    )


# name -> (help, add its arguments, run it). A new subcommand is one more entry.
def _add_migrate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="test files or directories")
    parser.add_argument(
        "--write",
        action="store_true",
        help="rewrite the files and move the cassettes (default: print a diff and the moves)",
    )
    parser.add_argument(
        "--collect-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how long pytest's collection of the tests may take before migrate reads their "
        "source instead (default: 120; 0: no limit)",
    )


def _seconds(value: str) -> float:
    """A number of seconds, 0 or more (argparse's type: a bad one fails at parse time)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}")
    return seconds


def _migrate(args: argparse.Namespace) -> int:
    from pytest_cassettes.migrate import migrate
    from pytest_cassettes.migrate_collect import COLLECT_TIMEOUT

    timeout = COLLECT_TIMEOUT if args.collect_timeout is None else args.collect_timeout
    return migrate(args.paths, write=args.write, out=sys.stdout, collect_timeout=timeout)


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="cassette files or directories")


def _check(args: argparse.Namespace) -> int:
    from pytest_cassettes.checks import check

    return check(args.paths, sys.stdout)


def _show(args: argparse.Namespace) -> int:
    from pytest_cassettes.checks import show

    return show(args.paths, sys.stdout)


COMMANDS: dict[
    str,
    tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]],
] = {
    "scan": ("report secrets left in cassettes (exit 1 if any)", _add_rules, _scan),
    "check": ("validate cassettes: parse errors, encoding mismatches, ...", _add_paths, _check),
    "show": ("one line per interaction: method, URL, status, body size", _add_paths, _show),
    "scrub": (
        "replace the secrets in cassettes by placeholders, as recording would (dry run)",
        _add_scrub,
        _scrub,
    ),
    "migrate": (
        "rewrite pytest-recording markers and fixtures, move pytest-vcr's cassettes (dry run)",
        _add_migrate,
        _migrate,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of COMMANDS."""
    parser = argparse.ArgumentParser(prog="pytest-cassettes", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pytest-cassettes` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
