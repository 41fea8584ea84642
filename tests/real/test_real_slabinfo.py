"""kmviz.real.slabinfo(): version 2.1 caches from the simulation, a 6.18 machine and 2.6.32."""

from pathlib import Path

import pytest

import kmviz.real
from kmviz import GFP_KERNEL, Kernel
from kmviz.real import THIS_MACHINE, ProcFormatError, slabinfo

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/slabinfo").exists()
HEADER = (DATA / "linux-6.18-vm" / "slabinfo").read_text().split("\n", 2)[:2]


def worked_kernel() -> Kernel:
    k = Kernel("512MiB", cpus=4, seed=5, memory_map="flat")
    inodes = k.kmem_cache_create("lesson_inode", 600)
    objects = [k.kmem_cache_alloc(inodes, GFP_KERNEL) for _ in range(100)]
    for obj in objects[::4]:
        k.kmem_cache_free(inodes, obj)
    buffers = [k.kmalloc(size, GFP_KERNEL) for size in range(8, 3000, 7)]
    for buf in buffers[::2]:
        k.kfree(buf)
    return k


def test_round_trip_gives_every_cache_of_the_engine():
    k = worked_kernel()
    parsed = slabinfo(k.cat("/proc/slabinfo"))
    assert [row.name for row in parsed] == [cache.name for cache in reversed(k.caches)]
    for cache in k.caches:
        row = parsed.cache(cache.name)
        assert (row.num_objs, row.objsize, row.objperslab, row.pagesperslab) == (
            cache.num_objs, cache.size, cache.objects, 1 << cache.order
        )  # fmt: skip
        assert (row.num_slabs, row.pages) == (len(cache.slabs), cache.pages)
        assert len(cache.requested) <= row.active_objs <= row.num_objs
    assert parsed.cache("lesson_inode").num_objs >= 75


def test_captured_6_18_machine_is_slub_shaped():
    path = DATA / "linux-6.18-vm" / "slabinfo"
    parsed = slabinfo(path)
    assert len(parsed) == len(path.read_text().splitlines()) - 2
    assert parsed.rows[0].name == "btrfs_delayed_node"
    for row in parsed:
        assert (row.limit, row.batchcount, row.sharedfactor, row.sharedavail) == (0, 0, 0, 0)
        assert row.active_slabs == row.num_slabs and row.active_objs <= row.num_objs
        assert row.objperslab * row.objsize <= row.pagesperslab * 4096


def test_a_name_longer_than_its_column_is_kept_whole():
    parsed = slabinfo(DATA / "linux-6.18-vm" / "slabinfo")
    row = parsed.cache("request_sock_subflow_v6")
    assert (row.objsize, row.objperslab, row.pagesperslab) == (392, 20, 2)


def test_2_6_32_sample_reads_its_byte_named_kmalloc_caches():
    parsed = slabinfo(DATA / "linux-2.6.32-sample" / "slabinfo")
    assert parsed.cache("kmalloc-1024").objsize == 1024
    assert parsed.cache("kmalloc_dma-512").pages == 2
    assert parsed.cache("task_struct").objperslab == 3


def test_another_version_is_refused_on_line_1():
    text = "slabinfo - version: 2.0\n" + HEADER[1] + "\n"
    with pytest.raises(ProcFormatError, match=r"line 1: slabinfo version '2.0'; kmviz reads 2.1"):
        slabinfo(text)


def test_slab_statistics_version_is_refused():
    with pytest.raises(ProcFormatError, match=r"version '2.1 \(statistics\)'"):
        slabinfo("slabinfo - version: 2.1 (statistics)\n" + HEADER[1] + "\n")


def test_a_missing_column_legend_names_line_2():
    with pytest.raises(ProcFormatError, match="line 2: expected the column legend"):
        slabinfo(HEADER[0] + "\nkmalloc-8 1 1 8 512 1 : tunables 0 0 0 : slabdata 1 1 0\n")


def test_a_garbage_cache_line_names_its_line():
    text = "\n".join(HEADER) + "\nkmalloc-8 1 1 8 512 1\n"
    with pytest.raises(ProcFormatError, match=r"line 3: not a slabinfo 2\.1 cache line"):
        slabinfo(text)


def test_root_only_file_says_so(monkeypatch):
    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(kmviz.real.Path, "read_text", refuse)
    with pytest.raises(PermissionError, match="/proc/slabinfo is readable by root only"):
        slabinfo(THIS_MACHINE)


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc/slabinfo")
def test_this_machine_is_read_live_or_refused_clearly():
    try:
        parsed = slabinfo(THIS_MACHINE)
    except PermissionError as error:
        assert "root" in str(error)
        return
    assert parsed.source == "/proc/slabinfo" and len(parsed) > 0
    assert any(row.name.startswith("kmalloc-") for row in parsed)
