// TcpMirror: an open-addressing flow table (preallocated, no allocation per segment once a
// flow's buffers have grown), per-flow in-order stream and held out-of-order segments, sequence
// arithmetic modulo 2^32, and the shared strict parser and route table of kernels/http.
#include "dpdk/tcp_mirror.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "kernels/bytes/hash.h"
#include "kernels/enrich/attribution.h"
#include "kernels/http/routes.h"

namespace beacon::dpdk {
namespace {

// A buffer emptied with more capacity than this gives it back, so idle flows hold little.
constexpr size_t kKeepCapacity = 16 * 1024;

constexpr uint32_t kNoFlow = UINT32_MAX;

constexpr std::string_view kCounterNames[] = {
#define BEACON_MIRROR_COUNTER_NAME(name, label, help) label,
    BEACON_MIRROR_COUNTERS(BEACON_MIRROR_COUNTER_NAME)
#undef BEACON_MIRROR_COUNTER_NAME
};

constexpr std::string_view kCounterHelp[] = {
#define BEACON_MIRROR_COUNTER_HELP(name, label, help) help,
    BEACON_MIRROR_COUNTERS(BEACON_MIRROR_COUNTER_HELP)
#undef BEACON_MIRROR_COUNTER_HELP
};

// Request methods a stream may be picked up at (RFC 9110 §9 and PATCH), each followed by SP.
constexpr std::string_view kMethods[] = {"GET ",    "POST ",    "HEAD ",  "OPTIONS ", "PUT ",
                                         "DELETE ", "CONNECT ", "TRACE ", "PATCH "};

// Signed distance from `b` to `a` in sequence space (RFC 9293 §3.4: modulo 2^32).
int32_t SeqDiff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

struct FlowKey {
  kernels::IpAddress source;
  kernels::IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;

  bool operator==(const FlowKey& o) const {
    return source_port == o.source_port && destination_port == o.destination_port &&
           source.bytes == o.source.bytes && destination.bytes == o.destination.bytes;
  }
};

uint64_t HashKey(const FlowKey& k) {
  uint64_t words[4];
  std::memcpy(words, k.source.bytes.data(), 16);
  std::memcpy(words + 2, k.destination.bytes.data(), 16);
  uint64_t h =
      kernels::Mix64(words[0] ^ (static_cast<uint64_t>(k.source_port) << 16 | k.destination_port));
  for (int i = 1; i < 4; ++i) h = kernels::Mix64(h ^ words[i]);
  return h;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The first entry of an X-Forwarded-For style value as an address; false when it is none.
bool ParseClientIp(std::string_view value, kernels::IpAddress* out) {
  const std::string entry(Trim(value.substr(0, value.find(','))));
  in_addr v4{};
  if (inet_pton(AF_INET, entry.c_str(), &v4) == 1) {
    *out = kernels::IpAddress::FromV4(ntohl(v4.s_addr));
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, entry.c_str(), &v6) == 1) {
    std::memcpy(out->bytes.data(), v6.s6_addr, 16);
    return true;
  }
  return false;
}

void Release(std::string* s) {
  s->clear();
  if (s->capacity() > kKeepCapacity) std::string().swap(*s);
}

}  // namespace

std::string_view MirrorCounterName(MirrorCounter counter) {
  return kCounterNames[static_cast<size_t>(counter)];
}

std::string_view MirrorCounterHelp(MirrorCounter counter) {
  return kCounterHelp[static_cast<size_t>(counter)];
}

bool StartsWithMethod(std::string_view payload) {
  for (const std::string_view m : kMethods) {
    if (payload.substr(0, m.size()) == m) return true;
  }
  return false;
}

struct TcpMirror::Flow {
  explicit Flow(const kernels::HttpLimits& limits) : parser(limits) {}

  enum class Mode : uint8_t {
    kStream,      // next_seq is known: bytes are taken in sequence order
    kAwaitStart,  // no sequence number known: waiting for a segment that starts with a method
    kResync,      // after a loss or a rejected request: bytes up to next_seq were seen (a
                  // retransmission of them is recognised), skipping to a method at or past it
  };
  struct Held {
    uint32_t seq;
    std::string bytes;
  };

