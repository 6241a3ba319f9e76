// Shared by the host/archive tests: a scratch directory and deterministic records.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "kernels/archive/format.h"

namespace beacon::host {

class ScratchDir {
 public:
  ScratchDir() {
    std::string name = (std::filesystem::temp_directory_path() / "archive_test_XXXXXX").string();
    path_ = mkdtemp(name.data());
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string archive() const { return path_ + "/archive"; }

 private:
  std::string path_;
};

// The payload of record `sequence` in the tests: its content names it.
inline std::string TestPayload(uint64_t sequence) {
  return "v=1&t=pageview&tid=UA-1-1&cid=" + std::to_string(sequence * 7919 % 1000) + "&dp=%2Fp%2F" +
         std::to_string(sequence) + std::string(sequence % 50, 'x');
}

inline kernels::ArchiveRecord TestRecord(uint64_t sequence, const std::string& payload) {
  kernels::ArchiveRecord record;
  record.receive_time_ms = 1'700'000'000'000 + static_cast<int64_t>(sequence);
  record.address_hash = sequence * 0x9E3779B97F4A7C15ull;
  record.country = static_cast<uint16_t>(sequence % 250);
  record.payload = payload;
  record.user_agent = "Mozilla/5.0";
  return record;
}

}  // namespace beacon::host
