// Prometheus text exposition.
#include "host/metrics/metrics.h"

#include <cstdio>

namespace beacon::host {
namespace {

void AppendEscaped(std::string* out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

void MetricsWriter::Counter(std::string_view name, std::string_view help, MetricLabels labels,
                            uint64_t value) {
  Sample("counter", name, help, labels, std::to_string(value));
}

void MetricsWriter::Gauge(std::string_view name, std::string_view help, MetricLabels labels,
                          double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  Sample("gauge", name, help, labels, buf);
}

void MetricsWriter::FloatCounter(std::string_view name, std::string_view help, MetricLabels labels,
                                 double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  Sample("counter", name, help, labels, buf);
}

void MetricsWriter::Sample(std::string_view type, std::string_view name, std::string_view help,
                           MetricLabels labels, std::string_view value) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    it = index_.emplace(std::string(name), families_.size()).first;
    std::string head;
    head.append("# HELP ").append(name).append(" ").append(help).append("\n");
    head.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    families_.emplace_back(std::string(name), std::move(head));
  }
  std::string& text = families_[it->second].second;
  text.append(name);
  if (labels.size() > 0) {
    text.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) text.push_back(',');
      first = false;
      text.append(k).append("=\"");
      AppendEscaped(&text, v);
      text.push_back('"');
    }
    text.push_back('}');
  }
  text.push_back(' ');
  text.append(value).push_back('\n');
}

std::string MetricsWriter::text() const {
  std::string out;
  for (const auto& [name, text] : families_) out.append(text);
  return out;
}

void MetricsRegistry::Add(Collector collector) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Scrape() const {
  MetricsWriter writer;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& collect : collectors_) collect(writer);
  return writer.text();
}

}  // namespace beacon::host
