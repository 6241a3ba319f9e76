// The request log of a run that beacond may be killed under: the fate of every request as the
// sender knows it, from which, with the archive's list of the requests beacond took, the exact
// truth is rebuilt. Format: bench/gen/README.md, "Request log".
#pragma once

#include <cstdint>
#include <cstdio>
#include <istream>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "bench/gen/ground_truth.h"
#include "bench/gen/traffic_model.h"

namespace beacon::bench {

// A logged request carries z=<kRequestTagPrefix><id> on its first hit (GA ignores z), so that
// its record in beacond's archive names it.
inline constexpr std::string_view kRequestTagPrefix = "bg";
std::string RequestTag(uint64_t id);

// Appends one flushed line per request; safe to call from every sender thread.
class RequestLog {
 public:
  explicit RequestLog(const std::string& path);  // appends; throws when it cannot open
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // `acknowledged`: answered 2xx; else in doubt (written, the connection lost before its
  // answer: beacond may or may not have taken it). `minutes`: each hit's event minute.
  void Append(bool acknowledged, const Request& request, const std::vector<uint32_t>& minutes);

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
};

struct RebuiltTruth {
  GroundTruth truth;  // the acknowledged requests and the archived requests in doubt
  uint64_t acknowledged = 0;
  uint64_t in_doubt = 0;
  uint64_t in_doubt_archived = 0;
  uint64_t acknowledged_not_archived = 0;  // with an archive list: each one a lost request
};

// Rebuilds the requests of `log` from `model` (the one they were sent from). `archived`: the
// ids of the requests found in the archive, or null to count every request in doubt as lost.
// Throws std::runtime_error on a malformed line or a line that does not fit the model.
RebuiltTruth RebuildTruth(const TrafficModel& model, std::istream& log,
                          const std::unordered_set<uint64_t>* archived);

// Reads the ids of a tag list (one z= value per line, e.g. "bg1234"; other lines are errors).
std::unordered_set<uint64_t> ReadTagList(std::istream& in, const std::string& source);

}  // namespace beacon::bench
