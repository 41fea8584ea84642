"""trace.load()'s vectorised twin: a tracefs kmem trace's bytes to Trace columns with numpy; events.

trace.py's ``_LineReader`` is the readable parser: one line at a time, one regular expression
per line.  ``read_columns()`` gives the same Trace (the same columns, tables, counts and
errors) a few megabytes at a time: it finds the lines, checks the fixed layout
``trace_print_context()`` prints (``"%16s-%-7d [%03d] %5s %5lu.%06lu: "``) and each of the
seven events' ``key=value`` fields with array operations, and hands every line it cannot
take whole (the header, gaps, other events, other layouts, anything malformed) to
``_LineReader`` in file order, so that such lines report and count exactly as there.
When kmviz's C fast path is built, ``_ScannedChunk`` has _fastpath.c scan_trace_lines() read
each line's layout and fields instead of ``_Chunk``'s array operations (the same checks, a
few times faster); the checks made once per distinct string stay here for both.
tests/real/test_trace_columns.py compares each with the reference record for record.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from . import trace as _trace
from .engine import fastpath
from .engine.gfp import parse_gfp

# The fields after "<event>: " as TP_printk() prints them (include/trace/events/kmem.h)
KEYS = {
    _trace.KMALLOC: (
        "call_site=",
        " ptr=",
        " bytes_req=",
        " bytes_alloc=",
        " gfp_flags=",
        " node=",
        " accounted=",
    ),
    _trace.KFREE: ("call_site=", " ptr="),
    _trace.KMEM_CACHE_FREE: ("call_site=", " ptr=", " name="),
    _trace.MM_PAGE_ALLOC: ("page=", " pfn=", " order=", " migratetype=", " gfp_flags="),
    _trace.MM_PAGE_FREE: ("page=", " pfn=", " order="),
    _trace.MM_PAGE_FREE_BATCHED: ("page=", " pfn=", " order="),
}
KEYS[_trace.KMEM_CACHE_ALLOC] = KEYS[_trace.KMALLOC]
NAMED_ALLOC_KEYS = (*KEYS[_trace.KMALLOC][:2], " name=", *KEYS[_trace.KMALLOC][2:])  # after 6.1
# What each value must look like (the groups of trace.FIELDS): "site" and "name" .+, "ptr"
# 16 hex digits, "dec" \d+ (at most 18, an int64), "node" -?\d+ (at most 9, an int32), "gfp"
# \S+ (parsed), "bool" true|false, "pfn" 0x and 1-15 hex digits, "zero" the batched order 0.
VALUES = {
    "call_site=": "site",
    " ptr=": "ptr",
    " name=": "name",
    " bytes_req=": "dec",
    " bytes_alloc=": "dec",
    " gfp_flags=": "gfp",
    " node=": "node",
    " accounted=": "bool",
    "page=": "ptr",
    " pfn=": "pfn",
    " order=": "dec",
    " migratetype=": "node",
}
CONTEXT_WIDTH = 36  # "%16s-%-7d [%03d] " and the five flag characters
SECONDS = 37  # "%5lu": right-aligned, wider after 27 hours of uptime
MAX_WIDER = 4  # seconds of up to 9 digits are read here; longer lines go to _LineReader
HEX = np.full(256, 255, np.uint8)
HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
WHITESPACE = set(b" \t\n\v\f\r\x1c\x1d\x1e\x1f")  # what \s matches in an ASCII str
PADDING = 64  # zero bytes after a chunk, so that words can be read up to its end
LONGEST = 256  # longer call sites, names and flags go to _LineReader
WORD_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], np.uint64)
ZEROS, HIGH_NIBBLES, SIXES, BIT_4 = (
    int.from_bytes(bytes([b]) * 8, "little") for b in b"0\xf0\x06\x10"
)
# Eight digit values (0..15) in a little-endian word, the first digit in its lowest byte, to
# their number in three steps, (multiplier, shift, mask) each: pairs of digits into 16-bit
# lanes ("1","2" -> 12), pairs of those into 32-bit lanes (12, 34 -> 1234), then the halves.
LANE_MASKS = (0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF)
DECIMAL_STEPS, HEX_STEPS = (
    [
        (np.uint64(base**n), np.uint64(8 * n), np.uint64(mask))
        for n, mask in zip((1, 2, 4), LANE_MASKS, strict=True)
    ]
    for base in (10, 16)
)


class _Lines:
    """One chunk of a trace: its bytes, and where each line starts and ends (newline excluded)."""

    def __init__(self, padded: bytes, size: int):
        self.data = padded  # the chunk, then PADDING zero bytes to read words up to its end
        self.size = np.int64(size)  # a numpy scalar: numpy mixes Python ints in slowly
        self.buf = np.frombuffer(padded, np.uint8)
        # the 8 bytes from every position, as little-endian words (overlapping)
        self.words = np.ndarray((size + PADDING - 7,), np.dtype("<u8"), padded, 0, (1,))
        self.ends = np.flatnonzero(self.buf[:size] == 10)  # every line of a chunk ends in \n
        self.starts = np.concatenate(([0], self.ends[:-1] + 1))
        self.equals = np.flatnonzero(self.buf[:size] == ord("="))

    def __len__(self) -> int:
        return len(self.starts)

    def text(self, index: int) -> str:
        """Line ``index`` of the chunk with its newline, as _LineReader reads it."""
        return self.data[int(self.starts[index]) : int(self.ends[index]) + 1].decode("ascii")

    def gather(self, at: np.ndarray, width: int) -> np.ndarray:
        """The ``width`` (at most 48) bytes from each position in ``at``, one row each."""
        count = (width + 7) // 8
        rows = self.words[np.minimum(at, self.size)[:, None] + np.arange(0, 8 * count, 8)]
        return rows.view(np.uint8)[:, :width]

    def matches(self, at: np.ndarray, text: bytes) -> np.ndarray:
        """Whether the bytes at each position in ``at`` are ``text``."""
        at = np.minimum(at, self.size)
        ok = np.ones(len(at), bool)
        for offset in range(0, len(text), 8):
            piece = text[offset : offset + 8]
            word = self.words[at + offset] & WORD_MASKS[len(piece)]
            ok &= word == np.uint64(int.from_bytes(piece, "little"))
        return ok

    def decimal(self, start: np.ndarray, end: np.ndarray) -> tuple:
        """(values, ok): the decimal digits in [start, end) of each row; ok if 1..16 digits."""
        words, ok = self._right_aligned(start, end)
        words ^= np.uint64(ZEROS)  # "0".."9" to 0..9, each byte
        both = words[:, 0] | words[:, 1]
        ok &= (both & np.uint64(HIGH_NIBBLES)) == 0  # each byte 0..15 ...
        sixes = np.uint64(SIXES)
        both = (words[:, 0] + sixes) | (words[:, 1] + sixes)
        ok &= (both & np.uint64(BIT_4)) == 0  # ... and 0..9 (10..15 + 6 carry into bit 4)
        high, low = _digit_words(words, DECIMAL_STEPS)  # "12345678", "90123456" ...
        return (high * np.uint64(10**8) + low).astype(np.int64), ok  # ... 1234567890123456

    def hexadecimal(self, start: np.ndarray, end: np.ndarray) -> tuple:
        """(values as uint64, ok): lowercase hex digits in [start, end); ok if 1..16 of them."""
        words, ok = self._right_aligned(start, end)
        digits = HEX[words.view(np.uint8)]
        both = digits.view(np.uint64)
        ok &= ((both[:, 0] | both[:, 1]) & np.uint64(HIGH_NIBBLES)) == 0  # not 255: hex digits
        high, low = _digit_words(both, HEX_STEPS)
        return high << np.uint64(32) | low, ok

    def _right_aligned(self, start, end) -> tuple:
        """(words, ok): the 16 bytes before each ``end`` as two words, "0" before ``start``;
        ok if there are 1..16 bytes from ``start``."""
        width = end - start
        words = self.words[np.maximum(end, 16)[:, None] - np.array([16, 8])]
        for column, first_kept in enumerate((16, 8)):  # bytes of word 0 are 0..7, word 1 8..15
            dropped = WORD_MASKS[np.clip(first_kept - width, 0, 8)]
            words[:, column] = (words[:, column] & ~dropped) | (np.uint64(ZEROS) & dropped)
        return words, (width >= 1) & (width <= 16)

    def intern(self, start: np.ndarray, end: np.ndarray) -> tuple:
        """(ids, table, ok): each row's bytes [start, end) as an index into ``table``.

        Rows are grouped by a hash of their 8-byte words, then compared word for word with
        their group's first row: a row that differs (a hash collision) is not ok, nor one
        longer than LONGEST.
        """
        width = np.minimum(end - start, LONGEST)
        words = (int(width.max()) + 7) // 8 if len(start) else 0
        columns = []
        hashed = width.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        for column in range(words):
            left = np.clip(width - 8 * column, 0, 8)
            word = self.words[np.minimum(start + 8 * column, self.size)] & WORD_MASKS[left]
            columns.append(word)
            hashed = (hashed ^ word) * np.uint64(0xFF51AFD7ED558CCD)
            hashed ^= hashed >> np.uint64(29)
        _, first, ids = np.unique(hashed, return_index=True, return_inverse=True)
        ids = ids.reshape(-1)
        representative = first[ids]
        ok = (width == width[representative]) & (end - start <= LONGEST)
        for word in columns:
            ok &= word == word[representative]
        table = [self.data[int(start[row]) : int(start[row] + width[row])] for row in first]
        return ids, table, ok


class _Tables:
    """What every chunk shares: strings by global id, and what was decided about each once."""

    def __init__(self):
        self.contexts: dict[bytes, int] = {}
        self.context_ok: dict[bytes, bool] = {}  # checked once with EVENT_LINE
        self.call_sites: dict[bytes, int] = {}
        self.names: dict[bytes, int] = {}
        self.gfp: dict[bytes, int | None] = {}  # the mask, None if parse_gfp() refused it

    @staticmethod
    def register(table: dict[bytes, int], ids: np.ndarray, texts) -> np.ndarray:
        """``ids`` (into a chunk's ``texts``, -1: none) as ids into ``table``.

        Strings new to ``table`` are added in the order ``ids`` first uses them, so that
        the table lists them in the order the file does.
        """
        texts = list(texts)
        used = ids >= 0
        seen, first = np.unique(ids[used], return_index=True)
        mapping = np.full(len(texts) + 1, -1, np.int64)  # the last: -1 stays -1
        for local in seen[np.argsort(first)].tolist():
            mapping[local] = table.setdefault(texts[local], len(table))
        return mapping[ids]

    def gfp_masks(self, texts: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(masks, ok) of a chunk's gfp_flags texts, each parsed once per trace; one more: none."""
        masks, ok = [], []
        for text in texts:
            if text not in self.gfp:
                self.gfp[text] = None
                if not any(byte in WHITESPACE for byte in text):  # \S+
                    try:
                        mask = parse_gfp(text.decode("ascii"))
                    except ValueError:  # _LineReader reports it, at its first line
                        mask = None
                    if mask is not None and 0 <= mask < 1 << 32:
                        self.gfp[text] = mask
            mask = self.gfp[text]
            masks.append(mask or 0)
            ok.append(mask is not None)
        return np.array([*masks, 0], np.int64), np.array([*ok, True])


class _Chunk:
    """The event lines of one chunk read with array operations, and the lines left over."""

    def __init__(self, lines: _Lines, tables: _Tables):
        self.lines = lines
        self.tables = tables
        start, end = lines.starts, lines.ends
        keep = end - start >= 60  # the context, the time and the shortest event
        index, start, end = np.flatnonzero(keep), start[keep], end[keep]
        head = lines.gather(start, SECONDS + 5 + MAX_WIDER + 1)
        dot = SECONDS + 5 + np.argmax(head[:, SECONDS + 5 :] == ord("."), axis=1)
        keep = (head[:, CONTEXT_WIDTH] == ord(" ")) & (head[np.arange(len(dot)), dot] == ord("."))
        seconds_digits = np.zeros(len(dot), np.int64)
        seconds = np.zeros(len(dot), np.int64)
        for column in range(SECONDS, SECONDS + 5 + MAX_WIDER):
            byte = head[:, column].astype(np.int64)
            inside = column < dot
            digit = (byte >= 48) & (byte <= 57)
            # "%5lu": spaces, then digits up to the dot
            keep &= ~inside | digit | ((byte == 32) & (seconds_digits == 0))
            seconds = np.where(inside & digit, seconds * 10 + byte - 48, seconds)
            seconds_digits += inside & digit
        keep &= seconds_digits >= 1
        micro_value, micro_ok = lines.decimal(start + dot + 1, start + dot + 7)  # "%06lu: "
        keep &= micro_ok & lines.matches(start + dot + 7, b": ")
        self.timestamp = (seconds * 1_000_000 + micro_value) * 1000
        event = start + dot + 9  # where the event's name starts
        kind = np.full(len(index), -1, np.int64)
        name_words = lines.gather(event, 24).view(np.uint64)  # the longest name and ": "
        for number, name in enumerate(_trace.TRACEPOINTS):
            kind[_words_are(name_words, (name + ": ").encode())] = number
        keep &= kind >= 0
        field_start = event + np.array([len(name) + 2 for name in _trace.TRACEPOINTS])[kind]
        self.index, self.kind = index, kind
        context_ids, contexts, context_ok = lines.intern(start, start + CONTEXT_WIDTH)
        keep &= context_ok
        self.call_site = np.full(len(index), -1, np.int64)  # into self.sites, -1 none
        self.name = np.full(len(index), -1, np.int64)  # into self.names, -1 none
        self.sites: dict[bytes, int] = {}
        self.names: dict[bytes, int] = {}
        self.gfp = np.zeros(len(index), np.int64)
        self.pointer = np.zeros(len(index), np.uint64)
        self.first = np.zeros(len(index), np.int64)
        self.second = np.zeros(len(index), np.int64)
        self.node = np.zeros(len(index), np.int64)
        self.accounted = np.zeros(len(index), np.int64)
        first_eq = np.searchsorted(lines.equals, field_start)
        equals = np.searchsorted(lines.equals, end) - first_eq
        parsed = np.zeros(len(index), bool)
        for kind_number in range(len(_trace.TRACEPOINTS)):
            keys_choices = [KEYS[kind_number]]
            if kind_number == _trace.KMEM_CACHE_ALLOC:
                keys_choices.append(NAMED_ALLOC_KEYS)
            for keys in keys_choices:
                rows = np.flatnonzero(keep & (kind == kind_number) & (equals == len(keys)))
                if len(rows):
                    parsed[rows] = self._fields(
                        rows, keys, first_eq[rows], field_start[rows], end[rows], kind_number
                    )
        keep &= parsed  # lines with as many "=" as their event's fields, each field right
        keep &= _contexts_ok(tables, lines, context_ids, contexts, field_start - start, keep, index)
        rows = np.flatnonzero(keep)
        self.fast = np.zeros(len(lines), bool)
        self.fast[index[rows]] = True
        self.line_index = index[rows]
        self.columns = {  # the kept lines' values, the strings as global ids (-1: none)
            "kind": kind[rows],
            "context": tables.register(tables.contexts, context_ids[rows], contexts),
            "timestamp_ns": self.timestamp[rows],
            "call_site": tables.register(tables.call_sites, self.call_site[rows], self.sites),
            "pointer": self.pointer[rows],
            "bytes_req_or_pfn": self.first[rows],
            "bytes_alloc_or_order": self.second[rows],
            "gfp": self.gfp[rows],
            "node_or_migratetype": self.node[rows],
            "name": tables.register(tables.names, self.name[rows], self.names),
            "accounted": self.accounted[rows],
        }
        del self.timestamp, self.call_site, self.pointer, self.first, self.second, self.gfp
        del self.node, self.name, self.accounted, self.index, self.kind, self.lines

    @staticmethod
    def _local(table: dict[bytes, int], texts: list[bytes]) -> np.ndarray:
        """Chunk-wide ids of ``texts`` (one field's table), new ones added to ``table``."""
        return np.array([table.setdefault(text, len(table)) for text in texts], np.int64)

    def _fields(self, rows, keys, first_eq, field_start, end, kind) -> np.ndarray:
        """Read ``keys``' values of the lines ``rows`` into the columns; which lines were ok."""
        lines = self.lines
        at = lines.equals[first_eq[:, None] + np.arange(len(keys))]
        ok = at[:, 0] - len(keys[0]) + 1 == field_start
        for column, key in enumerate(keys):
            ok &= lines.matches(at[:, column] - len(key) + 1, key.encode())
        for column, key in enumerate(keys):
            value_start = at[:, column] + 1
            if column + 1 < len(keys):
                value_end = at[:, column + 1] - len(keys[column + 1]) + 1
            else:
                value_end = end
            ok &= value_end > value_start
            ok &= self._value(rows, VALUES[key], key, value_start, value_end, kind)
        if kind == _trace.MM_PAGE_FREE_BATCHED:  # "order=0" only
            ok &= (at[:, 2] + 2 == end) & (lines.buf[at[:, 2] + 1] == ord("0"))
        return ok

    def _value(self, rows, what, key, start, end, kind) -> np.ndarray:
        """Read one field of the lines ``rows``: into its column; which lines had it right."""
        lines = self.lines
        if what == "ptr":
            values, ok = lines.hexadecimal(start, end)
            self.pointer[rows] = values
            return ok & (end - start == 16)
        if what == "pfn":
            prefix = (lines.buf[start] == ord("0")) & (lines.buf[start + 1] == ord("x"))
            values, ok = lines.hexadecimal(start + 2, end)
            self.first[rows] = values.astype(np.int64)
            return ok & prefix & (end - start <= 2 + 15)  # an int64
        if what == "dec":  # bytes_req into the first column; bytes_alloc, order the second
            values, ok = lines.decimal(start, end)
            (self.first if key == " bytes_req=" else self.second)[rows] = values
            return ok
        if what == "node":
            negative = lines.buf[start] == ord("-")
            values, ok = lines.decimal(start + negative, end)
            self.node[rows] = np.where(negative, -values, values)
            return ok & (end - start - negative <= 9)  # an int32
        if what == "bool":
            width = end - start
            true = (width == 4) & lines.matches(start, b"true")
            false = (width == 5) & lines.matches(start, b"false")
            self.accounted[rows] = true
            return true | false
        ids, texts, ok = lines.intern(start, end)
        if what == "site":
            self.call_site[rows] = self._local(self.sites, texts)[ids]
        elif what == "name":
            self.name[rows] = self._local(self.names, texts)[ids]
            if kind == _trace.KMEM_CACHE_ALLOC:  # \S+ there
                spaced = [any(byte in WHITESPACE for byte in text) for text in texts]
                ok &= ~np.array(spaced, bool)[ids]
        else:  # gfp
            masks, parsed = self.tables.gfp_masks(texts)
            self.gfp[rows] = masks[ids]
            ok &= parsed[ids]
        return ok


class _LineTexts:
    """The lines of a chunk read in C: where each starts (and the end after the last)."""

    def __init__(self, data: bytes, starts: np.ndarray):
        self.data = data
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts) - 1

    def text(self, index: int) -> str:
        """Line ``index`` of the chunk with its newline, as _LineReader reads it."""
        return self.data[int(self.starts[index]) : int(self.starts[index + 1])].decode("ascii")


