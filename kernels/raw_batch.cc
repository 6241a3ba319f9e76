// RawBatch: copy-in of beacons with per-payload SIMD padding.
#include "kernels/raw_batch.h"

#include <cstring>

namespace beacon::kernels {

IpAddress IpAddress::FromV4(uint32_t host_order) {
  IpAddress ip;
  ip.bytes[10] = 0xff;
  ip.bytes[11] = 0xff;
  ip.bytes[12] = static_cast<uint8_t>(host_order >> 24);
  ip.bytes[13] = static_cast<uint8_t>(host_order >> 16);
  ip.bytes[14] = static_cast<uint8_t>(host_order >> 8);
  ip.bytes[15] = static_cast<uint8_t>(host_order);
  return ip;
}

bool IpAddress::is_v4() const {
  static constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kMapped.data(), kMapped.size()) == 0;
}

RawBatch::RawBatch() : arena_(kBatchArenaBytes), arena_used_(kPayloadPadding) {
  endpoint_.reserve(kMaxBatchBeacons);
  ingress_.reserve(kMaxBatchBeacons);
  payload_.reserve(kMaxBatchBeacons);
  in_place_.reserve(kMaxBatchBeacons);
  user_agent_.reserve(kMaxBatchBeacons);
  query_.reserve(kMaxBatchBeacons);
  source_.reserve(kMaxBatchBeacons);
  archived_.reserve(kMaxBatchBeacons);
  address_hash_.reserve(kMaxBatchBeacons);
  receive_time_ms_.reserve(kMaxBatchBeacons);
  country_.reserve(kMaxBatchBeacons);
}

bool RawBatch::Add(Endpoint endpoint, IngressKind ingress, std::string_view payload,
                   std::string_view user_agent, const IpAddress& source, int64_t receive_time_ms,
                   std::string_view query, uint16_t country) {
  if (!Push(endpoint, ingress, payload, user_agent, receive_time_ms, query, country)) return false;
  source_.push_back(source);
  archived_.push_back(0);
  address_hash_.push_back(0);
  return true;
}

bool RawBatch::AddArchived(Endpoint endpoint, IngressKind ingress, std::string_view payload,
                           std::string_view user_agent, uint64_t address_hash,
                           int64_t receive_time_ms, std::string_view query, uint16_t country) {
  if (!Push(endpoint, ingress, payload, user_agent, receive_time_ms, query, country)) return false;
  source_.push_back({});
  archived_.push_back(1);
  address_hash_.push_back(address_hash);
  return true;
}

bool RawBatch::AddInPlace(Endpoint endpoint, IngressKind ingress, std::string_view payload,
                          const IpAddress& source, int64_t receive_time_ms) {
  if (!Push(endpoint, ingress, payload, {}, receive_time_ms, {}, 0, true)) return false;
  source_.push_back(source);
  archived_.push_back(0);
  address_hash_.push_back(0);
  return true;
}

bool RawBatch::Push(Endpoint endpoint, IngressKind ingress, std::string_view payload,
                    std::string_view user_agent, int64_t receive_time_ms, std::string_view query,
                    uint16_t country, bool in_place) {
  const size_t need =
      (in_place ? 0 : ArenaBytes(payload)) + ArenaBytes(user_agent) + ArenaBytes(query);
  if (size() >= kMaxBatchBeacons || arena_used_ + need > arena_.size()) return false;
  endpoint_.push_back(endpoint);
  ingress_.push_back(ingress);
  if (in_place) {
    payload_.push_back({0, static_cast<uint32_t>(payload.size())});
    in_place_.push_back(payload.data());
  } else {
    payload_.push_back(Append(payload));
    in_place_.push_back(nullptr);
  }
  user_agent_.push_back(Append(user_agent));
  query_.push_back(Append(query));
  receive_time_ms_.push_back(receive_time_ms);
  country_.push_back(country);
  payload_bytes_ += payload.size();
  return true;
}

RawBatch::Span RawBatch::Append(std::string_view bytes) {
  if (bytes.empty()) return {0, 0};  // the arena's first kPayloadPadding bytes, always zero
  Span span{static_cast<uint32_t>(arena_used_), static_cast<uint32_t>(bytes.size())};
  std::memcpy(arena_.data() + arena_used_, bytes.data(), bytes.size());
  std::memset(arena_.data() + arena_used_ + bytes.size(), 0, kPayloadPadding);
  arena_used_ += bytes.size() + kPayloadPadding;
  return span;
}

void RawBatch::Clear() {
  arena_used_ = kPayloadPadding;
  payload_bytes_ = 0;
  endpoint_.clear();
  ingress_.clear();
  payload_.clear();
  in_place_.clear();
  user_agent_.clear();
  query_.clear();
  source_.clear();
  archived_.clear();
  address_hash_.clear();
  receive_time_ms_.clear();
  country_.clear();
}

}  // namespace beacon::kernels
