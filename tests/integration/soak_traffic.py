#!/usr/bin/env python3
"""Attack traffic beside beacon-gen's, and beacond's RSS sampled every second (a soak's
--during command of scripts/e2e-run; BEACOND_PID and BEACOND_HTTP_PORT from its environment).

Attack kinds, in turn, ATTACK_RATE a second: slow (a request head dribbled one byte a second,
held up to 30 s or until beacond closes it), oversized (a 10 MB Content-Length, 64 KiB sent;
a 20 KiB header), garbage (random bytes). They never form a hit, so beacon-gen verify's
counts stay exact.

Flat RSS: after the warm-up (the first quarter of the run, at least 65 s: past the first
minute rollover, when the aggregators and the forwarder first hold rows of two minutes and the
allocator's per-thread arenas have grown), the median of the last tenth of the samples exceeds
the median of the first tenth after the warm-up by at most max(8 MiB, 5 %). Prints the
figures; exits 1 when RSS is not flat or beacond died.
"""
import argparse
import os
import random
import socket
import statistics
import sys
import time

SLOW_HOLD_S = 30


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    s.settimeout(1)
    return s


def exchange(port, data):
    """Sends `data` and reads the status line; an error or close counts as an answer too."""
    try:
        with connect(port) as s:
            s.sendall(data)
            s.recv(256)
    except OSError:
        pass


def attack(kind, port, slow, rng):
    if kind == "slow":
        try:
            s = connect(port)
            s.sendall(b"POST /collect HTTP/1.1\r\nHost: c\r\n")
            slow.append((time.time(), s))
        except OSError:
            pass
    elif kind == "oversized":
        exchange(port, b"POST /collect HTTP/1.1\r\nHost: c\r\nContent-Length: 10000000\r\n\r\n" +
                 b"v" * 65536)
    elif kind == "header":
        exchange(port, b"GET /collect HTTP/1.1\r\nHost: c\r\nX-Big: " + b"h" * 20480 + b"\r\n\r\n")
    else:
        exchange(port, bytes(rng.getrandbits(8) for _ in range(rng.randint(16, 4096))))


def dribble(slow, now):
    kept = []
    for since, s in slow:
        try:
            if now - since > SLOW_HOLD_S:
                raise OSError
            s.sendall(b"X")
            kept.append((since, s))
        except OSError:
            s.close()
    slow[:] = kept


def flat(samples, duration):
    warm = max(65, duration // 4)
    post = [kib for t, kib in samples if t >= warm]
    if len(post) < 10:
        return False, "too few samples after the warm-up (%d)" % len(post)
    tenth = max(1, len(post) // 10)
    start, end = statistics.median(post[:tenth]), statistics.median(post[-tenth:])
    allowed = max(8 * 1024, start * 0.05)
    return end - start <= allowed, ("RSS after %d s warm-up %.1f MiB, at the end %.1f MiB "
                                    "(growth %+.1f MiB, allowed %.1f MiB), max %.1f MiB" %
                                    (warm, start / 1024, end / 1024, (end - start) / 1024,
                                     allowed / 1024, max(post) / 1024))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, required=True, help="seconds")
    parser.add_argument("--attack-rate", type=float, required=True, help="attacks a second")
    parser.add_argument("--samples", help="file to write 'second rss_kib' lines to")
    args = parser.parse_args()
    pid = int(os.environ["BEACOND_PID"])
    port = int(os.environ["BEACOND_HTTP_PORT"])
    rng = random.Random(7)
    kinds = ["slow", "oversized", "garbage", "header"]
    slow, samples = [], []
    attacks = 0
    begin = time.time()
    for second in range(args.duration):
        try:
            samples.append((second, rss_kib(pid)))
        except (OSError, RuntimeError):
            print("soak: beacond (pid %d) is gone" % pid)
            return 1
        due = int((second + 1) * args.attack_rate)
        while attacks < due:
            attack(kinds[attacks % len(kinds)], port, slow, rng)
            attacks += 1
        dribble(slow, time.time())
        time.sleep(max(0.0, begin + second + 1 - time.time()))
    for _, s in slow:
        s.close()
    if args.samples:
        with open(args.samples, "w") as out:
            out.writelines("%d %d\n" % sample for sample in samples)
    ok, figures = flat(samples, args.duration)
    print("soak: %d attacks over %d s; %s: %s" % (attacks, args.duration, figures,
                                                  "flat" if ok else "NOT FLAT"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
