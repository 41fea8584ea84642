"""Pages and addresses: a page frame number (pfn) names 4 KiB of RAM; addresses are bytes.

The kernel maps all of physical memory once, linearly, at PAGE_OFFSET (the *direct map*), so
for memory the page allocator hands out::

    virt = PAGE_OFFSET + phys          # __va(), phys_to_virt()
    phys = virt - PAGE_OFFSET          # __pa(),  virt_to_phys()   (direct map only)
    pfn  = phys >> PAGE_SHIFT          # 0x1234000 >> 12 == 0x1234

and every pfn has a ``struct page`` of 64 bytes in the vmemmap array, which is what a
``struct page *`` points at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, STRUCT_PAGE_SIZE, VMEMMAP_START


@dataclass(frozen=True, slots=True)
class Page:
    """A ``struct page *``: the first page frame of a block the page allocator handed out."""

    pfn: int
    zone: str

    @property
    def phys(self) -> int:
        """Physical address of the page's first byte: ``pfn << PAGE_SHIFT``."""
        return self.pfn << PAGE_SHIFT

    @property
    def virt(self) -> int:
        """Its direct-map address, what page_address() returns."""
        return PAGE_OFFSET + (self.pfn << PAGE_SHIFT)

    @property
    def struct_page(self) -> int:
        """Where its struct page lives in the vmemmap: ``VMEMMAP_START + pfn * 64``."""
        return VMEMMAP_START + self.pfn * STRUCT_PAGE_SIZE

    def __repr__(self) -> str:
        return f"<Page pfn:{self.pfn:#x} zone:{self.zone} phys:{self.phys:#x}>"


def get_order(size: int) -> int:
    """The smallest order whose block holds ``size`` bytes: PAGE_SIZE << order >= size.

    Mirrors get_order() (include/asm-generic/getorder.h): ``size--; size >>= PAGE_SHIFT;
    return fls64(size)``, so get_order(4096) == 0, get_order(4097) == 1, get_order(8192) == 1.
    get_order(0) is undefined in the kernel; like the kernel's constant path it returns
    BITS_PER_LONG - PAGE_SHIFT (52).
    """
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"get_order() takes a size in bytes (int), not {type(size).__name__}")
    if size < 0:
        raise ValueError(f"get_order() size must be >= 0 bytes, got {size}")
    if size == 0:
        return 64 - PAGE_SHIFT
    return ((size - 1) >> PAGE_SHIFT).bit_length()


_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: int | str) -> int:
    """Bytes from a byte count or a size such as "256MiB", "4GiB", "512K" (powers of 1024).

    Like the kernel's memparse() the suffixes K, M, G, T multiply by 1024^n; "MiB" and "MB"
    are read the same way, as memory sizes always are.
    """
    if isinstance(value, bool):
        raise TypeError("a memory size is bytes (int) or a string like '256MiB', not bool")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"a memory size is bytes (int) or a string like '256MiB', not {type(value).__name__}"
        )
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"cannot read {value!r} as a memory size; write e.g. '256MiB' or '4GiB'")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def format_size(nbytes: int) -> str:
    """A byte count in the largest binary unit that divides it: 268435456 -> '256MiB'."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift}{unit}"
    return f"{nbytes}B"


def pages(nbytes: int) -> int:
    """Whole pages needed for ``nbytes``: (nbytes + PAGE_SIZE - 1) >> PAGE_SHIFT."""
    return (nbytes + PAGE_SIZE - 1) >> PAGE_SHIFT
