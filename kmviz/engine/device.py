"""A DMA-capable device: it reads and writes physical memory by bus address, in bytes.

A device does not go through the CPU's page tables: it is handed a *bus address* (on x86-64
without an IOMMU, the physical address) and moves bytes from there on, one physical frame
after the next.  Memory from kmalloc() or __get_free_pages() is physically contiguous, so that
works; a vmalloc() buffer is contiguous only virtually, so after its first page the device
would land in frames that belong to someone else.  6.1's dma_map_single() therefore refuses
vmalloc memory (include/linux/dma-mapping.h L332), and a device that can only drive 24 address
lines (ISA) needs memory below 16 MiB: GFP_DMA.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import PAGE_SHIFT, PAGE_SIZE
from .events import DeviceWrote, DmaMapped
from .gfp import BIT, GFP_KERNEL, gfp_t
from .page import get_order
from .page import pages as pages_for
from .pagetable import VMALLOC_END, VMALLOC_START
from .reports import TAINT_WARN, warning

if TYPE_CHECKING:
    from .kernel import Kernel

DMA_MAPPING_ERROR = (1 << 64) - 1  # ~(dma_addr_t)0
CMA_ALIGNMENT = 8  # CONFIG_CMA_ALIGNMENT: at most 2^8 pages (1 MiB) of alignment


class Device:
    """A device that does DMA with ``dma_bits`` address lines (64 for PCIe, 24 for ISA)."""

    def __init__(self, kernel: Kernel, name: str, dma_bits: int):
        self.kernel = kernel
        self.name = name
        self.dma_mask = (1 << dma_bits) - 1  # *dev->dma_mask
        self._warned: set[str] = set()  # dev_WARN_ONCE() sites that fired
        self._coherent: dict[int, tuple[str, int]] = {}  # dma_handle -> ("cma", pages) or
        # ("pages", order): what dma_alloc_coherent() took

    def dma_map_single(self, addr: int, size: int) -> int:
        """The bus address the device may use for ``size`` bytes at ``addr``, or the error value.

        Mirrors dma_map_single_attrs() then dma_direct_map_page(): vmalloc memory is rejected
        with a warning, and so is memory the device's mask cannot reach.
        """
        k = self.kernel
        k._check_alive()
        _require_span(addr, size, "dma_map_single")
        if VMALLOC_START <= addr <= VMALLOC_END:
            self._warn_once(
                "include/linux/dma-mapping.h:332",
                f"{self.name} {self.name}: rejecting DMA map of vmalloc memory",
            )
            k._notify()
            return DMA_MAPPING_ERROR
        phys = k.virt_to_phys(addr)
        if phys + size - 1 > self.dma_mask:
            self._warn_once(
                "kernel/dma/direct.h:103",
                f"{self.name} {self.name}: DMA addr {phys:#018x}+{size} overflow "
                f"(mask {self.dma_mask:x}, bus limit 0).",
            )
            k._notify()
            return DMA_MAPPING_ERROR
        k.history.append_object(DmaMapped(self.name, addr, phys, size))
        k._notify()
        return phys

    def dma_alloc_coherent(self, size: int, gfp: int | str = GFP_KERNEL) -> tuple[int, int]:
        """``(cpu_addr, dma_handle)`` of ``size`` bytes the CPU and the device share; (0, 0).

        Mirrors dma_direct_alloc() → __dma_direct_alloc_pages() (kernel/dma/direct.c): the
        device's mask picks GFP_DMA (24 bits) or GFP_DMA32 (32 bits); a blocking request of
        more than a page tries the CMA area first (dma_alloc_contiguous(), cma_alloc()
        aligned to min(get_order(size), CONFIG_CMA_ALIGNMENT)) and drops it if the device
        cannot reach it; otherwise, or then, alloc_pages() of get_order(size).
        """
        k = self.kernel
        k._check_alive()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"dma_alloc_coherent() takes a size >= 1 in bytes, not {size!r}")
        gfp = gfp_t(gfp)
        if self.dma_mask < (1 << 24):  # dma_direct_optimal_gfp_mask()
            zone_gfp = BIT.DMA
        elif self.dma_mask < (1 << 32):
            zone_gfp = BIT.DMA32
        else:
            zone_gfp = 0
        pages = pages_for(size)
        order = get_order(size)
        if k.cma_count and gfp & BIT.DIRECT_RECLAIM and size > PAGE_SIZE:
            page = k.cma_alloc(pages, min(order, CMA_ALIGNMENT), bool(gfp & BIT.NOWARN))
            if page is not None and page.phys + size - 1 > self.dma_mask:  # dma_coherent_ok()
                k.cma_release(page, pages)
                page = None
            if page is not None:
                self._coherent[page.phys] = ("cma", pages)
                return k.page_address(page), page.phys
        page = k.alloc_pages(gfp | zone_gfp, order)
        if page is None:
            return 0, 0
        self._coherent[page.phys] = ("pages", order)
        return k.page_address(page), page.phys

    def dma_free_coherent(self, size: int, cpu_addr: int, dma_handle: int) -> None:
        """Give back a dma_alloc_coherent() buffer (dma_free_contiguous() or __free_pages())."""
        k = self.kernel
        how = self._coherent.pop(dma_handle, None)
        if how is None or k.page_address(k.pfn_to_page(dma_handle >> PAGE_SHIFT)) != cpu_addr:
            raise ValueError(
                f"dma_free_coherent({size}, {cpu_addr:#x}, {dma_handle:#x}): not a buffer "
                f"dma_alloc_coherent() gave {self.name}"
            )
        page = k.pfn_to_page(dma_handle >> PAGE_SHIFT)
        kind, amount = how
        if kind == "cma":
            k.cma_release(page, amount)
        else:
            k.free_pages_block(page, amount)

    def dma_mapping_error(self, dma_addr: int) -> bool:
        """True if ``dma_addr`` is the error value dma_map_single() returns."""
        return dma_addr == DMA_MAPPING_ERROR

    def write(self, dma_addr: int, size: int) -> list[int]:
        """The device writes ``size`` bytes from bus address ``dma_addr``: the frames it hits.

        A DMA engine walks physical memory straight on, frame after frame; it knows nothing
        of the page tables that make a vmalloc() buffer look contiguous to the CPU.  Only
        frames of this machine's memory are listed: beyond it there is nothing to hit.
        """
        self.kernel._check_alive()
        _require_span(dma_addr, size, "write")
        first = dma_addr >> PAGE_SHIFT
        last = min((dma_addr + size - 1) >> PAGE_SHIFT, self.kernel.nr_pfns - 1)
        pfns = list(range(first, last + 1))
        self.kernel.history.append_object(DeviceWrote(self.name, dma_addr, size, tuple(pfns)))
        self.kernel._notify()
        return pfns

    def _warn_once(self, location: str, message: str) -> None:
        """dev_WARN_ONCE(): the first time a site trips, the warning; later, nothing."""
        k = self.kernel
        if location in self._warned:
            return
        self._warned.add(location)
        k._print_lines(
            warning(location, k.comm, k.pid, k.taint,
                    k._trace("dma_map_single_attrs", "lesson_start_xmit [lesson]"), message)
        )  # fmt: skip
        k.taint |= 1 << TAINT_WARN


def _require_span(addr, size, what: str) -> None:
    """``addr`` and ``size`` are ints naming bytes inside the 64-bit space (else an error)."""
    for value in (addr, size):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what}() takes an address and a size (ints), not {value!r}")
    if addr < 0 or size < 1 or addr + size > 1 << 64:
        raise ValueError(f"{what}({addr:#x}, {size}): a size >= 1 within 64-bit addresses")
