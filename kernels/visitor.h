// Visitor ids. A tracker's client id is hashed with the deployment key and the site; without
// one, a keyed hash of (daily salt, site, IP, user agent) — the Plausible scheme — so the same
// person is one visitor within a day and not linkable across days. Neither the client id nor
// the connection's IP is in any aggregate; the raw archive keeps the payload as received, with
// its client id (docs/operations.md, "What the archive holds").
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/raw_batch.h"

namespace beacon::kernels {

// The salts of the current and the previous UTC day (unix day numbers). Set by the host once
// per batch from its salt store; a salt older than 48 h is never kept anywhere.
struct VisitorSalts {
  int64_t day = 0;  // unix day (UTC) of `today`
  uint64_t today = 0;
  uint64_t yesterday = 0;  // for beacons received just before midnight, decoded just after
};

// Visitor hash from a tracker's client id (GA cid/uid, GA4 client_id, Snowplow duid/uid).
uint64_t VisitorFromClientId(std::string_view client_id, uint32_t site_id, uint64_t visitor_key);

// The address hash: the IP keyed by the salt of the day of `receive_time_ms`, what the raw
// archive keeps instead of the IP. The user agent is not in it: a format may derive its visitor
// from another user agent than the request's (Snowplow's `ua`). False when no salt covers the day.
bool AddressHash(const VisitorSalts& salts, int64_t receive_time_ms, const IpAddress& ip,
                 uint64_t* address_hash);

// Visitor hash of a beacon without a client id, from its address hash and the user agent its
// format derives visitors from: the same from the live path and from a replay of the archive.
uint64_t VisitorFromAddressHash(uint64_t address_hash, std::string_view user_agent,
                                uint32_t site_id);

// VisitorFromAddressHash of AddressHash: false when no salt covers the day (the beacon is
// then rejected as stale).
bool VisitorFromAddress(const VisitorSalts& salts, int64_t receive_time_ms, uint32_t site_id,
                        const IpAddress& ip, std::string_view user_agent, uint64_t* visitor);

}  // namespace beacon::kernels
