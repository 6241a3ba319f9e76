// Verification against ClickHouse and beacond's Prometheus counters.
#include "bench/gen/verify.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "host/forward/clickhouse_client.h"
#include "kernels/aggregate/top_values.h"
#include "kernels/unix_time.h"

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

namespace {

using SitePageviews = std::map<uint32_t, uint64_t>;

// Hits (pageviews + events) missing from the keys where fewer landed than the truth holds, and
// the surplus where more landed: the loss and the double counting, however keys net out.
struct KeyDiscrepancy {
  uint64_t lost = 0, doubled = 0;
  void Count(std::pair<uint64_t, uint64_t> truth, std::pair<uint64_t, uint64_t> landed) {
    for (const auto& [t, l] :
         {std::pair{truth.first, landed.first}, {truth.second, landed.second}}) {
      (t > l ? lost : doubled) += t > l ? t - l : l - t;
    }
  }
};

// Check 1: pageviews and events per (site, minute), exact, same key set.
struct SiteMinuteCheck {
  std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, uint64_t>> landed;
  uint64_t truth_pv = 0, truth_ev = 0, landed_pv = 0, landed_ev = 0;
  bool ok = true;
  SitePageviews truth_site_pv, landed_site_pv;
  KeyDiscrepancy discrepancy;
};

SiteMinuteCheck CheckSiteMinutes(const TruthSummary& truth, Analyst& analyst, Findings& findings) {
  SiteMinuteCheck check;
  auto& landed = check.landed;
  for (const auto& row :
       analyst.Query("SELECT site_id, toUInt32(toUnixTimestamp(minute) / 60) AS m, sum(pageviews), "
                     "sum(events) FROM {db}.site_minutes GROUP BY site_id, m",
                     4)) {
    landed[{static_cast<uint32_t>(ToU64(row[0])), static_cast<uint32_t>(ToU64(row[1]))}] = {
        ToU64(row[2]), ToU64(row[3])};
  }
  size_t missing = 0, extra = 0, differing = 0;
  std::string example;
  for (const auto& [key, cell] : truth.site_minutes) {
    check.truth_pv += cell.pageviews;
    check.truth_ev += cell.events;
    check.truth_site_pv[key.first] += cell.pageviews;
    const auto it = landed.find(key);
    check.discrepancy.Count({cell.pageviews, cell.events},
                            it == landed.end() ? std::pair<uint64_t, uint64_t>{} : it->second);
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
    check.landed_pv += counts.first;
    check.landed_ev += counts.second;
    check.landed_site_pv[key.first] += counts.first;
    if (truth.site_minutes.count(key) > 0) continue;
    check.discrepancy.Count({}, counts);
    if (extra++ == 0 && example.empty()) {
      example = Format("site %u minute %u not in the truth", key.first, key.second);
    }
  }
  check.ok = missing + extra + differing == 0;
  if (!check.ok) {
    findings.Fail(Format("site_minutes: %zu (site, minute) keys missing, %zu extra, %zu differ (",
                         missing, extra, differing) +
                  example + ")");
  }
  return check;
}

// Check 2: visitors per site over the whole run, within the sketch's error.
struct VisitorCheck {
  std::map<uint32_t, uint64_t> landed;
  double worst_error = 0;
  uint32_t worst_site = 0;
};

VisitorCheck CheckVisitors(const TruthSummary& truth, const VerifyOptions& options,
                           Analyst& analyst, Findings& findings) {
  VisitorCheck check;
  for (const auto& row : analyst.Query(
           "SELECT site_id, uniqHLL12Merge(visitors) FROM {db}.site_minutes GROUP BY site_id", 2)) {
    check.landed[static_cast<uint32_t>(ToU64(row[0]))] = ToU64(row[1]);
  }
  size_t failures = 0;
  for (const auto& [site, expected] : truth.site_visitors) {
    const auto it = check.landed.find(site);
    const uint64_t got = it == check.landed.end() ? 0 : it->second;
    const double diff = std::fabs(static_cast<double>(got) - static_cast<double>(expected));
    const double relative = expected > 0 ? diff / static_cast<double>(expected) : diff;
    if (relative >= check.worst_error) {
      check.worst_error = relative;
      check.worst_site = site;
    }
    if (diff > std::max(1.0, options.visitor_error * static_cast<double>(expected))) ++failures;
  }
  if (failures > 0) {
    findings.Fail(
        Format("visitors: %zu sites beyond max(1, %.3f x truth); worst site %u off by "
               "%.2f%%",
               failures, options.visitor_error, check.worst_site, 100 * check.worst_error));
  }
  return check;
}

// Check 3: every breakdown row, per (site, minute, dimension, value): pageviews and events
// exact (the generator stays within every top-K, so nothing may be folded); and the page
// dimension holds the same pageviews per site as site_minutes. Returns the rows per
// dimension: landed, truth.
std::map<std::string, std::pair<size_t, size_t>> CheckBreakdowns(
    const TruthSummary& truth, const SitePageviews& landed_site_pv, Analyst& analyst,
    Findings& findings, KeyDiscrepancy* discrepancy) {
  std::map<TruthSummary::BreakdownKey, std::pair<uint64_t, uint64_t>> landed;
  for (const auto& row : analyst.Query(
           "SELECT site_id, toUInt32(toUnixTimestamp(minute) / 60) AS m, dimension, value, "
           "sum(pageviews), sum(events) FROM {db}.breakdown_minutes "
           "GROUP BY site_id, m, dimension, value",
           6)) {
    landed[{static_cast<uint32_t>(ToU64(row[0])), static_cast<uint32_t>(ToU64(row[1])), row[2],
            row[3]}] = {ToU64(row[4]), ToU64(row[5])};
  }
  size_t missing = 0, extra = 0, differing = 0;
  std::string example;
  std::map<std::string, std::pair<size_t, size_t>> rows_per_dimension;
  SitePageviews page_dimension_pv;
  for (const auto& [key, cell] : truth.breakdowns) {
    const auto& [site, minute, dimension, value] = key;
    ++rows_per_dimension[dimension].second;
    const auto it = landed.find(key);
    discrepancy->Count({cell.pageviews, cell.events},
                       it == landed.end() ? std::pair<uint64_t, uint64_t>{} : it->second);
    if (it == landed.end()) {
      if (missing++ == 0 && example.empty()) {
        example = Format("site %u minute %u %s '%s' missing", site, minute, dimension.c_str(),
                         value.c_str());
      }
    } else if (it->second != std::make_pair(cell.pageviews, cell.events)) {
      if (differing++ == 0 && example.empty()) {
        example = Format("site %u minute %u %s '%s': landed %lu pv / %lu ev, truth %lu / %lu", site,
                         minute, dimension.c_str(), value.c_str(), it->second.first,
                         it->second.second, cell.pageviews, cell.events);
      }
    }
  }
  for (const auto& [key, counts] : landed) {
    const auto& [site, minute, dimension, value] = key;
    ++rows_per_dimension[dimension].first;
    if (dimension == "page") page_dimension_pv[site] += counts.first;
    if (truth.breakdowns.count(key) > 0) continue;
    discrepancy->Count({}, counts);
    if (extra++ == 0 && example.empty()) {
      example = Format("site %u minute %u %s '%s' not in the truth", site, minute,
                       dimension.c_str(), value.c_str());
    }
  }
  if (missing + extra + differing > 0) {
    findings.Fail(Format("breakdown_minutes: %zu (site, minute, dimension, value) keys missing, "
                         "%zu extra, %zu differ (",
                         missing, extra, differing) +
                  example + ")");
  }
  for (const auto& [site, pv] : landed_site_pv) {
    const uint64_t pages = page_dimension_pv.count(site) ? page_dimension_pv.at(site) : 0;
    if (pages != pv) {
      findings.Fail(Format("site %u: the page breakdown holds %lu pageviews, site_minutes %lu",
                           site, pages, pv));
    }
  }
  return rows_per_dimension;
}

// The `top_sites` sites with the most pageviews in the truth, as (pageviews, site), largest
// first.
std::vector<std::pair<uint64_t, uint32_t>> LargestSites(const SitePageviews& truth_site_pv,
                                                        size_t top_sites) {
  std::vector<std::pair<uint64_t, uint32_t>> by_size;
  for (const auto& [site, pv] : truth_site_pv) by_size.emplace_back(pv, site);
  std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (by_size.size() > top_sites) by_size.resize(top_sites);
  return by_size;
}

// The run's minutes, first to last, and the SQL condition that selects them.
struct MinuteRange {
  uint32_t first = ~0u, last = 0;

