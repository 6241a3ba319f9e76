// Ground truth accumulation and the truth file's text form.
#include "bench/gen/ground_truth.h"

#include <sstream>
#include <vector>

#include <stdexcept>
#include "kernels/aggregate/top_values.h"
#include "kernels/bytes/hash.h"

namespace beacon::bench {

void GroundTruth::Record(const Hit& hit, uint32_t minute) {
  ++sent_hits_;
  if (hit.reject) {
    ++rejects_[std::string(kernels::RejectReasonName(*hit.reject))];
    return;
  }
  Cell& cell = site_minutes_[{hit.site_id, minute}];
  if (hit.kind == kernels::EventKind::kPageview) {
    ++cell.pageviews;
    ++pages_[{hit.site_id, hit.path}];
  } else {
    ++cell.events;
  }
  cell.visitors.insert(hit.visitor);
  site_visitors_[hit.site_id].insert(hit.visitor);

  const bool pageview = hit.kind == kernels::EventKind::kPageview;
  const uint64_t visitor = kernels::Hash64(hit.visitor, 0);
  auto count = [&](kernels::Dimension d, std::string_view value) {
    if (value.empty()) return;  // no value, no row
    const std::string dimension(kernels::DimensionName(d));
    auto& [pageviews, events] = breakdowns_[{hit.site_id, minute, dimension, std::string(value)}];
    ++(pageview ? pageviews : events);
    breakdown_visitors_[{hit.site_id, dimension, std::string(value)}].insert(visitor);
  };
  count(kernels::Dimension::kPage, pageview ? std::string_view(hit.path) : std::string_view());
  count(kernels::Dimension::kReferrer, hit.referrer);
  count(kernels::Dimension::kUtmSource, hit.utm_source);
  count(kernels::Dimension::kUtmMedium, hit.utm_medium);
  count(kernels::Dimension::kUtmCampaign, hit.utm_campaign);
  count(kernels::Dimension::kCountry, hit.country);
  if (hit.agent != nullptr) {
    count(kernels::Dimension::kDevice, hit.agent->device);
    count(kernels::Dimension::kBrowser, hit.agent->browser);
    count(kernels::Dimension::kOs, hit.agent->os);
  }
  count(kernels::Dimension::kEventName, hit.event_name);
}

void GroundTruth::Merge(const GroundTruth& other) {
  sent_hits_ += other.sent_hits_;
  for (const auto& [key, cell] : other.site_minutes_) {
    Cell& mine = site_minutes_[key];
    mine.pageviews += cell.pageviews;
    mine.events += cell.events;
    mine.visitors.insert(cell.visitors.begin(), cell.visitors.end());
  }
  for (const auto& [site, visitors] : other.site_visitors_) {
    site_visitors_[site].insert(visitors.begin(), visitors.end());
  }
  for (const auto& [key, n] : other.pages_) pages_[key] += n;
  for (const auto& [reason, n] : other.rejects_) rejects_[reason] += n;
  for (const auto& [key, counts] : other.breakdowns_) {
    breakdowns_[key].first += counts.first;
    breakdowns_[key].second += counts.second;
  }
  for (const auto& [key, visitors] : other.breakdown_visitors_) {
    breakdown_visitors_[key].insert(visitors.begin(), visitors.end());
  }
}

TruthSummary GroundTruth::Summary() const {
  TruthSummary s;
  s.sent_hits = sent_hits_;
  uint64_t rejected = 0;
  for (const auto& [reason, n] : rejects_) rejected += n;
  s.accepted = sent_hits_ - rejected;
  for (const auto& [key, cell] : site_minutes_) {
    s.site_minutes[key] = {cell.pageviews, cell.events, cell.visitors.size()};
  }
  for (const auto& [site, visitors] : site_visitors_) s.site_visitors[site] = visitors.size();
  s.pages = pages_;
  s.rejects = rejects_;
  for (const auto& [key, counts] : breakdowns_) {
    s.breakdowns[key] = {counts.first, counts.second, 0};
  }
  for (const auto& [key, visitors] : breakdown_visitors_) {
    s.breakdown_visitors[key] = visitors.size();
  }
  return s;
}

void TruthSummary::Add(const TruthSummary& other) {
  sent_hits += other.sent_hits;
  accepted += other.accepted;
  for (const auto& [key, cell] : other.site_minutes) {
    SiteMinute& sum = site_minutes[key];
    sum.pageviews += cell.pageviews;
    sum.events += cell.events;
    sum.visitors += cell.visitors;
  }
  for (const auto& [key, cell] : other.breakdowns) {
    SiteMinute& sum = breakdowns[key];
    sum.pageviews += cell.pageviews;
    sum.events += cell.events;
    sum.visitors += cell.visitors;
  }
  const auto add = [](auto& into, const auto& from) {
    for (const auto& [key, n] : from) into[key] += n;
  };
  add(site_visitors, other.site_visitors);
  add(pages, other.pages);
  add(rejects, other.rejects);
  add(breakdown_visitors, other.breakdown_visitors);
}

void TruthSummary::Write(std::ostream& out) const {
  out << "# beacon-gen ground truth; format: bench/gen/README.md\n";
  out << "sent_hits\t" << sent_hits << "\n";
  out << "accepted\t" << accepted << "\n";
  for (const auto& [reason, n] : rejects) out << "reject\t" << reason << "\t" << n << "\n";
  for (const auto& [key, c] : site_minutes) {
    out << "site_minute\t" << key.first << "\t" << key.second << "\t" << c.pageviews << "\t"
        << c.events << "\t" << c.visitors << "\n";
  }
  for (const auto& [site, n] : site_visitors) out << "site_visitors\t" << site << "\t" << n << "\n";
  for (const auto& [key, n] : pages) {
    out << "page\t" << key.first << "\t" << key.second << "\t" << n << "\n";
  }
  for (const auto& [key, c] : breakdowns) {
    const auto& [site, minute, dimension, value] = key;
    out << "breakdown\t" << site << "\t" << minute << "\t" << dimension << "\t" << value << "\t"
        << c.pageviews << "\t" << c.events << "\n";
  }
  for (const auto& [key, n] : breakdown_visitors) {
    const auto& [site, dimension, value] = key;
    out << "breakdown_visitors\t" << site << "\t" << dimension << "\t" << value << "\t" << n
        << "\n";
  }
}

TruthSummary TruthSummary::Read(std::istream& in, const std::string& source) {
  TruthSummary s;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    bool ok = true;
    if (kind == "sent_hits") {
      ok = static_cast<bool>(fields >> s.sent_hits);
    } else if (kind == "accepted") {
      ok = static_cast<bool>(fields >> s.accepted);
    } else if (kind == "reject") {
      std::string reason;
      uint64_t n = 0;
      ok = static_cast<bool>(fields >> reason >> n);
      s.rejects[reason] += n;
    } else if (kind == "site_minute") {
      uint32_t site = 0, minute = 0;
      SiteMinute c;
      ok = static_cast<bool>(fields >> site >> minute >> c.pageviews >> c.events >> c.visitors);
      s.site_minutes[{site, minute}] = c;
    } else if (kind == "site_visitors") {
      uint32_t site = 0;
      uint64_t n = 0;
      ok = static_cast<bool>(fields >> site >> n);
      s.site_visitors[site] = n;
    } else if (kind == "breakdown" || kind == "breakdown_visitors") {
      // Values may hold spaces ("Chrome Mobile"): these rows are split on tabs only.
      std::vector<std::string> cols;
      for (size_t start = 0;;) {
        const size_t tab = line.find('\t', start);
        cols.push_back(line.substr(start, tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
      }
      try {
        if (kind == "breakdown" && cols.size() == 7) {
          s.breakdowns[{static_cast<uint32_t>(std::stoul(cols[1])),
                        static_cast<uint32_t>(std::stoul(cols[2])), cols[3], cols[4]}] = {
              std::stoull(cols[5]), std::stoull(cols[6]), 0};
        } else if (kind == "breakdown_visitors" && cols.size() == 5) {
          s.breakdown_visitors[{static_cast<uint32_t>(std::stoul(cols[1])), cols[2], cols[3]}] =
              std::stoull(cols[4]);
        } else {
          ok = false;
        }
      } catch (const std::exception&) {
        ok = false;
      }
    } else if (kind == "page") {
      uint32_t site = 0;
      std::string path;
      uint64_t n = 0;
      ok = static_cast<bool>(fields >> site >> path >> n);
      s.pages[{site, path}] = n;
    } else {
      ok = false;
    }
    if (!ok) {
      throw std::runtime_error(
          source + ":" + std::to_string(line_no) + ": expected 'sent_hits', " +
          "'accepted', 'reject', 'site_minute', 'site_visitors', 'page', 'breakdown' or " +
          "'breakdown_visitors' " + "with its columns, got '" + line + "'");
    }
  }
  return s;
}

}  // namespace beacon::bench