  FlowKey key;
  uint64_t hash = 0;
  bool in_use = false;
  // Closed by its FIN, without buffers: kept (least recently used first) until idle_ms, a new
  // flow's need of its slot or another connection on its 4-tuple, so that copies of its
  // segments are known as such.
  bool closed = false;
  Mode mode = Mode::kAwaitStart;
  bool syn_seen = false;
  uint32_t isn = 0;
  uint32_t first_seq = 0;  // the stream's first byte: after the SYN, or where it was picked up
  uint32_t next_seq = 0;
  bool fin = false;
  uint32_t fin_seq = 0;
  int64_t last_ms = 0;
  int64_t opened_ms = 0;
  bool payload_seen = false;  // a segment with payload arrived since the flow opened
  int64_t hole_since_ms = 0;  // while `held` is not empty: since when the hole blocks it
  std::string stream;         // the current request's bytes onwards, not yet parsed off
  std::vector<Held> held;     // ahead of next_seq, by sequence order
  uint64_t held_bytes = 0;
  kernels::HttpParser parser;
  uint64_t parser_bytes = 0;  // the parser's body buffers, as charged to the total
  uint32_t older = kNoFlow;   // the recency list, least recently used first
  uint32_t newer = kNoFlow;

  // The wire bytes held, which max_flow_bytes bounds.
  uint64_t buffered() const { return stream.size() + held_bytes; }
};

namespace {

// Whether an RST at `seq` may end `flow` (RFC 5961 §3, RFC 9293 §3.10.7.3: only within the
// receive window). A passive mirror sees neither RCV.NXT nor the window: the client's RST
// carries its SND.NXT, at or past every byte it sent, so the window is taken from the next
// expected byte (or from past the last byte held ahead of a hole) to `window` bytes further.
// Without a sequence number yet (awaiting a request's start), any RST is taken.
bool RstInWindow(const TcpMirror::Flow& flow, uint32_t seq, uint32_t window) {
  if (flow.mode == TcpMirror::Flow::Mode::kAwaitStart) return true;
  uint32_t edge = flow.next_seq;
  if (!flow.held.empty()) {
    const TcpMirror::Flow::Held& last = flow.held.back();
    const uint32_t end = last.seq + static_cast<uint32_t>(last.bytes.size());
    if (SeqDiff(end, edge) > 0) edge = end;
  }
  return SeqDiff(seq, flow.next_seq) >= 0 &&
         static_cast<int64_t>(SeqDiff(seq, edge)) <= static_cast<int64_t>(window);
}

}  // namespace

// Linear probing over slot indices (0 = empty, else flow index + 1) with backward-shift
// deletion; at most half full. Flows in use are also kept in recency order (a doubly linked
// list over their indices) for eviction when full.
struct TcpMirror::FlowTable {
  FlowTable(uint32_t max_flows, const kernels::HttpLimits& limits) {
    flows.reserve(max_flows);
    for (uint32_t i = 0; i < max_flows; ++i) flows.emplace_back(limits);
    for (uint32_t i = max_flows; i > 0; --i) free.push_back(i - 1);
    size_t size = 2;
    while (size < 2ull * max_flows) size <<= 1;
    slots.assign(size, 0);
    mask = size - 1;
  }

