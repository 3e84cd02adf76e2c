"""make docs-images without a browser: its install hint, and the trimming of its screenshots."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from sandbox import docs_images


def _png(rows: list[tuple[int, bytes]], width: int) -> bytes:
    """An 8-bit RGB PNG of (filter type, filtered row bytes) rows, as an encoder writes one."""

    def chunk(name: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
        )

    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    raw = b"".join(bytes([kind]) + row for kind, row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _read(data: bytes) -> tuple[int, int, list[bytes], list[bytes]]:
    chunks = docs_images._chunks(data)
    width, height = struct.unpack(">II", chunks[0][1][:8])
    raw = zlib.decompress(b"".join(body for name, body in chunks if name == b"IDAT"))
    stride = 1 + width * 3
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    return width, height, rows, [name for name, _ in chunks]


def test_a_screenshot_loses_its_blank_end_but_keeps_the_margin_and_every_row_above(
    tmp_path: Path,
) -> None:
    width = 4
    content = [(0, bytes([i]) * (width * 3)) for i in range(1, 6)]  # 5 rows of drawing
    blank = [(0, b"\xff" * (width * 3))] + [(2, bytes(width * 3))] * 40  # then white, repeated
    path = tmp_path / "shot.png"
    path.write_bytes(_png(content + blank, width))

    docs_images._trim(path, margin=3)

    got_width, height, rows, names = _read(path.read_bytes())
    assert got_width == width
    assert height == 5 + 1 + 3  # the drawing, the first blank row, the margin
    assert rows == [bytes([k]) + r for k, r in (content + blank)[:height]]
    assert names == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]  # other chunks kept


def test_a_screenshot_drawn_to_its_last_row_is_left_whole(tmp_path: Path) -> None:
    width = 2
    rows = [(0, bytes([i]) * (width * 3)) for i in range(10)]
    path = tmp_path / "full.png"
    path.write_bytes(_png(rows, width))
    docs_images._trim(path, margin=4)
    assert _read(path.read_bytes())[1] == 10


def test_without_chromium_it_says_how_to_install_it_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = docs_images.main(["--chromium", "no-such-browser-anywhere", "--out", str(tmp_path)])
    assert code != 0
    err = capsys.readouterr().err
    assert "apt-get install -y chromium" in err
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written
