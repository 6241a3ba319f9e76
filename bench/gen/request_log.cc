// The request log: appending from the sender threads, rebuilding the truth from the model.
#include "bench/gen/request_log.h"

#include <charconv>
#include <map>
#include <sstream>
#include <stdexcept>

namespace beacon::bench {
namespace {

struct LogLine {
  bool acknowledged = false;
  uint64_t id = 0;
  std::vector<uint32_t> minutes;
};

bool ParseLine(const std::string& line, LogLine* out) {
  std::istringstream fields(line);
  std::string kind;
  std::string minutes;
  if (!(fields >> kind >> out->id >> minutes) || (kind != "ack" && kind != "doubt")) return false;
  out->acknowledged = kind == "ack";
  out->minutes.clear();
  for (size_t start = 0; start <= minutes.size();) {
    const size_t comma = std::min(minutes.find(',', start), minutes.size());
    uint32_t minute = 0;
    const auto [end, ec] = std::from_chars(minutes.data() + start, minutes.data() + comma, minute);
    if (ec != std::errc() || end != minutes.data() + comma) return false;
    out->minutes.push_back(minute);
    start = comma + 1;
  }
  return true;
}

}  // namespace

std::string RequestTag(uint64_t id) { return std::string(kRequestTagPrefix) + std::to_string(id); }

RequestLog::RequestLog(const std::string& path) : file_(std::fopen(path.c_str(), "a")) {
  if (file_ == nullptr) throw std::runtime_error("cannot open request log '" + path + "'");
}

RequestLog::~RequestLog() { std::fclose(file_); }

void RequestLog::Append(bool acknowledged, const Request& request,
                        const std::vector<uint32_t>& minutes) {
  std::string line = acknowledged ? "ack\t" : "doubt\t";
  line += std::to_string(request.id);
  for (size_t i = 0; i < minutes.size(); ++i) {
    line += i == 0 ? '\t' : ',';
    line += std::to_string(minutes[i]);
  }
  line += '\n';
  std::lock_guard lock(mu_);
  // Flushed per line, so that a sender killed midway leaves whole lines behind.
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    throw std::runtime_error("cannot write the request log");
  }
}

RebuiltTruth RebuildTruth(const TrafficModel& model, std::istream& log,
                          const std::unordered_set<uint64_t>* archived) {
  // Grouped by chunk, so that each chunk is generated once.
  std::map<uint64_t, std::vector<LogLine>> by_chunk;
  std::string line;
  size_t line_no = 0;
  while (std::getline(log, line)) {
    ++line_no;
    LogLine parsed;
    if (!ParseLine(line, &parsed)) {
      throw std::runtime_error("request log line " + std::to_string(line_no) + ": '" + line + "'");
    }
    by_chunk[parsed.id / TrafficModel::kChunkHits].push_back(std::move(parsed));
  }
  RebuiltTruth out;
  for (const auto& [chunk, lines] : by_chunk) {
    const std::vector<Request> requests = model.Chunk(chunk);
    for (const LogLine& l : lines) {
      const size_t index = l.id % TrafficModel::kChunkHits;
      if (index >= requests.size() || requests[index].hits.size() != l.minutes.size()) {
        throw std::runtime_error("request log: request " + std::to_string(l.id) +
                                 " is not one of this model (other seed or options?)");
      }
      const bool taken = archived != nullptr && archived->count(l.id) > 0;
      if (l.acknowledged) {
        ++out.acknowledged;
        if (archived != nullptr && !taken) ++out.acknowledged_not_archived;
      } else {
        ++out.in_doubt;
        if (!taken) continue;
        ++out.in_doubt_archived;
      }
      for (size_t h = 0; h < l.minutes.size(); ++h) {
        out.truth.Record(requests[index].hits[h], l.minutes[h]);
      }
    }
  }
  return out;
}

std::unordered_set<uint64_t> ReadTagList(std::istream& in, const std::string& source) {
  std::unordered_set<uint64_t> ids;
  std::string line;
  while (std::getline(in, line)) {
    const std::string_view tag(line);
    uint64_t id = 0;
    const bool ok = tag.starts_with(kRequestTagPrefix) && [&] {
      const auto [end, ec] =
          std::from_chars(tag.data() + kRequestTagPrefix.size(), tag.data() + tag.size(), id);
      return ec == std::errc() && end == tag.data() + tag.size();
    }();
    if (!ok) throw std::runtime_error(source + ": expected a request tag, got '" + line + "'");
    ids.insert(id);
  }
  return ids;
}

}  // namespace beacon::bench
