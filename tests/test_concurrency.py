"""Many writers, one cassette: xdist workers, processes, threads, readers, and writers killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_cassettes import storage
from tests.conftest import Suite, needs_xdist, shared_pages

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and locks")

SHARED = """
@pytest.mark.cassette("shared")
@pytest.mark.parametrize("i", range({count}))
def test_item(i):
    assert requests.get(URL + f"/item/{{i}}").json()["path"] == f"/item/{{i}}"
"""
COUNT = 40


def run_xdist(suite: Suite, workers: int, mode: str) -> pytest.RunResult:
    return suite.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-n", str(workers), f"--record-mode={mode}"
    )


def shared_uris(suite: Suite) -> Counter[str]:
    data = yaml.safe_load((suite.path / "cassettes" / "shared.yaml").read_text())
    return Counter(i["request"]["uri"] for i in data["interactions"])


@needs_xdist
@pytest.mark.parametrize("workers", [2, 4])
def test_xdist_workers_recording_into_one_cassette_lose_nothing(suite: Suite, workers: int) -> None:
    suite.write(SHARED.format(count=COUNT))
    expected = Counter(suite.server.url(f"/item/{i}") for i in range(COUNT))
    cassette_dir = suite.path / "cassettes"
    for _ in range(2):  # two fresh recordings: a lost write would not hide twice
        if cassette_dir.exists():
            (cassette_dir / "shared.yaml").unlink()
        suite.server.reset()
        run_xdist(suite, workers, "new_episodes").assert_outcomes(passed=COUNT)
        assert suite.server.hits == COUNT
        assert shared_uris(suite) == expected  # every interaction, each exactly once
        assert sorted(p.name for p in cassette_dir.iterdir()) == ["shared.yaml"]

    # Every worker re-records its own request: each replaces its old version, drops nothing else.
    suite.server.reset()
    run_xdist(suite, workers, "all").assert_outcomes(passed=COUNT)
    assert suite.server.hits == COUNT
    assert shared_uris(suite) == expected
    assert sorted(p.name for p in cassette_dir.iterdir()) == ["shared.yaml"]

    suite.server.reset()
    run_xdist(suite, workers, "none").assert_outcomes(passed=COUNT)
    assert suite.server.hits == 0


# --- storage.write from several processes and threads --------------------------------------

WRITER = """
import json, os, sys, time
from pathlib import Path
from pytest_cassettes import storage

path, mode, first, count, size = Path(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:6])


def interaction(generation, index):
    return {
        "request": {"method": "GET", "uri": f"http://example.test/{index}", "body": None,
                    "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"},
                     "headers": {"Content-Type": ["text/plain"]},
                     "body": {"string": f"generation {generation} item {index} " + "x" * size}},
    }


if mode == "append":  # one interaction per write, `count` writes
    for index in range(first, first + count):
        storage.write(path, [interaction(0, index)])
    sys.exit(0)

if mode == "slow-rename":  # announce each rename and linger before it: the test kills us there
    real_replace = os.replace

    def slow_replace(src, dst):
        print("rename", flush=True)
        time.sleep(30)
        real_replace(src, dst)

    os.replace = slow_replace

generation = first
while True:  # replace the whole cassette with the next generation, forever
    snapshot = storage.read(path)
    drop = {storage.identity(i) for i in snapshot.interactions} if snapshot else set()
    storage.write(path, [interaction(generation, i) for i in range(count)], drop)
    print(generation, flush=True)
    generation += 1
