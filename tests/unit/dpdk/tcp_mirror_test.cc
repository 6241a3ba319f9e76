// The passive HTTP mirror without an EAL: TCP segments built by hand (and TCP frames by
// beacon-gen's pcap writer through ParseFrame) fed to one TcpMirror, checking the beacons it
// hands on and every counter: handshake, keep-alive, pipelining, reordering, retransmission,
// overlap, pickup, loss, FIN/RST, wrap-around, bounds, eviction, rejects, routes, headers.
#include "dpdk/tcp_mirror.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/gen/pcap_writer.h"
#include "dpdk/frame_parser.h"
#include "kernels/enrich/attribution.h"

namespace beacon::dpdk {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

std::string Get(const std::string& target, const std::string& extra = {}) {
  return "GET " + target + " HTTP/1.1\r\nHost: c.example\r\nUser-Agent: UA/1\r\n" + extra + "\r\n";
}

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: c.example\r\nUser-Agent: UA/2\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

class Mirror {
 public:
  explicit Mirror(TcpMirrorConfig config = Defaults())
      : mirror(std::move(config), &batch, [this] { Deliver(); }) {}

  static TcpMirrorConfig Defaults() {
    TcpMirrorConfig config;
    config.server_ports = {80};
    return config;
  }

  // A client-to-server segment of flow `client` (its source port; IPv6 when `v6`).
  static TcpSegment Segment(uint16_t client, uint32_t seq, std::string_view payload,
                            uint8_t flags = kTcpAck, bool v6 = false) {
    TcpSegment s;
    if (v6) {
      s.source.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
      s.destination.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    } else {
      s.source = kernels::IpAddress::FromV4(0xc6120009);  // 198.18.0.9
      s.destination = kernels::IpAddress::FromV4(0xc6130001);
    }
    s.source_port = client;
    s.destination_port = 80;
    s.seq = seq;
    s.flags = flags;
    s.payload = payload;
    return s;
  }

  void Send(uint16_t client, uint32_t seq, std::string_view payload, uint8_t flags = kTcpAck,
            int64_t now = kNow) {
    mirror.OnSegment(Segment(client, seq, payload, flags), now);
  }

  // Every beacon handed on so far (delivered batches and the open one).
  std::vector<std::string> Payloads() {
    Deliver();
    return payloads;
  }
  uint64_t Count(MirrorCounter c) const { return mirror.counters().Get(c); }

  void Deliver() {
    for (size_t i = 0; i < batch.size(); ++i) {
      payloads.emplace_back(batch.payload(i));
      endpoints.push_back(batch.endpoint(i));
      ingress.push_back(batch.ingress(i));
      user_agents.emplace_back(batch.user_agent(i));
      sources.push_back(batch.source(i));
      countries.push_back(batch.country(i));
      queries.emplace_back(batch.query(i));
      times.push_back(batch.receive_time_ms(i));
    }
    if (!batch.empty()) ++deliveries;
    batch.Clear();
  }

  kernels::RawBatch batch;
  TcpMirror mirror;
  std::vector<std::string> payloads, user_agents, queries;
  std::vector<kernels::Endpoint> endpoints;
  std::vector<kernels::IngressKind> ingress;
  std::vector<kernels::IpAddress> sources;
  std::vector<uint16_t> countries;
  std::vector<int64_t> times;
  int deliveries = 0;
};

TEST(TcpMirrorTest, HandshakeKeepAliveRequestsAndFin) {
  Mirror m;
  const std::string a = Get("/collect?v=1&t=pageview");
  const std::string b = Post("/collect", "v=1&t=event");
  m.Send(1000, 7, {}, kTcpSyn);
  m.Send(1000, 8, a);
  m.Send(1000, 8 + static_cast<uint32_t>(a.size()), b);
  m.Send(1000, 8 + static_cast<uint32_t>(a.size() + b.size()), {}, kTcpFin | kTcpAck);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"v=1&t=pageview", "v=1&t=event"}));
  EXPECT_EQ(m.endpoints[0], kernels::Endpoint::kGaCollect);
  EXPECT_EQ(m.ingress[1], kernels::IngressKind::kMirror);
  EXPECT_EQ(m.user_agents[0], "UA/1");
  EXPECT_EQ(m.user_agents[1], "UA/2");
  EXPECT_EQ(m.sources[0].bytes, kernels::IpAddress::FromV4(0xc6120009).bytes);
  EXPECT_EQ(m.times[0], kNow);
  EXPECT_EQ(m.Count(MirrorCounter::kInOrder), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kNoPayload), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kRequests), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kBeacons), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsOpened), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedFin), 1u);
  EXPECT_EQ(m.mirror.flow_count(), 0u);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);
}

