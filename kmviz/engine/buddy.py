"""The buddy page allocator: hands out naturally aligned blocks of 2^order page frames, by pfn.

Every zone keeps ``free_area[order]`` for orders 0..10, and in each a free list per
migratetype.  A free block of order ``o`` starts at a pfn that is a multiple of ``2^o``; its
*buddy* is the other half of the block of order ``o + 1`` that contains it::

    buddy_pfn = pfn ^ (1 << order)        # 8 ^ (1 << 1) == 10, 10 ^ 2 == 8
    parent    = pfn & buddy_pfn           # 8 & 10 == 8

Allocating order 0 from a free order-3 block at P keeps P and frees the upper halves
P+4 (order 2), P+2 (order 1) and P+1 (order 0): that is ``expand()``.  Freeing walks the
other way: while the buddy is free and of the same order, take it off its list and go up one
order (``__free_one_page()``).

Representation (as struct page does it, but in arrays indexed by pfn):

* ``state[pfn]`` -- 0..10 when pfn heads a free block of that order (PageBuddy + buddy_order),
  ``ALLOCATED + order`` / ``COMPOUND + order`` when it heads an allocated block, ``TAIL`` for
  any other page of a block, ``RESERVED`` for memory kept at boot and ``HOLE`` for no RAM;
  the head of a block a subsystem holds (a slab, a page table...) has a code of its own
  (``held_code()``; ``plain_code()`` and ``holder()`` take it apart).
* ``nxt[pfn >> 1]`` / ``prv[pfn >> 1]`` -- the pfns after and before a free block's head on
  its free list, a circular doubly linked list like ``struct list_head``: adding at the head, at
  the tail and unlinking are O(1), as in the kernel.  The links are kept per *pair* of frames,
  4 bytes each, because a pair never holds two free-list members: a block of order 1 or more
  starts at an even pfn, and two free order-0 buddies always merge (__free_one_page() checks
  migratetypes only from pageblock_order up), so ``7 >> 1 == 6 >> 1 == 3`` serves whichever
  of pfn 6 and 7 is on a list.  A list head is a sentinel value after the last pfn, one per
  (zone, order, migratetype), even and two apart so that ``>> 1`` keeps them apart too.  A
  block off the lists leaves stale links behind (as list_del() leaves poison): only a free
  block's head has links worth reading.

Per-CPU page lists (``struct per_cpu_pages``, 6.1): each zone keeps, for every CPU, one list
per (order, migratetype) for orders 0..PAGE_ALLOC_COSTLY_ORDER and two for the THP order
(``order_to_pindex()``).  A page on one is free but not in the buddy: ``state[pfn]`` is
``PCP + (order << 3) + migratetype`` (the migratetype set_pcppage_migratetype() stored),
NR_FREE_PAGES does not count it and it never merges.  An order-0 allocation pops the list
head; an empty list is refilled with ``batch`` pages by rmqueue_bulk(); a free pushes on the
head and, above ``high``, free_pcppages_bulk() gives pages from the list tails back to the
buddy lists.  A page and its buddy may both sit on pcp lists, so these lists cannot share the
pair links: each is an ``array('i')`` of pfns used as a stack whose *end* is the list head
(``append()`` is list_add(), ``pop()`` takes the list head) and whose index 0 is the tail::

    pindex = MIGRATE_PCPTYPES * order + migratetype   # order 0 Movable: 3 * 0 + 1 == 1
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator

from .constants import (
    FALLBACKS,
    MAX_ORDER,
    MAX_ORDER_NR_PAGES,
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_RECLAIMABLE,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
    NR_LOWORDER_PCP_LISTS,
    NR_PCP_LISTS,
    PAGE_ALLOC_COSTLY_ORDER,
    PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
)
from .events import FallbackStolen, FreePagesIsolated
from .history import (
    CPU_SHIFT,
    KIND_ALLOC,
    KIND_FREE,
    PCP_BIT,
    PCP_BULK_BIT,
    PFN_SHIFT,
    TAIL_BIT,
    History,
)
from .zones import Zone

TAIL = -1  # a page inside a block, not its head (refcount 0)
# per state byte (as unsigned): 1 for a free block's head (orders 0..10), else 0
_FREE_HEAD_BYTES = bytes(1 if code < MAX_ORDER else 0 for code in range(256))
ALLOCATED = 16  # + order: head of an allocated block (refcount 1)
COMPOUND = 32  # + order: head of an allocated __GFP_COMP block
RESERVED = 64  # PageReserved: kept by memblock at boot (refcount 1)
HOLE = 65  # no RAM behind this pfn

# who holds an allocated block besides its allocator: the struct page state free_pages_prepare()
# checks, so a learner's free_pages() of such a block is a "Bad page state" (or, for vmalloc, a
# refusal) instead of a second owner.  Linux keeps it in the head page's flags, mapping and
# page_type; kmviz folds it into the head's state code (held_code()), so a page costs one byte.
OWNER_NONE = 0  # a plain page: whoever called the page allocator may free it
OWNER_SLAB = 1  # PG_slab
OWNER_PAGE_TABLE = 2  # PG_table, a page_type kept in _mapcount
OWNER_ANON = 3  # a user page: mapped, on the LRU (PG_lru)
OWNER_FILE = 4  # page cache: page->mapping set, on the LRU (PG_lru)
OWNER_VMALLOC = 5  # mapped by a vmalloc area that frees it in vfree()

# The head of a held block has a code of its own, one per (plain head code, owner) that occurs:
# a slab of order 0 is a plain page and one of order 1..10 a compound page (allocate_slab() adds
# s->allocflags, __GFP_COMP for a cache of order > 0, and prep_new_page() makes a compound page
# of order > 0 only); a page table, a user page, a page-cache page and a vmalloc page are plain
# order-0 pages.
HELD = 66  # the first held code: HELD + index in HELD_PAIRS, 66 .. 80
HELD_PAIRS = (
    (ALLOCATED, OWNER_SLAB),
    *((COMPOUND + order, OWNER_SLAB) for order in range(1, MAX_ORDER)),
    (ALLOCATED, OWNER_PAGE_TABLE),
    (ALLOCATED, OWNER_ANON),
    (ALLOCATED, OWNER_FILE),
    (ALLOCATED, OWNER_VMALLOC),
)
_HELD_CODE = {pair: HELD + index for index, pair in enumerate(HELD_PAIRS)}
# indexed by a state code, a signed byte: code -1 lands on entry 255, its two's complement
_BYTE_CODES = (*range(128), *range(-128, 0))
_PLAIN = tuple(HELD_PAIRS[c - HELD][0] if c in _HELD_CODE.values() else c for c in _BYTE_CODES)
_HOLDER = tuple(HELD_PAIRS[c - HELD][1] if c in _HELD_CODE.values() else 0 for c in _BYTE_CODES)
ANON_PAGE = _HELD_CODE[ALLOCATED, OWNER_ANON]  # a user page on the LRU
FILE_PAGE = _HELD_CODE[ALLOCATED, OWNER_FILE]  # a page-cache page on the LRU


def plain_code(code: int) -> int:
    """The state code ``code`` without its holder: ALLOCATED or COMPOUND + order for a held head."""
    return _PLAIN[code]


def holder(code: int) -> int:
    """The OWNER_* of the block whose head has state ``code`` (OWNER_NONE unless it is held)."""
    return _HOLDER[code]


def held_code(code: int, owner: int) -> int:
    """The state code of the allocated head ``code`` (plain or held) once ``owner`` holds it."""
    plain = _PLAIN[code]
    return plain if owner == OWNER_NONE else _HELD_CODE[plain, owner]


PCP = -128  # + (order << 3) + migratetype: a block on a per-CPU list (free, refcount 0)
PCP_END = TAIL  # pcp codes are PCP .. PCP_END - 1

LIST_STRIDE = MIGRATE_TYPES  # list heads per order in a zone
ZONE_LISTS = MAX_ORDER * LIST_STRIDE  # list heads per zone
BOOT_PAGESET_HIGH = 0  # a boot pageset stores nothing (mm/page_alloc.c L6690)
BOOT_PAGESET_BATCH = 1
PCP_BATCH_SCALE_MAX = 5  # CONFIG_PCP_BATCH_SCALE_MAX: free_factor's cap


def pcp_allowed_order(order: int) -> bool:
    """Whether blocks of ``order`` go through the per-CPU lists (pcp_allowed_order(), L767)."""
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == PAGEBLOCK_ORDER


def order_to_pindex(migratetype: int, order: int) -> int:
    """The pcp list of (order, migratetype): order_to_pindex() (L733), 3 * order + mt for
    small orders, 12 (Unmovable, Reclaimable) or 13 (Movable) for the THP order."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (migratetype == MIGRATE_MOVABLE)
    return MIGRATE_PCPTYPES * order + migratetype


