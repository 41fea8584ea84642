"""The kernel log: lines of text with a level and a timestamp in nanoseconds, bounded in bytes.

printk() in Linux writes each message into a ring buffer of ``log_buf_len`` bytes
(``1 << CONFIG_LOG_BUF_SHIFT``, 128 KiB on Debian's 6.1); when it is full the oldest messages
are overwritten.  ``dmesg`` prints each line as ``[%5lu.%06lu] text``: seconds and
microseconds since boot.  Levels are kept so a view can colour them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

KERN_EMERG = 0
KERN_ALERT = 1
KERN_CRIT = 2
KERN_ERR = 3
KERN_WARNING = 4
KERN_NOTICE = 5
KERN_INFO = 6
KERN_DEBUG = 7
LEVEL_NAMES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")

LOG_BUF_LEN = 1 << 17  # bytes: CONFIG_LOG_BUF_SHIFT=17
RECORD_OVERHEAD = 16  # bytes of struct printk_info per record, roughly, counted against the buffer


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the kernel log."""

    timestamp_ns: int
    level: int
    text: str

    def format(self) -> str:
        """The line as dmesg prints it: ``[    1.234567] text``."""
        seconds, rest = divmod(self.timestamp_ns, 1_000_000_000)
        return f"[{seconds:5d}.{rest // 1000:06d}] {self.text}"


class KernelLog:
    """A byte-bounded ring of log lines; the oldest lines drop out first."""

    def __init__(self, capacity: int = LOG_BUF_LEN):
        self.capacity = capacity  # bytes
        self.lines: deque[LogLine] = deque()
        self.used = 0  # bytes held now
        self.dropped = 0  # lines overwritten since boot

    def append(self, timestamp_ns: int, level: int, text: str) -> LogLine:
        """Store one line (no newline inside), dropping the oldest lines if the ring is full."""
        line = LogLine(timestamp_ns, level, text)
        self.used += len(text) + RECORD_OVERHEAD
        self.lines.append(line)
        while self.used > self.capacity and len(self.lines) > 1:
            old = self.lines.popleft()
            self.used -= len(old.text) + RECORD_OVERHEAD
            self.dropped += 1
        return line

    def text(self, level: int | None = None) -> str:
        """The log as dmesg prints it; with ``level``, only lines at that level or more urgent."""
        return "".join(
            line.format() + "\n" for line in self.lines if level is None or line.level <= level
        )
