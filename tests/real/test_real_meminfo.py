"""kmviz.real.meminfo(): KiB lines and counts from the simulation, 6.18 and 2.6.32."""

from pathlib import Path

import pytest

from kmviz import GFP_KERNEL, Kernel
from kmviz.real import THIS_MACHINE, ProcFormatError, meminfo

DATA = Path(__file__).parent / "data"
LIVE = Path("/proc/meminfo").exists()


def test_round_trip_gives_the_engines_memory_in_kib():
    k = Kernel("1GiB", seed=6, memory_map="flat")
    k.fill_page_cache("16MiB")
    k.get_free_pages(GFP_KERNEL, 5)
    parsed = meminfo(k.cat("/proc/meminfo"))
    assert parsed["MemTotal"] == sum(zone.managed_pages for zone in k.zones) * 4
    assert parsed["MemFree"] == k.free_pages_count() * 4
    assert parsed["Cached"] == 16 << 10
    assert len(parsed) == len(k.cat("/proc/meminfo").splitlines())


def test_units_are_kept_per_line():
    parsed = meminfo(DATA / "linux-6.18-vm" / "meminfo")
    units = {row.name: row.unit for row in parsed}
    assert units["MemTotal"] == "kB" and units["HugePages_Total"] == ""
    assert parsed["VmallocTotal"] == 34359738367 and "Zswap" in parsed and "Nope" not in parsed


def test_2_6_32_sample_memfree_is_its_free_pages():
    folder = DATA / "linux-2.6.32-sample"
    parsed = meminfo(folder / "meminfo")
    free_pages = sum(
        int(count) << order
        for line in (folder / "buddyinfo").open()
        for order, count in enumerate(line.split()[4:])
    )
    assert parsed["MemFree"] == free_pages * 4
    assert parsed["HardwareCorrupted"] == 0 and "MemAvailable" not in parsed


def test_a_missing_line_is_a_key_error_naming_the_file():
    with pytest.raises(KeyError, match="has no 'Percpu' line"):
        meminfo(DATA / "linux-2.6.32-sample" / "meminfo")["Percpu"]


def test_a_file_without_memtotal_is_an_error():
    with pytest.raises(ProcFormatError, match="line 2: no MemTotal line"):
        meminfo("MemFree:         1000 kB\n")


def test_a_garbage_line_names_its_line():
    with pytest.raises(ProcFormatError, match="line 2: not a /proc/meminfo line"):
        meminfo("MemTotal:        1000 kB\nMemFree = 12\n")


def test_a_line_twice_is_an_error():
    with pytest.raises(ProcFormatError, match="line 2: MemTotal twice"):
        meminfo("MemTotal:        1000 kB\nMemTotal:        1000 kB\n")


@pytest.mark.skipif(not LIVE, reason="this machine has no /proc/meminfo")
def test_this_machine_is_read_live():
    parsed = meminfo(THIS_MACHINE)
    assert parsed.source == "/proc/meminfo"
    assert 0 < parsed["MemFree"] <= parsed["MemTotal"]
