"""Draw the Teams app icons (color.png 192x192, outline.png 32x32) with the
standard library only: two overlapping circles, two peers side by side.

Run from anywhere: python deploy/teams/make_icons.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEAL = (0x2E, 0x7D, 0x6B, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def png(width: int, pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    raw = b"".join(b"\x00" + b"".join(struct.pack("4B", *p) for p in row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, len(pixels), 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def draw(size: int, background, ring: float | None) -> bytes:
    """Two circles; ``ring`` draws outlines of that width instead of discs."""
    centres = [(size * 0.39, size * 0.5), (size * 0.61, size * 0.5)]
    radius = size * 0.22
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            colour = background
            for cx, cy in centres:
                distance = ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2) ** 0.5
                if (ring is None and distance <= radius) or (ring is not None and radius - ring <= distance <= radius):
                    colour = WHITE
            row.append(colour)
        rows.append(row)
    return png(size, rows)


if __name__ == "__main__":
    (HERE / "color.png").write_bytes(draw(192, TEAL, None))
    (HERE / "outline.png").write_bytes(draw(32, CLEAR, 2.2))
    print("wrote color.png and outline.png")
