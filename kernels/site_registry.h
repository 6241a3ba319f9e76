// The site registry: which tracking ids and domains belong to which site_id, and which page
// hostnames each site accepts. Loaded at start (and on SIGHUP); read-only afterwards, so
// workers share it without locks. File format: kernels/README.md, "Site registry file".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace beacon::kernels {

struct Site {
  uint32_t site_id = 0;
  std::string name;
  std::vector<std::string> tracking_ids;  // GA "UA-…"/"G-…", Snowplow app ids, ...
  std::vector<std::string> hostnames;     // allowlist, lower case; "*.example.com" matches
                                          // subdomains; empty: any host
  std::vector<std::string> api_secrets;   // GA4 Measurement Protocol api_secret values
};

class SiteRegistry {
 public:
  // Parses registry text. Throws std::runtime_error naming `source`, the line and what was
  // expected when a line is malformed, or a site id or tracking id is given twice.
  static SiteRegistry Parse(std::string_view text, std::string_view source = "<text>");
  // Reads and parses a registry file; throws std::runtime_error when it cannot.
  static SiteRegistry Load(const std::string& path);

  // The site owning a tracking id, or nullptr. Exact, case-sensitive match: one probe of a
  // flat open-addressing table in the common case.
  const Site* FindByTrackingId(std::string_view tracking_id) const;
  // Whether `site` accepts page host `host` (ASCII case-insensitive; a trailing dot and a
  // ":port" are ignored).
  static bool HostAllowed(const Site& site, std::string_view host);
  // Whether `secret` is one of the site's api_secrets (constant time in the secret's bytes).
  static bool ApiSecretValid(const Site& site, std::string_view secret);

  const std::vector<Site>& sites() const { return sites_; }
  size_t size() const { return sites_.size(); }

 private:
  // One tracking id of the table: its words (IdWords), its size, its site's index and, for
  // ids longer than the words cover, its bytes in ids_.
  struct IdSlot {
    uint64_t head = 0;
    uint64_t tail = 0;
    uint32_t size = 0;  // 0: an empty slot (tracking ids are never empty)
    uint32_t site = 0;
    uint32_t offset = 0;
  };
  // Builds id_slots_ from the sites' tracking ids (at most half full, linear probing).
  void IndexTrackingIds();

  std::vector<Site> sites_;
  std::string ids_;  // every tracking id, concatenated
  std::vector<IdSlot> id_slots_;
  uint64_t id_slot_mask_ = 0;
};

}  // namespace beacon::kernels
