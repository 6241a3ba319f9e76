#!/usr/bin/env python3
"""The malformed corpus: one table of hostile-input classes, one runner.

Each case sends its bad input to a running beacond (HTTP, the kernel UDP relay) or is a frame
or TCP flow of the captures beacond's DPDK ports replay through net_pcap; the runner checks the
answer (HTTP status) and that the case's counter moved by the expected amount, then that a
valid beacon is still taken (HTTP 200, or one more accepted hit). tests/README.md lists the
classes. Used by malformed_corpus_test.sh:
  malformed_corpus.py mirror-pcap OUT          write the mirror cases' capture
  malformed_corpus.py run ARGS                 run every case against beacond
"""
import argparse
import gzip
import json
import socket
import struct
import sys
import time
import urllib.request

VALID_GET = b"GET /collect?v=1&tid=UA-1-1&cid=9.9&t=pageview&dl=https%3A%2F%2Fshop.example%2Fok HTTP/1.1\r\nHost: c\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\nConnection: close\r\n\r\n"
VALID_HIT = b"v=1&tid=UA-1-1&cid=9.8&t=pageview&dl=https%3A%2F%2Fshop.example%2Fudp"
LONG = b"a" * 9000


def post(path, body, headers=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: c\r\nConnection: close\r\n" + headers +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def relay_line(uri, method=b"GET", when=None, body=b""):
    msec = b"%.3f" % (time.time() if when is None else when)
    line = b"\t".join([b"beacon1", msec, b"192.0.2.9", method, uri, b"Mozilla/5.0 Firefox/120.0",
                       b"", b"", body])
    return b"<190>1 - h nginx - - - " + line


PARSE = "beacond_http_parse_rejects_total"
HIT = "beacond_rejects_total"

# (class, ingress, input, HTTP status or None, counter, labels, delta).
# Ingress: http (raw bytes on a fresh connection), hits / syslog (a datagram to that [udp]
# port), foreign (a hit datagram from 127.0.0.2, outside allowed_sources).
CASES = [
    ("http: bare LF", "http", b"GET /collect?v=1 HTTP/1.1\nHost: x\n\n", "400", PARSE, {"reason": "bare_lf"}, 1),
    ("http: bare CR", "http", b"GET /collect?v=1 HTTP/1.1\rHost: x\r\n\r\n", "400", PARSE, {"reason": "bare_cr"}, 1),
    ("http: request line without version", "http", b"GET /collect\r\nHost: x\r\n\r\n", "400", PARSE, {"reason": "bad_request_line"}, 1),
    ("http: method not a token", "http", b"G(T /collect HTTP/1.1\r\nHost: x\r\n\r\n", "400", PARSE, {"reason": "bad_method"}, 1),
    ("http: absolute-form target", "http", b"GET http://x/collect HTTP/1.1\r\nHost: x\r\n\r\n", "400", PARSE, {"reason": "bad_target"}, 1),
    ("http: HTTP/2.0 request line", "http", b"GET /collect HTTP/2.0\r\nHost: x\r\n\r\n", "505", PARSE, {"reason": "unsupported_version"}, 1),
    ("http: oversized request line", "http", b"GET /x?" + LONG + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414", PARSE, {"reason": "request_line_too_long"}, 1),
    ("http: oversized header line", "http", b"GET /collect HTTP/1.1\r\nHost: x\r\nX-Big: " + LONG + b"\r\n\r\n", "431", PARSE, {"reason": "header_line_too_long"}, 1),
    ("http: headers over 16 KiB", "http", b"GET /collect HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"h" * 4000) for i in range(5)) + b"\r\n", "431", PARSE, {"reason": "headers_too_large"}, 1),
    ("http: more than 100 headers", "http", b"GET /collect HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", "431", PARSE, {"reason": "too_many_headers"}, 1),
    ("http: obsolete line folding", "http", b"GET /collect HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", "400", PARSE, {"reason": "obsolete_folding"}, 1),
    ("http: header name with a space", "http", b"GET /collect HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", "400", PARSE, {"reason": "bad_header_name"}, 1),
    ("http: control character in a value", "http", b"GET /collect HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", "400", PARSE, {"reason": "bad_header_value"}, 1),
    ("http: HTTP/1.1 without Host", "http", b"GET /collect HTTP/1.1\r\nUser-Agent: x\r\n\r\n", "400", PARSE, {"reason": "missing_host"}, 1),
    ("http: non-numeric Content-Length", "http", b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\nv", "400", PARSE, {"reason": "bad_content_length"}, 1),
    ("http: duplicate Content-Length", "http", b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nv=1", "400", PARSE, {"reason": "duplicate_content_length"}, 1),
    ("http: Content-Length with chunked", "http", b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", PARSE, {"reason": "content_length_with_transfer_encoding"}, 1),
    ("http: Transfer-Encoding gzip", "http", b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501", PARSE, {"reason": "unsupported_transfer_encoding"}, 1),
    ("http: chunk size not hex", "http", b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nv=1\r\n0\r\n\r\n", "400", PARSE, {"reason": "bad_chunk"}, 1),
    ("http: declared body over the cap", "http", b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nv=1", "413", PARSE, {"reason": "body_too_large"}, 1),
    ("http: Content-Encoding br", "http", post(b"/collect", b"v=1", b"Content-Encoding: br\r\n"), "415", PARSE, {"reason": "unsupported_content_encoding"}, 1),
    ("http: corrupt gzip body", "http", post(b"/collect", b"\x1f\x8b\x08\x00garbage", b"Content-Encoding: gzip\r\n"), "400", PARSE, {"reason": "bad_gzip"}, 1),
    ("http: gzip bomb (1 MiB inflated)", "http", post(b"/collect", gzip.compress(b"v" * (1 << 20)), b"Content-Encoding: gzip\r\n"), "413", PARSE, {"reason": "decoded_body_too_large"}, 1),
    ("http: GET /collect URL over 8000 B", "http", b"GET /collect?v=1&dl=" + b"u" * 8100 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414", PARSE, {"reason": "url_too_long"}, 1),
    ("ga v1: unknown tracking id", "http", b"GET /collect?v=1&tid=UA-999-1&cid=1&t=pageview&dl=https%3A%2F%2Fshop.example%2F HTTP/1.1\r\nHost: c\r\nUser-Agent: Mozilla/5.0 Firefox/120.0\r\nConnection: close\r\n\r\n", "200", HIT, {"reason": "unknown_site"}, 1),
    ("ga v1: bad percent-encoding", "http", b"GET /collect?v=1&tid=UA-1-1&cid=1&t=pageview&dl=%zz HTTP/1.1\r\nHost: c\r\nUser-Agent: Mozilla/5.0 Firefox/120.0\r\nConnection: close\r\n\r\n", "200", HIT, {"reason": "bad_percent_encoding"}, 1),
    ("ga v1: invalid UTF-8", "http", b"GET /collect?v=1&tid=UA-1-1&cid=1&t=pageview&dl=https%3A%2F%2Fshop.example%2F%C3%28 HTTP/1.1\r\nHost: c\r\nUser-Agent: Mozilla/5.0 Firefox/120.0\r\nConnection: close\r\n\r\n", "200", HIT, {"reason": "invalid_utf8"}, 1),
    ("ga v1: unknown hit type", "http", b"GET /collect?v=1&tid=UA-1-1&cid=1&t=bogus HTTP/1.1\r\nHost: c\r\nUser-Agent: Mozilla/5.0 Firefox/120.0\r\nConnection: close\r\n\r\n", "200", HIT, {"reason": "unknown_hit_type"}, 1),
    ("ga v1: batch of 21 hits", "http", post(b"/batch", b"\n".join([b"v=1&tid=UA-1-1&cid=1&t=event&ec=c&ea=a"] * 21), b"User-Agent: Mozilla/5.0 Firefox/120.0\r\n"), "200", HIT, {"reason": "too_many_hits"}, 1),
    ("ga4 gtag: no measurement id", "http", post(b"/g/collect?v=2&cid=1.1&dl=https%3A%2F%2Fshop.example%2F", b"en=page_view", b"User-Agent: Mozilla/5.0 Firefox/120.0\r\n"), "204", HIT, {"reason": "missing_measurement_id"}, 1),
    ("ga4 mp: wrong api_secret", "http", post(b"/mp/collect?measurement_id=G-SHOP1&api_secret=nope", b'{"client_id":"1.1","events":[{"name":"page_view"}]}', b"User-Agent: Mozilla/5.0 Firefox/120.0\r\n"), "204", HIT, {"reason": "bad_api_secret"}, 1),
    ("ga4 mp: truncated JSON", "http", post(b"/mp/collect?measurement_id=G-SHOP1&api_secret=s3cret", b'{"client_id":"1.1","events":[{"name":', b"User-Agent: Mozilla/5.0 Firefox/120.0\r\n"), "204", HIT, {"reason": "bad_json"}, 1),
    ("plausible: no domain", "http", post(b"/api/event", b'{"name":"pageview","url":"https://shop.example/"}', b"User-Agent: Mozilla/5.0 Firefox/120.0\r\nContent-Type: application/json\r\n"), "202", HIT, {"reason": "missing_domain"}, 1),
    ("snowplow: no app id", "http", b"GET /i?e=pv&url=https%3A%2F%2Fshop.example%2Fs&tv=js-3&p=web&duid=d1 HTTP/1.1\r\nHost: c\r\nUser-Agent: Mozilla/5.0 Firefox/120.0\r\nConnection: close\r\n\r\n", "200", HIT, {"reason": "missing_app_id"}, 1),
    ("snowplow: wrong schema", "http", post(b"/com.snowplowanalytics.snowplow/tp2", b'{"schema":"iglu:com.example/other/jsonschema/1-0-0","data":[]}', b"User-Agent: Mozilla/5.0 Firefox/120.0\r\nContent-Type: application/json\r\n"), "200", HIT, {"reason": "bad_schema"}, 1),
    ("udp hits: no tracking id", "hits", b"v=1&cid=1&t=pageview&dl=https%3A%2F%2Fshop.example%2F", None, HIT, {"reason": "missing_tracking_id"}, 1),
    ("udp hits: hit over 8 KiB", "hits", b"v=1&tid=UA-1-1&cid=1&t=pageview&dl=" + b"p" * 9000, None, HIT, {"reason": "hit_too_large"}, 1),
    ("udp hits: sender outside allowed_sources", "foreign", VALID_HIT, None, "beacond_udp_source_not_allowed_total", {}, 1),
    ("syslog: no syslog framing", "syslog", b"beacon1\tnot framed", None, HIT, {"reason": "bad_syslog_frame"}, 1),
    ("syslog: not a beacon_relay line", "syslog", b"<190>1 - h nginx - - - GET / 200", None, HIT, {"reason": "bad_log_format"}, 1),
    ("syslog: relayed path not a beacon route", "syslog", relay_line(b"/favicon.ico"), None, HIT, {"reason": "unknown_endpoint"}, 1),
    ("syslog: line time 5 h old", "syslog", relay_line(b"/collect?v=1&tid=UA-1-1&cid=1&t=pageview&dl=https%3A%2F%2Fshop.example%2F", when=time.time() - 5 * 3600), None, HIT, {"reason": "bad_timestamp"}, 1),
]

# The mirror's cases: TCP flows of the mirror capture (one mirror port, 80; mirror_flows = 8),
# each followed by a valid request on a flow of its own. (class, counters summed, labels,
# comparison, value). The SYN flood comes first: every flood flow is either evicted for a
# newer flow (least recently used first) or expires without payload, never another flow.
MIRROR_CHECKS = [
    ("mirror: SYN flood past mirror_flows", ["beacond_dpdk_mirror_flows_evicted_lru_total"], {}, ">=", 2),
    ("mirror: half-open flows (SYN only)", ["beacond_dpdk_mirror_flows_evicted_lru_total",
                                            "beacond_dpdk_mirror_flows_syn_expired_total"], {}, "==", 10),
    ("mirror: bare-LF request in a stream", ["beacond_dpdk_mirror_http_rejects_by_reason_total"], {"reason": "bare_lf"}, "==", 1),
    ("mirror: lost segment (hole)", ["beacond_dpdk_mirror_gaps_total"], {}, "==", 1),
    ("mirror: request over mirror_flow_bytes", ["beacond_dpdk_mirror_over_flow_bytes_total"], {}, "==", 1),
    # One segment of an unknown flow, and the two body segments after the oversized request's.
    ("mirror: data of an unknown flow, no method", ["beacond_dpdk_mirror_unsynced_total"], {}, "==", 3),
    ("mirror: PUT on a beacon path", ["beacond_dpdk_mirror_method_not_allowed_total"], {}, "==", 1),
    ("mirror: wrong TCP checksum", ["beacond_dpdk_frames_total"], {"outcome": "bad_tcp_checksum"}, "==", 1),
    ("mirror: TCP data offset below 5", ["beacond_dpdk_frames_total"], {"outcome": "bad_tcp_header"}, "==", 1),
]
MIRROR_VALID_REQUESTS = 7  # the one after the bare-LF request, and one flow after each case


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(port, seq, flags, payload=b"", bad_checksum=False, data_offset=5):
    src, dst = bytes([198, 18, 0, 9]), bytes([198, 19, 0, 1])
    header = struct.pack("!HHIIBBHHH", port, 80, seq & 0xFFFFFFFF, 0, data_offset << 4, flags, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(header) + len(payload))
    csum = checksum(pseudo + header + payload) ^ (0x5555 if bad_checksum else 0)
    tcp = header[:16] + struct.pack("!H", csum) + header[18:] + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + tcp


def valid_request(n):
    return (b"GET /collect?v=1&tid=UA-1-1&cid=7.%d&t=pageview&dl=https%%3A%%2F%%2Fshop.example%%2Fm HTTP/1.1\r\n"
            b"Host: c\r\nUser-Agent: Mozilla/5.0 Firefox/120.0\r\n\r\n" % n)


def mirror_frames():
    SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08
    frames = [tcp_frame(30000 + i, 1000, SYN) for i in range(10)]  # 2 evicted, 8 held
    port = [40000]

    def flow(segments, fin=True):
        """One flow: SYN, then (offset, bytes) segments, then FIN; then a valid request flow."""
        p = port[0]
        port[0] += 1
        frames.append(tcp_frame(p, 0, SYN))
        end = 1
        for offset, data in segments:
            frames.append(tcp_frame(p, 1 + offset, ACK | PSH, data))
            end = max(end, 1 + offset + len(data))
        if fin:
            frames.append(tcp_frame(p, end, ACK | FIN))

    def valid():
        flow([(0, valid_request(port[0]))])

    bad_lf = b"GET /collect?v=1 HTTP/1.1\nHost: x\n\n"
    flow([(0, bad_lf), (len(bad_lf), valid_request(1))])  # the same flow resyncs: a beacon
    valid()
    request = valid_request(2)
    flow([(0, request[:20]), (40, request[40:])])  # bytes 20..40 never come: a hole
    valid()
    big = b"POST /collect HTTP/1.1\r\nHost: c\r\nContent-Length: 6000\r\n\r\n" + b"v" * 6000
    flow([(i, big[i:i + 1400]) for i in range(0, len(big), 1400)])
    valid()
    frames.append(tcp_frame(50000, 777, ACK | PSH, b"garbage without a request start"))
    valid()
    flow([(0, b"PUT /collect?v=1 HTTP/1.1\r\nHost: c\r\n\r\n")])
    valid()
    frames.append(tcp_frame(50001, 1, ACK | PSH, valid_request(3), bad_checksum=True))
    frames.append(tcp_frame(50002, 1, ACK | PSH, valid_request(4), data_offset=3))
    valid()
    return frames


def write_pcap(path, frames):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, f in enumerate(frames):
            out.write(struct.pack("<IIII", 1_700_000_000, i, len(f), len(f)) + f)


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric(text, name, labels):
    want = name + ("{" + ",".join('%s="%s"' % kv for kv in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return int(float(line.split()[-1]))
    return 0


def http_status(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the rest was read
        reply = b""
        try:
            while b"\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
    parts = reply.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 else "none"


def udp_send(port, data, source="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.sendto(data, ("127.0.0.1", port))


def wait_metric(url, name, labels, want, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        got = metric(scrape(url), name, labels)
        if got >= want or time.time() > deadline:
            return got
        time.sleep(0.05)


def run_case(args, case):
    name, ingress, data, status, counter, labels, delta = case
    before = metric(scrape(args.metrics), counter, labels)
    accepted = metric(scrape(args.metrics), "beacond_events_accepted_total", {})
    got_status = None
    if ingress == "http":
        got_status = http_status(args.http_port, data)
    else:
        port = args.syslog_port if ingress == "syslog" else args.hits_port
        udp_send(port, data, "127.0.0.2" if ingress == "foreign" else "127.0.0.1")
    after = wait_metric(args.metrics, counter, labels, before + delta)
    # Still serving: a valid beacon over the same ingress is taken and accepted.
    if ingress == "http":
        valid_ok = http_status(args.http_port, VALID_GET) == "200"
    else:
        udp_send(args.hits_port, VALID_HIT)
        valid_ok = True
    valid_ok = valid_ok and wait_metric(args.metrics, "beacond_events_accepted_total", {},
                                        accepted + 1) == accepted + 1
    ok = (status is None or got_status == status) and after == before + delta and valid_ok
    print("  %-4s %-44s %s %s %+d%s" % ("ok" if ok else "FAIL", name,
                                         "" if status is None else "status %s (want %s)," % (got_status, status),
                                         counter + (json.dumps(labels) if labels else ""), after - before,
                                         "" if valid_ok else ", the valid beacon after it was not taken"))
    return ok


def run(args):
    failures = 0
    print("HTTP and kernel UDP relay cases (%d)" % len(CASES))
    for case in CASES:
        failures += not run_case(args, case)
    print("DPDK relay frame classes (net_pcap capture, beacon-gen truth)")
    text = scrape(args.metrics)
    truth = {}
    for line in open(args.frames_truth):
        f = line.rstrip("\n").split("\t")
        if f[0] == "frame":
            truth[f[1]] = int(f[2])
        elif f[0] in ("datagrams", "fragments_dropped"):
            truth[f[0]] = int(f[1])
    classes = 0
    for outcome, n in sorted(truth.items()):
        if outcome in ("datagrams", "fragment", "beacon_datagram"):
            continue
        name = "fragments_dropped" if outcome == "fragments_dropped" else "frame: " + outcome
        got = (metric(text, "beacond_dpdk_fragments_dropped_total", {}) if outcome == "fragments_dropped"
               else metric(text, "beacond_dpdk_frames_total", {"outcome": outcome}))
        ok = got == n and n > 0
        classes += 1
        failures += not ok
        print("  %-4s %-44s %d of %d" % ("ok" if ok else "FAIL", name, got, n))
    beacons = metric(text, "beacond_dpdk_beacons_total", {})
    ok = beacons == truth["datagrams"]
    failures += not ok
    print("  %-4s %-44s %d of %d" % ("ok" if ok else "FAIL", "relay datagrams taken around them", beacons, truth["datagrams"]))
    print("DPDK mirror cases (net_pcap capture)")
    for name, counters, labels, op, want in MIRROR_CHECKS:
        got = sum(metric(text, c, labels) for c in counters)
        ok = got >= want if op == ">=" else got == want
        failures += not ok
        print("  %-4s %-44s %s %d (want %s %d)" % ("ok" if ok else "FAIL", name, "+".join(counters), got, op, want))
    beacons = metric(text, "beacond_dpdk_mirror_beacons_total", {})
    ok = beacons == MIRROR_VALID_REQUESTS
    failures += not ok
    print("  %-4s %-44s %d of %d" % ("ok" if ok else "FAIL", "mirror requests taken around them", beacons, MIRROR_VALID_REQUESTS))
    print("%d classes, %d failures" % (len(CASES) + classes + len(MIRROR_CHECKS), failures))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    pcap = sub.add_parser("mirror-pcap")
    pcap.add_argument("out")
    r = sub.add_parser("run")
    for flag in ("--http-port", "--hits-port", "--syslog-port"):
        r.add_argument(flag, type=int, required=True)
    r.add_argument("--metrics", required=True)
    r.add_argument("--frames-truth", required=True)
    args = parser.parse_args()
    if args.command == "mirror-pcap":
        write_pcap(args.out, mirror_frames())
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
