"""VmallocView: virtual pages linked to scattered frames, the direct map, the walk, the device."""

import numpy as np
import pytest
from traitlets import TraitError

from kmviz import GFP_KERNEL, PAGE_OFFSET, PAGE_SHIFT, Kernel
from kmviz.widgets.timeline import VMALLOC, Timeline
from kmviz.widgets.vmalloc import VmallocView, runs


def scattered(mem="64MiB", pages=8):
    """A kernel whose free order-0 pages are every other frame, then a vmalloc of ``pages``."""
    k = Kernel(mem, seed=1, memory_map="flat")
    held = [k.alloc_pages(GFP_KERNEL, 0) for _ in range(4 * pages)]
    for page in held[::2]:
        k.__free_pages(page, 0)
    return k, k.vmalloc(pages << PAGE_SHIFT)


def link_ends(figure):
    """The (virtual page index, pfn) each drawn link joins, read back from the synced marks."""
    x = figure.links.x
    pages = x[:, 0] * figure.virtual_scale.max - 0.5
    lo, hi = figure.physical_scale.min, figure.physical_scale.max
    pfns = x[:, 1] * (hi - lo) + lo - 0.5
    return np.rint(pages).astype(int), np.rint(pfns).astype(int)


def synced(view):
    """Everything the view sends that a learner sees, for comparing two views."""
    parts = [view.caption, view.direct_caption, view.walk, view.device, view.message]
    marks = []
    for figure in (view.area_figure, view.direct_figure):
        marks += [
            figure.links.x.tolist(),
            figure.links.y.tolist(),
            figure.frames.color.tolist(),
            list(figure.labels.text),
            figure.physical_scale.min,
            figure.physical_scale.max,
        ]
    return [p.value for p in parts], marks, view.area_menu.options, view.area_menu.value


def test_vmalloc_links_go_to_scattered_frames():
    k, addr = scattered()
    view = VmallocView(k)
    area = view.timeline.areas[addr]
    pages, pfns = link_ends(view.area_figure)
    assert pages.tolist() == list(range(8))
    assert pfns.tolist() == list(area.pfns)
    assert len(runs(area.pfns)) > 1  # really scattered
    assert view.area_figure.frames.color.tolist() == [VMALLOC] * 8
    assert "physically <b>8</b> pieces" in view.caption.value
    assert view.area_figure.labels.text[0] == f"{addr:#x} … {addr + 8 * 4096 - 1:#x}"


def test_direct_map_links_are_parallel():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    buf = k.kmalloc(16384, GFP_KERNEL)
    view = VmallocView(k)
    pages, pfns = link_ends(view.direct_figure)
    first = (buf - PAGE_OFFSET) >> PAGE_SHIFT
    assert pfns.tolist() == [first + i for i in pages]
    x = view.direct_figure.links.x
    assert np.allclose(x[:, 0], x[:, 1])  # vertical: one pfn per page on both axes
    assert f"{buf:#x}" in view.direct_caption.value


def test_direct_map_shows_the_block_of_a_walked_direct_map_address():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    old = k.__get_free_pages(GFP_KERNEL, 3)
    k.kmalloc(16384, GFP_KERNEL)  # newer, shown by default
    view = VmallocView(k)
    assert link_ends(view.direct_figure)[1].tolist() != list(range(8))
    view.address = old + 5 * 4096
    first = (old - PAGE_OFFSET) >> PAGE_SHIFT
    assert link_ends(view.direct_figure)[1].tolist() == list(range(first, first + 8))
    assert "order 3" in view.direct_caption.value


def test_newest_area_is_the_default_and_a_chosen_one_stays():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    first = k.vmalloc(2 * 4096)
    second = k.vmalloc(3 * 4096)
    view = VmallocView(k)
    assert view.area_menu.value == 0
    assert view.area_figure.virtual_scale.max == 3
    view.area_menu.value = first
    assert view.area == first
    k.vmalloc(4 * 4096)
    assert view.area_figure.virtual_scale.max == 2
    assert (f"{second:#x} (3 pages)", second) in view.area_menu.options


def test_a_chosen_area_that_goes_is_said_to_be_gone():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    addr = k.vmalloc(2 * 4096)
    view = VmallocView(k, area=addr)
    k.vfree(addr)
    assert f"No area is mapped at {addr:#x}" in view.caption.value
    assert len(view.area_figure.links.x) == 0
    assert view.area_menu.value == addr  # the choice is kept, not silently replaced