TEST(TcpMirrorTest, PipelinedRequestsAcrossAndWithinSegments) {
  Mirror m;
  std::string stream;
  for (int i = 0; i < 5; ++i) stream += Post("/batch", "v=1&t=pageview&n=" + std::to_string(i));
  stream += Get("/i?e=pv&aid=x");
  m.Send(2000, 99, {}, kTcpSyn);
  // Cuts at 37-byte steps: several requests per segment, every request across segments.
  for (size_t at = 0; at < stream.size(); at += 37) {
    m.Send(2000, 100 + static_cast<uint32_t>(at), std::string_view(stream).substr(at, 37));
  }
  const std::vector<std::string> p = m.Payloads();
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[4], "v=1&t=pageview&n=4");
  EXPECT_EQ(p[5], "e=pv&aid=x");
  EXPECT_EQ(m.endpoints[0], kernels::Endpoint::kGaBatch);
  EXPECT_EQ(m.endpoints[5], kernels::Endpoint::kSnowplowGet);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);
}

TEST(TcpMirrorTest, OutOfOrderSegmentsAreHeldUntilTheHoleFills) {
  Mirror m;
  const std::string stream = Get("/collect?a=1") + Get("/collect?b=2") + Get("/collect?c=3");
  const auto piece = [&](int i) { return std::string_view(stream).substr(i * 30, 30); };
  const int pieces = static_cast<int>((stream.size() + 29) / 30);
  m.Send(3000, 0, {}, kTcpSyn);
  for (int i = pieces - 1; i >= 0; --i) m.Send(3000, 1 + i * 30, piece(i));
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1", "b=2", "c=3"}));
  EXPECT_EQ(m.Count(MirrorCounter::kOutOfOrder), static_cast<uint64_t>(pieces - 1));
  EXPECT_EQ(m.Count(MirrorCounter::kInOrder), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kGaps), 0u);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);
}

TEST(TcpMirrorTest, RetransmittedAndOverlappingSegmentsAreTrimmed) {
  Mirror m;
  const std::string stream = Get("/collect?x=1") + Get("/collect?y=2");
  const std::string_view s(stream);
  m.Send(4000, 0, {}, kTcpSyn);
  m.Send(4000, 1, s.substr(0, 20));
  m.Send(4000, 1, s.substr(0, 20));    // whole retransmission
  m.Send(4000, 11, s.substr(10, 30));  // overlaps 10 taken bytes
  m.Send(4000, 0, {}, kTcpSyn);        // retransmitted SYN
  m.Send(4000, 61, s.substr(60));      // ahead: held
  m.Send(4000, 61, s.substr(60));      // the same held segment again
  m.Send(4000, 31, s.substr(30, 40));  // fills the hole, overlapping both sides
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"x=1", "y=2"}));
  EXPECT_EQ(m.Count(MirrorCounter::kRetransmitted), 3u);
  EXPECT_GE(m.Count(MirrorCounter::kTrimmed), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsReused), 0u);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);
}

TEST(TcpMirrorTest, MidStreamPickupStartsAtAMethod) {
  Mirror m;
  const std::string a = Get("/collect?a=1");
  const std::string b = Get("/collect?b=2");
  m.Send(5000, 500, "tail of an earlier request\r\n\r\n");  // no flow is made for it
  EXPECT_EQ(m.mirror.flow_count(), 0u);
  m.Send(5000, 531, a);
  m.Send(5000, 531 + static_cast<uint32_t>(a.size()), b);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(m.Count(MirrorCounter::kUnsynced), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kPickups), 1u);
  // The SYN of a reordered handshake, arriving after the first data, changes nothing.
  Mirror r;
  r.Send(5001, 101, a);
  r.Send(5001, 100, {}, kTcpSyn);
  r.Send(5001, 101 + static_cast<uint32_t>(a.size()), b);
  EXPECT_EQ(r.Payloads(), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(r.Count(MirrorCounter::kFlowsReused), 0u);
}