# scan_trace_lines()'s columns (_fastpath.c S_*), one row per line, and their types
SCAN_COLUMNS = (
    ("starts", np.int64),  # and one more row: the end of the last line
    ("kind", np.int8),  # -1: a line for _LineReader
    ("context", np.int32),  # ids into the chunk's tables, -1: none
    ("timestamp_ns", np.int64),
    ("call_site", np.int32),
    ("name", np.int32),
    ("gfp", np.int32),  # the gfp_flags text's id; its mask is found in Python
    ("pointer", np.uint64),
    ("bytes_req_or_pfn", np.int64),
    ("bytes_alloc_or_order", np.int64),
    ("node_or_migratetype", np.int64),
    ("accounted", np.int8),
    ("fields_at", np.int32),  # where the fields start in the line
)


class _ScannedChunk:
    """_Chunk's work done by _fastpath.c scan_trace_lines(): the same fast lines and columns.

    C reads each line's layout, numbers and strings; the checks made once per distinct
    string (a context EVENT_LINE reads whole, a gfp_flags text parse_gfp() takes) stay here.
    """

    def __init__(self, lines: _LineTexts, scanned: tuple, local: tuple, tables: _Tables):
        """``scanned``: what scan_trace_lines() returned for ``lines``, with the chunk's
        tables of strings ``local`` (contexts, call sites, names, gfp_flags texts)."""
        scanned = {
            name: np.frombuffer(column, dtype)
            for (name, dtype), column in zip(SCAN_COLUMNS, scanned, strict=True)
        }
        count = len(scanned["kind"])
        contexts, sites, names, gfp_texts = (list(table) for table in local)
        masks, parsed = tables.gfp_masks(gfp_texts)
        gfp = scanned["gfp"]
        keep = (scanned["kind"] >= 0) & parsed[gfp]
        context = scanned["context"]
        line_of = np.arange(count)
        keep &= _contexts_ok(tables, lines, context, contexts, scanned["fields_at"], keep, line_of)
        rows = np.flatnonzero(keep)
        self.fast = keep
        self.line_index = rows
        if len(rows) < count:  # the kept lines' values (most chunks keep every line)
            scanned = {name: column[rows] for name, column in scanned.items()}
        self.columns = {name: scanned[name] for name in COLUMN_NAMES}
        self.columns["context"] = tables.register(tables.contexts, scanned["context"], contexts)
        self.columns["call_site"] = tables.register(tables.call_sites, scanned["call_site"], sites)
        self.columns["name"] = tables.register(tables.names, scanned["name"], names)
        self.columns["gfp"] = masks[scanned["gfp"]]


