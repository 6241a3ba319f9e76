// The passive HTTP mirror: reassembles the client-to-server byte streams of TCP flows seen on a
// mirror port (copies of traffic behind TLS termination) and turns every HTTP/1.1 request to a
// beacon route into one raw-batch beacon. Never answers. DPDK-free: the lcore loop hands it the
// TCP segments that ParseFrame found; unit-tested without an EAL.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/enrich/attribution.h"
#include "kernels/http/http_parser.h"
#include "kernels/raw_batch.h"

namespace beacon::dpdk {

// Every outcome of the mirror, each with its own counter: X(name, label, help). Labels are the
// keys of the /beacond/mirror telemetry reply and name the beacond_dpdk_mirror_<label>_total
// metrics. Each segment counts once under one of the segment outcomes (the first seven).
#define BEACON_MIRROR_COUNTERS(X)                                                                 \
  X(kInOrder, "in_order", "Segments appended to their flow's stream in order")                    \
  X(kOutOfOrder, "out_of_order", "Segments ahead of a hole, held until it fills")                 \
  X(kRetransmitted, "retransmitted", "Segments holding only bytes already taken, dropped")        \
  X(kNoPayload, "no_payload", "Segments without payload (SYN, ACK, FIN, RST)")                    \
  X(kUnsynced, "unsynced", "Segments skipped while waiting for a request start (pickup, gap)")    \
  X(kOverFlowBytes, "over_flow_bytes", "Segments past the per-flow buffer bound (gap declared)")  \
  X(kOverTotalBytes, "over_total_bytes", "Segments past the total buffer bound (gap declared)")   \
  X(kTrimmed, "trimmed", "Segments partly overlapping bytes already taken, trimmed")              \
  X(kFlowsOpened, "flows_opened", "Flows created (SYN or mid-stream data)")                       \
  X(kFlowsClosedFin, "flows_closed_fin", "Flows closed by FIN with every byte before it seen")    \
  X(kFlowsClosedRst, "flows_closed_rst", "Flows closed by RST")                                   \
  X(kRstIgnored, "rst_ignored",                                                                   \
    "RSTs outside the flow's window (behind its next byte or past mirror_flow_bytes), ignored")   \
  X(kFlowsReused, "flows_reused", "Flows restarted by a SYN with a new initial sequence number")  \
  X(kFlowsEvicted, "flows_evicted", "Flows evicted after mirror_idle_ms without a segment")       \
  X(kFlowsSynExpired, "flows_syn_expired",                                                        \
    "Flows without payload mirror_syn_idle_ms after they opened, evicted")                        \
  X(kFlowsEvictedLru, "flows_evicted_lru",                                                        \
    "Least recently used flows evicted to make room for a new flow in a full table")              \
  X(kPickups, "pickups", "Streams picked up mid-flow at a segment starting with a method")        \
  X(kGaps, "gaps", "Holes that did not fill within the bounds or mirror_gap_ms (loss)")           \
  X(kResyncs, "resyncs", "Streams resumed at a segment starting with a method after a gap")       \
  X(kPartialDropped, "partial_dropped", "Incomplete requests dropped (gap, close, eviction)")     \
  X(kRequests, "requests", "Complete HTTP requests parsed")                                       \
  X(kBeacons, "beacons", "Requests on a beacon route handed on as beacons")                       \
  X(kPreflights, "preflights", "CORS preflights (OPTIONS) on a beacon route: no beacon")          \
  X(kMethodNotAllowed, "method_not_allowed", "Another method on a beacon path (the server 405s)") \
  X(kNotBeaconPath, "not_beacon_path", "Requests to paths without a beacon route")                \
  X(kHttpRejects, "http_rejects", "Requests the strict parser rejected (per reason apart)")       \
  X(kBeaconsDropped, "beacons_dropped", "Beacons larger than an empty raw batch")                 \
  X(kClientIpFallback, "client_ip_fallback",                                                      \
    "Beacons without a usable client IP header: the flow's source address was taken")

enum class MirrorCounter : uint8_t {
#define BEACON_MIRROR_COUNTER_ENUM(name, label, help) name,
  BEACON_MIRROR_COUNTERS(BEACON_MIRROR_COUNTER_ENUM)
#undef BEACON_MIRROR_COUNTER_ENUM
};

inline constexpr size_t kMirrorCounterCount = 0
#define BEACON_MIRROR_COUNTER_COUNT(name, label, help) +1
    BEACON_MIRROR_COUNTERS(BEACON_MIRROR_COUNTER_COUNT)
#undef BEACON_MIRROR_COUNTER_COUNT
    ;

std::string_view MirrorCounterName(MirrorCounter counter);
std::string_view MirrorCounterHelp(MirrorCounter counter);

// One lcore's mirror counters; the parser's rejections per kernels::HttpReject reason besides.
struct MirrorCounters {
  std::array<uint64_t, kMirrorCounterCount> count{};
  std::array<uint64_t, kernels::kHttpRejectCount> http_rejects{};

