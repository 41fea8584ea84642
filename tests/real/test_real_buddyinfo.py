"""kmviz.real.buddyinfo(): the simulation's own file, a captured 6.18 machine, bad input."""

from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.real import THIS_MACHINE, ProcFormatError, buddyinfo, pagetypeinfo, zoneinfo

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/buddyinfo").exists()


def test_round_trip_gives_the_engines_free_blocks_after_work():
    k = Kernel("1GiB", seed=3, memory_map="flat")
    pages = [k.get_free_pages(GFP_KERNEL, order % 6) for order in range(40)]
    for addr, order in zip(pages[::3], range(0, 40, 3), strict=True):
        k.free_pages(addr, order % 6)
    parsed = buddyinfo(k.cat("/proc/buddyinfo"))
    assert {row.zone: list(row.free) for row in parsed} == k.buddyinfo()
    assert {row.node for row in parsed} == {0}
    assert sum(row.pages for row in parsed) == k.free_pages_count()


def test_captured_machine_columns_are_read_in_order():
    path = DATA / "linux-6.18-vm" / "buddyinfo"
    parsed = buddyinfo(path)
    expected = {line.split()[3]: tuple(map(int, line.split()[4:])) for line in path.open()}
    assert {row.zone: row.free for row in parsed} == expected
    assert parsed.orders == 11 and parsed.notes == ()


def test_captured_machine_agrees_with_its_pagetypeinfo_and_zoneinfo():
    folder = DATA / "linux-6.18-vm"
    by_zone = buddyinfo(folder / "buddyinfo").free_by_zone()
    types = pagetypeinfo(folder / "pagetypeinfo")
    for zone, free in by_zone.items():
        per_order = [sum(row.free[o] for row in types if row.zone == zone) for o in range(11)]
        assert tuple(per_order) == free
    populated = {row.zone for row in zoneinfo(folder / "zoneinfo") if row.populated}
    assert set(by_zone) == populated


def test_2_6_32_sample_reads_like_6_1():
    parsed = buddyinfo(DATA / "linux-2.6.32-sample" / "buddyinfo")
    assert parsed.free_by_zone() == {
        "DMA": (3, 2, 3, 3, 2, 2, 1, 1, 2, 2, 2),
        "DMA32": (1297, 1047, 832, 511, 273, 110, 47, 21, 12, 6, 297),
    }


def test_free_by_zone_adds_up_the_nodes():
    text = (
        "Node 0, zone   Normal      1      2      3 \n"
        "Node 1, zone   Normal     10     20     30 \n"
        "Node 1, zone  Movable      0      0      1 \n"
    )
    parsed = buddyinfo(text)
    assert parsed.free_by_zone() == {"Normal": (11, 22, 33), "Movable": (0, 0, 1)}


def test_a_kernel_with_another_max_order_is_read_and_noted():
    parsed = buddyinfo("Node 0, zone   Normal" + "      1" * 13 + " \n")
    assert parsed.orders == 13 and len(parsed.rows[0].free) == 13
    assert "13 orders" in parsed.report()


def test_a_line_with_fewer_orders_names_its_line():
    text = "Node 0, zone      DMA" + "      1" * 11 + " \nNode 0, zone    DMA32      1      2 \n"
    with pytest.raises(ProcFormatError, match=r"line 2: 2 orders where line 1 has 11") as error:
        buddyinfo(text)
    assert error.value.line == 2


def test_a_garbage_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "buddyinfo"
    path.write_text("Node 0, zone      DMA      1 \nthis is not buddyinfo\n")
    with pytest.raises(ProcFormatError) as error:
        buddyinfo(path)
    assert (error.value.source, error.value.line) == (str(path), 2)
    assert f"{path}, line 2" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_a_file_cut_in_the_middle_of_a_line_is_truncated():
    text = (DATA / "linux-6.18-vm" / "buddyinfo").read_text()
    with pytest.raises(ProcFormatError, match="line 3: truncated"):
        buddyinfo(text[:-20])


def test_an_empty_file_is_an_error(tmp_path):
    (tmp_path / "buddyinfo").write_text("")
    with pytest.raises(ProcFormatError, match="empty"):
        buddyinfo(tmp_path / "buddyinfo")


def test_a_zone_listed_twice_is_an_error():
    with pytest.raises(ProcFormatError, match="line 2: node 0 zone DMA listed twice"):
        buddyinfo("Node 0, zone DMA 1 \nNode 0, zone DMA 2 \n")


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc/buddyinfo")
def test_this_machine_is_read_live():
    parsed = buddyinfo(THIS_MACHINE)
    assert parsed.source == "/proc/buddyinfo"
    populated = {row.zone for row in zoneinfo(THIS_MACHINE) if row.populated}
    assert {row.zone for row in parsed} == populated
    assert all(len(row.free) == parsed.orders for row in parsed)