def _contexts_ok(tables: _Tables, lines, ids, texts, field_offset, keep, line_of) -> np.ndarray:
    """Whether each row's context (``ids`` into ``texts``) is one EVENT_LINE reads as that
    context, whole; each context is checked once, on the first kept row (line ``line_of[row]``
    of ``lines``) that has it."""
    known = tables.context_ok
    kept = np.flatnonzero(keep)
    used, first = np.unique(ids[kept], return_index=True)
    for context_id, row in zip(used.tolist(), kept[first].tolist(), strict=True):
        text = texts[context_id]
        if text in known:
            continue
        context = text.decode("ascii")
        line = lines.text(int(line_of[row]))
        match = _trace.EVENT_LINE.match(line)
        known[text] = (
            match is not None
            and match.group(1) == context
            and match.end() == field_offset[row]
            and not any(ord(char) in WHITESPACE for char in context[:16].lstrip(" "))
        )
    return np.array([*(known.get(text, False) for text in texts), False], bool)[ids]  # -1: none


COLUMN_NAMES = (
    "kind",
    "context",
    "timestamp_ns",
    "call_site",
    "pointer",
    "bytes_req_or_pfn",
    "bytes_alloc_or_order",
    "gfp",
    "node_or_migratetype",
    "name",
    "accounted",
)