  void Add(MirrorCounter c, uint64_t n = 1) { count[static_cast<size_t>(c)] += n; }
  uint64_t Get(MirrorCounter c) const { return count[static_cast<size_t>(c)]; }
  uint64_t Rejects(kernels::HttpReject r) const { return http_rejects[static_cast<size_t>(r)]; }
};

struct TcpMirrorConfig {
  std::vector<uint16_t> server_ports;      // client-to-server segments to these ports are mirrored
  uint32_t max_flows = 16384;              // per lcore
  uint32_t max_flow_bytes = 128 * 1024;    // buffered per flow: partial request + held
  uint64_t max_total_bytes = 64ull << 20;  // buffered per lcore, all flows
  uint32_t idle_ms = 30'000;               // a flow without a segment this long is evicted
  uint32_t syn_idle_ms = 5'000;            // a flow without payload this long after it opened
  uint32_t gap_ms = 500;                   // a hole open this long is declared lost
  // A request header holding the client's address (e.g. "X-Forwarded-For": its first entry),
  // for a mirror behind a proxy that sees the proxy's address. Empty, or absent / not an IP
  // literal in a request: the flow's source address (counted as client_ip_fallback when set).
  std::string client_ip_header;
  // CDN headers carrying the visitor's country, tried in order (kernels::CountryFromHeader).
  std::vector<std::string> country_headers{kernels::kDefaultCountryHeaders.begin(),
                                           kernels::kDefaultCountryHeaders.end()};
  kernels::HttpLimits limits;
};

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpAck = 0x10;

// One client-to-server TCP segment (addresses v4-mapped for IPv4).
struct TcpSegment {
  kernels::IpAddress source;
  kernels::IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint32_t seq = 0;
  uint8_t flags = 0;
  std::string_view payload;
};

// One lcore's reassembler; every call on that lcore. Memory is bounded by the config: at most
// max_flows flows (a new one past that takes a closed flow's slot, else evicts the least
// recently used) and max_total_bytes buffered bytes, the parsers' de-chunked and inflated
// bodies included.
class TcpMirror {
 public:
  // Beacons go to `*batch` (owned by the caller); when it is full `deliver` is called to hand
  // it on and clear it (once per batch, never per beacon). Throws std::invalid_argument for a
  // bound of zero.
  TcpMirror(TcpMirrorConfig config, kernels::RawBatch* batch, std::function<void()> deliver);
  ~TcpMirror();
  TcpMirror(const TcpMirror&) = delete;
  TcpMirror& operator=(const TcpMirror&) = delete;

  // Takes one segment received at `now_ms` (wall clock: the beacons' receive time). Payload
  // bytes are copied; the segment's memory may be reused on return.
  void OnSegment(const TcpSegment& segment, int64_t now_ms);
  // Declares holes open for gap_ms lost, evicts flows idle for idle_ms and flows that opened
  // syn_idle_ms ago without payload. Call every tick.
  void OnTick(int64_t now_ms);
  // When no segment more will come (the data plane stops): every hole with requests held past
  // it is declared lost and those requests taken, as gap_ms would have. Flows stay open.
  void Flush(int64_t now_ms);

