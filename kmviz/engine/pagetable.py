"""x86-64 4-level page tables: 8-byte entries in 4 KiB tables that map virtual pages to frames.

Addresses are bytes, frames are pfns, entries are 64-bit ints.  A 48-bit virtual address is
cut into four 9-bit table indexes and a 12-bit offset (arch/x86/include/asm/pgtable_64_types.h
L77–L99: PGDIR_SHIFT 39, PUD_SHIFT 30, PMD_SHIFT 21, PTRS_PER_* 512)::

    63      48 47   39 38   30 29   21 20   12 11         0
    | sign    | PGD   | PUD   | PMD   | PTE   | offset     |

    0xffffc90000c35234 (a vmalloc address)
      PGD index (0xffffc90000c35234 >> 39) & 511 == 402
      PUD index (0xffffc90000c35234 >> 30) & 511 == 0
      PMD index (0xffffc90000c35234 >> 21) & 511 == 6
      PTE index (0xffffc90000c35234 >> 12) & 511 == 53
      offset     0xffffc90000c35234 & 0xfff    == 0x234

Each table is one 4 KiB page of 512 entries of 8 bytes, so one PTE table maps 512 x 4 KiB =
2 MiB, one PMD table 1 GiB, one PUD table 512 GiB and the PGD all 256 TiB.  CR3 holds the pfn
of the PGD (for kernel addresses: ``init_mm.pgd``, swapper_pg_dir).  An entry holds the pfn of
the next table or of the page frame in bits 12..51 and flags in the rest::

    0x8000000012345163 == NX | pfn 0x12345 << 12 | G D A RW P  (PAGE_KERNEL, 0x8000000000000163)

The CPU walks PGD -> PUD -> PMD -> PTE; an entry without _PAGE_PRESENT ends the walk with a
page fault.  A PUD or PMD entry with _PAGE_PSE is a *leaf*: it maps a whole 1 GiB or 2 MiB page
and the walk stops there, which is how the direct map at PAGE_OFFSET is built.  The kernel
half of the address space (bits 47..63 all ones) starts at PGD index 256::

    PAGE_OFFSET        0xffff888000000000  PGD 273            direct map of all RAM
    VMALLOC_START      0xffffc90000000000  PGD 402            vmalloc/ioremap, 32 TiB
    VMALLOC_END        0xffffe8ffffffffff  PGD 465 (PUD, PMD, PTE 511)
    __START_KERNEL_map 0xffffffff80000000  PGD 511, PUD 510   the kernel image

What this model decides, and why (Linux 6.1.192):

* Tables are stored sparsely, ``{table pfn: {index: entry}}``; a missing index is an empty
  (pte_none) entry.  Table pages come from the caller's ``alloc_table(level)`` (the caller's
  page allocator, a zeroed page) and go back through ``free_table(pfn)``.
* A table entry is written as ``table_pfn << 12 | _PAGE_TABLE`` (0x67: P RW USR A D), because
  that is what p4d_populate() (the PGD entry on 4-level paging), pud_populate() and
  pmd_populate_kernel() write (arch/x86/include/asm/pgalloc.h L116, L102, L68), even for
  init_mm.  _KERNPG_TABLE (0x63) is what the boot-time tables in head_64.S use; a leaf without
  _PAGE_USER keeps user space out either way.
* Python misuse raises PageTableError (a ValueError): non-canonical or unaligned addresses,
  pfns beyond 52 physical bits, a prot without _PAGE_PRESENT, a 4 KiB call inside a huge page.
  What the kernel answers with a WARN and an error code returns False and appends a WarnRecord
  to ``warnings``: mapping over a present PTE is vmap_pages_pte_range()'s
  ``WARN_ON(!pte_none(*pte))`` -> -EBUSY (mm/vmalloc.c L541).
* A failed table allocation (-ENOMEM) frees the tables this call allocated, so no half-built
  path is left.  The kernel keeps the upper tables it already populated (they are valid,
  empty tables); kmviz removes them so counts before and after a failure are equal.
* Unmapping clears the leaf entry only and never frees table pages, as vunmap does:
  vunmap_pte_range() clears PTEs with ptep_get_and_clear() and vunmap_pmd_range() /
  vunmap_pud_range() skip or clear entries but free no tables (mm/vmalloc.c L386–L499).
  The next mapping in the same 2 MiB reuses the PTE table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import fastpath
from .constants import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, START_KERNEL_MAP

__all__ = [  # PAGE_OFFSET is re-exported so the lessons find every region's start here
    "LEVELS",
    "MODULES_END",
    "MODULES_VADDR",
    "PAGE_KERNEL",
    "PAGE_KERNEL_EXEC",
    "PAGE_KERNEL_IO_UC_MINUS",
    "PAGE_OFFSET",
    "VMALLOC_END",
    "VMALLOC_START",
    "PageTableError",
    "PageTables",
    "START_KERNEL_map",
    "Step",
    "Walk",
    "WarnRecord",
    "canonical",
    "describe_flags",
    "pgd_index",
    "pmd_index",
    "ptdump_prot",
    "pte_index",
    "pud_index",
]

# --- geometry (pgtable_64_types.h L77–L105, 4-level paging) -----------------------------------
PGDIR_SHIFT = 39  # bits; one PGD entry maps 512 GiB
PUD_SHIFT = 30  # bits; one PUD entry maps 1 GiB
PMD_SHIFT = 21  # bits; one PMD entry maps 2 MiB
PTRS_PER_PGD = 512  # entries per table, 8 bytes each: 4 KiB
PTRS_PER_PUD = 512
PTRS_PER_PMD = 512
PTRS_PER_PTE = 512
PGDIR_SIZE = 1 << PGDIR_SHIFT  # bytes: 512 GiB
PUD_SIZE = 1 << PUD_SHIFT  # bytes: 1 GiB
PMD_SIZE = 1 << PMD_SHIFT  # bytes: 2 MiB
VIRTUAL_MASK_SHIFT = 47  # __VIRTUAL_MASK_SHIFT (page_64_types.h): bit 47 is copied upwards
PHYSICAL_MASK_SHIFT = 52  # __PHYSICAL_MASK_SHIFT (page_64_types.h L54)
MAX_PFN = 1 << (PHYSICAL_MASK_SHIFT - PAGE_SHIFT)  # pfns must be below 2^40

# --- entry bits (pgtable_types.h L10–L29) ------------------------------------------------------
_PAGE_BIT_PRESENT = 0  # is present
_PAGE_BIT_RW = 1  # writeable
_PAGE_BIT_USER = 2  # userspace addressable
_PAGE_BIT_PWT = 3  # page write through
_PAGE_BIT_PCD = 4  # page cache disabled
_PAGE_BIT_ACCESSED = 5  # was accessed (set by the CPU)
_PAGE_BIT_DIRTY = 6  # was written to (set by the CPU)
_PAGE_BIT_PSE = 7  # 2 MiB / 1 GiB page, in a PMD / PUD entry
_PAGE_BIT_PAT = 7  # the same bit in a 4 KiB PTE
_PAGE_BIT_GLOBAL = 8  # global TLB entry: survives a CR3 switch
_PAGE_BIT_SOFTW1 = 9  # available for software (_PAGE_SPECIAL)
_PAGE_BIT_SOFTW2 = 10
_PAGE_BIT_SOFTW3 = 11
_PAGE_BIT_PAT_LARGE = 12  # PAT on 2 MiB / 1 GiB pages
_PAGE_BIT_SOFTW4 = 58  # _PAGE_DEVMAP
_PAGE_BIT_PKEY_BIT0 = 59  # protection key, 4 bits
_PAGE_BIT_NX = 63  # no execute

_PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT  # 0x1
_PAGE_RW = 1 << _PAGE_BIT_RW  # 0x2
_PAGE_USER = 1 << _PAGE_BIT_USER  # 0x4
_PAGE_PWT = 1 << _PAGE_BIT_PWT  # 0x8
_PAGE_PCD = 1 << _PAGE_BIT_PCD  # 0x10
_PAGE_ACCESSED = 1 << _PAGE_BIT_ACCESSED  # 0x20
_PAGE_DIRTY = 1 << _PAGE_BIT_DIRTY  # 0x40
_PAGE_PSE = 1 << _PAGE_BIT_PSE  # 0x80
_PAGE_PAT = 1 << _PAGE_BIT_PAT  # 0x80
_PAGE_GLOBAL = 1 << _PAGE_BIT_GLOBAL  # 0x100
_PAGE_SOFTW1 = 1 << _PAGE_BIT_SOFTW1  # 0x200
_PAGE_SOFTW2 = 1 << _PAGE_BIT_SOFTW2  # 0x400
_PAGE_SOFTW3 = 1 << _PAGE_BIT_SOFTW3  # 0x800
_PAGE_PAT_LARGE = 1 << _PAGE_BIT_PAT_LARGE  # 0x1000
_PAGE_SOFTW4 = 1 << _PAGE_BIT_SOFTW4
_PAGE_PKEY_MASK = 0xF << _PAGE_BIT_PKEY_BIT0
_PAGE_NX = 1 << _PAGE_BIT_NX  # 0x8000000000000000

# PTE_PFN_MASK = PHYSICAL_PAGE_MASK: bits 12..51 (pgtable_types.h L257, page_types.h L19)
PTE_PFN_MASK = ((1 << PHYSICAL_MASK_SHIFT) - 1) & ~(PAGE_SIZE - 1)  # 0x000ffffffffff000
_ENTRY_MASK = (1 << 64) - 1

# --- composites (pgtable_types.h L191–L222; _ENC is 0 without SME/SEV) ------------------------
__PAGE_KERNEL = (  # P RW A D G NX = 0x8000000000000163
    _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_NX | _PAGE_DIRTY | _PAGE_GLOBAL
)
__PAGE_KERNEL_EXEC = __PAGE_KERNEL & ~_PAGE_NX  # 0x163
__PAGE_KERNEL_LARGE = __PAGE_KERNEL | _PAGE_PSE  # 0x80000000000001e3
_KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY  # 0x63
_PAGE_TABLE = _KERNPG_TABLE | _PAGE_USER  # 0x67
PAGE_KERNEL = __PAGE_KERNEL  # what vmalloc() maps with
PAGE_KERNEL_EXEC = __PAGE_KERNEL_EXEC  # module text
# ioremap() of device registers: __PAGE_KERNEL_IO (== __PAGE_KERNEL on x86-64) with the
# cache mode _PAGE_CACHE_MODE_UC_MINUS, which the default PAT layout encodes as PCD
PAGE_KERNEL_IO_UC_MINUS = __PAGE_KERNEL | _PAGE_PCD  # 0x8000000000000173
TABLE_ENTRY_FLAGS = _PAGE_TABLE  # what *_populate() put next to a table's pfn (see above)

# --- kernel address space (pgtable_64_types.h L126–L146, page_64_types.h L42–L50) -------------
VMALLOC_START = 0xFFFFC90000000000  # __VMALLOC_BASE_L4
VMALLOC_END = VMALLOC_START + (32 << 40) - 1  # 0xffffe8ffffffffff: VMALLOC_SIZE_TB_L4 = 32
START_KERNEL_map = START_KERNEL_MAP  # __START_KERNEL_map 0xffffffff80000000: the kernel image
# module space: MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB with
# CONFIG_RANDOMIZE_BASE, as Debian builds it) = 0xffffffffc0000000, up to MODULES_END
MODULES_VADDR = START_KERNEL_MAP + (1 << 30)
MODULES_END = 0xFFFFFFFFFF000000
# PAGE_OFFSET (0xffff888000000000, the direct map) comes from .constants

LEVELS = ("PGD", "PUD", "PMD", "PTE")  # the order of a walk; P4D is folded into the PGD
_SHIFT = {"PGD": PGDIR_SHIFT, "PUD": PUD_SHIFT, "PMD": PMD_SHIFT, "PTE": PAGE_SHIFT}
_PTDUMP_LEVEL = {"PGD": 0, "PUD": 2, "PMD": 3, "PTE": 4}  # dump_pagetables.c level numbers


class PageTableError(ValueError):
    """A call the kernel would never make: a bad address, pfn or prot, or a misused callback."""


def pgd_index(addr: int) -> int:
    """Index into the PGD: pgd_index() (include/linux/pgtable.h L86), ``(addr >> 39) & 511``."""
    return (addr >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1)


def pud_index(addr: int) -> int:
    """Index into a PUD table: pud_index() (include/linux/pgtable.h L77), ``(addr >> 30) & 511``."""
    return (addr >> PUD_SHIFT) & (PTRS_PER_PUD - 1)


def pmd_index(addr: int) -> int:
    """Index into a PMD table: pmd_index() (include/linux/pgtable.h L69), ``(addr >> 21) & 511``."""
    return (addr >> PMD_SHIFT) & (PTRS_PER_PMD - 1)


def pte_index(addr: int) -> int:
    """Index into a PTE table: pte_index() (include/linux/pgtable.h L62), ``(addr >> 12) & 511``."""
    return (addr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)


_INDEX = {"PGD": pgd_index, "PUD": pud_index, "PMD": pmd_index, "PTE": pte_index}


def canonical(addr: int) -> bool:
    """Whether a 64-bit address is canonical: bits 48..63 all equal bit 47.

    The CPU raises #GP for anything else before it walks a table, so the usable addresses are
    0..0x00007fffffffffff (users) and 0xffff800000000000..0xffffffffffffffff (kernel):
    ``0xffffc90000000000 >> 47 == 0x1ffff`` is canonical, ``0x0000800000000000 >> 47 == 1``
    is not.  Mirrors __is_canonical_address(vaddr, 48) (arch/x86/include/asm/page.h L79).
    """
    return 0 <= addr <= _ENTRY_MASK and (addr >> VIRTUAL_MASK_SHIFT) in (0, 0x1FFFF)


_FLAG_NAMES = (
    (_PAGE_PRESENT, "P"),
    (_PAGE_RW, "RW"),
    (_PAGE_USER, "USR"),
    (_PAGE_PWT, "PWT"),
    (_PAGE_PCD, "PCD"),
    (_PAGE_ACCESSED, "A"),
    (_PAGE_DIRTY, "D"),
    (_PAGE_PSE, "PSE"),  # "PAT" in a 4 KiB PTE
    (_PAGE_GLOBAL, "G"),
    (_PAGE_SOFTW1, "SW1"),
    (_PAGE_SOFTW2, "SW2"),
    (_PAGE_SOFTW3, "SW3"),
    (_PAGE_PAT_LARGE, "PAT"),  # only in a PSE leaf; otherwise an address bit
    (_PAGE_SOFTW4, "SW4"),
)


def describe_flags(entry: int, level: str | None = None) -> str:
    """The set flag bits of an entry, low bit first: PAGE_KERNEL gives ``"P RW A D G NX"``.

    kmviz's own compact style (the kernel's ptdump layout is ptdump_prot()).  Letters: P
    present, RW writable, USR user, PWT, PCD, A accessed, D dirty, PSE huge page, G global,
    SW1..SW4 software bits, PKEY=n, NX no-execute.  Bit 7 reads "PSE" unless ``level`` is
    "PTE", where it is the PAT bit; bit 12 reads "PAT" only in a PUD/PMD entry with PSE set
    (elsewhere it is part of the pfn).  An all-zero entry (pte_none) is ``"none"``.
    """
    entry = _check_entry(entry)
    if entry == 0:
        return "none"
    huge = level in ("PUD", "PMD") and entry & _PAGE_PSE
    names = []
    for bit, name in _FLAG_NAMES:
        if not entry & bit:
            continue
        if bit == _PAGE_PAT_LARGE and not huge:
            continue
        names.append("PAT" if bit == _PAGE_PSE and level == "PTE" else name)
    if entry & _PAGE_PKEY_MASK:
        names.append(f"PKEY={(entry & _PAGE_PKEY_MASK) >> _PAGE_BIT_PKEY_BIT0}")
    if entry & _PAGE_NX:
        names.append("NX")
    return " ".join(names) if names else "-"


def ptdump_prot(entry: int, level: str) -> str:
    """The protection columns of /sys/kernel/debug/page_tables, ending with the level name.

    Mirrors printk_prot() (arch/x86/mm/dump_pagetables.c L179–L225) column for column:
    ``"    RW                 GLB NX pte"`` for PAGE_KERNEL in a PTE, 30 blanks before the
    level name when the entry is not present.
    """
    entry = _check_entry(entry)
    where = _check_level(level, LEVELS)
    number = _PTDUMP_LEVEL[where]
    if not entry & _PAGE_PRESENT:
        return " " * 30 + where.lower()
    text = "USR " if entry & _PAGE_USER else "    "
    text += "RW " if entry & _PAGE_RW else "ro "
    text += "PWT " if entry & _PAGE_PWT else "    "
    text += "PCD " if entry & _PAGE_PCD else "    "
    text += "PSE " if number <= 3 and entry & _PAGE_PSE else "    "  # bit 7 differs in a PTE
    pat = (number == 4 and entry & _PAGE_PAT) or (number in (2, 3) and entry & _PAGE_PAT_LARGE)
    text += "PAT " if pat else "    "
    text += "GLB " if entry & _PAGE_GLOBAL else "    "
    text += "NX " if entry & _PAGE_NX else "x  "
    return text + where.lower()


def protval_4k_2_large(prot: int) -> int:
    """A 4 KiB prot for a huge entry: the PAT bit moves from bit 7 to bit 12.

    Mirrors protval_4k_2_large() (pgtable_types.h L469): PAGE_KERNEL has no PAT bit, so
    ``protval_4k_2_large(0x8000000000000163) == 0x8000000000000163``; 0x80 becomes 0x1000.
    """
    return (prot & ~(_PAGE_PAT | _PAGE_PAT_LARGE)) | ((prot & _PAGE_PAT) << 5)


@dataclass(frozen=True, slots=True)
class WarnRecord:
    """A WARN the kernel would print: where (file:line), in which function, and why."""

    location: str
    function: str
    text: str

    def __str__(self) -> str:
        return f"WARNING at {self.location} {self.function}: {self.text}"


@dataclass(frozen=True, slots=True)
class Step:
    """One entry the walk read: ``level[index]`` of the table at ``table_pfn``.

    ``next_pfn`` is what a present entry points at: the next table, or for a leaf (a PTE or a
    PSE entry, ``large``) the page frame it maps, the first of 512 or 262144 for a huge page.
    It is None when the entry is not present.
    """

    level: str
    table_pfn: int
    index: int
    entry: int
    flags_text: str
    next_pfn: int | None
    large: bool

    @property
    def present(self) -> bool:
        """Whether the CPU may go on: pte_present(), _PAGE_PRESENT set."""
        return bool(self.entry & _PAGE_PRESENT)

    @property
    def leaf(self) -> bool:
        """Whether this entry maps memory rather than a table: a PTE or a PSE entry."""
        return self.present and (self.level == "PTE" or self.large)


@dataclass(frozen=True, slots=True)
class Walk:
    """What the MMU does with one virtual address: the entries read and where it ended.

    ``phys`` is the physical address of the byte, or None when an entry was not present;
    then ``fault_level`` names the level whose entry was empty (the page fault).
    """

    vaddr: int
    steps: tuple[Step, ...]
    phys: int | None
    fault_level: str | None

    @property
    def pfn(self) -> int | None:
        """The page frame holding the byte: ``phys >> 12``."""
        return None if self.phys is None else self.phys >> PAGE_SHIFT

    def __str__(self) -> str:
        lines = [
            f"walk {self.vaddr:#018x}: "
            + ", ".join(f"{lv} {_INDEX[lv](self.vaddr)}" for lv in LEVELS)
            + f", offset {self.vaddr & (PAGE_SIZE - 1):#x}"
        ]
        if self.steps:
            lines.append(f"  CR3 -> PGD table at pfn {self.steps[0].table_pfn:#x}")
        for step in self.steps:
            head = f"  {step.level}[{step.index}]".ljust(11) + f"= {step.entry:#018x}"
            flags = f"({step.flags_text})".ljust(24)
            if not step.present:
                tail = f"not present: page fault at the {step.level}"
            elif step.large:
                size = "1 GiB" if step.level == "PUD" else "2 MiB"
                tail = f"-> {size} page at pfn {step.next_pfn:#x}"
            elif step.level == "PTE":
                tail = f"-> page frame pfn {step.next_pfn:#x}"
            else:
                tail = f"-> {LEVELS[LEVELS.index(step.level) + 1]} table at pfn {step.next_pfn:#x}"
            lines.append(f"{head} {flags} {tail}")
        if self.phys is not None and not self.steps:
            lines.append(f"  no page tables built yet: the direct map gives phys = {self.phys:#x}")
        elif self.phys is not None:
            last = self.steps[-1]
            offset = self.vaddr & ((1 << _SHIFT[last.level]) - 1)
            lines.append(
                f"  phys = {last.next_pfn << PAGE_SHIFT:#x} + {offset:#x} = {self.phys:#x}"
            )
        return "\n".join(lines)


class PageTables:
    """The kernel's page tables (init_mm.pgd): a PGD and the tables below it, built on demand.

    ``alloc_table(level)`` returns the pfn of a zeroed 4 KiB page for a table of ``level``
    ("PGD", "PUD", "PMD" or "PTE"), or -1 when there is none; ``free_table(pfn)`` gives one
    back.  The PGD is allocated here; PageTableError if that fails.
    """

    def __init__(self, alloc_table: Callable[[str], int], free_table: Callable[[int], None]):
        self._alloc_table = alloc_table
        self._free_table = free_table
        self._tables: dict[int, dict[int, int]] = {}  # table pfn -> index -> non-zero entry
        self._levels: dict[int, str] = {}  # table pfn -> the level of the table
        self._leaves = 0  # present leaf entries (4 KiB PTEs and huge PMD/PUD entries)
        # the PTE table of each 2 MiB stretch found so far, by vaddr >> PMD_SHIFT: a PTE
        # table stays where it is until it is dropped (vunmap frees no tables)
        self._pte_tables: dict[int, dict[int, int]] = {}
        # runs of PTEs in one table: in C (_fastpath.c) if built, else the functions below
        self._fill, self._clear = fastpath.pte_functions() or (_pte_fill, _pte_clear)
        self.warnings: list[WarnRecord] = []
        pgd = self._new_table("PGD")
        if pgd is None:
            raise PageTableError("alloc_table('PGD') found no page for the PGD (swapper_pg_dir)")
        self.pgd_pfn = pgd

    # --- building ------------------------------------------------------------------------------

    def map_page(self, vaddr: int, pfn: int, prot: int = PAGE_KERNEL) -> bool:
        """Map the 4 KiB page at ``vaddr`` to frame ``pfn``; False if a table or the slot fails.

        Mirrors vmap_pages_range()'s descent (mm/vmalloc.c L523–L650): pud_alloc_track(),
        pmd_alloc_track() and pte_alloc_kernel_track() allocate missing tables, then
        set_pte_at(..., mk_pte(page, prot)) writes ``pfn << 12 | prot``.  A present PTE is
        left alone and recorded as vmap_pages_pte_range()'s WARN_ON(!pte_none(*pte)) (L541).
        """
        _check_vaddr(vaddr, PAGE_SIZE, "map_page")
        _check_pfn(pfn, 1, "map_page")
        _check_prot(prot)
        return self._install(vaddr, "PTE", (pfn << PAGE_SHIFT) | prot)

    def map_large(self, vaddr: int, pfn: int, level: str, prot: int = PAGE_KERNEL) -> bool:
        """Map a 2 MiB ("PMD") or 1 GiB ("PUD") page with one PSE entry; False if it fails.

        Mirrors pmd_set_huge() / pud_set_huge() (arch/x86/mm/pgtable.c L744 / L717): the entry
        is ``pfn << 12 | protval_4k_2_large(prot) | _PAGE_PSE`` (0x80000000000001e3 for
        PAGE_KERNEL), vaddr and the physical address aligned to the page size.  The kernel
        bails out on a populated table entry (L757) and would overwrite a huge one; kmviz
        refuses both, returns False and records why.
        """
        where = _check_level(level, ("PMD", "PUD"))
        size = 1 << _SHIFT[where]
        _check_vaddr(vaddr, size, "map_large")
        _check_pfn(pfn, size >> PAGE_SHIFT, "map_large")
        _check_prot(prot)
        entry = (pfn << PAGE_SHIFT) | protval_4k_2_large(prot) | _PAGE_PSE
        return self._install(vaddr, where, entry)

    def _install(self, vaddr: int, leaf: str, entry: int) -> bool:
        """Write a leaf entry, allocating the missing tables above it first (all or none)."""
        depth = LEVELS.index(leaf)  # tables above the leaf's table: 3 for a PTE
        table = self.pgd_pfn
        present = 0  # how many levels of the path already exist
        for level in LEVELS[:depth]:
            index = _INDEX[level](vaddr)
            current = self._tables[table].get(index, 0)
            if not current:
                break
            if current & _PAGE_PSE:
                raise PageTableError(
                    f"{vaddr:#x} lies in a {'1 GiB' if level == 'PUD' else '2 MiB'} page "
                    f"({level}[{index}] = {current:#x}); unmap_large() it first"
                )
            table = _entry_pfn(current, level)
            present += 1
        else:
            index = _INDEX[leaf](vaddr)
            current = self._tables[table].get(index, 0)
            if current:
                self.warnings.append(_busy_warning(vaddr, leaf, index, current))
                return False
        # allocate every missing table before touching any entry: no half-built path
        new: list[int] = []
        for child in LEVELS[present + 1 : depth + 1]:
            pfn = self._new_table(child)
            if pfn is None:
                for done in reversed(new):
                    self._drop_table(done)
                return False  # -ENOMEM from pud_alloc / pmd_alloc / pte_alloc_kernel
            new.append(pfn)
        for level, child in zip(LEVELS[present:depth], new, strict=True):
            self._tables[table][_INDEX[level](vaddr)] = (child << PAGE_SHIFT) | TABLE_ENTRY_FLAGS
            table = child
        self._tables[table][_INDEX[leaf](vaddr)] = entry
        self._leaves += 1
        return True

    def _new_table(self, level: str) -> int | None:
        """One zeroed table page from the caller, or None when alloc_table() returns -1."""
        pfn = self._alloc_table(level)
        if isinstance(pfn, bool) or not isinstance(pfn, int):
            raise PageTableError(f"alloc_table({level!r}) must return a pfn (int), got {pfn!r}")
        if pfn == -1:
            return None
        if not 0 <= pfn < MAX_PFN:
            raise PageTableError(f"alloc_table({level!r}) returned pfn {pfn}, not 0..2^40-1")
        if pfn in self._tables:
            raise PageTableError(
                f"alloc_table({level!r}) returned pfn {pfn:#x}, already a {self._levels[pfn]} table"
            )
        self._tables[pfn] = {}
        self._levels[pfn] = level
        return pfn

    def _drop_table(self, pfn: int) -> None:
        self._pte_tables.clear()
        del self._tables[pfn]
        del self._levels[pfn]
        self._free_table(pfn)

    # --- tearing down --------------------------------------------------------------------------

    def unmap_page(self, vaddr: int) -> int | None:
        """Clear the 4 KiB PTE for ``vaddr`` and return the pfn it mapped, None if none.

        Mirrors vunmap_pte_range() (mm/vmalloc.c L386): ptep_get_and_clear() on the PTE; an
        empty PGD/PUD/PMD entry is skipped (pmd_none_or_clear_bad()).  No table page is freed,
        as vunmap frees none.  Inside a huge page it raises: use unmap_large().
        """
        _check_vaddr(vaddr, PAGE_SIZE, "unmap_page")
        table = self.pgd_pfn
        for level in ("PGD", "PUD", "PMD"):
            index = _INDEX[level](vaddr)
            current = self._tables[table].get(index, 0)
            if not current:
                return None
            if current & _PAGE_PSE:
                raise PageTableError(
                    f"{vaddr:#x} lies in a huge page ({level}[{index}] = {current:#x}); "
                    f"use unmap_large({vaddr & -(1 << _SHIFT[level]):#x}, {level!r})"
                )
            table = _entry_pfn(current, level)
        current = self._tables[table].pop(pte_index(vaddr), 0)
        if not current:
            return None
        self._leaves -= 1
        return _entry_pfn(current, "PTE")

    def map_pages(self, vaddr: int, pfns: list[int], prot: int = PAGE_KERNEL) -> int:
        """Map consecutive pages from ``vaddr`` to ``pfns``; how many were mapped.

        vmap_pages_range() for a whole area: the same result as map_page() page by page, but
        each 2 MiB stretch finds (or allocates) its PTE table once and fills its slots in one
        go.  It stops at the first page that cannot be mapped (a table allocation failed or
        the slot was taken).
        """
        if not _kernel_page(vaddr):
            _check_vaddr(vaddr, PAGE_SIZE, "map_pages")
        if prot.__class__ is not int or prot != PAGE_KERNEL:
            _check_prot(prot)
        if pfns.__class__ is not list:  # any sequence: map_checked()'s C writes read a list
            pfns = list(pfns)
        for pfn in pfns:
            if pfn.__class__ is not int or not 0 <= pfn < MAX_PFN:
                _check_pfn(pfn, 1, "map_pages")
        return self.map_checked(vaddr, pfns, prot)

    def map_checked(self, vaddr: int, pfns: list[int], prot: int) -> int:
        """map_pages() of arguments already known to be good (vmalloc()'s own frames)."""
        total = len(pfns)
        first = (vaddr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)
        pte_table = self._pte_tables.get(vaddr >> PMD_SHIFT)
        if (
            pte_table is not None  # one known PTE table holds the run, and all its slots are free
            and first + total <= PTRS_PER_PTE
            and self._fill(pte_table, first, pfns, prot)
        ):
            self._leaves += total
            return total
        done = 0
        while done < total:
            page = vaddr + (done << PAGE_SHIFT)
            first = pte_index(page)
            count = min(PTRS_PER_PTE - first, total - done)  # slots left in this PTE table
            pte_table = self._pte_table(page)
            if pte_table is None:  # descend, allocating the tables, with the first entry
                if not self._install(page, "PTE", (pfns[done] << PAGE_SHIFT) | prot):
                    return done
                pte_table = self._pte_table(page)
                first, count, done = first + 1, count - 1, done + 1
                page += PAGE_SIZE
            if not self._fill(pte_table, first, pfns[done : done + count], prot):
                # a present PTE: map up to it, warn
                slots = range(first, first + count)
                busy = next(index for index in slots if index in pte_table)
                count = busy - first
                self._fill(pte_table, first, pfns[done : done + count], prot)
                self._leaves += count
                self.warnings.append(
                    _busy_warning(page + (count << PAGE_SHIFT), "PTE", busy, pte_table[busy])
                )
                return done + count
            self._leaves += count
            done += count
        return total

    def unmap_pages(self, vaddr: int, count: int) -> list[int | None]:
        """Clear ``count`` consecutive PTEs from ``vaddr``; the pfn each mapped (or None)."""
        if not _kernel_page(vaddr):
            _check_vaddr(vaddr, PAGE_SIZE, "unmap_pages")
        pfns: list[int | None] = []
        done = 0
        while done < count:
            page = vaddr + (done << PAGE_SHIFT)
            first = pte_index(page)
            chunk = min(PTRS_PER_PTE - first, count - done)  # slots left in this PTE table
            pte_table = self._pte_table(page)
            if pte_table is None:
                pfns += [None] * chunk
            else:
                pop = pte_table.pop
                entries = [pop(index, 0) for index in range(first, first + chunk)]
                self._leaves -= chunk - entries.count(0)
                pfns += [(entry & PTE_PFN_MASK) >> PAGE_SHIFT if entry else None
                         for entry in entries]  # fmt: skip
            done += chunk
        return pfns

    def clear_range(self, vaddr: int, count: int) -> None:
        """unmap_pages() of a page-aligned kernel ``vaddr`` when nobody needs the old pfns.

        vunmap_range_noflush() (mm/vmalloc.c L501) as free_unmap_vmap_area() (L1908) calls
        it for vfree(): the PTEs are cleared, the tables stay.
        """
        first = (vaddr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)
        pte_table = self._pte_tables.get(vaddr >> PMD_SHIFT)
        if pte_table is not None and first + count <= PTRS_PER_PTE:  # one known PTE table
            self._leaves -= self._clear(pte_table, first, count)
            return
        done = 0
        while done < count:
            page = vaddr + (done << PAGE_SHIFT)
            first = pte_index(page)
            chunk = min(PTRS_PER_PTE - first, count - done)  # slots left in this PTE table
            pte_table = self._pte_table(page)
            if pte_table is not None:
                self._leaves -= self._clear(pte_table, first, chunk)
            done += chunk

    def _pte_table(self, vaddr: int) -> dict | None:
        """The PTE table (index → entry) covering ``vaddr``, or None if the path is not there."""
        table = self._pte_tables.get(vaddr >> PMD_SHIFT)
        if table is not None:
            return table
        table = self.pgd_pfn
        for level in ("PGD", "PUD", "PMD"):
            current = self._tables[table].get(_INDEX[level](vaddr), 0)
            if not current or current & _PAGE_PSE:
                return None
            table = _entry_pfn(current, level)
        self._pte_tables[vaddr >> PMD_SHIFT] = self._tables[table]
        return self._tables[table]

    def unmap_large(self, vaddr: int, level: str) -> int | None:
        """Clear the huge PMD/PUD entry at ``vaddr`` and return its first pfn, None if empty.

        Mirrors pmd_clear_huge() / pud_clear_huge() as vunmap_pmd_range() / vunmap_pud_range()
        call them (mm/vmalloc.c L399–L445); the tables above stay.  PageTableError if the
        entry points to a table instead.
        """
        where = _check_level(level, ("PMD", "PUD"))
        _check_vaddr(vaddr, 1 << _SHIFT[where], "unmap_large")
        table = self.pgd_pfn
        for above in LEVELS[: LEVELS.index(where)]:
            current = self._tables[table].get(_INDEX[above](vaddr), 0)
            if not current:
                return None
            if current & _PAGE_PSE:
                raise PageTableError(f"{vaddr:#x} lies in a larger page mapped at the {above}")
            table = _entry_pfn(current, above)
        index = _INDEX[where](vaddr)
        current = self._tables[table].get(index, 0)
        if not current:
            return None
        if not current & _PAGE_PSE:
            raise PageTableError(
                f"{where}[{index}] for {vaddr:#x} points to a table, not a huge page"
            )
        del self._tables[table][index]
        self._leaves -= 1
        return _entry_pfn(current, where, large=True)

    # --- reading -------------------------------------------------------------------------------

    def walk(self, vaddr: int) -> Walk:
        """What the MMU does for ``vaddr``: read PGD, PUD, PMD, PTE until a leaf or a hole.

        The software twin is the pgd_offset_k() / pud_offset() / pmd_offset() /
        pte_offset_map() chain of vmalloc_to_page() (mm/vmalloc.c L731–L785).  A PSE entry
        ends the walk early: ``phys = huge pfn << 12 | (vaddr & (size - 1))``.  A
        non-canonical address raises PageTableError (the CPU's #GP comes before any walk).
        """
        _check_int(vaddr, "walk")
        if not canonical(vaddr):
            raise PageTableError(f"walk({vaddr:#x}): not canonical (bits 48..63 != bit 47)")
        steps = []
        table = self.pgd_pfn
        for level in LEVELS:
            index = _INDEX[level](vaddr)
            entry = self._tables[table].get(index, 0)
            large = level in ("PUD", "PMD") and bool(entry & _PAGE_PSE)
            present = bool(entry & _PAGE_PRESENT)
            target = _entry_pfn(entry, level, large) if present else None
            text = describe_flags(entry, level)
            steps.append(Step(level, table, index, entry, text, target, large))
            if not present:
                return Walk(vaddr, tuple(steps), None, level)
            if large or level == "PTE":
                offset = vaddr & ((1 << _SHIFT[level]) - 1)
                return Walk(vaddr, tuple(steps), (target << PAGE_SHIFT) | offset, None)
            table = target
        raise AssertionError("unreachable: the PTE level always ends the walk")

    def table_pages(self) -> dict[int, str]:
        """Every page the tables occupy, pfn -> "PGD"/"PUD"/"PMD"/"PTE", for views to colour."""
        return dict(self._levels)

    def entries(self, table_pfn: int) -> dict[int, int]:
        """The non-empty entries of one table, index -> entry (a copy)."""
        if table_pfn not in self._tables:
            raise PageTableError(f"pfn {table_pfn!r} is not a page-table page")
        return dict(self._tables[table_pfn])

    def mapped_count(self) -> int:
        """Present leaf entries: each 4 KiB PTE, 2 MiB PMD and 1 GiB PUD mapping counts once."""
        return self._leaves

    def __repr__(self) -> str:
        return (
            f"<PageTables pgd:{self.pgd_pfn:#x} tables:{len(self._tables)} mappings:{self._leaves}>"
        )


# --- helpers -------------------------------------------------------------------------------------


def _entry_pfn(entry: int, level: str, large: bool = False) -> int:
    """The pfn in an entry: pte_pfn() / pmd_pfn() / pud_pfn(), bits 12..51 (or 21/30..51)."""
    mask = PTE_PFN_MASK
    if large:  # pmd_pfn_mask() (pgtable_types.h L425) drops bit 12, the large PAT bit
        mask &= ~((1 << _SHIFT[level]) - 1)
    return (entry & mask) >> PAGE_SHIFT


def _busy_warning(vaddr: int, level: str, index: int, current: int) -> WarnRecord:
    if level == "PTE":
        return WarnRecord(
            "mm/vmalloc.c:541",
            "vmap_pages_pte_range",
            f"WARN_ON(!pte_none(*pte)): PTE[{index}] for {vaddr:#x} already holds "
            f"{current:#x} (pfn {_entry_pfn(current, 'PTE'):#x}); -EBUSY",
        )
    where = "arch/x86/mm/pgtable.c:757" if level == "PMD" else "arch/x86/mm/pgtable.c:727"
    what = "a table" if not current & _PAGE_PSE else "a huge page"
    return WarnRecord(
        where,
        f"{level.lower()}_set_huge",
        f"{level}[{index}] for {vaddr:#x} already holds {current:#x} ({what}); not replaced",
    )


def _pte_fill(table: dict[int, int], first: int, pfns: list[int], prot: int) -> bool:
    """Write ``pfn << 12 | prot`` into slots first, first + 1, ... of a PTE table; False,
    with nothing written, if one of them holds an entry (vmap_pages_pte_range()'s pte_none())."""
    slots = range(first, first + len(pfns))
    if not table.keys().isdisjoint(slots):
        return False
    table.update(zip(slots, [(pfn << PAGE_SHIFT) | prot for pfn in pfns], strict=True))
    return True


def _pte_clear(table: dict[int, int], first: int, count: int) -> int:
    """Remove slots first .. first + count - 1 of a PTE table; how many held an entry."""
    held = len(table)
    pop = table.pop
    for index in range(first, first + count):
        pop(index, None)
    return held - len(table)


def _kernel_page(vaddr: object) -> bool:
    """Whether ``vaddr`` is a page-aligned int in the canonical kernel half (no check needed)."""
    return vaddr.__class__ is int and not vaddr & (PAGE_SIZE - 1) and vaddr >> 47 == 0x1FFFF


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}() takes an int, not {type(value).__name__}")
    return value


