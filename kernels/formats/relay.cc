// UDP relay decoding: syslog framing, the beacon_relay log line (scanned and unescaped through
// the decode's byte kernels), then the decoder of the relayed request's endpoint.
#include "kernels/formats/relay.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>

#include "kernels/enrich/attribution.h"
#include "kernels/formats/dispatch.h"
#include "kernels/formats/ga_v1.h"
#include "kernels/http/routes.h"

namespace beacon::kernels {
namespace {

// "<PRI>" with PRI in 0..191; returns the rest, or false.
bool SkipPriority(std::string_view* datagram) {
  if (!datagram->starts_with('<')) return false;
  int value = 0;
  size_t i = 1;
  for (; i < datagram->size() && i <= 4 && (*datagram)[i] >= '0' && (*datagram)[i] <= '9'; ++i) {
    value = value * 10 + ((*datagram)[i] - '0');
  }
  if (i == 1 || i > 4 || i >= datagram->size() || (*datagram)[i] != '>' || value > 191) {
    return false;
  }
  datagram->remove_prefix(i + 1);
  return true;
}

constexpr AsciiSet kSdEnd("\\]");  // a structured-data escape or element end

// RFC 5424 after "<PRI>1 ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG].
bool Rfc5424Message(std::string_view rest, std::string_view* message, const ByteKernels& bytes) {
  for (int header_field = 0; header_field < 5; ++header_field) {
    bool last = false;
    const std::string_view field = NextField(&rest, ' ', &last, bytes);
    if (field.empty() || last) return false;
  }
  if (rest.starts_with('-')) {
    rest.remove_prefix(1);
  } else {
    // One or more "[...]" elements; inside, '\' escapes the next byte (RFC 5424 §6.3.3).
    if (!rest.starts_with('[')) return false;
    while (rest.starts_with('[')) {
      size_t i = 1;
      for (;;) {
        if (i >= rest.size()) return false;
        const size_t at = i + bytes.find_any_of(rest.data() + i, rest.size() - i, kSdEnd);
        if (at == rest.size()) return false;
        if (rest[at] == ']') {
          i = at + 1;
          break;
        }
        i = at + 2;
      }
      if (i > rest.size()) return false;
      rest.remove_prefix(i);
    }
  }
  if (rest.empty()) {
    *message = rest;
    return true;
  }
  if (!rest.starts_with(' ')) return false;
  rest.remove_prefix(1);
  if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);  // the UTF-8 BOM
  *message = rest;
  return true;
}

// "1700000000.123" (seconds, '.', exactly three digits) in ms.
bool ParseMsec(std::string_view text, int64_t* ms) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 12 || text.size() - dot != 4) {
    return false;
  }
  int64_t value = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == dot) continue;
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  *ms = value;
  return true;
}

// Dotted-quad IPv4 by inet_pton's rules (four decimal octets <= 255, no leading zeros; the text
// ends at a NUL as inet_pton's C string would), without a copy to a C string.
bool ParseIpv4(std::string_view text, uint32_t* host_order) {
  uint32_t value = 0;
  uint32_t octet = 0;
  int octets = 0;
  bool in_octet = false;
  for (const char c : text) {
    if (c == '\0') break;
    if (c >= '0' && c <= '9') {
      if (in_octet && octet == 0) return false;
      octet = octet * 10 + static_cast<uint32_t>(c - '0');
      if (octet > 255) return false;
      if (!in_octet) {
        if (++octets > 4) return false;
        in_octet = true;
      }
    } else if (c == '.' && in_octet && octets < 4) {
      value = value << 8 | octet;
      octet = 0;
      in_octet = false;
    } else {
      return false;
    }
  }
  if (octets < 4 || !in_octet) return false;
  *host_order = value << 8 | octet;
  return true;
}

bool ParseAddress(std::string_view text, IpAddress* ip) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.size() >= sizeof(buffer)) return false;
  uint32_t v4 = 0;
  if (ParseIpv4(text, &v4)) {
    *ip = IpAddress::FromV4(v4);
    return true;
  }
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return inet_pton(AF_INET6, buffer, ip->bytes.data()) == 1;
}

std::optional<RejectReason> DecodeSyslog(const Beacon& datagram, const DecodeContext& ctx,
                                         EventBatch* events) {
  if (datagram.payload.size() > kRelayMaxDatagramBytes) return RejectReason::kBadSyslogFrame;
  std::string_view message;
  const ByteKernels& bytes = BytesOf(ctx);
  if (!SyslogMessage(datagram.payload, &message, bytes)) return RejectReason::kBadSyslogFrame;
  // Unescaped fields never outgrow the message; the body, last, gets the padding after it.
  thread_local std::array<char, kRelayMaxDatagramBytes + kPayloadPadding> scratch;
  RelayLine line;
  if (const auto reason =
          ParseRelayLine(message, scratch.data(), &line, bytes, datagram.archived)) {
    return reason;
  }
  return DecodeRelayedRequest(line, datagram, ctx, events);
}

}  // namespace

bool SyslogMessage(std::string_view datagram, std::string_view* message, const ByteKernels& bytes) {
  if (!SkipPriority(&datagram)) return false;
  if (datagram.ends_with('\n')) datagram.remove_suffix(1);
  if (datagram.starts_with("1 ")) return Rfc5424Message(datagram.substr(2), message, bytes);
  // RFC 3164: "Mmm dd hh:mm:ss [HOSTNAME ]TAG: MSG". Neither the timestamp nor a hostname
  // holds ": ", so the message starts after the first one (the tag's colon).
  const size_t start = FindEnd(datagram, ": ", bytes);
  if (start == std::string_view::npos) return false;
  *message = datagram.substr(start);
  return true;
}

