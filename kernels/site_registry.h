// The site registry: which tracking ids and domains belong to which site_id, and which page
// hostnames each site accepts. Loaded at start (and on SIGHUP); read-only afterwards, so
// workers share it without locks. File format: kernels/README.md, "Site registry file".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace beacon::kernels {

struct Site {
  uint32_t site_id = 0;
  std::string name;
  std::vector<std::string> tracking_ids;  // GA "UA-…"/"G-…", Snowplow app ids, ...
  std::vector<std::string> hostnames;     // allowlist; "*.example.com" matches subdomains;
                                          // empty: any host
  std::vector<std::string> api_secrets;   // GA4 Measurement Protocol api_secret values
};

class SiteRegistry {
 public:
  // Parses registry text. Throws std::runtime_error naming `source`, the line and what was
  // expected when a line is malformed, or a site id or tracking id is given twice.
  static SiteRegistry Parse(std::string_view text, std::string_view source = "<text>");
  // Reads and parses a registry file; throws std::runtime_error when it cannot.
  static SiteRegistry Load(const std::string& path);

  // The site owning a tracking id, or nullptr. Exact, case-sensitive match.
  const Site* FindByTrackingId(std::string_view tracking_id) const;
  // Whether `site` accepts page host `host` (ASCII case-insensitive; a trailing dot and a
  // ":port" are ignored).
  static bool HostAllowed(const Site& site, std::string_view host);
  // Whether `secret` is one of the site's api_secrets (constant time in the secret's bytes).
  static bool ApiSecretValid(const Site& site, std::string_view secret);

  const std::vector<Site>& sites() const { return sites_; }
  size_t size() const { return sites_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Site> sites_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> by_tracking_id_;
};

}  // namespace beacon::kernels
