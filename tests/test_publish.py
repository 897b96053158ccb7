"""An output folder is replaced whole: every old file or every new one, after errors and kills."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dso.publish import recover_replaced, remove_stale_temps, replace_folder, temp_folder


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _contents(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in path.iterdir()}


def test_the_new_folder_replaces_the_old_one_whole(tmp_path):
    out = _folder(tmp_path / "out", {"a": "old", "b": "old"})
    replace_folder(_folder(tmp_path / "new", {"a": "new", "c": "new"}), out)
    assert _contents(out) == {"a": "new", "c": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    replace_folder(_folder(tmp_path / "first", {"a": "1"}), tmp_path / "fresh")
    assert _contents(tmp_path / "fresh") == {"a": "1"}


def test_a_symlinked_folder_is_replaced_where_it_points(tmp_path):
    (tmp_path / "big").mkdir()
    real = _folder(tmp_path / "big" / "weights", {"a": "old"})
    (tmp_path / "out").symlink_to(real)
    tmp, _ = temp_folder(tmp_path / "out")
    assert tmp.parent == tmp_path / "big"  # on the link target's disk, so the rename works
    (tmp / "a").write_text("new")
    replace_folder(tmp, tmp_path / "out")
    assert (tmp_path / "out").is_symlink() and _contents(tmp_path / "out") == {"a": "new"}
    assert [p.name for p in (tmp_path / "big").iterdir()] == ["weights"]


def test_an_error_between_the_renames_puts_the_old_folder_back(tmp_path, monkeypatch):
    out = _folder(tmp_path / "out", {"a": "old"})
    new = _folder(tmp_path / "new", {"a": "new"})
    real_rename, calls = Path.rename, []

    def interrupted_second_rename(self, target):
        calls.append(self.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted_second_rename)
    with pytest.raises(KeyboardInterrupt):
        replace_folder(new, out)
    monkeypatch.undo()
    assert calls[:2] == ["out", "new"]
    assert _contents(out) == {"a": "old"} and _contents(new) == {"a": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out"]


def test_what_a_kill_between_the_renames_leaves_is_recovered(tmp_path):
    dead = _dead_pid()
    aside = _folder(tmp_path / f".out.old-{dead}-k1ll", {"a": "old"})
    assert recover_replaced(tmp_path / "out") == [aside]  # nothing took its place: put back
    assert _contents(tmp_path / "out") == {"a": "old"}
    aside = _folder(tmp_path / f".out.old-{dead}-k1ll", {"a": "older"})
    live = _folder(tmp_path / f".out.old-{os.getpid()}-live", {"a": "mine"})
    replace_folder(_folder(tmp_path / "new", {"a": "new"}), tmp_path / "out")
    assert _contents(tmp_path / "out") == {"a": "new"}
    assert not aside.exists() and live.is_dir()  # a live process's folder is left alone


KILLED_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dso.publish import replace_folder, temp_folder
    out = Path(sys.argv[1])
    for version in range(100000):
        tmp, _ = temp_folder(out)
        for name in "abcdefgh":
            (tmp / name).write_text(str(version))
        replace_folder(tmp, out)
        if version == 0:
            print("ready", flush=True)
""")


@pytest.mark.parametrize("delay_s", [0.05, 0.13, 0.31])
def test_a_writer_killed_at_any_moment_leaves_one_version_whole(tmp_path, delay_s):
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.wait()
    tmp, removed = temp_folder(out)  # what the next writer does first
    recover_replaced(out)
    versions = set(_contents(out).values())
    assert len(versions) == 1 and len(_contents(out)) == 8
    assert int(versions.pop()) >= 1
    tmp.rmdir()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing of the killed run left
    assert all(p.name.startswith(".out.tmp-") for p in removed)


def test_stale_temporary_folders_are_removed_and_live_ones_kept(tmp_path):
    dead, day = _dead_pid(), 86400
    out = tmp_path / "out"
    stale = [_folder(tmp_path / f".out.tmp-{dead}-k1ll", {}),
             _folder(tmp_path / ".out.tmp-ab12cd34", {}),
             _folder(tmp_path / ".out.x_9kq2zw.partial", {})]  # an older pretrain's staging
    old = time.time() - 2 * day
    for path in stale[1:]:  # older dso versions' pid-less folders, two days untouched
        os.utime(path, (old, old))
    kept = [_folder(tmp_path / f".out.tmp-{os.getpid()}-live", {}),
            _folder(tmp_path / ".out.tmp-ef56gh78", {}),  # pid-less but recent: maybe running
            _folder(tmp_path / ".out.ab12cd34.partial", {}),  # the same
            _folder(tmp_path / f".other.tmp-{dead}-abcd", {})]
    assert remove_stale_temps(out) == sorted(stale)
    assert all(p.is_dir() for p in kept) and not any(p.exists() for p in stale)


def test_a_temporary_folder_gets_the_umasks_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        tmp, _ = temp_folder(tmp_path / "deep" / "out")
    finally:
        os.umask(previous)
    assert tmp.parent == tmp_path / "deep" and tmp.stat().st_mode & 0o777 == 0o755
