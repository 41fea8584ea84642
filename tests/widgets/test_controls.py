"""Do the controls make the calls they name, keep what they hand out, and refuse bad input?"""

from kmviz import Kernel
from kmviz.engine import gfp
from kmviz.widgets.controls import Controls


def test_get_free_pages_allocates_the_order_and_holds_the_block():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    controls = Controls(k)
    controls.order.value = 3
    before = k.free_pages_count()
    controls.alloc_pages.click()
    assert k.free_pages_count() == before - 8
    assert controls.holding.options[0][0].endswith("order 3")
    assert "__get_free_pages(GFP_KERNEL, 3) = 0xffff888" in controls.result.value


def test_free_gives_the_selected_block_back_and_forgets_it():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    controls = Controls(k)
    before = k.free_pages_count()
    controls.size.value = "64KiB"
    controls.vmalloc.click()
    controls.size.value = "100"
    controls.kmalloc.click()
    controls.holding.value = 0
    controls.free.click()
    assert [label.split()[0] for label, _ in controls.holding.options] == ["kmalloc"]
    assert "vfree(0xffffc9" in controls.result.value
    assert k.free_pages_count() < before  # the kmalloc slab stays


def test_a_bad_size_is_reported_and_changes_nothing():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    controls = Controls(k)
    length = len(k.history)
    controls.size.value = "lots"
    controls.kmalloc.click()
    assert "cannot read 'lots' as a memory size" in controls.result.value.replace("&#x27;", "'")
    assert len(k.history) == length
    assert controls.holding.options == ()


def test_kmalloc_in_interrupt_context_with_gfp_kernel_prints_the_splat():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    controls = Controls(k)
    controls.irq.value = True
    controls.gfp.value = gfp.GFP_KERNEL
    controls.kmalloc.click()
    assert "BUG: sleeping function called from invalid context" in k.dmesg()
    assert k.last_violation is not None
    controls.irq.value = False
    assert k.in_task()


def test_the_lock_toggle_takes_and_releases_a_spinlock():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    controls = Controls(k)
    controls.lock.value = True
    assert k.in_atomic()
    controls.lock.value = False
    assert not k.in_atomic()


def test_a_call_makes_the_views_follow_the_kernel_again():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    controls = Controls(k)
    controls.timeline.follow = False
    controls.timeline.seek(3)
    controls.alloc_pages.click()
    assert controls.timeline.position == controls.timeline.length


def test_a_failed_allocation_reports_null_and_holds_nothing():
    k = Kernel(
        "4MiB", seed=1, memory_map="flat"
    )  # the first MiB is reserved: no free order-10 (4 MiB) block
    controls = Controls(k)
    controls.gfp.value = gfp.GFP_ATOMIC
    controls.order.value = 10
    controls.alloc_pages.click()
    assert "= NULL (0)" in controls.result.value
    assert controls.holding.options == ()