TEST(TcpMirrorTest, LossIsAGapAfterGapMsAndTheStreamResumesAtTheNextRequest) {
  Mirror m;
  const std::string a = Get("/collect?a=1");
  const std::string b = Post("/collect", std::string(100, 'b'));
  const std::string c = Get("/collect?c=3");
  const auto at = [&](size_t offset) { return static_cast<uint32_t>(1 + offset); };
  m.Send(6000, 0, {}, kTcpSyn);
  m.Send(6000, at(0), a);
  m.Send(6000, at(a.size()), std::string_view(b).substr(0, 40));  // b's head
  // b's middle is lost; its tail and c arrive.
  m.Send(6000, at(a.size() + 80), std::string_view(b).substr(80));
  m.Send(6000, at(a.size() + b.size()), c);
  m.Send(6000, at(a.size() + b.size() + c.size()), {}, kTcpFin | kTcpAck);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1"}));
  m.mirror.OnTick(kNow + 100);  // within gap_ms: still waiting
  EXPECT_EQ(m.Count(MirrorCounter::kGaps), 0u);
  m.mirror.OnTick(kNow + 500);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1", "c=3"}));
  EXPECT_EQ(m.Count(MirrorCounter::kGaps), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kResyncs), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kPartialDropped), 1u);  // b's head
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedFin), 1u);
  EXPECT_EQ(m.mirror.flow_count(), 0u);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);

  // The last bytes before a FIN lost, nothing held behind: still a gap, then closed.
  Mirror f;
  f.Send(6001, 0, {}, kTcpSyn);
  f.Send(6001, 1, std::string_view(a).substr(0, 10));
  f.Send(6001, at(a.size()), {}, kTcpFin | kTcpAck);
  f.mirror.OnTick(kNow + 500);
  EXPECT_EQ(f.Count(MirrorCounter::kGaps), 1u);
  EXPECT_EQ(f.Count(MirrorCounter::kPartialDropped), 1u);
  EXPECT_EQ(f.Count(MirrorCounter::kFlowsClosedFin), 1u);
}

TEST(TcpMirrorTest, SequenceNumbersWrapAround) {
  Mirror m;
  const std::string stream = Post("/collect", "v=1&t=wrap") + Get("/collect?after=wrap");
  const uint32_t isn = 0xffffffff - 20;
  m.Send(7000, isn, {}, kTcpSyn);
  // Second piece first: it starts past 2^32.
  m.Send(7000, isn + 1 + 50, std::string_view(stream).substr(50));
  m.Send(7000, isn + 1, std::string_view(stream).substr(0, 50));
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"v=1&t=wrap", "after=wrap"}));
  EXPECT_EQ(m.Count(MirrorCounter::kOutOfOrder), 1u);
}

TEST(TcpMirrorTest, RstClosesAndANewIsnRestartsTheFlow) {
  Mirror m;
  const std::string a = Get("/collect?a=1");
  m.Send(8000, 0, {}, kTcpSyn);
  m.Send(8000, 1, std::string_view(a).substr(0, 10));
  m.Send(8000, 11, {}, kTcpRst);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedRst), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kPartialDropped), 1u);
  m.Send(8001, 0, {}, kTcpSyn);
  m.Send(8001, 1, std::string_view(a).substr(0, 10));
  m.Send(8001, 90000, {}, kTcpSyn);  // the port reused by a new connection
  m.Send(8001, 90001, a);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1"}));
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsReused), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kPartialDropped), 2u);
}