  explicit MinuteRange(const TruthSummary& truth) {
    for (const auto& [key, cell] : truth.site_minutes) {
      first = std::min(first, key.second);
      last = std::max(last, key.second);
    }
  }
  std::string Sql() const {
    return Format("minute >= toDateTime(%lld) AND minute < toDateTime(%lld)",
                  static_cast<long long>(kernels::MinuteStartSecond(first)),
                  static_cast<long long>(kernels::MinuteStartSecond(last + 1)));
  }
};

struct TopRow {
  std::string value;
  uint64_t pageviews = 0, events = 0, visitors = 0;
};

// The truth's answer to the top-10 query: the dimension's values of `site` by hits, ties by
// value.
std::vector<TopRow> ExpectedTop(const TruthSummary& truth, uint32_t site,
                                const std::string& dimension) {
  std::map<std::string, TopRow> totals;
  for (auto it = truth.breakdowns.lower_bound({site, 0, std::string(), std::string()});
       it != truth.breakdowns.end() && std::get<0>(it->first) == site; ++it) {
    if (std::get<2>(it->first) != dimension) continue;
    TopRow& row = totals[std::get<3>(it->first)];
    row.value = std::get<3>(it->first);
    row.pageviews += it->second.pageviews;
    row.events += it->second.events;
  }
  std::vector<TopRow> expected;
  for (auto& [value, row] : totals) {
    const auto v = truth.breakdown_visitors.find({site, dimension, value});
    row.visitors = v == truth.breakdown_visitors.end() ? 0 : v->second;
    expected.push_back(row);
  }
  std::sort(expected.begin(), expected.end(), [](const TopRow& a, const TopRow& b) {
    const uint64_t ha = a.pageviews + a.events, hb = b.pageviews + b.events;
    return ha != hb ? ha > hb : a.value < b.value;
  });
  if (expected.size() > 10) expected.resize(10);
  return expected;
}

std::vector<TopRow> LandedTop(Analyst& analyst, uint32_t site, const std::string& dimension,
                              const MinuteRange& minutes) {
  std::vector<TopRow> got;
  for (const auto& row : analyst.Query(
           Format("SELECT value, sum(pageviews) AS pageviews, sum(events) AS events, "
                  "uniqHLL12Merge(visitors) AS visitors FROM {db}.breakdown_minutes "
                  "WHERE site_id = %u AND dimension = '%s' AND ",
                  site, dimension.c_str()) +
               minutes.Sql() + " GROUP BY value ORDER BY pageviews + events DESC, value LIMIT 10",
           4)) {
    got.push_back({row[0], ToU64(row[1]), ToU64(row[2]), ToU64(row[3])});
  }
  return got;
}

// Compares one site's landed top values of `dimension` with the truth's: values, pageviews
// and events exact, visitors within the sketch's error. Raises `worst_visitors` to the worst
// relative visitor error seen.
void CompareTop(const std::vector<TopRow>& got, const std::vector<TopRow>& expected, uint32_t site,
                const std::string& dimension, const VerifyOptions& options, double* worst_visitors,
                Findings& findings) {
  for (size_t i = 0; i < std::max(got.size(), expected.size()); ++i) {
    const bool have_got = i < got.size(), have_expected = i < expected.size();
    if (!have_got || !have_expected || got[i].value != expected[i].value ||
        got[i].pageviews != expected[i].pageviews || got[i].events != expected[i].events) {
      findings.Fail(Format(
          "top %s of site %u differ at rank %zu: landed %s %lu/%lu, truth "
          "%s %lu/%lu",
          dimension.c_str(), site, i + 1, have_got ? got[i].value.c_str() : "-",
          have_got ? got[i].pageviews : 0, have_got ? got[i].events : 0,
          have_expected ? expected[i].value.c_str() : "-",
          have_expected ? expected[i].pageviews : 0, have_expected ? expected[i].events : 0));
      return;
    }
    const double want = static_cast<double>(expected[i].visitors);
    const double diff = std::fabs(static_cast<double>(got[i].visitors) - want);
    if (want > 0) *worst_visitors = std::max(*worst_visitors, diff / want);
    // Many small rows (17..40 visitors) share their visitors across dimensions, so their
    // estimates err together: allow uniqHLL12's largest error measured at 20..60 distinct
    // (3..4 values, docs/analyst-queries.md) besides the relative bound.
    if (diff > std::max(4.0, options.visitor_error * want)) {
      findings.Fail(Format("top %s of site %u: '%s' has %lu visitors, truth %lu", dimension.c_str(),
                           site, got[i].value.c_str(), got[i].visitors, expected[i].visitors));
    }
  }
}

// Check 4: the documented top-10 query of every dimension (docs/analyst-queries.md, "Top
// values of a dimension") for the largest sites over the run's minutes.
struct TopCheck {
  // dimension -> (landed, truth) of the largest site's first three rows
  std::map<std::string, std::vector<std::pair<TopRow, TopRow>>> biggest;
  double worst_visitors = 0;
};

TopCheck CheckTopValues(const TruthSummary& truth, const VerifyOptions& options,
                        const std::vector<std::pair<uint64_t, uint32_t>>& by_size,
                        const MinuteRange& minutes, Analyst& analyst, Findings& findings) {
  TopCheck check;
  for (const auto& [pv, site] : by_size) {
    for (const kernels::Dimension d : kernels::kDimensions) {
      const std::string dimension(kernels::DimensionName(d));
      const std::vector<TopRow> expected = ExpectedTop(truth, site, dimension);
      const std::vector<TopRow> got = LandedTop(analyst, site, dimension, minutes);
      CompareTop(got, expected, site, dimension, options, &check.worst_visitors, findings);
      if (site != by_size.front().second) continue;
      auto& rows = check.biggest[dimension];
      for (size_t i = 0; i < std::min<size_t>(3, expected.size()); ++i) {
        rows.emplace_back(i < got.size() ? got[i] : TopRow{"-", 0, 0, 0}, expected[i]);
      }
    }
  }
  return check;
}

// Check 5: the documented "shares of a dimension, per day" query for `site`'s devices: hits
// exact per (day, device).
void CheckDeviceDays(const TruthSummary& truth, uint32_t site, const MinuteRange& minutes,
                     Analyst& analyst, Findings& findings) {
  std::map<std::pair<std::string, std::string>, uint64_t> expected, got;
  for (const auto& [key, cell] : truth.breakdowns) {
    const auto& [s, minute, dimension, value] = key;
    if (s == site && dimension == "device") {
      const time_t seconds = kernels::MinuteStartSecond(minute);
      tm day{};
      gmtime_r(&seconds, &day);
      expected[{Format("%04d-%02d-%02d", day.tm_year + 1900, day.tm_mon + 1, day.tm_mday),
                value}] += cell.pageviews + cell.events;
    }
  }
  for (const auto& row :
       analyst.Query(Format("SELECT toDate(minute, 'UTC') AS day, "
                            "value AS device, sum(pageviews + events) AS hits, "
                            "uniqHLL12Merge(visitors) AS visitors FROM {db}.breakdown_minutes "
                            "WHERE site_id = %u AND dimension = 'device' AND ",
                            site) +
                         minutes.Sql() + " GROUP BY day, device ORDER BY day, hits DESC",
                     4)) {
    got[{row[0], row[1]}] = ToU64(row[2]);
  }
  if (got != expected) {
    findings.Fail(Format("device hits per day of site %u differ (%zu landed rows, %zu truth)", site,
                         got.size(), expected.size()));
  }
}

// Check 6: beacond's counters, when there is a metrics URL. Empty when there is none or the
// scrape failed.
std::optional<BeaconCounters> CheckCounters(const TruthSummary& truth, const VerifyOptions& options,
                                            Findings& findings) {
  if (options.metrics_url.empty()) return std::nullopt;
  const HttpGetResult scrape = HttpGet(options.metrics_url, 5000);
  if (!scrape.error.empty() || scrape.status != 200) {
    findings.Fail("metrics scrape of " + options.metrics_url + " failed: " +
                  (scrape.error.empty() ? "HTTP " + std::to_string(scrape.status) : scrape.error));
    return std::nullopt;
  }
  BeaconCounters counters = ParseBeaconCounters(scrape.body);
  if (counters.accepted != truth.accepted) {
    findings.Fail(Format("beacond_events_accepted_total is %lu, truth %lu", counters.accepted,
                         truth.accepted));
  }
  std::map<std::string, uint64_t> reasons = truth.rejects;
  for (const auto& [reason, n] : counters.rejects) reasons.emplace(reason, 0);
  for (const auto& [reason, expected] : reasons) {
    const uint64_t got = counters.rejects.count(reason) ? counters.rejects.at(reason) : 0;
    if (got != expected) {
      findings.Fail(Format("beacond_rejects_total{reason=\"%s\"} is %lu, truth %lu", reason.c_str(),
                           got, expected));
    }
  }
  return counters;
}

// The operator's table: label, landed, truth, verdict.
class Table {
 public:
  explicit Table(std::ostream& out) : out_(out) {}

