#!/usr/bin/env python3
"""Baseline for benches/preprocess.rs: the usual OpenCV + NumPy preprocessing of a batch.

Usage: opencv_preprocess.py FRAMES.nv12 WIDTH HEIGHT COUNT SIZE ITERS THREADS OUT.f32

FRAMES.nv12 holds COUNT tightly packed NV12 frames of WIDTH x HEIGHT. Per frame:
cv2.cvtColor(NV12 -> RGB), cv2.resize (INTER_LINEAR) into a SIZE x SIZE letterbox (top-left,
pad 114), then NumPy: float32, (x - mean) / std with the ImageNet mean/std, HWC -> CHW into a
preallocated [COUNT, 3, SIZE, SIZE] batch. OpenCV runs with THREADS threads (0: its default).

Prints one JSON line: {"ms": [...per-iteration batch times...], "threads": n}; writes the last
batch to OUT.f32 (raw little-endian float32) so the caller can compare it with its own output.
Needs numpy and opencv-python-headless (`make bench` installs them into .deps/python/).
"""

import json
import sys
import time

import cv2
import numpy as np

MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
INV_STD = 1.0 / np.array([58.395, 57.12, 57.375], dtype=np.float32)


def preprocess(frames, width, height, size, batch):
    scale = min(size / width, size / height)
    new_w, new_h = round(width * scale), round(height * scale)
    for i, nv12 in enumerate(frames):
        rgb = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12)
        small = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((size, size, 3), 114, dtype=np.uint8)
        canvas[:new_h, :new_w] = small
        x = canvas.astype(np.float32)
        x -= MEAN
        x *= INV_STD
        batch[i] = x.transpose(2, 0, 1)


def main():
    if len(sys.argv) != 9:
        raise SystemExit(__doc__)
    path, width, height, count, size, iters, threads, out = sys.argv[1:]
    width, height, count, size, iters, threads = map(int, (width, height, count, size, iters, threads))
    if threads > 0:
        cv2.setNumThreads(threads)
    raw = np.fromfile(path, dtype=np.uint8)
    per = width * height * 3 // 2
    frames = [raw[i * per:(i + 1) * per].reshape(height * 3 // 2, width) for i in range(count)]
    batch = np.empty((count, 3, size, size), dtype=np.float32)
    preprocess(frames, width, height, size, batch)  # warm-up
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        preprocess(frames, width, height, size, batch)
        times.append((time.perf_counter() - t0) * 1e3)
    batch.tofile(out)
    print(json.dumps({"ms": times, "threads": cv2.getNumThreads()}))


if __name__ == "__main__":
    main()