def _digit_words(words: np.ndarray, steps) -> tuple[np.ndarray, np.ndarray]:
    """The numbers that each row's two words of eight digit values (byte 0 first) spell."""
    result = []
    for column in (0, 1):
        word = words[:, column]
        for multiplier, shift, mask in steps:
            word = (word * multiplier + (word >> shift)) & mask
        result.append(word)
    return result[0], result[1]


def _words_are(words: np.ndarray, text: bytes) -> np.ndarray:
    """Whether each row of ``words`` (8 bytes each, little-endian) starts with ``text``."""
    ok = np.ones(len(words), bool)
    for column, offset in enumerate(range(0, len(text), 8)):
        piece = text[offset : offset + 8]
        ok &= (words[:, column] & WORD_MASKS[len(piece)]) == int.from_bytes(piece, "little")
    return ok


def read_columns(blocks: Iterable[bytes], source: str) -> _trace.Trace | None:
    """The Trace of the bytes in ``blocks``, as load() gives it; None to read it with _LineReader.

    None when the bytes are not ASCII (load() decodes them with errors="replace"), hold a
    carriage return (text files split lines there too), or start a trace-cmd report
    ("cpus=N", whose events print differently).
    """
    tables = _Tables()
    scan = fastpath.trace_scanner()  # the lines read in C, if the fast path is built
    chunks: list[_Chunk | _ScannedChunk] = []
    slow: list[tuple[int, str, int]] = []  # (line index, line, fast lines before it)
    lines_before = fast_before = 0
    carry = b""  # the start of a line the next block ends
    last_line = "\n"
    for block in blocks:
        if not block.isascii() or b"\r" in block:
            return None
        cut = block.rfind(b"\n") + 1
        if not cut:
            carry += block
            continue
        data = b"".join((carry, memoryview(block)[:cut], bytes(PADDING)))
        carry = block[cut:]
        if not lines_before and data.startswith(b"cpus="):
            return None
        if scan is not None:
            local: tuple[dict[bytes, int], ...] = ({}, {}, {}, {})  # the chunk's strings
            scanned = scan(data, len(data) - PADDING, local)
            lines = _LineTexts(data, np.frombuffer(scanned[0], np.int64))
            chunk = _ScannedChunk(lines, scanned, local, tables)
        else:
            lines = _Lines(data, len(data) - PADDING)
            chunk = _Chunk(lines, tables)
        fast = chunk.fast
        counted = np.cumsum(fast) - fast + fast_before
        for index in np.flatnonzero(~fast).tolist():
            slow.append((lines_before + index, lines.text(index), int(counted[index])))
        chunk.line_index += lines_before
        chunks.append(chunk)
        fast_before += len(chunk.line_index)
        lines_before += len(lines)
        last_line = lines.text(len(lines) - 1)
    if carry:  # a last line without its newline: cut off, _LineReader says
        if not lines_before and carry.startswith(b"cpus="):
            return None
        last_line = carry.decode("ascii")
        slow.append((lines_before, last_line, fast_before))
        lines_before += 1
    return _assemble(source, tables, chunks, slow, lines_before, last_line)