"""
PER_GENERATION = 40
BODY_SIZE = 20_000  # about 0.8 MB a cassette


def interaction(generation: int, index: int, size: int = BODY_SIZE) -> dict[str, Any]:
    body = f"generation {generation} item {index} " + "x" * size
    return {
        "request": {
            "method": "GET",
            "uri": f"http://example.test/{index}",
            "body": None,
            "headers": {},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["text/plain"]},
            "body": {"string": body},
        },
    }


@pytest.fixture
def writer_script(tmp_path: Path) -> Path:
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER))
    return script


def start_writer(script: Path, path: Path, mode: str, first: int = 1) -> subprocess.Popen[str]:
    args = [str(path), mode, str(first), str(PER_GENERATION), str(BODY_SIZE)]
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True)


def generation_of(interactions: Any) -> int:
    """The one generation a complete cassette holds; fails on a partial or mixed file."""
    assert len(interactions) == PER_GENERATION
    generations = {i["response"]["body"]["string"].split()[1] for i in interactions}
    assert len(generations) == 1, generations
    return int(generations.pop())


def test_processes_appending_to_one_cassette_lose_nothing(
    tmp_path: Path, writer_script: Path
) -> None:
    path = tmp_path / "cassettes" / "shared.yaml"
    args = [str(path), "append"]
    writers = [
        subprocess.Popen([sys.executable, str(writer_script), *args, str(n * 20), "20", "100"])
        for n in range(4)
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]
    snapshot = storage.read(path)
    assert snapshot is not None
    uris = Counter(i["request"]["uri"] for i in snapshot.interactions)
    assert uris == Counter(f"http://example.test/{n}" for n in range(80))
    assert sorted(p.name for p in path.parent.iterdir()) == ["shared.yaml"]


def test_threads_writing_to_one_cassette_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"

    def append(thread: int) -> None:
        for n in range(10):
            storage.write(path, [interaction(thread, n, size=100)])

    threads = [threading.Thread(target=append, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    snapshot = storage.read(path)
    assert snapshot is not None
    bodies = Counter(
        i["response"]["body"]["string"].decode().split(" item")[0] for i in snapshot.interactions
    )
    assert bodies == Counter({f"generation {t}": 10 for t in range(8)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.yaml"]


def test_readers_see_a_complete_cassette_during_rewrites(
    tmp_path: Path, writer_script: Path
) -> None:
    path = tmp_path / "live.yaml"
    storage.write(path, [interaction(0, i) for i in range(PER_GENERATION)])
    writer = start_writer(writer_script, path, "rewrite")
    try:
        assert writer.stdout is not None
        writer.stdout.readline()  # the first rewrite is done
        seen: set[int] = set()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline or len(seen) < 3:
            assert time.monotonic() < deadline + 10, f"writer too slow: {seen}"
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
            seen.add(generation_of(raw["interactions"]))
            snapshot = storage.read(path)
            assert snapshot is not None
            seen.add(generation_of(snapshot.interactions))
    finally:
        writer.kill()
        writer.wait()
    # Every read was whole: generation_of checks each. (It also asserted more reads than
    # generations seen, which failed under load, the writer outpacing the reader.)
    assert len(seen) >= 3, "the writer must have replaced the file while we read"


def test_a_writer_killed_at_any_moment_leaves_the_old_or_the_new_cassette(
    tmp_path: Path, writer_script: Path
) -> None:
    path = tmp_path / "killed.yaml"
    storage.write(path, [interaction(0, i) for i in range(PER_GENERATION)])
    last = 0
    for attempt in range(16):
        writer = start_writer(writer_script, path, "rewrite", first=last + 1)
        assert writer.stdout is not None
        written = [int(writer.stdout.readline())]  # at least one complete rewrite
        time.sleep(0.013 * (attempt % 8))  # kill at a different moment of a rewrite each time
        writer.send_signal(signal.SIGKILL)
        written += [int(line) for line in writer.stdout.read().split()]
        writer.wait()
        snapshot = storage.read(path)
        assert snapshot is not None
        on_disk = generation_of(snapshot.interactions)
        # The last generation announced, or the one after it whose rename beat the kill.
        assert on_disk in (written[-1], written[-1] + 1)
        last = on_disk
        storage.write(path, [])  # the next write clears what the killed writer left
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
        assert generation_of(storage.read(path).interactions) == on_disk  # type: ignore[union-attr]


def test_a_writer_killed_before_its_rename_leaves_a_temp_file_the_next_write_removes(
    tmp_path: Path, writer_script: Path
) -> None:
    path = tmp_path / "killed.yaml"
    storage.write(path, [interaction(0, i) for i in range(PER_GENERATION)])
    before = path.read_bytes()
    writer = start_writer(writer_script, path, "slow-rename")
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "rename"  # the temp file is written, not renamed
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    stale = storage.temp_files(path)
    assert len(stale) == 1
    assert stale[0].name.startswith(".killed.yaml.")
    assert stale[0].stat().st_size > 0
    assert path.read_bytes() == before  # the old cassette, untouched
    assert storage.read(path) is not None

    # A reader ignores it; the next write, holding the lock, knows its writer is dead.
    storage.write(path, [interaction(1, 0)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed.yaml", "writer.py"]
    snapshot = storage.read(path)
    assert snapshot is not None
    assert len(snapshot.interactions) == PER_GENERATION + 1


def test_stale_temp_files_of_other_cassettes_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    own = tmp_path / ".a.yaml.00000000.tmp"  # the name a writer holding the lock uses
    others = [
        tmp_path / ".a.yaml.b.yaml.00000000.tmp",  # the temp file of cassette `a.yaml.b.yaml`
        tmp_path / ".b.yaml.00000000.tmp",
        tmp_path / "notes.tmp",
        tmp_path / ".a.yaml.not-ours.tmp",
    ]
    for file in [own, *others]:
        file.write_text("partial")
    storage.write(path, [interaction(0, 0)])
    assert not own.exists()
    assert all(other.exists() for other in others)
    storage.delete(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in others)


def test_lock_files_stay_out_of_the_cassette_directory(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    storage.write(path, [interaction(0, 0)])
    storage.delete(path)
    storage.write(path, [interaction(0, 1)])
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]
    assert str(os.getuid()) in storage.lock_dir().name  # a directory per user: always writable
    assert storage.lock_dir().stat().st_uid == os.getuid()


REWRITE_FIRST = """
@pytest.mark.cassette("shared")
@pytest.mark.parametrize("i", range(20))
def test_first(i):
    requests.get(URL + f"/first/{i}")