  Flow* Find(const FlowKey& key, uint64_t hash) {
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots[i] == 0) return nullptr;
      Flow& f = flows[slots[i] - 1];
      if (f.hash == hash && f.key == key) return &f;
    }
  }

  Flow* Insert(const FlowKey& key, uint64_t hash) {
    if (free.empty()) return nullptr;
    const uint32_t index = free.back();
    free.pop_back();
    size_t i = hash & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = index + 1;
    Flow& f = flows[index];
    f.key = key;
    f.hash = hash;
    f.in_use = true;
    Link(index);
    return &f;
  }

  // Moves `flow` to the most recently used end.
  void Touch(Flow* flow) {
    const auto index = static_cast<uint32_t>(flow - flows.data());
    if (newest == index) return;
    Unlink(index);
    Link(index);
  }

  // Only while some flow is in use.
  Flow* LeastRecentlyUsed() { return &flows[oldest]; }

  // Moves `flow` to the least recently used end: the first to go when a slot is needed.
  void Demote(Flow* flow) {
    const auto index = static_cast<uint32_t>(flow - flows.data());
    Unlink(index);
    flow->newer = oldest;
    (oldest == kNoFlow ? newest : flows[oldest].older) = index;
    oldest = index;
  }

  void Erase(Flow* flow) {
    const auto index = static_cast<uint32_t>(flow - flows.data());
    size_t i = flow->hash & mask;
    while (slots[i] != index + 1) i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; slots[j] != 0; j = (j + 1) & mask) {
      const size_t home = flows[slots[j] - 1].hash & mask;
      // Entry j may move to the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots[i] = slots[j];
      i = j;
    }
    slots[i] = 0;
    flow->in_use = false;
    Unlink(index);
    free.push_back(index);
  }

  void Link(uint32_t index) {
    Flow& f = flows[index];
    f.older = newest;
    f.newer = kNoFlow;
    (newest == kNoFlow ? oldest : flows[newest].newer) = index;
    newest = index;
  }

  void Unlink(uint32_t index) {
    Flow& f = flows[index];
    (f.older == kNoFlow ? oldest : flows[f.older].newer) = f.newer;
    (f.newer == kNoFlow ? newest : flows[f.newer].older) = f.older;
    f.older = f.newer = kNoFlow;
  }

  std::vector<Flow> flows;
  std::vector<uint32_t> free;
  std::vector<uint32_t> slots;
  size_t mask = 0;
  uint32_t oldest = kNoFlow;
  uint32_t newest = kNoFlow;
};

TcpMirror::TcpMirror(TcpMirrorConfig config, kernels::RawBatch* batch,
                     std::function<void()> deliver)
    : config_(std::move(config)), batch_(batch), deliver_(std::move(deliver)) {
  if (config_.max_flows == 0 || config_.max_flow_bytes == 0 || config_.max_total_bytes == 0 ||
      config_.idle_ms == 0 || config_.syn_idle_ms == 0 || config_.gap_ms == 0) {
    throw std::invalid_argument(
        "TCP mirror: mirror_flows, mirror_flow_bytes, mirror_total_bytes, mirror_idle_ms, "
        "mirror_syn_idle_ms and mirror_gap_ms must be positive");
  }
  table_ = std::make_unique<FlowTable>(config_.max_flows, config_.limits);
}

TcpMirror::~TcpMirror() = default;

size_t TcpMirror::flow_count() const {
  return table_->flows.size() - table_->free.size() - closed_flows_;
}

TcpMirror::Flow* TcpMirror::Admit(const TcpSegment& segment, int64_t now_ms) {
  const FlowKey key{segment.source, segment.destination, segment.source_port,
                    segment.destination_port};
  if (table_->free.empty()) {
    Flow* oldest = table_->LeastRecentlyUsed();
    if (oldest->closed) {
      Forget(oldest);
    } else {
      TakeHeld(oldest, now_ms);
      Close(oldest, MirrorCounter::kFlowsEvictedLru);
    }
  }
  Flow* flow = table_->Insert(key, HashKey(key));
  flow->mode = Flow::Mode::kAwaitStart;
  flow->syn_seen = false;
  flow->fin = false;
  flow->last_ms = now_ms;
  flow->opened_ms = now_ms;
  flow->payload_seen = false;
  ResetParser(flow);
  counters_.Add(MirrorCounter::kFlowsOpened);
  return flow;
}

void TcpMirror::Touch(Flow* flow, int64_t now_ms) {
  flow->last_ms = now_ms;
  table_->Touch(flow);
}

void TcpMirror::DropPartial(Flow* flow) {
  if (!flow->stream.empty()) {
    counters_.Add(MirrorCounter::kPartialDropped);
    buffered_bytes_ -= flow->stream.size();
    Release(&flow->stream);
  }
  ResetParser(flow);
}

