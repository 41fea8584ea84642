"""The Kernel's slab API: kmem_cache_* and the kmalloc family; objects by address, in bytes.

kmalloc() is a front end to ready-made caches, one per size class (kmalloc-8 … kmalloc-8k,
plus kmalloc-96 and kmalloc-192), in four kinds: normal, ``dma-`` for GFP_DMA, ``-rcl-`` for
__GFP_RECLAIMABLE and ``-cg-`` for __GFP_ACCOUNT.  A request rounds up to its class, and the
bytes between what was asked for and what the class holds are wasted (internal
fragmentation).  Above 8 KiB kmalloc() goes straight to the page allocator with
``get_order(size)`` and __GFP_COMP.

The mistakes SLUB catches (freeing twice, freeing a pointer into the middle of an object,
freeing into the wrong cache, destroying a cache that still has objects) are reported in its
6.1 words when the cache is debugged (``Kernel(slub_debug=True)`` or the SLAB_* debug flags):
object_err()'s banner, who allocated and freed the object (SLAB_STORE_USER keeps a track per
object, only in such caches), and its red zones, poison and padding byte by byte, as the
real 6.1 in tests/real61/slub-debug-1G-2cpu printed them.  A double free is caught only if
nothing allocated the object in between: after a reuse the stale kfree() frees the new
owner's object silently.  Without debugging Linux mostly notices nothing and corrupts its
freelists, which kmviz refuses to do: it says what Linux would have done instead.
"""

from __future__ import annotations

from itertools import groupby

from .boot_caches import boot_caches, boot_objects
from .buddy import COMPOUND, OWNER_NONE, OWNER_SLAB, plain_code
from .constants import HZ, MEM_INIT_NS, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .events import (
    CacheCreated,
    CacheDestroyed,
    CacheMerged,
    ObjectFreed,
    SlabCreated,
    SlabFilled,
    SlabFreed,
    SlabsUnfrozen,
)
from .gfp import (
    __GFP_DMA32,
    __GFP_HIGHMEM,
    BIT,
    GFP_KERNEL,
    GFP_RECLAIM_MASK,
    describe_gfp,
    format_gfp,
    gfp_t,
)
from .history import (
    CALL_SITE,
    EXIT_SITE,
    OP_KFREE,
    OP_KMALLOC,
    OP_KMEM_CACHE_ALLOC,
    OP_KMEM_CACHE_FREE,
    OP_SLAB_FROZEN,
)
from .page import get_order
from .pagetable import VMALLOC_END, VMALLOC_START
from .printk import KERN_ERR, KERN_WARNING
from .reports import (
    TAINT_BAD_PAGE,
    TAINT_DIE,
    TAINT_WARN,
    dump_stack,
    hashed_pointer,
    kernel_bug,
    page_flags,
    print_tainted,
    struct_page_address,
    symbol,
    warning,
)
from .slab import (
    FREE_SLOT,
    SLAB_DEBUG_FLAGS,
    KmemCache,
    Slab,
    Track,
    create_unique_id,
    find_mergeable,
    set_cpu_partial,
    set_min_partial,
    slab_unmergeable,
)
from .slab_geometry import (
    KMALLOC_INDEXES,
    KMALLOC_KINDS,
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    SIZEOF_ORIG_SIZE,
    SIZEOF_STRUCT_TRACK,
    SIZEOF_VOID_P,
    SLAB_CACHE_DMA,
    SLAB_CACHE_DMA32,
    SLAB_CONSISTENCY_CHECKS,
    SLAB_KMALLOC,
    SLAB_POISON,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
    SLAB_TYPESAFE_BY_RCU,
    ZERO_SIZE_PTR,
    Geometry,
    kmalloc_cache_name,
    kmalloc_cache_size,
    kmalloc_geometry,
    kmalloc_index,
    kmalloc_size_roundup,
    kmalloc_type,
    slab_geometry,
)
from .vmalloc import VMALLOC_CALLER

INT_MAX = (1 << 31) - 1  # kvmalloc() refuses sizes above it

GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM  # mm/internal.h L36 (within the 27 bits)
# what new_slab() keeps of the caller's mask: GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK
# (mm/internal.h L24, L33): how hard to try and where, not which zone or migratetype;
# __GFP_ATOMIC stays, so a GFP_ATOMIC slab's pages print as GFP_ATOMIC|__GFP_NOWARN|...
NEW_SLAB_GFP_KEPT = GFP_RECLAIM_MASK | BIT.HARDWALL | BIT.THISNODE
# create_kmalloc_caches() makes 8 … 8k, with 96 right after 64 and 192 right after 128
KMALLOC_CREATION_ORDER = tuple(
    index
    for i in KMALLOC_INDEXES
    if i > 2
    for index in ((i, 1) if i == 6 else (i, 2) if i == 7 else (i,))
)
SLUB_DEBUG_FLAGS = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER
# kmalloc_index() of every slab-sized request, 1 .. KMALLOC_MAX_CACHE_SIZE bytes, as runs of
# (index, how many consecutive sizes have it): (3, 8), (4, 8), (5, 16), (6, 32), (1, 32) ...
KMALLOC_INDEX_RUNS = tuple(
    (index, len(tuple(sizes)))
    for index, sizes in groupby(range(1, KMALLOC_MAX_CACHE_SIZE + 1), kmalloc_index)
)
RULE = "=" * 77  # slab_bug()'s banner, and the dashes below it
DASHES = "-" * 77
# the bytes SLUB's debugging writes (include/linux/poison.h L44-50)
SLUB_RED_INACTIVE = 0xBB  # red zones of a free object
SLUB_RED_ACTIVE = 0xCC  # red zones of an allocated object
POISON_INUSE = 0x5A  # the whole slab when it is made (setup_slab_debug()): padding keeps it
POISON_FREE = 0x6B  # a free object's bytes ...
POISON_END = 0xA5  # ... but its last
NS_PER_JIFFY = 1_000_000_000 // HZ  # a track's "when" is in jiffies
_STARS = "*" * 58
_NOTICE = "**   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **"
_BLANK = "**" + " " * 54 + "**"
NO_HASH_POINTERS_NOTICE = (
    _STARS, _NOTICE, _BLANK,
    "** This system shows unhashed kernel memory addresses   **",
    "** via the console, logs, and other interfaces. This    **",
    "** might reduce the security of your system.            **",
    _BLANK,
    "** If you see this message and you are not debugging    **",
    "** the kernel, report this immediately to your system   **",
    "** administrator!                                       **",
    _BLANK, _NOTICE, _STARS,
)  # fmt: skip
# set_track_prepare()'s stack_trace_save(…, 3) starts at the function the caller called
TRACK_ENTRY = {"kmalloc": "__kmalloc"}  # kmalloc() of a size known only at run time
FREE_FRAME = "free_to_partial_list"  # where a debugged cache's free is checked (L3421)
# the frames under alloc_debug_processing() (L1386), down to the allocator the caller called
ALLOC_FRAMES = {
    "kmalloc": ("get_partial_node", "___slab_alloc", "__kmem_cache_alloc_node", "__kmalloc"),
    "kmem_cache_alloc": ("get_partial_node", "___slab_alloc", "kmem_cache_alloc"),
}