// An RST is taken only at or within mirror_flow_bytes ahead of the next expected byte (RFC 5961
// §3; the mirror sees no window): a stray or spoofed one elsewhere leaves the flow as it was, so
// the request being assembled across it is not lost.
TEST(TcpMirrorTest, RstOutsideTheWindowIsIgnored) {
  Mirror m;
  const std::string a = Get("/collect?a=1");
  const std::string b = Post("/collect", "v=1&t=event&b=2");
  const auto after_a = static_cast<uint32_t>(1 + a.size());
  const auto head = static_cast<uint32_t>(b.size() / 2);
  m.Send(8100, 0, {}, kTcpSyn);
  m.Send(8100, 1, a);
  m.Send(8100, after_a, std::string_view(b).substr(0, head));
  m.Send(8100, after_a + head + (1u << 20), {}, kTcpRst);  // far ahead of the window
  m.Send(8100, after_a - 5, {}, kTcpRst);                  // behind the next expected byte
  m.Send(8100, after_a + head, std::string_view(b).substr(head));
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1", "v=1&t=event&b=2"}));
  EXPECT_EQ(m.Count(MirrorCounter::kRstIgnored), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedRst), 0u);
  EXPECT_EQ(m.Count(MirrorCounter::kPartialDropped), 0u);
  EXPECT_EQ(m.Count(MirrorCounter::kNoPayload), 3u);  // the SYN and both RSTs
  EXPECT_EQ(m.mirror.flow_count(), 1u);

  // In the window (bytes the mirror missed before it), an RST still ends the flow.
  const auto end = after_a + static_cast<uint32_t>(b.size());
  m.Send(8100, end + 3000, {}, kTcpRst);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedRst), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kRstIgnored), 2u);
  EXPECT_EQ(m.mirror.flow_count(), 0u);
}

// A retransmission of a request (or a SPAN's duplicate of it) that arrives after the FIN
// closed its flow is a copy, not a new request picked up mid-stream: one beacon, not two.
TEST(TcpMirrorTest, CopiesOfSegmentsAfterAFinAreNotTakenAgain) {
  Mirror m;
  const std::string a = Get("/collect?a=1");
  const auto end = static_cast<uint32_t>(1 + a.size());
  m.Send(30, 0, {}, kTcpSyn);
  m.Send(30, 1, a, kTcpAck | kTcpFin);
  m.Send(30, 1, a, kTcpAck | kTcpFin);  // the same segment again
  m.Send(30, end + 1, {}, kTcpAck);     // the client's last ACK
  m.Send(30, 1, a, kTcpAck | kTcpFin);  // retransmitted: the server's ACK was lost
  m.Send(30, 0, {}, kTcpSyn);           // an old copy of the SYN
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1"}));
  EXPECT_EQ(m.Count(MirrorCounter::kRetransmitted), 3u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedFin), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kPickups), 0u);
  EXPECT_EQ(m.mirror.flow_count(), 0u);  // a closed flow is not one being reassembled
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);

  // The FIN on its own segment, the data retransmitted with it (as Linux does).
  Mirror f;
  f.Send(31, 0, {}, kTcpSyn);
  f.Send(31, 1, a);
  f.Send(31, end, {}, kTcpAck | kTcpFin);
  f.Send(31, 1, a, kTcpAck | kTcpFin);
  EXPECT_EQ(f.Payloads(), (std::vector<std::string>{"a=1"}));

  // A new connection on the same 4-tuple, with or without its SYN, is a new flow.
  const std::string b = Get("/collect?b=2");
  m.Send(30, 70000, {}, kTcpSyn);
  m.Send(30, 70001, b, kTcpAck | kTcpFin);
  m.Send(30, 90000, Get("/collect?c=3"));
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1", "b=2", "c=3"}));
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsOpened), 3u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsReused), 0u);
  EXPECT_EQ(m.Count(MirrorCounter::kPickups), 1u);
}

