"""kmviz.real.vmallocinfo(): areas from the simulation, a hashed 6.18 machine and 2.6.32."""

from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.real import THIS_MACHINE, ProcFormatError, vmallocinfo

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/vmallocinfo").exists()


def worked_kernel() -> Kernel:
    k = Kernel("256MiB", seed=4, memory_map="flat")
    k.vmalloc(5000)
    big = k.vmalloc(3 << 20)  # its page array is vmalloc'ed too: vpages
    k.vmap([k.alloc_pages(GFP_KERNEL, 0) for _ in range(3)])
    freed = k.vmalloc(40000)
    k.vfree(freed)  # lazily freed: an "unpurged vm_area" line
    k.vfree(big)
    return k


def test_round_trip_gives_the_engines_areas():
    k = worked_kernel()
    parsed = vmallocinfo(k.cat("/proc/vmallocinfo"))
    live = sorted(k.vmap_areas.values(), key=lambda area: area.addr)
    unpurged = list(k.purge_vmap_areas)
    assert [(row.start, row.size, row.pages) for row in parsed if row.kind == "area"] == [
        (area.addr, area.size, 0 if area.kind == "vmap" else len(area.pfns)) for area in live
    ]
    assert [(row.start, row.end) for row in parsed if row.kind == "unpurged"] == [
        (lazy.start, lazy.end) for lazy in unpurged
    ]
    # the 40000-byte area waits for the purge; the 3 MiB one and its vmalloc'ed page array,
    # neighbours, wait as one merged range, as 6.1's purge tree merges them
    assert len(unpurged) == 2 and parsed.addresses == "real" and not parsed.hashed


def test_round_trip_keeps_flags_caller_and_nodes():
    parsed = vmallocinfo(worked_kernel().cat("/proc/vmallocinfo"))
    areas = [row for row in parsed if row.kind == "area"]
    assert [row.flags for row in areas] == [("vmalloc",), ("vmap",)]
    assert areas[0].caller.endswith("[lesson]") and dict(areas[0].nodes) == {0: 2}
    assert areas[1].pages == 0 and dict(areas[1].nodes) == {}


def test_captured_6_18_machine_has_hashed_addresses_and_says_so():
    path = DATA / "linux-6.18-vm" / "vmallocinfo"
    parsed = vmallocinfo(path)
    assert parsed.addresses == "hashed" and parsed.hashed
    assert "hashed" in parsed.report() and str(len(parsed)) in parsed.notes[0]
    unpurged = sum(line.endswith("unpurged vm_area\n") for line in path.open())
    assert sum(row.kind == "unpurged" for row in parsed) == unpurged > 0
    assert all(row.size % 4096 == 0 for row in parsed)


def test_captured_ioremaps_keep_their_physical_address():
    parsed = vmallocinfo(DATA / "linux-6.18-vm" / "vmallocinfo")
    ioremaps = [row for row in parsed if "ioremap" in row.flags]
    assert ioremaps and all(row.phys is not None and row.pages == 0 for row in ioremaps)
    assert any(
        row.phys == 0xA0000 and row.caller.startswith("acpi_os_map_iomem") for row in ioremaps
    )


def test_captured_vmallocs_count_their_pages_per_node():
    parsed = vmallocinfo(DATA / "linux-6.18-vm" / "vmallocinfo")
    vmallocs = [row for row in parsed if "vmalloc" in row.flags and row.pages]
    assert vmallocs and all(sum(row.nodes.values()) == row.pages for row in vmallocs)
    assert all(row.size == (row.pages + 1) * 4096 for row in vmallocs)  # one guard page


def test_2_6_32_sample_has_raw_addresses_and_phys_without_0x():
    parsed = vmallocinfo(DATA / "linux-2.6.32-sample" / "vmallocinfo")
    assert parsed.addresses == "real" and parsed.notes == ()
    hpet = parsed.rows[0]
    assert (hpet.start, hpet.phys, hpet.flags) == (0xFFFFC90000000000, 0xFED00000, ("ioremap",))
    e1000 = parsed.rows[5]
    assert e1000.caller == "e1000_probe+0x23a/0xb20 [e1000]"
    assert parsed.rows[8].flags == ("vmalloc", "user")
    assert parsed.rows[7].flags == ("vmalloc", "vpages") and parsed.rows[7].pages == 513


def test_kptr_restrict_2_zeros_are_noted():
    text = "0x0000000000000000-0x0000000000000000    8192 foo+0x1/0x2 pages=1 vmalloc N0=1\n"
    parsed = vmallocinfo(text)
    assert parsed.addresses == "zeroed" and "kptr_restrict=2" in parsed.notes[0]


def test_vm_map_ram_and_callerless_areas_are_read():
    text = (
        "0x00000000aaaaaaaa-0x00000000bbbbbbbb   16384 vm_map_ram\n"
        "0x00000000cccccccc-0x00000000dddddddd    8192 pages=1 vmalloc N0=1\n"
    )
    rows = vmallocinfo(text).rows
    assert rows[0].kind == "vm_map_ram" and rows[0].caller == ""
    assert (rows[1].caller, rows[1].pages) == ("", 1)


def test_words_out_of_order_name_the_line():
    text = "0xffffc90000000000-0xffffc90000002000    8192 f+0x1/0x2 vmalloc pages=1\n"
    with pytest.raises(ProcFormatError, match="line 1: unexpected 'pages=1'"):
        vmallocinfo(text)


def test_a_garbage_line_names_its_line():
    text = "0xffffc90000000000-0xffffc90000002000    8192 vmalloc\nnot an area\n"
    with pytest.raises(ProcFormatError, match="line 2: not a /proc/vmallocinfo line"):
        vmallocinfo(text)


def test_a_truncated_file_names_its_last_line():
    text = (DATA / "linux-2.6.32-sample" / "vmallocinfo").read_text()
    with pytest.raises(ProcFormatError, match="line 12: truncated"):
        vmallocinfo(text[:-7])


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc/vmallocinfo")
def test_this_machine_is_read_live_or_refused_clearly():
    try:
        parsed = vmallocinfo(THIS_MACHINE)
    except PermissionError as error:
        assert "root" in str(error)
        return
    assert parsed.source == "/proc/vmallocinfo" and len(parsed) > 0
    assert parsed.addresses in ("real", "hashed", "zeroed")
