// Frame building (headers, one's-complement checksums, fragments, the malformed classes), the
// relay capture (the traffic model's requests packed into hit batches and syslog lines) and the
// mirror capture (the same requests as HTTP/1.1 over interleaved TCP flows).
#include "bench/gen/pcap_writer.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>
#include <stdexcept>

#include "bench/gen/hit_sender.h"
#include "bench/gen/traffic_model.h"
#include "kernels/clock.h"
#include "kernels/unix_time.h"

namespace beacon::bench {
namespace {

// The traffic model options of a capture (RelayCaptureOptions or MirrorCaptureOptions).
template <typename CaptureOptions>
TrafficOptions CaptureTraffic(const CaptureOptions& options) {
  TrafficOptions traffic;
  traffic.seed = options.seed;
  traffic.hits = options.hits;
  traffic.malformed_share = options.malformed_share;
  traffic.bot_share = options.bot_share;
  return traffic;
}

// A capture's time: the configured unix milliseconds, or now when 0.
int64_t CaptureTimeMs(int64_t configured_ms) {
  return configured_ms != 0 ? configured_ms : kernels::UnixMillis();
}
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoTcp = 6;
constexpr size_t kMtuPayloadV4 = 1480;        // 1500 - IPv4 header
constexpr size_t kMtuPayloadV6 = 1448;        // 1500 - IPv6 and fragment headers, 8-aligned
constexpr size_t kMaxDatagramPayload = 8000;  // <= 6 fragments: rte_ip_frag takes at most 8
constexpr size_t kMaxHitsPerBatch = 20;

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void Put32(std::string* out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}

void Set16(std::string* s, size_t at, uint16_t v) {
  (*s)[at] = static_cast<char>(v >> 8);
  (*s)[at + 1] = static_cast<char>(v);
}

uint32_t SumWords(std::string_view bytes, uint32_t sum) {
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    sum += static_cast<uint32_t>(static_cast<uint8_t>(bytes[i]) << 8 |
                                 static_cast<uint8_t>(bytes[i + 1]));
  }
  if (bytes.size() % 2 == 1) sum += static_cast<uint32_t>(static_cast<uint8_t>(bytes.back()) << 8);
  return sum;
}

uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

std::string_view Address(const UdpDatagram& d, bool source) {
  const auto& a = source ? d.source : d.destination;
  return {reinterpret_cast<const char*>(a.data()), d.ipv6 ? 16u : 4u};
}

std::string Ethernet(const std::vector<uint16_t>& vlans, uint16_t ether_type) {
  std::string out = {'\x02', 0, 0, 0, 0, '\x01', '\x02', 0, 0, 0, 0, '\x02'};
  for (size_t i = 0; i < vlans.size(); ++i) {
    Put16(&out, vlans.size() > 1 && i == 0 ? 0x88a8 : 0x8100);
    Put16(&out, vlans[i] & 0x0fff);
  }
  Put16(&out, ether_type);
  return out;
}

std::string Ipv4Header(const UdpDatagram& d, uint8_t protocol, size_t payload, uint16_t id,
                       uint16_t fragment_field) {
  std::string ip;
  ip.push_back(0x45);
  ip.push_back(0);
  Put16(&ip, static_cast<uint16_t>(20 + payload));
  Put16(&ip, id);
  Put16(&ip, fragment_field);
  ip.push_back(64);
  ip.push_back(static_cast<char>(protocol));
  Put16(&ip, 0);
  ip += Address(d, true);
  ip += Address(d, false);
  Set16(&ip, 10, Fold(SumWords(ip, 0)));
  return ip;
}

std::string Ipv6Header(const UdpDatagram& d, uint8_t next, size_t payload) {
  std::string ip = {'\x60', 0, 0, 0};
  Put16(&ip, static_cast<uint16_t>(payload));
  ip.push_back(static_cast<char>(next));
  ip.push_back(64);
  ip += Address(d, true);
  ip += Address(d, false);
  return ip;
}

// The UDP header and payload with the checksum over the pseudo header.
std::string UdpSegment(const UdpDatagram& d) {
  std::string udp;
  Put16(&udp, d.source_port);
  Put16(&udp, d.destination_port);
  Put16(&udp, static_cast<uint16_t>(8 + d.payload.size()));
  Put16(&udp, 0);
  udp += d.payload;
  std::string pseudo(Address(d, true));
  pseudo += Address(d, false);
  if (d.ipv6) Put16(&pseudo, 0);
  Put16(&pseudo, d.ipv6 ? 0 : kProtoUdp);
  Put16(&pseudo, static_cast<uint16_t>(udp.size()));
  if (d.ipv6) Put16(&pseudo, kProtoUdp);
  uint16_t checksum = Fold(SumWords(udp, SumWords(pseudo, 0)));
  if (checksum == 0) checksum = 0xffff;  // 0 means "no checksum" over IPv4, invalid over IPv6
  Set16(&udp, 6, checksum);
  return udp;
}

std::string IpFrame(const UdpDatagram& d, uint8_t protocol, std::string_view l4) {
  std::string frame = Ethernet(d.vlans, d.ipv6 ? 0x86dd : 0x0800);
  frame += d.ipv6 ? Ipv6Header(d, protocol, l4.size()) : Ipv4Header(d, protocol, l4.size(), 1, 0);
  frame += l4;
  return frame;
}

size_t IpOffset(const UdpDatagram& d) { return 14 + 4 * d.vlans.size(); }

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

// The relay log line's escaping (kernels/formats/README.md, "Relay log line").
std::string EscapeLogField(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20) {
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string SyslogLine(int64_t time_ms, std::string_view client, std::string_view method,
                       std::string_view uri, std::string_view user_agent, std::string_view body) {
  char msec[32];
  std::snprintf(msec, sizeof(msec), "%lld.%03lld", static_cast<long long>(time_ms / 1000),
                static_cast<long long>(time_ms % 1000));
  std::string line = "<190>1 2026-01-01T00:00:00.000Z pop1 nginx - - - beacon1\t";
  line += msec;
  line += '\t';
  line += client;
  line += '\t';
  line += method;
  line += '\t';
  line += EscapeLogField(uri);
  line += '\t';
  line += EscapeLogField(user_agent);
  line += "\t\t\t";  // referer, country
  line += EscapeLogField(body);
  line += '\n';
  return line;
}

// The TCP header (no options) and payload with the checksum over the pseudo header.
std::string TcpBytes(const TcpSegmentSpec& s, const UdpDatagram& addresses) {
  std::string tcp;
  Put16(&tcp, s.source_port);
  Put16(&tcp, s.destination_port);
  Put32(&tcp, s.seq);
  Put32(&tcp, s.ack);
  tcp.push_back(0x50);  // data offset: 5 words
  tcp.push_back(static_cast<char>(s.flags));
  Put16(&tcp, 65535);  // window
  Put16(&tcp, 0);      // checksum
  Put16(&tcp, 0);      // urgent pointer
  tcp += s.payload;
  std::string pseudo(Address(addresses, true));
  pseudo += Address(addresses, false);
  if (s.ipv6) {
    Put32(&pseudo, static_cast<uint32_t>(tcp.size()));
    Put32(&pseudo, kProtoTcp);
  } else {
    Put16(&pseudo, kProtoTcp);
    Put16(&pseudo, static_cast<uint16_t>(tcp.size()));
  }
  Set16(&tcp, 16, Fold(SumWords(tcp, SumWords(pseudo, 0))));
  return tcp;
}

class Capture {
 public:
  Capture(const RelayCaptureOptions& options, const DatagramCallback& on_datagram)
      : options_(options), on_datagram_(on_datagram), rng_(options.seed * 7919 + 3) {}

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint32_t Below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  UdpDatagram Datagram(uint16_t port, std::string payload) {
    UdpDatagram d;
    d.ipv6 = Chance(options_.ipv6_share);
    if (d.ipv6) {
      d.source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
      d.source[14] = static_cast<uint8_t>(Below(256));
      d.source[15] = static_cast<uint8_t>(1 + Below(254));
      d.destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    } else {
      d.source = {198, 18, static_cast<uint8_t>(Below(256)), static_cast<uint8_t>(1 + Below(254))};
      d.destination = {198, 19, 0, 1};
    }
    d.source_port = static_cast<uint16_t>(32768 + Below(28000));
    d.destination_port = port;
    if (Chance(options_.vlan_share)) {
      d.vlans.push_back(static_cast<uint16_t>(1 + Below(4094)));
      if (Chance(0.25)) d.vlans.push_back(static_cast<uint16_t>(1 + Below(4094)));
    }
    d.payload = std::move(payload);
    return d;
  }

  // Frames of one beacon datagram: whole, or fragmented when over the MTU or by chance.
  void AddBeaconDatagram(const UdpDatagram& d) {
    if (on_datagram_) on_datagram_(d.destination_port, d.payload);
    const size_t udp_bytes = d.payload.size() + 8;
    const size_t mtu = d.ipv6 ? kMtuPayloadV6 : kMtuPayloadV4;
    size_t fragment_bytes = 0;
    if (udp_bytes > mtu) {
      fragment_bytes = mtu;
    } else if (udp_bytes >= 64 && Chance(options_.fragment_share)) {
      const size_t pieces = 2 + Below(2);
      fragment_bytes = ((udp_bytes + pieces - 1) / pieces + 7) / 8 * 8;
    }
    ++truth_.datagrams;
    ++truth_.frames["beacon_datagram"];
    truth_.payload_bytes += d.payload.size();
    if (fragment_bytes == 0) {
      frames_.push_back(UdpFrame(d));
      return;
    }
    ++truth_.reassembled;
    for (std::string& f : FragmentFrames(d, fragment_bytes, next_id_++)) {
      ++truth_.frames["fragment"];
      frames_.push_back(std::move(f));
    }
  }

  void AddRequest(const Request& request, int64_t time_ms, uint32_t minute) {
    const bool syslog = Chance(options_.syslog_share);
    std::string client =
        "198.18." + std::to_string(Below(256)) + "." + std::to_string(1 + Below(254));
    size_t i = 0;
    while (i < request.hits.size()) {
      // Hits of one datagram: a batch takes up to 20 within the payload cap, others one.
      std::string body;
      const size_t first = i;
      while (i < request.hits.size() && i - first < kMaxHitsPerBatch) {
        std::string hit = request.hits[i].params;
        if (!syslog) hit += "&ua=" + PercentEncode(request.user_agent);
        if (i > first && body.size() + 1 + hit.size() > kMaxDatagramPayload / 2) break;
        if (i > first) body += '\n';
        body += hit;
        ++i;
        if (request.transport != Transport::kBatch) break;
      }
      for (size_t h = first; h < i; ++h) {
        Hit hit = request.hits[h];
        hit.country.clear();  // relay datagrams carry no country header
        truth_builder_.Record(hit, minute);
      }
      const auto wrap = [&](const std::string& hits) {
        if (!syslog) return hits;
        return request.transport == Transport::kBatch
                   ? SyslogLine(time_ms, client, "POST", "/batch", request.user_agent, hits)
                   : SyslogLine(time_ms, client, "GET", "/collect?" + hits, request.user_agent, "");
      };
      std::string payload = wrap(body);
      if (options_.mean_payload > 0) {
        // Pad with GA's cache buster (z, ignored by decoders) towards the wanted running mean.
        const uint64_t want = options_.mean_payload * (truth_.datagrams + 1);
        const uint64_t have = truth_.payload_bytes + payload.size();
        if (want > have + 3) {
          const size_t digits = std::min<uint64_t>(want - have - 3, 2 * options_.mean_payload);
          payload = wrap(body + "&z=" + std::string(digits, static_cast<char>('1' + Below(9))));
        }
      }
      const uint16_t port = syslog ? options_.syslog_port : options_.hit_batch_port;
      AddBeaconDatagram(Datagram(port, std::move(payload)));
    }
  }

  void AddMalformed() {
    const std::string sample =
        "v=1&t=pageview&tid=UA-100001-1&cid=1.2&dl=https%3A%2F%2Fa.example%2F";
    for (const std::string_view label : kMalformedFrameClasses) {
      for (uint64_t n = 0; n < options_.malformed_frames_per_class; ++n) {
        frames_.push_back(MalformedFrame(label, Datagram(options_.hit_batch_port, sample)));
        ++truth_.frames[std::string(label)];
      }
    }
    for (uint64_t n = 0; n < options_.incomplete_datagrams; ++n) {
      UdpDatagram d = Datagram(options_.hit_batch_port, std::string(600, 'x'));
      std::vector<std::string> fragments = FragmentFrames(d, 208, next_id_++);
      fragments.pop_back();
      for (std::string& f : fragments) {
        ++truth_.frames["fragment"];
        ++truth_.fragments_dropped;
        frames_.push_back(std::move(f));
      }
    }
  }

  void Flush(PcapWriter* pcap) {
    std::shuffle(frames_.begin(), frames_.end(), rng_);
    for (const std::string& f : frames_) pcap->Write(f);
    frames_.clear();
  }

  RelayCaptureTruth Finish() {
    truth_.hits = truth_builder_.Summary();
    return truth_;
  }

 private:
  const RelayCaptureOptions& options_;
  const DatagramCallback& on_datagram_;
  std::mt19937_64 rng_;
  std::vector<std::string> frames_;
  GroundTruth truth_builder_;
  RelayCaptureTruth truth_;
  uint32_t next_id_ = 1;
};

}  // namespace

std::string UdpFrame(const UdpDatagram& datagram) {
  return IpFrame(datagram, kProtoUdp, UdpSegment(datagram));
}

std::string TcpFrame(const TcpSegmentSpec& segment) {
  UdpDatagram addresses;
  addresses.ipv6 = segment.ipv6;
  addresses.source = segment.source;
  addresses.destination = segment.destination;
  addresses.vlans = segment.vlans;
  return IpFrame(addresses, kProtoTcp, TcpBytes(segment, addresses));
}

std::vector<std::string> FragmentFrames(const UdpDatagram& datagram, size_t fragment_bytes,
                                        uint32_t id) {
  if (fragment_bytes == 0 || fragment_bytes % 8 != 0) {
    throw std::invalid_argument("fragment size " + std::to_string(fragment_bytes) +
                                " is not a positive multiple of 8");
  }
  const std::string udp = UdpSegment(datagram);
  std::vector<std::string> frames;
  for (size_t offset = 0; offset < udp.size(); offset += fragment_bytes) {
    const std::string_view piece = std::string_view(udp).substr(offset, fragment_bytes);
    const bool more = offset + piece.size() < udp.size();
    std::string frame = Ethernet(datagram.vlans, datagram.ipv6 ? 0x86dd : 0x0800);
    if (datagram.ipv6) {
      frame += Ipv6Header(datagram, 44, 8 + piece.size());
      frame.push_back(static_cast<char>(kProtoUdp));
      frame.push_back(0);
      Put16(&frame, static_cast<uint16_t>(offset | (more ? 1 : 0)));
      Put32(&frame, id);
    } else {
      frame += Ipv4Header(datagram, kProtoUdp, piece.size(), static_cast<uint16_t>(id),
                          static_cast<uint16_t>((more ? 0x2000 : 0) | offset / 8));
    }
    frame += piece;
    frames.push_back(std::move(frame));
  }
  return frames;
}

std::string MalformedFrame(std::string_view label, const UdpDatagram& base) {
  UdpDatagram d = base;
  const auto v4 = [&d] {
    if (!d.ipv6) return;
    d.ipv6 = false;
    d.source = {198, 18, 7, 7};
    d.destination = {198, 19, 0, 1};
  };
  const size_t ip = IpOffset(d);
  if (label == "truncated_ethernet") return UdpFrame(d).substr(0, 10);
  if (label == "too_many_vlan_tags") {
    d.vlans = {10, 20, 30};
    return UdpFrame(d);
  }
  if (label == "not_ip") return Ethernet(d.vlans, 0x0806) + std::string(28, '\x01');
  if (label == "truncated_ip") return UdpFrame(d).substr(0, ip + 12);
  if (label == "bad_ip_version") {
    std::string f = UdpFrame(d);
    f[ip] = static_cast<char>(d.ipv6 ? 0x40 : 0x60 | 0x05);
    return f;
  }
  if (label == "bad_ihl") {
    v4();
    std::string f = UdpFrame(d);
    f[ip] = 0x44;
    return f;
  }
  if (label == "bad_ip_length") {
    std::string f = UdpFrame(d);
    if (d.ipv6) {
      Set16(&f, ip + 4, static_cast<uint16_t>(f.size() - ip - 40 + 100));
    } else {
      Set16(&f, ip + 2, static_cast<uint16_t>(f.size() - ip + 100));
      Set16(&f, ip + 10, 0);
      Set16(&f, ip + 10, Fold(SumWords(std::string_view(f).substr(ip, 20), 0)));
    }
    return f;
  }
  if (label == "bad_ip_checksum") {
    v4();
    std::string f = UdpFrame(d);
    f[ip + 10] = static_cast<char>(f[ip + 10] ^ 0x5a);
    return f;
  }
  if (label == "bad_fragment") {
    v4();
    return Ethernet(d.vlans, 0x0800) + Ipv4Header(d, kProtoUdp, 0, 9, 0x2000);
  }
  if (label == "unsupported_ipv6_extension") {
    d.ipv6 = true;
    d.source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    d.destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::string ah = {kProtoUdp, 1, 0, 0};  // next header, length (3 words)
    ah += std::string(8, '\x11');
    return IpFrame(d, 51, ah + UdpSegment(d));
  }
  if (label == "not_udp") {
    std::string tcp(20, '\0');
    Set16(&tcp, 0, 40000);
    Set16(&tcp, 2, 443);
    tcp[12] = 0x50;
    return IpFrame(d, kProtoTcp, tcp);
  }
  if (label == "truncated_udp") return IpFrame(d, kProtoUdp, UdpSegment(d).substr(0, 4));
  if (label == "bad_udp_length") {
    std::string udp = UdpSegment(d);
    Set16(&udp, 4, static_cast<uint16_t>(udp.size() + 4));
    return IpFrame(d, kProtoUdp, udp);
  }
  if (label == "bad_udp_checksum") {
    std::string udp = UdpSegment(d);
    udp[6] = static_cast<char>(udp[6] ^ 0x21);
    if (udp[6] == 0 && udp[7] == 0) udp[7] = 1;  // zero would mean "no checksum" over IPv4
    return IpFrame(d, kProtoUdp, udp);
  }
  if (label == "not_beacon_port") {
    d.destination_port = 9;
    return UdpFrame(d);
  }
  if (label == "empty_datagram") {
    d.payload.clear();
    return UdpFrame(d);
  }
  throw std::invalid_argument("unknown malformed frame class '" + std::string(label) + "'");
}

PcapWriter::PcapWriter(const std::string& path)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) throw std::runtime_error("cannot create pcap file '" + path + "'");
  const uint32_t header[] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};  // v2.4, Ethernet
  out_.write(reinterpret_cast<const char*>(header), sizeof(header));
}