  void Row(const std::string& label, const std::string& landed, const std::string& truth,
           const std::string& note) {
    std::string line =
        Format("%-34s %14s %14s  %s", label.c_str(), landed.c_str(), truth.c_str(), note.c_str());
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out_ << line << "\n";
  }
  void Compare(const std::string& label, uint64_t got, uint64_t expected) {
    Row(label, Num(got), Num(expected), got == expected ? "ok" : "MISMATCH");
  }
  static std::string Num(uint64_t n) { return std::to_string(n); }

 private:
  std::ostream& out_;
};

void ReportHits(const TruthSummary& truth, const std::optional<BeaconCounters>& counters,
                const SiteMinuteCheck& sites, Table& table) {
  uint64_t truth_rejected = 0;
  for (const auto& [reason, n] : truth.rejects) truth_rejected += n;
  table.Row("", "landed", "truth", "");
  if (counters.has_value()) {
    table.Compare("hits counted by beacond", counters->accepted + counters->rejected(),
                  truth.sent_hits);
    table.Compare("  accepted", counters->accepted, truth.accepted);
    table.Compare("  rejected", counters->rejected(), truth_rejected);
    for (const auto& [reason, n] : truth.rejects) {
      table.Compare("    " + reason,
                    counters->rejects.count(reason) ? counters->rejects.at(reason) : 0, n);
    }
  } else {
    table.Row("hits sent", "", Table::Num(truth.sent_hits),
              "(no --metrics-url: counters not checked)");
    table.Row("  accepted", "", Table::Num(truth.accepted), "");
    table.Row("  rejected", "", Table::Num(truth_rejected), "");
  }
  table.Compare("pageviews", sites.landed_pv, sites.truth_pv);
  table.Compare("events", sites.landed_ev, sites.truth_ev);
  table.Row("(site, minute) rows", Table::Num(sites.landed.size()),
            Table::Num(truth.site_minutes.size()), sites.ok ? "ok" : "MISMATCH");
  table.Compare("hits lost, per (site, minute)", sites.discrepancy.lost, 0);
  table.Compare("hits doubled, per (site, minute)", sites.discrepancy.doubled, 0);
}

void ReportVisitors(const TruthSummary& truth, const VerifyOptions& options,
                    const std::vector<std::pair<uint64_t, uint32_t>>& by_size,
                    const VisitorCheck& visitors, Table& table) {
  table.Row("unique visitors, largest sites", "landed", "truth", "error");
  for (const auto& [pv, site] : by_size) {
    const uint64_t expected = truth.site_visitors.count(site) ? truth.site_visitors.at(site) : 0;
    const uint64_t got = visitors.landed.count(site) ? visitors.landed.at(site) : 0;
    const double error = expected
                             ? 100.0 * (static_cast<double>(got) - static_cast<double>(expected)) /
                                   static_cast<double>(expected)
                             : 0;
    table.Row("  site " + std::to_string(site), Table::Num(got), Table::Num(expected),
              Format("%+.2f%%", error));
  }
  table.Row("  worst of all " + std::to_string(truth.site_visitors.size()) + " sites", "", "",
            Format("%.2f%% (site %u; allowed %.1f%%)", 100 * visitors.worst_error,
                   visitors.worst_site, 100 * options.visitor_error));
}

void ReportBreakdowns(const VerifyOptions& options,
                      const std::map<std::string, std::pair<size_t, size_t>>& rows_per_dimension,
                      const KeyDiscrepancy& discrepancy, const TopCheck& top, Table& table) {
  table.Row("breakdown rows, by dimension", "landed", "truth", "");
  table.Compare("  counts lost, per value", discrepancy.lost, 0);
  table.Compare("  counts doubled, per value", discrepancy.doubled, 0);
  for (const auto& [dimension, counts] : rows_per_dimension) {
    table.Row("  " + dimension, Table::Num(counts.first), Table::Num(counts.second),
              counts.first == counts.second ? "" : "MISMATCH");
  }
  table.Row(
      "  worst visitors of a top value", "", "",
      Format("%.2f%% (allowed %.1f%%)", 100 * top.worst_visitors, 100 * options.visitor_error));
}

void ReportBiggestSiteTop(uint32_t site, const TopCheck& top, Table& table) {
  table.Row("top 3 per dimension, site " + std::to_string(site), "landed", "truth",
            "pageviews/events/visitors");
  for (const auto& [dimension, rows] : top.biggest) {
    for (const auto& [got, expected] : rows) {
      std::string value = expected.value;
      if (value.size() > 24) value = value.substr(0, 21) + "...";
      table.Row("  " + dimension + " " + value,
                Format("%lu/%lu/%lu", got.pageviews, got.events, got.visitors),
                Format("%lu/%lu/%lu", expected.pageviews, expected.events, expected.visitors),
                got.value == expected.value && got.pageviews == expected.pageviews &&
                        got.events == expected.events
                    ? "ok"
                    : "MISMATCH");
    }
  }
}

}  // namespace

