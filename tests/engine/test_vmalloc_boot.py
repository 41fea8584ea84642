"""Kernel(boot_vmalloc=True): the vmalloc areas a booted 6.1 kernel holds, as the captures show."""

from collections import Counter
from itertools import pairwise

import pytest

from kmviz import Kernel
from kmviz.engine.invariants import check, check_slabs, check_vmap_areas
from kmviz.engine.pagetable import MODULES_VADDR, VMALLOC_END
from kmviz.real import vmallocinfo


@pytest.fixture(scope="module")
def booted():
    return Kernel("1GiB", cpus=2, boot_vmalloc=True, memory_map="flat")


def callers(k: Kernel) -> Counter:
    return Counter(
        row.caller.split("+")[0]
        for row in vmallocinfo(k.cat("/proc/vmallocinfo")).rows
        if row.kind == "area"
    )


def test_a_booted_machine_has_the_captured_kernels_areas(booted):
    assert callers(booted) == {
        "kernel_clone": 56, "irq_init_percpu_irqstack": 2, "fork_idle": 1,
        "acpi_os_map_iomem": 3, "hpet_enable": 1, "memremap": 1, "gen_pool_add_owner": 4,
        "bpf_prog_alloc_no_stats": 1, "bpf_prog_pack_alloc": 1, "pcpu_create_chunk": 4,
        "pcpu_get_vm_areas": 1, "crypto_scomp_init_tfm": 4, "n_tty_open": 1,
    }  # fmt: skip
    assert "VmallocUsed:        5628 kB" in booted.cat("/proc/meminfo")  # 1G-2cpu's figure


def test_per_cpu_areas_follow_the_cpu_count():
    k = Kernel("1GiB", cpus=4, boot_vmalloc=True, memory_map="flat")
    found = callers(k)
    assert (found["irq_init_percpu_irqstack"], found["fork_idle"]) == (4, 3)
    assert found["crypto_scomp_init_tfm"] == 8 and found["kernel_clone"] == 40 + 8 * 4
    # 4 CPUs share the 2 MiB chunk: 512 KiB units, md_blocks fits a page (kzalloc'ed)
    chunk = [row for row in vmallocinfo(k.cat("/proc/vmallocinfo")).rows
             if row.caller.startswith("pcpu_create_chunk")]  # fmt: skip
    assert sorted(row.pages for row in chunk) == [4, 5, 256]


def test_the_lines_read_as_6_1_prints_them(booted):
    text = booted.cat("/proc/vmallocinfo")
    assert " hpet_enable+0xef/0x46d phys=0x00000000fed00000 ioremap\n" in text
    assert " acpi_os_map_iomem+0x1b6/0x1d0 phys=0x000000003ffe0000 ioremap\n" in text
    assert "   20480 irq_init_percpu_irqstack+0xf0/0x120 vmap\n" in text
    assert " 2097152 pcpu_get_vm_areas+0x0/0x1080 vmalloc\n" in text
    assert text.count("unpurged vm_area") == 7  # exited threads and freed buffers


def test_stacks_are_16_kib_aligned_and_the_chunk_and_bpf_pack_sit_where_6_1_puts_them(booted):
    rows = vmallocinfo(booted.cat("/proc/vmallocinfo")).rows
    stacks = [r for r in rows if r.caller.startswith(("kernel_clone", "fork_idle"))]
    assert all(r.start % (16 << 10) == 0 and r.size == 20480 for r in stacks)
    (chunk,) = [r for r in rows if r.caller.startswith("pcpu_get_vm_areas")]
    assert chunk.end == (VMALLOC_END & ~((2 << 20) - 1))  # the top of vmalloc space
    (pack,) = [r for r in rows if r.caller.startswith("bpf_prog_pack_alloc")]
    assert pack.start == MODULES_VADDR


def test_an_ioremap_walks_to_the_device_and_cannot_be_vfreed():
    k = Kernel("256MiB", boot_vmalloc=True, memory_map="flat")
    (hpet,) = [a for a in k.vmap_areas.values() if a.caller.startswith("hpet_enable")]
    walk = k.walk(hpet.addr + 0x10)
    assert walk.phys == 0xFED00010 and "PCD" in str(walk.steps[-1])  # mapped uncached
    k.vfree(hpet.addr)
    assert "Trying to vfree() nonexistent vm area" in k.dmesg()
    assert k.vmap_areas[hpet.addr] is hpet


def test_boot_leaves_the_machine_consistent(booted):
    check(booted)
    check_slabs(booted)
    check_vmap_areas(booted)


def test_after_boot_a_vmalloc_gets_scattered_frames():
    k = Kernel("256MiB", boot_vmalloc=True, memory_map="flat")
    addr = k.vmalloc(16 * 4096)
    pfns = [k.vmalloc_to_page(addr + i * 4096).pfn for i in range(16)]
    pieces = 1 + sum(b != a + 1 for a, b in pairwise(pfns))
    assert pieces > 2  # a fresh kmviz machine without boot areas gives one piece


def test_a_machine_too_small_for_them_boots_and_says_so():
    k = Kernel("4MiB", boot_vmalloc=True, memory_map="flat")  # the areas want about 1,400 pages
    assert "boot-time vmalloc areas left out" in k.dmesg()
    assert k.free_pages_count() > sum(zone.managed_pages for zone in k.zones) // 8
    check_vmap_areas(k)
