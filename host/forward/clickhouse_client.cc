// ClickHouse over HTTP with libcurl: statements as POST bodies, inserts as RowBinary in
// ClickHouse's native compressed framing (zstd), one easy handle so the connection is reused.
#include "host/forward/clickhouse_client.h"

#include <curl/curl.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace beacon::host {
namespace {

// Uncompressed bytes per native block; ClickHouse reads the blocks as one stream, so a block
// may end mid-row.
constexpr size_t kMaxBlockBytes = 1 << 20;
constexpr uint8_t kZstdMethod = 0x90;
// checksum(16) | method(1) | compressed_size(4) | uncompressed_size(4)
constexpr size_t kChecksumBytes = 16;
constexpr size_t kHeaderBytes = 9;
constexpr int kZstdLevel = 1;

CURL* Handle(void* curl) { return static_cast<CURL*>(curl); }

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

void PutUInt32(uint32_t v, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string Escape(CURL* curl, std::string_view text) {
  char* escaped = curl_easy_escape(curl, text.data(), static_cast<int>(text.size()));
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

// Whether `sql` creates a database: it must run without ?database=, which fails with
// "Database ... doesn't exist" before the statement runs.
bool CreatesDatabase(std::string_view sql) {
  constexpr std::string_view kPrefix = "CREATE DATABASE";
  size_t start = sql.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || sql.size() - start < kPrefix.size()) return false;
  return std::equal(kPrefix.begin(), kPrefix.end(), sql.begin() + start, [](char a, char b) {
    return a == std::toupper(static_cast<unsigned char>(b));
  });
}

// The native compressed framing that `decompress=1` reads: one block per kMaxBlockBytes
// of input. The checksum is left zero; the request disables checking it.
std::string FrameZstd(std::string_view rows) {
  std::string out;
  for (size_t offset = 0; offset < rows.size(); offset += kMaxBlockBytes) {
    std::string_view chunk = rows.substr(offset, kMaxBlockBytes);
    size_t bound = ZSTD_compressBound(chunk.size());
    size_t start = out.size();
    out.resize(start + kChecksumBytes + kHeaderBytes + bound);
    char* header = out.data() + start + kChecksumBytes;
    size_t compressed =
        ZSTD_compress(header + kHeaderBytes, bound, chunk.data(), chunk.size(), kZstdLevel);
    if (ZSTD_isError(compressed)) {
      throw std::runtime_error(std::string("zstd compression failed: ") +
                               ZSTD_getErrorName(compressed));
    }
    std::memset(out.data() + start, 0, kChecksumBytes);
    header[0] = static_cast<char>(kZstdMethod);
    PutUInt32(static_cast<uint32_t>(kHeaderBytes + compressed), header + 1);
    PutUInt32(static_cast<uint32_t>(chunk.size()), header + 5);
    out.resize(start + kChecksumBytes + kHeaderBytes + compressed);
  }
  return out;
}

}  // namespace

ClickHouseClient::ClickHouseClient(ClickHouseEndpoint endpoint) : endpoint_(std::move(endpoint)) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
  while (!endpoint_.url.empty() && endpoint_.url.back() == '/') endpoint_.url.pop_back();
}

ClickHouseClient::~ClickHouseClient() { curl_easy_cleanup(Handle(curl_)); }

ClickHouseResult ClickHouseClient::Execute(std::string_view sql) {
  std::string url = endpoint_.url + "/";
  if (!endpoint_.database.empty() && !CreatesDatabase(sql)) {
    url += "?database=" + Escape(Handle(curl_), endpoint_.database);
  }
  return Post(url, sql);
}

ClickHouseResult ClickHouseClient::InsertRowBinary(std::string_view table, std::string_view rows) {
  std::string query = "INSERT INTO " + std::string(table) + " FORMAT RowBinary";
  std::string url = endpoint_.url + "/?query=" + Escape(Handle(curl_), query) +
                    "&decompress=1&http_native_compression_disable_checksumming_on_decompress=1";
  if (!endpoint_.database.empty()) {
    url += "&database=" + Escape(Handle(curl_), endpoint_.database);
  }
  return Post(url, FrameZstd(rows));
}

bool ClickHouseClient::Ping() {
  CURL* curl = Handle(curl_);
  std::string body;
  curl_easy_reset(curl);
  std::string url = endpoint_.url + "/ping";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(endpoint_.timeout_ms));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  long status = 0;
  if (curl_easy_perform(curl) != CURLE_OK) return false;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return status == 200 && body.starts_with("Ok.");
}

ClickHouseResult ClickHouseClient::Post(const std::string& url, std::string_view body) {
  CURL* curl = Handle(curl_);
  ClickHouseResult result;
  result.request_bytes = body.size();
  // curl_easy_reset keeps the connection cache: the next request reuses the connection.
  curl_easy_reset(curl);
  curl_slist* headers = nullptr;
  std::string user = "X-ClickHouse-User: " + endpoint_.user;
  std::string key = "X-ClickHouse-Key: " + endpoint_.password;
  headers = curl_slist_append(headers, user.c_str());
  headers = curl_slist_append(headers, key.c_str());
  // Without this, curl waits up to a second for "100 Continue" before large bodies.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(endpoint_.timeout_ms));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(endpoint_.timeout_ms, 5'000)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    result.error = curl_easy_strerror(code);
    return result;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

}  // namespace beacon::host
