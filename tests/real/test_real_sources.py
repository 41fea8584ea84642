"""What the readers accept (a path, the text, "this machine") and snapshot() of a machine."""

from pathlib import Path

import pytest

import kmviz.real
from kmviz.real import THIS_MACHINE, buddyinfo, meminfo, snapshot

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/buddyinfo").exists()


def test_a_path_a_str_path_and_the_text_read_the_same():
    path = DATA / "linux-6.18-vm" / "buddyinfo"
    rows = {buddyinfo(source).rows for source in (path, str(path), path.read_text())}
    assert len(rows) == 1
    assert buddyinfo(path.read_text()).source == "<buddyinfo text>"


def test_a_missing_file_lists_what_is_accepted(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pass a path, the text itself .* 'this machine'"):
        meminfo(tmp_path / "nope")


def test_anything_else_is_a_type_error():
    with pytest.raises(TypeError, match="buddyinfo\\(\\) takes a path"):
        buddyinfo(42)


def test_a_machine_without_proc_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(kmviz.real, "PROC", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"this machine has no .*buddyinfo"):
        buddyinfo(THIS_MACHINE)


def test_a_folder_snapshot_reads_every_file_and_counts_cpus():
    snap = snapshot(DATA / "linux-6.18-vm")
    assert snap.cpus == 2 and snap.notes == ()
    assert len(snap.slabinfo) > 100 and snap.vmallocinfo.hashed
    assert snap.zoneinfo.zone("DMA32").managed * 4 < snap.meminfo["MemTotal"]


def test_a_folder_without_cpuinfo_notes_the_unknown_cpu_count():
    snap = snapshot(DATA / "linux-2.6.32-sample")
    assert snap.cpus is None and "CPU count is unknown" in snap.notes[0]


def test_a_folder_without_buddyinfo_is_refused(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal: 1 kB\nMemFree: 1 kB\n")
    with pytest.raises(FileNotFoundError, match="has no buddyinfo"):
        snapshot(tmp_path)


def test_a_mapping_snapshot_takes_text_and_a_cpu_count():
    folder = DATA / "linux-2.6.32-sample"
    snap = snapshot({"buddyinfo": folder / "buddyinfo", "meminfo": folder / "meminfo", "cpus": 4})
    assert snap.cpus == 4 and snap.zoneinfo is None


def test_a_mapping_with_unknown_names_is_refused():
    with pytest.raises(ValueError, match="buddyinfo"):
        snapshot({"buddyinfo": "x\n", "meminfo": "y\n", "vmstat": "z\n"})


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc")
def test_this_machine_without_root_notes_the_root_only_files(monkeypatch):
    read_text = Path.read_text

    def as_a_user(path, *args, **kwargs):
        if path.name in ("slabinfo", "vmallocinfo", "pagetypeinfo"):
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(kmviz.real.Path, "read_text", as_a_user)
    snap = snapshot(THIS_MACHINE)
    assert (snap.slabinfo, snap.vmallocinfo, snap.pagetypeinfo) == (None, None, None)
    assert len(snap.notes) == 3 and all("root only" in note for note in snap.notes)
    assert snap.zoneinfo is not None and len(snap.buddyinfo) > 0
