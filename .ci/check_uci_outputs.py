"""Checks what `cvxnn bench uci` wrote: results.csv parses with the expected header and rows,
profile.png is a PNG whose image data inflates to its stated size, profile.svg is well-formed
XML with an <svg> root, and the accuracy table has one row per data set. Standard library only.

usage: check_uci_outputs.py OUT_DIR EXPECTED_ROWS
"""

import csv
import struct
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            channels = {2: 3, 6: 4, 0: 1, 4: 2}[color]
            size = h * (1 + w * channels * depth // 8)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert size is not None, "no IHDR"
    assert len(zlib.decompress(idat)) == size, "image data does not match IHDR"
    return w, h


def main():
    out, expected = Path(sys.argv[1]), int(sys.argv[2])
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == expected, f"{len(rows)} rows, expected {expected}"
    for r in rows:
        assert r["status"] != "Error", r
        float(r["objective"]), float(r["time_s"]), float(r["test_accuracy"])
    w, h = check_png(out / "profile.png")
    root = ET.parse(out / "profile.svg").getroot()
    assert root.tag.endswith("svg"), root.tag
    sets = {r["dataset"] for r in rows}
    table = (out / "accuracy.md").read_text()
    for s in sets:
        assert f"| {s} |" in table, s
    print(f"bench uci outputs: {len(rows)} rows, {len(sets)} data sets, profile.png {w}x{h}, profile.svg ok")


if __name__ == "__main__":
    main()
