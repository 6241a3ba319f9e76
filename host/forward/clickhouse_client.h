// A ClickHouse HTTP client on libcurl: one reused connection, not thread-safe (one client
// per thread). Works with ClickHouse 18.16: errors come back as non-200 with a text body.
#pragma once

#include <string>
#include <string_view>

namespace beacon::host {

struct ClickHouseEndpoint {
  std::string url = "http://127.0.0.1:8123";  // scheme, host and HTTP port
  std::string database = "beacon";
  std::string user = "default";
  std::string password;
  int timeout_ms = 10'000;
};

struct ClickHouseResult {
  long status = 0;           // HTTP status; 0 when the request did not complete
  std::string body;          // the result, or ClickHouse's "Code: NN, ..." error text
  std::string error;         // transport error (libcurl's message); empty when a response came
  size_t request_bytes = 0;  // the request body as sent (compressed for inserts)
  bool ok() const { return error.empty() && status == 200; }
};

class ClickHouseClient {
 public:
  explicit ClickHouseClient(ClickHouseEndpoint endpoint);
  ~ClickHouseClient();
  ClickHouseClient(const ClickHouseClient&) = delete;
  ClickHouseClient& operator=(const ClickHouseClient&) = delete;

  // Runs one statement, sent as the POST body; the answer is in the FORMAT the SQL names.
  ClickHouseResult Execute(std::string_view sql);
  // INSERT INTO `table` FORMAT RowBinary, `rows` compressed with zstd in ClickHouse's native
  // block framing (decompress=1), which 18.16 accepts where Content-Encoding: zstd fails.
  ClickHouseResult InsertRowBinary(std::string_view table, std::string_view rows);
  // GET /ping answered "Ok.".
  bool Ping();

  const ClickHouseEndpoint& endpoint() const { return endpoint_; }

 private:
  ClickHouseResult Post(const std::string& url, std::string_view body);
  ClickHouseEndpoint endpoint_;
  void* curl_;  // CURL*; kept opaque so this header does not pull curl into callers
};

}  // namespace beacon::host
