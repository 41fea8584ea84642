"""Kernel(config=...): the debug kernel the lessons use, and Debian's stock one that stays quiet."""

import pytest

from kmviz import __GFP_DMA, __GFP_DMA32, GFP_KERNEL, Kernel
from kmviz.engine.constants import KERNEL_CONFIGS
from kmviz.engine.events import BadPageReported, ContextViolated
from kmviz.engine.invariants import check


def new_lines(k, action):
    """The log lines ``action`` adds, without timestamps."""
    before = len(k.dmesg().splitlines())
    action()
    return [line.split("] ", 1)[1] for line in k.dmesg().splitlines()[before:]]


def double_free(k):
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    k.free_pages(addr, 0)
    return addr


@pytest.mark.parametrize(("config", "error"), [("stock", ValueError), (1, TypeError)])
def test_an_unknown_config_is_refused_with_the_choices(config, error):
    with pytest.raises(error, match="config must be one of 'debug', 'debian'"):
        Kernel(mem="16MiB", config=config, memory_map="flat")


def test_the_debug_config_is_debians_plus_three_debug_options():
    debug, debian = dict(KERNEL_CONFIGS["debug"]), dict(KERNEL_CONFIGS["debian"])
    assert {name for name in debug if debug[name] != debian[name]} == {
        "CONFIG_DEBUG_ATOMIC_SLEEP",
        "CONFIG_DEBUG_PREEMPT",
        "CONFIG_DEBUG_VM",
    }


@pytest.mark.parametrize(("config", "value"), [("debug", "y"), ("debian", "n")])
def test_the_boot_log_says_which_configuration_runs(config, value):
    first = Kernel(mem="16MiB", config=config, memory_map="flat").dmesg().splitlines()[0]
    assert first.endswith(f"config: {config} (CONFIG_DEBUG_ATOMIC_SLEEP={value} "
                          f"CONFIG_DEBUG_PREEMPT={value} CONFIG_DEBUG_VM={value})")  # fmt: skip
    assert "] Linux version 6.1.192-kmviz (kmviz) #1 SMP PREEMPT_DYNAMIC" in first


def test_the_debug_kernel_reports_sleeping_in_atomic_context_and_names_the_option():
    k = Kernel(mem="16MiB", memory_map="flat")
    with k.spin_lock("lock"):
        lines = new_lines(k, lambda: k.kmalloc(64, GFP_KERNEL))
    assert lines[0].startswith("BUG: sleeping function called from invalid context")
    assert lines[-1].startswith("kmviz: CONFIG_DEBUG_ATOMIC_SLEEP=y printed this")


def test_debian_says_nothing_about_sleeping_in_atomic_context():
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    with k.spin_lock("lock"):
        assert new_lines(k, lambda: k.kmalloc(64, GFP_KERNEL)) == []
    assert not any(isinstance(event, ContextViolated) for event in k.history)


def test_debian_says_nothing_about_a_preempt_count_underflow():
    debug, debian = (
        Kernel(mem="16MiB", memory_map="flat"),
        Kernel(mem="16MiB", config="debian", memory_map="flat"),
    )
    assert any("DEBUG_LOCKS_WARN_ON" in line for line in new_lines(debug, debug.preempt_enable))
    assert new_lines(debian, debian.preempt_enable) == []


def test_the_debug_kernel_stops_a_double_free_at_the_refcount_check():
    k = Kernel(mem="16MiB", memory_map="flat")
    lines = new_lines(k, lambda: double_free(k))
    assert "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)" in lines
    assert "kernel BUG at include/linux/mm.h:780!" in lines
    assert lines[-1].startswith("kmviz: CONFIG_DEBUG_VM=y printed this")


def test_debian_lets_an_order0_double_free_take_the_refcount_to_minus_one_silently():
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    free_before = k.free_pages_count()
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)  # onto CPU 0's per-CPU list
    assert new_lines(k, lambda: k.free_pages(addr, 0)) == []
    assert k.free_pages_count() + k.pcp_pages_count() == free_before  # freed once, not twice
    assert k.refcount_underflow == {k.virt_to_page(addr).pfn}
    check(k)


def test_debian_hands_a_double_freed_page_out_again_from_the_per_cpu_list_unchecked():
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    addr = double_free(k)
    # check_new_pcp() checks nothing without CONFIG_DEBUG_VM: the page at refcount -1 is
    # popped off the list head and handed out; prep_new_page() sets its count to 1
    assert new_lines(k, lambda: k.get_free_pages(GFP_KERNEL, 0) == addr) == []
    assert not k.refcount_underflow
    check(k)


