#!/usr/bin/python3
"""Reads a fieldbrain input log: read_inlog.py LOG_DIR"""
import glob
import json
import os
import sys

import numpy as np


def read_segment(path):
    raw = np.fromfile(path, dtype=np.uint8)
    prefix = raw[:64]
    if bytes(prefix[:8]) != b"FBINLOG\0":
        raise ValueError(f"{path}: not a fieldbrain input log")
    version, header_bytes, record_bytes, sensors, motors = prefix[8:28].view("<u4")
    if version != 1:
        raise ValueError(f"{path}: version {version}, this reader knows 1")
    header = json.loads(bytes(raw[64:header_bytes]).decode())
    dtype = np.dtype([("cycle", "<u8"), ("brain_cycle", "<u8"), ("answer_seq", "<u8"),
                      ("time_ns", "<i8"), ("flags", "<u4"), ("check", "<u4"), ("pad", "<u8"),
                      ("sensors", "<f4", (sensors,)), ("motors", "<f4", (motors,)),
                      ("energy", "<f4"), ("saturated", "<f4")])
    assert dtype.itemsize == record_bytes
    n = (raw.size - header_bytes) // record_bytes  # a cut-off last record is left out
    records = raw[header_bytes:header_bytes + n * record_bytes].view(dtype)
    return header, records


if __name__ == "__main__":
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "[0-9]" * 6 + ".fbin"))):
        header, r = read_segment(path)
        stepped = r[(r["flags"] & 1) == 1]
        print(f"{os.path.basename(path)}: from {header['start']}, {len(r)} cycles, "
              f"{len(stepped)} stepped, motors {stepped['motors'].shape}")
