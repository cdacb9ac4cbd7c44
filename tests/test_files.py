"""Atomic writes: a crash or a full disk leaves the old file, never half of the new one."""

from __future__ import annotations

import pytest

from cxray import files


def test_write_atomically_leaves_no_temporary_file_and_keeps_the_mode(tmp_path):
    path = tmp_path / "cxray.toml"
    path.write_text("old")
    path.chmod(0o640)
    files.write_atomically(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cxray.toml"]


def test_write_atomically_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "cxray.toml"
    path.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        files.write_atomically(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cxray.toml"]
