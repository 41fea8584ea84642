"""Early boot: memblock before the buddy allocator, the bootmem names, and the hand-over."""

import pytest

from kmviz import GFP_KERNEL, PAGE_OFFSET, Kernel, KernelPanic
from kmviz.engine.events import BootStageReached, MemblockAllocated
from kmviz.engine.invariants import check


def test_an_early_machine_has_no_free_lists_yet():
    k = Kernel(mem="256MiB", boot=False, memory_map="flat")
    assert k.boot_stage == "early"
    assert k.free_pages_count() == 0
    assert k.kmalloc(64, GFP_KERNEL) == 0  # no kmalloc caches before kmem_cache_init()
    assert k.vmalloc(4096) == 0
    assert "vmalloc error: size 4096, vm_struct allocation failed" in k.dmesg()


def test_early_boot_makes_64mib_contiguous_trivial_and_top_down():
    k = Kernel(mem="256MiB", boot=False, memory_map="flat")
    addr = k.memblock_alloc(64 << 20, 4096)
    phys = addr - PAGE_OFFSET
    assert phys == (256 << 20) - (64 << 20)  # the highest fit: memblock allocates top-down
    (event,) = [e for e in k.history if isinstance(e, MemblockAllocated)]
    assert (event.phys, event.size) == (phys, 64 << 20)
    k.boot()
    first = phys >> 12
    assert k.block_at(first) == (first, 0, "reserved")  # it never reaches the buddy allocator
    check(k)


def test_boot_after_no_early_allocations_equals_a_fresh_boot():
    early = Kernel(mem="256MiB", boot=False, memory_map="flat")
    early.boot()
    assert early.cat("/proc/buddyinfo") == Kernel(mem="256MiB", memory_map="flat").cat(
        "/proc/buddyinfo"
    )
    stages = [e.stage for e in early.history if isinstance(e, BootStageReached)]
    assert stages == ["early", "mem_init", "running"]


def test_the_bootmem_names_map_onto_memblock():
    k = Kernel(mem="256MiB", boot=False, memory_map="flat")
    addr = k.alloc_bootmem_pages(3 * 4096)
    assert (addr - PAGE_OFFSET) % 4096 == 0
    low = k.alloc_bootmem_low(100) - PAGE_OFFSET
    assert low < 1 << 32
    assert [e.caller for e in k.history if isinstance(e, MemblockAllocated)] == [
        "alloc_bootmem",
        "alloc_bootmem",
    ]


def test_a_memblock_request_that_cannot_be_met_returns_null_but_bootmem_panics():
    k = Kernel(mem="64MiB", boot=False, memory_map="flat")
    assert k.memblock_alloc(1 << 30) == 0  # 6.1: NULL, the caller decides
    with pytest.raises(KernelPanic, match="Out of memory"):
        k.alloc_bootmem(1 << 30)  # 2.6.32: "bootmem alloc of %lu bytes failed!" and panic
    assert "bootmem alloc of 1073741824 bytes failed!" in k.dmesg()


def test_memblock_after_slab_is_up_warns_and_falls_back_to_kzalloc():
    k = Kernel(mem="256MiB", memory_map="flat")
    addr = k.memblock_alloc(200)
    assert "WARNING: CPU: 0 PID: 1234 at mm/memblock.c:1505" in k.dmesg()
    assert k.ksize(addr) == 256  # a kmalloc-256 object


def test_mem_init_runs_once():
    k = Kernel(mem="64MiB", memory_map="flat")
    with pytest.raises(RuntimeError, match="runs once"):
        k.mem_init()


def test_page_allocations_during_boot_cannot_reclaim_or_kill():
    k = Kernel(mem="64MiB", boot=False, memory_map="flat")
    assert k.alloc_pages(GFP_KERNEL, 0) is None  # no free lists yet, and no OOM killer
    assert [t.comm for t in k.tasks] == ["systemd", "insmod"]
    k.mem_init()
    assert k.alloc_pages(GFP_KERNEL, 0) is not None


def test_memblock_regions_list_like_the_debugfs_files():
    k = Kernel(mem="256MiB", boot=False, memory_map="flat")
    assert (
        k.memblock_text("memory").splitlines()[0] == "   0: 0x0000000000001000..0x000000000009efff"
    )
    k.memblock_alloc(4096, 4096)
    assert "0x000000000ffff000..0x000000000fffffff" in k.memblock_text("reserved")