def _assemble(source, tables: _Tables, chunks, slow, line_count: int, last_line: str):
    """Read the ``slow`` lines with _LineReader, in order, and merge them with the fast ones."""
    trace = _trace.Trace(source, None)
    reader = _trace._LineReader(trace)
    odd = reader.odd
    first_fast = next((int(c.line_index[0]) for c in chunks if len(c.line_index)), line_count)
    fast_count = sum(len(chunk.line_index) for chunk in chunks)
    slow_entries = 0
    slow_event_lines = []
    checked_first = False
    for index, line, fast_before in slow:
        if not checked_first and first_fast < index:
            checked_first = True
            if not slow_entries:  # the first entry is a fast line: the header must be whole
                odd.first_event(first_fast + 1)
        odd.entries = slow_entries + fast_before
        odd.events_elsewhere = fast_before
        events = len(trace.kind)
        reader.line(line, index + 1)
        slow_entries = odd.entries - fast_before
        if len(trace.kind) > events:
            slow_event_lines.append(index)
    if not checked_first and fast_count and not slow_entries:
        odd.first_event(first_fast + 1)
    odd.entries = slow_entries + fast_count
    odd.events_elsewhere = 0
    reader.end(line_count, last_line)
    _merge(trace, reader, tables, chunks, np.array(slow_event_lines, np.int64))
    return trace