// A closed flow keeps its slot only until idle_ms or until a new flow needs it: it is not
// evicted (and not counted as evicted) for one.
TEST(TcpMirrorTest, ClosedFlowsGiveTheirSlotsUp) {
  TcpMirrorConfig config = Mirror::Defaults();
  config.max_flows = 1;
  Mirror m(config);
  const std::string a = Get("/collect?a=1");
  m.Send(32, 0, {}, kTcpSyn);
  m.Send(32, 1, a, kTcpAck | kTcpFin);
  m.Send(33, 0, {}, kTcpSyn);
  m.Send(33, 1, a);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvictedLru), 0u);
  EXPECT_EQ(m.mirror.flow_count(), 1u);
  m.Send(33, 1 + static_cast<uint32_t>(a.size()), {}, kTcpAck | kTcpFin);
  m.mirror.OnTick(kNow + 30'000);  // idle_ms: the closed flow is forgotten, uncounted
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvicted), 0u);
  m.Send(33, 1, a, kTcpAck, kNow + 30'001);  // no longer recognised: picked up again
  EXPECT_EQ(m.Count(MirrorCounter::kPickups), 1u);
  EXPECT_EQ(m.Payloads().size(), 3u);
}

// Requests held complete past a hole (the mirror lost bytes the server got) are taken when
// an RST or a new connection on the 4-tuple ends the flow, as at eviction: the hole is a gap.
TEST(TcpMirrorTest, RstAndPortReuseTakeCompleteRequestsHeldPastAHole) {
  const std::string a = Get("/collect?a=1");
  const std::string b = Get("/collect?b=2");
  const auto after_a = static_cast<uint32_t>(1 + a.size());
  Mirror m;
  m.Send(34, 0, {}, kTcpSyn);
  m.Send(34, after_a, b);  // a never reached the mirror
  m.Send(34, after_a + static_cast<uint32_t>(b.size()), {}, kTcpRst);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"b=2"}));
  EXPECT_EQ(m.Count(MirrorCounter::kGaps), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kResyncs), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsClosedRst), 1u);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);

  Mirror r;
  r.Send(35, 0, {}, kTcpSyn);
  r.Send(35, 1, std::string_view(a).substr(0, 10));
  r.Send(35, after_a, b);
  r.Send(35, 80000, {}, kTcpSyn);  // the port reused by a new connection
  r.Send(35, 80001, a);
  EXPECT_EQ(r.Payloads(), (std::vector<std::string>{"b=2", "a=1"}));
  EXPECT_EQ(r.Count(MirrorCounter::kGaps), 1u);
  EXPECT_EQ(r.Count(MirrorCounter::kPartialDropped), 1u);  // a's head
  EXPECT_EQ(r.Count(MirrorCounter::kFlowsReused), 1u);
}

TEST(TcpMirrorTest, AFullTableEvictsTheLeastRecentlyUsedFlow) {
  TcpMirrorConfig config = Mirror::Defaults();
  config.max_flows = 2;
  Mirror m(config);
  const std::string a = Get("/collect?a=1");
  m.Send(1, 0, {}, kTcpSyn, kNow);
  m.Send(2, 0, {}, kTcpSyn, kNow + 1);
  m.Send(1, 1, std::string_view(a).substr(0, 10), kTcpAck, kNow + 2);  // flow 2 is now LRU
  m.Send(3, 0, {}, kTcpSyn, kNow + 3);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvictedLru), 1u);
  m.Send(1, 11, std::string_view(a).substr(10), kTcpAck, kNow + 4);
  m.Send(4, 0, a, kTcpAck, kNow + 5);  // a pickup evicts flow 3, not flow 1
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvictedLru), 2u);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsOpened), 4u);
  EXPECT_EQ(m.mirror.flow_count(), 2u);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1", "a=1"}));
  // An evicted flow's partial request is dropped and counted.
  m.Send(1, 1 + static_cast<uint32_t>(a.size()), std::string_view(a).substr(0, 10), kTcpAck,
         kNow + 6);
  m.Send(5, 0, {}, kTcpSyn, kNow + 7);
  m.Send(6, 0, {}, kTcpSyn, kNow + 8);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvictedLru), 4u);
  EXPECT_EQ(m.Count(MirrorCounter::kPartialDropped), 1u);
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);
}