void TcpMirror::ResetParser(Flow* flow) {
  if (flow->parser.body_buffer_bytes() > 0) {
    // Assignment could keep the buffers (a string moved from a short one keeps its own).
    std::destroy_at(&flow->parser);
    std::construct_at(&flow->parser, config_.limits);
  } else {
    flow->parser.Reset();
  }
  ChargeParser(flow);
}

void TcpMirror::ChargeParser(Flow* flow) {
  const uint64_t now_held = flow->parser.body_buffer_bytes();
  buffered_bytes_ = buffered_bytes_ - flow->parser_bytes + now_held;
  flow->parser_bytes = now_held;
}

void TcpMirror::ReleaseHeld(Flow* flow) {
  buffered_bytes_ -= flow->held_bytes;
  flow->held_bytes = 0;
  flow->held.clear();
}

void TcpMirror::DropBuffers(Flow* flow) {
  DropPartial(flow);
  ReleaseHeld(flow);
}

void TcpMirror::Close(Flow* flow, MirrorCounter why) {
  DropBuffers(flow);
  counters_.Add(why);
  table_->Erase(flow);
}

void TcpMirror::Linger(Flow* flow, int64_t now_ms) {
  DropBuffers(flow);
  counters_.Add(MirrorCounter::kFlowsClosedFin);
  flow->closed = true;
  flow->last_ms = now_ms;
  ++closed_flows_;
  table_->Demote(flow);
}

void TcpMirror::Forget(Flow* flow) {
  flow->closed = false;
  --closed_flows_;
  table_->Erase(flow);
}

bool TcpMirror::CopyOfClosed(Flow** flow, const TcpSegment& segment) {
  const Flow& closed = **flow;
  bool copy = true;  // ACKs (the last one follows the FIN) and FIN copies carry no payload
  if ((segment.flags & kTcpSyn) != 0) {
    copy = closed.syn_seen && segment.seq == closed.isn;
  } else if ((segment.flags & kTcpRst) != 0) {
    copy = false;
  } else if (!segment.payload.empty()) {
    const uint32_t end = segment.seq + static_cast<uint32_t>(segment.payload.size());
    copy = SeqDiff(segment.seq, closed.first_seq) >= 0 && SeqDiff(end, closed.fin_seq) <= 0;
  }
  if (!copy) {
    Forget(*flow);  // another connection on the same 4-tuple
    *flow = nullptr;
    return false;
  }
  // As on an open flow: a SYN's copy is retransmitted, ACKs and FINs carry no payload.
  const bool syn = (segment.flags & kTcpSyn) != 0;
  counters_.Add(segment.payload.empty() && !syn ? MirrorCounter::kNoPayload
                                                : MirrorCounter::kRetransmitted);
  return true;
}

