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

// Reads all of `path`; 0 or the errno of the open or read that failed.
int ReadAll(const std::string& path, std::string* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->clear();
  char buf[1 << 16];
  int error = 0;
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      error = errno;
      break;
    }
  }
  close(fd);
  return error;
}

bool IsSequenceName(const std::string& name) {
  return name.ends_with(kSuffix) && name.size() == 20 + kSuffix.size() &&
         std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

bool WriteRecordFile(const std::string& path, std::string_view payload, bool fsync,
                     std::string* error) {
  char header[kHeaderBytes];
  std::memcpy(header, kMagic, 4);
  Put<uint32_t>(kVersion, header + 4);
  Put<uint64_t>(payload.size(), header + 8);
  Put<uint32_t>(Crc32(payload), header + 16);
  const std::string tmp = path + ".tmp";
  const char* step = nullptr;  // the step that failed, with errno set by it
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    step = "open";
  } else {
    if (!WriteAll(fd, header, kHeaderBytes) || !WriteAll(fd, payload.data(), payload.size())) {
      step = "write";
    } else if (fsync && fdatasync(fd) != 0) {
      step = "fdatasync";
    }
    if (close(fd) != 0 && step == nullptr) step = "close";
  }
  if (step == nullptr && std::rename(tmp.c_str(), path.c_str()) != 0) step = "rename";
  if (step == nullptr && fsync && !SyncDirectory(std::filesystem::path(path).parent_path())) {
    step = "fsync of the directory";
  }
  if (step == nullptr) return true;
  *error = "cannot write spool record '" + path + "' (" + step + "): " + std::strerror(errno);
  unlink(tmp.c_str());
  unlink(path.c_str());
  return false;
}

RecordRead ReadRecordFile(const std::string& path, std::string* payload, int* error) {
  std::string data;
  if (const int e = ReadAll(path, &data); e != 0) {
    *error = e;
    return RecordRead::kUnreadable;
  }
  if (data.size() < kHeaderBytes) return RecordRead::kTorn;
  if (std::memcmp(data.data(), kMagic, 4) != 0 || Get<uint32_t>(data.data() + 4) != kVersion) {
    return RecordRead::kCorrupt;
  }
  const uint64_t length = Get<uint64_t>(data.data() + 8);
  const uint64_t body = data.size() - kHeaderBytes;
  if (length > body) return RecordRead::kTorn;
  if (length < body ||
      Get<uint32_t>(data.data() + 16) != Crc32(std::string_view(data).substr(kHeaderBytes))) {
    return RecordRead::kCorrupt;
  }
  payload->assign(data, kHeaderBytes, std::string::npos);
  return RecordRead::kOk;
}

uint64_t Spool::RecordBytes(size_t payload_bytes) { return kHeaderBytes + payload_bytes; }

Spool::Spool(std::string dir, uint64_t max_bytes, bool fsync, SetAside set_aside)
    : dir_(std::move(dir)), max_bytes_(max_bytes), fsync_(fsync), set_aside_(std::move(set_aside)) {
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
    if (!IsSequenceName(name)) continue;
    // A size that cannot be read now is taken as 0: Front says later what is wrong with it.
    std::error_code size_error;
    const uintmax_t size = entry.file_size(size_error);
    found.push_back({std::stoull(name.substr(0, 20)), size_error ? 0 : size, true});
  }
  if (ec) throw std::runtime_error("cannot list spool directory '" + dir_ + "': " + ec.message());
  std::sort(found.begin(), found.end(),
            [](const File& a, const File& b) { return a.sequence < b.sequence; });
  for (const File& file : found) {
    files_.push_back(file);
    bytes_ += file.bytes;
  }
  if (!files_.empty()) next_sequence_ = files_.back().sequence + 1;
  Adopt();
}

std::string Spool::PathOf(uint64_t sequence) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu", static_cast<unsigned long long>(sequence));
  return dir_ + "/" + name + std::string(kSuffix);
}

void Spool::Adopt() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> returned;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() == ".retry") returned.push_back(entry.path().string());
  }
  std::sort(returned.begin(), returned.end());
  for (const std::string& path : returned) {
    const std::string target = PathOf(next_sequence_);
    if (std::rename(path.c_str(), target.c_str()) != 0) continue;
    const uint64_t bytes = fs::file_size(target, ec);
    files_.push_back({next_sequence_++, ec ? 0 : bytes, true});
    bytes_ += files_.back().bytes;
  }
  if (!returned.empty() && fsync_) SyncDirectory(dir_);
}

size_t Spool::AdoptReturned() {
  const size_t before = files_.size();
  Adopt();
  return files_.size() - before;
}

SpoolAppend Spool::Append(std::string_view payload, std::string* error) {
  const uint64_t record_bytes = RecordBytes(payload.size());
  if (!files_.empty() && bytes_ + record_bytes > max_bytes_) return SpoolAppend::kFull;
  const uint64_t sequence = next_sequence_;
  if (!WriteRecordFile(PathOf(sequence), payload, fsync_, error)) return SpoolAppend::kIoError;
  files_.push_back({sequence, record_bytes, false});
  bytes_ += record_bytes;
  ++next_sequence_;
  return SpoolAppend::kOk;
}

bool Spool::Front(std::string* payload) {
  read_error_ = 0;
  while (!files_.empty()) {
    const RecordRead found = ReadRecordFile(PathOf(files_.front().sequence), payload, &read_error_);
    if (found == RecordRead::kOk) return true;
    // An open or read that failed (EMFILE, EACCES, EIO, ...) proves nothing about the bytes.
    if (found == RecordRead::kUnreadable) return false;
    SetAsideFront(found);
  }
  return false;
}

void Spool::SetAsideFront(RecordRead found) {
  const File file = files_.front();
  files_.pop_front();
  bytes_ -= file.bytes;
  const bool torn = found == RecordRead::kTorn;
  ++(torn ? torn_ : corrupt_);
  const std::string path = PathOf(file.sequence);
  const std::string reason =
      torn ? "torn spool record (cut short)" : "corrupt spool record (bad frame or CRC)";
  std::string where;
  if (set_aside_ && set_aside_(path, reason)) {
    where = "set aside";
  } else {
    where = path + (torn ? ".torn" : ".corrupt");
    std::rename(path.c_str(), where.c_str());
    if (fsync_) SyncDirectory(dir_);
    where = "renamed " + where;
  }
  std::fprintf(stderr, "spool: %s %s: %s, never sent\n", reason.c_str(), path.c_str(),
               where.c_str());
}

void Spool::PopFront() {
  if (files_.empty()) return;
  const File file = files_.front();
  files_.pop_front();
  bytes_ -= file.bytes;
  unlink(PathOf(file.sequence).c_str());
  // Else a power cut could bring the record back; replayed, it would count once only while
  // the tables' deduplication window still holds its blocks.
  if (fsync_) SyncDirectory(dir_);
}

}  // namespace beacon::host
