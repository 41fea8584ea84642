"""The slab caches a booted Linux 6.1 has: names, object sizes in bytes, flags, objects in use.

A real kernel creates about 145 caches while it boots (SLUB's own, the kmalloc array, then
every subsystem's: vmap_area, mm_struct, task_struct, dentry, inode_cache, radix_tree_node,
buffer_head …) and merges some 50 more into them, and by the time a shell runs they hold about
61,000 objects in some 3,600 pages, nearly the same on a 256 MiB and a 4 GiB machine.
kmviz/data/boot-caches-6.1.tsv lists them as Debian's 6.1.192 kernel had them (written from a
capture by tools/real-kernel/boot_caches.py, which says which); ``Kernel(boot_caches=True)``
recreates them at boot, oldest first, with their objects (by default kmviz boots with only
the kmalloc caches, empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "data" / "boot-caches-6.1.tsv"
FULL_SCALE_MEM = 256 << 20  # bytes: from here up a machine gets every object of the capture


@dataclass(frozen=True, slots=True)
class BootCache:
    """One cache of the table: what kmem_cache_create() was given, and what it holds."""

    name: str
    object_size: int  # bytes
    align: int  # bytes (s->align as sysfs shows it)
    flags: int  # SLAB_* flags that matter: HWCACHE_ALIGN, TYPESAFE_BY_RCU, the MERGE_SAME ones
    merge: str  # "unique" (mergeable), or why not: "ctor", "rcu", "usercopy", "boot"
    active_objs: int  # /proc/slabinfo's, on the captured machine
    num_objs: int
    aliases: tuple[str, ...] = field(default=())  # names merged into it at boot


@cache
def boot_caches() -> tuple[BootCache, ...]:
    """The table, oldest cache first (read once)."""
    caches: list[BootCache] = []
    for line in TABLE.read_text().splitlines():
        if line.startswith(("#", "name\t")) or not line:
            continue
        words = line.split("\t")
        if words[0] == "alias":
            last = caches[-1]
            caches[-1] = BootCache(**{**_fields(last), "aliases": (*last.aliases, words[1])})
            continue
        name, size, align, flags, merge, active, num = words
        caches.append(
            BootCache(name, int(size), int(align), int(flags, 16), merge, int(active), int(num))
        )
    return tuple(caches)


def _fields(entry: BootCache) -> dict:
    """A BootCache's fields as a dict."""
    return {name: getattr(entry, name) for name in BootCache.__slots__}


def boot_objects(entry: BootCache, mem: int) -> int:
    """Objects ``entry`` holds after boot on a machine of ``mem`` bytes.

    The capture's active_objs; below 256 MiB (the smallest captured machine, which had as
    many as the 4 GiB one) scaled by ``mem / 256 MiB``, so that a 16 MiB machine keeps room:
    ``2047 * 64 MiB // 256 MiB == 511`` objects of kmalloc-8 on a 64 MiB machine.
    """
    if mem >= FULL_SCALE_MEM:
        return entry.active_objs
    return entry.active_objs * mem // FULL_SCALE_MEM