void TcpMirror::OnSegment(const TcpSegment& segment, int64_t now_ms) {
  const FlowKey key{segment.source, segment.destination, segment.source_port,
                    segment.destination_port};
  Flow* flow = table_->Find(key, HashKey(key));
  std::string_view payload = segment.payload;
  uint32_t seq = segment.seq;

  if (flow != nullptr && flow->closed && CopyOfClosed(&flow, segment)) return;
  if ((segment.flags & kTcpRst) != 0) {
    if (flow != nullptr && !RstInWindow(*flow, seq, config_.max_flow_bytes)) {
      counters_.Add(MirrorCounter::kRstIgnored);  // stray or spoofed: the flow goes on
    } else if (flow != nullptr) {
      TakeHeld(flow, now_ms);
      Close(flow, MirrorCounter::kFlowsClosedRst);
    }
    counters_.Add(MirrorCounter::kNoPayload);
    return;
  }
  if ((segment.flags & kTcpSyn) != 0) {
    if (flow != nullptr && flow->syn_seen && flow->isn == seq) {
      counters_.Add(MirrorCounter::kRetransmitted);
      return;
    }
    const bool same_connection =
        flow != nullptr && !flow->syn_seen &&
        (flow->mode == Flow::Mode::kAwaitStart ||
         (SeqDiff(flow->next_seq, seq + 1) >= 0 && SeqDiff(flow->next_seq, seq + 1) < (1 << 30)));
    if (flow != nullptr && !same_connection) {
      TakeHeld(flow, now_ms);
      DropBuffers(flow);
      counters_.Add(MirrorCounter::kFlowsReused);
    } else if (flow == nullptr) {
      flow = Admit(segment, now_ms);
    }
    flow->syn_seen = true;
    flow->isn = seq;
    flow->first_seq = seq + 1;
    Touch(flow, now_ms);
    // A SYN that arrives after the first data (reordered) leaves the stream where it is.
    if (!same_connection || flow->mode == Flow::Mode::kAwaitStart) {
      flow->mode = Flow::Mode::kStream;
      flow->fin = false;
      flow->next_seq = seq + 1;
    }
    ++seq;  // data on a SYN (TCP Fast Open) follows it
    if (payload.empty()) {
      counters_.Add(MirrorCounter::kNoPayload);
      return;
    }
  }
  if (flow == nullptr) {
    if (payload.empty()) {
      counters_.Add(MirrorCounter::kNoPayload);
      return;
    }
    if (!StartsWithMethod(payload)) {
      counters_.Add(MirrorCounter::kUnsynced);
      return;
    }
    flow = Admit(segment, now_ms);
  }
  Touch(flow, now_ms);
  if (!payload.empty()) flow->payload_seen = true;
  counters_.Add(payload.empty() ? MirrorCounter::kNoPayload
                                : Data(flow, seq, payload, now_ms, true));
  if ((segment.flags & kTcpFin) != 0 && !flow->fin) {
    flow->fin = true;
    flow->fin_seq = seq + static_cast<uint32_t>(payload.size());
    // Bytes before the FIN still missing are a hole too, also with nothing held behind it.
    if (flow->held.empty()) flow->hole_since_ms = now_ms;
  }
  CloseIfFinished(flow, now_ms);
}

void TcpMirror::CloseIfFinished(Flow* flow, int64_t now_ms) {
  if (!flow->fin) return;
  if (flow->mode != Flow::Mode::kStream || SeqDiff(flow->next_seq, flow->fin_seq) >= 0) {
    Linger(flow, now_ms);
  }
}

MirrorCounter TcpMirror::Data(Flow* flow, uint32_t seq, std::string_view payload, int64_t now_ms,
                              bool may_declare_gap) {
  if (flow->mode == Flow::Mode::kAwaitStart) {
    if (!StartsWithMethod(payload)) return MirrorCounter::kUnsynced;
    counters_.Add(MirrorCounter::kPickups);
    flow->mode = Flow::Mode::kStream;
    flow->first_seq = seq;
    flow->next_seq = seq;
  } else if (flow->mode == Flow::Mode::kResync) {
    const uint32_t end = seq + static_cast<uint32_t>(payload.size());
    if (SeqDiff(end, flow->next_seq) <= 0) return MirrorCounter::kRetransmitted;
    if (SeqDiff(seq, flow->next_seq) < 0 || !StartsWithMethod(payload)) {
      flow->next_seq = end;  // skipped
      return MirrorCounter::kUnsynced;
    }
    counters_.Add(MirrorCounter::kResyncs);
    flow->mode = Flow::Mode::kStream;
    flow->next_seq = seq;
  }
  const int32_t ahead = SeqDiff(seq, flow->next_seq);
  if (ahead <= 0) {
    const auto behind = static_cast<size_t>(-static_cast<int64_t>(ahead));
    if (behind >= payload.size()) return MirrorCounter::kRetransmitted;
    if (behind > 0) {
      counters_.Add(MirrorCounter::kTrimmed);
      payload.remove_prefix(behind);
    }
    if (const MirrorCounter over = OverBound(*flow, payload.size());
        over != MirrorCounter::kInOrder) {
      // The request being assembled outgrew the buffers: it is lost, resume at the next one.
      DropBuffers(flow);
      flow->mode = Flow::Mode::kResync;
      flow->next_seq += static_cast<uint32_t>(payload.size());
      return over;
    }
    return Take(flow, payload, now_ms);
  }
  for (const Flow::Held& h : flow->held) {
    if (h.seq == seq && h.bytes.size() >= payload.size()) return MirrorCounter::kRetransmitted;
  }
  if (const MirrorCounter over = OverBound(*flow, payload.size());
      over != MirrorCounter::kInOrder) {
    if (may_declare_gap) {
      DeclareGap(flow, now_ms);
      Data(flow, seq, payload, now_ms, false);
    }
    return over;
  }
  Hold(flow, seq, payload, now_ms);
  return MirrorCounter::kOutOfOrder;
}