def test_debian_reports_a_double_freed_page_when_a_drain_takes_it_off_its_pcp_list():
    # bulkfree_pcp_prepare() (mm/page_alloc.c L1563): without CONFIG_DEBUG_VM a page leaving
    # a pcp list is checked; free_pcppages_bulk() reports it and leaves it out of the buddy
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    addr = double_free(k)  # the page sits on this CPU's pcp list at refcount -1
    pfn = k.virt_to_page(addr).pfn
    lines = new_lines(k, k.drain_all_pages)
    assert lines[0] == f"BUG: Bad page state in process insmod  pfn:{pfn:05x}"
    assert lines[1].startswith("page:") and " refcount:-1 mapcount:0 " in lines[1]
    assert "page dumped because: nonzero _refcount" in lines
    assert " free_pcppages_bulk+" in "\n".join(lines)
    assert not k.refcount_underflow
    assert k.buddy.state[pfn] != 0  # not free: leaked
    assert new_lines(k, lambda: k.get_free_pages(GFP_KERNEL, 0)) == []  # nothing left to find
    check(k)


def test_debian_reports_a_page_freed_twice_from_the_buddy_when_a_refill_takes_it():
    # check_pcp_refill() (L2461): the second free found the page in the buddy already (a
    # drain between the frees), so the refill that takes it is the first to look
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    k.drain_all_pages()  # back to the buddy, refcount 0
    k.free_pages(addr, 0)  # 0 -> -1, silently
    got = []
    lines = new_lines(k, lambda: got.append(k.get_free_pages(GFP_KERNEL, 0)))
    pfn = k.virt_to_page(addr).pfn
    assert lines[0] == f"BUG: Bad page state in process insmod  pfn:{pfn:05x}"
    assert "page dumped because: nonzero _refcount" in lines
    assert " check_new_pages+" in "\n".join(lines)
    assert got[0] != addr  # check_new_pages() failed: the allocator took another page
    assert not k.refcount_underflow
    assert k.buddy.state[pfn] != 0  # the bad page is not free again: leaked
    check(k)


@pytest.mark.parametrize("config", ["debug", "debian"])
def test_a_double_free_after_reuse_frees_the_new_owners_page_in_every_config(config):
    k = Kernel(mem="16MiB", config=config, memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 0)
    k.free_pages(addr, 0)
    reused = k.get_free_pages(GFP_KERNEL, 0)  # someone else gets the page
    assert reused == addr
    free_before = k.free_pages_count() + k.pcp_pages_count()
    assert new_lines(k, lambda: k.free_pages(addr, 0)) == []  # the buggy second free
    # the new owner's page is free now (on the per-CPU list)
    assert k.free_pages_count() + k.pcp_pages_count() == free_before + 1


def test_debian_refuses_an_order1_double_free_in_kmviz_words():
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    addr = k.get_free_pages(GFP_KERNEL, 1)
    k.free_pages(addr, 1)
    free_before = k.free_pages_count()
    lines = new_lines(k, lambda: k.free_pages(addr, 1))
    assert any("upper halves a second time; nothing was freed" in line for line in lines)
    assert k.free_pages_count() == free_before
    assert any(isinstance(event, BadPageReported) for event in k.history)


def test_debian_refuses_free_pages_of_an_address_outside_the_direct_map_without_a_bug():
    k = Kernel(mem="16MiB", config="debian", memory_map="flat")
    lines = new_lines(k, lambda: k.free_pages(0xFFFFC90000000000, 0))
    assert not any(line.startswith("kernel BUG") for line in lines)
    assert any("not a direct-map address; without CONFIG_DEBUG_VM" in line for line in lines)


def test_debian_serves_a_contradictory_zone_mask_from_the_lowest_zone():
    debug, debian = (
        Kernel(mem="64MiB", memory_map="flat"),
        Kernel(mem="64MiB", config="debian", memory_map="flat"),
    )
    mask = GFP_KERNEL | __GFP_DMA | __GFP_DMA32
    assert debug.alloc_pages(mask, 0) is None  # VM_BUG_ON in gfp_zone()
    assert debian.alloc_pages(mask, 0).zone == "DMA"  # GFP_ZONE_TABLE's entry is 0


@pytest.mark.parametrize("config", ["debug", "debian"])
def test_the_order_11_warning_prints_in_every_config(config):
    k = Kernel(mem="16MiB", config=config, memory_map="flat")
    lines = new_lines(k, lambda: k.alloc_pages(GFP_KERNEL, 11))
    assert any(
        line.startswith("WARNING: CPU: 0 PID: 1234 at mm/page_alloc.c:5634") for line in lines
    )