def test_big_areas_cap_the_links_and_say_so():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    k.vmalloc(1024 * 4096)
    view = VmallocView(k, max_links=100)
    pages, _ = link_ends(view.area_figure)
    assert len(pages) == 100
    assert pages[0] == 0 and pages[-1] == 1023
    assert "Showing 100 of 1024 links" in view.caption.value


def test_all_ram_axis_spans_every_frame():
    k, _ = scattered()
    view = VmallocView(k, physical="all")
    assert (view.area_figure.physical_scale.min, view.area_figure.physical_scale.max) == (
        0,
        k.nr_pfns,
    )
    view.physical_menu.value = "span"
    assert view.physical == "span"
    assert view.area_figure.physical_scale.max < k.nr_pfns


def test_all_ram_leaves_the_direct_map_on_its_own_span_so_its_links_stay_parallel():
    k, _ = scattered()
    buf = k.kmalloc(16384, GFP_KERNEL)  # four frames: pfn .. pfn + 3
    view = VmallocView(k, physical="all")
    pfn = k.virt_to_page(buf).pfn
    figure = view.direct_figure
    assert (figure.physical_scale.min, figure.physical_scale.max) == (pfn, pfn + 4)
    pages, frames = link_ends(figure)
    assert list(frames) == [pfn + i for i in pages]  # page i over frame pfn + i


def test_walk_at_the_newest_position_reads_the_kernel_tables_and_changes_nothing():
    k, addr = scattered()
    before, log = len(k.history), k.dmesg()
    view = VmallocView(k, address=addr + 3 * 4096 + 0x12)
    assert len(k.history) == before and k.dmesg() == log
    walk = k.walk(addr + 3 * 4096 + 0x12)
    assert "read from the kernel's page tables now" in view.walk.value
    assert f"<b>{walk.phys:#x}</b>" in view.walk.value
    assert "pgd_index = (0xffffc90000003012 &gt;&gt; 39) &amp; 511 = 402" in view.walk.value
    assert "P4D" in view.walk.value


def test_walk_never_builds_page_tables_a_fresh_kernel_lacks():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    before = len(k.history)
    view = VmallocView(k, address=PAGE_OFFSET + 0x5000)
    assert len(k.history) == before
    assert "derived from the timeline" in view.walk.value
    assert "frame pfn <b>0x5</b>" in view.walk.value


def test_walk_at_an_earlier_position_is_derived_and_agrees_with_the_kernel():
    k, addr = scattered()
    k.kmalloc(64, GFP_KERNEL)
    truth = k.walk(addr + 5 * 4096)
    view = VmallocView(k, address=addr + 5 * 4096)
    view.timeline.seek(view.timeline.position - 1)
    assert "derived from the timeline" in view.walk.value
    assert f"frame pfn <b>{truth.pfn:#x}</b>" in view.walk.value


def test_a_walk_read_from_the_tables_turns_derived_once_the_kernel_moves_on():
    k, _ = scattered()
    view = VmallocView(k)
    assert "read from the kernel's page tables now" in view.walk.value
    view.timeline.follow = False
    k.kmalloc(64, GFP_KERNEL)
    assert "derived from the timeline" in view.walk.value
    fresh_timeline = Timeline(k)
    fresh_timeline.seek(view.timeline.position)
    assert VmallocView(fresh_timeline).walk.value == view.walk.value


def test_a_non_hex_address_gives_a_message_and_changes_nothing():
    k, addr = scattered()
    view = VmallocView(k)
    walk = view.walk.value
    view.address_input.value = "0xzz12"
    assert "'0xzz12' is not a hex address" in view.message.value
    assert view.address is None and view.walk.value == walk
    view.address_input.value = f"{addr:X}"
    assert view.message.value == "" and view.address == addr


def test_a_non_canonical_address_is_not_walked():
    k, _ = scattered()
    log = k.dmesg()
    view = VmallocView(k, address=0x0000800000000000)
    assert "not canonical" in view.walk.value
    assert k.dmesg() == log  # no general protection fault was printed


def test_bad_options_are_refused():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    with pytest.raises(TraitError, match="span"):
        VmallocView(k, physical="zoomed")
    with pytest.raises(TraitError, match="not a vmalloc address"):
        VmallocView(k, area=PAGE_OFFSET)
    with pytest.raises(TraitError, match="at least 2"):
        VmallocView(k, max_links=1)


def test_the_device_is_refused_the_vmalloc_buffer_and_shown_its_pieces():
    k, addr = scattered()
    view = VmallocView(k)
    pieces = runs(view.timeline.areas[addr].pfns)
    assert "DMA_MAPPING_ERROR" in view.device.value
    assert f"{len(pieces)} physical pieces" in view.device.value
    assert f"bus {pieces[0][0] << PAGE_SHIFT:#x} + 1 page" in view.device.value
    assert "are not this buffer's" in view.device.value