TEST(TcpMirrorTest, FlowsWithoutPayloadExpireAfterSynIdleMs) {
  Mirror m;
  m.Send(1, 0, {}, kTcpSyn, kNow);
  m.Send(1, 1, {}, kTcpAck, kNow + 4'000);  // pure ACKs do not keep a flow
  m.Send(2, 0, {}, kTcpSyn, kNow);
  m.Send(2, 1, Get("/collect?a=1"), kTcpAck, kNow + 100);
  m.mirror.OnTick(kNow + 4'999);
  EXPECT_EQ(m.mirror.flow_count(), 2u);
  m.mirror.OnTick(kNow + 5'000);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsSynExpired), 1u);
  EXPECT_EQ(m.mirror.flow_count(), 1u);  // the keep-alive flow waits for idle_ms
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"a=1"}));
}

TEST(TcpMirrorTest, DechunkedBodiesCountAgainstTheTotal) {
  const std::string head =
      "POST /collect HTTP/1.1\r\nHost: c.example\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk = "800\r\n" + std::string(0x800, 'c') + "\r\n";
  Mirror m;
  m.Send(1, 0, {}, kTcpSyn);
  uint32_t seq = 1;
  const auto send = [&](Mirror& to, const std::string& bytes) {
    to.Send(1, seq, bytes);
    seq += static_cast<uint32_t>(bytes.size());
  };
  send(m, head);
  send(m, chunk);
  // The stream holds the wire bytes and the parser the de-chunked body besides.
  EXPECT_GT(m.mirror.buffered_bytes(), head.size() + chunk.size() + 0x700);
  send(m, "0\r\n\r\n");
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{std::string(0x800, 'c')}));
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);  // the body buffer is given back

  // Past max_total_bytes the request is dropped, and the flow resumes at the next request.
  TcpMirrorConfig config = Mirror::Defaults();
  config.max_total_bytes = 8 * 1024;
  Mirror small(config);
  seq = 1;
  small.Send(1, 0, {}, kTcpSyn);
  send(small, head);
  for (int i = 0; i < 4; ++i) send(small, chunk);
  EXPECT_EQ(small.Count(MirrorCounter::kOverTotalBytes), 1u);
  EXPECT_EQ(small.Count(MirrorCounter::kPartialDropped), 1u);
  EXPECT_LE(small.mirror.buffered_bytes(), config.max_total_bytes);
  send(small, "0\r\n\r\n");
  send(small, Get("/collect?after=1"));
  EXPECT_EQ(small.Payloads(), (std::vector<std::string>{"after=1"}));
  EXPECT_EQ(small.mirror.buffered_bytes(), 0u);
}

TEST(TcpMirrorTest, FlowAndTotalBufferBounds) {
  TcpMirrorConfig config = Mirror::Defaults();
  config.max_flow_bytes = 300;
  config.max_total_bytes = 500;
  Mirror m(config);
  const std::string a = Get("/collect?a=1");
  m.Send(1, 0, {}, kTcpSyn);
  m.Send(2, 0, {}, kTcpSyn);

  // Flow 1: held bytes past 300 declare the hole lost; the stream resumes at a method.
  const std::string big = Post("/collect", std::string(150, 'x'));
  m.Send(1, 1 + 1000, std::string_view(big).substr(100));  // ahead of a hole, not a start
  m.Send(1, 1 + 2000, big);                                // over the flow bound
  EXPECT_EQ(m.Count(MirrorCounter::kOverFlowBytes), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kGaps), 1u);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{std::string(150, 'x')}));
  EXPECT_EQ(m.mirror.buffered_bytes(), 0u);

  // Total bound: flow 2 holds 250 bytes, flow 1's 270 more would pass 500.
  m.Send(2, 1 + 1000, std::string(250, 'h'));
  m.Send(1, 1 + 5000, std::string(270, 'i'));
  EXPECT_EQ(m.Count(MirrorCounter::kOverTotalBytes), 1u);
  EXPECT_LE(m.mirror.buffered_bytes(), 500u);

  // A request growing past the flow bound in order is dropped; the next request is taken.
  TcpMirrorConfig small = Mirror::Defaults();
  small.max_flow_bytes = 120;
  Mirror s(small);
  const std::string huge = Post("/collect", std::string(200, 'z'));
  s.Send(9, 0, {}, kTcpSyn);
  s.Send(9, 1, std::string_view(huge).substr(0, 100));
  s.Send(9, 101, std::string_view(huge).substr(100, 100));
  s.Send(9, 201, std::string_view(huge).substr(200));
  s.Send(9, 1 + static_cast<uint32_t>(huge.size()), a);
  EXPECT_EQ(s.Count(MirrorCounter::kOverFlowBytes), 1u);
  EXPECT_EQ(s.Count(MirrorCounter::kUnsynced), 1u);
  EXPECT_EQ(s.Count(MirrorCounter::kResyncs), 1u);
  EXPECT_EQ(s.Payloads(), (std::vector<std::string>{"a=1"}));
}

