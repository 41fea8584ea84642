"""/proc/buddyinfo and /proc/pagetypeinfo, byte for byte."""

import pytest

from kmviz import GFP_KERNEL, Kernel


def test_buddyinfo_of_a_256mib_machine_is_exact():
    # DMA frees [0x100, 0x1000) in aligned blocks (6.1 keeps the whole first 1 MiB):
    # 256 (o8), 512 (o9), 1024, 2048, 3072 (o10) -- the classic "1 1 3" of a real VM.
    # DMA32 frees from the kernel image's end, 0x1000 + 7584 = 11680:
    # 11680 (o5), 11712 (o6), 11776 (o9) and 52 order-10 blocks.
    assert Kernel(mem="256MiB", memory_map="flat").cat("/proc/buddyinfo") == (
        "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1"
        "      1      3 \n"
        "Node 0, zone    DMA32      0      0      0      0      0      1      1      0      0"
        "      1     52 \n"
    )


def test_pagetypeinfo_header_and_first_row_are_exact():
    text = Kernel(mem="256MiB", memory_map="flat").cat("/proc/pagetypeinfo")
    lines = text.split("\n")
    assert lines[:3] == ["Page block order: 9", "Pages per block:  512", ""]
    assert lines[3] == (
        "Free pages count per migrate type at order       0      1      2      3      4"
        "      5      6      7      8      9     10 "
    )
    # pageblock 0 starts at pfn 0, which is no RAM, so memmap_init left it Unmovable:
    # its order-8 block at pfn 256 sits on the Unmovable list
    assert lines[4] == (
        "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0"
        "      0      0      0      1      0      0 "
    )


def test_pagetypeinfo_counts_pageblocks_per_type():
    text = Kernel(mem="256MiB", memory_map="flat").cat("/proc/pagetypeinfo")
    tail = text.split("\n")[-4:]
    # no CONFIG_CMA, as Debian's 6.1: no CMA column
    assert tail[0].split() == ["Number", "of", "blocks", "type", "Unmovable", "Movable",
                               "Reclaimable", "HighAtomic", "Isolate"]  # fmt: skip
    assert tail[1] == f"Node 0, zone      DMA{1:13d}{7:13d}{0:13d}{0:13d}{0:13d} "
    assert tail[3] == ""


def test_pagetypeinfo_has_a_cma_row_and_column_only_with_a_cma_area():
    text = Kernel(mem="256MiB", cma="16MiB", memory_map="flat").cat("/proc/pagetypeinfo")
    tail = text.split("\n")[-4:]
    assert tail[0].split()[4:] == ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA",
                                   "Isolate"]  # fmt: skip
    assert tail[2].split()[-2:] == ["8", "0"]  # DMA32: 8 CMA pageblocks, 16 MiB
    assert "DMA32, type          CMA" + "      0" * 10 + "      4 " in text  # 4 x 4 MiB free
    assert "type          CMA" not in Kernel(mem="256MiB", memory_map="flat").cat(
        "/proc/pagetypeinfo"
    )


def test_buddyinfo_follows_allocations():
    k = Kernel(mem="16MiB", boot_reserved=False, zone_dma32=False, memory_map="flat")
    k.alloc_pages(GFP_KERNEL, 9)
    assert k.cat("/proc/buddyinfo").split()[4:] == ["0"] * 9 + ["1", "3"]


def test_unknown_paths_raise_file_not_found():
    with pytest.raises(FileNotFoundError, match="/proc/vmstat"):
        Kernel(memory_map="flat").cat("/proc/vmstat")


def test_zoneinfo_and_the_extfrag_files_are_there():
    k = Kernel(mem="256MiB", memory_map="flat")
    assert k.cat("/proc/zoneinfo").startswith("Node 0, zone      DMA")
    assert k.cat("/sys/kernel/debug/extfrag/unusable_index").startswith("Node 0, zone      DMA ")
    assert "-1.000" in k.cat("/sys/kernel/debug/extfrag/extfrag_index")