  const MirrorCounters& counters() const { return counters_; }
  size_t flow_count() const;
  uint64_t buffered_bytes() const { return buffered_bytes_; }

  struct Flow;  // dpdk/tcp_mirror.cc

 private:
  struct FlowTable;

  void Close(Flow* flow, MirrorCounter why);
  // Closes a flow whose FIN was reached (flows_closed_fin), keeping its slot as a closed flow.
  void Linger(Flow* flow, int64_t now_ms);
  // Gives a closed flow's slot back, uncounted.
  void Forget(Flow* flow);
  // For the closed `*flow` of `segment`'s 4-tuple: true, counted, when the segment is a copy of
  // what the flow carried (a retransmission, a SPAN's duplicate: its SYN, bytes within its
  // stream, a segment without payload); else the closed flow is forgotten (another connection
  // on the 4-tuple) and `*flow` cleared.
  bool CopyOfClosed(Flow** flow, const TcpSegment& segment);
  // A flow for a new 4-tuple; evicts the least recently used one when the table is full.
  Flow* Admit(const TcpSegment& segment, int64_t now_ms);
  // Marks a segment of `flow` at `now_ms` (idle time and recency).
  void Touch(Flow* flow, int64_t now_ms);
  // Closes the flow once a FIN was seen and every byte before it taken.
  void CloseIfFinished(Flow* flow, int64_t now_ms);
  // The payload of one segment: taken in order, held ahead of a hole, or dropped; returns the
  // segment outcome. Past a bound a hole is declared lost first when `may_declare_gap`.
  MirrorCounter Data(Flow* flow, uint32_t seq, std::string_view payload, int64_t now_ms,
                     bool may_declare_gap);
  // kInOrder when `bytes` more fit the flow's and the total bound, else which bound they break.
  MirrorCounter OverBound(const Flow& flow, size_t bytes) const;
  void Hold(Flow* flow, uint32_t seq, std::string_view payload, int64_t now_ms);
  // Appends in-order bytes, drains the held segments the stream reaches (trimming overlaps),
  // parses; returns the bound the parser's bodies broke (the request is then dropped), else
  // kInOrder.
  MirrorCounter Take(Flow* flow, std::string_view payload, int64_t now_ms);
  // The hole before the held segments is lost: drop the partial request and resume at the
  // first held segment that starts with a method (or wait for one).
  void DeclareGap(Flow* flow, int64_t now_ms);
  // Before a flow ends (RST, a new connection on its 4-tuple, eviction): the complete requests
  // held past a hole are taken, the hole declared lost (the server got what the mirror missed).
  void TakeHeld(Flow* flow, int64_t now_ms);
  void ParseRequests(Flow* flow, int64_t now_ms);
  void Emit(const Flow& flow, const kernels::HttpRequest& request, int64_t now_ms);
  void DropPartial(Flow* flow);
  // The partial request and the held segments both: the stream's buffers are given back.
  void DropBuffers(Flow* flow);
  // A fresh parser for the next request; its body buffers are given back and uncharged.
  void ResetParser(Flow* flow);
  // Brings buffered_bytes_ in line with what the flow's parser holds now.
  void ChargeParser(Flow* flow);
  void ReleaseHeld(Flow* flow);

  TcpMirrorConfig config_;
  kernels::RawBatch* batch_;
  std::function<void()> deliver_;
  std::unique_ptr<FlowTable> table_;
  uint64_t buffered_bytes_ = 0;
  uint32_t closed_flows_ = 0;  // closed flows still holding their slots
  MirrorCounters counters_;
};

// Whether `payload` begins with an HTTP method and a space (where a request can start).
bool StartsWithMethod(std::string_view payload);

}  // namespace beacon::dpdk