void PcapWriter::Write(std::string_view frame) {
  const uint32_t record[] = {static_cast<uint32_t>(1'700'000'000 + frames_ / 1'000'000),
                             static_cast<uint32_t>(frames_ % 1'000'000),
                             static_cast<uint32_t>(frame.size()),
                             static_cast<uint32_t>(frame.size())};
  out_.write(reinterpret_cast<const char*>(record), sizeof(record));
  out_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  ++frames_;
}

void PcapWriter::Close() {
  if (!out_.flush()) throw std::runtime_error("cannot write pcap file '" + path_ + "'");
  out_.close();
}

void RelayCaptureTruth::Write(std::ostream& out) const {
  out << "# beacon-gen relay capture truth; format: bench/gen/README.md\n";
  out << "datagrams\t" << datagrams << "\n";
  out << "reassembled\t" << reassembled << "\n";
  out << "fragments_dropped\t" << fragments_dropped << "\n";
  out << "payload_bytes\t" << payload_bytes << "\n";
  for (const auto& [label, n] : frames) out << "frame\t" << label << "\t" << n << "\n";
}

RelayCaptureTruth WriteRelayCapture(const kernels::SiteRegistry& sites,
                                    const RelayCaptureOptions& options, PcapWriter* pcap,
                                    const DatagramCallback& on_datagram) {
  const TrafficModel model(sites, CaptureTraffic(options));
  const int64_t time_ms = CaptureTimeMs(options.time_ms);
  const auto minute = static_cast<uint32_t>(kernels::UnixMinute(time_ms));
  Capture capture(options, on_datagram);
  capture.AddMalformed();
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (const Request& request : model.Chunk(k)) capture.AddRequest(request, time_ms, minute);
    capture.Flush(pcap);
  }
  return capture.Finish();
}

