// Dead letters: <id>.rec written with the spool's WriteRecordFile, <id>.info beside it.
#include "host/forward/dead_letter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "host/forward/spool.h"
#include "host/private_dir.h"

namespace beacon::host {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRecord = ".rec";
constexpr std::string_view kInfo = ".info";

std::string UtcNow(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// <unix ns>-s<shard>: one shard's sender makes its dead letters one at a time.
std::string NewId(std::chrono::system_clock::time_point now, uint32_t shard) {
  return std::to_string(
             std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()) +
         "-s" + std::to_string(shard);
}

// One line: the sidecar is line-oriented.
std::string OneLine(std::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return line;
}

// An id names a file in the directory: digits, letters and '-' only.
bool ValidId(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
  });
}

// The shard an id names (<ns>-s<shard>); 0 when it names none.
uint32_t ShardOfId(std::string_view id) {
  const size_t at = id.rfind("-s");
  if (at == std::string_view::npos) return 0;
  uint32_t shard = 0;
  for (const char c : id.substr(at + 2)) {
    if (c < '0' || c > '9') return 0;
    shard = shard * 10 + static_cast<uint32_t>(c - '0');
  }
  return shard;
}

bool WriteText(const std::string& path, const std::string& text, bool fsync, std::string* error) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            (!fsync || fdatasync(fd) == 0);
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) return true;
  *error = "cannot write '" + path + "': " + std::strerror(errno);
  unlink(tmp.c_str());
  return false;
}

}  // namespace

DeadLetters::DeadLetters(std::string spool_dir, uint64_t max_bytes, bool fsync)
    : spool_dir_(std::move(spool_dir)),
      dir_(spool_dir_ + "/dead-letter"),
      max_bytes_(max_bytes),
      fsync_(fsync) {
  EnsurePrivateDirectory(dir_, "dead-letter directory");
  RestrictFiles(dir_);
}

std::string DeadLetters::ShardDir(const std::string& spool_dir, uint32_t shard) {
  return spool_dir + "/shard-" + std::to_string(shard);
}

std::string DeadLetters::PathOf(std::string_view id, std::string_view extension) const {
  return dir_ + "/" + std::string(id) + std::string(extension);
}

bool DeadLetters::Put(uint32_t shard, std::string_view payload, std::string_view table,
                      std::string_view reason, std::string* id, std::string* error) {
  uint64_t held = 0;
  for (const DeadLetter& letter : List()) held += letter.bytes;
  if (held > 0 && held + Spool::RecordBytes(payload.size()) > max_bytes_) {
    *error = "the dead-letter directory " + dir_ + " is full (" + std::to_string(held) + " bytes)";
    return false;
  }
  const auto now = std::chrono::system_clock::now();
  *id = NewId(now, shard);
  const std::string info = "shard " + std::to_string(shard) + "\ntable " + OneLine(table) +
                           "\ntime " + UtcNow(now) + "\nerror " + OneLine(reason) + "\n";
  if (!WriteRecordFile(PathOf(*id, kRecord), payload, fsync_, error)) return false;
  if (!WriteText(PathOf(*id, kInfo), info, fsync_, error) || (fsync_ && !SyncDirectory(dir_))) {
    if (error->empty()) *error = "cannot sync " + dir_ + ": " + std::strerror(errno);
    unlink(PathOf(*id, kRecord).c_str());
    unlink(PathOf(*id, kInfo).c_str());
    return false;
  }
  return true;
}

bool DeadLetters::Take(const std::string& path, uint32_t shard, std::string_view reason) {
  const auto now = std::chrono::system_clock::now();
  const std::string id = NewId(now, shard);
  const std::string info = "shard " + std::to_string(shard) + "\ntable -\ntime " + UtcNow(now) +
                           "\nerror " + OneLine(reason) + " " + path + "\n";
  std::string error;
  if (!WriteText(PathOf(id, kInfo), info, fsync_, &error)) return false;
  if (std::rename(path.c_str(), PathOf(id, kRecord).c_str()) != 0) {
    unlink(PathOf(id, kInfo).c_str());
    return false;
  }
  if (fsync_) {
    SyncDirectory(dir_);
    SyncDirectory(fs::path(path).parent_path());
  }
  return true;
}

std::vector<DeadLetter> DeadLetters::List() const {
  std::vector<DeadLetter> letters;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(kRecord)) continue;
    DeadLetter letter;
    letter.id = name.substr(0, name.size() - kRecord.size());
    letter.shard = ShardOfId(letter.id);
    letter.bytes = entry.file_size(ec);
    std::ifstream info(PathOf(letter.id, kInfo));
    std::string key;
    while (info >> key) {
      std::string value;
      std::getline(info >> std::ws, value);
      if (key == "table") letter.table = value;
      if (key == "time") letter.time = value;
      if (key == "error") letter.error = value;
    }
    letters.push_back(std::move(letter));
  }
  std::sort(letters.begin(), letters.end(),
            [](const DeadLetter& a, const DeadLetter& b) { return a.id < b.id; });
  return letters;
}

bool DeadLetters::Retry(const std::string& id, std::string* error) {
  const uint32_t shard = ShardOfId(id);
  if (!ValidId(id) || shard == 0 || !fs::exists(PathOf(id, kRecord))) {
    *error = "no dead letter " + id + " in " + dir_;
    return false;
  }
  const std::string shard_dir = ShardDir(spool_dir_, shard);
  if (!fs::is_directory(shard_dir)) {
    *error = "no spool directory " + shard_dir + " for shard " + std::to_string(shard);
    return false;
  }
  const std::string target = shard_dir + "/" + id + ".retry";
  if (std::rename(PathOf(id, kRecord).c_str(), target.c_str()) != 0) {
    *error = "cannot move " + PathOf(id, kRecord) + " to " + target + ": " + std::strerror(errno);
    return false;
  }
  unlink(PathOf(id, kInfo).c_str());
  if (fsync_) {
    SyncDirectory(shard_dir);
    SyncDirectory(dir_);
  }
  return true;
}

bool DeadLetters::Drop(const std::string& id, std::string* error) {
  if (!ValidId(id) || unlink(PathOf(id, kRecord).c_str()) != 0) {
    *error = "no dead letter " + id + " in " + dir_;
    return false;
  }
  unlink(PathOf(id, kInfo).c_str());
  if (fsync_) SyncDirectory(dir_);
  return true;
}

}  // namespace beacon::host