"""
REWRITE_LATE = """
import time
import uuid

@pytest.fixture(scope="module", autouse=True)
def _start_late():
    time.sleep(1.5)  # the other worker records all of its tests meanwhile

@pytest.mark.cassette("shared")
@pytest.mark.parametrize("i", range(20))
def test_late(i):
    requests.get(URL + f"/late/{i}")
"""


@needs_xdist
def test_rewrite_under_xdist_keeps_what_other_workers_recorded_in_the_run(suite: Suite) -> None:
    suite.write(REWRITE_FIRST, name="test_a")
    suite.write(REWRITE_LATE, name="test_b")
    result = suite.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile", "--record-mode=rewrite"
    )
    result.assert_outcomes(passed=40)
    assert suite.server.hits == 40
    expected = [f"/first/{i}" for i in range(20)] + [f"/late/{i}" for i in range(20)]
    assert shared_uris(suite) == Counter(suite.server.url(p) for p in expected)


def test_lock_files_are_a_bounded_set_shared_by_cassettes(tmp_path: Path) -> None:
    locks = {storage._lock_file(tmp_path / f"{i}.yaml") for i in range(5 * storage.LOCK_SLOTS)}
    assert len(locks) <= storage.LOCK_SLOTS  # not one file per cassette ever written
    assert all(lock.parent == storage.lock_dir() for lock in locks)
    same = storage._lock_file(tmp_path / "a.yaml")
    assert storage._lock_file(tmp_path / "a.yaml") == same  # stable


def test_the_lock_excludes_other_processes_and_threads(tmp_path: Path) -> None:
    path = tmp_path / "locked.yaml"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from pytest_cassettes import storage\n"
            "with storage._locked(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(1.0)\n"
            "print('released', flush=True)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    with storage._locked(path):
        waited = time.monotonic() - started
    assert waited > 0.5  # for the other process to let go (it holds the lock for 1 s)
    assert holder.stdout.readline().strip() == "released"
    holder.wait()

    inside: list[int] = []
    most: list[int] = []

    def hold() -> None:
        for _ in range(50):
            with storage._locked(path):
                inside.append(1)
                most.append(len(inside))
                time.sleep(0.0005)
                inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(most) == 200
    assert max(most) == 1  # never two holders at once


MARKS_SEEN = """
from pathlib import Path
from pytest_cassettes import storage

@pytest.mark.cassette("shared")
def test_a():
    requests.get(URL + "/a")

@pytest.mark.cassette("shared")
def test_b():
    requests.get(URL + "/b")

def test_marks_are_the_runs_own(request):
    from pytest_cassettes.plugin import SESSION

    run = request.config.stash[SESSION].run_id  # the controller's, handed to this worker
    Path("run").write_text(run)
    folder = storage.lock_dir() / f"run-{run}"
    # (the cassette both tests name is rewritten in part: its interactions at the run's start)
    assert sorted(p.suffix for p in folder.iterdir()) == [".old"]