namespace {

constexpr size_t kMirrorMss = 1400;

// One request of a mirrored flow, and what the mirror must make of it.
struct FlowRequest {
  enum class Kind : uint8_t { kBeacon, kOther, kMalformed };
  Kind kind = Kind::kBeacon;
  std::string wire;
  const Request* request = nullptr;  // kBeacon
};

class MirrorCapture {
 public:
  MirrorCapture(const MirrorCaptureOptions& options, int64_t time_ms)
      : options_(options),
        time_ms_(time_ms),
        minute_(static_cast<uint32_t>(kernels::UnixMinute(time_ms))),
        rng_(options.seed * 104729 + 7) {}

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint32_t Below(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  FlowRequest Beacon(const Request& request) {
    Request plain = request;
    for (Hit& hit : plain.hits) hit.queue_time_ms = -1;  // no qt: the receive minute decides
    std::vector<uint32_t> minutes;
    return {FlowRequest::Kind::kBeacon,
            RequestWire(plain, "collector.example", time_ms_, 0, &minutes), &request};
  }
  static FlowRequest Other() {
    return {FlowRequest::Kind::kOther,
            "GET /favicon.ico HTTP/1.1\r\nHost: collector.example\r\nUser-Agent: x\r\n\r\n",
            nullptr};
  }
  static FlowRequest Malformed() {
    return {FlowRequest::Kind::kMalformed,
            "GET /collect?v=1 HTTP/1.1\nHost: collector.example\r\n\r\n", nullptr};
  }

  // Builds one flow's frames (queued for interleaving) and records its truth.
  void AddFlow(const std::vector<FlowRequest>& requests, bool may_lose) {
    TcpSegmentSpec base;
    base.ipv6 = Chance(options_.ipv6_share);
    if (base.ipv6) {
      base.source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
      base.source[14] = static_cast<uint8_t>(Below(256));
      base.source[15] = static_cast<uint8_t>(1 + Below(254));
      base.destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    } else {
      base.source = {198, 18, static_cast<uint8_t>(Below(256)),
                     static_cast<uint8_t>(1 + Below(254))};
      base.destination = {198, 19, 0, 1};
    }
    // Unique per flow, so no two flows of the capture share a 4-tuple.
    base.source_port = static_cast<uint16_t>(1024 + (next_port_++ % 64000));
    base.destination_port = options_.server_port;
    const bool has_malformed = std::any_of(requests.begin(), requests.end(), [](const auto& r) {
      return r.kind == FlowRequest::Kind::kMalformed;
    });
    const bool pipelined = !has_malformed && Chance(options_.pipelined_share);
    const bool lossy = may_lose && !pipelined && !has_malformed && requests.size() >= 2 &&
                       Chance(options_.loss_share);
    const bool syn = lossy || !Chance(options_.no_syn_share);
    const bool rst = !lossy && Chance(options_.rst_share);
    const uint32_t isn =
        Chance(options_.wrap_share) ? 0xffffffffu - Below(4000) : static_cast<uint32_t>(rng_());

    // The byte stream and its segments (offset, length); request starts where each begins.
    std::string stream;
    std::vector<size_t> request_start;
    std::vector<std::pair<size_t, size_t>> segments;
    for (const FlowRequest& r : requests) {
      request_start.push_back(stream.size());
      if (!pipelined) {
        for (size_t at = 0; at < r.wire.size(); at += kMirrorMss) {
          segments.emplace_back(stream.size() + at, std::min(kMirrorMss, r.wire.size() - at));
        }
      }
      stream += r.wire;
    }
    if (pipelined) {
      for (size_t at = 0; at < stream.size();) {
        const size_t n = std::min<size_t>(stream.size() - at, 100 + Below(kMirrorMss - 100));
        segments.emplace_back(at, n);
        at += n;
      }
    }
    // Loss: one data segment never reaches the mirror; the request it belongs to is lost.
    size_t lost = segments.size();
    if (lossy) {
      lost = Below(static_cast<uint32_t>(segments.size()));
      ++truth_.gaps;
    }
    for (size_t i = 0; i < requests.size(); ++i) {
      const size_t begin = request_start[i];
      const size_t end = i + 1 < requests.size() ? request_start[i + 1] : stream.size();
      const bool is_lost = lost < segments.size() && segments[lost].first < end &&
                           segments[lost].first + segments[lost].second > begin;
      const FlowRequest& r = requests[i];
      if (r.kind == FlowRequest::Kind::kOther) {
        ++truth_.not_beacon_path;
      } else if (r.kind == FlowRequest::Kind::kMalformed) {
        ++truth_.http_rejects["bare_lf"];
      } else if (is_lost) {
        ++truth_.lost_requests;
      } else {
        ++truth_.beacons;
        for (const Hit& hit : r.request->hits) truth_builder_.Record(hit, minute_);
      }
    }

    // Arrival order of the data segments: adjacent swaps, then retransmissions. A flow without
    // a handshake keeps its first segment first (the mirror picks the stream up there).
    std::vector<size_t> order(segments.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (!has_malformed) {
      for (size_t i = syn ? 0 : 1; i + 1 < order.size(); ++i) {
        if (Chance(options_.reorder_share)) {
          std::swap(order[i], order[i + 1]);
          ++i;
        }
      }
    }
    const auto data_frame = [&](size_t offset, size_t length) {
      TcpSegmentSpec seg = base;
      seg.seq = isn + 1 + static_cast<uint32_t>(offset);
      seg.payload = stream.substr(offset, length);
      return TcpFrame(seg);
    };
    std::vector<std::string> frames;
    if (syn) {
      TcpSegmentSpec seg = base;
      seg.seq = isn;
      seg.flags = 0x02;
      frames.push_back(TcpFrame(seg));
    }
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t i = order[k];
      if (i == lost) continue;
      frames.push_back(data_frame(segments[i].first, segments[i].second));
      if (lossy || !Chance(options_.retransmit_share)) continue;
      if (i + 1 < segments.size() && Chance(0.5)) {
        // Repacketised: the second half of this segment and the first half of the next.
        const size_t from = segments[i].first + segments[i].second / 2;
        const size_t to = segments[i + 1].first + (segments[i + 1].second + 1) / 2;
        frames.push_back(data_frame(from, to - from));
      } else {
        frames.push_back(data_frame(segments[i].first, segments[i].second));
      }
    }
    TcpSegmentSpec last = base;
    last.seq = isn + 1 + static_cast<uint32_t>(stream.size());
    last.flags = rst ? 0x04 : 0x11;
    frames.push_back(TcpFrame(last));
    ++truth_.flows;
    truth_.segments += frames.size();
    pending_.push_back(std::move(frames));
  }

  // Writes the queued flows, `concurrent_flows` at a time, their frames interleaved at random.
  void Finish(PcapWriter* pcap) {
    while (!pending_.empty() || !active_.empty()) {
      while (active_.size() < std::max<uint32_t>(1, options_.concurrent_flows) &&
             !pending_.empty()) {
        active_.push_back({std::move(pending_.front()), 0});
        pending_.erase(pending_.begin());
      }
      Step(pcap);
    }
  }

  MirrorCaptureTruth Truth() {
    truth_.hits = truth_builder_.Summary();
    return truth_;
  }

 private:
  struct Active {
    std::vector<std::string> frames;
    size_t next;
  };

  void Step(PcapWriter* pcap) {
    const size_t pick = Below(static_cast<uint32_t>(active_.size()));
    Active& a = active_[pick];
    pcap->Write(a.frames[a.next++]);
    if (a.next == a.frames.size()) active_.erase(active_.begin() + static_cast<ptrdiff_t>(pick));
  }

  const MirrorCaptureOptions& options_;
  int64_t time_ms_;
  uint32_t minute_;
  std::mt19937_64 rng_;
  uint32_t next_port_ = 0;
  std::vector<std::vector<std::string>> pending_;
  std::vector<Active> active_;
  GroundTruth truth_builder_;
  MirrorCaptureTruth truth_;
};

}  // namespace

void MirrorCaptureTruth::Write(std::ostream& out) const {
  out << "# beacon-gen mirror capture truth; format: bench/gen/README.md\n";
  out << "flows\t" << flows << "\n";
  out << "segments\t" << segments << "\n";
  out << "beacons\t" << beacons << "\n";
  out << "lost_requests\t" << lost_requests << "\n";
  out << "not_beacon_path\t" << not_beacon_path << "\n";
  out << "gaps\t" << gaps << "\n";
  for (const auto& [label, n] : http_rejects) out << "http_reject\t" << label << "\t" << n << "\n";
}

MirrorCaptureTruth WriteMirrorCapture(const kernels::SiteRegistry& sites,
                                      const MirrorCaptureOptions& options, PcapWriter* pcap) {
  const TrafficModel model(sites, CaptureTraffic(options));
  const int64_t time_ms = CaptureTimeMs(options.time_ms);
  MirrorCapture capture(options, time_ms);
  uint64_t others = options.other_requests;
  for (uint64_t n = 0; n < options.malformed_requests; ++n) {
    // The stream resumes after the rejected request: the next one still counts.
    capture.AddFlow({MirrorCapture::Malformed(), MirrorCapture::Other()}, false);
  }
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    const std::vector<Request> chunk = model.Chunk(k);
    size_t i = 0;
    while (i < chunk.size()) {
      const size_t n = std::min<size_t>(
          chunk.size() - i, 1 + capture.Below(std::max(1u, options.max_requests_per_flow)));
      std::vector<FlowRequest> flow;
      for (size_t j = 0; j < n; ++j) flow.push_back(capture.Beacon(chunk[i + j]));
      if (others > 0 && capture.Chance(0.1)) {
        flow.insert(flow.begin() + capture.Below(static_cast<uint32_t>(flow.size() + 1)),
                    MirrorCapture::Other());
        --others;
      }
      capture.AddFlow(flow, true);
      i += n;
    }
    // Requests reference this chunk: write its flows before it goes.
    capture.Finish(pcap);
  }
  for (; others > 0; --others) capture.AddFlow({MirrorCapture::Other()}, false);
  capture.Finish(pcap);
  return capture.Truth();
}

}  // namespace beacon::bench