class SlabAPI:
    """Mixin for Kernel: caches, kmalloc, and SLUB's reports."""

    # --- boot ------------------------------------------------------------------------------
    def _slab_structures(self) -> None:
        """The slab allocator's bookkeeping, empty until kmem_cache_init()."""
        self.caches: list[KmemCache] = []  # creation order; /proc/slabinfo prints newest first
        self.slab_by_pfn: dict[int, Slab] = {}  # every page of every slab
        self._fast_slabs = self.slab_by_pfn  # what kfree()'s fast path sees (nothing after a panic)
        self.large_kmalloc: dict[int, tuple[int, int, int]] = {}  # addr -> (pfn, order, req)
        self.kmalloc_caches: dict[tuple[str, int], KmemCache] = {}
        self._kmalloc_tables: dict[int, list] = {}  # what kmalloc()'s fast paths look up
        self._tables_by_mask: dict[int, list] = {}  # GFP mask -> its cache for each size
        self._tables_by_kind: dict[str, list] = {}  # the same tables by kmalloc type
        self._track_stacks: dict[tuple, tuple[str, ...]] = {}  # SLAB_STORE_USER's stacks

    def _kmem_cache_init(self) -> None:
        """The caches boot leaves: kmem_cache_init(), create_kmalloc_caches(), then the rest.

        With ``boot_caches`` every cache of kmviz/data/boot-caches-6.1.tsv in
        its creation order, the kmalloc array where 6.1 makes it (after SLUB's own
        kmem_cache_node and kmem_cache), with its aliases and its objects; else only the
        kmalloc caches, empty.  With slub_debug, first no_hash_pointers_enable()'s notice
        (lib/vsprintf.c L2234), right after the ``Memory:`` line as in the capture.
        """
        if self.slub_debug:
            for line in NO_HASH_POINTERS_NOTICE:
                self._printk(KERN_WARNING, line, at_ns=MEM_INIT_NS)
        if not self.boot_caches:
            self._create_kmalloc_caches()
            return
        table = boot_caches()
        for entry in table:
            if entry.name.startswith(("kmalloc-", "dma-kmalloc-")):
                if not self.kmalloc_caches:
                    self._create_kmalloc_caches()
                continue
            self._create_boot_cache(entry)
        names = {cache.name: cache for cache in self.caches}
        for entry in table:
            cache = names.get(entry.name)
            if cache is not None:
                self._fill_boot_cache(cache, boot_objects(entry, self.mem))

    def _create_boot_cache(self, entry) -> None:
        """One cache of the boot table, unmerged, as the booted kernel has it, aliases too."""
        flags = entry.flags | (SLUB_DEBUG_FLAGS if self.slub_debug else 0)
        ctor = _boot_ctor if entry.merge == "ctor" else None
        geometry = slab_geometry(
            entry.object_size, entry.align, flags, self.cpus, has_ctor=ctor is not None
        )
        cache = self._new_cache(entry.name, entry.object_size, flags, ctor, geometry)
        if entry.merge == "usercopy":  # kmem_cache_create_usercopy(): the whole object
            cache.usersize = entry.object_size
        elif entry.merge == "boot":  # create_boot_cache(): "Exempt from merging for now"
            cache.refcount = -1
        for alias in entry.aliases:
            cache.refcount += 1
            cache.aliases.append(alias)
            self.history.append_object(CacheMerged(alias, cache.name))

    def _fill_boot_cache(self, cache: KmemCache, count: int) -> None:
        """``count`` objects in ``cache``, whole slabs first, the last slab the active one.

        The objects boot allocated, without an event each (one SlabFilled per slab); their
        requested size is recorded as 0: who asked for how much is not known, and
        fragmentation() and leaks() leave them out.
        """
        while count > 0:
            slab = self._new_slab(cache, GFP_KERNEL)
            if slab is None:  # a small machine out of room: boot keeps what it got
                return
            take = min(count, slab.objects)
            for index in slab.freelist[-take:]:
                slab.requested[index] = 0
            del slab.freelist[-take:]
            count -= take
            self.history.append_object(SlabFilled(cache.name, slab.pfn, take))
            if slab.freelist and cache.flags & SLAB_DEBUG_FLAGS:
                cache.partial.insert(0, slab)  # a debugged cache has no CPU slab
            elif slab.freelist:
                cache.cpu_slab = slab
                slab.frozen = True

    def _create_kmalloc_caches(self) -> None:
        """create_kmalloc_caches(): every size class of every kind, in the kernel's order."""
        slub_debug = self.slub_debug
        for kind in KMALLOC_KINDS:
            if kind == "dma" and not self.zone_dma:
                continue  # without CONFIG_ZONE_DMA, KMALLOC_DMA is KMALLOC_NORMAL
            for index in KMALLOC_CREATION_ORDER:
                flags = SLAB_CACHE_DMA if kind == "dma" else 0
                flags |= SLAB_RECLAIM_ACCOUNT if kind == "reclaim" else 0
                flags |= SLUB_DEBUG_FLAGS if slub_debug else 0
                geometry = kmalloc_geometry(index, flags, self.cpus)
                name = kmalloc_cache_name(index, kind)
                size = kmalloc_cache_size(index)
                cache = self._new_cache(name, size, flags, None, geometry)
                cache.kmalloc = True
                # new_kmalloc_cache() (mm/slab_common.c L848): the whole object may be copied
                # to user space (usersize), and with CONFIG_MEMCG_KMEM the normal kind is
                # exempt from merging (refcount -1): nothing is ever merged into them
                cache.usersize = size
                cache.refcount = -1 if kind == "normal" else 1
                self.kmalloc_caches[kind, index] = cache

    def _new_cache(self, name: str, size: int, flags: int, ctor, g: Geometry) -> KmemCache:
        """A cache with geometry ``g`` (kmem_cache_open()), recorded and announced."""
        cpu_partial, cpu_partial_slabs = set_cpu_partial(
            g.size, g.objects, bool(flags & SLAB_DEBUG_FLAGS)
        )
        cache = KmemCache(
            name=name,
            object_size=size,
            size=g.size,
            align=g.align,
            flags=flags,
            order=g.order,
            objects=g.objects,
            min_order=g.min_order,
            min_objects=g.min_objects,
            red_left_pad=g.red_left_pad,
            min_partial=set_min_partial(g.size),
            cpu_partial=cpu_partial,
            cpu_partial_slabs=cpu_partial_slabs,
            inuse=g.inuse,
            offset=g.offset,
            ctor=ctor,
            debug=bool(flags & SLAB_CONSISTENCY_CHECKS),
        )
        if flags & SLAB_DEBUG_FLAGS:
            self._slab_debug_paths()
        self.caches.append(cache)
        self.history.append_object(
            CacheCreated(name, size, g.size, g.objects, g.order, g.red_left_pad)
        )
        return cache

    # --- caches ----------------------------------------------------------------------------
    def kmem_cache_create(self, name: str, size: int, align: int = 0, flags: int = 0, ctor=None):
        """A new cache of ``size``-byte objects, or None (with the kernel's message).

        Mirrors kmem_cache_create_usercopy() (mm/slab_common.c L274): the integrity check
        refuses a missing name, interrupt context and sizes above KMALLOC_MAX_SIZE.  Unless
        the machine was booted with ``slab_nomerge``, a cache without a constructor whose
        objects fit an existing cache's slots is not created: ``__kmem_cache_alias()`` returns
        that cache (``find_mergeable()``), one more reference on it, and ``name`` becomes its
        alias (``cache.aliases``, a symlink in /sys/kernel/slab); its objects come from the
        other cache's slabs, and /proc/slabinfo lists only that cache.
        """
        self._check_alive()
        if not isinstance(name, str) or not name:
            raise TypeError("kmem_cache_create() needs a name (non-empty str)")
        for what, value in (("size", size), ("align", align), ("flags", flags)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TypeError(f"kmem_cache_create() {what} must be an int >= 0, not {value!r}")
        if ctor is not None and not callable(ctor):
            raise TypeError(f"kmem_cache_create() ctor must be a function or None, not {ctor!r}")
        if self.in_interrupt() or not 0 < size <= KMALLOC_MAX_SIZE or self.boot_stage != "running":
            self._printk(KERN_ERR, f"kmem_cache_create({name}) integrity check failed")
            self._print_lines(
                dump_stack(KERN_WARNING, self.comm, self.pid, self.taint,
                           self._trace("dump_stack_lvl", "kmem_cache_create_usercopy"))
            )  # fmt: skip
            self._notify()
            return None
        if " " in name:  # WARN_ON(strchr(name, ' ')): it confuses parsers
            self._print_lines(
                warning("mm/slab_common.c:97", self.comm, self.pid, self.taint,
                        self._trace("kmem_cache_create_usercopy"))
            )  # fmt: skip
            self.taint |= 1 << TAINT_WARN
        if self.slub_debug:
            flags |= SLUB_DEBUG_FLAGS
        merged = None
        if not self.slab_nomerge:
            merged = find_mergeable(self.caches, size, align, flags, ctor)
        if merged is not None:
            merged.refcount += 1
            merged.aliases.append(name)
            # "so that we clear the complete object on kzalloc" (mm/slub.c L4924)
            merged.object_size = max(merged.object_size, size)
            self.history.append_object(CacheMerged(name, merged.name))
            self._notify()
            return merged
        if any(cache.name == name for cache in self.caches):
            self._duplicate_cache(name)
            self._notify()
            return None
        # a constructor's work must survive a free: the free pointer goes after the object
        geometry = slab_geometry(
            size, align=align, flags=flags, cpus=self.cpus, has_ctor=ctor is not None
        )
        cache = self._new_cache(name, size, flags, ctor, geometry)
        self._notify()
        return cache

    def _duplicate_cache(self, name: str) -> None:
        """A second cache called ``name``: sysfs refuses the name and the creation fails.

        A cache that could not be merged (a constructor, or slab_nomerge) is not given a
        unique id: sysfs_slab_add() (mm/slub.c L5949) names the directory after the cache;
        kernfs finds /sys/kernel/slab/<name> taken
        (sysfs_warn_dup(), fs/sysfs/dir.c L32), kobject_add_internal() says why (lib/kobject.c
        L244) and kmem_cache_create_usercopy() returns NULL with -EEXIST (mm/slab_common.c
        L338).
        """
        frames = (
            "kobject_add_internal",
            "kobject_init_and_add",
            "sysfs_slab_add",
            "__kmem_cache_create",
            "kmem_cache_create_usercopy",
            "kmem_cache_create",
        )
        lines = [(KERN_WARNING, f"sysfs: cannot create duplicate filename '/kernel/slab/{name}'")]
        lines += dump_stack(
            KERN_WARNING,
            self.comm,
            self.pid,
            self.taint,
            self._trace("dump_stack_lvl", "sysfs_warn_dup", "sysfs_create_dir_ns", *frames),
        )
        lines.append(
            (
                KERN_ERR,
                f"kobject_add_internal failed for {name} with -EEXIST, don't try to "
                "register things with the same name in the same directory.",
            )
        )
        lines.append((KERN_WARNING, f"kmem_cache_create({name}) failed with error -17"))
        lines += dump_stack(
            KERN_WARNING,
            self.comm,
            self.pid,
            self.taint,
            self._trace("dump_stack_lvl", "kmem_cache_create_usercopy", "kmem_cache_create"),
        )
        self._print_lines(lines)  # fmt: skip

    def kmem_cache_destroy(self, cache: KmemCache | None) -> None:
        """Remove an empty cache; with objects left, warn and keep it (mm/slab_common.c L475)."""
        self._check_alive()
        if cache is None:
            return
        self._require_cache(cache)
        if cache.refcount > 1:  # an alias goes: the cache stays for its other users
            cache.refcount -= 1
            self._notify()
            return
        if cache.kmalloc:
            # Linux would free a kmalloc cache kmalloc() still hands out objects from
            self._printk(
                KERN_WARNING,
                f"kmviz: kmem_cache_destroy({cache.name}): a kmalloc cache; Linux would free it "
                "while kmalloc() keeps using it, and the next kmalloc() of its size would touch "
                "freed memory; nothing was destroyed",
            )
            self._notify()
            return
        self._flush_cpu_slab(cache)
        self._shrink(cache)
        if cache.slabs:
            text = f"Objects remaining in {cache.name} on __kmem_cache_shutdown()"
            frames = ("__kmem_cache_shutdown", "kmem_cache_destroy")
            for slab in sorted(cache.slabs, key=lambda s: s.pfn):
                if not slab.inuse:
                    continue
                # list_slab_objects() (mm/slub.c L4391): slab_err(), then each object in use
                # with its offset in the slab (after the left red zone) and print_tracking()
                self._print_lines(self._slab_err_lines(cache, slab, text, frames))
                self._add_taint_bad_page()
                page = PAGE_OFFSET + (slab.pfn << PAGE_SHIFT)
                for index in sorted(set(range(slab.objects)) - set(slab.freelist)):
                    addr = slab.address(index)
                    self._printk(KERN_ERR, f"Object 0x{self._ptr(addr)} @offset={addr - page}")
                    self._print_lines(self._tracking_lines(cache, addr))
            self._print_lines(
                warning("mm/slab_common.c:498", self.comm, self.pid, self.taint,
                        self._trace("kmem_cache_destroy"),
                        f"kmem_cache_destroy {cache.name}: Slab cache still has objects when "
                        f"called from {EXIT_SITE}")
            )  # fmt: skip
            self.taint |= 1 << TAINT_WARN
        else:
            self.caches.remove(cache)
            cache.refcount = 0
            self.history.append_object(CacheDestroyed(cache.name))
        self._notify()

    def kmem_cache_shrink(self, cache: KmemCache) -> int:
        """Give every empty slab back to the page allocator; 0, as the kernel returns."""
        self._check_alive()
        self._require_cache(cache)
        self._flush_cpu_slab(cache)
        self._shrink(cache)
        self._notify()
        return 0

    def kmem_cache_alloc(self, cache: KmemCache, gfp) -> int:
        """An object's address from ``cache``, or 0 (NULL).

        Mirrors kmem_cache_alloc() (mm/slub.c L3388) -> slab_alloc_node() (L3276): the next
        free object of the CPU's active slab, else ___slab_alloc() (L3015) refills the active
        slab (_slab_alloc()).  With the C fast path built, kmviz/engine/_fastpath.c runs this
        for a cache without debugging, new slabs included (their pages from _slab_pages())
        except a constructor cache's, and calls this method for everything else.
        """
        self._require_cache(cache)
        addr = self._slab_alloc(cache, gfp, cache.object_size, "kmem_cache_alloc")
        self._notify()
        return addr

    def kmem_cache_free(self, cache: KmemCache, addr: int) -> None:
        """Give object ``addr`` back to ``cache``.

        Mirrors kmem_cache_free() (mm/slub.c L3710): cache_from_obj() checks the cache, then
        slab_free() -> do_slab_free() (L3625), which frees into the CPU's active slab, or
        __slab_free() (L3492) for any other slab (_kfree()).  The C fast path runs this for a
        live object of a cache without debugging and calls this method for everything else.
        """
        self._check_alive()
        self._require_cache(cache)
        addr = self._require_addr(addr)
        self._kfree(addr, cache, "kmem_cache_free")
        self._notify()

    # --- kmalloc ---------------------------------------------------------------------------
    def kmalloc(self, size: int, gfp) -> int:
        """``size`` bytes from the matching kmalloc cache (or the page allocator above 8 KiB).

        kmalloc(0) returns ZERO_SIZE_PTR (16); above KMALLOC_MAX_SIZE (4 MiB) the page
        allocator's order check warns and the result is NULL.
        """
        # Fast path: a mask seen before, a slab-sized request, a free slot in the active slab.
        try:
            table = self._kmalloc_tables[gfp]  # True == 1 finds GFP_DMA's: only an int passes
            if (
                size.__class__ is int
                and gfp.__class__ is int
                and 0 < size <= KMALLOC_MAX_CACHE_SIZE
                and not self.atomic
            ):
                cache = table[size]
                slab = cache.cpu_slab
                if (slab is None or not slab.freelist) and (cache.percpu_partial or cache.partial):
                    # ___slab_alloc(): the CPU's newest partial slab becomes the active one,
                    # else get_partial_node()'s; the full one leaves (on no list)
                    if slab is not None:
                        slab.frozen = False
                    if cache.percpu_partial:
                        slab = cache.percpu_partial.pop()
                    else:
                        slab = self._get_partial_node(cache)
                    slab.frozen = True
                    cache.cpu_slab = slab
                if slab is not None and slab.freelist:
                    slot = slab.freelist.pop()
                    addr = slab.base + slot * cache.size
                    slab.requested[slot] = size
                    self.history.append_slab(OP_KMALLOC, slab.pfn, slot, cache, size, gfp)
                    if self.notify_each_call[0]:
                        self.tick += 1
                    return addr
        except (KeyError, TypeError):
            pass
        addr = self._kmalloc(size, gfp)
        self._notify()
        return addr

    def _kmalloc(self, size, gfp) -> int:
        """kmalloc() for everything the fast path does not take: checks, refills, large sizes."""
        self._check_alive()
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TypeError(f"kmalloc() size must be an int >= 0 bytes, not {size!r}")
        mask = gfp_t(gfp)
        if size == 0:
            return ZERO_SIZE_PTR
        if self.boot_stage != "running":  # before kmem_cache_init() kmalloc_slab() is NULL
            return 0
        if size > KMALLOC_MAX_CACHE_SIZE:
            return self._kmalloc_large(size, mask)
        table = self._tables_by_mask.get(mask) or self._kmalloc_table(mask)
        if gfp.__class__ is int and not self.slub_debug:  # debugged caches: never the fast path
            self._kmalloc_tables[gfp] = table
        return self._slab_alloc(table[size], mask, size, "kmalloc")

    def _kmalloc_table(self, gfp: int) -> list:
        """kmalloc_slab() for every size 1..8192 under ``gfp``: its cache, by size.

        One table per kmalloc type, shared by the masks of that type.
        """
        kind = kmalloc_type(gfp)
        if kind == "dma" and not self.zone_dma:
            kind = "normal"  # without CONFIG_ZONE_DMA, KMALLOC_DMA is KMALLOC_NORMAL
        table = self._tables_by_kind.get(kind)
        if table is None:
            caches = self.kmalloc_caches
            table = [None]  # size 0 is ZERO_SIZE_PTR's, never looked up
            for index, sizes in KMALLOC_INDEX_RUNS:
                table += [caches[kind, index]] * sizes
            self._tables_by_kind[kind] = table
        self._tables_by_mask[gfp] = table
        return table

    def kzalloc(self, size: int, gfp) -> int:
        """kmalloc(size, gfp | __GFP_ZERO)."""
        return self.kmalloc(size, gfp_t(gfp) | BIT.ZERO)

    def kcalloc(self, n: int, size: int, gfp) -> int:
        """Zeroed memory for ``n`` elements of ``size`` bytes; NULL if n * size overflows."""
        for what, value in (("n", n), ("size", size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TypeError(f"kcalloc() {what} must be an int >= 0, not {value!r}")
        if n * size >= 1 << 64:  # check_mul_overflow() on size_t
            return 0
        return self.kzalloc(n * size, gfp)

    def krealloc(self, addr: int, new_size: int, gfp) -> int:
        """Resize: the same address if the object's slot already holds ``new_size``.

        Mirrors __do_krealloc(): ``ksize(p) >= new_size`` keeps ``p``; otherwise a new object,
        the old one freed.  ``krealloc(p, 0)`` frees ``p`` and returns ZERO_SIZE_PTR.
        """
        addr = self._require_addr(addr)
        if new_size == 0:
            self.kfree(addr)
            return ZERO_SIZE_PTR
        if addr > ZERO_SIZE_PTR and self.ksize(addr) >= new_size:
            return addr
        new = self.kmalloc(new_size, gfp)
        if new and addr > ZERO_SIZE_PTR:
            self.kfree(addr)
        return new

    def kvmalloc(self, size: int, gfp) -> int:
        """kmalloc() first, vmalloc() if that fails for more than a page; 0 (NULL) if both do.

        Mirrors kvmalloc_node() (mm/util.c L559): above PAGE_SIZE the kmalloc attempt gets
        __GFP_NOWARN and __GFP_NORETRY (unless __GFP_RETRY_MAYFAIL) and loses __GFP_NOFAIL,
        since vmalloc is the fallback; a page or less never falls back, nor does a mask that
        may not sleep (vmalloc needs GFP_KERNEL).  Free the result with kvfree().  (6.1 on
        x86-64 also passes VM_ALLOW_HUGE_VMAP, so 2 MiB or more may be mapped with 2 MiB pages
        from order-9 blocks; kmviz maps 4 KiB pages, as vmalloc() does.)
        """
        flags = gfp_t(gfp)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TypeError(f"kvmalloc() size must be an int >= 0 bytes, not {size!r}")
        first = flags
        if size > PAGE_SIZE:
            first |= BIT.NOWARN
            if not first & BIT.RETRY_MAYFAIL:
                first |= BIT.NORETRY
            first &= ~BIT.NOFAIL
        addr = self.kmalloc(size, first)
        if addr or size <= PAGE_SIZE or not flags & BIT.DIRECT_RECLAIM:
            return addr
        if size > INT_MAX:  # "Don't even allow crazy sizes"
            return 0
        addr = self._vmalloc(size, flags, VMALLOC_CALLER)
        self._notify()
        return addr

    def kvzalloc(self, size: int, gfp) -> int:
        """kvmalloc(size, gfp | __GFP_ZERO)."""
        return self.kvmalloc(size, gfp_t(gfp) | BIT.ZERO)

    def kvfree(self, addr: int) -> None:
        """kvfree() (mm/util.c): vfree() for a vmalloc address, else kfree(); NULL does nothing."""
        addr = self._require_addr(addr)
        if VMALLOC_START <= addr <= VMALLOC_END:  # is_vmalloc_addr()
            self.vfree(addr)
        else:
            self.kfree(addr)

    def kfree(self, addr: int) -> None:
        """Free a kmalloc'ed object; kfree(NULL) and kfree(ZERO_SIZE_PTR) do nothing."""
        # Fast path: a live slab object of a slab that stays where it is.
        if addr.__class__ is int:
            slab = self._fast_slabs.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)
            if slab is not None:
                cache = slab.cache
                freelist = slab.freelist
                slot, into = divmod(addr - slab.base, cache.size)
                live = not into and 0 <= slot < slab.objects and slab.requested[slot] != FREE_SLOT
                # a full slab on no list goes to the CPU's partial list (put_cpu_partial());
                # caches without one (debugged) take the Python path below
                put = not freelist and not slab.frozen
                if live and (not put or cache.cpu_partial_slabs):
                    slab.requested[slot] = FREE_SLOT
                    history = self.history
                    history.append_slab(OP_KFREE, slab.pfn, slot, cache)
                    freelist.append(slot)
                    if put:
                        partial = cache.percpu_partial
                        if len(partial) < cache.cpu_partial_slabs:
                            slab.frozen = True
                            partial.append(slab)
                            history.append_slab(OP_SLAB_FROZEN, slab.pfn, 0, cache)
                        else:  # the list is full: it drains
                            self._put_cpu_partial(slab)
                    elif len(freelist) == slab.objects and not slab.frozen:
                        self._slab_emptied(slab)
                    if self.notify_each_call[0]:
                        self.tick += 1
                    return
        self._check_alive()
        addr = self._require_addr(addr)
        self._kfree(addr, None, "kfree")
        self._notify()

    def ksize(self, addr: int) -> int:
        """Bytes usable at ``addr``: the slot size of its cache (ksize(), slab_common.c L1400)."""
        addr = self._require_addr(addr)
        if addr <= ZERO_SIZE_PTR:
            return 0
        if addr in self.large_kmalloc:
            return PAGE_SIZE << self.large_kmalloc[addr][1]
        slab = self._slab_of(addr)
        if slab is None or slab.index_of(addr) is None:
            return 0
        cache = slab.cache
        return cache.object_size if cache.flags & (SLAB_RED_ZONE | SLAB_POISON) else cache.size

    def kmalloc_size_roundup(self, size: int) -> int:
        """What kmalloc(size) would really allocate, without allocating."""
        return kmalloc_size_roundup(size)

    def kmalloc_cache(self, name: str) -> KmemCache:
        """The cache called ``name`` ("kmalloc-96", "dma-kmalloc-1k", or your own, or an alias)."""
        for cache in self.caches:
            if cache.name == name:
                return cache
        for cache in self.caches:
            if name in cache.aliases:
                return cache
        raise KeyError(f"no slab cache called {name!r}")

    def sysfs_slab(self) -> dict[str, str]:
        """``ls -l /sys/kernel/slab``: every entry, a directory to itself, a symlink to its target.

        Mirrors sysfs_slab_add() and sysfs_slab_alias() (mm/slub.c L5949, L6029): a cache
        nothing can be merged into has a directory of its own name; a mergeable one a
        directory named by create_unique_id() (``:0000064``) and a symlink of its name to it,
        and so does every alias merged into it::

            {"kmalloc-64": "kmalloc-64", ":0000064": ":0000064", "my_obj": ":0000064", ...}
        """
        entries = {}
        for cache in self.caches:
            if self.slab_nomerge or slab_unmergeable(cache):
                entries[cache.name] = cache.name
                continue
            directory = create_unique_id(cache)
            entries[directory] = directory
            for name in (cache.name, *cache.aliases):
                entries[name] = directory
        return dict(sorted(entries.items()))

    def fragmentation_total(self) -> tuple[int, int]:
        """(bytes requested, bytes handed out) over every live slab object and large kmalloc."""
        requested = allocated = 0
        for req, alloc in self.fragmentation().values():
            requested += req
            allocated += alloc
        for _, order, req in self.large_kmalloc.values():
            requested += req
            allocated += PAGE_SIZE << order
        return requested, allocated

    def fragmentation(self) -> dict[str, tuple[int, int]]:
        """Per cache with live objects: (bytes requested, bytes handed out)."""
        result = {}
        for c in self.caches:
            asked = [size for size in c.requested.values() if size]  # 0: a boot object
            if asked:
                result[c.name] = (sum(asked), len(asked) * c.size)
        return result

    def leaks(self) -> dict[str, int]:
        """Live objects by allocation site, kmemleak-style: {call site: count}."""
        live = sum(  # boot's own objects (requested 0) are not the learner's leaks
            len(cache.requested) - list(cache.requested.values()).count(0) for cache in self.caches
        ) + len(self.large_kmalloc)
        return {CALL_SITE: live} if live else {}

    # --- allocation ------------------------------------------------------------------------
    def _slab_alloc(self, cache: KmemCache, gfp, requested: int, tracepoint: str) -> int:
        """slab_alloc_node(): the active slab's next free object, refilling it when empty (a
        debugged cache: from its node's partial list, _alloc_single())."""
        self._check_alive()
        gfp = gfp_t(gfp)
        if gfp & BIT.DIRECT_RECLAIM and self.atomic:  # slab_pre_alloc_hook(): might_alloc()
            # slab_alloc_node() and its hook are inlined: a kmalloc() of a constant size is
            # kmalloc_trace() -> __kmem_cache_alloc_node() in 6.1 (mm/slab_common.c, slub.c)
            frames = ("kmem_cache_alloc",)
            if tracepoint == "kmalloc":
                frames = ("__kmem_cache_alloc_node", "kmalloc_trace")
            self._might_sleep(gfp, "include/linux/sched/mm.h:274", frames)
        if cache.flags & SLAB_DEBUG_FLAGS:  # kmem_cache_debug(): no CPU slab
            slab, addr = self._alloc_single(cache, gfp, tracepoint)
        else:
            slab = cache.cpu_slab
            if slab is None or not slab.freelist:
                slab = self._refill_cpu_slab(cache, gfp)
            addr = slab.address(slab.freelist.pop()) if slab is not None else 0
        if not addr:
            self._slab_out_of_memory(cache, gfp)
            return 0
        if gfp & BIT.ZERO and cache.flags & SLAB_POISON:  # slab_post_alloc_hook()'s memset()
            self._write_slots(slab, addr, addr + cache.object_size, 0)
        slot = (addr - slab.base) // cache.size
        slab.requested[slot] = requested
        if cache.flags & SLAB_STORE_USER:
            self._set_track(cache, addr, 0, TRACK_ENTRY.get(tracepoint, tracepoint))
        op = OP_KMALLOC if tracepoint == "kmalloc" else OP_KMEM_CACHE_ALLOC
        self.history.append_slab(op, slab.pfn, slot, cache, requested, gfp)
        return addr

    def _alloc_single(self, cache: KmemCache, gfp: int, tracepoint: str) -> tuple:
        """___slab_alloc() of a debugged cache (mm/slub.c L3140, L3171): (slab, object) or
        (None, 0).

        Such a cache has no CPU slab and no per-CPU lists: get_partial_node() takes one object
        from the node's first partial slab that passes alloc_debug_processing()
        (alloc_single_from_partial(), L2085; a full slab leaves the list), else a new slab
        gives its first object (alloc_single_from_new_slab(), L2115) and, not full, heads the
        partial list.  The free that follows puts the object back first in its slab's free
        list, so the next allocation gets the object just freed while its slab heads the list.
        """
        for slab in list(cache.partial):
            addr = slab.address(slab.freelist.pop())
            ok = not cache.images or self._alloc_debug_processing(slab, addr, tracepoint)
            if not slab.freelist:  # full (add_full()), or given up by the check (remove_partial)
                cache.partial.remove(slab)
            if ok:
                return slab, addr
        slab = self._new_slab(cache, gfp)
        if slab is None:
            return None, 0
        addr = slab.address(slab.freelist.pop())
        if slab.freelist:
            cache.partial.insert(0, slab)  # add_partial(n, slab, DEACTIVATE_TO_HEAD)
        return slab, addr

    def _refill_cpu_slab(self, cache: KmemCache, gfp: int) -> Slab | None:
        """___slab_alloc() (mm/slub.c L3015): the next active slab, or None (out of memory).

        The full active slab leaves, on no list (SLUB keeps none of full slabs); then the
        newest slab of the CPU's partial list, else get_partial_node()'s, else a new slab.
        """
        old = cache.cpu_slab
        if old is not None:
            old.frozen = False
            cache.cpu_slab = None
        if cache.percpu_partial:
            slab = cache.percpu_partial.pop()
        elif cache.partial:
            slab = self._get_partial_node(cache)
        else:
            slab = self._new_slab(cache, gfp)
            if slab is None:
                return None
        slab.frozen = True
        cache.cpu_slab = slab
        return slab

    def _get_partial_node(self, cache: KmemCache) -> Slab:
        """get_partial_node() (mm/slub.c L2205): the node's first partial slab, and more.

        The first becomes the active slab; with a per-CPU partial list the next ones go
        there (put_cpu_partial() without draining) until more than half of
        ``cpu_partial_slabs`` have: 12 slabs allowed, 7 move.
        """
        slab = cache.partial.pop(0)
        moved = 0
        while cache.partial and cache.cpu_partial_slabs and moved <= cache.cpu_partial_slabs // 2:
            extra = cache.partial.pop(0)
            extra.frozen = True
            cache.percpu_partial.append(extra)
            self.history.append_slab(OP_SLAB_FROZEN, extra.pfn, 0, cache)
            moved += 1
        return slab

    def _put_cpu_partial(self, slab: Slab) -> None:
        """put_cpu_partial(drain=1) (mm/slub.c L2639): the slab heads the CPU's partial list.

        A list already ``cpu_partial_slabs`` long is replaced by this slab alone, and its
        slabs go to the node's list (__unfreeze_partials()).
        """
        cache = slab.cache
        full = cache.percpu_partial
        drained = []
        if full and len(full) >= cache.cpu_partial_slabs:
            drained, cache.percpu_partial = full, []
        slab.frozen = True
        cache.percpu_partial.append(slab)
        self.history.append_slab(OP_SLAB_FROZEN, slab.pfn, 0, cache)
        if drained:
            self._unfreeze_partials(cache, drained)

    def _unfreeze_partials(self, cache: KmemCache, slabs: list[Slab]) -> None:
        """__unfreeze_partials() (mm/slub.c L2543): ``slabs`` (head last) to the node's list.

        Head first, each to the tail of the node's partial list, except an empty one while
        the node already has min_partial partial slabs: those are discarded afterwards.
        """
        self.history.append_object(SlabsUnfrozen(cache.name, tuple(s.pfn for s in slabs[::-1])))
        discard = []
        for slab in reversed(slabs):
            slab.frozen = False
            if not slab.inuse and len(cache.partial) >= cache.min_partial:
                discard.append(slab)
            else:
                cache.partial.append(slab)
        for slab in discard:
            self._discard_slab(slab)

    def _new_slab(self, cache: KmemCache, gfp: int) -> Slab | None:
        """allocate_slab() (mm/slub.c L1929): try the cache's order, then its minimum order."""
        if gfp & GFP_SLAB_BUG_MASK:  # new_slab()
            gfp = self._fix_flags(gfp, "new_slab")
        # new_slab() keeps how and where to try (no zone, no migratetype, no __GFP_ZERO ...);
        # allocate_slab() adds s->allocflags, the zone and migratetype of the cache's own
        # flags (calculate_sizes(), mm/slub.c L4311): kmem_cache_alloc(s, GFP_DMA) of a cache
        # without SLAB_CACHE_DMA gets no DMA pages
        flags = gfp & NEW_SLAB_GFP_KEPT
        if cache.flags & SLAB_CACHE_DMA:
            flags |= BIT.DMA
        if cache.flags & SLAB_CACHE_DMA32:
            flags |= BIT.DMA32
        if cache.flags & SLAB_RECLAIM_ACCOUNT:
            flags |= BIT.RECLAIMABLE
        order, objects = cache.order, cache.objects
        if order:  # and __GFP_COMP for a cache of order > 0, in both tries (even at order 0)
            flags |= BIT.COMP
        # the first, preferred-order try may fail under pressure: no warning, no retries,
        # and above the minimum order no reclaim either (it would only delay the fallback)
        first = (flags | BIT.NOWARN | BIT.NORETRY) & ~BIT.NOFAIL
        if first & BIT.DIRECT_RECLAIM and order > cache.min_order:
            first = (first | BIT.NOMEMALLOC) & ~BIT.RECLAIM
        pfn = self._slab_pages(first, order, "allocate_slab")
        if pfn < 0:  # then the minimum order with the caller's own flags, whatever the order
            order, objects = cache.min_order, cache.min_objects
            pfn = self._slab_pages(flags, order, "allocate_slab")
        if pfn < 0:
            return None
        slab = Slab(cache, pfn, order, objects, list(range(objects - 1, -1, -1)))
        if cache.ctor is not None:  # setup_object(): the constructor runs once per slot
            try:
                for index in range(objects):
                    cache.ctor(slab.address(index))
            except Exception:  # the learner's ctor failed: give the pages back, then say so
                self._free(pfn, order, "allocate_slab")
                self._notify()
                raise
        for page in range(pfn, pfn + (1 << order)):
            self.slab_by_pfn[page] = slab
        self.buddy.set_owner(pfn, OWNER_SLAB)  # PG_slab, on the head page (folio flag)
        cache.slabs.add(slab)
        self.history.append_object(SlabCreated(cache.name, pfn, order, objects))
        return slab

    def _fix_flags(self, gfp: int, caller: str) -> int:
        """kmalloc_fix_flags() (mm/slab_common.c L1049) called by ``caller``: ``gfp`` without
        its GFP_SLAB_BUG_MASK bits, after a warning with a stack trace."""
        fixed = gfp & ~GFP_SLAB_BUG_MASK
        invalid = gfp & GFP_SLAB_BUG_MASK
        self._printk(  # "%#x (%pGg)"
            KERN_WARNING,
            f"Unexpected gfp: {invalid:#x} ({format_gfp(invalid)}). Fixing up to gfp: "
            f"{fixed:#x} ({format_gfp(fixed)}). Fix your code!",
        )
        self._print_lines(
            dump_stack(KERN_WARNING, self.comm, self.pid, self.taint,
                       self._trace("dump_stack_lvl", "kmalloc_fix_flags", caller))
        )  # fmt: skip
        return fixed

    def _kmalloc_large(self, size: int, gfp: int) -> int:
        """__kmalloc_large_node() (mm/slab_common.c L1067): get_order(size) pages with
        __GFP_COMP, or NULL; a mask with GFP_SLAB_BUG_MASK bits is fixed first, as new_slab()
        fixes it."""
        if gfp & GFP_SLAB_BUG_MASK:
            gfp = self._fix_flags(gfp, "__kmalloc_large_node")
        order = get_order(size)  # above MAX_ORDER the page allocator warns and says NULL
        pfn = self._slab_pages(gfp | BIT.COMP, order, "kmalloc_large")
        if pfn < 0:
            return 0
        addr = PAGE_OFFSET + (pfn << PAGE_SHIFT)
        self.large_kmalloc[addr] = (pfn, order, size)
        self.history.append_object(("kmalloc_large", addr, size, gfp, order))
        return addr

    def _slab_pages(self, gfp: int, order: int, caller: str) -> int:
        """__alloc_pages() for allocate_slab() and kmalloc_large(): the first pfn, or -1.

        A mask (an int) that got pages here before takes get_page_from_freelist()'s common
        case first (_alloc_fast()), as __get_free_pages() does; the C fast path
        (SlabFastPath's new slabs and large kmallocs) runs that same case, then this method
        (its fast attempt declined, nothing changed) or _slab_pages_slow() (it tried).
        """
        pfn = self._fast_attempt(self._slab_page_plans, gfp, order)
        return pfn if pfn >= 0 else self._slab_pages_slow(gfp, order, caller)

    def _slab_pages_slow(self, gfp: int, order: int, caller: str) -> int:
        """_slab_pages() past its fast attempt: the whole of __alloc_pages(), and the mask's
        plan remembered for the fast attempt if it got pages."""
        pfn = self._alloc(gfp, order, caller)
        if pfn >= 0:
            self._remember_fast_plan(gfp, gfp, self._slab_page_plans, self.slab_page_plans_for_c)
        return pfn

    def _slab_out_of_memory(self, cache: KmemCache, gfp: int) -> None:
        """slab_out_of_memory() (mm/slub.c L2918), unless __GFP_NOWARN."""
        if gfp & BIT.NOWARN:
            return
        nr_free = sum(len(s.freelist) for s in cache.partial)
        self._print_lines([
            (KERN_WARNING, f"SLUB: Unable to allocate memory on node -1, gfp={describe_gfp(gfp)}"),
            (KERN_WARNING,
             f"  cache: {cache.name}, object size: {cache.object_size}, buffer size: "
             f"{cache.size}, default order: {cache.order}, min order: {cache.min_order}"),
            (KERN_WARNING,
             f"  node 0: slabs: {len(cache.slabs)}, objs: {cache.num_objs}, free: {nr_free}"),
        ])  # fmt: skip

    # --- freeing ---------------------------------------------------------------------------
    def _kfree(self, addr: int, cache: KmemCache | None, tracepoint: str) -> None:
        """kfree() / kmem_cache_free(): find the object's slab and put it back."""
        if tracepoint == "kfree":  # trace_kfree() comes before the NULL check
            self._trace_kfree(addr)
            if addr <= ZERO_SIZE_PTR:
                return
        if not PAGE_OFFSET <= addr < self.direct_map_end:  # virt_to_folio() of a bad address
            self._print_lines(
                kernel_bug("arch/x86/mm/physaddr.c:28", self.comm, self.pid, self.taint,
                           self._trace("__phys_addr", tracepoint))
            )  # fmt: skip
            self.taint |= 1 << TAINT_DIE
            return
        slab = self._slab_of(addr)
        if slab is None and cache is not None:
            # cache_from_obj() -> virt_to_cache(): WARN_ONCE, and kmem_cache_free() returns
            if "virt_to_cache" not in self._warned_once:
                self._warned_once.add("virt_to_cache")
                self._print_lines(
                    warning("mm/slab.h:630", self.comm, self.pid, self.taint,
                            self._trace("virt_to_cache", "kmem_cache_free"),
                            "virt_to_cache: Object is not a Slab page!")
                )  # fmt: skip
                self.taint |= 1 << TAINT_WARN
            return
        if slab is None:
            self._free_large_kmalloc(addr, tracepoint)
            return
        real = slab.cache
        if cache is not None and cache is not real:
            # cache_from_obj() with CONFIG_SLAB_FREELIST_HARDENED: warn, use the real cache
            self._print_lines(
                warning("mm/slab.h:665", self.comm, self.pid, self.taint,
                        self._trace("kmem_cache_free"),
                        f"kmem_cache_free: Wrong slab cache. {cache.name} but object is from "
                        f"{real.name}")
            )  # fmt: skip
            self.taint |= 1 << TAINT_WARN
        index = slab.index_of(addr)
        if index is None:
            self._bad_object_free(slab, addr, "Invalid object pointer", tracepoint)
            return
        if index in slab.freelist:
            self._bad_object_free(slab, addr, "Object already free", tracepoint)
            return
        if real.debug and (slab.disabled or real.images) and not self._free_checks(slab, addr):
            return
        if tracepoint == "kmem_cache_free":
            self.history.append_slab(OP_KMEM_CACHE_FREE, slab.pfn, index, real)
        slab.requested[index] = FREE_SLOT
        if real.flags & SLAB_STORE_USER:
            self._set_track(real, addr, 1)
        was_full = not slab.freelist
        slab.freelist.append(index)
        if slab.frozen:  # the CPU's own (active or on its partial list): no list moves
            return
        if was_full:  # __slab_free(): a full slab was on no list
            partial = real.percpu_partial
            if len(partial) < real.cpu_partial_slabs:  # put_cpu_partial(), no drain: inlined
                slab.frozen = True
                partial.append(slab)
                self.history.append_slab(OP_SLAB_FROZEN, slab.pfn, 0, real)
                return
            if real.cpu_partial_slabs:
                self._put_cpu_partial(slab)
                return
            real.partial.append(slab)  # a debugged cache: straight to the node's list
        if not slab.inuse:
            self._slab_emptied(slab)

    def _trace_kfree(self, addr: int) -> None:
        """trace_kfree(): the first byte of a slab's slot as a slab object record; any other
        pointer (NULL, a large kmalloc, a pointer into an object) as the event itself."""
        slab = self._slab_of(addr)
        slot = None if slab is None else slab.index_of(addr)
        if slot is None:
            self.history.append_object(ObjectFreed("kfree", EXIT_SITE, addr, ""))
        else:
            self.history.append_slab(OP_KFREE, slab.pfn, slot, slab.cache)

    def _slab_emptied(self, slab: Slab) -> None:
        """__slab_free(): an empty slab is discarded once the node has min_partial partials.

        ``n->nr_partial >= s->min_partial`` (mm/slub.c L3578), where nr_partial counts this
        slab when it was partial before.  (A slab of one object goes from full to empty in one
        free; Linux does not count it there, kmviz does: such caches discard one slab sooner.)
        """
        cache = slab.cache
        if not slab.freelist or len(cache.partial) < cache.min_partial:
            return
        cache.partial.remove(slab)
        self._discard_slab(slab)

    def _bad_object_free(self, slab: Slab, addr: int, reason: str, tracepoint: str) -> None:
        """A free SLUB's consistency checks catch; without them, what Linux would do.

        free_consistency_checks() (mm/slub.c L1405) reports, add_taint() marks the kernel B
        (the first time also ``Disabling lock debugging``), and free_debug_processing()'s
        slab_fix() says the object stays as it was.
        """
        cache = slab.cache
        ptr = self._ptr(addr)
        if cache.debug:
            if reason == "Invalid object pointer":
                lines = self._slab_err_lines(cache, slab, f"Invalid object pointer 0x{ptr}")
            else:
                lines = self._object_err_lines(cache, slab, addr, reason)
            self._print_lines(lines)
            self._add_taint_bad_page()
            self._printk(KERN_ERR, f"FIX {cache.name}: Object at 0x{ptr} not freed")
            return
        index = slab.index_of(addr)
        if reason == "Object already free" and slab.freelist and slab.freelist[-1] == index:
            # set_freepointer(): BUG_ON(object == fp), "naive detection of double free"
            self._print_lines(
                kernel_bug("mm/slub.c:419", self.comm, self.pid, self.taint,
                           self._trace("__slab_free", tracepoint))
            )  # fmt: skip
            self.taint |= 1 << TAINT_DIE
            return
        self._printk(
            KERN_WARNING,
            f"kmviz: {tracepoint}(0x{ptr}) in {cache.name}: {reason.lower()}; without "
            "slub_debug Linux would link it into the freelist anyway and hand the same memory "
            "out twice later; nothing was freed (try Kernel(slub_debug=True))",
        )

    def _free_large_kmalloc(self, addr: int, tracepoint: str) -> None:
        """free_large_kmalloc(): a non-slab page given to kfree() goes to __free_pages()."""
        pfn = (addr - PAGE_OFFSET) >> PAGE_SHIFT
        if addr in self.large_kmalloc:
            pfn, order, _ = self.large_kmalloc.pop(addr)
            self._free(pfn, order, tracepoint)
            return
        head, order, state = self.block_at(pfn)
        if state == "allocated" and plain_code(self.buddy.state[head]) < COMPOUND:  # order 0
            self._warn_once("mm/slab_common.c:904", ("free_large_kmalloc", tracepoint))
            self._printk(KERN_WARNING, f"object pointer: 0x{self._ptr(addr)}")
            order = 0
        elif state == "allocated":
            # virt_to_folio() finds the compound head from any address inside it: a pointer
            # into a large kmalloc frees the whole block, as Linux does
            for start, (block, _, _) in list(self.large_kmalloc.items()):
                if block == head:
                    del self.large_kmalloc[start]
        self._free(head if state == "allocated" else pfn, order, tracepoint)

    def _discard_slab(self, slab: Slab) -> None:
        """discard_slab(): the empty slab's pages go back to the page allocator."""
        cache = slab.cache
        cache.slabs.discard(slab)
        if cache.cpu_slab is slab:
            cache.cpu_slab = None
        if cache.tracks or cache.images:  # a new slab here starts afresh (setup_object())
            for index in range(slab.objects):
                cache.tracks.pop(slab.address(index), None)
                cache.images.pop(slab.address(index), None)
        for page in range(slab.pfn, slab.pfn + (1 << slab.order)):
            del self.slab_by_pfn[page]
        self.buddy.set_owner(slab.pfn, OWNER_NONE)
        self._free(slab.pfn, slab.order, "discard_slab")
        self.history.append_object(SlabFreed(cache.name, slab.pfn, slab.order))

    def _flush_cpu_slab(self, cache: KmemCache) -> None:
        """flush_all(): the active slab to the node's partial list if it has room, then the
        CPU's partial slabs (deactivate_slab(), unfreeze_partials_cpu())."""
        slab, cache.cpu_slab = cache.cpu_slab, None
        if slab is not None:
            slab.frozen = False
            if slab.freelist:
                cache.partial.insert(0, slab)
        if cache.percpu_partial:
            slabs, cache.percpu_partial = cache.percpu_partial, []
            self._unfreeze_partials(cache, slabs)

    def _shrink(self, cache: KmemCache) -> None:
        """__kmem_cache_shrink(): discard every empty slab on the partial list."""
        for slab in [s for s in cache.partial if not s.inuse]:
            cache.partial.remove(slab)
            self._discard_slab(slab)

    # --- reports ---------------------------------------------------------------------------
    def _slab_bug_lines(self, cache: KmemCache, reason: str) -> list:
        """slab_bug(): the 77-character rules around ``BUG <cache> (<taint>): <reason>``."""
        tainted = print_tainted(self.taint)
        return [
            (KERN_ERR, RULE),
            (KERN_ERR, f"BUG {cache.name} ({tainted}): {reason}"),
            (KERN_ERR, DASHES),
            (KERN_ERR, ""),
        ]

    def _slab_info_line(self, slab: Slab) -> tuple[int, str]:
        """print_slab_info(): ``Slab 0x… objects=… used=… fp=0x… flags=…`` (mm/slub.c L809).

        ``Slab`` is the struct page's address, ``fp`` the first free object, ``flags`` the
        folio's (%pGp): ``0xfffffc0010200(slab|head|node=0|zone=1|lastcpupid=0x1fffff)`` for
        a slab of order 1 in DMA32, as the capture shows.
        """
        fp = slab.address(slab.freelist[-1]) if slab.freelist else 0
        zone = self.buddy.zone_of(slab.pfn).idx
        _, flags = page_flags(zone, False, slab=True, head=bool(slab.order))
        return (
            KERN_ERR,
            f"Slab 0x{self._ptr(struct_page_address(slab.pfn))} objects={slab.objects} "
            f"used={slab.inuse} fp=0x{self._ptr(fp)} flags={flags}",
        )

    def _slab_err_lines(
        self, cache: KmemCache, slab: Slab, text: str, frames: tuple = (FREE_FRAME,)
    ) -> list:
        """slab_err() (mm/slub.c L953): the banner, the slab's line and a stack dump from
        ``frames`` down (a free's checks by default)."""
        lines = self._slab_bug_lines(cache, text)
        lines.append(self._slab_info_line(slab))
        lines += dump_stack(
            KERN_WARNING,
            self.comm,
            self.pid,
            self.taint,
            self._trace("dump_stack_lvl", "slab_err", *frames),
        )
        return lines

    def _object_err_lines(self, cache: KmemCache, slab: Slab, addr: int, reason: str) -> list:
        """object_err() (mm/slub.c L923): the banner, then print_trailer() (L881).

        print_trailer(): the tracks (SLAB_STORE_USER), the slab, the object's line, then its
        bytes as print_section() dumps them: the left red zone (or the 16 bytes before it),
        the object (at most a page), the right red zone, the padding after the metadata, and
        a stack dump.  For kmalloc-128 with plain slub_debug (FZPU), a 384-byte slot::

            | red_left_pad 128 | object 128 | red zone 8 | free ptr 8 | 2 tracks 64 |
            | orig_size 4 | padding 44 |          128 + 136 + 8 + 64 + 4 + 44 == 384

        so ``@offset=`` of object i is 128 + 384 * i and the padding starts 212 bytes into
        the object (info end 144, + 64 + 4).  The call trace is free_to_partial_list()'s:
        free_debug_processing() is inlined into it, kfree() tail-calls it.
        """
        lines = self._slab_bug_lines(cache, reason)
        return lines + self._trailer_lines(cache, slab, addr, ("object_err", FREE_FRAME))

    def _trailer_lines(self, cache: KmemCache, slab: Slab, addr: int, frames: tuple) -> list:
        """print_trailer() (mm/slub.c L881), its stack dump from ``frames`` down."""
        lines = self._tracking_lines(cache, addr)
        lines.append(self._slab_info_line(slab))
        index = slab.index_of(addr)
        free = index in slab.freelist
        # get_freepointer(): a free object links to the next free one; kmviz keeps no stale
        # link in an allocated object and shows 0 there
        at = slab.freelist.index(index) if free else 0
        fp = slab.address(slab.freelist[at - 1]) if at else 0
        offset = addr - (PAGE_OFFSET + (slab.pfn << PAGE_SHIFT))
        lines.append(
            (KERN_ERR, f"Object 0x{self._ptr(addr)} @offset={offset} fp=0x{self._ptr(fp)}")
        )
        lines.append((KERN_ERR, ""))
        image = cache.images.get(addr) or self._slot_image(cache, free)
        left = cache.red_left_pad
        if cache.flags & SLAB_RED_ZONE:
            lines += self._print_section("Redzone  ", addr - left, image[:left])
        elif offset > 16:  # the previous slot's last bytes
            before = cache.images.get(addr - cache.size) or self._slot_image(
                cache, slab.index_of(addr - cache.size) in slab.freelist
            )
            lines += self._print_section("Bytes b4 ", addr - 16, before[-16:])
        shown = min(cache.object_size, PAGE_SIZE)
        lines += self._print_section("Object   ", addr, image[left : left + shown])
        if cache.flags & SLAB_RED_ZONE:
            end = left + cache.object_size
            lines += self._print_section("Redzone  ", addr + cache.object_size,
                                         image[end : left + cache.inuse])  # fmt: skip
        off = _metadata_end(cache)
        if off != cache.size - left:  # size_from_object(): the slot without its left red zone
            lines += self._print_section("Padding  ", addr + off, image[left + off :])
        lines += dump_stack(
            KERN_WARNING, self.comm, self.pid, self.taint, self._trace("dump_stack_lvl", *frames)
        )
        return lines

    def _check_object(self, slab: Slab, addr: int, red: int, frames: tuple) -> bool:
        """check_object() (mm/slub.c L1123) of an object kmviz holds written bytes of.

        The red zones must read ``red`` (SLUB_RED_ACTIVE when freeing, SLUB_RED_INACTIVE when
        allocating); a free object's poison 0x6b… and its last byte 0xa5; the padding after
        the metadata 0x5a (reported, restored, but not fatal).  The first overwritten range
        is reported and restored (check_bytes_and_report()); False if the object is bad.
        """
        cache = slab.cache
        image = cache.images.get(addr)
        if image is None:  # nothing was written: SLUB's own bytes are intact
            return True
        left, size = cache.red_left_pad, cache.object_size
        checks = []  # (what, start in the slot, bytes, value, fatal)
        if cache.flags & SLAB_RED_ZONE:
            checks += [("Left Redzone", 0, left, red, True),
                       ("Right Redzone", left + size, cache.inuse - size, red, True)]  # fmt: skip
        elif cache.flags & SLAB_POISON and size < cache.inuse:
            pad = cache.inuse - size
            checks.append(("Alignment padding", left + size, pad, POISON_INUSE, False))
        if cache.flags & SLAB_POISON and red != SLUB_RED_ACTIVE and _object_poisoned(cache):
            checks += [("Poison", left, size - 1, POISON_FREE, True),
                       ("End Poison", left + size - 1, 1, POISON_END, True)]  # fmt: skip
        if cache.flags & SLAB_POISON:  # check_pad_bytes()
            off = left + _metadata_end(cache)
            checks.append(("Object padding", off, cache.size - off, POISON_INUSE, False))
        for what, start, count, value, fatal in checks:
            if (
                not self._check_bytes(slab, addr, image, what, start, count, value, frames)
                and fatal
            ):
                return False
        return True

    def _check_bytes(self, slab, addr, image, what, start, count, value, frames) -> bool:
        """check_bytes_and_report() (mm/slub.c L994): bytes ``start`` … of the slot that are not
        ``value`` are reported (``Right Redzone overwritten``, the range and the first byte,
        print_trailer()) and restored (restore_bytes(): ``FIX …: Restoring …``)."""
        fault = next((i for i in range(start, start + count) if image[i] != value), None)
        if fault is None:
            return True
        end = start + count
        while end > fault and image[end - 1] == value:
            end -= 1
        cache = slab.cache
        slot = addr - cache.red_left_pad
        first, last = slot + fault, slot + end - 1
        page = PAGE_OFFSET + (slab.pfn << PAGE_SHIFT)
        lines = self._slab_bug_lines(cache, f"{what} overwritten")
        lines.append(
            (KERN_ERR, f"0x{self._ptr(first)}-0x{self._ptr(last)} @offset={first - page}. "
                       f"First byte {image[fault]:#x} instead of {value:#x}")
        )  # fmt: skip
        lines += self._trailer_lines(cache, slab, addr, ("check_bytes_and_report", *frames))
        self._print_lines(lines)
        self._add_taint_bad_page()
        self._printk(
            KERN_ERR,
            f"FIX {cache.name}: Restoring {what} 0x{self._ptr(first)}-0x{self._ptr(last)}"
            f"={value:#x}",
        )
        image[fault:end] = bytes([value]) * (end - fault)
        return False

    def _alloc_debug_processing(self, slab: Slab, addr: int, tracepoint: str) -> bool:
        """alloc_debug_processing() (mm/slub.c L1386) of the object just taken: True if it may
        be handed out (its red zones then turn 0xcc).  An object found overwritten costs the
        whole slab: its free objects are given up (its free list empties, so it leaves the
        partial list) and the slab refuses frees from then on (``Marking all objects used``)."""
        cache = slab.cache
        frames = ("check_object", "alloc_debug_processing", *ALLOC_FRAMES.get(tracepoint, ()))
        if cache.debug and not self._check_object(slab, addr, SLUB_RED_INACTIVE, frames):
            self._printk(KERN_ERR, f"FIX {cache.name}: Marking all objects used")
            slab.freelist.clear()
            slab.disabled = True
            return False
        self._init_object(cache, addr, SLUB_RED_ACTIVE)
        return True

    def _free_checks(self, slab: Slab, addr: int) -> bool:
        """The rest of free_debug_processing() (mm/slub.c L2843) for an object not already
        free: check_slab() refuses a slab an earlier check disabled, check_object() an object
        with overwritten red zones; then the object stays allocated (``not freed``)."""
        cache = slab.cache
        if slab.disabled:
            text = "Slab disabled since SLUB metadata consistency check failed"
            self._print_lines(self._slab_err_lines(cache, slab, text))
            self._add_taint_bad_page()
        elif self._check_object(slab, addr, SLUB_RED_ACTIVE, ("check_object", FREE_FRAME)):
            self._init_object(cache, addr, SLUB_RED_INACTIVE)
            return True
        self._printk(KERN_ERR, f"FIX {cache.name}: Object at 0x{self._ptr(addr)} not freed")
        return False

    def _init_object(self, cache: KmemCache, addr: int, red: int) -> None:
        """init_object() (mm/slub.c L971) on the written bytes kmviz holds of an object: red
        zones to ``red``, a freed object poisoned again; bytes back to SLUB's own forget them."""
        image = cache.images.get(addr)
        if image is None:
            return
        left, size = cache.red_left_pad, cache.object_size
        if cache.flags & SLAB_RED_ZONE:
            image[:left] = bytes([red]) * left
            image[left + size : left + cache.inuse] = bytes([red]) * (cache.inuse - size)
        if red == SLUB_RED_INACTIVE and _object_poisoned(cache):
            image[left : left + size] = bytes([POISON_FREE]) * (size - 1) + bytes([POISON_END])
        if image == self._slot_image(cache, red == SLUB_RED_INACTIVE):
            del cache.images[addr]

    def memset(self, addr: int, value: int, count: int) -> int:
        """memset(): ``count`` bytes of ``value`` from ``addr``, as a driver's code writes them.

        kmviz keeps memory's contents only where SLUB's debugging looks at them: the slots of
        caches with red zones or poisoning (``slub_debug``).  There a write past an object's
        end lands in its red zone, and a write into a freed object in its poison, and SLUB
        reports it at the next free (``Right Redzone overwritten``) or allocation (``Poison
        overwritten``) of that object, as 6.1 does.  Elsewhere the arguments are checked and
        nothing is kept.  Returns ``addr``, as memset() does.
        """
        self._check_alive()
        addr = self._require_addr(addr)
        for what, number, top in (("value", value, 0xFF), ("count", count, None)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise TypeError(f"memset() {what} must be an int >= 0, not {number!r}")
            if top is not None and number > top:
                raise ValueError(f"memset() writes bytes: value must be 0..255, not {number}")
        if count and not PAGE_OFFSET <= addr <= addr + count <= self.direct_map_end:
            raise ValueError(
                f"memset({addr:#x}, …, {count}): kmviz writes only into the direct map "
                f"({PAGE_OFFSET:#x}-{self.direct_map_end - 1:#x})"
            )
        start, end = addr, addr + count
        while start < end:
            pfn = (start - PAGE_OFFSET) >> PAGE_SHIFT
            stop = min(end, PAGE_OFFSET + ((pfn + 1) << PAGE_SHIFT))
            slab = self.slab_by_pfn.get(pfn)
            if slab is not None and slab.cache.flags & (SLAB_RED_ZONE | SLAB_POISON):
                self._write_slots(slab, start, stop, value)
            start = stop
        self._notify()
        return addr

    def _write_slots(self, slab: Slab, start: int, stop: int, value: int) -> None:
        """Bytes [start, stop) of one slab page set to ``value`` in each slot they touch (the
        slab's tail after the last slot is not kept)."""
        cache = slab.cache
        page = PAGE_OFFSET + (slab.pfn << PAGE_SHIFT)
        first = (start - page) // cache.size
        last = min((stop - 1 - page) // cache.size, slab.objects - 1)
        for index in range(first, last + 1):
            slot = page + index * cache.size
            addr = slot + cache.red_left_pad
            image = cache.images.get(addr)
            if image is None:
                free = index in slab.freelist
                image = cache.images[addr] = bytearray(self._slot_image(cache, free))
            lo, hi = max(start, slot) - slot, min(stop, slot + cache.size) - slot
            image[lo:hi] = bytes([value]) * (hi - lo)

    def _tracking_lines(self, cache: KmemCache, addr: int) -> list:
        """print_tracking() (mm/slub.c L799): ``Allocated in …`` and ``Freed in …``, each with
        the stack stack_depot_print() keeps; a track never set (addr 0) prints nothing."""
        if not cache.flags & SLAB_STORE_USER:
            return []
        now = self.now_ns() // NS_PER_JIFFY
        lines = []
        pair = cache.tracks.get(addr, (None, None))
        for label, track in zip(("Allocated", "Freed"), pair, strict=True):
            if track is None:
                continue
            lines.append(
                (KERN_ERR, f"{label} in {symbol(track.caller)} age={now - track.when} "
                           f"cpu={track.cpu} pid={track.pid}")
            )  # fmt: skip
            # stack_trace_print(): printk() without a level, " %pS" per frame
            lines += [(KERN_WARNING, " " + symbol(frame)) for frame in track.frames]
        return lines

    def _slot_image(self, cache: KmemCache, free: bool) -> bytes:
        """The bytes of one slot from its left red zone on, as SLUB's debugging leaves them.

        setup_slab_debug() fills a new slab with POISON_INUSE (SLAB_POISON); init_object()
        writes the red zones (0xbb free, 0xcc allocated) and poisons the object (0x6b, the
        last byte 0xa5) unless a constructor or SLAB_TYPESAFE_BY_RCU keeps its contents
        (__OBJECT_POISON, L4300).  What memset() and kzalloc() wrote is kept apart (the
        cache's ``images``); what kmviz keeps nowhere — the free pointer, the tracks, the
        original size, a cache's unpoisoned contents — reads 0.
        """
        left, size = cache.red_left_pad, cache.object_size
        image = bytearray([POISON_INUSE if cache.flags & SLAB_POISON else 0]) * cache.size
        image[left + cache.inuse : left + _metadata_end(cache)] = bytes(
            _metadata_end(cache) - cache.inuse
        )
        red = SLUB_RED_INACTIVE if free else SLUB_RED_ACTIVE
        if cache.flags & SLAB_RED_ZONE:
            image[:left] = bytes([red]) * left
            image[left + size : left + cache.inuse] = bytes([red]) * (cache.inuse - size)
        if _object_poisoned(cache):
            image[left : left + size] = bytes([POISON_FREE]) * (size - 1) + bytes([POISON_END])
        else:
            image[left : left + size] = bytes(size)
        return bytes(image)

    def _print_section(self, text: str, addr: int, data: bytes) -> list:
        """print_section() (mm/slub.c L689): print_hex_dump() with DUMP_PREFIX_ADDRESS, 16
        bytes a row, one per group, and the ASCII column (lib/hexdump.c)."""
        return [
            (KERN_ERR, f"{text}{self._ptr(addr + row)}: {hex_dump_row(data[row : row + 16])}")
            for row in range(0, len(data), 16)
        ]

    def _set_track(self, cache: KmemCache, addr: int, which: int, entry: str = "") -> None:
        """set_track() (mm/slub.c L764): who allocated (0) or freed (1) the object, and when.

        The stack is what stack_trace_save(…, 3) keeps: for an allocation from ``entry`` (the
        allocator function the caller called) down, the caller included; for a free from the
        caller's caller down, as the capture shows (kfree() tail-calls free_to_partial_list(),
        whose frames and the caller's return address are among the three skipped).
        """
        frames = self._context_frames()
        key = (entry, frames)
        stack = self._track_stacks.get(key)  # one tuple per call site, shared
        if stack is None:
            stack = self._track_stacks[key] = (entry, *frames) if entry else frames[1:]
        track = Track(frames[0], stack, 0, self.context.pid, self.now_ns() // NS_PER_JIFFY)
        pair = cache.tracks.get(addr)
        if pair is None:
            pair = cache.tracks[addr] = [None, None]
        pair[which] = track

    def _slab_debug_paths(self) -> None:
        """A debugged cache exists: from now on kfree() checks every object in Python.

        6.1 sends a debugged cache's frees to free_to_partial_list() (mm/slub.c L3421) and its
        allocations through ___slab_alloc(), never the lockless per-CPU paths; kmviz's fast
        paths step aside likewise: kfree() takes the Python path (a kernel without debugged
        caches pays nothing), and with slub_debug kmalloc() too (no fast-path tables).
        """
        self._fast_slabs = {}
        self.__dict__.pop("kfree", None)  # the C fast path, if attached

    def _add_taint_bad_page(self) -> None:
        """add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE) (kernel/panic.c L496): taint B,
        and the first such taint turns lock debugging off, saying so."""
        self.taint |= 1 << TAINT_BAD_PAGE
        if self.context.debug_locks:
            self.context.debug_locks = False
            self._printk(KERN_WARNING, "Disabling lock debugging due to kernel taint")

    # --- helpers ---------------------------------------------------------------------------
    def _slab_of(self, addr: int) -> Slab | None:
        return self.slab_by_pfn.get((addr - PAGE_OFFSET) >> PAGE_SHIFT)

    def _ptr(self, value: int) -> str:
        """A pointer as %p prints it: hashed per boot, raw with slub_debug.

        kmem_cache_init() turns no_hash_pointers on when slub_debug asks for any debugging
        (mm/slub.c L4861): the real reports' addresses are the objects' own.
        """
        return hashed_pointer(value, None if self.slub_debug else self.seed)

    def _require_cache(self, cache) -> None:
        if not isinstance(cache, KmemCache):
            raise TypeError(f"expected a cache from kmem_cache_create(), not {cache!r}")
        if cache.refcount == 0:
            raise ValueError(f"cache {cache.name} was destroyed")

    def _require_addr(self, addr) -> int:
        """``addr`` as an int of 64 bits at most, None being NULL (0); else TypeError/ValueError."""
        if addr is None:  # Python's None is C's NULL: kfree(None) is kfree(NULL)
            return 0
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"expected an address (int, or None for NULL), not {addr!r}")
        if not 0 <= addr < 1 << 64:
            raise ValueError(f"an address is 0 .. 2**64 - 1, not {addr:#x}")
        return int(addr)

    def _notify(self) -> None:
        """The end of a call: kswapd runs if the call woke it, then observers hear once."""
        if self._kswapd_pending:
            self._run_kswapd()
        if self.notify_each_call[0]:
            self.tick += 1


def _object_poisoned(cache: KmemCache) -> bool:
    """__OBJECT_POISON (mm/slub.c L4300): SLAB_POISON poisons the object itself unless a
    constructor or SLAB_TYPESAFE_BY_RCU needs its contents kept."""
    return (
        bool(cache.flags & SLAB_POISON)
        and not cache.flags & SLAB_TYPESAFE_BY_RCU
        and (cache.ctor is None)
    )


def _metadata_end(cache: KmemCache) -> int:
    """Where the padding starts, from the object: after the free pointer when it is outside
    the object (get_info_end()), the two tracks and the kmalloc original size (mm/slub.c L905)."""
    off = cache.inuse + (SIZEOF_VOID_P if cache.offset >= cache.inuse else 0)
    if cache.flags & SLAB_STORE_USER:
        off += 2 * SIZEOF_STRUCT_TRACK
        if cache.kmalloc or cache.flags & SLAB_KMALLOC:  # slub_debug_orig_size()
            off += SIZEOF_ORIG_SIZE
    return off


def hex_dump_row(data: bytes) -> str:
    """One row of hex_dump_to_buffer(…, 16, 1, …, true): ``6b 6b … a5  kkk….``.

    Two hex digits and a space per byte, the last space dropped, padded to column 49
    (16 * 2 + 16 + 1), then each byte as itself if printable ASCII, else ``.``.
    """
    hexes = " ".join(f"{byte:02x}" for byte in data)
    text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in data)
    return f"{hexes:<49}{text}"


def _boot_ctor(addr: int) -> None:
    """The constructor of a boot cache that has one (inode caches …): its work is not simulated."""