"""


@needs_xdist
def test_a_runs_marks_are_removed_when_it_ends(suite: Suite) -> None:
    stale = storage.lock_dir() / f"run-{uuid.uuid4().hex}"  # a run killed two days ago
    (stale / "x.written").parent.mkdir(parents=True)
    (stale / "x.written").touch()
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    ongoing = storage.lock_dir() / f"run-{uuid.uuid4().hex}"  # another run, still going
    ongoing.mkdir()
    try:
        suite.write(MARKS_SEEN)
        result = suite.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "1", "--record-mode=rewrite"
        )
        result.assert_outcomes(passed=3)
        assert not (storage.lock_dir() / f"run-{(suite.path / 'run').read_text()}").exists()
        assert not stale.exists()
        assert ongoing.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(ongoing, ignore_errors=True)


def test_a_run_whose_marks_folder_cannot_be_looked_at_replays_and_ends_cleanly(
    suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lock folder the user may not search (another user's of the same name in a shared
    # /tmp): looking for a run's mark raised PermissionError, which failed every test
    # replaying a named cassette and ended the run with a traceback, exit status 1, even a run
    # that opened no cassette. Root searches any folder: a temp directory whose path leaves no
    # room for a run's folder (ENAMETOOLONG) gives the same error from the same stat.
    suite.write(
        """
        @pytest.mark.cassette("shared")
        def test_a():
            requests.get(URL + "/a")
        """
    )
    suite.run().assert_outcomes(passed=1)
    deep = tmp_path
    while len(str(deep)) < 4050 - 202:  # path components are 255 bytes at most
        deep /= "d" * 200
    deep /= "d" * (4050 - len(str(deep)) - 1)
    deep.mkdir(parents=True)
    assert len(str(deep)) == 4050
    monkeypatch.setenv("TMPDIR", str(deep))
    result = suite.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "Error" not in result.stderr.str()


def test_the_lock_folder_is_the_users_alone_when_a_mark_creates_it(
    suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cassette that tests share is marked before its first write takes a lock: the mark's
    # folder created the lock folder with the umask's mode (0755), where the lock made it 0700.
    suite.write(shared_pages(2))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    result = suite.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    folder = tmp_path / f"pytest-cassettes-locks-{os.getuid()}"
    assert folder.stat().st_mode & 0o777 == 0o700


NEEDS_A_LOCK = """
@pytest.mark.cassette("shared")
def test_records():
    requests.get(URL + os.environ.get("PAGE", "/a"))

def test_plain():
    pass
"""
NO_LOCK = "Set TMPDIR to a folder you may write to"


def test_a_cassette_test_that_cannot_take_its_lock_says_to_set_tmpdir(
    suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock folder's name taken by a file: the save ended in a bare NotADirectoryError. The
    # closest portable kin of a run with no writable temp directory (see the next test).
    suite.write(NEEDS_A_LOCK)
    suite.run().assert_outcomes(passed=2)  # recorded: replaying takes no lock
    (tmp_path / f"pytest-cassettes-locks-{os.getuid()}").touch()
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    args = ["-p", "no:cacheprovider", "-p", "no:randomly"]
    suite.pytester.runpytest_subprocess(*args).assert_outcomes(passed=2)
    result = suite.pytester.runpytest_subprocess(*args, "--record-mode=rewrite")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["E *.LockFolderError: *Not a directory*", f"E *{NO_LOCK}: *"])


NO_TEMP_DIRECTORY = """
P="$1"; Q="$(dirname "$P")"
mount --bind "$P" "$P"  # the project stays writable; the folder pytest starts in does not
mount --rbind "$Q" "$Q" && mount -o remount,bind,ro "$Q"
for d in /tmp /var/tmp /usr/tmp; do
    [ -d $d ] && mount --rbind $d $d && mount -o remount,bind,ro $d
done
cd "$Q" && shift && exec "$@"
"""


def test_a_run_without_a_writable_temp_directory_fails_only_the_tests_that_write(
    suite: Suite,
) -> None:
    # /tmp and /var/tmp read-only, TMPDIR unset, started in a read-only folder: no temp
    # directory at all, and importing runmarks as a test set up (tempfile.gettempdir()) ended
    # the whole run with INTERNALERROR. Only a mount namespace makes one: skipped where
    # unprivileged user namespaces are not allowed.
    if (
        not sys.platform.startswith("linux")
        or subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode
    ):
        pytest.skip("needs unshare -rm (an unprivileged mount namespace)")
    suite.write(NEEDS_A_LOCK)
    suite.pytester.makeini("[pytest]\n")
    suite.run().assert_outcomes(passed=2)
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    command = [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", str(suite.path)]
    namespace = ["unshare", "-rm", "sh", "-c", NO_TEMP_DIRECTORY, "sh", str(suite.path)]
    for mode, page, errors in (("none", "/a", 0), ("rewrite", "/b", 1)):  # -s: pytest's capture
        done = subprocess.run(  # needs one
            [*namespace, *command, "-p", "no:randomly", f"--record-mode={mode}"],
            env={**env, "PAGE": page},
            capture_output=True,
            text=True,
            check=False,
        )
        assert "INTERNALERROR" not in done.stdout + done.stderr
        assert f"2 passed{f', {errors} error' if errors else ''} in" in done.stdout
    assert NO_LOCK in done.stdout
    recorded = yaml.safe_load((suite.path / "cassettes/shared.yaml").read_text())
    assert [i["request"]["uri"] for i in recorded["interactions"]] == [suite.server.url("/a")]


KILLED_AFTER_REWRITE = """
@pytest.mark.cassette("shared/page")
def test_a():
    requests.get(URL + os.environ["PAGE"])

