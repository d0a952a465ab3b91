#!/usr/bin/env python3
"""The analysis loop a user would write in Python, as the baseline of benches/vs_python.rs.

One OpenCV capture thread per camera (FFmpeg over RTSP/TCP) keeps only the newest decoded frame;
the main thread takes the cameras' newest frames in turn (round robin, newest frame wins),
preprocesses with OpenCV + NumPy (BGR -> RGB, resize to the model input, NHWC uint8), runs
ONNX Runtime on the CPU and decodes the SSD outputs (score >= 0.5). Latency is measured like
edgesight's: from the moment the frame left the decoder (cap.read() returned) to the moment its
detections are ready; and from the frame's send time: the stream's timestamps (CAP_PROP_POS_MSEC,
from the RTP timestamps, which the bench's servers stamp when they send) place each frame, and
the least-delayed analysed frame of each camera sets that camera's zero, so a frame that waited
before it was decoded counts that wait too.

Prints one JSON object on stdout: frames analysed per second, frames grabbed, latency p50/p99,
the same from the send time.
"""

import argparse
import json
import os
import threading
import time

# RTSP over TCP, like edgesight's default transport; must be set before cv2 opens a stream.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


class Camera(threading.Thread):
    """Grabs frames as fast as the stream delivers them; keeps the newest."""

    def __init__(self, url, stop):
        super().__init__(daemon=True)
        self.url = url
        self.stop = stop
        self.lock = threading.Lock()
        self.frame = None
        self.grabbed = 0
        self.dropped = 0

    def run(self):
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
        while not self.stop.is_set():
            ok, frame = cap.read()
            if not ok:
                time.sleep(0.1)
                cap.release()
                cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
                continue
            now = time.monotonic()
            # How far the frame is behind its place in the stream (plus a constant).
            lag_ms = now * 1000.0 - cap.get(cv2.CAP_PROP_POS_MSEC)
            with self.lock:
                if self.frame is not None:
                    self.dropped += 1
                self.frame = (frame, now, lag_ms)
                self.grabbed += 1
        cap.release()

    def take(self):
        with self.lock:
            frame, self.frame = self.frame, None
        return frame


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stagger-ms", type=float, default=0.0, help="pause between starting capture threads")
    args = p.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    _, height, width, _ = inp.shape

    stop = threading.Event()
    cameras = [Camera(url, stop) for url in args.url]
    for c in cameras:
        c.start()
        time.sleep(args.stagger_ms / 1000.0)

    latencies = []
    sent = []  # (camera, latency, lag) per analysed frame
    analysed = 0
    started = time.monotonic()
    measure_from = started + args.warmup
    end = measure_from + args.seconds
    grabbed_at_start = None
    turn = 0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if grabbed_at_start is None and now >= measure_from:
            grabbed_at_start = sum(c.grabbed for c in cameras)
        picked = None
        for k in range(len(cameras)):
            index = (turn + k) % len(cameras)
            picked = cameras[index].take()
            if picked is not None:
                turn = (index + 1) % len(cameras)
                break
        if picked is None:
            time.sleep(0.002)
            continue
        frame, t_frame, lag_ms = picked
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        x = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
        x = np.ascontiguousarray(x[np.newaxis, ...], dtype=np.uint8)
        boxes, classes, scores, count = session.run(None, {inp.name: x})
        n = int(count[0])
        keep = scores[0, :n] >= 0.5
        _detections = [
            (int(c), float(s), b.tolist())
            for b, c, s in zip(boxes[0, :n][keep], classes[0, :n][keep], scores[0, :n][keep])
        ]
        done = time.monotonic()
        if t_frame >= measure_from:
            analysed += 1
            latency = (done - t_frame) * 1000.0
            latencies.append(latency)
            sent.append((index, latency, lag_ms))

    stop.set()
    grabbed = sum(c.grabbed for c in cameras) - (grabbed_at_start or 0)
    latencies.sort()
    zero = {}
    for index, _, lag in sent:
        zero[index] = min(lag, zero.get(index, lag))
    from_sent = sorted(latency + lag - zero[index] for index, latency, lag in sent)

    def pct(q, values=latencies):
        return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))] if values else None

    print(
        json.dumps(
            {
                "cameras": len(cameras),
                "seconds": args.seconds,
                "analysed_fps": analysed / args.seconds,
                "grabbed_fps": grabbed / args.seconds,
                "latency_p50_ms": pct(0.5),
                "latency_p99_ms": pct(0.99),
                "from_sent_p50_ms": pct(0.5, from_sent),
                "from_sent_p99_ms": pct(0.99, from_sent),
            }
        ),
        flush=True,
    )
    os._exit(0)  # capture threads may sit in a blocking read


if __name__ == "__main__":
    main()
