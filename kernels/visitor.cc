// Visitor ids: keyed hashes; see visitor.h.
#include "kernels/visitor.h"

#include "kernels/bytes/hash.h"
#include "kernels/unix_time.h"

namespace beacon::kernels {

uint64_t VisitorFromClientId(std::string_view client_id, uint32_t site_id, uint64_t visitor_key) {
  return Hash64(client_id, visitor_key ^ Mix64(site_id));
}

bool AddressHash(const VisitorSalts& salts, int64_t receive_time_ms, const IpAddress& ip,
                 uint64_t* address_hash) {
  const int64_t day = UnixDay(receive_time_ms);
  uint64_t salt = 0;
  if (day == salts.day && salts.today != 0) {
    salt = salts.today;
  } else if (day == salts.day - 1 && salts.yesterday != 0) {
    salt = salts.yesterday;
  } else {
    return false;
  }
  const std::string_view ip_bytes(reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size());
  *address_hash = Hash64(ip_bytes, Mix64(salt));
  return true;
}

uint64_t VisitorFromAddressHash(uint64_t address_hash, std::string_view user_agent,
                                uint32_t site_id) {
  return Mix64(Hash64(user_agent, address_hash) ^ Mix64(site_id));
}

bool VisitorFromAddress(const VisitorSalts& salts, int64_t receive_time_ms, uint32_t site_id,
                        const IpAddress& ip, std::string_view user_agent, uint64_t* visitor) {
  uint64_t address_hash = 0;
  if (!AddressHash(salts, receive_time_ms, ip, &address_hash)) return false;
  *visitor = VisitorFromAddressHash(address_hash, user_agent, site_id);
  return true;
}

}  // namespace beacon::kernels
