// Site registry: parsing the registry file and lookups.
#include "kernels/site_registry.h"

#include <charconv>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "kernels/bytes/hash.h"
#include "kernels/read_file.h"

namespace beacon::kernels {
namespace {

[[noreturn]] void Fail(std::string_view source, size_t line, std::string_view what) {
  std::ostringstream msg;
  msg << source << ":" << line << ": " << what;
  throw std::runtime_error(msg.str());
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    items.emplace_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsHostChar(char c) { return IsNameChar(c) && c != '_'; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// `host` equals `lower` (lower case) ignoring ASCII case; hosts mostly come in lower case, so
// an exact compare settles most calls.
bool EqualsLowerIgnoreCase(std::string_view host, std::string_view lower) {
  if (host.size() != lower.size()) return false;
  if (std::memcmp(host.data(), lower.data(), host.size()) == 0) return true;
  for (size_t i = 0; i < host.size(); ++i) {
    if (Lower(host[i]) != lower[i]) return false;
  }
  return true;
}

// The allowlist column: "*" (any host, no entries) or host names and "*." + host names, kept in
// lower case.
std::vector<std::string> ParseHostnames(std::string_view column, std::string_view source,
                                        size_t line_no) {
  std::vector<std::string> hostnames;
  if (column == "*") return hostnames;
  for (auto& host : SplitList(column)) {
    std::string_view body = host;
    if (body.substr(0, 2) == "*.") body.remove_prefix(2);
    bool ok = !body.empty();
    for (char c : body) ok = ok && IsHostChar(c);
    if (!ok) {
      Fail(source, line_no, "hostname '" + host + "' is not a host name, '*.' + host name, or '*'");
    }
    hostnames.push_back(LowerAscii(host));
  }
  return hostnames;
}

// A tracking id as two words that, with its size, determine it when it has at most
// kIdWordBytes bytes: its first and last 8 bytes (overlapping), or for shorter ids its first and
// last 4 bytes, or its first, middle and last byte. Reads only the id's own bytes.
constexpr size_t kIdWordBytes = 16;
struct IdWords {
  uint64_t head = 0;
  uint64_t tail = 0;

  explicit IdWords(std::string_view id) {
    const char* p = id.data();
    const size_t n = id.size();
    if (n >= 8) {
      std::memcpy(&head, p, 8);
      std::memcpy(&tail, p + n - 8, 8);
    } else if (n >= 4) {
      uint32_t first;
      uint32_t last;
      std::memcpy(&first, p, 4);
      std::memcpy(&last, p + n - 4, 4);
      head = uint64_t{first} | uint64_t{last} << 32;
    } else if (n > 0) {
      head = uint64_t{static_cast<unsigned char>(p[0])} |
             uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
             uint64_t{static_cast<unsigned char>(p[n - 1])} << 16;
    }
  }
  // The table's hash (never stored: any mix of the words and the size would do).
  uint64_t Hash(size_t size) const { return Mix64(head ^ Mix64(tail ^ (uint64_t{size} << 56))); }
};

}  // namespace

SiteRegistry SiteRegistry::Parse(std::string_view text, std::string_view source) {
  SiteRegistry registry;
  std::unordered_map<uint32_t, size_t> seen_ids;
  std::unordered_set<std::string> seen_tracking_ids;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto fields = SplitFields(line);
    if (fields.empty()) continue;
    if (fields.size() != 4 && fields.size() != 5) {
      Fail(source, line_no,
           "expected 4 or 5 columns '<site_id> <name> <tracking_ids> <hostnames> "
           "[api_secrets=...]', got " +
               std::to_string(fields.size()));
    }
    Site site;
    const auto id_field = fields[0];
    const auto [end, ec] =
        std::from_chars(id_field.data(), id_field.data() + id_field.size(), site.site_id);
    if (ec != std::errc() || end != id_field.data() + id_field.size() || site.site_id == 0) {
      Fail(source, line_no,
           "site_id '" + std::string(id_field) + "' is not an integer in 1..4294967295");
    }
    if (const auto it = seen_ids.find(site.site_id); it != seen_ids.end()) {
      Fail(source, line_no,
           "site_id " + std::string(id_field) + " already defined on line " +
               std::to_string(it->second));
    }
    seen_ids.emplace(site.site_id, line_no);
    for (char c : fields[1]) {
      if (!IsNameChar(c)) {
        Fail(source, line_no,
             "name '" + std::string(fields[1]) + "' may hold only letters, digits, '.', '_', '-'");
      }
    }
    site.name = fields[1];
    site.tracking_ids = SplitList(fields[2]);
    for (const auto& id : site.tracking_ids) {
      if (id.empty())
        Fail(source, line_no, "empty tracking id in '" + std::string(fields[2]) + "'");
      if (!seen_tracking_ids.insert(id).second) {
        Fail(source, line_no, "tracking id '" + id + "' already belongs to another site");
      }
    }
    site.hostnames = ParseHostnames(fields[3], source, line_no);
    if (fields.size() == 5) {
      constexpr std::string_view kKey = "api_secrets=";
      if (fields[4].substr(0, kKey.size()) != kKey) {
        Fail(source, line_no,
             "fifth column '" + std::string(fields[4]) + "': expected api_secrets=s1[,s2...]");
      }
      site.api_secrets = SplitList(fields[4].substr(kKey.size()));
      for (const auto& secret : site.api_secrets) {
        if (secret.empty()) Fail(source, line_no, "empty api secret");
      }
    }
    registry.sites_.push_back(std::move(site));
  }
  registry.IndexTrackingIds();
  return registry;
}

void SiteRegistry::IndexTrackingIds() {
  size_t count = 0;
  for (const Site& site : sites_) count += site.tracking_ids.size();
  size_t slots = 16;
  while (slots < 2 * count) slots *= 2;
  id_slots_.assign(slots, {});
  id_slot_mask_ = slots - 1;
  ids_.clear();
  for (uint32_t s = 0; s < sites_.size(); ++s) {
    for (const std::string& id : sites_[s].tracking_ids) {
      const IdWords words(id);
      size_t slot = words.Hash(id.size()) & id_slot_mask_;
      while (id_slots_[slot].size != 0) slot = (slot + 1) & id_slot_mask_;
      id_slots_[slot] = {words.head, words.tail, static_cast<uint32_t>(id.size()), s,
                         static_cast<uint32_t>(ids_.size())};
      ids_ += id;
    }
  }
}

SiteRegistry SiteRegistry::Load(const std::string& path) {
  std::string text;
  if (!ReadWholeFile(path, &text)) {
    throw std::runtime_error("cannot read site registry '" + path + "'");
  }
  return Parse(text, path);
}

const Site* SiteRegistry::FindByTrackingId(std::string_view tracking_id) const {
  if (id_slots_.empty() || tracking_id.empty()) return nullptr;
  const IdWords words(tracking_id);
  for (size_t slot = words.Hash(tracking_id.size()) & id_slot_mask_;;
       slot = (slot + 1) & id_slot_mask_) {
    const IdSlot& entry = id_slots_[slot];
    if (entry.size == 0) return nullptr;
    if (entry.head == words.head && entry.tail == words.tail && entry.size == tracking_id.size() &&
        (entry.size <= kIdWordBytes ||
         std::memcmp(ids_.data() + entry.offset, tracking_id.data(), entry.size) == 0)) {
      return &sites_[entry.site];
    }
  }
}

bool SiteRegistry::HostAllowed(const Site& site, std::string_view host) {
  if (site.hostnames.empty()) return true;
  // memrchr (glibc's is vectorised) instead of rfind's byte loop: every hit asks.
  if (const void* colon = host.empty() ? nullptr : memrchr(host.data(), ':', host.size());
      colon != nullptr && host.find(']') == std::string_view::npos) {
    host = host.substr(0, static_cast<const char*>(colon) - host.data());
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  for (const auto& allowed : site.hostnames) {
    if (allowed.size() > 2 && allowed[0] == '*' && allowed[1] == '.') {
      const std::string_view suffix = std::string_view(allowed).substr(1);  // ".example.com"
      if (host.size() > suffix.size() &&
          EqualsLowerIgnoreCase(host.substr(host.size() - suffix.size()), suffix)) {
        return true;
      }
    } else if (EqualsLowerIgnoreCase(host, allowed)) {
      return true;
    }
  }
  return false;
}

bool SiteRegistry::ApiSecretValid(const Site& site, std::string_view secret) {
  bool valid = false;
  for (const auto& allowed : site.api_secrets) {
    if (allowed.size() != secret.size()) continue;
    unsigned char diff = 0;
    for (size_t i = 0; i < secret.size(); ++i) {
      diff |= static_cast<unsigned char>(allowed[i] ^ secret[i]);
    }
    valid = valid || diff == 0;
  }
  return valid;
}

}  // namespace beacon::kernels