bool Verify(const TruthSummary& truth, const VerifyOptions& options, std::ostream& out) {
  Findings findings;
  Analyst analyst(options);
  const SiteMinuteCheck sites = CheckSiteMinutes(truth, analyst, findings);
  const VisitorCheck visitors = CheckVisitors(truth, options, analyst, findings);
  KeyDiscrepancy breakdown_discrepancy;
  const auto rows_per_dimension =
      CheckBreakdowns(truth, sites.landed_site_pv, analyst, findings, &breakdown_discrepancy);
  const auto by_size = LargestSites(sites.truth_site_pv, options.top_sites);
  const MinuteRange minutes(truth);
  const TopCheck top = CheckTopValues(truth, options, by_size, minutes, analyst, findings);
  if (!by_size.empty()) CheckDeviceDays(truth, by_size.front().second, minutes, analyst, findings);
  const std::optional<BeaconCounters> counters = CheckCounters(truth, options, findings);

  out << "beacon-gen verify: ClickHouse " << options.clickhouse_url << ", database "
      << options.database << "\n\n";
  Table table(out);
  ReportHits(truth, counters, sites, table);
  out << "\n";
  ReportVisitors(truth, options, by_size, visitors, table);
  ReportBreakdowns(options, rows_per_dimension, breakdown_discrepancy, top, table);
  if (!by_size.empty()) {
    out << "\n";
    ReportBiggestSiteTop(by_size.front().second, top, table);
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
