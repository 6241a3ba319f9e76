// Verification against ClickHouse and beacond's Prometheus counters.
#include "bench/gen/verify.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <sstream>
#include <thread>
#include <vector>

#include "host/forward/clickhouse_client.h"

namespace beacon::bench {
namespace {

std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  va_end(args);
  return buf;
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::vector<std::vector<std::string>> ParseTsv(const std::string& body) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cols;
    size_t start = 0;
    for (;;) {
      const size_t tab = line.find('\t', start);
      cols.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    rows.push_back(std::move(cols));
  }
  return rows;
}

uint64_t ToU64(const std::string& s) { return std::stoull(s); }

// Collects failed checks; the first few examples of each are kept for the report.
class Findings {
 public:
  void Fail(const std::string& what) { failures_.push_back(what); }
  bool ok() const { return failures_.empty(); }
  std::string Joined() const {
    std::string out;
    for (size_t i = 0; i < failures_.size() && i < 8; ++i) {
      if (i > 0) out += "; ";
      out += failures_[i];
    }
    if (failures_.size() > 8) out += Format("; and %zu more", failures_.size() - 8);
    return out;
  }

 private:
  std::vector<std::string> failures_;
};

class Analyst {
 public:
  static host::ClickHouseEndpoint Endpoint(const VerifyOptions& options) {
    host::ClickHouseEndpoint endpoint;
    endpoint.url = options.clickhouse_url;
    endpoint.database = options.database;
    return endpoint;
  }

  explicit Analyst(const VerifyOptions& options)
      : client_(Endpoint(options)), db_(options.database) {}

  // Runs `sql` ({db} replaced by the database). After the first failure every query yields
  // no rows, so one unreachable server or missing table is reported once, not per check.
  std::vector<std::vector<std::string>> Query(std::string sql, size_t columns) {
    if (!error_.empty()) return {};
    for (size_t at; (at = sql.find("{db}")) != std::string::npos;) sql.replace(at, 4, db_);
    const host::ClickHouseResult result = client_.Execute(sql + " FORMAT TabSeparated");
    if (!result.ok()) {
      std::string detail = result.error.empty() ? result.body.substr(0, 300) : result.error;
      while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) {
        detail.pop_back();
      }
      error_ = "query failed (HTTP " + std::to_string(result.status) + "): " + sql + ": " + detail;
      return {};
    }
    auto rows = ParseTsv(result.body);
    for (const auto& row : rows) {
      if (row.size() != columns) {
        error_ = Format("query returned %zu columns, expected %zu: ", row.size(), columns) + sql;
        return {};
      }
    }
    return rows;
  }

  const std::string& error() const { return error_; }

 private:
  host::ClickHouseClient client_;
  std::string db_;
  std::string error_;
};

}  // namespace

uint64_t BeaconCounters::rejected() const {
  uint64_t n = 0;
  for (const auto& [reason, count] : rejects) n += count;
  return n;
}

HttpGetResult HttpGet(const std::string& url, int timeout_ms) {
  HttpGetResult result;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    result.error = curl_easy_strerror(code);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    if (result.status == 0 && url.starts_with("file://")) result.status = 200;
  }
  curl_easy_cleanup(curl);
  return result;
}

BeaconCounters ParseBeaconCounters(std::string_view text) {
  BeaconCounters counters;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, name_end);
    const size_t value_start = line.rfind(' ');
    const double value = std::strtod(std::string(line.substr(value_start + 1)).c_str(), nullptr);
    const auto count = static_cast<uint64_t>(std::llround(value));
    if (name == "beacond_events_accepted_total") {
      counters.accepted += count;
    } else if (name == "beacond_rejects_total") {
      const size_t label = line.find("reason=\"");
      if (label == std::string_view::npos) continue;
      const size_t start = label + 8;
      const size_t end = line.find('"', start);
      counters.rejects[std::string(line.substr(start, end - start))] += count;
    }
  }
  return counters;
}

