"""Hands out PNG bytes of a grid of palette indices, encoded with numpy and zlib (no Pillow).

A palette PNG (colour type 3) stores one byte per pixel, an index into its PLTE chunk of RGB
triples, so a view that already holds one frame code per cell sends the codes as they are::

    signature | IHDR (width, height, 8 bits, type 3) | PLTE (RGB × codes) | IDAT | IEND
    IDAT = zlib(for each row: filter byte 0 + the row's indices)    # 512 × 256 cells: 131,328 B

Every chunk is its length (4 bytes, big-endian), its type, its data and the CRC-32 of type
and data (the PNG specification, section 5.3).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
BIT_DEPTH = 8  # one byte per pixel
COLOUR_TYPE_PALETTE = 3
COMPRESSION_LEVEL = 1  # fastest; the maps are long runs of one code and compress well anyway


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 over type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def palette_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """PNG bytes of ``indices`` (2-D uint8, rows × columns) coloured by ``palette`` (N × 3 RGB)."""
    if indices.ndim != 2 or indices.dtype != np.uint8:
        raise ValueError("indices must be a 2-D uint8 array (rows × columns)")
    if palette.shape[1:] != (3,) or not 1 <= len(palette) <= 256:
        raise ValueError("palette must be 1 to 256 RGB triples")
    height, width = indices.shape
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # column 0: filter type 0 ("None")
    rows[:, 1:] = indices
    header = struct.pack(">IIBBBBB", width, height, BIT_DEPTH, COLOUR_TYPE_PALETTE, 0, 0, 0)
    return b"".join(
        (
            SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"PLTE", palette.astype(np.uint8).tobytes()),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), COMPRESSION_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )
