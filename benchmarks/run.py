#!/usr/bin/env python3
"""Benchmark pytest-cassettes ("ours") against pytest-recording + vcrpy ("incumbent").

    python benchmarks/run.py [--rounds R] [--quick] [--only suite,scale,memory,scrub]
                             [--json PATH]

Run it with the Python of the environment where pytest, both plugins, requests and
pytest-xdist are installed: every measurement is a pytest subprocess of ``sys.executable``.
See benchmarks/README.md for what is measured and how to read the tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_gen
import bench_server

PY = sys.executable
COMMON = ["-q", "-p", "no:randomly"]
# Each variant loads exactly one of the two plugins (both define --record-mode).
ISOLATE = {
    "none": ["-p", "no:recording", "-p", "no:cassettes"],
    "incumbent": ["-p", "no:cassettes"],
    "ours": ["-p", "no:recording"],
}
MIB = 1024 * 1024


class HarnessError(RuntimeError):
    pass


# --------------------------------------------------------------------------- environment


def child_env() -> dict[str, str]:
    """The same environment for every variant, minus what would change a plugin's behaviour."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("PYTEST_", "VCR_")) or name in ("CI", "PYTHONDONTWRITEBYTECODE"):
            del env[name]  # CI forces replay-only in ours; PYTEST_ADDOPTS etc. would leak in
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def probe(code: str) -> str | None:
    """Run ``code`` in a child Python; None if it succeeds, else the last line of its error."""
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=child_env())
    if p.returncode == 0:
        return None
    lines = (p.stderr or p.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {p.returncode}"


def plugin_status() -> dict[str, str | None]:
    """For each plugin, None when usable, else why it is skipped."""
    ours = probe(
        "import importlib.metadata as m, pytest_cassettes.plugin\n"
        "eps = m.entry_points(group='pytest11')\n"
        "assert any(e.name == 'cassettes' for e in eps), 'no pytest11 entry point named cassettes'"
    )
    inc = probe("import vcr, pytest_recording.plugin")
    return {
        "ours": None if ours is None else f"pytest_cassettes not importable: skipped ({ours})",
        "incumbent": None
        if inc is None
        else f"pytest-recording/vcrpy not importable: skipped ({inc})",
        "none": None,
    }


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in (
        "pytest",
        "pytest-xdist",
        "vcrpy",
        "pytest-recording",
        "PyYAML",
        "requests",
        "pytest-cassettes",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    return out


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    seconds: float
    output: str
    maxrss: int | None = None  # bytes: VmHWM of the pytest process, memory section only


# `python -m pytest`, plus the process's own peak RSS printed at exit. VmHWM (Linux) belongs
# to the process's address space since its exec; ru_maxrss would not do: Linux carries it over
# from the forking parent (this harness, which holds the big bodies) across fork and exec.
PYTEST_RSS = (
    "import atexit, os, runpy\n"
    "def vmhwm():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kb = [l.split()[1] for l in f if l.startswith('VmHWM:')][0]\n"
    "    os.write(2, ('\\nBENCH_VMHWM_KB ' + kb + '\\n').encode())\n"
    "atexit.register(vmhwm)\n"
    "runpy.run_module('pytest', run_name='__main__', alter_sys=True)\n"
)


def run(cmd: list[str], cwd: Path) -> Run:
    """Run ``cmd``: wall clock around the whole process; killed (with its xdist workers)
    after TIMEOUT seconds."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        # A blocking wait: Popen.wait(timeout) polls with sleeps of up to 50 ms, which would
        # quantize the timings. The timer kills the run's own session (its xdist workers too).
        timer = threading.Timer(TIMEOUT[0], os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        proc.wait()
        seconds = time.perf_counter() - t0
        timer.cancel()
        if proc.returncode == -signal.SIGKILL and seconds >= TIMEOUT[0]:
            raise HarnessError(f"timed out after {TIMEOUT[0]:g} s (--timeout)")
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise HarnessError(f"exit {proc.returncode}: {' '.join(cmd[2:])}\n{tail(text)}")
    rss = re.search(r"^BENCH_VMHWM_KB (\d+)$", text, re.M)
    return Run(seconds, text, int(rss.group(1)) * 1024 if rss else None)


def tail(text: str, n: int = 15) -> str:
    return "\n".join("      | " + line for line in text.rstrip().splitlines()[-n:])


@dataclass
class Variant:
    key: str
    label: str
    plugin: str  # "none", "incumbent" or "ours"
    root: Path
    args: list[str] = field(default_factory=list)
    passed: int = 1  # tests that must pass
    hits: int | None = 0  # requests the loopback server must see (0: replay is offline)
    before: Callable[[], None] | None = None  # e.g. remove cassettes before a record run
    after: Callable[[Run], None] | None = None
    cmd: list[str] | None = None  # not pytest: run this instead (and check nothing)
    rss: bool = False  # measure the peak RSS of the pytest process
    samples: list[Run] = field(default_factory=list)
    skipped: str | None = None  # why this variant is not measured

    def measure(self) -> Run:
        if self.before:
            self.before()
        if self.cmd:
            return run(self.cmd, self.root)
        hits0 = HITS[0]
        launch = ["-c", PYTEST_RSS] if self.rss else ["-m", "pytest"]
        r = run([PY, *launch, *COMMON, *ISOLATE[self.plugin], *self.args], self.root)
        # pytest's closing line, e.g. "300 passed in 1.23s" (a plugin's own report may say
        # "failed" elsewhere without meaning a test failed)
        summary = re.findall(r"^.*\bin [\d.]+s\b.*$", r.output, re.M)
        last = summary[-1] if summary else ""
        if not re.search(rf"\b{self.passed} passed\b", last) or re.search(r"failed|error", last):
            raise HarnessError(f"expected {self.passed} passed\n{tail(r.output)}")
        if self.hits is not None and HITS[0] - hits0 != self.hits:
            raise HarnessError(f"server saw {HITS[0] - hits0} requests, expected {self.hits}")
        if self.after:
            self.after(r)
        return r

    def median(self, attr: str = "seconds") -> float | None:
        vals = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(vals) if vals else None


def interleave(units: list[list[Variant]], rounds: int, warmup: int, title: str) -> None:
    """Run every unit once per round, rotating the order each round; warm-up rounds are
    run and discarded. A unit is a list of variants that must run back to back (cold, warm)."""
    for r in range(-warmup, rounds):
        shift = r % len(units)
        parts = []
        for unit in units[shift:] + units[:shift]:
            for v in unit:
                if v.skipped:
                    continue
                try:
                    sample = v.measure()
                except HarnessError as e:
                    v.skipped = f"failed to run: {str(e).splitlines()[0]}"
                    BROKEN.append(v.key)
                    print(f"  !! {v.label}: {e}", flush=True)
                    for rest in unit[unit.index(v) + 1 :]:  # a warm run needs its cold run
                        rest.skipped = rest.skipped or f"skipped: {v.label} failed"
                    break
                if r >= 0:
                    v.samples.append(sample)
                parts.append(f"{v.key} {sample.seconds:.2f}")
        name = "warm-up" if r < 0 else f"round {r + 1}/{rounds}"
        print(f"  [{title}] {name}: " + ", ".join(parts), flush=True)


# --------------------------------------------------------------------------- reporting


class Targets:
    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(
        self,
        name: str,
        value: float | None,
        limit: float,
        op: str = "<=",
        unit: str = "x",
        why: str = "",
        deps: Sequence[Variant] = (),
    ) -> None:
        failed = [v for v in deps if v.key in BROKEN]
        if value is None and failed:  # a variant that crashed or timed out misses its target
            verdict, why = "FAIL", f"{failed[0].label} {failed[0].skipped}"
        elif value is None:
            verdict = "SKIP"
        else:
            verdict = "PASS" if (value <= limit if op == "<=" else value >= limit) else "FAIL"
        self.rows.append(
            {
                "target": name,
                "value": value,
                "limit": limit,
                "op": op,
                "unit": unit,
                "verdict": verdict,
                "note": why,
            }
        )

    def print(self) -> None:
        print("\n== targets")
        width = max(len(str(r["target"])) for r in self.rows) if self.rows else 10
        for r in self.rows:
            v = "-" if r["value"] is None else f"{r['value']:.2f}{r['unit']}"
            note = f"  ({r['note']})" if r["note"] else ""
            print(
                f"  {r['target']:<{width}}  {v:>9}  {r['op']} {r['limit']:g}{r['unit']}"
                f"  {r['verdict']}{note}"
            )


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fmt(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def table(headers: list[str], rows: list[list[str]]) -> None:
    """Print a plain table: first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for cells in [headers, *rows]:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        print("  " + "  ".join(padded))


def skip_reason(v: Variant) -> str:
    """Short, for a table cell: the full reason is printed at the top or when it failed."""
    return "failed" if v.key in BROKEN else "skipped" if v.skipped else "no samples"


# --------------------------------------------------------------------------- sections


def suite_section(opts: argparse.Namespace, tmp: Path, targets: Targets) -> dict[str, object]:
    n, per_module = opts.tests, 30
    print(f"\n== suite: {n} tests, one requests.get each against {BASE}")
    mods = bench_gen.suite_modules(n, per_module)
    base = tmp / "suite"

    def project(name: str, plugin: str, http: bool) -> Path:
        return bench_gen.write_project(base / name, name, plugin, BASE, http, mods)

    floor = project("floor", "none", False)
    live = project("live", "none", True)
    canned = project("canned", "none", True)
    bench_gen.write_canned(canned)
    roots = {
        p: {k: project(f"{p}_{k}", p, True) for k in ("record", "replay")}
        for p in ("incumbent", "ours")
    }
    expected: dict[Path, str] = {}
    for i in range(n):
        rel = Path("cassettes", bench_gen.suite_stem(i, per_module), f"test_{i:03d}.yaml")
        expected[rel] = bench_gen.cassette_text(BASE, [f"/t/{i}"])
    for p in roots:
        for rel, text in expected.items():
            bench_gen.write_cassette(roots[p]["replay"] / rel, text)

    def cold(root: Path) -> Callable[[], None]:  # every suite run starts without .pytest_cache
        return lambda: bench_gen.clear_pytest_cache(root)

    def fresh(root: Path) -> Callable[[], None]:
        return lambda: (bench_gen.remove_cassettes(root), bench_gen.clear_pytest_cache(root))

    def check_recorded(root: Path, compare: bool) -> Callable[[Run], None]:
        def check(_: Run) -> None:
            got = {p.relative_to(root) for p in (root / "cassettes").rglob("*.yaml")}
            if got != set(expected):
                raise HarnessError(f"recorded {len(got)} cassettes, expected {len(expected)}")
            if compare and not SUITE_CHECKED:
                SUITE_CHECKED.append(True)
                diff = [str(r) for r, t in expected.items() if (root / r).read_text() != t]
                if diff:
                    print(
                        f"  warning: {len(diff)} incumbent recordings differ from the "
                        f"generated replay cassettes, e.g. {diff[0]}"
                    )
                else:
                    print(
                        "  check: incumbent recordings are byte-identical to the generated "
                        "replay cassettes"
                    )

        return check

    variants = [
        Variant("floor", "floor: no HTTP", "none", floor, passed=n, before=cold(floor)),
        Variant("live", "live HTTP, no plugin", "none", live, passed=n, hits=n, before=cold(live)),
        Variant("canned", "requests, no I/O, no plugin", "none", canned, passed=n,
                before=cold(canned)),
    ]  # fmt: skip
    plugins = (("incumbent", "inc"), ("ours", "ours"))
    for plugin, short in plugins:
        rec, rep = roots[plugin]["record"], roots[plugin]["replay"]
        variants += [
            Variant(f"{short}_record", f"{plugin} record (once)", plugin, rec,
                    ["--record-mode=once"], passed=n, hits=n, before=fresh(rec),
                    after=check_recorded(rec, compare=plugin == "incumbent")),
            Variant(f"{short}_replay", f"{plugin} replay (none)", plugin, rep,
                    ["--record-mode=none"], passed=n, before=cold(rep)),
        ]  # fmt: skip
    variants.append(
        Variant("floor_n2", "floor, -n 2", "none", floor, ["-n", "2"], n, before=cold(floor))
    )
    for plugin, short in plugins:
        rep = roots[plugin]["replay"]
        variants.append(
            Variant(f"{short}_replay_n2", f"{plugin} replay, -n 2", plugin, rep,
                    ["--record-mode=none", "-n", "2"], passed=n, before=cold(rep))
        )  # fmt: skip
    for v in variants:
        v.skipped = STATUS[v.plugin]
    interleave([[v] for v in variants], opts.rounds["suite"], opts.warmup, "suite")

    by = {v.key: v for v in variants}
    med = {k: v.median() for k, v in by.items()}
    rows = []
    for v in variants:
        ref = med["floor_n2"] if v.key.endswith("_n2") else med["floor"]
        m = med[v.key]
        if m is None:
            rows.append([v.label, skip_reason(v), "", "", "", ""])
            continue
        secs = [s.seconds for s in v.samples]
        over = None if ref is None else (m - ref) / n * 1000
        rows.append(
            [
                v.label,
                fmt(m, ".2f", " s"),
                fmt(min(secs), ".2f"),
                fmt(max(secs), ".2f"),
                fmt(ratio(m, ref), ".2f", "x"),
                fmt(over, ".2f", " ms"),
            ]
        )
    print(
        f"\n  medians of {opts.rounds['suite']} round(s); x floor and per test over floor against "
        "the floor at the same -n"
    )
    table(["variant", "median", "min", "max", "x floor", "per test"], rows)

    ours_rows = [
        ("ours replay", "ours_replay", "floor", "inc_replay", "live"),
        ("ours record", "ours_record", "live", "inc_record", "live"),
        ("ours replay -n 2", "ours_replay_n2", "floor_n2", "inc_replay_n2", None),
    ]
    print()
    table(
        ["ratio", "ours/floor", "ours/incumbent", "ours/live"],
        [
            [
                name,
                fmt(ratio(med[k], med["floor_n2" if k.endswith("_n2") else "floor"]), ".2f", "x"),
                fmt(ratio(med[k], med[inc]), ".2f", "x"),
                fmt(ratio(med[k], med[lv]) if lv else None, ".2f", "x"),
            ]
            for name, k, _, inc, lv in ours_rows
        ],
    )

    client, replay = med["canned"], med["ours_replay"]
    if client is not None and med["floor"] is not None and replay is not None:
        floor_x = client / med["floor"]
        print(
            f"\n  requests answering from memory (no socket, no plugin): {floor_x:.2f}x the floor,"
            " the client's own cost,\n  which no replay removes; ours replay is "
            f"{replay / client:.2f}x that, {(replay - client) / n * 1000:.2f} ms a test over it."
        )

    ours = lambda *keys: [by[k] for k in keys]  # noqa: E731
    targets.add(
        "suite: ours replay / floor",
        ratio(med["ours_replay"], med["floor"]),
        1.25,
        deps=ours("ours_replay"),
    )
    targets.add(
        "suite: incumbent replay / ours replay",
        ratio(med["inc_replay"], med["ours_replay"]),
        3.0,
        ">=",
        deps=ours("ours_replay"),
    )
    targets.add(
        "suite: ours record / live",
        ratio(med["ours_record"], med["live"]),
        1.5,
        deps=ours("ours_record"),
    )
    targets.add(
        "suite -n 2: ours replay / floor",
        ratio(med["ours_replay_n2"], med["floor_n2"]),
        1.25,
        why="same target as -n 0",
        deps=ours("ours_replay_n2"),
    )
    targets.add(
        "suite -n 2: incumbent replay / ours replay",
        ratio(med["inc_replay_n2"], med["ours_replay_n2"]),
        3.0,
        ">=",
        why="same target as -n 0",
        deps=ours("ours_replay_n2"),
    )
    return {"tests": n, "variants": dump(variants)}


def scale_section(opts: argparse.Namespace, tmp: Path, targets: Targets) -> dict[str, object]:
    ns, inc_ns = opts.n, opts.incumbent_n
    print(
        f"\n== scale: one test replaying N requests from one cassette of N interactions; "
        f"N = {', '.join(map(str, ns))}; incumbent only N = {', '.join(map(str, inc_ns))} "
        "(quadratic: --incumbent-n to go higher)"
    )
    base = tmp / "scale"
    mod = {"test_scale": bench_gen.SCALE_TEST}
    rel = Path("cassettes", "test_scale", "test_replay.yaml")
    start_root = bench_gen.write_project(base / "startup", "startup", "none", BASE, False, mod)
    startup = Variant(
        "startup",
        "pytest start-up (same module, no HTTP, no plugin)",
        "none",
        start_root,
        before=lambda: bench_gen.clear_pytest_cache(start_root),
    )
    # The reference: PyYAML's C loader alone, in a fresh process, garbage collector on (as
    # the issue states it). Then, informational, the same load with the collector off.
    load_code = (
        "import gc, sys, time, yaml\n"
        "text = open(sys.argv[1], encoding='utf-8').read()\n"
        "t = time.perf_counter()\n"
        "data = yaml.load(text, Loader=yaml.CSafeLoader)\n"
        "on = time.perf_counter() - t\n"
        "del data; gc.collect(); gc.disable()\n"
        "t = time.perf_counter()\n"
        "yaml.load(text, Loader=yaml.CSafeLoader)\n"
        "print(on, time.perf_counter() - t)"
    )
    units: list[list[Variant]] = [[startup]]
    rows: dict[int, dict[str, Variant]] = {}
    sizes: dict[int, int] = {}
    for n in sorted(set(ns) | set(inc_ns)):
        t0 = time.perf_counter()
        text = bench_gen.cassette_text(BASE, [f"/item/{i}" for i in range(n)])
        sizes[n] = len(text.encode())
        row: dict[str, Variant] = {}
        if n in inc_ns:
            root = bench_gen.write_project(
                base / f"inc_{n}", f"incumbent {n}", "incumbent", BASE, True, mod, n
            )
            bench_gen.write_cassette(root / rel, text)
            row["inc"] = Variant(
                f"inc_{n}",
                f"incumbent N={n}",
                "incumbent",
                root,
                ["--record-mode=none"],
                skipped=STATUS["incumbent"],
                before=lambda root=root: bench_gen.clear_pytest_cache(root),
            )
            units.append([row["inc"]])
        if n in ns:
            root = bench_gen.write_project(
                base / f"ours_{n}", f"ours {n}", "ours", BASE, True, mod, n
            )
            bench_gen.write_cassette(root / rel, text)
            row["yaml"] = Variant(
                f"yaml_{n}", f"yaml C load N={n}", "none", root, cmd=[PY, "-c", load_code, str(rel)]
            )
            row["cold"] = Variant(
                f"cold_{n}",
                f"ours cold N={n}",
                "ours",
                root,
                ["--record-mode=none"],
                skipped=STATUS["ours"],
                before=lambda root=root: bench_gen.clear_pytest_cache(root),
            )
            row["warm"] = Variant(
                f"warm_{n}",
                f"ours warm N={n}",
                "ours",
                root,
                ["--record-mode=none"],
                skipped=STATUS["ours"],
            )
            units += [[row["yaml"]], [row["cold"], row["warm"]]]
        rows[n] = row
        print(
            f"  wrote cassette N={n}: {sizes[n] / 1e6:.2f} MB in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    interleave(units, opts.rounds["scale"], 0, "scale")

    def yaml_secs(v: Variant, gc_on: bool = True) -> float | None:
        """The child prints the time of the load alone: GC on, then GC off."""
        vals = [float(s.output.split()[-2 if gc_on else -1]) for s in v.samples]
        return statistics.median(vals) if vals else None

    s0 = startup.median()
    print(
        f"\n  pytest start-up (empty test, same module): {fmt(s0, '.3f', ' s')}; "
        "times below are medians beyond start-up"
    )
    out_rows: list[list[str]] = []
    beyond: dict[tuple[str, int], float | None] = {}
    for n, row in rows.items():
        y = yaml_secs(row["yaml"]) if "yaml" in row else None
        for k in ("inc", "cold", "warm"):
            m = row[k].median() if k in row else None
            beyond[k, n] = None if m is None or s0 is None else m - s0
        beyond["yaml", n] = y
        if "yaml" in row:
            targets.add(
                f"scale N={n}: ours cold beyond start-up / yaml load",
                ratio(beyond["cold", n], y),
                1.5,
                deps=[row["cold"]],
            )
            targets.add(
                f"scale N={n}: ours warm beyond start-up / yaml load",
                ratio(beyond["warm", n], y),
                0.25,
                deps=[row["cold"], row["warm"]],
            )
        cells = [
            "-"
            if k not in row
            else skip_reason(row[k])
            if row[k].skipped
            else fmt(beyond[k, n], ".3f", " s")
            for k in ("inc", "cold", "warm")
        ]
        y_off = yaml_secs(row["yaml"], False) if "yaml" in row else None
        out_rows.append(
            [
                f"{n:,}",
                f"{sizes[n] / 1e6:.2f}",
                fmt(y, ".3f", " s"),
                fmt(y_off, ".3f", " s"),
                *cells,
                fmt(ratio(beyond["cold", n], y), ".2f", "x"),
                fmt(ratio(beyond["warm", n], y), ".2f", "x"),
                fmt(ratio(beyond["inc", n], beyond["cold", n]), ".1f", "x"),
            ]
        )
    table(
        [
            "N",
            "MB",
            "yaml load",
            "(GC off)",
            "incumbent",
            "ours cold",
            "ours warm",
            "cold/yaml",
            "warm/yaml",
            "inc/ours cold",
        ],
        out_rows,
    )

    print(
        "\n  growth (linear ~1): with 3+ N, the marginal cost per interaction over the top "
        "interval of N divided by that over the interval below it (fixed costs such as "
        "imports cancel out); with 2 N, the cost per interaction beyond start-up, largest N "
        "over the other"
    )
    series = {"yaml": "yaml load", "inc": "incumbent", "cold": "ours cold", "warm": "ours warm"}
    for k, label in series.items():
        have = [(n, beyond.get((k, n))) for n in rows]
        have = [(n, t) for n, t in have if t is not None]
        pts = ", ".join(f"N={n:,}: {t / n * 1e6:.0f} us" for n, t in have) or "not measured"
        g = growth(have)
        verdict = "" if g is None else f"; growth {g[0]:.2f}x ({g[1]}; quadratic: {g[2]:.1f}x)"
        print(f"    {label}: {pts}{verdict}")
        if k in ("cold", "warm"):  # the target: over the largest N asked for
            want = sorted(ns)[-3:]
            got = [(n, beyond.get((k, n))) for n in want]
            g = growth(got) if all(t is not None for _, t in got) else None
            over = g[1] if g else "N = " + ", ".join(map(str, want))
            targets.add(
                f"scale: {label} growth is linear ({over})",
                g[0] if g else None,
                1.5,
                deps=[rows[n][v] for n in want for v in ("cold", k)],
            )
    all_v = [startup] + [v for row in rows.values() for v in row.values()]
    return {
        "sizes": sizes,
        "startup": s0,
        "variants": dump(all_v),
        "yaml_load": {n: yaml_secs(r["yaml"]) for n, r in rows.items() if "yaml" in r},
        "yaml_load_gc_off": {
            n: yaml_secs(r["yaml"], False) for n, r in rows.items() if "yaml" in r
        },
    }


def growth(pts: list[tuple[int, float | None]]) -> tuple[float, str, float] | None:
    """How cost grows with N, from [(N, seconds beyond start-up)] sorted by N: the ratio
    (~1 when linear), what it compares, and what a quadratic cost would give."""
    if len(pts) >= 3:
        (n1, t1), (n2, t2), (n3, t3) = pts[-3:]
        lower, upper = (t2 - t1) / (n2 - n1), (t3 - t2) / (n3 - n2)
        if lower <= 0:
            return None
        return upper / lower, f"marginal cost N={n2}..{n3} / N={n1}..{n2}", (n3 + n2) / (n2 + n1)
    if len(pts) == 2:
        (n1, t1), (n2, t2) = pts
        return (t2 / n2) / (t1 / n1), f"cost per interaction N={n2} / N={n1}", n2 / n1
    return None


def memory_section(opts: argparse.Namespace, tmp: Path, targets: Targets) -> dict[str, object]:
    size = opts.body_mib * MIB
    print(
        f"\n== memory: one GET of a {opts.body_mib} MiB body (text and binary); peak RSS of "
        "the pytest process (VmHWM)"
    )
    base = tmp / "memory"
    paths = {"text": "/big/text", "bin": "/big/bin"}
    big = {"text": bench_server.big_text(size), "bin": bench_server.big_binary(size)}

    def project(name: str, plugin: str, http: bool, kind: str) -> Path:
        mod = {"test_big": bench_gen.BIG_TEST.format(path=paths[kind])}
        return bench_gen.write_project(base / name, name, plugin, BASE, http, mod, size)

    nohttp = project("nohttp", "none", False, "text")
    variants = [Variant("nohttp", "no HTTP", "none", nohttp)]
    rel = Path("cassettes", "test_big", "test_big.yaml")
    for kind in ("text", "bin"):
        text = bench_gen.cassette_text(BASE, [paths[kind]], big)
        root = project(f"live_{kind}", "none", True, kind)
        variants.append(Variant(f"live_{kind}", f"live GET, {kind}", "none", root, hits=1))
        for plugin, short in (("incumbent", "inc"), ("ours", "ours")):
            rec = project(f"{short}_record_{kind}", plugin, True, kind)
            rep = project(f"{short}_replay_{kind}", plugin, True, kind)
            bench_gen.write_cassette(rep / rel, text)
            variants += [
                Variant(f"{short}_record_{kind}", f"{plugin} record, {kind}", plugin, rec,
                        ["--record-mode=once"], hits=1, skipped=STATUS[plugin],
                        before=lambda rec=rec: bench_gen.remove_cassettes(rec)),
                Variant(f"{short}_replay_{kind}", f"{plugin} replay, {kind}", plugin, rep,
                        ["--record-mode=none"], skipped=STATUS[plugin]),
            ]  # fmt: skip
    for v in variants:
        v.rss = True
    interleave([[v] for v in variants], opts.rounds["memory"], 0, "memory")

    floor = variants[0].median("maxrss")
    rows = []
    for v in variants:
        m = v.median("maxrss")
        if m is None:
            rows.append([v.label, skip_reason(v), "", "", ""])
            if v.plugin == "ours":
                targets.add(f"memory: {v.label} above no-HTTP / body", None, 3.0, deps=[v])
            continue
        above = None if floor is None else (m - floor)
        rows.append(
            [
                v.label,
                fmt(m / MIB, ".0f", " MiB"),
                fmt(None if above is None else above / MIB, ".0f", " MiB"),
                fmt(None if above is None else above / size, ".2f", "x"),
                fmt(v.median(), ".2f", " s"),
            ]
        )
        if v.plugin == "ours":
            value = None if above is None else above / size
            targets.add(f"memory: {v.label} above no-HTTP / body", value, 3.0, deps=[v])
    print(f"\n  medians of {opts.rounds['memory']} round(s); body = {opts.body_mib} MiB")
    table(["variant", "peak RSS", "above no-HTTP", "x body", "wall"], rows)
    return {"body_bytes": size, "variants": dump(variants)}


def scrub_section(opts: argparse.Namespace, tmp: Path, targets: Targets) -> dict[str, object]:
    n = int(opts.scrub_mib * MIB)
    tags = {"N": n, "4N": 4 * n}
    shapes = list(bench_gen.SCRUB_SHAPES)
    print(
        f"\n== scrub: two tests per body shape, each recording one GET of it, at N = "
        f"{n / MIB:g} MiB and 4N = {4 * n / MIB:g} MiB; "
        "times are each test's own (setup, call, teardown), as pytest measured them"
    )
    t0 = time.perf_counter()
    sizes: dict[tuple[str, str], int] = {}
    for shape in shapes:
        bench_server.BODIES[f"/scrub/warm/{shape}"] = bench_gen.scrub_body(shape, 4096)
        for tag, size in tags.items():
            bench_server.BODIES[f"/scrub/{tag}/{shape}"] = body = bench_gen.scrub_body(shape, size)
            sizes[shape, tag] = len(body[0])
    print(f"  made {2 * len(shapes)} bodies in {time.perf_counter() - t0:.1f} s", flush=True)

    tests = 2 * len(shapes) + 1  # and the warm-up
    mod = {"test_scrub": bench_gen.scrub_module(sizes)}

    def check(root: Path, scrubs: bool) -> Callable[[Run], None]:
        def checked(r: Run) -> None:
            got = len(list((root / "cassettes").rglob("*.yaml")))
            if got != tests:
                raise HarnessError(f"recorded {got} cassettes, expected {tests}")
            said = re.search(r"([\d,]+) secret values? scrubbed", r.output)
            if scrubs and (said is None or said.group(1) == "0"):
                raise HarnessError(f"ours scrubbed no value\n{tail(r.output)}")

        return checked

    variants: dict[str, Variant] = {}
    for plugin, short, label in (
        ("none", "live", "live, no plugin"),
        ("incumbent", "inc", "incumbent record"),
        ("ours", "ours", "ours record"),
    ):
        root = bench_gen.write_project(tmp / "scrub" / short, short, plugin, BASE, True, mod)
        (root / "conftest.py").write_text(bench_gen.SCRUB_CONFTEST)
        hits = 3 * len(shapes)  # a GET a test, and the warm-up's of each shape
        v = Variant(short, label, plugin, root, passed=tests, hits=hits, skipped=STATUS[plugin])
        if plugin != "none":
            v.args = ["--record-mode=once"]
            v.before = lambda root=root: bench_gen.remove_cassettes(root)
            v.after = check(root, plugin == "ours")
        variants[short] = v
    interleave([[v] for v in variants.values()], opts.rounds["scrub"], 0, "scrub")

    # Each round's times of each variant's tests, {test name: seconds}, as its conftest printed
    printed = re.compile(r"^BENCH_TEST (\S+) (\S+)$", re.M)
    rounds = {
        k: [{name: float(t) for name, t in printed.findall(s.output)} for s in v.samples]
        for k, v in variants.items()
    }

    def test_secs(short: str, tag: str, shape: str) -> float | None:
        """The median of the test's own time over the variant's rounds."""
        vals = [r[f"test_{shape}_{tag}"] for r in rounds[short] if f"test_{shape}_{tag}" in r]
        return statistics.median(vals) if vals else None

    secs = {
        (k, tag, shape): test_secs(k, tag, shape)
        for k in variants
        for tag in tags
        for shape in shapes
    }

    def beyond(short: str, tag: str, shape: str) -> float | None:
        """The test's time beyond the same test run live without a plugin."""
        t, live = secs[short, tag, shape], secs["live", tag, shape]
        return None if t is None or live is None else t - live

    def growth(short: str, shape: str) -> float | None:
        """log(t(4N) / t(N)) / log(size(4N) / size(N)): 1 linear, 2 quadratic."""
        t1, t4 = beyond(short, "N", shape), beyond(short, "4N", shape)
        if t1 is None or t4 is None or t1 <= 0 or t4 <= 0:
            return None
        return math.log(t4 / t1) / math.log(sizes[shape, "4N"] / sizes[shape, "N"])

    def pair(short: str, shape: str) -> str:
        t1, t4 = beyond(short, "N", shape), beyond(short, "4N", shape)
        return f"{fmt(t1, '.3f')} / {fmt(t4, '.3f', ' s')}"

    rows = []
    for shape in shapes:
        t4 = beyond("ours", "4N", shape)
        rows.append(
            [
                shape,
                f"{sizes[shape, 'N'] / MIB:.2f} / {sizes[shape, '4N'] / MIB:.2f}",
                fmt(secs["live", "4N", shape], ".3f", " s"),
                pair("inc", shape),
                pair("ours", shape),
                fmt(None if t4 is None else t4 * 1000 / (sizes[shape, "4N"] / MIB), ".0f"),
                fmt(growth("inc", shape), ".2f"),
                fmt(growth("ours", shape), ".2f"),
                fmt(ratio(secs["ours", "4N", shape], secs["inc", "4N", shape]), ".1f", "x"),
            ]
        )
        targets.add(
            f"scrub {shape}: ours record growth beyond live, N to 4N",
            growth("ours", shape),
            1.3,
            unit="",
            deps=[variants["live"], variants["ours"]],
        )
    print(
        f"\n  medians of {opts.rounds['scrub']} round(s); incumbent and ours: the test's time "
        "beyond the same test live without a plugin, at N / 4N; ms/MiB: ours at 4N; growth: "
        "log(t(4N) / t(N)) / log(size ratio), 1.0 linear, 2.0 quadratic; ours/inc: the tests' "
        "own times at 4N"
    )
    table(
        ["shape", "MiB N / 4N", "live 4N", "incumbent", "ours", "ms/MiB", "growth inc",
         "growth ours", "ours/inc"],
        rows,
    )  # fmt: skip
    at_4n = {k: [secs[k, "4N", shape] or 0.0 for shape in shapes] for k in ("live", "inc", "ours")}
    sums = {k: sum(v) if all(v) else None for k, v in at_4n.items()}  # 0.0: not measured
    print(
        f"\n  all shapes at 4N: live {fmt(sums['live'], '.2f', ' s')}, incumbent recording "
        f"without scrubbing bodies {fmt(sums['inc'], '.2f', ' s')}, ours "
        f"{fmt(sums['ours'], '.2f', ' s')}: {fmt(ratio(sums['ours'], sums['inc']), '.1f', 'x')}"
        " the incumbent"
    )
    return {
        "sizes": {shape: {tag: sizes[shape, tag] for tag in tags} for shape in shapes},
        "test_seconds": {
            f"{k}_{tag}": {shape: secs[k, tag, shape] for shape in shapes}
            for k in variants
            for tag in tags
        },
        "growth": {k: {shape: growth(k, shape) for shape in shapes} for k in ("inc", "ours")},
        "test_seconds_by_round": rounds,
        "variants": dump(list(variants.values())),
    }


def dump(variants: list[Variant]) -> dict[str, object]:
    return {
        v.key: {
            "label": v.label,
            "plugin": v.plugin,
            "skipped": v.skipped,
            "seconds": [s.seconds for s in v.samples],
            "peak_rss": [s.maxrss for s in v.samples],
            "median_seconds": v.median(),
            "median_peak_rss": v.median("maxrss"),
        }
        for v in variants
    }


# --------------------------------------------------------------------------- main

SECTIONS = {
    "suite": suite_section,
    "scale": scale_section,
    "memory": memory_section,
    "scrub": scrub_section,
}
ENV = child_env()
STATUS: dict[str, str | None] = {}
BASE = ""
HITS: list[int] = [0]
TIMEOUT: list[float] = [180.0]
BROKEN: list[str] = []
SUITE_CHECKED: list[bool] = []


def ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    global BASE, HITS
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--rounds",
        type=int,
        help="measured rounds per section (default: suite 5, scale 3, memory 3, scrub 3; quick 1)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="1 round, scale N = 500, 2,000, 5,000, incumbent N = 250, 500, scrub N = 0.25 MiB",
    )
    ap.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS))
    ap.add_argument("--json", type=Path, help="write all samples, medians and verdicts here")
    ap.add_argument("--tests", type=int, default=300, help="size of the suite (default 300)")
    ap.add_argument("--n", type=ints, help="scale section N values (default 500,5000,20000)")
    ap.add_argument(
        "--incumbent-n",
        type=ints,
        help="N values for the incumbent, which is quadratic (default 250,500,1000)",
    )
    ap.add_argument("--body-mib", type=int, default=20, help="memory section body size")
    ap.add_argument(
        "--scrub-mib", type=float, help="scrub section N in MiB, 4N measured too (default 0.5)"
    )
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="discarded warm-up rounds of the suite section (default 1)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=180.0,
        help="seconds before one pytest run is killed and its variant dropped (180)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated temporary directory")
    opts = ap.parse_args(argv)
    # Suite runs are short and noisy: more rounds. --rounds sets every section.
    default = {"suite": 5, "scale": 3, "memory": 3, "scrub": 3}
    opts.rounds = {k: opts.rounds or (1 if opts.quick else d) for k, d in default.items()}
    opts.n = opts.n or ([500, 2000, 5000] if opts.quick else [500, 5000, 20000])
    opts.incumbent_n = opts.incumbent_n or ([250, 500] if opts.quick else [250, 500, 1000])
    opts.scrub_mib = opts.scrub_mib or (0.25 if opts.quick else 0.5)
    TIMEOUT[0] = opts.timeout
    only = opts.only.split(",") if opts.only else list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(
            f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}"
        )

    STATUS.update(plugin_status())
    vers = versions()
    print("pytest-cassettes benchmark: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print(f"python {PY}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    for plugin in ("incumbent", "ours"):
        print(f"{plugin}: {STATUS[plugin] or 'available'}")
    size = opts.body_mib * MIB if "memory" in only else 0
    BASE, HITS = bench_server.start(size)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still remove the temp dir
    tmp = Path(tempfile.mkdtemp(prefix="pytest-cassettes-bench-"))
    targets, results = Targets(), {}
    t0 = time.perf_counter()
    try:
        for name in only:
            results[name] = SECTIONS[name](opts, tmp, targets)
    finally:
        if opts.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    targets.print()
    total = time.perf_counter() - t0
    print(f"\ntotal {total:.0f} s; load average {os.getloadavg()[0]:.2f} at end")
    if BROKEN:
        print(f"variants that failed to run: {', '.join(BROKEN)}")
    if opts.json:
        opts.json.write_text(
            json.dumps(
                {
                    "versions": vers,
                    "plugins": STATUS,
                    "rounds": opts.rounds,
                    "cpus": os.cpu_count(),
                    "seconds_total": total,
                    "sections": results,
                    "targets": targets.rows,
                    "broken": BROKEN,
                },
                indent=1,
                default=str,
            )
        )
        print(f"wrote {opts.json}")
    return 2 if BROKEN else 0


if __name__ == "__main__":
    sys.exit(main())