bool Verify(const TruthSummary& truth, const VerifyOptions& options, std::ostream& out) {
  Findings findings;
  Analyst analyst(options);

  // 1. Pageviews and events per (site, minute): exact, same key set.
  std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, uint64_t>> landed;
  for (const auto& row :
       analyst.Query("SELECT site_id, toUInt32(toUnixTimestamp(minute) / 60) AS m, sum(pageviews), "
                     "sum(events) FROM {db}.site_minutes GROUP BY site_id, m",
                     4)) {
    landed[{static_cast<uint32_t>(ToU64(row[0])), static_cast<uint32_t>(ToU64(row[1]))}] = {
        ToU64(row[2]), ToU64(row[3])};
  }
  uint64_t truth_pv = 0, truth_ev = 0, landed_pv = 0, landed_ev = 0;
  size_t missing = 0, extra = 0, differing = 0;
  std::string example;
  std::map<uint32_t, uint64_t> truth_site_pv, landed_site_pv;
  for (const auto& [key, cell] : truth.site_minutes) {
    truth_pv += cell.pageviews;
    truth_ev += cell.events;
    truth_site_pv[key.first] += cell.pageviews;
    const auto it = landed.find(key);
    if (it == landed.end()) {
      if (missing++ == 0 && example.empty()) {
        example = Format("site %u minute %u missing", key.first, key.second);
      }
    } else if (it->second != std::make_pair(cell.pageviews, cell.events)) {
      if (differing++ == 0 && example.empty()) {
        example =
            Format("site %u minute %u: landed %lu pv / %lu ev, truth %lu / %lu", key.first,
                   key.second, it->second.first, it->second.second, cell.pageviews, cell.events);
      }
    }
  }
  for (const auto& [key, counts] : landed) {
    landed_pv += counts.first;
    landed_ev += counts.second;
    landed_site_pv[key.first] += counts.first;
    if (truth.site_minutes.count(key) == 0 && extra++ == 0 && example.empty()) {
      example = Format("site %u minute %u not in the truth", key.first, key.second);
    }
  }
  if (missing + extra + differing > 0) {
    findings.Fail(Format("site_minutes: %zu (site, minute) keys missing, %zu extra, %zu differ (",
                         missing, extra, differing) +
                  example + ")");
  }

  // 2. Visitors per site over the whole run, within the sketch's error.
  std::map<uint32_t, uint64_t> landed_visitors;
  for (const auto& row : analyst.Query(
           "SELECT site_id, uniqHLL12Merge(visitors) FROM {db}.site_minutes GROUP BY site_id", 2)) {
    landed_visitors[static_cast<uint32_t>(ToU64(row[0]))] = ToU64(row[1]);
  }
  double worst_error = 0;
  uint32_t worst_site = 0;
  size_t visitor_failures = 0;
  for (const auto& [site, expected] : truth.site_visitors) {
    const auto it = landed_visitors.find(site);
    const uint64_t got = it == landed_visitors.end() ? 0 : it->second;
    const double diff = std::fabs(static_cast<double>(got) - static_cast<double>(expected));
    const double relative = expected > 0 ? diff / static_cast<double>(expected) : diff;
    if (relative >= worst_error) {
      worst_error = relative;
      worst_site = site;
    }
    if (diff > std::max(1.0, options.visitor_error * static_cast<double>(expected))) {
      ++visitor_failures;
    }
  }
  if (visitor_failures > 0) {
    findings.Fail(
        Format("visitors: %zu sites beyond max(1, %.3f x truth); worst site %u off by "
               "%.2f%%",
               visitor_failures, options.visitor_error, worst_site, 100 * worst_error));
  }

  // 3. page_minutes holds the same pageviews per site as site_minutes.
  std::map<uint32_t, uint64_t> page_table_pv;
  for (const auto& row :
       analyst.Query("SELECT site_id, sum(pageviews) FROM {db}.page_minutes GROUP BY site_id", 2)) {
    page_table_pv[static_cast<uint32_t>(ToU64(row[0]))] = ToU64(row[1]);
  }
  for (const auto& [site, pv] : landed_site_pv) {
    const uint64_t pages = page_table_pv.count(site) ? page_table_pv.at(site) : 0;
    if (pages != pv) {
      findings.Fail(
          Format("site %u: page_minutes holds %lu pageviews, site_minutes %lu", site, pages, pv));
    }
  }

  // 4. Top 10 pages of the largest sites, exactly.
  std::vector<std::pair<uint64_t, uint32_t>> by_size;
  for (const auto& [site, pv] : truth_site_pv) by_size.emplace_back(pv, site);
  std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (by_size.size() > options.top_sites) by_size.resize(options.top_sites);
  std::vector<std::pair<std::string, uint64_t>> biggest_landed, biggest_truth;
  for (const auto& [pv, site] : by_size) {
    std::vector<std::pair<std::string, uint64_t>> expected;
    for (auto it = truth.pages.lower_bound({site, std::string()});
         it != truth.pages.end() && it->first.first == site; ++it) {
      expected.emplace_back(it->first.second, it->second);
    }
    std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (expected.size() > 10) expected.resize(10);
    std::vector<std::pair<std::string, uint64_t>> got;
    for (const auto& row : analyst.Query(
             Format("SELECT path, sum(pageviews) AS pv FROM {db}.page_minutes WHERE site_id = %u "
                    "GROUP BY path ORDER BY pv DESC, path LIMIT 10",
                    site),
             2)) {
      got.emplace_back(row[0], ToU64(row[1]));
    }
    if (got != expected) {
      size_t at = 0;
      while (at < got.size() && at < expected.size() && got[at] == expected[at]) ++at;
      findings.Fail(Format("top pages of site %u differ at rank %zu: landed %s %lu, truth %s %lu",
                           site, at + 1, at < got.size() ? got[at].first.c_str() : "-",
                           at < got.size() ? got[at].second : 0,
                           at < expected.size() ? expected[at].first.c_str() : "-",
                           at < expected.size() ? expected[at].second : 0));
    }
    if (biggest_truth.empty()) {
      biggest_truth = expected;
      biggest_landed = got;
    }
  }

  // 5. beacond's counters.
  BeaconCounters counters;
  bool have_counters = false;
  if (!options.metrics_url.empty()) {
    const HttpGetResult scrape = HttpGet(options.metrics_url, 5000);
    if (!scrape.error.empty() || scrape.status != 200) {
      findings.Fail(
          "metrics scrape of " + options.metrics_url + " failed: " +
          (scrape.error.empty() ? "HTTP " + std::to_string(scrape.status) : scrape.error));
    } else {
      counters = ParseBeaconCounters(scrape.body);
      have_counters = true;
      if (counters.accepted != truth.accepted) {
        findings.Fail(Format("beacond_events_accepted_total is %lu, truth %lu", counters.accepted,
                             truth.accepted));
      }
      std::map<std::string, uint64_t> reasons = truth.rejects;
      for (const auto& [reason, n] : counters.rejects) reasons.emplace(reason, 0);
      for (const auto& [reason, expected] : reasons) {
        const uint64_t got = counters.rejects.count(reason) ? counters.rejects.at(reason) : 0;
        if (got != expected) {
          findings.Fail(Format("beacond_rejects_total{reason=\"%s\"} is %lu, truth %lu",
                               reason.c_str(), got, expected));
        }
      }
    }
  }

  // The operator's table: label, landed, truth, verdict.
  auto row = [&out](const std::string& label, const std::string& landed_text,
                    const std::string& truth_text, const std::string& note) {
    std::string line = Format("%-34s %14s %14s  %s", label.c_str(), landed_text.c_str(),
                              truth_text.c_str(), note.c_str());
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  auto num = [](uint64_t n) { return std::to_string(n); };
  auto compare = [&](const std::string& label, uint64_t got, uint64_t expected) {
    row(label, num(got), num(expected), got == expected ? "ok" : "MISMATCH");
  };
  uint64_t truth_rejected = 0;
  for (const auto& [reason, n] : truth.rejects) truth_rejected += n;
  out << "beacon-gen verify: ClickHouse " << options.clickhouse_url << ", database "
      << options.database << "\n\n";
  row("", "landed", "truth", "");
  if (have_counters) {
    compare("hits counted by beacond", counters.accepted + counters.rejected(), truth.sent_hits);
    compare("  accepted", counters.accepted, truth.accepted);
    compare("  rejected", counters.rejected(), truth_rejected);
    for (const auto& [reason, n] : truth.rejects) {
      compare("    " + reason, counters.rejects.count(reason) ? counters.rejects.at(reason) : 0, n);
    }
  } else {
    row("hits sent", "", num(truth.sent_hits), "(no --metrics-url: counters not checked)");
    row("  accepted", "", num(truth.accepted), "");
    row("  rejected", "", num(truth_rejected), "");
  }
  compare("pageviews", landed_pv, truth_pv);
  compare("events", landed_ev, truth_ev);
  row("(site, minute) rows", num(landed.size()), num(truth.site_minutes.size()),
      missing + extra + differing == 0 ? "ok" : "MISMATCH");
  out << "\n";
  row("unique visitors, largest sites", "landed", "truth", "error");
  for (const auto& [pv, site] : by_size) {
    const uint64_t expected = truth.site_visitors.count(site) ? truth.site_visitors.at(site) : 0;
    const uint64_t got = landed_visitors.count(site) ? landed_visitors.at(site) : 0;
    const double error = expected
                             ? 100.0 * (static_cast<double>(got) - static_cast<double>(expected)) /
                                   static_cast<double>(expected)
                             : 0;
    row("  site " + std::to_string(site), num(got), num(expected), Format("%+.2f%%", error));
  }
  row("  worst of all " + std::to_string(truth.site_visitors.size()) + " sites", "", "",
      Format("%.2f%% (site %u; allowed %.1f%%)", 100 * worst_error, worst_site,
             100 * options.visitor_error));
  if (!by_size.empty()) {
    out << "\n";
    row("top pages, site " + std::to_string(by_size.front().second), "landed", "truth", "");
    for (size_t i = 0; i < biggest_truth.size(); ++i) {
      const bool same = i < biggest_landed.size() && biggest_landed[i] == biggest_truth[i];
      std::string path = biggest_truth[i].first;
      if (path.size() > 32) path = path.substr(0, 29) + "...";
      row("  " + path, i < biggest_landed.size() ? num(biggest_landed[i].second) : "-",
          num(biggest_truth[i].second), same ? "ok" : "MISMATCH");
    }
  }
  out << "\n";
  if (!analyst.error().empty()) {
    out << "VERIFY FAILED: " << analyst.error() << "\n";
    return false;
  }
  if (findings.ok()) {
    out << "VERIFY OK\n";
  } else {
    out << "VERIFY FAILED: " << findings.Joined() << "\n";
  }
  return findings.ok();
}

bool WaitForMetrics(const TruthSummary& truth, const std::string& metrics_url, double timeout_s,
                    std::ostream& out) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  uint64_t seen = 0;
  std::string last_error;
  for (;;) {
    const HttpGetResult scrape = HttpGet(metrics_url, 2000);
    if (scrape.error.empty() && scrape.status == 200) {
      const BeaconCounters counters = ParseBeaconCounters(scrape.body);
      seen = counters.accepted + counters.rejected();
      if (seen >= truth.sent_hits) {
        out << "beacond counted " << seen << " hits, the truth sent " << truth.sent_hits
            << (seen == truth.sent_hits ? "\n" : ": more than were sent\n");
        return seen == truth.sent_hits;
      }
    } else {
      last_error = scrape.error.empty() ? "HTTP " + std::to_string(scrape.status) : scrape.error;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  out << "timed out after " << timeout_s << " s: beacond processed " << seen << " of "
      << truth.sent_hits << " hits" << (last_error.empty() ? "" : "; last scrape: " + last_error)
      << "\n";
  return false;
}

}  // namespace beacon::bench