TEST(TcpMirrorTest, IdleFlowsAreEvicted) {
  TcpMirrorConfig config = Mirror::Defaults();
  config.syn_idle_ms = 60'000;
  Mirror m(config);
  m.Send(10, 0, {}, kTcpSyn);
  m.Send(11, 0, {}, kTcpSyn, kNow + 20'000);
  m.mirror.OnTick(kNow + 30'000);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvicted), 1u);
  EXPECT_EQ(m.mirror.flow_count(), 1u);
  m.mirror.OnTick(kNow + 50'000);
  EXPECT_EQ(m.Count(MirrorCounter::kFlowsEvicted), 2u);
  EXPECT_EQ(m.mirror.flow_count(), 0u);
}

TEST(TcpMirrorTest, MalformedRequestsAreCountedByReasonAndTheFlowResyncs) {
  Mirror m;
  const std::string bad = "GET /collect?v=1 HTTP/1.1\nHost: x\r\n\r\n";
  const std::string good = Get("/collect?ok=1");
  m.Send(12, 0, {}, kTcpSyn);
  m.Send(12, 1, bad);
  m.Send(12, 1, bad);  // a retransmission of the rejected bytes is not parsed again
  m.Send(12, 1 + static_cast<uint32_t>(bad.size()), good);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"ok=1"}));
  EXPECT_EQ(m.Count(MirrorCounter::kHttpRejects), 1u);
  EXPECT_EQ(m.mirror.counters().Rejects(kernels::HttpReject::kBareLf), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kResyncs), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kRetransmitted), 1u);
}

TEST(TcpMirrorTest, RequestsThatAreNoBeaconAreCountedNotForwarded) {
  TcpMirrorConfig config = Mirror::Defaults();
  config.limits.max_collect_url = 100;
  Mirror m(config);
  std::string stream = "OPTIONS /api/event HTTP/1.1\r\nHost: a\r\n\r\n";
  stream += Get("/batch");
  stream += Get("/favicon.ico");
  stream += Get("/collect?" + std::string(120, 'u'));
  stream += Post("/g/collect?v=2&tid=G-1", "en=page_view");
  m.Send(13, 0, {}, kTcpSyn);
  m.Send(13, 1, stream);
  EXPECT_EQ(m.Payloads(), (std::vector<std::string>{"en=page_view"}));
  EXPECT_EQ(m.queries[0], "v=2&tid=G-1");
  EXPECT_EQ(m.endpoints[0], kernels::Endpoint::kGa4Gtag);
  EXPECT_EQ(m.Count(MirrorCounter::kRequests), 5u);
  EXPECT_EQ(m.Count(MirrorCounter::kPreflights), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kMethodNotAllowed), 1u);
  EXPECT_EQ(m.Count(MirrorCounter::kNotBeaconPath), 1u);
  EXPECT_EQ(m.mirror.counters().Rejects(kernels::HttpReject::kUrlTooLong), 1u);
}