def _merge(trace: _trace.Trace, reader, tables: _Tables, chunks, slow_lines) -> None:
    """Put the fast events and the slow ones (in ``trace`` now) into file order, with tables."""

    def texts(table: dict[bytes, int]) -> list[str]:
        return [text.decode("ascii") for text in table]

    if not len(slow_lines):  # the chunks' events, their tables already in file order
        for name in COLUMN_NAMES:
            typed = _trace.array(getattr(trace, name).typecode)
            values = np.concatenate([chunk.columns[name] for chunk in chunks] or [[]])
            values = values.astype(typed.typecode, copy=False)
            if name == "call_site":
                values += 1  # 0: no call site
            typed.frombytes(values.view(np.uint8))
            setattr(trace, name, typed)
        _tables(trace, texts(tables.contexts), texts(tables.call_sites), texts(tables.names))
        return
    line_index = np.concatenate([chunk.line_index for chunk in chunks] + [slow_lines])
    order = np.argsort(line_index, kind="stable")

    def merged(name: str, dtype, offset=0) -> np.ndarray:
        slow_column = getattr(trace, name)
        slow = np.frombuffer(slow_column, slow_column.typecode).astype(dtype)
        if offset:  # ids into the slow table, after the fast table's; -1 (none) stays
            slow = np.where(slow >= 0, slow + offset, -1)
        parts = [chunk.columns[name].astype(dtype) for chunk in chunks]
        return np.concatenate([*parts, slow])[order]

    contexts, context_ids = _first_seen(
        merged("context", np.int64, len(tables.contexts)),
        texts(tables.contexts) + sorted(reader.contexts, key=reader.contexts.get),
    )
    call_sites, call_site_ids = _first_seen(
        merged("call_site", np.int64, len(tables.call_sites)),
        texts(tables.call_sites) + list(reader.call_sites),
    )
    names, name_ids = _first_seen(
        merged("name", np.int64, len(tables.names)),
        texts(tables.names) + list(reader.names)[1:],
    )
    strings = {"context": context_ids, "call_site": call_site_ids + 1, "name": name_ids}
    for name in COLUMN_NAMES:
        typed = _trace.array(getattr(trace, name).typecode)
        values = strings[name] if name in strings else merged(name, typed.typecode)
        typed.frombytes(values.astype(typed.typecode).tobytes())
        setattr(trace, name, typed)
    _tables(trace, contexts, call_sites, names)


