// ClickHouse over HTTP with libcurl: statements as POST bodies, inserts as RowBinary in
// ClickHouse's native compressed framing (zstd), one easy handle so the connection is reused.
#include "host/forward/clickhouse_client.h"

#include <curl/curl.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
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

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// libcurl's progress callback: a non-zero return aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int AbortAfterDeadline(void* deadline_ns, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/,
                       curl_off_t /*ultotal*/, curl_off_t /*ulnow*/) {
  return SteadyNowNs() > static_cast<const std::atomic<int64_t>*>(deadline_ns)->load() ? 1 : 0;
}

// The "Code: NN" that starts 18.16's error answers; -1 without one.
int ErrorCode(std::string_view body) {
  constexpr std::string_view kPrefix = "Code: ";
  if (!body.starts_with(kPrefix)) return -1;
  int code = -1;
  std::from_chars(body.data() + kPrefix.size(), body.data() + body.size(), code);
  return code;
}

}  // namespace

bool IsDeterministicRefusal(const ClickHouseResult& result) {
  if (!result.error.empty() || result.status == 0) return false;
  if (result.status == 400 || result.status == 413) return true;
  if (result.status != 500) return false;
  // The codes of 18.16's ErrorCodes.cpp that a row's bytes cause: CANNOT_PARSE_TEXT (6),
  // THERE_IS_NO_COLUMN (8), NOT_FOUND_COLUMN_IN_BLOCK (10), NO_SUCH_COLUMN_IN_TABLE (16),
  // NUMBER_OF_COLUMNS_DOESNT_MATCH (20), CANNOT_PARSE_QUOTED_STRING (26),
  // CANNOT_PARSE_INPUT_ASSERTION_FAILED (27), ATTEMPT_TO_READ_AFTER_EOF (32),
  // CANNOT_READ_ALL_DATA (33), BAD_ARGUMENTS (36), CANNOT_PARSE_DATE (38),
  // CANNOT_PARSE_DATETIME (41), TYPE_MISMATCH (53), ARGUMENT_OUT_OF_BOUND (69),
  // CANNOT_CONVERT_TYPE (70), CANNOT_PARSE_NUMBER (72), UNKNOWN_COMPRESSION_METHOD (89),
  // INCORRECT_DATA (117), TOO_LARGE_ARRAY_SIZE (128), TOO_LARGE_STRING_SIZE (131),
  // CANNOT_DECOMPRESS (271).
  static constexpr int kCodes[] = {6,  8,  10, 16, 20, 26, 27,  32,  33,  36, 38,
                                   41, 53, 69, 70, 72, 89, 117, 128, 131, 271};
  const int code = ErrorCode(result.body);
  return std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

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
  if (endpoint_.insert_quorum > 0) {
    // The server gives up waiting for the quorum (code 319, retried; the retry is refused
    // with 286 until the part reached the quorum, then deduplicated and acknowledged) before
    // this client's own timeout ends the request without an answer.
    url += "&insert_quorum=" + std::to_string(endpoint_.insert_quorum) +
           "&insert_quorum_timeout=" + std::to_string(endpoint_.timeout_ms * 3 / 4);
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
  int64_t timeout_ms = endpoint_.timeout_ms;
  if (deadline_ns_ != nullptr) {
    // A deadline already passed sends nothing; one ahead caps the timeout, and the progress
    // callback ends the request early if the deadline moves closer meanwhile.
    const int64_t left_ms = (deadline_ns_->load() - SteadyNowNs()) / 1'000'000;
    if (left_ms <= 0) {
      curl_slist_free_all(headers);
      result.error = "deadline passed before the request";
      return result;
    }
    timeout_ms = std::min(timeout_ms, left_ms);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortAfterDeadline);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<int64_t>*>(deadline_ns_));
  }
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout_ms, 5'000)));
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
