"""The two file LRU lists, files read side by side, tasks faulting side by side, pages in a row."""

import pytest

from kmviz import __GFP_NORETRY, __GFP_NOWARN, GFP_KERNEL, PAGE_OFFSET, Kernel
from kmviz.engine.buddy import ALLOCATED, ANON_PAGE, FILE_PAGE
from kmviz.engine.invariants import check
from kmviz.engine.reclaim import LruList, PageCache

GFP = GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY


def machine():
    return Kernel("64MiB", memory_map="flat")


def test_a_file_read_again_joins_the_active_list():
    k = machine()
    assert k.read_files([(3 * 4096, 1), (2 * 4096, 2), (4096, 1)]) == 6
    assert len(k.page_cache.lru) == 4 and len(k.page_cache.active) == 2
    assert len(k.page_cache) == 6
    check(k)


def test_files_read_together_get_their_pages_in_order():
    k = machine()
    k.read_files([(2 * 4096, 1), (3 * 4096, 2)])
    pages = [*k.page_cache.lru, *k.page_cache.active]
    assert list(k.page_cache.active) == pages[2:]  # the second file's three pages
    assert all(k.buddy.state[pfn] == FILE_PAGE for pfn in pages)


def test_fill_page_cache_is_a_file_read_once():
    k = machine()
    assert k.fill_page_cache("20KiB") == 5
    assert len(k.page_cache.lru) == 5 and not k.page_cache.active


@pytest.mark.parametrize("files", [[(4096, 0)], [("lots", 1)], [(4096,)]])
def test_read_files_refuses_bad_files_before_reading(files):
    k = machine()
    free = k.free_pages_count()
    with pytest.raises((TypeError, ValueError)):
        k.read_files(files)
    assert k.free_pages_count() == free and not len(k.page_cache)


def test_inactive_is_low_uses_the_square_root_ratio_from_one_gib():
    cache = PageCache()
    cache.add(list(range(100)))
    cache.add(list(range(100, 200)), active=True)
    assert not cache.inactive_is_low()  # below 1 GiB the ratio is 1: 100 * 1 < 100 is false
    cache.add([999], active=True)
    assert cache.inactive_is_low()
    big = PageCache()
    big.add(list(range(20_000)))  # 2 GiB of file pages in all: int_sqrt(10 * 2) == 4
    big.add(list(range(20_000, 524_288)), active=True)
    assert big.inactive_is_low()  # 20,000 * 4 < 504,288


def test_reclaim_deactivates_the_oldest_active_pages_while_the_inactive_list_is_low():
    cache = PageCache()
    cache.add([1, 2])
    cache.add([10, 11, 12, 13, 14], active=True)
    taken = cache.take_oldest(2, None, None)
    # inactive 2 * 1 < active 5: the two oldest active pages go to the young end first
    assert list(cache.active) == [12, 13, 14]
    assert taken == [1, 2] and list(cache.lru) == [10, 11]


def test_reclaim_frees_cold_pages_before_pages_read_twice():
    k = machine()  # some 8,000 pages to spare
    k.fill_page_cache("4MiB")  # cold, read before the hot file
    cold = set(k.page_cache.lru)
    k.read_files([(4096 * 1000, 2)])
    hot = set(k.page_cache.active)
    for _ in range(112):  # 28 MiB in 256 KiB files: more than is free, reclaim makes room
        assert k.fill_page_cache("256KiB") == 64
    assert len(k.page_cache) < len(cold) + len(hot) + 7168  # so some pages went ...
    assert hot <= set(k.page_cache.active)  # ... the cold ones: the hot ones all stayed
    check(k)


def test_tasks_faulting_side_by_side_take_every_other_page():
    k = machine()
    a, b = k.spawn("a", 0), k.spawn("b", 0)
    assert k.touch([a, b], 8 * 4096) == 16
    pages = {task.pid: task.pages for task in k.tasks}
    run = sorted(pages[a] + pages[b])
    assert pages[a] == run[0::2] and pages[b] == run[1::2]
    assert all(k.buddy.state[pfn] == ANON_PAGE for pfn in run)
    check(k)


