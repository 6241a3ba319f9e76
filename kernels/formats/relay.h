// The UDP relay payloads: a GA-style hit batch (the /batch rules), and one syslog message
// (RFC 3164 or RFC 5424 framing) whose text is a beacon_relay log line written by a
// TLS-terminating proxy (appliance/examples/nginx-beacon-relay.conf, haproxy-beacon-relay.cfg).
// Formats and checks: kernels/formats/README.md, "UDP relay".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/formats/common.h"
#include "kernels/reject_reason.h"

namespace beacon::kernels {

inline constexpr size_t kRelayMaxDatagramBytes = 65535;
inline constexpr std::string_view kRelayLineVersion = "beacon1";
inline constexpr size_t kRelayLineFields = 9;
inline constexpr int64_t kRelayMaxAgeMs = 4LL * 3600 * 1000;  // line time vs. receive time
inline constexpr int64_t kRelayMaxAheadMs = 60'000;

// The time whose UTC day picks the visitor salt of a relayed request: the line's time, or the
// datagram's receive time when the line is stamped ahead of it (a proxy clock up to
// kRelayMaxAheadMs ahead): a line stamped just after UTC midnight that arrives just before it
// has no salt of its own day yet. The decoder and the raw archive's address hash both use it.
inline int64_t RelaySaltTimeMs(int64_t line_time_ms, int64_t receive_time_ms) {
  return line_time_ms < receive_time_ms ? line_time_ms : receive_time_ms;
}

// One relay log line, unescaped.
struct RelayLine {
  int64_t time_ms = 0;  // the proxy's receive time ($msec)
  IpAddress client;
  std::string_view method;
  std::string_view uri;  // path and query as the browser sent them
  std::string_view user_agent;
  std::string_view referer;
  std::string_view country;  // the CDN's country header; empty when none
  std::string_view body;     // followed by kPayloadPadding zero bytes in the scratch buffer
};

// The message of an RFC 5424 (`<PRI>1 TS HOST APP PROCID MSGID SD MSG`) or RFC 3164
// (`<PRI>TIMESTAMP [HOST] TAG: MSG`) datagram, one trailing '\n' dropped; false when the
// framing is neither. Scans with `bytes`.
bool SyslogMessage(std::string_view datagram, std::string_view* message,
                   const ByteKernels& bytes = ReferenceByteKernels());

// Parses a relay log line into `line`: a field without escapes points into `message`, the body
// and escaped fields are unescaped into `scratch`, which must hold message.size() +
// kPayloadPadding bytes. Returns the reject reason of a bad line. Scans with
// `bytes`. `archived`: a line read back from the raw archive, whose client IP field must be
// empty (the archive keeps the address hash instead); `line->client` is then left as it is.
std::optional<RejectReason> ParseRelayLine(std::string_view message, char* scratch, RelayLine* line,
                                           const ByteKernels& bytes = ReferenceByteKernels(),
                                           bool archived = false);

// The checks of ParseRelayLine after its split and unescaping: `values[1..8]` are the unescaped
// fields after the version (values[0] is not read), the body followed by kPayloadPadding zero
// bytes. For decoders whose split and unescaping ran elsewhere (the FPGA path).
std::optional<RejectReason> RelayLineFromFields(
    const std::array<std::string_view, kRelayLineFields>& values, RelayLine* line,
    bool archived = false);

// The request a relay line carries, decoded as the HTTP server would take it: the line's time
// against the datagram's receive time, the route, then the endpoint's decoder. Returns the
// reject reason when the line itself is refused (the decoder counts its own).
std::optional<RejectReason> DecodeRelayedRequest(const RelayLine& line, const Beacon& datagram,
                                                 const DecodeContext& ctx, EventBatch* events);

// Decodes a kUdpHitBatch datagram: the GA v1 /batch rules. Never throws.
void DecodeUdpHitBatch(const Beacon& datagram, const DecodeContext& ctx, EventBatch* events);

// Decodes a kUdpSyslog datagram: the relayed request goes to the decoder of its endpoint with
// the line's client IP (an archived datagram's address hash), user agent and time. A frame or
// line failure counts one reject.
// Never throws.
void DecodeUdpSyslog(const Beacon& datagram, const DecodeContext& ctx, EventBatch* events);

}  // namespace beacon::kernels