def test_z_killed():
    if os.environ.get("KILL"):
        os.kill(os.getpid(), signal.SIGKILL)  # the run ends before its end: its marks stay
"""


@needs_xdist
def test_a_run_given_the_testrunuid_of_another_run_has_marks_of_its_own(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fixed --testrunuid (addopts, a CI job's id given to several runs at once) named the
    # run's marks: a later run read the marks a killed run left (its rewrite dropped nothing
    # of the old recording), and a run ending removed those of another still going.
    suite.write("import signal\n" + KILLED_AFTER_REWRITE)
    args = ["-p", "no:cacheprovider", "-p", "no:randomly", "-p", "xdist", "--testrunuid=fixed"]
    monkeypatch.setenv("PAGE", "/old")
    monkeypatch.setenv("KILL", "1")
    suite.pytester.runpytest_subprocess(*args, "--record-mode=rewrite")
    assert suite.uris("page", "shared") == [suite.server.url("/old")]
    monkeypatch.setenv("PAGE", "/new")
    monkeypatch.delenv("KILL")
    suite.pytester.runpytest_subprocess(*args, "--record-mode=rewrite").assert_outcomes(passed=2)
    assert suite.uris("page", "shared") == [suite.server.url("/new")]


# A user's persister that writes in two steps, as vcrpy's FilesystemPersister does (it opens
# the file with "w", then writes): test_page[/a]'s save pauses halfway until test_page[/b],
# on the other worker, is about to load the cassette (FLAGS: a folder for the two to meet).
IN_TWO_STEPS = """
import os
import time

import pytest
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import deserialize, serialize

def flag(name):
    open(os.path.join(os.environ["FLAGS"], name), "w").close()

def wait_for(name):
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(os.environ["FLAGS"], name)):
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)

class InTwoSteps:
    @staticmethod
    def load_cassette(cassette_path, serializer):
        if not os.path.exists(cassette_path):
            raise CassetteNotFoundError()
        with open(cassette_path) as file:
            return deserialize(file.read(), serializer)

    @staticmethod
    def save_cassette(cassette_path, cassette_dict, serializer):
        data = serialize(cassette_dict, serializer)
        os.makedirs(os.path.dirname(cassette_path), exist_ok=True)
        with open(cassette_path, "w") as file:
            file.write(data[: len(data) // 2])
            file.flush()
            if "[/a]" in os.environ.get("PYTEST_CURRENT_TEST", ""):
                flag("half-written")
                wait_for("b-loads")
                time.sleep(1)  # /b loads the cassette now, unless it waits for this save
            file.write(data[len(data) // 2 :])

def pytest_cassettes_configure(config, vcr):
    vcr.register_persister(InTwoSteps)

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.name == "test_page[/b]":
        wait_for("half-written")
        flag("b-loads")
"""
TWO_PAGES = """
@pytest.mark.cassette("shared")
@pytest.mark.parametrize("page", ["/a", "/b"])
def test_page(page):
    requests.get(URL + page)
"""


@needs_xdist
def test_a_workers_cassette_is_not_loaded_while_another_saves_it_through_a_persister(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Under load, a worker loaded a cassette a user's persister was writing on the other
    # worker: half a file, or an empty one (TypeError in vcr/serialize.py), erred its test.
    monkeypatch.setenv("FLAGS", str(tmp_path_factory.mktemp("flags")))
    suite.pytester.makeconftest(IN_TWO_STEPS)
    suite.write(TWO_PAGES)
    run_xdist(suite, 2, "new_episodes").assert_outcomes(passed=2)  # one test on each worker
    assert shared_uris(suite) == Counter(suite.server.url(p) for p in ("/a", "/b"))
