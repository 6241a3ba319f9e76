#!/usr/bin/env python3
"""Hostile HTTP clients against a running beacond, for tests/integration/http_limits_test.sh.

  http_attack.py PORT chunk-extension CONNECTIONS CHUNKS HOLD_SECONDS
      each connection sends a chunked POST /collect of CHUNKS one-byte chunks, each with a
      1,000-byte chunk extension, without the last chunk; prints per connection the status
      answered (0: none) and the bytes sent until then, then holds the connections open.
  http_attack.py PORT slowloris SECONDS
      sends a request head one byte a second; prints the status answered and after how many
      seconds (a status 0 line when SECONDS passed without one).
  http_attack.py PORT hold CONNECTIONS HOLD_SECONDS
      opens CONNECTIONS idle connections, prints the status each got within 1 s (0: none),
      then holds them open.
"""
import select
import socket
import sys
import time

HEAD = (b"POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: text/plain\r\n\r\n")
CHUNK = b"1;" + b"x" * 1000 + b"\r\na\r\n"


def status_of(data):
    if data.startswith(b"HTTP/1.1 ") and len(data) >= 12:
        return int(data[9:12])
    return 0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_answer(s, timeout):
    ready, _, _ = select.select([s], [], [], timeout)
    if not ready:
        return 0
    try:
        return status_of(s.recv(4096))
    except ConnectionResetError:
        return 0


def chunk_extension(port, connections, chunks, hold_s):
    held = []
    for _ in range(connections):
        s = connect(port)
        s.sendall(HEAD)
        sent, status = 0, 0
        block = CHUNK * 64
        while sent < chunks:
            try:
                s.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                status = status or read_answer(s, 1)
                break
            sent += 64
            ready, _, _ = select.select([s], [], [], 0)
            if ready:
                status = read_answer(s, 0)
                break
        print(status, sent * len(CHUNK), flush=True)
        held.append(s)
    time.sleep(hold_s)


def slowloris(port, seconds):
    s = connect(port)
    head = b"GET /collect?v=1 HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 4096
    start = time.monotonic()
    for i in range(seconds):
        try:
            s.sendall(head[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass
        status = read_answer(s, 1)
        if status:
            print(status, round(time.monotonic() - start, 1), flush=True)
            return
    print(0, seconds, flush=True)


def hold(port, connections, hold_s):
    held = []
    for _ in range(connections):
        s = connect(port)
        held.append(s)
        print(read_answer(s, 1), flush=True)
    time.sleep(hold_s)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "chunk-extension":
        chunk_extension(port, int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif mode == "slowloris":
        slowloris(port, int(sys.argv[3]))
    elif mode == "hold":
        hold(port, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
