"""Write kmviz/data/boot-caches-6.1.tsv: the slab caches a booted 6.1 kernel has, from a capture.

Run from the repository root: ``python3 tools/real-kernel/boot_caches.py [tests/real61/1G-2cpu]``.

/proc/slabinfo gives each real cache (newest first, so reversed: creation order) and its
objects; the capture's slab-all.txt (every /sys/kernel/slab entry) gives its object size,
alignment, SLAB_HWCACHE_ALIGN, SLAB_TYPESAFE_BY_RCU and constructor, and whether it can be
merged into: a mergeable cache's directory is create_unique_id()'s ``:[flags-]size`` (the flag
letters d, D, a, F, A), and the symlinks pointing at it are its name and its aliases.  An
unmergeable cache without constructor or RCU was made with a usercopy region (or is one of
SLUB's own two boot caches); its SLAB_RECLAIM_ACCOUNT comes from kmviz.real.RECLAIMABLE_CACHES,
as sysfs does not show it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kmviz.engine.slab_geometry import (
    SLAB_ACCOUNT,
    SLAB_CACHE_DMA,
    SLAB_CACHE_DMA32,
    SLAB_CONSISTENCY_CHECKS,
    SLAB_HWCACHE_ALIGN,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_TYPESAFE_BY_RCU,
)
from kmviz.real import RECLAIMABLE_CACHES, slabinfo

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "kmviz" / "data" / "boot-caches-6.1.tsv"
LETTERS = {
    "d": SLAB_CACHE_DMA,
    "D": SLAB_CACHE_DMA32,
    "a": SLAB_RECLAIM_ACCOUNT,
    "F": SLAB_CONSISTENCY_CHECKS,
    "A": SLAB_ACCOUNT,
}
SLUB_OWN = ("kmem_cache", "kmem_cache_node")  # create_boot_cache(): refcount -1, never merged


def main(capture: Path) -> None:
    """Write the table for ``capture`` (a tests/real61 machine folder)."""
    entries = {}
    for line in (capture / "slab-all.txt").read_text().splitlines():
        name, *words = line.split()
        entries[name] = dict(word.split("=", 1) for word in words)
    rows = list(reversed(slabinfo(capture / "slabinfo").rows))
    real_names = {row.name for row in rows}
    lines = [
        f"# the slab caches of Debian's 6.1.192 after boot, from {capture.relative_to(ROOT)}",
        "# (its /proc/slabinfo and /sys/kernel/slab), written by tools/real-kernel/boot_caches.py;",
        "# oldest first.  merge: 'unique' for a mergeable cache (sysfs names it :[flags-]size),",
        "# else why nothing merges into it (ctor, rcu, usercopy, boot).  flags in hex.",
        "# alias lines: a name kmem_cache_create() merged into the cache before it.",
        "name\tobject_size\talign\tflags\tmerge\tactive_objs\tnum_objs",
    ]
    for row in rows:
        fields = entries[row.name]
        directory = fields.get("alias_of", row.name)
        attrs = entries[directory]
        flags = SLAB_HWCACHE_ALIGN if attrs["hwcache_align"] == "1" else 0
        flags |= SLAB_TYPESAFE_BY_RCU if attrs["destroy_by_rcu"] == "1" else 0
        if directory.startswith(":"):
            merge = "unique"
            letters = directory[1:].partition("-")[0] if "-" in directory else ""
            for letter in letters:
                flags |= LETTERS[letter]
        else:
            merge = (
                "ctor" if attrs["ctor"] else "rcu" if flags & SLAB_TYPESAFE_BY_RCU
                else "boot" if row.name in SLUB_OWN else "usercopy"
            )  # fmt: skip
            flags |= SLAB_RECLAIM_ACCOUNT if row.name in RECLAIMABLE_CACHES else 0
        lines.append(
            f"{row.name}\t{attrs['object_size']}\t{attrs['align']}\t{flags:#x}\t{merge}\t"
            f"{row.active_objs}\t{row.num_objs}"
        )
        if merge == "unique":
            aliases = sorted(
                name for name, other in entries.items()
                if other.get("alias_of") == directory and name not in real_names
                and not name.startswith("kmviz_")
            )  # fmt: skip
            lines += [f"alias\t{alias}" for alias in aliases]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(rows)} caches")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "tests/real61/1G-2cpu")
