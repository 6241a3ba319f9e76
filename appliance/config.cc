// Configuration parsing with toml++: every key is known, typed and range-checked.
#include "appliance/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/bytes/hash.h"
#include "kernels/read_file.h"

namespace beacon::app {
namespace {

[[noreturn]] void Fail(const std::string& source, std::string_view key, std::string_view what) {
  throw std::runtime_error(source + ": " + std::string(key) + ": " + std::string(what));
}

// Reads typed keys of one section and rejects keys it was not asked about.
class Section {
 public:
  Section(const toml::table& root, std::string name, const std::string& source)
      : name_(std::move(name)), source_(source) {
    const toml::node* node = root.get(name_);
    if (node == nullptr) return;
    table_ = node->as_table();
    if (table_ == nullptr) Fail(source_, name_, "expected a table [" + name_ + "]");
  }

  template <typename T>
  void Int(std::string_view key, T* out, int64_t min, int64_t max) {
    const toml::node* node = Find(key);
    if (node == nullptr) return;
    const auto v = node->value<int64_t>();
    if (!v || *v < min || *v > max) {
      Fail(source_, Path(key),
           "expected an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = static_cast<T>(*v);
  }

  // True when the key is present.
  bool String(std::string_view key, std::string* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return false;
    const auto v = node->value<std::string>();
    if (!v) Fail(source_, Path(key), "expected a string");
    *out = *v;
    return true;
  }

  void Bool(std::string_view key, bool* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return;
    // as_boolean, not value<bool>: toml++ would convert an integer.
    const toml::value<bool>* v = node->as_boolean();
    if (v == nullptr) Fail(source_, Path(key), "expected true or false");
    *out = v->get();
  }

  // An array of non-empty strings, e.g. ["a", "b"]. True when the key is present.
  bool Strings(std::string_view key, std::vector<std::string>* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return false;
    const toml::array* array = node->as_array();
    if (array == nullptr) Fail(source_, Path(key), "expected an array of strings");
    out->clear();
    for (const toml::node& item : *array) {
      const auto v = item.value<std::string>();
      if (!v || v->empty()) Fail(source_, Path(key), "expected an array of non-empty strings");
      out->push_back(*v);
    }
    return true;
  }

  // An array of integers in min..max, e.g. [80, 8080]. True when the key is present.
  bool Ints(std::string_view key, std::vector<int64_t>* out, int64_t min, int64_t max) {
    const toml::node* node = Find(key);
    if (node == nullptr) return false;
    const toml::array* array = node->as_array();
    const std::string expected =
        "expected an array of integers in " + std::to_string(min) + ".." + std::to_string(max);
    if (array == nullptr) Fail(source_, Path(key), expected);
    out->clear();
    for (const toml::node& item : *array) {
      const auto v = item.value<int64_t>();
      if (!v || *v < min || *v > max) Fail(source_, Path(key), expected);
      out->push_back(*v);
    }
    return true;
  }

  bool present() const { return table_ != nullptr; }

  // A sub-table, e.g. [section.key]; null when absent.
  const toml::table* Table(std::string_view key) {
    const toml::node* node = Find(key);
    if (node == nullptr) return nullptr;
    if (node->as_table() == nullptr) Fail(source_, Path(key), "expected a table");
    return node->as_table();
  }

  // An array of non-empty arrays of non-empty strings, e.g. [["a", "b"], ["c"]].
  bool StringLists(std::string_view key, std::vector<std::vector<std::string>>* out) {
    const toml::node* node = Find(key);
    if (node == nullptr) return false;
    const toml::array* outer = node->as_array();
    const std::string expected = "expected an array of arrays of strings, e.g. [[\"a\", \"b\"]]";
    if (outer == nullptr || outer->empty()) Fail(source_, Path(key), expected);
    out->clear();
    for (const toml::node& element : *outer) {
      const toml::array* inner = element.as_array();
      if (inner == nullptr || inner->empty()) Fail(source_, Path(key), expected);
      std::vector<std::string> strings;
      for (const toml::node& item : *inner) {
        const auto v = item.value<std::string>();
        if (!v || v->empty()) Fail(source_, Path(key), expected);
        strings.push_back(*v);
      }
      out->push_back(std::move(strings));
    }
    return true;
  }

  void CheckNoOtherKeys() const {
    if (table_ == nullptr) return;
    for (const auto& [key, value] : *table_) {
      if (known_.count(std::string(key.str())) == 0) {
        Fail(source_, Path(key.str()), "unknown key (see appliance/examples/beacond.toml)");
      }
    }
  }

  std::string Path(std::string_view key) const { return name_ + "." + std::string(key); }

 private:
  const toml::node* Find(std::string_view key) {
    known_.insert(std::string(key));
    return table_ == nullptr ? nullptr : table_->get(key);
  }

  std::string name_;
  const std::string& source_;
  const toml::table* table_ = nullptr;
  std::set<std::string> known_;
};

void ApplyListen(Section& section, std::string_view key, host::HttpServerConfig* server) {
  std::string value;
  section.String(key, &value);
  if (value.empty()) return;
  const Listen listen = ParseListen(value, section.Path(key));
  server->address = listen.address;
  server->port = listen.port;
}

// The beacon UDP ports of [udp] and [dpdk] `section`: hit_batch_port and syslog_port, 0 for
// none. One port for both is refused: [udp]'s two SO_REUSEPORT sockets would split its datagrams
// between the decoders by sender, [dpdk] would give them all to one, so beacons of the other
// format would be rejected.
std::vector<kernels::BeaconPort> BeaconPorts(uint16_t hit_batch_port, uint16_t syslog_port,
                                             const std::string& source,
                                             const std::string& section) {
  if (hit_batch_port != 0 && hit_batch_port == syslog_port) {
    Fail(source, section + ".syslog_port",
         std::to_string(syslog_port) + " is hit_batch_port too: give each format its own port");
  }
  std::vector<kernels::BeaconPort> ports;
  if (hit_batch_port != 0) ports.push_back({hit_batch_port, kernels::Endpoint::kUdpHitBatch});
  if (syslog_port != 0) ports.push_back({syslog_port, kernels::Endpoint::kUdpSyslog});
  return ports;
}

toml::table ParseToml(std::string_view toml_text, const std::string& source) {
  try {
    return toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ": " << e.description();
    throw std::runtime_error(msg.str());
  }
}

void CheckSections(const toml::table& root, const std::string& source) {
  static const std::set<std::string> kSections = {"sites",  "http",       "management", "pipeline",
                                                  "enrich", "clickhouse", "udp",        "dpdk",
                                                  "state",  "archive",    "limits",     "node"};
  for (const auto& [key, value] : root) {
    if (kSections.count(std::string(key.str())) == 0) {
      Fail(source, key.str(),
           "unknown section (expected one of sites, http, management, "
           "pipeline, enrich, clickhouse, udp, dpdk, state, archive, limits, node)");
    }
  }
}

// [node] id: a non-empty name; the ids derived from it go where the archive and batches need them.
void ParseNode(const toml::table& root, const std::string& source, Config* config) {
  Section node(root, "node", source);
  if (node.String("id", &config->node_name) && config->node_name.empty()) {
    Fail(source, "node.id", "expected a non-empty name");
  }
  node.CheckNoOtherKeys();
}

// Sets the ids derived from config->node_name.
void ApplyNodeId(Config* config) {
  config->node_id = NodeIdOf(config->node_name);
  config->archive.writer.node = config->node_id;
  config->forwarder.node = config->node_id;
}

void ParseSites(const toml::table& root, const std::string& source, std::string* registry) {
  Section sites(root, "sites", source);
  sites.String("registry", registry);
  sites.CheckNoOtherKeys();
}

void ParseHttp(const toml::table& root, const std::string& source, Config* config) {
  Section http(root, "http", source);
  ApplyListen(http, "listen", &config->http);
  http.Int("workers", &config->http_workers, 0, 256);
  http.Int("idle_timeout_ms", &config->http.idle_timeout_ms, 100, 3'600'000);
  http.Int("header_timeout_ms", &config->http.header_timeout_ms, 100, 3'600'000);
  http.Int("request_timeout_ms", &config->http.request_timeout_ms, 100, 3'600'000);
  http.Int("max_connections_per_worker", &config->http.max_connections_per_worker, 1, 1'000'000);
  http.Int("max_connections_per_peer", &config->http.max_connections_per_peer, 0, 1'000'000);
  http.Int("accept_backoff_ms", &config->http.accept_backoff_ms, 1, 60'000);
  http.Int("max_body_bytes", &config->http.limits.max_body_bytes, 1024, 64 << 20);
  http.Int("max_request_bytes", &config->http.max_request_bytes, 0, 1 << 30);
  http.Int("retry_after_s", &config->http.retry_after_s, 1, 3600);
  http.Strings("country_headers", &config->http.country_headers);
  http.CheckNoOtherKeys();
}

}  // namespace

std::string ReadTokenFile(const std::string& path) {
  std::string token;
  if (!kernels::ReadWholeFile(path, &token)) return "";
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  return token;
}

namespace {

// [management] token or token_file (its content, trailing whitespace trimmed); a listener off
// loopback without one is refused.
void ParseManagementAccess(Section& section, const std::string& source, Config* config) {
  const bool has_token = section.String("token", &config->management_token);
  std::string file;
  if (section.String("token_file", &file)) {
    if (has_token) Fail(source, "management.token_file", "give token or token_file, not both");
    config->management_token = ReadTokenFile(file);
    if (config->management_token.empty())
      Fail(source, "management.token_file", "cannot read a token from " + file);
  }
  if (config->management_token.empty() && !IsLoopbackAddress(config->management.address)) {
    Fail(source, "management.listen",
         "a non-loopback address needs a bearer token: set token or token_file");
  }
}

// True when listeners on the same port at addresses `a` and `b` can take the same connections.
bool SameListener(std::string_view a, std::string_view b) {
  const auto wildcard = [](std::string_view x) { return x.empty() || x == "0.0.0.0" || x == "::"; };
  const auto canonical = [](std::string_view x) { return x == "localhost" ? "127.0.0.1" : x; };
  return wildcard(a) || wildcard(b) || canonical(a) == canonical(b);
}

// The management listener must not share [http]'s: both bind with SO_REUSEPORT, so the kernel
// would spread connections over the two servers (beacons answered 404, scrapes 404). Port 0
// picks a free port for each.
void CheckManagementListener(const std::string& source, const Config& config) {
  const host::HttpServerConfig& m = config.management;
  if (m.port == 0 || m.port != config.http.port || !SameListener(m.address, config.http.address)) {
    return;
  }
  Fail(source, "management.listen",
       m.address + ":" + std::to_string(m.port) + " overlaps http.listen (" + config.http.address +
           ":" + std::to_string(config.http.port) +
           "): give the management listener a port of its own");
}

// True for a DNS name: dot-separated labels of letters, digits and '-', none empty or
// starting or ending with '-'; no port, no wildcard.
bool HostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    const size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

// [management] allowed_hosts: the names a request's Host header may carry besides IP literals,
// localhost and the listen address.
void ParseAllowedHosts(Section& section, const std::string& source, Config* config) {
  section.Strings("allowed_hosts", &config->management_allowed_hosts);
  for (const std::string& name : config->management_allowed_hosts) {
    if (!HostName(name)) {
      Fail(source, "management.allowed_hosts",
           "\"" + name + "\" is not a host name (letters, digits, '-' and dots; no port)");
    }
  }
}

void ParseManagement(const toml::table& root, const std::string& source, Config* config) {
  Section section(root, "management", source);
  ApplyListen(section, "listen", &config->management);
  CheckManagementListener(source, *config);
  ParseManagementAccess(section, source, config);
  ParseAllowedHosts(section, source, config);
  section.Int("stall_ms", &config->management_stall_ms, 100, 3'600'000);
  section.CheckNoOtherKeys();
}

// pipeline.visitor_key: exactly 16 hex digits; absent or empty keeps the default.
void ParseVisitorKey(Section& pipeline, const std::string& source, uint64_t* visitor_key) {
  std::string key_hex;
  pipeline.String("visitor_key", &key_hex);
  if (key_hex.empty()) return;
  uint64_t key = 0;
  const auto [end, ec] = std::from_chars(key_hex.data(), key_hex.data() + key_hex.size(), key, 16);
  if (ec != std::errc() || end != key_hex.data() + key_hex.size() || key_hex.size() != 16) {
    Fail(source, "pipeline.visitor_key", "expected 16 hex digits");
  }
  *visitor_key = key;
}

void ParsePipeline(const toml::table& root, const std::string& source, Config* config) {
  Section pipeline(root, "pipeline", source);
  pipeline.Int("epoch_ms", &config->pipeline.epoch_ms, 10, 600'000);
  pipeline.Int("epoch_max_events", &config->pipeline.epoch_max_events, 1, 100'000'000);
  auto& limits = config->pipeline.aggregate;
  pipeline.Int("max_pages_per_site_minute", &limits.max_pages_per_site_minute, 1, 1'000'000);
  pipeline.Int("max_referrers_per_site_minute", &limits.max_referrers_per_site_minute, 1,
               1'000'000);
  pipeline.Int("max_utm_sources_per_site_minute", &limits.max_utm_sources_per_site_minute, 1,
               1'000'000);
  pipeline.Int("max_utm_mediums_per_site_minute", &limits.max_utm_mediums_per_site_minute, 1,
               1'000'000);
  pipeline.Int("max_utm_campaigns_per_site_minute", &limits.max_utm_campaigns_per_site_minute, 1,
               1'000'000);
  pipeline.Int("max_event_names_per_site_minute", &limits.max_event_names_per_site_minute, 1,
               1'000'000);
  // The forwarder caps merged epochs at the same K.
  config->forwarder.breakdown_limits = limits;
  ParseVisitorKey(pipeline, source, &config->pipeline.visitor_key);
  pipeline.String("backend", &config->backend);
  pipeline.CheckNoOtherKeys();
}

void ParseEnrich(const toml::table& root, const std::string& source, std::string* user_agents) {
  Section enrich(root, "enrich", source);
  enrich.String("user_agents", user_agents);
  enrich.CheckNoOtherKeys();
}

void ParseState(const toml::table& root, const std::string& source, std::string* dir) {
  Section state(root, "state", source);
  state.String("dir", dir);
  state.CheckNoOtherKeys();
}

host::CommitPolicy ParseCommitPolicy(std::string_view name, const std::string& source) {
  if (name == "group") return host::CommitPolicy::kGroup;
  if (name == "interval") return host::CommitPolicy::kInterval;
  if (name == "none") return host::CommitPolicy::kNone;
  Fail(source, "archive.commit", "expected \"group\", \"interval\" or \"none\"");
}

// [archive]; an empty or absent dir is <state_dir>/archive.
void ParseArchive(const toml::table& root, const std::string& source, const std::string& state_dir,
                  host::ArchiveConfig* archive, host::CompressorMode* compressor) {
  Section section(root, "archive", source);
  std::string mode;
  if (section.String("compressor", &mode) && !host::ParseCompressorMode(mode, compressor)) {
    Fail(source, "archive.compressor", "expected \"auto\", \"cpu\" or \"fpga\"");
  }
  host::SegmentWriterOptions& writer = archive->writer;
  section.Bool("enabled", &archive->enabled);
  std::string dir;
  section.String("dir", &dir);
  writer.directory = dir.empty() ? state_dir + "/archive" : dir;
  std::string commit;
  if (section.String("commit", &commit)) writer.commit = ParseCommitPolicy(commit, source);
  section.Int("commit_interval_ms", &writer.commit_interval_ms, 1, 60'000);
  section.Int("compression_level", &writer.compression_level, 1, 19);
  int64_t block_kb = static_cast<int64_t>(writer.block_bytes >> 10);
  section.Int("block_kb", &block_kb, 4, 8 << 10);
  writer.block_bytes = static_cast<size_t>(block_kb) << 10;
  int64_t segment_mb = static_cast<int64_t>(writer.segment_bytes >> 20);
  section.Int("segment_mb", &segment_mb, 1, 1 << 16);
  writer.segment_bytes = static_cast<uint64_t>(segment_mb) << 20;
  int64_t segment_age_s = writer.segment_age_ms / 1000;
  section.Int("segment_age_s", &segment_age_s, 1, 7 * 86'400);
  writer.segment_age_ms = segment_age_s * 1000;
  int64_t max_gb = 0;
  section.Int("max_gb", &max_gb, 0, 1 << 20);
  int64_t max_mb = 0;
  section.Int("max_mb", &max_mb, 0, int64_t{1} << 30);
  if (max_gb != 0 && max_mb != 0) Fail(source, "archive.max_mb", "give max_gb or max_mb, not both");
  archive->retention_max_bytes =
      max_mb != 0 ? static_cast<uint64_t>(max_mb) << 20 : static_cast<uint64_t>(max_gb) << 30;
  int64_t max_age_h = 0;
  section.Int("max_age_h", &max_age_h, 0, 24 * 3650);
  archive->retention_max_age_ms = max_age_h * 3'600'000;
  std::string when_full;
  if (section.String("when_forwarder_full", &when_full)) {
    if (when_full != "shed" && when_full != "archive") {
      Fail(source, "archive.when_forwarder_full", "expected \"shed\" or \"archive\"");
    }
    archive->behind_when_forwarder_full = when_full == "archive";
  }
  section.CheckNoOtherKeys();
}

void ParseClickHouse(const toml::table& root, const std::string& source,
                     host::ForwarderConfig* forwarder) {
  Section clickhouse(root, "clickhouse", source);
  auto& ch = forwarder->clickhouse;
  const bool has_url = clickhouse.String("url", &ch.url);
  if (clickhouse.StringLists("shards", &forwarder->shards) && has_url) {
    Fail(source, "clickhouse.shards",
         "give either url (one server) or shards (replica URLs per shard), not both");
  }
  clickhouse.String("cluster", &forwarder->cluster);
  clickhouse.String("database", &ch.database);
  clickhouse.String("user", &ch.user);
  clickhouse.String("password", &ch.password);
  clickhouse.Int("timeout_ms", &ch.timeout_ms, 100, 600'000);
  clickhouse.Int("insert_quorum", &ch.insert_quorum, 0, 99);
  clickhouse.Int("flush_interval_ms", &forwarder->flush_interval_ms, 10, 600'000);
  clickhouse.Int("breakdown_flush_interval_ms", &forwarder->breakdown_flush_interval_ms, 0,
                 3'600'000);
  clickhouse.Int("breakdown_max_rows_per_site", &forwarder->breakdown_max_rows_per_site, 0,
                 100'000'000);
  int64_t pending_mb = static_cast<int64_t>(forwarder->max_pending_bytes >> 20);
  clickhouse.Int("max_pending_mb", &pending_mb, 1, 1 << 20);
  forwarder->max_pending_bytes = static_cast<size_t>(pending_mb) << 20;
  clickhouse.Int("retry_initial_ms", &forwarder->retry_initial_ms, 1, 600'000);
  clickhouse.Int("retry_max_ms", &forwarder->retry_max_ms, 1, 3'600'000);
  clickhouse.String("spool_dir", &forwarder->spool_dir);
  int64_t spool_mb = static_cast<int64_t>(forwarder->spool_max_bytes >> 20);
  clickhouse.Int("spool_max_mb", &spool_mb, 1, int64_t{1} << 24);
  forwarder->spool_max_bytes = static_cast<uint64_t>(spool_mb) << 20;
  clickhouse.Bool("spool_fsync", &forwarder->spool_fsync);
  clickhouse.CheckNoOtherKeys();
}

// [udp] / [dpdk] allowed_sources: CIDR prefixes (IPv4 or IPv6) or addresses.
std::vector<kernels::IpPrefix> AllowedSources(Section& section, const std::string& source) {
  std::vector<std::string> texts;
  section.Strings("allowed_sources", &texts);
  std::vector<kernels::IpPrefix> prefixes;
  for (const std::string& text : texts) {
    const std::optional<kernels::IpPrefix> prefix = kernels::ParseIpPrefix(text);
    if (!prefix) {
      Fail(source, section.Path("allowed_sources"),
           "expected CIDR prefixes such as \"192.0.2.0/24\" or \"2001:db8::/32\", got \"" + text +
               "\"");
    }
    prefixes.push_back(*prefix);
  }
  return prefixes;
}

void ParseUdp(const toml::table& root, const std::string& source, UdpIngressConfig* udp) {
  Section section(root, "udp", source);
  udp->enabled = section.present();
  section.String("address", &udp->relay.address);
  uint16_t hit_batch_port = 0;
  uint16_t syslog_port = 0;
  section.Int("hit_batch_port", &hit_batch_port, 0, 65535);
  section.Int("syslog_port", &syslog_port, 0, 65535);
  section.Int("workers", &udp->workers, 1, 256);
  section.Int("burst", &udp->relay.burst, 1, 1024);
  int64_t buffer_kb = udp->relay.receive_buffer_bytes >> 10;
  section.Int("receive_buffer_kb", &buffer_kb, 64, 1 << 20);
  udp->relay.receive_buffer_bytes = static_cast<int>(buffer_kb << 10);
  udp->relay.allowed_sources = AllowedSources(section, source);
  section.CheckNoOtherKeys();
  udp->relay.ports = BeaconPorts(hit_batch_port, syslog_port, source, "udp");
  if (udp->enabled && udp->relay.ports.empty()) {
    Fail(source, "udp", "expected hit_batch_port or syslog_port (or both) to be set");
  }
}

// [limits.sites.NAME] rate_per_s and burst: one site's budget (NAME: registry name or site id).
void ParseSiteBudgets(const toml::table* sites, const std::string& source,
                      std::vector<std::pair<std::string, host::SiteBudget>>* out) {
  if (sites == nullptr) return;
  for (const auto& [name, node] : *sites) {
    const std::string key(name.str());
    toml::table single;
    if (node.as_table() != nullptr) single.insert(key, *node.as_table());
    const std::string where = source + ": limits.sites";
    Section section(single, key, where);
    if (!section.present()) Fail(source, "limits.sites." + key, "expected a table");
    int64_t rate = 0;
    int64_t burst = 1;
    section.Int("rate_per_s", &rate, 0, 100'000'000);
    section.Int("burst", &burst, 1, 100'000'000);
    section.CheckNoOtherKeys();
    out->emplace_back(key, host::SiteBudget{static_cast<double>(rate), static_cast<double>(burst)});
  }
}

// [limits]: per-site budgets (the pipelines) and per-source rates (the HTTP server).
void ParseLimits(const toml::table& root, const std::string& source, Config* config) {
  Section section(root, "limits", source);
  int64_t site_rate = 0;
  int64_t site_burst = 1;
  int64_t source_rate = 0;
  int64_t source_burst = 1;
  section.Int("site_rate_per_s", &site_rate, 0, 100'000'000);
  section.Int("site_burst", &site_burst, 1, 100'000'000);
  section.Int("source_rate_per_s", &source_rate, 0, 100'000'000);
  section.Int("source_burst", &source_burst, 1, 100'000'000);
  section.Int("source_prefix_v4", &config->http.source_prefix_v4, 8, 32);
  section.Int("source_prefix_v6", &config->http.source_prefix_v6, 16, 128);
  ParseSiteBudgets(section.Table("sites"), source, &config->site_budget.sites);
  std::string over_budget;
  if (section.String("over_budget", &over_budget)) {
    if (over_budget == "sample") {
      config->site_budget.over_budget = host::OverBudget::kSample;
    } else if (over_budget != "refuse") {
      Fail(source, "limits.over_budget", "expected \"refuse\" or \"sample\"");
    }
  }
  section.Int("sample_one_in", &config->site_budget.sample_one_in, 1, 1'000'000);
  section.CheckNoOtherKeys();
  config->site_budget.every_site = {static_cast<double>(site_rate),
                                    static_cast<double>(site_burst)};
  config->http.source_rate_per_s = static_cast<double>(source_rate);
  config->http.source_burst = static_cast<double>(source_burst);
}

void ParseDpdk(const toml::table& root, const std::string& source, DpdkIngressConfig* dpdk) {
  Section section(root, "dpdk", source);
  dpdk->enabled = section.present();
  dpdk::DataPlaneConfig& plane = dpdk->data_plane;
  section.Strings("eal_args", &dpdk->eal_args);
  section.Strings("ports", &plane.ports);
  section.Int("workers", &dpdk->workers, 1, 128);
  uint16_t hit_batch_port = 0;
  uint16_t syslog_port = 0;
  section.Int("hit_batch_port", &hit_batch_port, 0, 65535);
  section.Int("syslog_port", &syslog_port, 0, 65535);
  section.Int("rx_descriptors", &plane.rx_descriptors, 64, 32768);
  section.Int("burst", &plane.burst, 1, 64);
  section.Int("mbufs", &plane.mbufs, 0, 1 << 26);
  section.Int("reassembly_flows", &plane.reassembly_flows, 16, 1 << 20);
  section.Int("reassembly_timeout_ms", &plane.reassembly_timeout_ms, 10, 60'000);
  section.String("exception_port", &plane.exception_port);
  section.Int("exception_rx_descriptors", &plane.exception_rx_descriptors, 64, 32768);
  section.Int("exception_tx_descriptors", &plane.exception_tx_descriptors, 64, 32768);
  std::vector<int64_t> mirror_ports;
  section.Ints("mirror_ports", &mirror_ports, 1, 65535);
  plane.mirror.server_ports.assign(mirror_ports.begin(), mirror_ports.end());
  section.Int("mirror_flows", &plane.mirror.max_flows, 1, 1 << 24);
  section.Int("mirror_flow_bytes", &plane.mirror.max_flow_bytes, 1024, 16 << 20);
  section.Int("mirror_total_bytes", &plane.mirror.max_total_bytes, 1 << 16, int64_t{1} << 40);
  section.Int("mirror_idle_ms", &plane.mirror.idle_ms, 10, 3'600'000);
  section.Int("mirror_syn_idle_ms", &plane.mirror.syn_idle_ms, 10, 3'600'000);
  section.Int("mirror_gap_ms", &plane.mirror.gap_ms, 1, 60'000);
  section.String("mirror_client_ip_header", &plane.mirror.client_ip_header);
  plane.allowed_sources = AllowedSources(section, source);
  section.CheckNoOtherKeys();
  plane.beacon_ports = BeaconPorts(hit_batch_port, syslog_port, source, "dpdk");
  if (!dpdk->enabled) return;
  if (plane.ports.empty()) Fail(source, "dpdk.ports", "expected at least one port");
  if (plane.beacon_ports.empty() && plane.mirror.server_ports.empty()) {
    Fail(source, "dpdk",
         "expected hit_batch_port, syslog_port or mirror_ports (or several) to be set");
  }
}

// The inverse of ParseIpPrefix: IPv4 prefixes in dotted form.
std::string FormatIpPrefix(const kernels::IpPrefix& prefix) {
  char text[INET6_ADDRSTRLEN] = {};
  const bool v4 = prefix.address.is_v4() && prefix.bits >= 96;
  if (v4) {
    inet_ntop(AF_INET, prefix.address.bytes.data() + 12, text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, prefix.address.bytes.data(), text, sizeof(text));
  }
  return std::string(text) + "/" + std::to_string(v4 ? prefix.bits - 96 : prefix.bits);
}

template <typename Range>
toml::array Array(const Range& values) {
  toml::array array;
  for (const auto& v : values) {
    if constexpr (std::is_integral_v<std::decay_t<decltype(v)>>) {
      array.push_back(static_cast<int64_t>(v));
    } else {
      array.push_back(std::string(v));
    }
  }
  return array;
}

toml::array Prefixes(const std::vector<kernels::IpPrefix>& prefixes) {
  std::vector<std::string> texts;
  for (const auto& p : prefixes) texts.push_back(FormatIpPrefix(p));
  return Array(texts);
}

std::string ListenText(const host::HttpServerConfig& server) {
  return server.address + ":" + std::to_string(server.port);
}

// The beacon UDP port of `endpoint` among `ports`; 0 for none.
int64_t BeaconPortOf(const std::vector<kernels::BeaconPort>& ports, kernels::Endpoint endpoint) {
  for (const auto& p : ports) {
    if (p.endpoint == endpoint) return p.port;
  }
  return 0;
}

toml::table HttpTable(const Config& config) {
  const host::HttpServerConfig& http = config.http;
  return toml::table{
      {"listen", ListenText(http)},
      {"workers", config.http_workers},
      {"idle_timeout_ms", http.idle_timeout_ms},
      {"header_timeout_ms", http.header_timeout_ms},
      {"request_timeout_ms", http.request_timeout_ms},
      {"max_connections_per_worker", static_cast<int64_t>(http.max_connections_per_worker)},
      {"max_connections_per_peer", static_cast<int64_t>(http.max_connections_per_peer)},
      {"accept_backoff_ms", http.accept_backoff_ms},
      {"max_body_bytes", static_cast<int64_t>(http.limits.max_body_bytes)},
      {"max_request_bytes", static_cast<int64_t>(http.max_request_bytes)},
      {"retry_after_s", http.retry_after_s},
      {"country_headers", Array(http.country_headers)},
  };
}

toml::table PipelineTable(const Config& config, bool redact_secrets) {
  const auto& limits = config.pipeline.aggregate;
  toml::table table{
      {"epoch_ms", config.pipeline.epoch_ms},
      {"epoch_max_events", static_cast<int64_t>(config.pipeline.epoch_max_events)},
      {"max_pages_per_site_minute", static_cast<int64_t>(limits.max_pages_per_site_minute)},
      {"max_referrers_per_site_minute", static_cast<int64_t>(limits.max_referrers_per_site_minute)},
      {"max_utm_sources_per_site_minute",
       static_cast<int64_t>(limits.max_utm_sources_per_site_minute)},
      {"max_utm_mediums_per_site_minute",
       static_cast<int64_t>(limits.max_utm_mediums_per_site_minute)},
      {"max_utm_campaigns_per_site_minute",
       static_cast<int64_t>(limits.max_utm_campaigns_per_site_minute)},
      {"max_event_names_per_site_minute",
       static_cast<int64_t>(limits.max_event_names_per_site_minute)},
      {"backend", config.backend},
  };
  if (!redact_secrets) {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx",
                  static_cast<unsigned long long>(config.pipeline.visitor_key));
    table.insert("visitor_key", std::string(hex));
  }
  return table;
}

toml::table ArchiveTable(const host::ArchiveConfig& archive, host::CompressorMode compressor) {
  const host::SegmentWriterOptions& w = archive.writer;
  static constexpr const char* kCommit[] = {"group", "interval", "none"};
  // A size of whole GiB reads back from max_gb, any other from max_mb (the other key 0).
  const uint64_t max_bytes = archive.retention_max_bytes;
  const bool whole_gb = max_bytes % (uint64_t{1} << 30) == 0;
  return toml::table{
      {"enabled", archive.enabled},
      {"compressor", std::string(host::CompressorModeName(compressor))},
      {"dir", w.directory},
      {"commit", kCommit[static_cast<int>(w.commit)]},
      {"commit_interval_ms", w.commit_interval_ms},
      {"compression_level", w.compression_level},
      {"block_kb", static_cast<int64_t>(w.block_bytes >> 10)},
      {"segment_mb", static_cast<int64_t>(w.segment_bytes >> 20)},
      {"segment_age_s", w.segment_age_ms / 1000},
      {"max_gb", whole_gb ? static_cast<int64_t>(max_bytes >> 30) : int64_t{0}},
      {"max_mb", whole_gb ? int64_t{0} : static_cast<int64_t>(max_bytes >> 20)},
      {"max_age_h", archive.retention_max_age_ms / 3'600'000},
      {"when_forwarder_full", archive.behind_when_forwarder_full ? "archive" : "shed"},
  };
}

toml::table ClickHouseTable(const host::ForwarderConfig& f, bool redact_secrets) {
  const auto& ch = f.clickhouse;
  toml::table table{
      {"cluster", f.cluster},
      {"database", ch.database},
      {"user", ch.user},
      {"password", redact_secrets && !ch.password.empty() ? "(redacted)" : ch.password},
      {"timeout_ms", ch.timeout_ms},
      {"insert_quorum", ch.insert_quorum},
      {"flush_interval_ms", f.flush_interval_ms},
      {"breakdown_flush_interval_ms", f.breakdown_flush_interval_ms},
      {"breakdown_max_rows_per_site", static_cast<int64_t>(f.breakdown_max_rows_per_site)},
      {"max_pending_mb", static_cast<int64_t>(f.max_pending_bytes >> 20)},
      {"retry_initial_ms", f.retry_initial_ms},
      {"retry_max_ms", f.retry_max_ms},
      {"spool_dir", f.spool_dir},
      {"spool_max_mb", static_cast<int64_t>(f.spool_max_bytes >> 20)},
      {"spool_fsync", f.spool_fsync},
  };
  if (f.shards.empty()) {
    table.insert("url", ch.url);
  } else {
    toml::array shards;
    for (const auto& replicas : f.shards) shards.push_back(Array(replicas));
    table.insert("shards", std::move(shards));
  }
  return table;
}

toml::table LimitsTable(const Config& config) {
  toml::table sites;
  for (const auto& [name, budget] : config.site_budget.sites) {
    sites.insert(name, toml::table{{"rate_per_s", std::llround(budget.rate_per_s)},
                                   {"burst", std::llround(budget.burst)}});
  }
  return toml::table{
      {"site_rate_per_s", std::llround(config.site_budget.every_site.rate_per_s)},
      {"site_burst", std::llround(config.site_budget.every_site.burst)},
      {"over_budget",
       config.site_budget.over_budget == host::OverBudget::kSample ? "sample" : "refuse"},
      {"sample_one_in", static_cast<int64_t>(config.site_budget.sample_one_in)},
      {"source_rate_per_s", std::llround(config.http.source_rate_per_s)},
      {"source_burst", std::llround(config.http.source_burst)},
      {"source_prefix_v4", config.http.source_prefix_v4},
      {"source_prefix_v6", config.http.source_prefix_v6},
      {"sites", std::move(sites)},
  };
}

toml::table UdpTable(const UdpIngressConfig& udp) {
  const auto& relay = udp.relay;
  return toml::table{
      {"address", relay.address},
      {"hit_batch_port", BeaconPortOf(relay.ports, kernels::Endpoint::kUdpHitBatch)},
      {"syslog_port", BeaconPortOf(relay.ports, kernels::Endpoint::kUdpSyslog)},
      {"workers", udp.workers},
      {"burst", relay.burst},
      {"receive_buffer_kb", relay.receive_buffer_bytes >> 10},
      {"allowed_sources", Prefixes(relay.allowed_sources)},
  };
}

toml::table DpdkTable(const DpdkIngressConfig& dpdk) {
  const dpdk::DataPlaneConfig& plane = dpdk.data_plane;
  const auto& mirror = plane.mirror;
  return toml::table{
      {"eal_args", Array(dpdk.eal_args)},
      {"ports", Array(plane.ports)},
      {"workers", dpdk.workers},
      {"hit_batch_port", BeaconPortOf(plane.beacon_ports, kernels::Endpoint::kUdpHitBatch)},
      {"syslog_port", BeaconPortOf(plane.beacon_ports, kernels::Endpoint::kUdpSyslog)},
      {"rx_descriptors", static_cast<int64_t>(plane.rx_descriptors)},
      {"burst", static_cast<int64_t>(plane.burst)},
      {"mbufs", static_cast<int64_t>(plane.mbufs)},
      {"reassembly_flows", static_cast<int64_t>(plane.reassembly_flows)},
      {"reassembly_timeout_ms", static_cast<int64_t>(plane.reassembly_timeout_ms)},
      {"exception_port", plane.exception_port},
      {"exception_rx_descriptors", static_cast<int64_t>(plane.exception_rx_descriptors)},
      {"exception_tx_descriptors", static_cast<int64_t>(plane.exception_tx_descriptors)},
      {"mirror_ports", Array(mirror.server_ports)},
      {"mirror_flows", static_cast<int64_t>(mirror.max_flows)},
      {"mirror_flow_bytes", static_cast<int64_t>(mirror.max_flow_bytes)},
      {"mirror_total_bytes", static_cast<int64_t>(mirror.max_total_bytes)},
      {"mirror_idle_ms", static_cast<int64_t>(mirror.idle_ms)},
      {"mirror_syn_idle_ms", static_cast<int64_t>(mirror.syn_idle_ms)},
      {"mirror_gap_ms", static_cast<int64_t>(mirror.gap_ms)},
      {"mirror_client_ip_header", mirror.client_ip_header},
      {"allowed_sources", Prefixes(plane.allowed_sources)},
  };
}

toml::table ConfigTable(const Config& config, bool redact_secrets) {
  toml::table management{
      {"listen", ListenText(config.management)},
      {"stall_ms", config.management_stall_ms},
      {"allowed_hosts", Array(config.management_allowed_hosts)},
  };
  if (!config.management_token.empty()) {
    management.insert("token", redact_secrets ? "(redacted)" : config.management_token);
  }
  toml::table root{
      {"node", toml::table{{"id", config.node_name}}},
      {"sites", toml::table{{"registry", config.sites_path}}},
      {"http", HttpTable(config)},
      {"management", std::move(management)},
      {"pipeline", PipelineTable(config, redact_secrets)},
      {"enrich", toml::table{{"user_agents", config.user_agent_regexes}}},
      {"state", toml::table{{"dir", config.state_dir}}},
      {"archive", ArchiveTable(config.archive, config.archive_compressor)},
      {"clickhouse", ClickHouseTable(config.forwarder, redact_secrets)},
      {"limits", LimitsTable(config)},
  };
  if (config.udp.enabled) root.insert("udp", UdpTable(config.udp));
  if (config.dpdk.enabled) root.insert("dpdk", DpdkTable(config.dpdk));
  return root;
}

// A value as TOML text, for comparing values of any type.
std::string Text(const toml::node& node) {
  std::ostringstream out;
  node.visit([&out](const auto& value) { out << value; });
  return out.str();
}

}  // namespace

std::string PrintConfig(const Config& config, bool redact_secrets) {
  std::ostringstream out;
  out << "# beacond's effective config, defaults included";
  if (redact_secrets) out << "; secrets redacted, [pipeline] visitor_key not shown";
  out << "\n" << ConfigTable(config, redact_secrets) << "\n";
  return out.str();
}

std::vector<std::string> RestartOnlyChanges(const Config& running, const Config& next) {
  static const std::set<std::string> kLive = {
      "sites.registry",    "enrich.user_agents", "limits.site_rate_per_s",
      "limits.site_burst", "limits.over_budget", "limits.sample_one_in",
      "limits.sites"};
  const toml::table before = ConfigTable(running, false);
  const toml::table after = ConfigTable(next, false);
  std::set<std::string> changed;
  const auto compare = [&](const toml::table& a, const toml::table& b) {
    for (const auto& [name, node] : a) {
      const std::string section(name.str());
      const toml::node* other = b.get(section);
      if (other == nullptr) {
        changed.insert(section);
        continue;
      }
      for (const auto& [key, value] : *node.as_table()) {
        const std::string path = section + "." + std::string(key.str());
        const toml::node* other_value = other->as_table()->get(key.str());
        if (kLive.count(path) == 0 &&
            (other_value == nullptr || Text(*other_value) != Text(value))) {
          changed.insert(path);
        }
      }
    }
  };
  compare(before, after);
  compare(after, before);
  return {changed.begin(), changed.end()};
}

Listen ParseListen(std::string_view value, std::string_view key) {
  const size_t colon = value.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    throw std::runtime_error(std::string(key) + ": expected \"address:port\", got \"" +
                             std::string(value) + "\"");
  }
  Listen listen;
  listen.address = std::string(value.substr(0, colon));
  const std::string_view port = value.substr(colon + 1);
  unsigned parsed = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), parsed);
  if (ec != std::errc() || end != port.data() + port.size() || parsed > 65535) {
    throw std::runtime_error(std::string(key) + ": port \"" + std::string(port) +
                             "\" is not an integer in 0..65535");
  }
  listen.port = static_cast<uint16_t>(parsed);
  return listen;
}

uint64_t NodeIdOf(std::string_view name) {
  // Fixed forever: archives and ClickHouse batch ids carry the result.
  constexpr uint64_t kNodeIdSeed = 0x6e6f'6465'6964'0001ULL;
  return kernels::Hash64(name, kNodeIdSeed);
}

bool IsLoopbackAddress(std::string_view address) {
  return address == "localhost" || address == "::1" || address.starts_with("127.");
}

Config DefaultConfig() {
  Config config;
  config.http.address = "127.0.0.1";
  config.http.port = 8080;
  config.management.address = "127.0.0.1";
  config.management.port = 9464;
  config.management.workers = 1;
  // A few clients (Prometheus, probes, beaconctl top): past 256 connections, the one idle
  // longest makes room, whoever holds the others; no cap per address, so that a local flood
  // from 127.0.0.1 does not refuse the local probe.
  config.management.max_connections_per_worker = 256;
  config.management.max_connections_per_peer = 0;
  config.management.evict_idle_when_full = true;
  config.pipeline.visitor_key = 0x6265'6163'6f6e'6b65ULL;
  // ClickHouse down for longer than the forwarder's memory holds: keep answering from the
  // archive (the write-ahead log), not 503.
  config.archive.behind_when_forwarder_full = true;
  // Breakdown rows once a minute: one row per (site, minute, dimension, value), not one per
  // flush (rows per beacon: bench/forward).
  config.forwarder.breakdown_flush_interval_ms = 60'000;
  config.state_dir = "/var/lib/beacond";
  config.archive.writer.directory = config.state_dir + "/archive";
  config.user_agent_regexes = std::string(kernels::kDefaultUapRegexesPath);
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
    std::strcpy(host.data(), "localhost");
  }
  config.node_name = host.data();
  ApplyNodeId(&config);
  return config;
}

Config ParseConfig(std::string_view toml_text, const std::string& source) {
  const toml::table root = ParseToml(toml_text, source);
  CheckSections(root, source);
  Config config = DefaultConfig();
  ParseNode(root, source, &config);
  ParseSites(root, source, &config.sites_path);
  ParseHttp(root, source, &config);
  ParseManagement(root, source, &config);
  ParsePipeline(root, source, &config);
  ParseEnrich(root, source, &config.user_agent_regexes);
  ParseState(root, source, &config.state_dir);
  ParseArchive(root, source, config.state_dir, &config.archive, &config.archive_compressor);
  ParseClickHouse(root, source, &config.forwarder);
  ParseLimits(root, source, &config);
  ParseUdp(root, source, &config.udp);
  ParseDpdk(root, source, &config.dpdk);
  ApplyNodeId(&config);
  // The mirror reads the same country headers as the HTTP server.
  config.dpdk.data_plane.mirror.country_headers = config.http.country_headers;
  return config;
}

Config LoadConfig(const std::string& path) {
  std::string text;
  if (!kernels::ReadWholeFile(path, &text)) {
    throw std::runtime_error("cannot read config file '" + path + "'");
  }
  return ParseConfig(text, path);
}

}  // namespace beacon::app