MirrorCounter TcpMirror::OverBound(const Flow& flow, size_t bytes) const {
  if (flow.buffered() + bytes > config_.max_flow_bytes) return MirrorCounter::kOverFlowBytes;
  if (buffered_bytes_ + bytes > config_.max_total_bytes) return MirrorCounter::kOverTotalBytes;
  return MirrorCounter::kInOrder;
}

void TcpMirror::Hold(Flow* flow, uint32_t seq, std::string_view payload, int64_t now_ms) {
  if (flow->held.empty()) flow->hole_since_ms = now_ms;
  auto at = flow->held.begin();
  while (at != flow->held.end() && SeqDiff(at->seq, seq) <= 0) ++at;
  flow->held.insert(at, Flow::Held{seq, std::string(payload)});
  flow->held_bytes += payload.size();
  buffered_bytes_ += payload.size();
}

MirrorCounter TcpMirror::Take(Flow* flow, std::string_view payload, int64_t now_ms) {
  flow->stream.append(payload);
  buffered_bytes_ += payload.size();
  flow->next_seq += static_cast<uint32_t>(payload.size());
  size_t drained = 0;
  for (const Flow::Held& h : flow->held) {
    const int32_t ahead = SeqDiff(h.seq, flow->next_seq);
    if (ahead > 0) break;
    const auto behind = static_cast<size_t>(-static_cast<int64_t>(ahead));
    if (behind > 0) counters_.Add(MirrorCounter::kTrimmed);
    if (behind < h.bytes.size()) {
      flow->stream.append(h.bytes, behind);
      flow->next_seq += static_cast<uint32_t>(h.bytes.size() - behind);
    }
    // The held bytes move to the stream; the overlapping part is gone.
    flow->held_bytes -= h.bytes.size();
    buffered_bytes_ -= std::min(behind, h.bytes.size());
    ++drained;
  }
  if (drained > 0) {
    flow->held.erase(flow->held.begin(), flow->held.begin() + static_cast<ptrdiff_t>(drained));
    flow->hole_since_ms = now_ms;  // progress: the remaining hole gets a fresh gap_ms
  }
  ParseRequests(flow, now_ms);
  if (flow->parser_bytes == 0 || buffered_bytes_ <= config_.max_total_bytes) {
    return MirrorCounter::kInOrder;
  }
  // The request's de-chunked body outgrew the total: it is lost, resume at the next one.
  DropBuffers(flow);
  flow->mode = Flow::Mode::kResync;
  return MirrorCounter::kOverTotalBytes;
}

void TcpMirror::TakeHeld(Flow* flow, int64_t now_ms) {
  if (!flow->held.empty()) DeclareGap(flow, now_ms);
}

void TcpMirror::DeclareGap(Flow* flow, int64_t now_ms) {
  counters_.Add(MirrorCounter::kGaps);
  DropPartial(flow);
  auto start = flow->held.begin();
  while (start != flow->held.end() && !StartsWithMethod(start->bytes)) {
    const uint32_t end = start->seq + static_cast<uint32_t>(start->bytes.size());
    if (SeqDiff(end, flow->next_seq) > 0) flow->next_seq = end;  // skipped
    flow->held_bytes -= start->bytes.size();
    buffered_bytes_ -= start->bytes.size();
    ++start;
  }
  flow->held.erase(flow->held.begin(), start);
  if (flow->held.empty()) {
    flow->mode = Flow::Mode::kResync;
    return;
  }
  counters_.Add(MirrorCounter::kResyncs);
  flow->mode = Flow::Mode::kStream;
  flow->next_seq = flow->held.front().seq;
  Take(flow, {}, now_ms);
}

