// Fuzz target "the spool passes on intact records only": any set of record files in a spool
// directory is read back oldest first, each file either passed on (then its frame and CRC are
// intact and the payload is its body) or counted torn or corrupt and taken out of the spool;
// afterwards the spool is empty and a record appended reads back byte for byte.
// Input: records of a 2-byte little-endian length and that many bytes (cut at the end), each
// one spool file; byte 0 bit 0 writes a correct CRC into each file's header, bit 1 a correct
// length, so that intact records are reachable.
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "host/forward/spool.h"

namespace {

constexpr size_t kHeaderBytes = 20;  // magic, version, length, CRC32 (host/forward/spool.cc)

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "spool_record_read: %s\n", what);
  std::abort();
}

void PutLe(uint64_t value, size_t bytes, char* out) {
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>(value >> (8 * i));
}

bool Intact(const std::string& file) {
  if (file.size() < kHeaderBytes || std::memcmp(file.data(), "BSPL\x01\0\0\0", 8) != 0) {
    return false;
  }
  uint64_t length = 0;
  uint32_t crc = 0;
  for (size_t i = 0; i < 8; ++i) length |= uint64_t{static_cast<uint8_t>(file[8 + i])} << (8 * i);
  for (size_t i = 0; i < 4; ++i) crc |= uint32_t{static_cast<uint8_t>(file[16 + i])} << (8 * i);
  const std::string_view body = std::string_view(file).substr(kHeaderBytes);
  return length == body.size() && crc == crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                               static_cast<uInt>(body.size()));
}

const std::filesystem::path& Dir() {
  static const std::filesystem::path dir = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "spool_record_read_fuzz.XXXXXX").string();
    Check(mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    return std::filesystem::path(pattern);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool fix_crc = (data[0] & 1) != 0;
  const bool fix_length = (data[0] & 2) != 0;
  std::filesystem::remove_all(Dir());
  std::filesystem::create_directories(Dir());
  std::vector<std::string> files;
  for (size_t at = 1; size - at >= 2 && files.size() < 8;) {
    const size_t length = std::min<size_t>(data[at] | data[at + 1] << 8, size - at - 2);
    std::string file(reinterpret_cast<const char*>(data + at + 2), length);
    at += 2 + length;
    if (file.size() >= kHeaderBytes) {
      const std::string_view body = std::string_view(file).substr(kHeaderBytes);
      if (fix_length) PutLe(body.size(), 8, file.data() + 8);
      if (fix_crc) {
        PutLe(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())),
              4, file.data() + 16);
      }
    }
    char name[32];
    std::snprintf(name, sizeof(name), "%020zu.rec", files.size());
    std::ofstream(Dir() / name, std::ios::binary) << file;
    files.push_back(std::move(file));
  }
  beacon::host::Spool spool(Dir().string(), 1 << 20, false);
  Check(spool.records() == files.size(), "a record file not listed");
  size_t passed = 0;
  std::string payload;
  while (spool.Front(&payload)) {
    // Files before the one passed on were set aside; this one must be intact and whole.
    const size_t index = files.size() - spool.records();
    Check(Intact(files[index]), "a torn or corrupt record passed on");
    Check(payload == std::string_view(files[index]).substr(kHeaderBytes), "payload differs");
    spool.PopFront();
    ++passed;
  }
  Check(spool.empty() && spool.bytes() == 0, "records left after the spool was read");
  Check(passed + spool.torn_records() + spool.corrupt_records() == files.size(),
        "a record neither passed on nor counted");
  std::string error;
  const std::string appended(reinterpret_cast<const char*>(data), size);
  Check(spool.Append(appended, &error) == beacon::host::SpoolAppend::kOk, "append failed");
  Check(spool.Front(&payload) && payload == appended, "an appended record reads back changed");
  return 0;
}