def test_dma_events_come_from_the_timeline_at_its_position():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    buf = k.kmalloc(16384, GFP_KERNEL)
    view = VmallocView(k)
    before = view.timeline.position
    dev = k.device("nic")
    bus = dev.dma_map_single(buf, 16384)
    dev.write(bus, 8192)
    assert f"dma_map_single({buf:#x}, 16384) → bus {bus:#x}" in view.device.value
    assert "nic wrote 8192 bytes" in view.device.value
    view.timeline.seek(before)
    assert "No device has mapped or written memory yet" in view.device.value


def test_a_refused_vmalloc_mapping_is_listed():
    k, addr = scattered()
    view = VmallocView(k)
    k.device("nic").dma_map_single(addr, 4096)
    assert "refused a device's mapping of vmalloc memory" in view.device.value


def test_stepping_back_and_forth_matches_a_fresh_view():
    k, addr = scattered()
    k.kmalloc(16384, GFP_KERNEL)
    k.vmalloc(3 * 4096)
    k.vfree(addr)
    old = VmallocView(k)
    end = old.timeline.length
    for position in (end - 40, end - 3, end, 5, end - 12):
        old.timeline.seek(position)
        fresh_timeline = Timeline(k)
        fresh_timeline.seek(position)
        assert synced(VmallocView(fresh_timeline)) == synced(old), position


def test_sixteen_gib_machine_caps_a_four_mib_area_and_steps_back():
    k = Kernel("16GiB", seed=1, memory_map="flat")
    addr = k.vmalloc(4 << 20)
    view = VmallocView(k)
    assert view.area is None and view.shown_area().addr == addr
    assert len(view.area_figure.links.x) == 256
    assert "Showing 256 of 1024 links" in view.caption.value
    view.timeline.step(-1)  # before VmallocMapped: only the area of its page array is mapped
    array_area = view.shown_area()
    assert array_area.addr == addr + (4 << 20) + 4096
    assert len(view.area_figure.links.x) == len(array_area.pfns)
    assert "derived from the timeline" in view.walk.value


def test_the_first_page_bug_counts_only_other_owners_frames_as_overwritten():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    pages = [k.get_free_pages(GFP_KERNEL, 0) for _ in range(8)]
    for addr in pages[::2]:  # every other frame goes back: vmalloc reuses them, LIFO
        k.free_pages(addr, 0)
    area = k.vmalloc(4 << 12)
    view = VmallocView(k)
    pfns = view.timeline.areas[area].pfns
    straight = range(pfns[0], pfns[0] + len(pfns))
    foreign = [pfn for pfn in straight if pfn not in pfns]
    misplaced = [p for i, p in enumerate(straight) if p in pfns and pfns[i] != p]
    assert foreign  # the frames in between are still held by the page allocator
    text = view.device.value
    assert f"{len(foreign)} of those {len(pfns)} frames are not this buffer's" in text
    assert "page allocator" in text
    assert (f"{len(misplaced)} are the buffer's own frames" in text) == bool(misplaced)


def test_a_small_buffer_gets_a_tick_at_every_page_and_frame():
    k = Kernel("64MiB", seed=1, memory_map="flat")
    k.kmalloc(16 << 10, GFP_KERNEL)  # 4 pages in the direct map
    view = VmallocView(k)
    figure = view.direct_figure
    assert list(figure.virtual_axis.tick_values) == [0, 1, 2, 3, 4]
    lo, hi = figure.physical_scale.min, figure.physical_scale.max
    assert list(figure.physical_axis.tick_values) == list(range(int(lo), int(hi) + 1))


def test_a_device_write_beyond_ram_is_listed_with_no_frame_hit():
    k = Kernel(mem="16MiB", memory_map="flat")
    view = VmallocView(k)
    k.device("nic").write(1 << 40, 4096)
    assert "beyond this machine's RAM" in view._dma_events_html()


def test_a_booted_machines_ioremap_and_percpu_areas_say_what_they_map():
    k = Kernel("256MiB", boot_vmalloc=True, memory_map="flat")
    hpet = next(a.addr for a in k.vmap_areas.values() if a.caller.startswith("hpet_enable"))
    chunk = next(a.addr for a in k.vmap_areas.values() if a.kind == "percpu")
    view = VmallocView(k, area=hpet)
    assert "ioremap() area: device or firmware memory" in view.caption.value
    assert len(view.area_figure.links.x) == 0
    view.area = chunk
    assert "percpu chunk (pcpu_get_vm_areas())" in view.caption.value