void TcpMirror::ParseRequests(Flow* flow, int64_t now_ms) {
  const std::string_view stream = flow->stream;
  size_t at = 0;
  while (at < stream.size()) {
    const kernels::ParseResult r = flow->parser.Parse(stream.substr(at));
    if (r.status == kernels::ParseStatus::kNeedMore) break;
    if (r.status == kernels::ParseStatus::kError) {
      ResetParser(flow);
      // The collector answers an error and closes; a mirror resumes at the next request.
      counters_.Add(MirrorCounter::kHttpRejects);
      ++counters_.http_rejects[static_cast<size_t>(r.reject)];
      at = stream.size();
      ReleaseHeld(flow);
      flow->mode = Flow::Mode::kResync;
      break;
    }
    counters_.Add(MirrorCounter::kRequests);
    Emit(*flow, flow->parser.request(), now_ms);
    ResetParser(flow);
    at += r.consumed;
  }
  ChargeParser(flow);
  if (at == 0) return;
  buffered_bytes_ -= at;
  if (at == stream.size()) {
    Release(&flow->stream);
  } else {
    flow->stream.erase(0, at);
  }
}

void TcpMirror::Emit(const Flow& flow, const kernels::HttpRequest& request, int64_t now_ms) {
  const kernels::RoutedRequest routed = kernels::RouteRequest(request, config_.limits);
  switch (routed.outcome) {
    case kernels::RouteOutcome::kBeacon:
      break;
    case kernels::RouteOutcome::kPreflight:
      counters_.Add(MirrorCounter::kPreflights);
      return;
    case kernels::RouteOutcome::kMethodNotAllowed:
      counters_.Add(MirrorCounter::kMethodNotAllowed);
      return;
    case kernels::RouteOutcome::kUrlTooLong:
      counters_.Add(MirrorCounter::kHttpRejects);
      ++counters_.http_rejects[static_cast<size_t>(kernels::HttpReject::kUrlTooLong)];
      return;
    case kernels::RouteOutcome::kNotBeaconPath:
      counters_.Add(MirrorCounter::kNotBeaconPath);
      return;
  }
  const uint16_t country =
      kernels::CountryFromHeader(kernels::FirstHeader(request, config_.country_headers));
  kernels::IpAddress client = flow.key.source;
  if (!config_.client_ip_header.empty() &&
      !ParseClientIp(request.Header(config_.client_ip_header), &client)) {
    counters_.Add(MirrorCounter::kClientIpFallback);
  }
  const auto add = [&] {
    return batch_->Add(routed.route->endpoint, kernels::IngressKind::kMirror, routed.payload,
                       request.user_agent, client, now_ms, routed.query, country);
  };
  if (!add()) {
    deliver_();
    if (!add()) {
      counters_.Add(MirrorCounter::kBeaconsDropped);
      return;
    }
  }
  counters_.Add(MirrorCounter::kBeacons);
}

void TcpMirror::Flush(int64_t now_ms) {
  for (Flow& flow : table_->flows) {
    if (flow.in_use && !flow.closed) TakeHeld(&flow, now_ms);
  }
}

void TcpMirror::OnTick(int64_t now_ms) {
  for (Flow& flow : table_->flows) {
    if (!flow.in_use) continue;
    if (flow.closed) {
      if (now_ms - flow.last_ms >= config_.idle_ms) Forget(&flow);
      continue;
    }
    if ((!flow.held.empty() || flow.fin) && now_ms - flow.hole_since_ms >= config_.gap_ms) {
      DeclareGap(&flow, now_ms);
      CloseIfFinished(&flow, now_ms);
      if (flow.closed) continue;
    }
    if (now_ms - flow.last_ms >= config_.idle_ms) {
      TakeHeld(&flow, now_ms);
      Close(&flow, MirrorCounter::kFlowsEvicted);
    } else if (!flow.payload_seen && now_ms - flow.opened_ms >= config_.syn_idle_ms) {
      Close(&flow, MirrorCounter::kFlowsSynExpired);
    }
  }
}

}  // namespace beacon::dpdk