def pindex_to_order(pindex: int) -> int:
    """The order of the blocks on pcp list ``pindex`` (pindex_to_order(), L753)."""
    return PAGEBLOCK_ORDER if pindex >= NR_LOWORDER_PCP_LISTS else pindex // MIGRATE_PCPTYPES


def pcp_code(order: int, migratetype: int) -> int:
    """``state[pfn]`` of a block of ``order`` on a pcp list, remembering its migratetype."""
    return PCP + (order << 3) + migratetype


class BuddyAllocator:
    """Free lists of every zone, with the kernel's split, merge and fallback rules."""

    def __init__(
        self, nr_pfns: int, zones: list[Zone], history: History, mobility: bool, cpus: int = 1
    ):
        # pad to a whole top-order block so a buddy lookup never runs off the end
        padded = -(-nr_pfns // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
        self.nr_pfns = nr_pfns
        self.zones = zones
        self.history = history
        self.mobility = mobility  # False: page_group_by_mobility_disabled (tiny machines)
        # 5 bytes per pfn: a state code, and two 4-byte list links per pair of pfns (an int32
        # reaches pfns of machines up to 8 TiB); arrays built by repetition, at their size
        self.state = array("b", [HOLE]) * padded
        self.cpus = cpus  # possible CPUs: each has its own pcp lists in every zone
        sentinels = range(padded, padded + 2 * len(zones) * ZONE_LISTS, 2)
        self.nxt = array("i", [0]) * (padded // 2) + array("i", sentinels)  # empty lists
        self.prv = array("i", self.nxt)
        self.record = history.records.append  # one packed history record per call
        # pages in [start, end) on an LRU (page cache, user memory): movable_pages for
        # steal_suitable_fallback(); the Kernel, which knows them, replaces this
        self.count_lru_pages: Callable[[int, int], int] = lambda start, end: 0
        # check_pcp_refill() of a kernel without CONFIG_DEBUG_VM: True if a block taken for
        # a pcp list is in a bad state (reported; the block is leaked); None: no check
        self.check_pcp_refill: Callable[[int, int], bool] | None = None
        # bulkfree_pcp_prepare() of a kernel without CONFIG_DEBUG_VM: True if a block a drain
        # takes off a pcp list is in a bad state (reported; the block is leaked); None: no check
        self.bulkfree_pcp_prepare: Callable[[int, int], bool] | None = None
        for position, zone in enumerate(zones):
            zone.list_base = padded + 2 * position * ZONE_LISTS
            zone.pcp_lists = tuple(array("i") for _ in range(cpus * NR_PCP_LISTS))
            zone.pcp_count = array("q", [0]) * cpus
            zone.pcp_free_factor = array("q", [0]) * cpus
        # memmap_init() marks every pageblock Movable before memory is freed to the buddy;
        # it runs (in setup_arch) before build_all_zonelists() decides whether mobility
        # grouping is off, so even tiny machines start with Movable pageblocks.
        self.pageblock_mt = array("b", [MIGRATE_MOVABLE]) * (padded // PAGEBLOCK_NR_PAGES)
        # zone lookup per 16 MiB chunk: zone boundaries (16 MiB, 4 GiB) are multiples of it
        self.zone_by_chunk: list[Zone | None] = [None] * (-(-padded // 4096))
        self.zone_position_by_chunk = array("b", [-1]) * len(self.zone_by_chunk)
        for position, zone in enumerate(zones):
            for chunk in range(zone.start_pfn >> 12, ((zone.end_pfn - 1) >> 12) + 1):
                self.zone_by_chunk[chunk] = zone
                self.zone_position_by_chunk[chunk] = position

    # --- lookups -------------------------------------------------------------------------------
    def zone_of(self, pfn: int) -> Zone | None:
        """The zone that spans ``pfn`` (None beyond memory)."""
        if not 0 <= pfn < self.nr_pfns:
            return None
        return self.zone_by_chunk[pfn >> 12]

    def free_list(self, zone: Zone, order: int, migratetype: int) -> Iterator[int]:
        """The pfns on ``free_area[order].free_list[migratetype]``, head first."""
        return self._walk(zone.sentinel(order, migratetype))

    def _walk(self, head: int) -> Iterator[int]:
        """The pfns on the circular list whose sentinel node is ``head``, first to last."""
        nxt = self.nxt
        node = nxt[head >> 1]
        while node != head:
            yield node
            node = nxt[node >> 1]

    def neighbours(self, pfn: int) -> tuple[int, int]:
        """(next, prev) of the free block headed by ``pfn`` on its list: pfns, or list heads."""
        return self.nxt[pfn >> 1], self.prv[pfn >> 1]

    def pcp_neighbours(self, zone: Zone, pfn: int) -> tuple[int, int] | None:
        """(next, prev) of ``pfn`` on the pcp list that holds it: pfns, or -1 for the list
        head; None if no pcp list holds it (a refill's check_pcp_refill() is looking at it)."""
        for pcp_list in zone.pcp_lists:
            try:
                at = pcp_list.index(pfn)  # index 0 is the tail: next is towards it
            except ValueError:
                continue
            after = pcp_list[at - 1] if at else -1
            before = pcp_list[at + 1] if at + 1 < len(pcp_list) else -1
            return after, before
        return None

    def owner_of(self, pfn: int) -> int:
        """The OWNER_* that holds the block headed by ``pfn`` (OWNER_NONE if none does)."""
        return _HOLDER[self.state[pfn]]

    def set_owner(self, pfn: int, owner: int) -> None:
        """Let ``owner`` (OWNER_NONE: nobody) hold the allocated block headed by ``pfn``."""
        self.state[pfn] = held_code(self.state[pfn], owner)

    # --- list primitives (mm/page_alloc.c L1028-1070) ----------------------------------------
    def add_to_free_list(self, pfn: int, zone: Zone, order: int, mt: int, tail: bool) -> None:
        """Put a free block of ``order`` on its list, at the head (LIFO) or the tail."""
        nxt, prv = self.nxt, self.prv
        head = zone.sentinel(order, mt)
        if tail:
            last = prv[head >> 1]
            prv[head >> 1] = pfn
            nxt[pfn >> 1] = head
            prv[pfn >> 1] = last
            nxt[last >> 1] = pfn
        else:
            first = nxt[head >> 1]
            nxt[head >> 1] = pfn
            prv[pfn >> 1] = head
            nxt[pfn >> 1] = first
            prv[first >> 1] = pfn
        self.state[pfn] = order
        zone.nr_free[order] += 1

    def _unlink(self, pfn: int) -> None:
        """list_del(): take ``pfn`` off whatever list it is on."""
        nxt, prv = self.nxt, self.prv
        before, after = prv[pfn >> 1], nxt[pfn >> 1]
        nxt[before >> 1] = after
        prv[after >> 1] = before

    def isolate_free_block(self, pfn: int, zone: Zone) -> int:
        """Take the free block headed by ``pfn`` off its list as order-0 pages; its order.

        Mirrors __isolate_free_page() + split_page() (mm/page_alloc.c), as compaction's free
        scanner uses them: the block leaves the free lists and every page of it becomes an
        allocated order-0 page the caller owns.
        """
        order = self.state[pfn]
        self._unlink(pfn)
        zone.nr_free[order] -= 1
        zone.free_count[0] -= 1 << order
        if self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] == MIGRATE_CMA:
            zone.free_cma -= 1 << order
        for page in range(pfn, pfn + (1 << order)):
            self.state[page] = ALLOCATED
        self.history.append_object(FreePagesIsolated(pfn, order, zone.name))
        return order

    def move_to_free_list(self, pfn: int, zone: Zone, order: int, mt: int) -> None:
        """move_to_free_list(): move a free block to the tail of another migratetype's list."""
        self._unlink(pfn)
        zone.nr_free[order] -= 1
        self.add_to_free_list(pfn, zone, order, mt, tail=True)

    # --- allocation ----------------------------------------------------------------------------
    def rmqueue_smallest(self, zone: Zone, order: int, mt: int, record: int, head: int) -> int:
        """Take the smallest free block of at least ``order`` from ``mt``'s lists; -1 if none.

        Mirrors __rmqueue_smallest() + expand() (mm/page_alloc.c L2589, L2375): the first
        block on the list is taken, then halved until it is of ``order``; the lower half is
        kept and each upper half goes onto the list one order down.  ``record`` holds the
        history bits of this allocation and ``head`` the state its first page takes.
        """
        nxt, prv = self.nxt, self.prv
        node = zone.sentinel(order, mt)
        current = order
        pfn = nxt[node >> 1]
        while pfn == node:
            current += 1
            if current == MAX_ORDER:
                return -1
            node += 2 * LIST_STRIDE  # sentinels are two apart
            pfn = nxt[node >> 1]
        after = nxt[pfn >> 1]  # del_page_from_free_list(): the block was first on its list
        nxt[node >> 1] = after
        prv[after >> 1] = node
        nr_free = zone.nr_free
        nr_free[current] -= 1
        state = self.state
        size = 1 << current
        high = current
        while high > order:  # expand()
            high -= 1
            size >>= 1
            node -= 2 * LIST_STRIDE
            upper = pfn + size
            first = nxt[node >> 1]
            nxt[node >> 1] = upper
            prv[upper >> 1] = node
            nxt[upper >> 1] = first
            prv[first >> 1] = upper
            state[upper] = high
            nr_free[high] += 1
        state[pfn] = head
        zone.free_count[0] -= 1 << order
        if mt == MIGRATE_CMA:  # NR_FREE_CMA_PAGES follows the CMA lists
            zone.free_cma -= 1 << order
        self.record((pfn << PFN_SHIFT) | record | (current << 6) | (order << 2))
        return pfn

    def has_free_block(self, zone: Zone, order: int) -> bool:
        """True if some free list of ``order`` or higher is not empty (__zone_watermark_ok tail)."""
        nr_free = zone.nr_free
        for o in range(order, MAX_ORDER):  # noqa: SIM110 - a plain loop beats any() here
            if nr_free[o]:
                return True
        return False

    def find_suitable_fallback(self, zone: Zone, order: int, mt: int) -> tuple[int, bool]:
        """The first fallback migratetype with a free block of ``order``, and whether to steal.

        Mirrors find_suitable_fallback() (L2873) with only_stealable false: returns
        ``(-1, False)`` when no fallback list of this order has a block.
        """
        if zone.nr_free[order] == 0:
            return -1, False
        nxt = self.nxt
        for fallback in FALLBACKS[mt]:
            node = zone.sentinel(order, fallback)
            if nxt[node >> 1] != node:
                return fallback, self.can_steal_fallback(order, mt)
        return -1, False

    def can_steal_fallback(self, order: int, start_mt: int) -> bool:
        """Whether a fallback may take the whole pageblock along (can_steal_fallback(), L2725)."""
        return (
            order >= PAGEBLOCK_ORDER // 2
            or start_mt in (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE)
            or not self.mobility
        )

    def rmqueue_fallback(self, zone: Zone, order: int, start_mt: int, nofragment: bool) -> bool:
        """Move a free block from another migratetype onto ``start_mt``'s lists; False if none.

        Mirrors __rmqueue_fallback() (L3033): look for the *largest* block in the fallback
        lists (it probably sits in the emptiest pageblock), except that a movable request
        which cannot take the whole pageblock splits the *smallest* one instead.  With
        ALLOC_NOFRAGMENT only whole pageblocks (order >= 9) may be taken.
        """
        min_order = PAGEBLOCK_ORDER if nofragment and order < PAGEBLOCK_ORDER else order
        for current in range(MAX_ORDER - 1, min_order - 1, -1):
            fallback, can_steal = self.find_suitable_fallback(zone, current, start_mt)
            if fallback == -1:
                continue
            if not can_steal and start_mt == MIGRATE_MOVABLE and current > order:
                for current in range(order, MAX_ORDER):  # noqa: PLW2901 - find_smallest
                    fallback, can_steal = self.find_suitable_fallback(zone, current, start_mt)
                    if fallback != -1:
                        break
            break
        else:
            return False
        pfn = self.nxt[zone.sentinel(current, fallback) >> 1]
        self.steal_suitable_fallback(zone, pfn, start_mt, can_steal)
        self.history.append_object(
            FallbackStolen(
                pfn=pfn,
                alloc_order=order,
                fallback_order=current,
                alloc_migratetype=start_mt,
                fallback_migratetype=fallback,
                change_ownership=self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES] == start_mt,
                zone=zone.name,
            )
        )
        return True

    def steal_suitable_fallback(self, zone: Zone, pfn: int, start_mt: int, whole: bool) -> None:
        """Give the free block at ``pfn`` to ``start_mt``, and maybe its whole pageblock.

        Mirrors steal_suitable_fallback() (L2791): a block of pageblock order or more changes
        owner outright; a smaller one drags the other free pages of its pageblock along, and
        the pageblock changes owner when at least half of it is free or alike.  (Watermark
        boosting is left out: without kswapd to undo it the boost would never decay.)
        """
        order = self.state[pfn]
        block = pfn // PAGEBLOCK_NR_PAGES
        old_mt = self.pageblock_mt[block]
        if old_mt != MIGRATE_HIGHATOMIC:
            if order >= PAGEBLOCK_ORDER:
                for b in range(block, block + (1 << (order - PAGEBLOCK_ORDER))):
                    self.set_pageblock_migratetype(b, start_mt)
            elif whole:
                free_pages = self.move_freepages_block(zone, pfn, start_mt)
                if free_pages:
                    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
                    movable_pages = self.count_lru_pages(start, start + PAGEBLOCK_NR_PAGES)
                    if start_mt == MIGRATE_MOVABLE:
                        alike = movable_pages
                    elif old_mt == MIGRATE_MOVABLE:
                        alike = PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
                    else:
                        alike = 0
                    if free_pages + alike >= PAGEBLOCK_NR_PAGES // 2 or not self.mobility:
                        self.set_pageblock_migratetype(block, start_mt)
                    return
        self.move_to_free_list(pfn, zone, order, start_mt)

    def set_pageblock_migratetype(self, block: int, mt: int) -> None:
        """Record a pageblock's migratetype (all Unmovable when mobility grouping is off)."""
        if not self.mobility and mt < MIGRATE_PCPTYPES:
            mt = MIGRATE_UNMOVABLE
        self.pageblock_mt[block] = mt

    def move_freepages_block(self, zone: Zone, pfn: int, mt: int) -> int:
        """Move every free block of ``pfn``'s pageblock to ``mt``'s lists; pages moved.

        Mirrors move_freepages_block() + move_freepages() (L2643-2700): never crosses the
        zone's edges.
        """
        start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
        end = start + PAGEBLOCK_NR_PAGES - 1
        if start < zone.start_pfn:
            start = pfn
        if end >= zone.end_pfn:
            return 0
        moved = 0
        state = self.state
        # walked as move_freepages() walks them: a free block's head (state 0..10) is moved
        # and its 2^order pages skipped, any other page stepped over; ``heads`` has a 1 for
        # each page whose state is 0..10, so that bytes.find() does the stepping over
        heads = state[start : end + 1].tobytes().translate(_FREE_HEAD_BYTES)
        offset = heads.find(1)
        while offset >= 0:
            page = start + offset
            order = state[page]
            self.move_to_free_list(page, zone, order, mt)
            moved += 1 << order
            offset = heads.find(1, offset + (1 << order))
        return moved

    # --- freeing -------------------------------------------------------------------------------
    def free_one_page(
        self, pfn: int, zone: Zone, order: int, mt: int, to_tail: bool, extra: int = 0
    ) -> int:
        """Return 2^order pages at ``pfn`` to the free lists, merging buddies; the final order.

        Mirrors __free_one_page() (mm/page_alloc.c L1122): while the buddy
        ``pfn ^ (1 << order)`` heads a free block of the same order, unlink it and go up one
        order with ``pfn &= buddy``.  The result goes to the list head (LIFO) unless
        ``to_tail`` (FPI_TO_TAIL, as boot hand-over asks) or buddy_merge_likely(): the next
        bigger buddy is free too, so this block will probably merge soon and should not be
        handed out first.  ``extra``: record bits of a block drained from a pcp list.
        """
        nxt, prv, state = self.nxt, self.prv, self.state
        nr_free = zone.nr_free
        zone.free_count[0] += 1 << order
        if mt == MIGRATE_CMA:
            zone.free_cma += 1 << order
        first_pfn, first_order = pfn, order
        state[pfn] = TAIL
        while order < MAX_ORDER - 1:
            buddy = pfn ^ (1 << order)
            if state[buddy] != order:  # not PageBuddy of this order (or not RAM at all)
                break
            before, after = prv[buddy >> 1], nxt[buddy >> 1]  # del_page_from_free_list(buddy)
            nxt[before >> 1] = after
            prv[after >> 1] = before
            nr_free[order] -= 1
            state[buddy] = TAIL
            pfn &= buddy
            order += 1
        if not to_tail and order < MAX_ORDER - 2:  # buddy_merge_likely()
            higher = pfn & ~(1 << order)
            to_tail = state[higher ^ (1 << (order + 1))] == order + 1
        self.add_to_free_list(pfn, zone, order, mt, to_tail)
        self.record(
            (first_pfn << PFN_SHIFT)
            | (TAIL_BIT if to_tail else 0)
            | (mt << 10)
            | (order << 6)
            | (first_order << 2)
            | KIND_FREE
            | extra
        )
        return order

    # --- per-CPU page lists (mm/page_alloc.c L3152-3560, L3793) ---------------------------
    def pcp_list(self, zone: Zone, cpu: int, pindex: int) -> Iterator[int]:
        """The pfns on CPU ``cpu``'s pcp->lists[pindex] in ``zone``, head (next out) first."""
        return reversed(zone.pcp_list(cpu, pindex))

    def rmqueue(
        self, zone: Zone, order: int, mt: int, record: int, head: int, nofrag: bool,
        cma: tuple[int, int] | None = None, unaccounted: int = 0,
    ) -> int:  # fmt: skip
        """Take a block of ``order`` for ``mt`` from the buddy lists; -1 if there is none.

        Mirrors __rmqueue() (mm/page_alloc.c L3115): with ALLOC_CMA (``cma`` is then the
        record and head a block from the MIGRATE_CMA lists takes) the CMA lists go first
        when they hold over half of the zone's free pages, and last before a fallback steal;
        otherwise ``mt``'s own lists, then a steal from another type and a retry.
        ``unaccounted``: pages rmqueue_bulk() has taken but not yet taken off NR_FREE_PAGES,
        which it adjusts once, after its loop (NR_FREE_CMA_PAGES it adjusts block by block).
        """
        pfn = -1
        if cma is not None and zone.free_cma > (zone.free_pages + unaccounted) // 2:
            # "Balance movable allocations between regular and CMA areas by allocating
            # from CMA when over half of the zone's free memory is in the CMA area"
            pfn = self.rmqueue_smallest(zone, order, MIGRATE_CMA, *cma)
        if pfn < 0:
            pfn = self.rmqueue_smallest(zone, order, mt, record, head)
        if pfn < 0 and cma is not None:  # __rmqueue_cma_fallback()
            pfn = self.rmqueue_smallest(zone, order, MIGRATE_CMA, *cma)
        while pfn < 0 and self.rmqueue_fallback(zone, order, mt, nofrag):
            pfn = self.rmqueue_smallest(zone, order, mt, record, head)
        return pfn

    def rmqueue_pcplist(
        self, zone: Zone, cpu: int, order: int, mt: int, record: int, head: int, nofrag: bool,
        cma: bool = False,
    ) -> int:  # fmt: skip
        """Pop a block of ``order`` off CPU ``cpu``'s pcp list for ``mt``; -1 if none came.

        Mirrors rmqueue_pcplist() (L3833): "On allocation, reduce the number of pages that
        are batch freed": free_factor is halved, then __rmqueue_pcplist() (take_pcp_head())
        takes the block.  ``record``/``head`` as for rmqueue_smallest(); ``cma``: ALLOC_CMA.
        """
        zone.pcp_free_factor[cpu] >>= 1
        return self.take_pcp_head(zone, cpu, order, mt, record, head, nofrag, cma)

    def take_pcp_head(
        self, zone: Zone, cpu: int, order: int, mt: int, record: int, head: int, nofrag: bool,
        cma: bool = False,
    ) -> int:  # fmt: skip
        """Take the head block of CPU ``cpu``'s pcp list of (``order``, ``mt``); -1 if none came.

        Mirrors __rmqueue_pcplist() (L3793): an empty list is first refilled by rmqueue_bulk()
        with ``batch >> order`` blocks (at least 2, unless batch is 1); then the list head is
        taken (the most recently freed).  free_factor is left alone: rmqueue_pcplist() halves
        it, __alloc_pages_bulk() (which calls this directly) does not.  ``record`` holds the
        history bits of the caller's mask and migratetype (with BULK_TAKEN_BIT for
        __alloc_pages_bulk()'s pages, which fire no mm_page_alloc).
        """
        pcp_list = zone.pcp_list(cpu, order_to_pindex(mt, order))
        if not pcp_list:
            batch = zone.pcp_batch
            if batch > 1:
                batch = max(batch >> order, 2)  # an order-3 list refills 63 >> 3 == 7 blocks
            if not self.rmqueue_bulk(zone, cpu, order, batch, mt, nofrag, cma):
                return -1
        pfn = pcp_list.pop()  # list_first_entry() + list_del(): the head is the array's end
        zone.pcp_count[cpu] -= 1 << order
        self.state[pfn] = head
        self.record(
            (pfn << PFN_SHIFT) | record | PCP_BIT | (cpu << CPU_SHIFT) | (order << 6) | (order << 2)
        )
        return pfn

    def rmqueue_bulk(
        self, zone: Zone, cpu: int, order: int, count: int, mt: int, nofrag: bool,
        cma: bool = False,
    ) -> int:  # fmt: skip
        """Move up to ``count`` blocks of ``order`` from the buddy lists to a pcp list; how many.

        Mirrors rmqueue_bulk() (L3152): each block comes from __rmqueue() (smallest first, a
        fallback steal when ``mt``'s lists are empty) and goes to the list *tail*, so the list
        runs in the physical order expand() hands pages out.  NR_FREE_PAGES drops by every
        page taken (``__mod_zone_page_state(zone, NR_FREE_PAGES, -(i << order))``): pages on
        a pcp list are not counted free.  With ALLOC_CMA (``cma``) a block may come from the
        MIGRATE_CMA lists: it goes on ``mt``'s list (Movable) but remembers MIGRATE_CMA
        (set_pcppage_migratetype()), so a drain frees it to the CMA lists again, and it
        leaves NR_FREE_CMA_PAGES (``is_migrate_cma(get_pcppage_migratetype(page))``).
        """
        record = KIND_ALLOC | PCP_BIT | PCP_BULK_BIT | (cpu << CPU_SHIFT)
        code = pcp_code(order, mt)
        from_cma = (record | (MIGRATE_CMA << 10), pcp_code(order, MIGRATE_CMA)) if cma else None
        record |= mt << 10
        taken = array("i")
        for i in range(count):
            pfn = self.rmqueue(zone, order, mt, record, code, nofrag, from_cma, i << order)
            if pfn < 0:
                break
            if self.check_pcp_refill is not None and self.check_pcp_refill(pfn, order):
                self.state[pfn] = ALLOCATED + order  # leaked: allocated to nobody
                continue
            taken.append(pfn)
        taken.reverse()  # list_add_tail() of each: the first taken ends nearest the head
        zone.pcp_list(cpu, order_to_pindex(mt, order))[:0] = taken
        zone.pcp_count[cpu] += len(taken) << order
        return len(taken)

    def free_unref_page(self, pfn: int, zone: Zone, cpu: int, order: int) -> None:
        """Put a freed block on CPU ``cpu``'s pcp list head; drain a batch above ``high``.

        Mirrors free_unref_page() + free_unref_page_commit() (L3501, L3469): the block keeps
        its pageblock's migratetype (HighAtomic and CMA go on the Movable list; Isolate goes
        straight to the buddy), it is pushed on the list head, so the next allocation gets
        it back first (LIFO), and when the count reaches ``high`` free_pcppages_bulk() frees
        nr_pcp_free() pages.  Order 1..3 frees after frees (free_factor set) drain everything.
        """
        mt = self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
        if mt == MIGRATE_ISOLATE:
            self.free_one_page(pfn, zone, order, mt, False)
            return
        pindex = order_to_pindex(mt if mt < MIGRATE_PCPTYPES else MIGRATE_MOVABLE, order)
        zone.pcp_list(cpu, pindex).append(pfn)  # list_add(): on the head, the array's end
        self.state[pfn] = pcp_code(order, mt)
        count = zone.pcp_count[cpu] + (1 << order)
        zone.pcp_count[cpu] = count
        self.record(
            (pfn << PFN_SHIFT) | PCP_BIT | (cpu << CPU_SHIFT) | (mt << 10) | (order << 6)
            | (order << 2) | KIND_FREE
        )  # fmt: skip
        free_factor = zone.pcp_free_factor[cpu]
        free_high = bool(free_factor) and 0 < order <= PAGE_ALLOC_COSTLY_ORDER
        high = 0 if free_high else zone.pcp_high  # nr_pcp_high()
        if high and zone.pcp_limits[2]:  # ZONE_RECLAIM_ACTIVE: kswapd is reclaiming
            high = min(zone.pcp_batch << 2, high)
        if count >= high:
            self.free_pcppages_bulk(zone, cpu, self.nr_pcp_free(zone, cpu, high, free_high), pindex)

    def nr_pcp_free(self, zone: Zone, cpu: int, high: int, free_high: bool) -> int:
        """How many pages a free above ``high`` gives back: nr_pcp_free() (L3422).

        Everything after order 1..3 frees in a row; 1 for a boot pageset (high < batch);
        else ``batch << free_factor`` clamped to [batch, high - batch], and free_factor grows
        (up to CONFIG_PCP_BATCH_SCALE_MAX) while frees come without allocations.
        """
        count = zone.pcp_count[cpu]
        if free_high:
            return count
        batch = zone.pcp_batch
        if high < batch:
            return 1
        min_nr_free, max_nr_free = batch, high - batch
        factor = zone.pcp_free_factor[cpu]
        batch <<= factor
        if batch < max_nr_free and factor < PCP_BATCH_SCALE_MAX:
            zone.pcp_free_factor[cpu] = factor + 1
        return max(min_nr_free, min(batch, max_nr_free))

    def free_pcppages_bulk(self, zone: Zone, cpu: int, count: int, pindex: int) -> None:
        """Give ``count`` pages from CPU ``cpu``'s pcp lists back to the buddy lists.

        Mirrors free_pcppages_bulk() (L1574): starting with list ``pindex``, round-robin over
        the non-empty lists, each time taking blocks from the list *tail* (the coldest) until
        that list is empty or the count is reached; each block goes through __free_one_page()
        with the migratetype it was stored with, or its pageblock's while the zone has an
        isolated pageblock (tracepoint mm_page_pcpu_drain).
        """
        count = min(zone.pcp_count[cpu], count)
        state = self.state
        lists = zone.pcp_lists[cpu * NR_PCP_LISTS : (cpu + 1) * NR_PCP_LISTS]
        min_pindex, max_pindex = 0, NR_PCP_LISTS - 1
        pindex -= 1
        drained = PCP_BIT | PCP_BULK_BIT | (cpu << CPU_SHIFT)
        while count > 0:
            while True:  # the next non-empty list, round robin
                pindex += 1
                if pindex > max_pindex:
                    pindex = min_pindex
                if lists[pindex]:
                    break
                if pindex == max_pindex:
                    max_pindex -= 1
                if pindex == min_pindex:
                    min_pindex += 1
            pcp_list = lists[pindex]
            order = pindex_to_order(pindex)
            taken = 0
            while True:
                pfn = pcp_list[taken]  # list_last_entry(): the tail is index 0, then 1...
                taken += 1
                count -= 1 << order
                zone.pcp_count[cpu] -= 1 << order
                if self.bulkfree_pcp_prepare is not None and self.bulkfree_pcp_prepare(pfn, order):
                    state[pfn] = ALLOCATED + order  # leaked: allocated to nobody
                else:
                    mt = (state[pfn] - PCP) & 7
                    if zone.nr_isolate_pageblock:  # "Pageblock could have been isolated meanwhile"
                        mt = self.pageblock_mt[pfn // PAGEBLOCK_NR_PAGES]
                    state[pfn] = TAIL
                    self.free_one_page(pfn, zone, order, mt, False, drained)
                if count <= 0 or taken == len(pcp_list):
                    break
            del pcp_list[:taken]  # list_del() of each block taken

    def drain_pages_zone(self, zone: Zone, cpu: int) -> None:
        """Give every page on CPU ``cpu``'s pcp lists of ``zone`` back: drain_pages_zone() (L3224).

        In chunks of ``batch << CONFIG_PCP_BATCH_SCALE_MAX`` pages, as 6.1 does.
        """
        while zone.pcp_count[cpu]:
            chunk = min(zone.pcp_count[cpu], zone.pcp_batch << PCP_BATCH_SCALE_MAX)
            self.free_pcppages_bulk(zone, cpu, chunk, 0)

    def pcp_pages(self, zone: Zone) -> int:
        """Pages sitting on the pcp lists of every CPU in ``zone``."""
        return sum(zone.pcp_count)

    # --- whole-zone views ----------------------------------------------------------------------
    def blocks(self, zone: Zone) -> Iterator[tuple[int, int, int]]:
        """Every block in the zone as (pfn, order, state), lowest pfn first (holes skipped)."""
        state = self.state
        pfn = zone.start_pfn
        end = zone.end_pfn
        while pfn < end:
            code = state[pfn]
            if 0 <= code < MAX_ORDER:
                yield pfn, code, code
                pfn += 1 << code
            elif ALLOCATED <= (plain := _PLAIN[code]) < RESERVED:  # a held head: its plain code
                order = plain & 15
                yield pfn, order, plain
                pfn += 1 << order
            elif code < PCP_END:
                order = (code - PCP) >> 3
                yield pfn, order, code
                pfn += 1 << order
            else:
                if code != TAIL:
                    yield pfn, 0, code
                pfn += 1