def _tables(trace: _trace.Trace, contexts: list[str], call_sites: list[str], names: list[str]):
    """Set the trace's tables of strings: contexts parsed as _new_context() does, call sites
    after "" (page events' call site 0), cache names."""
    trace.contexts = []
    for text in contexts:
        comm, pid, cpu, flags = _trace.CONTEXT.fullmatch(text).groups()
        trace.contexts.append((comm.lstrip(), int(pid), int(cpu), flags or ""))
    trace.call_sites = ["", *call_sites]
    trace.names = names


def _first_seen(ids: np.ndarray, table: list[str]) -> tuple[list[str], np.ndarray]:
    """(strings, ids): ``table``'s strings in the order ``ids`` first use them, and ids into that.

    ``table`` may hold a string twice (read fast and read slowly); "" and the id -1 mean none
    and give -1.
    """
    unified: dict[str, int] = {"": -1}
    by_text = np.array([unified.setdefault(text, len(unified) - 1) for text in table] + [-1])
    ids = by_text[np.where(ids >= 0, ids, len(table))]
    used = ids >= 0
    seen, first = np.unique(ids[used], return_index=True)
    seen = seen[np.argsort(first)]
    rank = np.zeros(len(unified), np.int64)
    rank[seen] = np.arange(len(seen))
    texts = list(unified)[1:]
    return [texts[number] for number in seen], np.where(used, rank[np.maximum(ids, 0)], -1)


