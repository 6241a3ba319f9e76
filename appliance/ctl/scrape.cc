// Prometheus text exposition back into samples; rates between scrapes.
#include "appliance/ctl/scrape.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace beacon::app {
namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// Reads `{k="v",...}` at `line[*at]`; false when malformed.
bool ParseLabels(std::string_view line, size_t* at, SampleLabels* labels) {
  size_t i = *at + 1;
  while (i < line.size() && line[i] != '}') {
    const size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
    std::string key(line.substr(i, eq - i));
    std::string value;
    size_t j = eq + 2;
    for (; j < line.size() && line[j] != '"'; ++j) {
      if (line[j] == '\\' && j + 1 < line.size()) {
        ++j;
        value.push_back(line[j] == 'n' ? '\n' : line[j]);
      } else {
        value.push_back(line[j]);
      }
    }
    if (j >= line.size()) return false;
    labels->emplace_back(std::move(key), std::move(value));
    i = j + 1;
    if (i < line.size() && line[i] == ',') ++i;
  }
  if (i >= line.size()) return false;
  *at = i + 1;
  return true;
}

bool ParseLine(std::string_view line, Sample* out) {
  size_t i = 0;
  while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
  if (i == 0) return false;
  out->name.assign(line.substr(0, i));
  out->labels.clear();
  if (i < line.size() && line[i] == '{' && !ParseLabels(line, &i, &out->labels)) return false;
  if (i >= line.size() || line[i] != ' ') return false;
  const std::string rest(line.substr(i + 1));
  char* end = nullptr;
  out->value = std::strtod(rest.c_str(), &end);  // also "+Inf", "-Inf", "NaN"
  return end != rest.c_str();
}

bool Matches(const Sample& s, const SampleLabels& match) {
  return std::all_of(match.begin(), match.end(),
                     [&s](const auto& kv) { return s.Label(kv.first) == kv.second; });
}

}  // namespace

std::string_view Sample::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

std::vector<Sample> ParseScrape(std::string_view text) {
  std::vector<Sample> samples;
  Sample sample;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    if (ParseLine(line, &sample)) samples.push_back(sample);
  }
  return samples;
}

double Scrape::Sum(std::string_view name, const SampleLabels& match) const {
  double total = 0;
  for (const Sample& s : samples) {
    if (s.name == name && Matches(s, match)) total += s.value;
  }
  return total;
}

std::map<std::string, double> Scrape::SumBy(std::string_view name, std::string_view label) const {
  std::map<std::string, double> sums;
  for (const Sample& s : samples) {
    if (s.name == name) sums[std::string(s.Label(label))] += s.value;
  }
  return sums;
}

bool Scrape::Has(std::string_view name) const {
  return std::any_of(samples.begin(), samples.end(),
                     [name](const Sample& s) { return s.name == name; });
}

double PerSecond(double before, double after, double seconds) {
  if (seconds <= 0) return 0;
  return (after >= before ? after - before : after) / seconds;
}

double Rate(const Scrape& before, const Scrape& after, std::string_view name,
            const SampleLabels& match) {
  return PerSecond(before.Sum(name, match), after.Sum(name, match), after.time_s - before.time_s);
}

std::map<std::string, double> RatesBy(const Scrape& before, const Scrape& after,
                                      std::string_view name, std::string_view label) {
  const auto was = before.SumBy(name, label);
  std::map<std::string, double> rates;
  for (const auto& [key, value] : after.SumBy(name, label)) {
    const auto it = was.find(key);
    rates[key] = PerSecond(it == was.end() ? 0 : it->second, value, after.time_s - before.time_s);
  }
  return rates;
}

}  // namespace beacon::app
