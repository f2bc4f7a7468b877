"""Result files are replaced as a whole: a failed write leaves the previous file, no leftovers."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from disk_faults import file_size_limit

from features.atomic_file import write_text_atomic


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "deep" / "result.json"
    write_text_atomic(out, '{"a": 1}\n')
    write_text_atomic(out, '{"a": 2}\n')
    assert json.loads(out.read_text()) == {"a": 2}
    assert _listing(out.parent) == ["result.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # like a plain write_text


def test_disk_full_mid_write_keeps_the_previous_complete_file(tmp_path):
    out = tmp_path / "result.json"
    previous = json.dumps({"run": "previous", "pad": "x" * 50})
    out.write_text(previous)
    big = json.dumps({"run": "new", "pad": "y" * 10_000})
    with file_size_limit(4096), pytest.raises(OSError) as failed:
        write_text_atomic(out, big)
    assert failed.value.errno == errno.EFBIG
    assert f"{out} not written (kept as it was)" in str(failed.value)  # the error names it
    assert out.read_text() == previous
    assert _listing(tmp_path) == ["result.json"]


def test_concurrent_writers_use_distinct_temporaries(tmp_path, monkeypatch):
    """Each writer's temporary name is its own, so two writers never interleave bytes."""
    seen: list[str] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    for i in range(3):
        write_text_atomic(tmp_path / "r.json", str(i))
    assert len(set(seen)) == 3 and all(n.startswith(".r.json.") for n in seen)
    assert (tmp_path / "r.json").read_text() == "2"


def test_kill_9_mid_write_keeps_the_previous_file_and_the_next_write_cleans_up(tmp_path):
    """A writer killed with -9 while writing leaves the previous file and its own temporary
    file; the next write removes that temporary file (its pid is gone) and replaces the target."""
    import subprocess
    import sys

    out = tmp_path / "result.json"
    out.write_text('{"run": "previous"}')
    script = (
        "import os, sys\n"
        "from features.atomic_file import write_text_atomic\n"
        "real = os.write\n"
        "def slow(fd, data):\n"
        "    n = real(fd, data[:1024]); sys.stdout.write('wrote\\n'); sys.stdout.flush()\n"
        "    import time; time.sleep(60); return n\n"
        "os.write = slow\n"
        f"write_text_atomic({str(out)!r}, 'x' * 100_000)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "wrote\n"
        child.kill()  # SIGKILL, mid-write
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert out.read_text() == '{"run": "previous"}' and len(left) == 1
    assert left[0].startswith(f".result.json.{child.pid}-")
    write_text_atomic(out, '{"run": "next"}')
    assert json.loads(out.read_text()) == {"run": "next"}
    assert _listing(tmp_path) == ["result.json"]


def test_a_folder_or_a_file_parent_as_target_is_refused_naming_the_path(tmp_path):
    folder = tmp_path / "out"
    (folder / "kept.txt").parent.mkdir()
    (folder / "kept.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match=r"out: is a folder; this output is one file"):
        write_text_atomic(folder, "x")
    assert _listing(folder) == ["kept.txt"]  # no temporary left inside or beside it
    assert _listing(tmp_path) == ["out"]
    blocker = tmp_path / "plain.txt"
    blocker.write_text("a file")
    with pytest.raises(NotADirectoryError, match=r"plain.txt is a file, not a folder"):
        write_text_atomic(blocker / "deeper" / "result.json", "x")
    assert blocker.read_text() == "a file"


def test_a_replaced_directory_has_the_mode_of_a_plain_mkdir(tmp_path):
    """The staging folder came from mkdtemp (0700) and kept that mode once renamed into place:
    another account (the service, a scheduler) could not read an ingest's --out."""
    from features.atomic_dir import replaced_directory

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)  # a group-shared folder: folders made in it inherit setgid
    out = shared / "data"
    with replaced_directory(out, {"t.txt"}) as staging:
        (staging / "t.txt").write_text("x")
    plain = shared / "plain"
    plain.mkdir()
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert out.stat().st_mode & stat.S_ISGID


def test_a_pair_is_replaced_together_or_not_at_all(tmp_path):
    """The second file failing (past a file-size limit) leaves the first one as it was too."""
    from features.atomic_file import write_texts_atomic

    small, big = tmp_path / "r.json", tmp_path / "r.html"
    write_texts_atomic({small: "old json", big: "old html"})
    with file_size_limit(4096), pytest.raises(OSError) as failed:
        write_texts_atomic({small: "new json", big: "y" * 10_000})
    assert failed.value.errno == errno.EFBIG
    assert f"{big} not written ({small} and {big} kept as they were)" in str(failed.value)
    assert (small.read_text(), big.read_text()) == ("old json", "old html")
    assert _listing(tmp_path) == ["r.html", "r.json"]
    write_texts_atomic({small: "new json", big: "new html"})
    assert (small.read_text(), big.read_text()) == ("new json", "new html")