std::optional<RejectReason> ParseRelayLine(std::string_view message, char* scratch, RelayLine* line,
                                           const ByteKernels& bytes, bool archived) {
  // One scan for both TABs (field ends) and backslashes (fields that need unescaping; after the
  // first, only the field's end is looked for); a field without a backslash is its own
  // unescaped value and stays in place, except the body, which is copied to get its padding.
  static constexpr AsciiSet kTabOrBackslash("\t\\");
  std::array<std::string_view, kRelayLineFields> fields;
  std::array<bool, kRelayLineFields> escaped{};
  size_t count = 0;
  size_t start = 0;
  for (size_t i = 0;; ++i) {
    i += bytes.find_any_of(message.data() + i, message.size() - i, kTabOrBackslash);
    if (i < message.size() && message[i] == '\\') {
      if (count < kRelayLineFields) escaped[count] = true;
      ++i;
      i += bytes.find_byte(message.data() + i, message.size() - i, '\t');
    }
    if (count == kRelayLineFields) return RejectReason::kBadLogFormat;
    fields[count++] = message.substr(start, i - start);
    if (i == message.size()) break;
    start = i + 1;
  }
  if (count != kRelayLineFields || fields[0] != kRelayLineVersion) {
    return RejectReason::kBadLogFormat;
  }
  std::array<std::string_view, kRelayLineFields> values;
  size_t used = 0;
  for (size_t i = 1; i < kRelayLineFields; ++i) {
    size_t size = fields[i].size();
    if (escaped[i]) {
      if (!UnescapeLogField(fields[i], scratch + used, &size, bytes)) {
        return RejectReason::kBadLogFormat;
      }
    } else if (i + 1 < kRelayLineFields) {
      values[i] = fields[i];
      continue;
    } else {
      std::memcpy(scratch + used, fields[i].data(), size);
    }
    values[i] = {scratch + used, size};
    used += size;
  }
  std::memset(scratch + used, 0, kPayloadPadding);
  return RelayLineFromFields(values, line, archived);
}

std::optional<RejectReason> RelayLineFromFields(
    const std::array<std::string_view, kRelayLineFields>& values, RelayLine* line, bool archived) {
  const bool client = archived ? values[2].empty() : ParseAddress(values[2], &line->client);
  if (!ParseMsec(values[1], &line->time_ms) || !client || values[3].empty() ||
      !values[4].starts_with('/')) {
    return RejectReason::kBadLogFormat;
  }
  // HAProxy logs an absent value as "-"; no beacon has "-" for a user agent, referer, country
  // or body.
  const auto absent_dash = [](std::string_view v) { return v == "-" ? std::string_view() : v; };
  line->method = values[3];
  line->uri = values[4];
  line->user_agent = absent_dash(values[5]);
  line->referer = absent_dash(values[6]);
  line->country = absent_dash(values[7]);
  line->body = absent_dash(values[8]);
  return std::nullopt;
}

void DecodeUdpHitBatch(const Beacon& datagram, const DecodeContext& ctx, EventBatch* events) {
  DecodeGaBatch(datagram, ctx, events);
}

void DecodeUdpSyslog(const Beacon& datagram, const DecodeContext& ctx, EventBatch* events) {
  if (const auto reason = DecodeSyslog(datagram, ctx, events)) ctx.rejects->Add(*reason);
}

std::optional<RejectReason> DecodeRelayedRequest(const RelayLine& line, const Beacon& datagram,
                                                 const DecodeContext& ctx, EventBatch* events) {
  const ByteKernels& bytes = BytesOf(ctx);
  if (line.time_ms < datagram.receive_time_ms - kRelayMaxAgeMs ||
      line.time_ms > datagram.receive_time_ms + kRelayMaxAheadMs) {
    return RejectReason::kBadTimestamp;
  }
  bool no_query = false;
  std::string_view query = line.uri;
  const std::string_view path = NextField(&query, '?', &no_query, bytes);
  // The HTTP server's routes (kernels/http/routes.h): a relayed request is a beacon exactly
  // when the server would take it as one.
  const BeaconRoute* route = FindBeaconRoute(path);
  const bool get = line.method == "GET";
  const bool post = line.method == "POST";
  if (route == nullptr || !((get && route->get) || (post && route->post))) {
    return RejectReason::kUnknownEndpoint;
  }
  const bool payload_is_query = get && route->get_payload_is_query;
  const Beacon beacon{.payload = payload_is_query ? query : line.body,
                      .query = payload_is_query ? std::string_view() : query,
                      .user_agent = line.user_agent,
                      .address = line.client,
                      .archived = datagram.archived,
                      .address_hash = datagram.address_hash,
                      .receive_time_ms = line.time_ms,
                      .salt_time_ms = RelaySaltTimeMs(line.time_ms, datagram.receive_time_ms),
                      .source = datagram.source,
                      .country = CountryFromHeader(line.country)};
  DecodeBeacon(route->endpoint, beacon, ctx, events);
  return std::nullopt;
}

}  // namespace beacon::kernels
