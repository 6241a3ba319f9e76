// The raw beacon batch: what every ingress (HTTP server, UDP relay, DPDK, passive mirror)
// hands to the decoders. Payloads are copied into one arena (or referenced where the ingress
// received them, AddInPlace), each followed by zeroed padding so that SIMD loads may read up
// to kPayloadPadding bytes past a payload's end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace beacon::kernels {

inline constexpr size_t kPayloadPadding = 64;
inline constexpr size_t kMaxBatchBeacons = 256;
inline constexpr size_t kBatchArenaBytes = 1 << 20;

// kControl marks the raw archive's control records (kernels/archive/format.h); never a beacon.
enum class IngressKind : uint8_t { kHttp, kUdpRelay, kMirror, kControl };

// Which collector endpoint a payload arrived on; decides the decoder.
enum class Endpoint : uint8_t {
  kGaCollect,       // GA Universal v1 /collect (GET query or POST body): one hit
  kGaBatch,         // GA Universal v1 /batch: one hit per line, <= 20
  kGa4Gtag,         // GA4 gtag /g/collect: shared parameters in `query`, one event per body line
  kGa4Mp,           // GA4 Measurement Protocol /mp/collect: JSON body, ids in `query`
  kPlausibleEvent,  // Plausible /api/event: JSON body
  kSnowplowGet,     // Snowplow GET /i: one event in the query string (the payload)
  kSnowplowPost,    // Snowplow POST /com.snowplowanalytics.snowplow/tp2: payload_data JSON
  kUdpHitBatch,     // UDP relay: GA-style hits, one per line, <= 20 (the /batch rules)
  kUdpSyslog,       // UDP relay: one syslog message carrying a beacon_relay log line
};

// IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d). Never leaves memory (privacy).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  static IpAddress FromV4(uint32_t host_order);
  bool is_v4() const;
};

class RawBatch {
 public:
  RawBatch();

  // Copies one beacon into the batch. `payload` is the body (or, for GET beacons, the query
  // string); `query` is the URL query of a beacon whose body is the payload, for formats that
  // split their parameters between the two (GA4 gtag, Measurement Protocol). Returns false,
  // copying nothing, when the batch holds kMaxBatchBeacons beacons or the arena has no room:
  // the caller processes and clears it. `country` is the visitor's country from the ingress's
  // CDN header (kernels/enrich CountryFromHeader), 0 when unknown.
  bool Add(Endpoint endpoint, IngressKind ingress, std::string_view payload,
           std::string_view user_agent, const IpAddress& source, int64_t receive_time_ms,
           std::string_view query = {}, uint16_t country = 0);
  // Adds a beacon read back from the raw archive, as Add: it has no address, its salted
  // address hash (kernels/visitor.h AddressHash; 0: no salt covered its day) stands for it.
  bool AddArchived(Endpoint endpoint, IngressKind ingress, std::string_view payload,
                   std::string_view user_agent, uint64_t address_hash, int64_t receive_time_ms,
                   std::string_view query = {}, uint16_t country = 0);

  // Adds one beacon without copying its payload (a DPDK mbuf's bytes): `payload` must be
  // followed by at least kPayloadPadding zero bytes and stay unchanged until Clear(). It has
  // no user agent, query or country. Returns false as Add does.
  bool AddInPlace(Endpoint endpoint, IngressKind ingress, std::string_view payload,
                  const IpAddress& source, int64_t receive_time_ms);

  size_t size() const { return endpoint_.size(); }
  bool empty() const { return endpoint_.empty(); }
  void Clear();

  Endpoint endpoint(size_t i) const { return endpoint_[i]; }
  IngressKind ingress(size_t i) const { return ingress_[i]; }
  // The payload; at least kPayloadPadding zero bytes follow data() + size().
  std::string_view payload(size_t i) const {
    return in_place_[i] != nullptr ? std::string_view(in_place_[i], payload_[i].size)
                                   : View(payload_[i]);
  }
  std::string_view user_agent(size_t i) const { return View(user_agent_[i]); }
  // The URL query given with a body payload; empty when none (padded like payloads).
  std::string_view query(size_t i) const { return View(query_[i]); }
  const IpAddress& source(size_t i) const { return source_[i]; }
  // Whether beacon `i` came from the archive (AddArchived), and then its address hash.
  bool archived(size_t i) const { return archived_[i] != 0; }
  uint64_t address_hash(size_t i) const { return address_hash_[i]; }
  int64_t receive_time_ms(size_t i) const { return receive_time_ms_[i]; }
  uint16_t country(size_t i) const { return country_[i]; }
  size_t payload_bytes() const { return payload_bytes_; }

 private:
  struct Span {
    uint32_t offset;
    uint32_t size;
  };
  // `in_place`: the payload is referenced (AddInPlace), not copied.
  bool Push(Endpoint endpoint, IngressKind ingress, std::string_view payload,
            std::string_view user_agent, int64_t receive_time_ms, std::string_view query,
            uint16_t country, bool in_place = false);
  // Copies `bytes` and their padding into the arena. An empty field takes no arena bytes: it
  // points at the arena's first kPayloadPadding bytes, which stay zero.
  Span Append(std::string_view bytes);
  // The arena bytes Append takes for `bytes`.
  static size_t ArenaBytes(std::string_view bytes) {
    return bytes.empty() ? 0 : bytes.size() + kPayloadPadding;
  }
  std::string_view View(Span s) const { return {arena_.data() + s.offset, s.size}; }

  std::vector<char> arena_;
  size_t arena_used_;  // from kPayloadPadding: the zero bytes of every empty field come first
  size_t payload_bytes_ = 0;
  std::vector<Endpoint> endpoint_;
  std::vector<IngressKind> ingress_;
  std::vector<Span> payload_;
  std::vector<const char*> in_place_;  // the payload where it lies; null: in the arena
  std::vector<Span> user_agent_;
  std::vector<Span> query_;
  std::vector<IpAddress> source_;
  std::vector<uint8_t> archived_;
  std::vector<uint64_t> address_hash_;
  std::vector<int64_t> receive_time_ms_;
  std::vector<uint16_t> country_;
};

}  // namespace beacon::kernels
