#!/usr/bin/env python3
"""Converts scikit-learn's digits.csv.gz into digits.bin (format in README.md).

Run once; the output is kept in the repository. No third-party imports: the input
is the CSV file shipped inside the scikit-learn wheel
(sklearn/datasets/data/digits.csv.gz), 1797 rows of 64 pixel values 0..16 and a label.

    python3 convert.py path/to/digits.csv.gz digits.bin
"""
import gzip
import struct
import sys

MAGIC = b"GMDIGITS"
VERSION = 1
ROWS, COLS, MAX_VALUE, CLASSES = 8, 8, 16, 10


def main(src: str, dst: str) -> None:
    images, labels = [], []
    with gzip.open(src, "rt") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            values = [int(float(v)) for v in line.split(",")]
            assert len(values) == ROWS * COLS + 1, len(values)
            pixels, label = values[:-1], values[-1]
            assert all(0 <= p <= MAX_VALUE for p in pixels)
            assert 0 <= label < CLASSES
            images.append(bytes(pixels))
            labels.append(label)
    out = bytearray()
    out += MAGIC
    out += struct.pack("<II", VERSION, len(labels))
    out += bytes([ROWS, COLS, MAX_VALUE, CLASSES])
    for img in images:
        out += img
    out += bytes(labels)
    with open(dst, "wb") as f:
        f.write(out)
    print(f"{len(labels)} images -> {dst} ({len(out)} bytes)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