TEST(TcpMirrorTest, ClientIpAndCountryFromHeaders) {
  TcpMirrorConfig config = Mirror::Defaults();
  config.client_ip_header = "X-Forwarded-For";
  Mirror m(config);
  std::string stream = Get("/collect?a=1", "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n");
  stream += Get("/collect?b=2", "X-Forwarded-For: 2001:db8::5\r\nCF-IPCountry: de\r\n");
  stream += Get("/collect?c=3", "X-Forwarded-For: unknown\r\n");
  stream += Get("/collect?d=4");
  m.Send(14, 0, {}, kTcpSyn);
  m.Send(14, 1, stream);
  ASSERT_EQ(m.Payloads().size(), 4u);
  EXPECT_EQ(m.sources[0].bytes, kernels::IpAddress::FromV4(0xcb007107).bytes);
  EXPECT_FALSE(m.sources[1].is_v4());
  EXPECT_EQ(m.sources[1].bytes[15], 5);
  EXPECT_EQ(m.countries[1], kernels::CountryFromHeader("DE"));
  EXPECT_EQ(m.countries[0], kernels::kUnknownCountry);
  const kernels::IpAddress flow_source = kernels::IpAddress::FromV4(0xc6120009);
  EXPECT_EQ(m.sources[2].bytes, flow_source.bytes);
  EXPECT_EQ(m.sources[3].bytes, flow_source.bytes);
  EXPECT_EQ(m.Count(MirrorCounter::kClientIpFallback), 2u);
}

TEST(TcpMirrorTest, FullBatchIsDeliveredAndFlowsAreKeyedByAddressFamily) {
  Mirror m;
  const std::string req = Post("/collect", std::string(6000, 'p'));
  m.Send(15, 0, {}, kTcpSyn);
  m.mirror.OnSegment(Mirror::Segment(15, 0, {}, kTcpSyn, true), kNow);  // same port, IPv6
  EXPECT_EQ(m.mirror.flow_count(), 2u);
  uint32_t seq = 1;
  for (int i = 0; i < 300; ++i) {
    m.Send(15, seq, req);
    seq += static_cast<uint32_t>(req.size());
  }
  EXPECT_GT(m.deliveries, 0);  // the mirror handed full batches on by itself
  EXPECT_EQ(m.Payloads().size(), 300u);
  EXPECT_EQ(m.Count(MirrorCounter::kBeaconsDropped), 0u);
}

TEST(TcpMirrorTest, ParseFrameFindsMirrorSegments) {
  bench::TcpSegmentSpec spec;
  spec.source = {198, 18, 1, 2};
  spec.destination = {198, 19, 0, 1};
  spec.source_port = 40123;
  spec.destination_port = 8080;
  spec.seq = 0xfffffff0;
  spec.flags = 0x18;
  spec.payload = Get("/collect?a=1");
  const std::vector<uint16_t> ports = {80, 8080};
  const auto parse = [&](const std::string& f, const std::vector<uint16_t>& mirror_ports) {
    return ParseFrame(reinterpret_cast<const uint8_t*>(f.data()), f.size(), {}, {}, mirror_ports);
  };
  for (const bool v6 : {false, true}) {
    spec.ipv6 = v6;
    if (v6) {
      spec.source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
      spec.destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      spec.vlans = {7};
    }
    const std::string frame = bench::TcpFrame(spec);
    const ParsedFrame p = parse(frame, ports);
    ASSERT_EQ(p.outcome, FrameOutcome::kMirrorSegment) << "v6=" << v6;
    EXPECT_EQ(p.source_port, 40123);
    EXPECT_EQ(p.destination_port, 8080);
    EXPECT_EQ(p.tcp_seq, 0xfffffff0u);
    EXPECT_EQ(p.tcp_flags, 0x18);
    EXPECT_EQ(std::string_view(frame).substr(p.payload_offset, p.payload_size), spec.payload);
    EXPECT_EQ(p.source.is_v4(), !v6);
    EXPECT_EQ(p.destination.bytes[15], 1);
    // Without mirror ports (or to another port) TCP stays not_udp: the kernel's.
    EXPECT_EQ(parse(frame, {}).outcome, FrameOutcome::kNotUdp);
    EXPECT_EQ(parse(frame, {443}).outcome, FrameOutcome::kNotUdp);
    std::string corrupt = frame;
    corrupt.back() = static_cast<char>(corrupt.back() ^ 0x40);
    EXPECT_EQ(parse(corrupt, ports).outcome, FrameOutcome::kBadTcpChecksum);
    std::string bad_offset = frame;
    bad_offset[frame.size() - spec.payload.size() - 8] = 0x40;  // data offset 4 words
    EXPECT_EQ(parse(bad_offset, ports).outcome, FrameOutcome::kBadTcpHeader);
  }
}

}  // namespace
}  // namespace beacon::dpdk
