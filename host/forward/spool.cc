// Spool files: "BSPL" | UInt32 LE 1 (version) | UInt64 LE payload length | UInt32 LE zlib
// crc32 of the payload | payload. Named by a 20-digit sequence number, oldest first.
#include "host/forward/spool.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "host/private_dir.h"

namespace beacon::host {
namespace {

constexpr char kMagic[4] = {'B', 'S', 'P', 'L'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 4 + 4 + 8 + 4;
constexpr std::string_view kSuffix = ".rec";

template <typename T>
void Put(T value, char* out) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  }
}

template <typename T>
T Get(const char* in) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return static_cast<T>(value);
}

uint32_t Crc32(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  constexpr size_t kStep = 1u << 30;
  for (size_t at = 0; at < bytes.size(); at += kStep) {
    const size_t n = std::min(kStep, bytes.size() - at);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  out->clear();
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), file)) > 0) out->append(buf, n);
  const bool ok = std::ferror(file) == 0;
  std::fclose(file);
  return ok;
}

bool SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  const bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

}  // namespace

uint64_t Spool::RecordBytes(size_t payload_bytes) { return kHeaderBytes + payload_bytes; }

Spool::Spool(std::string dir, uint64_t max_bytes, bool fsync)
    : dir_(std::move(dir)), max_bytes_(max_bytes), fsync_(fsync) {
  namespace fs = std::filesystem;
  std::error_code ec;
  EnsurePrivateDirectory(dir_, "spool directory");
  RestrictFiles(dir_);
  std::vector<File> found;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {
      // An Append that did not reach its rename: never acknowledged as spooled.
      fs::remove(entry.path(), ec);
      continue;
    }
    if (!name.ends_with(kSuffix) || name.size() != 20 + kSuffix.size()) continue;
    const std::string digits = name.substr(0, 20);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    found.push_back({std::stoull(digits), static_cast<uint64_t>(entry.file_size(ec))});
  }
  if (ec) throw std::runtime_error("cannot list spool directory '" + dir_ + "': " + ec.message());
  std::sort(found.begin(), found.end(),
            [](const File& a, const File& b) { return a.sequence < b.sequence; });
  for (const File& file : found) {
    files_.push_back(file);
    bytes_ += file.bytes;
  }
  if (!files_.empty()) next_sequence_ = files_.back().sequence + 1;
}

std::string Spool::PathOf(uint64_t sequence) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu", static_cast<unsigned long long>(sequence));
  return dir_ + "/" + name + std::string(kSuffix);
}

SpoolAppend Spool::Append(std::string_view payload, std::string* error) {
  const uint64_t record_bytes = RecordBytes(payload.size());
  if (!files_.empty() && bytes_ + record_bytes > max_bytes_) return SpoolAppend::kFull;
  char header[kHeaderBytes];
  std::memcpy(header, kMagic, 4);
  Put<uint32_t>(kVersion, header + 4);
  Put<uint64_t>(payload.size(), header + 8);
  Put<uint32_t>(Crc32(payload), header + 16);
  const uint64_t sequence = next_sequence_;
  const std::string path = PathOf(sequence);
  const std::string tmp = path + ".tmp";
  const char* step = nullptr;  // the step that failed, with errno set by it
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    step = "open";
  } else {
    if (!WriteAll(fd, header, kHeaderBytes) || !WriteAll(fd, payload.data(), payload.size())) {
      step = "write";
    } else if (fsync_ && fdatasync(fd) != 0) {
      step = "fdatasync";
    }
    if (close(fd) != 0 && step == nullptr) step = "close";
  }
  if (step == nullptr && std::rename(tmp.c_str(), path.c_str()) != 0) step = "rename";
  if (step == nullptr && fsync_ && !SyncDir(dir_)) step = "fsync of the directory";
  if (step != nullptr) {
    *error = "cannot write spool record '" + path + "' (" + step + "): " + std::strerror(errno);
    unlink(tmp.c_str());
    unlink(path.c_str());
    return SpoolAppend::kIoError;
  }
  files_.push_back({sequence, record_bytes});
  bytes_ += record_bytes;
  ++next_sequence_;
  return SpoolAppend::kOk;
}

bool Spool::Front(std::string* payload) {
  while (!files_.empty()) {
    const File file = files_.front();
    const std::string path = PathOf(file.sequence);
    std::string data;
    const bool read = ReadFile(path, &data);
    bool torn = false;
    bool corrupt = false;
    if (!read || data.size() < kHeaderBytes) {
      torn = true;
    } else if (std::memcmp(data.data(), kMagic, 4) != 0 ||
               Get<uint32_t>(data.data() + 4) != kVersion) {
      corrupt = true;
    } else {
      const uint64_t length = Get<uint64_t>(data.data() + 8);
      const uint64_t body = data.size() - kHeaderBytes;
      if (length > body) {
        torn = true;  // cut short: the write did not complete
      } else if (length < body || Get<uint32_t>(data.data() + 16) !=
                                      Crc32(std::string_view(data).substr(kHeaderBytes))) {
        corrupt = true;
      }
    }
    if (!torn && !corrupt) {
      payload->assign(data, kHeaderBytes, std::string::npos);
      return true;
    }
    files_.pop_front();
    bytes_ -= file.bytes;
    if (torn) {
      ++torn_;
      unlink(path.c_str());
    } else {
      ++corrupt_;
      std::rename(path.c_str(), (path + ".corrupt").c_str());
    }
    std::fprintf(stderr, "spool: %s record %s %s\n", torn ? "torn" : "corrupt", path.c_str(),
                 torn ? "deleted" : "set aside as *.corrupt");
  }
  return false;
}

void Spool::PopFront() {
  if (files_.empty()) return;
  const File file = files_.front();
  files_.pop_front();
  bytes_ -= file.bytes;
  unlink(PathOf(file.sequence).c_str());
}

}  // namespace beacon::host