def _check_entry(entry: object) -> int:
    _check_int(entry, "an entry")
    if not 0 <= entry <= _ENTRY_MASK:
        raise PageTableError(f"an entry is 64 bits, got {entry:#x}")
    return entry


def _check_level(level: object, allowed: tuple[str, ...]) -> str:
    if level not in allowed:
        raise PageTableError(f"level must be one of {', '.join(allowed)}, got {level!r}")
    return level


def _check_vaddr(vaddr: object, align: int, what: str) -> None:
    _check_int(vaddr, what)
    if not canonical(vaddr):
        raise PageTableError(f"{what}({vaddr:#x}): not canonical (bits 48..63 != bit 47)")
    if vaddr & (align - 1):
        raise PageTableError(f"{what}({vaddr:#x}): not aligned to {align:#x} bytes")


def _check_pfn(pfn: object, align: int, what: str) -> None:
    _check_int(pfn, what)
    if not 0 <= pfn < MAX_PFN:
        raise PageTableError(f"{what}: pfn {pfn} does not fit in 52 physical bits")
    if pfn & (align - 1):
        raise PageTableError(f"{what}: pfn {pfn:#x} is not a multiple of {align} pages")


def _check_prot(prot: object) -> None:
    _check_int(prot, "prot")
    if not 0 <= prot <= _ENTRY_MASK or prot & PTE_PFN_MASK:
        raise PageTableError(f"prot {prot:#x} has bits outside the flags (or beyond 64 bits)")
    if not prot & _PAGE_PRESENT:
        raise PageTableError(f"prot {prot:#x} lacks _PAGE_PRESENT; kernel mappings are present")
