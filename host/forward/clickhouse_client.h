// A ClickHouse HTTP client on libcurl: one reused connection, not thread-safe (one client
// per thread). Works with ClickHouse 18.16: errors come back as non-200 with a text body.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace beacon::host {

struct ClickHouseEndpoint {
  std::string url = "http://127.0.0.1:8123";  // scheme, host and HTTP port
  std::string database = "beacon";
  std::string user = "default";
  std::string password;
  int timeout_ms = 10'000;
  // Inserts: ClickHouse's insert_quorum, the replicas of the shard that must hold a part before
  // the insert is acknowledged (waiting up to 3/4 of timeout_ms); 0: the one that took it.
  int insert_quorum = 0;
};

struct ClickHouseResult {
  long status = 0;           // HTTP status; 0 when the request did not complete
  std::string body;          // the result, or ClickHouse's "Code: NN, ..." error text
  std::string error;         // transport error (libcurl's message); empty when a response came
  size_t request_bytes = 0;  // the request body as sent (compressed for inserts)
  bool ok() const { return error.empty() && status == 200; }
};

// Whether ClickHouse refused the request for what it carries, so that sending the same bytes
// again can only fail again: 18.16 answers 400 for a query it cannot parse and 413 for one
// too large; a row it cannot read or convert comes back as 500 with the codes listed in
// clickhouse_client.cc (e.g. 27 "Cannot parse input", 33 "Cannot read all data", 16 "No
// such column", 53 type mismatch, 117 incorrect data). False for a transport error and for
// every answer a fix elsewhere can cure: 401 (user or password), 404 (no such table or
// database: the schema is missing), 5xx of other codes (memory, too many parts, ZooKeeper,
// read-only replica, timeouts) and every other status.
bool IsDeterministicRefusal(const ClickHouseResult& result);

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
  // From now on every request also ends (a transport error) once the steady clock passes
  // `*deadline_ns` (nanoseconds since its epoch; may move while a request runs). Null: only
  // timeout_ms bounds a request.
  void set_deadline(const std::atomic<int64_t>* deadline_ns) { deadline_ns_ = deadline_ns; }

 private:
  ClickHouseResult Post(const std::string& url, std::string_view body);
  ClickHouseEndpoint endpoint_;
  const std::atomic<int64_t>* deadline_ns_ = nullptr;
  void* curl_;  // CURL*; kept opaque so this header does not pull curl into callers
};

}  // namespace beacon::host