def test_touch_of_a_task_that_is_not_there_changes_nothing():
    k = machine()
    a = k.spawn("a", 0)
    free = k.free_pages_count()
    with pytest.raises(ValueError, match="no user task"):
        k.touch([a, 99999], 4096)
    with pytest.raises(ValueError, match="no user task"):
        k.touch([1], 4096)  # init is no user task here
    assert k.free_pages_count() == free


def test_get_free_pages_many_gives_plain_pages_each_freeable_by_free_pages():
    k = machine()
    addrs = k.get_free_pages_many(GFP, 40)
    assert len(addrs) == len(set(addrs)) == 40
    pfns = [(addr - PAGE_OFFSET) >> 12 for addr in addrs]
    assert all(k.buddy.state[pfn] == ALLOCATED for pfn in pfns)
    free = k.free_pages_count()
    for addr in addrs:
        k.free_pages(addr, 0)
    assert k.free_pages_count() + k.pcp_pages_count() >= free + 40
    check(k)


def test_get_free_pages_many_stops_when_memory_runs_out():
    k = Kernel("24MiB", memory_map="flat", boot_reserved=False)
    addrs = k.get_free_pages_many(GFP, k.nr_pfns)  # more than there are free
    assert 0 < len(addrs) < k.nr_pfns
    check(k)
    with pytest.raises(ValueError, match="count"):
        k.get_free_pages_many(GFP, k.nr_pfns + 1)


def test_show_free_areas_splits_the_file_lru():
    k = machine()
    k.read_files([(3 * 4096, 1), (2 * 4096, 2)])
    text = "\n".join(k.show_free_areas())
    assert " active_file:2 inactive_file:3 " in text
    assert "active_file:8kB inactive_file:12kB" in text


def test_compaction_puts_a_migrated_active_page_back_on_the_active_list():
    k = Kernel("64MiB", memory_map="flat", pcp=False)
    k.read_files([(4096 * 2000, 2)])
    k.read_files([(4096 * 2000, 1)])
    for addr in k.get_free_pages_many(GFP, 3000)[::2]:
        k.free_pages(addr, 0)
    active, inactive = len(k.page_cache.active), len(k.page_cache.lru)
    k.compact(10)
    assert (len(k.page_cache.active), len(k.page_cache.lru)) == (active, inactive)
    check(k)


def test_an_lru_list_gives_its_oldest_pages_by_slice_and_takes_skipped_ones_back():
    lru = LruList(range(10))
    assert lru.take(3) == [0, 1, 2] and len(lru) == 7 and (lru[0], lru[-1]) == (3, 9)
    lru.put_back([2])  # a page looked at and skipped is the oldest again
    assert list(lru) == [2, *range(3, 10)]
    lru.extend([42])
    assert lru.take(100) == [2, *range(3, 10), 42] and not len(lru)


def test_a_kswapd_pass_scans_the_inactive_list_size_shifted_by_the_priority():
    cache = PageCache()
    cache.add(list(range(100_000)))
    # 100,000 >> 12 == 24 pages: fewer than nr_to_reclaim, so all of the scan target
    assert cache.shrink(12, 1000, None, None) == list(range(24))
    # 99,976 >> 8 == 390: the round of 32 that reaches 100 pages is the last, 4 rounds
    assert cache.shrink(8, 100, None, None) == list(range(24, 24 + 128))


def test_a_kswapd_pass_deactivates_as_many_active_pages_as_it_ran_rounds():
    cache = PageCache()
    cache.add(list(range(1000)))
    cache.add(list(range(1000, 5000)), active=True)  # inactive 1,000 * 1 < active 4,000: low
    taken = cache.shrink(4, 40, None, None)  # 1,000 >> 4 == 62 >= 40: 2 rounds of 32
    assert taken == list(range(62)) and len(cache.active) == 4000 - 64
    assert list(cache.lru)[-64:] == list(range(1000, 1064))  # to the young end, in order