def resolve_cache_names(trace: _trace.Trace) -> None:
    """trace._resolve_cache_names() with array operations: the same names, the same counts."""
    kind = np.frombuffer(trace.kind, np.uint8)
    pointer = np.frombuffer(trace.pointer, np.uint64)
    name = np.frombuffer(trace.name, np.int32).copy()
    allocs = kind == _trace.KMEM_CACHE_ALLOC
    unnamed = allocs & (name < 0)
    found = {"printed": int((allocs & (name >= 0)).sum())}
    # From the object's kmem_cache_free: the event before it at the same pointer, among
    # unnamed allocations and frees of either kind, is an unnamed allocation.
    events = np.flatnonzero(unnamed | (kind == _trace.KMEM_CACHE_FREE) | (kind == _trace.KFREE))
    events = events[np.argsort(pointer[events], kind="stable")]
    matched = (
        (pointer[events[1:]] == pointer[events[:-1]])
        & (kind[events[1:]] == _trace.KMEM_CACHE_FREE)
        & unnamed[events[:-1]]
    )
    before, after = events[:-1][matched], events[1:][matched]
    name[before] = name[after]
    found["from kmem_cache_free"] = len(after)
    # Then from the only cache whose named objects have the same (bytes_req, bytes_alloc).
    alloc_rows = np.flatnonzero(allocs)
    sizes = np.stack(
        (
            np.frombuffer(trace.bytes_req_or_pfn, np.int64)[alloc_rows],
            np.frombuffer(trace.bytes_alloc_or_order, np.int64)[alloc_rows],
        ),
        axis=1,
    )
    by_size = found["by size"] = 0
    if len(alloc_rows):
        size_ids = _row_ids(sizes)
        names = name[alloc_rows]
        named = names >= 0
        pairs = np.stack((size_ids[named], names[named]), axis=1)
        pairs = pairs[np.unique(_row_ids(pairs), return_index=True)[1]]  # distinct pairs
        candidates = np.bincount(pairs[:, 0], minlength=size_ids.max() + 1)
        only = np.full(len(candidates), -1, np.int64)
        single = candidates[pairs[:, 0]] == 1
        only[pairs[single, 0]] = pairs[single, 1]
        resolved = ~named & (only[size_ids] >= 0)
        name[alloc_rows[resolved]] = only[size_ids[resolved]]
        by_size = int(resolved.sum())
        found["unknown"] = int((~named).sum()) - by_size
    else:
        found["unknown"] = 0
    found["by size"] = by_size
    trace.name = _trace.array("i", name.astype(np.int32).tobytes())
    trace.cache_names = found


def _row_ids(rows: np.ndarray) -> np.ndarray:
    """An id for each row of a two-column int64 array: equal rows, equal ids."""
    if len(rows) and rows.min() >= 0 and rows.max() < 1 << 31:  # one int64 key per row
        keys = rows[:, 0] << 32 | rows[:, 1]
        return np.unique(keys, return_inverse=True)[1].reshape(-1)
    return np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1)


def slab_page_allocs(trace: _trace.Trace) -> bytearray:
    """trace._slab_page_allocs() with array operations: 1 for each slab-owned mm_page_alloc."""
    kind = np.frombuffer(trace.kind, np.uint8)
    streams = {}
    stream_of = np.array(
        [streams.setdefault((pid, cpu), len(streams)) for _, pid, cpu, _ in trace.contexts] or [0],
        np.int64,
    )
    stream = stream_of[np.frombuffer(trace.context, np.uint32)]
    order = np.argsort(stream, kind="stable")  # each stream's events, in trace order
    same = stream[order[1:]] == stream[order[:-1]]
    page_alloc = kind == _trace.MM_PAGE_ALLOC
    failed = page_alloc & (np.frombuffer(trace.pointer, np.uint64) == 0)
    slab_try = int(_trace.__GFP_NOWARN | _trace.__GFP_NORETRY)
    gfp = np.frombuffer(trace.gfp, np.uint32).astype(np.int64)
    slab_like = (gfp & slab_try) == slab_try
    slab_like[order[1:]] |= same & failed[order[:-1]]  # the stream's try before failed
    alloc, served = order[:-1][same], order[1:][same]  # each event and the stream's next
    alloc_or_order = np.frombuffer(trace.bytes_alloc_or_order, np.int64)
    orders = alloc_or_order[alloc]
    # PAGE_SIZE << order; above order 50 it exceeds every int64 bytes_alloc
    block_bytes = np.where(orders <= 50, _trace.PAGE_SIZE << np.clip(orders, 0, 50), -1)
    large = (
        (kind[served] == _trace.KMALLOC)
        & (alloc_or_order[served] > _trace.KMALLOC_MAX_CACHE_SIZE)
        & (alloc_or_order[served] == block_bytes)
    )
    owned = (
        page_alloc[alloc]
        & ~failed[alloc]
        & np.isin(kind[served], (_trace.KMALLOC, _trace.KMEM_CACHE_ALLOC))
        & (slab_like[alloc] | large)
    )
    result = np.zeros(len(kind), np.uint8)
    result[alloc[owned]] = 1
    return bytearray(result.tobytes())
