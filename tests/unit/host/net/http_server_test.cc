// The HTTP server over real sockets on 127.0.0.1: beacon answers and delivery, keep-alive,
// pipelining, gzip, every rejection class, shedding, routing, Stop and many clients.
#include "host/net/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace beacon::host {
namespace {

using kernels::Endpoint;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Beacon {
  Endpoint endpoint;
  kernels::IngressKind ingress;
  std::string payload;
  std::string user_agent;
  kernels::IpAddress source;
  int64_t receive_time_ms;
  std::string query;
};

// A real sink: records every beacon and the order of batch and tick calls.
class RecordingSink : public kernels::BeaconSink {
 public:
  bool Admitting() override { return admitting.load(); }
  void OnBatch(kernels::RawBatch& batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(batch.empty());
    batch_sizes_.push_back(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      beacons_.push_back({batch.endpoint(i), batch.ingress(i), std::string(batch.payload(i)),
                          std::string(batch.user_agent(i)), batch.source(i),
                          batch.receive_time_ms(i), std::string(batch.query(i))});
    }
    calls_.push_back('B');
  }
  void OnTick(int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_GT(now_ms, 1'600'000'000'000);  // unix ms, not a monotonic clock
    calls_.push_back('T');
  }
  std::vector<Beacon> beacons() const {
    std::lock_guard<std::mutex> lock(mu_);
    return beacons_;
  }
  std::vector<size_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  std::string calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // Waits up to 5 s for at least `n` beacons.
  std::vector<Beacon> WaitFor(size_t n) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      auto b = beacons();
      if (b.size() >= n) return b;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return beacons();
  }

  std::atomic<bool> admitting{true};

 private:
  mutable std::mutex mu_;
  std::vector<Beacon> beacons_;
  std::vector<size_t> batch_sizes_;
  std::string calls_;
};

// A sink that archives first (DefersAnswers): beacon answers wait until the test moves the
// durable mark with MakeDurable.
class DeferringSink : public RecordingSink {
 public:
  DeferringSink() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~DeferringSink() override { close(fd_); }
  bool DefersAnswers() const override { return true; }
  void OnBatch(kernels::RawBatch& batch) override {
    RecordingSink::OnBatch(batch);
    sequences_.clear();
    for (size_t i = 0; i < batch.size(); ++i) sequences_.push_back(++taken_);
  }
  std::span<const uint64_t> batch_sequences() const override { return sequences_; }
  int durability_fd() const override { return fd_; }
  kernels::Durability PollDurability() override {
    uint64_t n = 0;
    [[maybe_unused]] const ssize_t got = read(fd_, &n, sizeof(n));
    return {durable_.load(), 0, 0};
  }
  // Beacons 1..`sequence` (in the order taken) become durable.
  void MakeDurable(uint64_t sequence) {
    durable_.store(sequence);
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(fd_, &one, sizeof(one));
  }

 private:
  int fd_;
  std::vector<uint64_t> sequences_;  // the worker's
  std::atomic<uint64_t> taken_{0};
  std::atomic<uint64_t> durable_{0};
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A blocking client socket with a 5 s receive timeout.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed; the response read reports it
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads one response; status 0 when the connection closed or timed out first.
  Response Read() {
    Response r;
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    const std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    r.status = std::stoi(head.substr(9, 3));
    size_t line = head.find("\r\n");
    while (line != std::string::npos) {
      const size_t next = head.find("\r\n", line + 2);
      const std::string field =
          head.substr(line + 2, next == std::string::npos ? std::string::npos : next - line - 2);
      const size_t colon = field.find(':');
      std::string name = field.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = field.substr(colon + 2);
      line = next;
    }
    // Interim (1xx) responses carry no body and no Content-Length.
    const auto cl = r.headers.find("content-length");
    const size_t length = cl == r.headers.end() ? 0 : std::stoul(cl->second);
    while (buffer_.size() < length) {
      if (!Fill()) return {};
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Sends without blocking until `data` is sent or the socket has stayed unwritable for
  // `wait_ms`; returns the bytes sent.
  size_t SendUntilBlocked(std::string_view data, int wait_ms) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n =
          send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, wait_ms) == 0) break;
    }
    return sent;
  }

  // True when the server closes the connection with a FIN (not a reset), nothing more to read.
  bool ClosedCleanly() {
    char c;
    return recv(fd_, &c, 1, 0) == 0;
  }

  // True when the server closes the connection (EOF or reset) with nothing more to read.
  bool ClosedByServer() {
    char c;
    const ssize_t n = recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool Fill() {
    char buf[65536];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string Gzip(std::string_view plain) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, plain.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Post(std::string_view path, std::string_view body, std::string_view extra = {}) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

std::string Get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

// The value of one sample in a Prometheus scrape, or -1.
int64_t Sample(const std::string& scrape, const std::string& series) {
  const size_t at = scrape.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(scrape.substr(at + series.size() + 2));
}

const std::string kGif(
    "GIF89a\x01\x00\x01\x00\xf0\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x05\x00\x00"
    "\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b",
    43);

class HttpServerTest : public ::testing::Test {
 protected:
  // `defer`: the sinks are DeferringSinks.
  void StartServer(int workers = 1, HttpServerConfig config = {}, bool defer = false) {
    config.port = 0;
    for (int i = 0; i < workers; ++i) {
      sinks_.push_back(defer ? std::make_unique<DeferringSink>()
                             : std::make_unique<RecordingSink>());
    }
    std::vector<kernels::BeaconSink*> sinks;
    for (auto& s : sinks_) sinks.push_back(s.get());
    server_ = std::make_unique<HttpServer>(config, sinks);
    server_->AddHandler("/echo", [](const kernels::HttpRequest& r) {
      HttpResponse response;
      response.body = std::string(r.query);
      response.headers.emplace_back("X-Method", std::string(r.method));
      return response;
    });
    // 300 KB per response: more than the server buffers per connection.
    server_->AddHandler("/blob", [](const kernels::HttpRequest& r) {
      HttpResponse response;
      response.body = std::string(r.query) + std::string(300 * 1024, 'x');
      return response;
    });
    server_->RegisterMetrics(&metrics_, "beacond_http");
    server_->Start();
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  RecordingSink& sink(size_t i = 0) { return *sinks_[i]; }
  DeferringSink& deferring(size_t i = 0) { return static_cast<DeferringSink&>(*sinks_[i]); }
  uint16_t port() const { return server_->port(); }
  int64_t Metric(const std::string& series) { return Sample(metrics_.Scrape(), series); }

  // A fresh connection is still served: the server survived whatever came before.
  void ExpectServesNewConnection() {
    Client c(port());
    ASSERT_TRUE(c.connected());
    c.Send(Get("/echo?alive"));
    Response r = c.Read();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "alive");
  }

  std::vector<std::unique_ptr<RecordingSink>> sinks_;
  std::unique_ptr<HttpServer> server_;
  MetricsRegistry metrics_;
};

TEST_F(HttpServerTest, GetCollectAnswersGifAndDeliversPayload) {
  StartServer();
  const int64_t before = WallMs();
  Client c(port());
  c.Send(Get("/collect?v=1&tid=UA-1-1&cid=5&t=pageview", "User-Agent: TestAgent/1.0\r\n"));
  Response r = c.Read();
  const int64_t after = WallMs();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "image/gif");
  EXPECT_EQ(r.headers["cache-control"], "no-cache, no-store, must-revalidate");
  EXPECT_EQ(r.body, kGif);
  const auto beacons = sink().WaitFor(1);
  ASSERT_EQ(beacons.size(), 1u);
  EXPECT_EQ(beacons[0].endpoint, Endpoint::kGaCollect);
  EXPECT_EQ(beacons[0].ingress, kernels::IngressKind::kHttp);
  EXPECT_EQ(beacons[0].payload, "v=1&tid=UA-1-1&cid=5&t=pageview");
  EXPECT_EQ(beacons[0].user_agent, "TestAgent/1.0");
  EXPECT_TRUE(beacons[0].source.is_v4());
  EXPECT_EQ(beacons[0].source.bytes[12], 127);
  EXPECT_EQ(beacons[0].source.bytes[15], 1);
  EXPECT_GE(beacons[0].receive_time_ms, before - 1000);
  EXPECT_LE(beacons[0].receive_time_ms, after);
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"collect\"}"), 1);
  EXPECT_EQ(Metric("beacond_http_responses_total{code=\"200\"}"), 1);
}

TEST_F(HttpServerTest, PostCollectBatchAndAliases) {
  StartServer();
  Client c(port());
  c.Send(Post("/collect", "v=1&t=event&n=1"));
  c.Send(Post("/batch", "v=1&t=event&n=2\nv=1&t=event&n=3"));
  c.Send(Post("/r/collect", "v=1&n=4"));
  c.Send(Post("/j/collect", "v=1&n=5"));
  c.Send(Get("/r/collect?v=1&n=6"));
  for (int i = 0; i < 5; ++i) {
    Response r = c.Read();
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, kGif) << i;
  }
  const auto b = sink().WaitFor(5);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0].payload, "v=1&t=event&n=1");
  EXPECT_EQ(b[0].endpoint, Endpoint::kGaCollect);
  EXPECT_EQ(b[1].payload, "v=1&t=event&n=2\nv=1&t=event&n=3");
  EXPECT_EQ(b[1].endpoint, Endpoint::kGaBatch);
  EXPECT_EQ(b[2].payload, "v=1&n=4");
  EXPECT_EQ(b[3].payload, "v=1&n=5");
  EXPECT_EQ(b[4].payload, "v=1&n=6");
  EXPECT_EQ(b[4].endpoint, Endpoint::kGaCollect);
}

TEST_F(HttpServerTest, Ga4PlausibleAndSnowplowRoutesAnswerAsTheirCollectors) {
  StartServer();
  Client c(port());
  const std::string origin = "Origin: https://shop.example\r\n";
  c.Send(Post("/g/collect?v=2&tid=G-1&cid=1.2", "en=page_view\nen=scroll", origin));
  c.Send(Get("/g/collect?v=2&tid=G-1&en=click"));
  c.Send(Post("/mp/collect?measurement_id=G-1&api_secret=s", R"({"client_id":"1","events":[]})",
              "Content-Type: application/json\r\n"));
  c.Send(Post("/api/event", R"({"n":"pageview"})", origin + "Content-Type: text/plain\r\n"));
  c.Send(Get("/i?e=pv&aid=app", origin));
  c.Send(Post("/com.snowplowanalytics.snowplow/tp2", R"({"data":[]})"));

  Response r = c.Read();  // gtag POST: 204, no body, the origin echoed with credentials
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers.count("content-length"), 0u);
  EXPECT_EQ(r.headers.count("content-type"), 0u);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://shop.example");
  EXPECT_EQ(r.headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(r.body, "");
  r = c.Read();  // gtag GET
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  r = c.Read();  // Measurement Protocol: 204, no CORS (server-side sends)
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers.count("access-control-allow-origin"), 0u);
  r = c.Read();  // Plausible: 202 "ok", any origin
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(r.headers.count("access-control-allow-credentials"), 0u);
  r = c.Read();  // Snowplow pixel
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "image/gif");
  EXPECT_EQ(r.headers["cache-control"], "no-cache, no-store, must-revalidate");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://shop.example");
  EXPECT_EQ(r.body, kGif);
  r = c.Read();  // Snowplow tp2: 200 "ok"
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(r.headers["access-control-allow-credentials"], "true");

  const auto b = sink().WaitFor(6);
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b[0].endpoint, Endpoint::kGa4Gtag);
  EXPECT_EQ(b[0].payload, "en=page_view\nen=scroll");
  EXPECT_EQ(b[0].query, "v=2&tid=G-1&cid=1.2");
  EXPECT_EQ(b[1].endpoint, Endpoint::kGa4Gtag);
  EXPECT_EQ(b[1].payload, "");
  EXPECT_EQ(b[1].query, "v=2&tid=G-1&en=click");
  EXPECT_EQ(b[2].endpoint, Endpoint::kGa4Mp);
  EXPECT_EQ(b[2].payload, R"({"client_id":"1","events":[]})");
  EXPECT_EQ(b[2].query, "measurement_id=G-1&api_secret=s");
  EXPECT_EQ(b[3].endpoint, Endpoint::kPlausibleEvent);
  EXPECT_EQ(b[3].payload, R"({"n":"pageview"})");
  EXPECT_EQ(b[4].endpoint, Endpoint::kSnowplowGet);
  EXPECT_EQ(b[4].payload, "e=pv&aid=app");
  EXPECT_EQ(b[4].query, "");
  EXPECT_EQ(b[5].endpoint, Endpoint::kSnowplowPost);
  EXPECT_EQ(b[5].payload, R"({"data":[]})");
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"g_collect\"}"), 2);
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"mp_collect\"}"), 1);
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"api_event\"}"), 1);
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"snowplow_i\"}"), 1);
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"snowplow_tp2\"}"), 1);
  EXPECT_EQ(Metric("beacond_http_responses_total{code=\"204\"}"), 3);
  EXPECT_EQ(Metric("beacond_http_responses_total{code=\"202\"}"), 1);
}

std::string Options(std::string_view path, std::string_view origin) {
  return "OPTIONS " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nOrigin: " + std::string(origin) +
         "\r\nAccess-Control-Request-Method: POST\r\n"
         "Access-Control-Request-Headers: content-type\r\n\r\n";
}

TEST_F(HttpServerTest, CorsPreflightsAndMethodsOfTheNewRoutes) {
  StartServer();
  Client c(port());
  c.Send(Options("/api/event", "https://blog.example"));
  Response r = c.Read();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(r.headers["access-control-allow-methods"], "POST");
  EXPECT_EQ(r.headers["access-control-allow-headers"], "Content-Type");
  EXPECT_EQ(r.headers["access-control-max-age"], "1728000");
  c.Send(Options("/com.snowplowanalytics.snowplow/tp2", "https://blog.example"));
  r = c.Read();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://blog.example");
  EXPECT_EQ(r.headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(r.headers["access-control-allow-headers"], "Content-Type, SP-Anonymous");
  EXPECT_EQ(r.headers["access-control-max-age"], "3600");
  c.Send(Options("/g/collect", "https://shop.example"));
  r = c.Read();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://shop.example");
  EXPECT_EQ(r.headers["access-control-allow-methods"], "GET, POST");
  // No preflight for the server-side and GET-only endpoints, nor for GA v1.
  c.Send(Options("/mp/collect", "https://shop.example"));
  r = c.Read();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST");
  c.Send(Options("/collect", "https://shop.example"));
  EXPECT_EQ(c.Read().status, 405);
  c.Send(Get("/api/event"));
  r = c.Read();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST, OPTIONS");
  c.Send(Post("/i", "e=pv"));
  r = c.Read();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET");
  c.Send(Get("/mp/collect?measurement_id=G-1"));
  EXPECT_EQ(c.Read().status, 405);
  // A long GET beacon URL is refused on every GET route, not only /collect.
  c.Send(Get("/i?e=pv&x=" + std::string(8000, 'x')));
  EXPECT_EQ(c.Read().status, 414);
  EXPECT_TRUE(sink().beacons().empty());
}

TEST_F(HttpServerTest, KeepAliveServesSequentialRequests) {
  StartServer();
  Client c(port());
  for (int i = 0; i < 20; ++i) {
    c.Send(Get("/collect?n=" + std::to_string(i)));
    Response r = c.Read();
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.headers.count("connection"), 0u);
  }
  EXPECT_EQ(sink().WaitFor(20).size(), 20u);
  EXPECT_EQ(Metric("beacond_http_connections_accepted_total"), 1);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  StartServer();
  Client c(port());
  std::string all;
  for (int i = 0; i < 10; ++i) {
    all += i % 2 == 0 ? Get("/echo?" + std::to_string(i)) : Post("/collect", std::to_string(i));
  }
  c.Send(all);
  for (int i = 0; i < 10; ++i) {
    Response r = c.Read();
    ASSERT_EQ(r.status, 200) << i;
    if (i % 2 == 0) {
      EXPECT_EQ(r.body, std::to_string(i));
      EXPECT_EQ(r.headers["x-method"], "GET");
    } else {
      EXPECT_EQ(r.body, kGif);
    }
  }
  const auto b = sink().WaitFor(5);
  ASSERT_EQ(b.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b[i].payload, std::to_string(2 * i + 1));
}

TEST_F(HttpServerTest, SlowReaderGetsEveryResponseInOrder) {
  StartServer();
  Client c(port());
  std::string all;
  for (int i = 0; i < 30; ++i) all += Get("/blob?" + std::to_string(i) + ":");
  c.Send(all);
  // Not reading: the server's output backs up past its bound and it stops reading this
  // connection, while other connections are still served.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ExpectServesNewConnection();
  for (int i = 0; i < 30; ++i) {
    Response r = c.Read();
    ASSERT_EQ(r.status, 200) << i;
    const std::string prefix = std::to_string(i) + ":";
    EXPECT_EQ(r.body.size(), prefix.size() + 300 * 1024) << i;
    EXPECT_EQ(r.body.substr(0, prefix.size()), prefix) << i;
  }
}

TEST_F(HttpServerTest, HalfClosedClientGetsEveryResponse) {
  StartServer();
  Client c(port());
  std::string all;
  for (int i = 0; i < 10; ++i) all += Get("/blob?" + std::to_string(i) + ":");
  all += Get("/collect?last=1");
  c.Send(all);
  c.ShutdownWrite();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 10; ++i) {
    Response r = c.Read();
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body.substr(0, 2), std::to_string(i) + ":") << i;
  }
  EXPECT_EQ(c.Read().body, kGif);
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_EQ(sink().WaitFor(1).size(), 1u);
}

TEST_F(HttpServerTest, FullBatchHandedOverMidRound) {
  StartServer();
  Client c(port());
  constexpr int kBeacons = 600;
  std::string all;
  for (int i = 0; i < kBeacons; ++i) all += Get("/collect?n=" + std::to_string(i));
  c.Send(all);  // one loopback segment: one read, one round
  for (int i = 0; i < kBeacons; ++i) ASSERT_EQ(c.Read().status, 200) << i;
  const auto b = sink().WaitFor(kBeacons);
  ASSERT_EQ(b.size(), static_cast<size_t>(kBeacons));
  for (int i = 0; i < kBeacons; ++i) EXPECT_EQ(b[i].payload, "n=" + std::to_string(i));
  const auto sizes = sink().batch_sizes();
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), kernels::kMaxBatchBeacons);
}

TEST_F(HttpServerTest, ChunkedGzipBody) {
  StartServer();
  Client c(port());
  const std::string gz = Gzip("v=1&t=event&ec=chunked");
  char size_line[16];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", gz.size() - 5);
  c.Send(
      "POST /batch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
      "Content-Encoding: gzip\r\n\r\n" +
      std::string(size_line) + gz.substr(0, gz.size() - 5) + "\r\n5\r\n" +
      gz.substr(gz.size() - 5) + "\r\n0\r\n\r\n");
  EXPECT_EQ(c.Read().status, 200);
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, "v=1&t=event&ec=chunked");
  EXPECT_EQ(b[0].endpoint, Endpoint::kGaBatch);
}

TEST_F(HttpServerTest, GzipBodyInflated) {
  StartServer();
  Client c(port());
  c.Send(Post("/collect", Gzip("v=1&t=pageview&dp=%2Fgz"), "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(c.Read().status, 200);
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, "v=1&t=pageview&dp=%2Fgz");
}

TEST_F(HttpServerTest, GzipBombRejectedAndServerKeepsServing) {
  StartServer();
  Client other(port());
  ASSERT_TRUE(other.connected());
  Client c(port());
  const std::string bomb = Gzip(std::string(10 << 20, '\0'));
  ASSERT_LT(bomb.size(), 65536u);
  c.Send(Post("/collect", bomb, "Content-Encoding: gzip\r\n"));
  Response r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(c.ClosedByServer());
  other.Send(Get("/echo?still"));
  EXPECT_EQ(other.Read().body, "still");
  EXPECT_EQ(Metric("beacond_http_parse_rejects_total{reason=\"decoded_body_too_large\"}"), 1);
  EXPECT_TRUE(sink().beacons().empty());
}

TEST_F(HttpServerTest, EveryRejectionClassAnsweredCountedAndSurvived) {
  StartServer();
  struct Rejection {
    std::string reason;
    std::string request;
    int status;
  };
  const std::vector<Rejection> rejections = {
      {"bare_lf", "GET /collect HTTP/1.1\nHost: t\r\n\r\n", 400},
      {"bare_cr", "GET /collect HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400},
      {"obsolete_folding", "GET /collect HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400},
      {"duplicate_content_length",
       "POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
      {"content_length_with_transfer_encoding",
       "POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"bad_method", "G@T /collect HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"bad_header_name", "GET /collect HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 400},
      {"request_line_too_long", "GET /collect?" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n",
       414},
      {"url_too_long", Get("/collect?" + std::string(7995, 'a')), 414},
      {"header_line_too_long", Get("/collect", "X: " + std::string(9000, 'b') + "\r\n"), 431},
      {"headers_too_large",
       Get("/collect", "X1: " + std::string(6000, 'b') + "\r\nX2: " + std::string(6000, 'b') +
                           "\r\nX3: " + std::string(6000, 'b') + "\r\n"),
       431},
      {"body_too_large", Post("/collect", std::string(70000, 'c')), 413},
      {"unsupported_transfer_encoding",
       "POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"unsupported_content_encoding", Post("/collect", "x", "Content-Encoding: br\r\n"), 415},
      {"bad_gzip", Post("/collect", "not gzip", "Content-Encoding: gzip\r\n"), 400},
      {"unsupported_version", "GET /collect HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      {"missing_host", "GET /collect HTTP/1.1\r\n\r\n", 400},
      {"duplicate_host", "GET /collect HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400},
      {"legacy_transfer_encoding",
       "POST /collect HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n",
       400},
  };
  for (const Rejection& rej : rejections) {
    SCOPED_TRACE(rej.reason);
    const std::string series = "beacond_http_parse_rejects_total{reason=\"" + rej.reason + "\"}";
    const int64_t before = Metric(series);
    ASSERT_EQ(before, 0);
    Client c(port());
    c.Send(rej.request);
    Response r = c.Read();
    EXPECT_EQ(r.status, rej.status);
    EXPECT_EQ(r.headers["connection"], "close");
    EXPECT_TRUE(c.ClosedByServer());
    EXPECT_EQ(Metric(series), 1);
    ExpectServesNewConnection();
  }
  EXPECT_TRUE(sink().beacons().empty());
}

TEST_F(HttpServerTest, ErrorAfterGoodRequestsOnSameConnection) {
  StartServer();
  Client c(port());
  c.Send(Get("/collect?ok=1") + "GET /collect HTTP/1.1\nHost: t\r\n\r\n" + Get("/collect?lost"));
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(c.Read().status, 400);
  EXPECT_TRUE(c.ClosedByServer());
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, "ok=1");
}

TEST_F(HttpServerTest, NotAdmittingAnswers503AndDeliversNothing) {
  HttpServerConfig config;
  config.retry_after_s = 7;
  StartServer(1, config);
  sink().admitting = false;
  Client c(port());
  c.Send(Get("/collect?shed=1"));
  Response r = c.Read();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "7");
  c.Send(Post("/batch", "shed=2"));
  EXPECT_EQ(c.Read().status, 503);
  c.Send(Get("/echo?handlers-still-served"));
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(Metric("beacond_http_requests_shed_total"), 2);
  sink().admitting = true;
  c.Send(Get("/collect?admitted=1"));
  EXPECT_EQ(c.Read().status, 200);
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, "admitted=1");
}

TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  StartServer();
  Client c(port());
  c.Send(Get("/nope"));
  EXPECT_EQ(c.Read().status, 404);
  c.Send("PUT /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  Response r = c.Read();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, POST");
  c.Send(Get("/batch"));
  r = c.Read();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST");
  c.Send(Get("/collect/extra"));
  EXPECT_EQ(c.Read().status, 404);
  EXPECT_TRUE(sink().beacons().empty());
  EXPECT_EQ(Metric("beacond_http_responses_total{code=\"404\"}"), 2);
  EXPECT_EQ(Metric("beacond_http_responses_total{code=\"405\"}"), 2);
}

TEST_F(HttpServerTest, HandlerRouteAndHttp10) {
  StartServer();
  Client c(port());
  c.Send("GET /echo?a=b HTTP/1.0\r\n\r\n");
  Response r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "a=b");
  EXPECT_EQ(r.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_EQ(Metric("beacond_http_requests_total{endpoint=\"handler\"}"), 1);
}

TEST_F(HttpServerTest, HandlerOnlyServerHasNoBeaconRoutes) {
  HttpServerConfig config;
  config.port = 0;
  HttpServer server(config, {});
  server.AddHandler("/metrics", [](const kernels::HttpRequest&) {
    HttpResponse response;
    response.body = "m 1\n";
    return response;
  });
  server.Start();
  Client c(server.port());
  c.Send(Get("/metrics"));
  EXPECT_EQ(c.Read().body, "m 1\n");
  c.Send(Get("/collect?v=1"));
  EXPECT_EQ(c.Read().status, 404);
  server.Stop();
}

// The responders a deferred handler was given, kept for the test to answer.
class PendingAnswers {
 public:
  void Add(HttpRespond respond) {
    const std::lock_guard lock(mutex_);
    pending_.push_back(std::move(respond));
  }
  // Takes those given so far, once there are `at_least` or 500 ms have passed.
  std::vector<HttpRespond> Take(size_t at_least = 1) {
    for (int i = 0; i < 250; ++i) {
      {
        const std::lock_guard lock(mutex_);
        if (pending_.size() >= at_least) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const std::lock_guard lock(mutex_);
    return std::exchange(pending_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<HttpRespond> pending_;
};

// A deferred handler answers from another thread: meanwhile the worker serves other
// connections; the requests pipelined behind it are answered after it, in order; an answer
// given after its client left, or after the server stopped, is dropped.
TEST_F(HttpServerTest, DeferredHandlerAnswersLaterWithoutHoldingTheWorker) {
  HttpServerConfig config;
  config.port = 0;
  HttpServer server(config, {});
  PendingAnswers pending;
  server.AddDeferredHandler("/slow", [&](const kernels::HttpRequest& r, HttpRespond respond) {
    pending.Add(
        [respond = std::move(respond), query = std::string(r.query)](HttpResponse response) {
          response.body += query;
          respond(std::move(response));
        });
  });
  server.AddHandler("/fast", [](const kernels::HttpRequest& r) {
    return HttpResponse{200, "text/plain", std::string(r.query), {}};
  });
  server.Start();
  Client slow(server.port());
  slow.Send(Get("/slow?1") + Get("/fast?2"));
  std::vector<HttpRespond> answers = pending.Take();
  ASSERT_EQ(answers.size(), 1u);
  Client other(server.port());  // served while /slow waits
  other.Send(Get("/fast?other"));
  EXPECT_EQ(other.Read().body, "other");
  std::thread([respond = answers[0]] {
    respond({202, "text/plain", "late ", {{"X-A", "b"}}});
  }).join();
  Response first = slow.Read();
  EXPECT_EQ(first.status, 202);
  EXPECT_EQ(first.body, "late 1");
  EXPECT_EQ(first.headers["x-a"], "b");
  EXPECT_EQ(slow.Read().body, "2");  // after it, not before
  {
    Client gone(server.port());
    gone.Send(Get("/slow?gone"));
    answers = pending.Take();
    ASSERT_EQ(answers.size(), 1u);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  answers[0]({200, "text/plain", "nobody ", {}});  // its client left: dropped
  Client last(server.port());
  last.Send(Get("/slow?last"));
  answers = pending.Take();
  ASSERT_EQ(answers.size(), 1u);
  server.Stop();
  answers[0]({200, "text/plain", "stopped ", {}});  // after the stop: dropped
  EXPECT_TRUE(last.ClosedByServer());
}

TEST_F(HttpServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  Client c(port());
  c.Send("POST /collect HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(c.Read().status, 100);
  c.Send("v=1&x");
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(sink().WaitFor(1).size(), 1u);
}

TEST_F(HttpServerTest, StopFlushesBeaconsThenTicks) {
  HttpServerConfig config;
  config.tick_ms = 60'000;  // no periodic tick during the test
  StartServer(1, config);
  Client c(port());
  for (int i = 0; i < 3; ++i) c.Send(Get("/collect?n=" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.Read().status, 200);
  server_->Stop();
  EXPECT_EQ(sink().beacons().size(), 3u);
  const std::string calls = sink().calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), 'T');
  EXPECT_EQ(calls.find('T'), calls.size() - 1);
  EXPECT_TRUE(c.ClosedByServer());
  server_->Stop();  // idempotent
}

TEST_F(HttpServerTest, TicksArriveEveryTickMs) {
  HttpServerConfig config;
  config.tick_ms = 20;
  StartServer(1, config);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string calls = sink().calls();
  EXPECT_GE(std::count(calls.begin(), calls.end(), 'T'), 5);
}

TEST_F(HttpServerTest, IdleConnectionsClosed) {
  HttpServerConfig config;
  config.idle_timeout_ms = 100;
  StartServer(1, config);
  Client c(port());
  c.Send("GET /collect HTTP/1.1\r\n");  // never finished
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitRefused) {
  HttpServerConfig config;
  config.max_connections_per_worker = 2;
  StartServer(1, config);
  Client a(port());
  Client b(port());
  a.Send(Get("/echo?a"));
  b.Send(Get("/echo?b"));
  EXPECT_EQ(a.Read().body, "a");
  EXPECT_EQ(b.Read().body, "b");
  Client refused(port());
  const Response r = refused.Read();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.at("retry-after"), "1");
  EXPECT_EQ(r.headers.at("connection"), "close");
  EXPECT_TRUE(refused.ClosedByServer());
  EXPECT_EQ(Metric("beacond_http_connections_refused_total"), 1);
  EXPECT_EQ(Metric("beacond_http_limit_rejects_total{reason=\"worker_full\"}"), 1);
}

TEST_F(HttpServerTest, ConnectionsOverThePeerCapAnswered429) {
  HttpServerConfig config;
  config.max_connections_per_peer = 2;
  config.retry_after_s = 3;
  StartServer(1, config);
  auto a = std::make_unique<Client>(port());
  Client b(port());
  a->Send(Get("/echo?a"));
  b.Send(Get("/echo?b"));
  EXPECT_EQ(a->Read().body, "a");
  EXPECT_EQ(b.Read().body, "b");
  Client third(port());
  const Response r = third.Read();
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.at("retry-after"), "3");
  EXPECT_TRUE(third.ClosedByServer());
  EXPECT_EQ(Metric("beacond_http_limit_rejects_total{reason=\"peer_limit\"}"), 1);
  // A closed connection gives its place back.
  a.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ExpectServesNewConnection();
}

// One-byte chunks with 1,000-byte extensions: the de-chunked body stays small while the
// request's wire bytes grow; the server answers 413 once they pass max_request_bytes.
TEST_F(HttpServerTest, ChunkExtensionFloodAnswered413AtTheWireCap) {
  HttpServerConfig config;
  config.max_request_bytes = 100'000;
  StartServer(1, config);
  Client c(port());
  c.Send("POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "1;" + std::string(1000, 'x') + "\r\na\r\n";
  std::string block;
  for (int i = 0; i < 64; ++i) block += chunk;
  for (int i = 0; i < 4; ++i) c.Send(block);  // ~260 KB, within the 1 s lingering close
  const Response r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "request_too_large\n");
  EXPECT_EQ(Metric("beacond_http_limit_rejects_total{reason=\"request_too_large\"}"), 1);
  ExpectServesNewConnection();
  EXPECT_TRUE(sink().beacons().empty());
}

TEST_F(HttpServerTest, ChunkedRequestWithinTheWireCapServed) {
  StartServer();
  Client c(port());
  std::string request = "POST /collect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 100; ++i) request += "1;ext=" + std::to_string(i) + "\r\na\r\n";
  c.Send(request + "0\r\n\r\n");
  EXPECT_EQ(c.Read().status, 200);
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, std::string(100, 'a'));
}

// Slowloris: every byte is activity, but from a request's first byte its head must be
// complete within header_timeout_ms and the whole request within request_timeout_ms.
void ExpectTrickleAnswered408(uint16_t port, std::string_view start, const std::string& reason,
                              const std::function<int64_t(const std::string&)>& metric) {
  Client c(port);
  c.Send(start);
  for (int i = 0; i < 75; ++i) {
    c.Send("a");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const Response r = c.Read();
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.body, reason + "\n");
  EXPECT_EQ(metric("beacond_http_limit_rejects_total{reason=\"" + reason + "\"}"), 1);
}

TEST_F(HttpServerTest, HeadTrickledByteByByteAnswered408) {
  HttpServerConfig config;
  config.header_timeout_ms = 300;
  config.idle_timeout_ms = 10'000;
  StartServer(1, config);
  ExpectTrickleAnswered408(port(),
                           "GET /collect?v=1 HTTP/1.1\r\nHost: t\r\nX-Slow: ", "head_timeout",
                           [this](const std::string& s) { return Metric(s); });
  ExpectServesNewConnection();
}

TEST_F(HttpServerTest, BodyTrickledPastTheRequestDeadlineAnswered408) {
  HttpServerConfig config;
  config.request_timeout_ms = 300;
  config.idle_timeout_ms = 10'000;
  StartServer(1, config);
  ExpectTrickleAnswered408(port(),
                           "POST /collect HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n",
                           "request_timeout", [this](const std::string& s) { return Metric(s); });
  // A keep-alive connection idle between requests is not held to the request deadline.
  Client idle(port());
  idle.Send(Get("/echo?1"));
  EXPECT_EQ(idle.Read().status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  idle.Send(Get("/echo?2"));
  EXPECT_EQ(idle.Read().body, "2");
}

TEST_F(HttpServerTest, BeaconsOverTheSourceRateAnswered429) {
  HttpServerConfig config;
  config.source_rate_per_s = 0.01;  // a burst of 2, then one every 100 s
  config.source_burst = 2;
  StartServer(1, config);
  Client c(port());
  c.Send(Get("/collect?a=1"));
  EXPECT_EQ(c.Read().status, 200);
  c.Send(Get("/collect?a=2"));
  EXPECT_EQ(c.Read().status, 200);
  c.Send(Get("/collect?a=3"));
  const Response r = c.Read();
  EXPECT_EQ(r.status, 429);
  EXPECT_GE(std::stoi(r.headers.at("retry-after")), 90);
  // Not a beacon: not limited, and the connection stays open.
  c.Send(Get("/echo?still"));
  EXPECT_EQ(c.Read().body, "still");
  EXPECT_EQ(Metric("beacond_http_limit_rejects_total{reason=\"source_rate\"}"), 1);
  EXPECT_EQ(sink().WaitFor(2).size(), 2u);
}

// Opens /dev/null until the descriptor limit is reached, then closes one: one free slot left.
std::vector<int> FillDescriptorsButOne() {
  std::vector<int> fds;
  for (;;) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    fds.push_back(fd);
  }
  close(fds.back());
  fds.pop_back();
  return fds;
}

int64_t CpuMicros() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1'000'000 + u.ru_utime.tv_usec +
         u.ru_stime.tv_usec;
}

// Out of descriptors, accept() fails with EMFILE while the client waits in the backlog: the
// level-triggered listener must back off, not spin.
TEST_F(HttpServerTest, AcceptOutOfDescriptorsBacksOffAndCounts) {
  HttpServerConfig config;
  config.accept_backoff_ms = 100;
  StartServer(1, config);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const std::vector<int> fillers = FillDescriptorsButOne();
  Client waiting(port());  // takes the last descriptor; the server's accept has none
  const bool connected = waiting.connected();
  const int64_t cpu_before = CpuMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const int64_t cpu_us = CpuMicros() - cpu_before;
  for (const int fd : fillers) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(connected);
  EXPECT_LT(cpu_us, 150'000);  // a spinning listener takes the whole 600 ms
  const int64_t errors = Metric("beacond_http_accept_errors_total{error=\"emfile\"}");
  EXPECT_GE(errors, 2);
  EXPECT_LE(errors, 10);
  // Descriptors back: the waiting client is accepted and served.
  waiting.Send(Get("/echo?back"));
  EXPECT_EQ(waiting.Read().body, "back");
}

TEST_F(HttpServerTest, ManyClientsAcrossTwoWorkersDeliveredExactlyOnce) {
  StartServer(2);
  constexpr int kClients = 50;
  constexpr int kRequests = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client c(port());
      for (int i = 0; i < kRequests; ++i) {
        const std::string payload = "cid=" + std::to_string(t) + "." + std::to_string(i);
        c.Send(i % 2 == 0 ? Get("/collect?" + payload) : Post("/collect", payload));
        if (c.Read().status == 200) ok.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  // Responses leave before the round's batch reaches the sink: wait for the last ones.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (sink(0).beacons().size() + sink(1).beacons().size() < kClients * kRequests &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto a = sink(0).beacons();
  const auto b = sink(1).beacons();
  EXPECT_FALSE(a.empty());
  EXPECT_FALSE(b.empty());
  std::multiset<std::string> seen;
  for (const auto& x : a) seen.insert(x.payload);
  for (const auto& x : b) seen.insert(x.payload);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kClients * kRequests));
  for (int t = 0; t < kClients; ++t) {
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_EQ(seen.count("cid=" + std::to_string(t) + "." + std::to_string(i)), 1u);
    }
  }
  EXPECT_EQ(Metric("beacond_http_connections_accepted_total"), kClients);
}

// Waits until the server's bytes_read_total stays the same for 100 ms (at most 5 s).
int64_t SettledBytesRead(const std::function<int64_t(const std::string&)>& metric) {
  int64_t last = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    const int64_t now = metric("beacond_http_bytes_read_total");
    if (now == last) return now;
    last = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

// A client sends a beacon, whose answer waits for the archive, then floods small requests
// without reading: their answers, queued behind the held one, count against the 256 KiB
// bound, so the server stops reading the connection; all are answered once it is durable.
TEST_F(HttpServerTest, AnswersQueuedBehindAHeldAnswerAreBounded) {
  StartServer(1, {}, true);
  Client c(port());
  c.Send(Get("/collect?held=1"));
  constexpr int kRequests = 75'000;  // 2.1 MB of requests, 10 MB of 404 answers
  std::string flood;
  for (int i = 0; i < kRequests; ++i) flood += Get("/x");
  const size_t sent = c.SendUntilBlocked(flood, 300);
  const auto metric = [this](const std::string& series) { return Metric(series); };
  // ~2,000 answers of 134 B fill the bound: 56 KB of requests, plus one 64 KiB read.
  EXPECT_LT(SettledBytesRead(metric), 512 * 1024);
  deferring().MakeDurable(1);
  std::thread rest([&] { c.Send(std::string_view(flood).substr(sent)); });
  const Response first = c.Read();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, kGif);
  int not_found = 0;
  while (not_found < kRequests && c.Read().status == 404) ++not_found;
  rest.join();
  EXPECT_EQ(not_found, kRequests);
}

// A beacon too large for an empty raw batch can never be taken: 413 and counted, never a 2xx;
// the connection goes on.
void ExpectBeaconTooLargeAnswered413(uint16_t port,
                                     const std::function<int64_t(const std::string&)>& metric) {
  Client c(port);
  c.Send(Post("/api/event", std::string(kernels::kBatchArenaBytes + 1000, 'a')));
  const Response r = c.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "beacon_too_large\n");
  EXPECT_EQ(metric("beacond_http_limit_rejects_total{reason=\"beacon_too_large\"}"), 1);
  EXPECT_EQ(metric("beacond_http_beacons_dropped_total"), 1);
  c.Send(Post("/api/event", "{}"));
  EXPECT_EQ(c.Read().status, 202);
}

TEST_F(HttpServerTest, BeaconLargerThanABatchAnswered413) {
  HttpServerConfig config;
  config.limits.max_body_bytes = 4 << 20;
  StartServer(1, config);
  ExpectBeaconTooLargeAnswered413(port(), [this](const std::string& s) { return Metric(s); });
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, "{}");
}

TEST_F(HttpServerTest, BeaconLargerThanABatchAnswered413WhenAnswersWaitForTheArchive) {
  HttpServerConfig config;
  config.limits.max_body_bytes = 4 << 20;
  StartServer(1, config, true);
  deferring().MakeDurable(UINT64_MAX);
  ExpectBeaconTooLargeAnswered413(port(), [this](const std::string& s) { return Metric(s); });
  const auto b = sink().WaitFor(1);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].payload, "{}");
}

// A client that half-closes while its answer waits for the archive: its EOF, readable until
// the connection closes, must not wake the level-triggered worker every round.
TEST_F(HttpServerTest, HalfCloseWhileAnswerHeldDoesNotSpin) {
  StartServer(1, {}, true);
  Client c(port());
  c.Send(Get("/collect?held=1"));
  c.ShutdownWrite();
  ASSERT_EQ(sink().WaitFor(1).size(), 1u);
  const int64_t cpu_before = CpuMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_LT(CpuMicros() - cpu_before, 150'000);  // a spinning worker takes the whole 600 ms
  deferring().MakeDurable(1);
  EXPECT_EQ(c.Read().body, kGif);
  EXPECT_TRUE(c.ClosedByServer());
}

// Past 1024 held answers the connection is not read; a half-close then must not spin either.
TEST_F(HttpServerTest, HalfCloseAtTheHeldAnswersCapDoesNotSpin) {
  StartServer(1, {}, true);
  Client c(port());
  constexpr int kBeacons = 1100;
  std::string all;
  for (int i = 0; i < kBeacons; ++i) all += Get("/collect?n=" + std::to_string(i));
  c.Send(all);
  c.ShutdownWrite();
  ASSERT_EQ(sink().WaitFor(1024).size(), 1024u);
  const int64_t cpu_before = CpuMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_LT(CpuMicros() - cpu_before, 150'000);
  deferring().MakeDurable(UINT64_MAX);
  for (int i = 0; i < kBeacons; ++i) ASSERT_EQ(c.Read().status, 200) << i;
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_EQ(sink().WaitFor(kBeacons).size(), static_cast<size_t>(kBeacons));
}

// While stopping, the worker waits up to 5 s for held answers to become durable: neither the
// stop's own wake-up nor a client's next request, both left unread, may make that wait spin.
TEST_F(HttpServerTest, StopWaitingForHeldAnswersDoesNotSpin) {
  StartServer(1, {}, true);
  Client held(port());
  held.Send(Get("/collect?held=1"));
  ASSERT_EQ(sink().WaitFor(1).size(), 1u);
  Client busy(port());
  busy.Send(Get("/collect?n=1"));
  ASSERT_EQ(sink().WaitFor(2).size(), 2u);
  busy.Send(Get("/x"));  // behind busy's held answer, never read at stop
  std::thread stop([this] { server_->Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int64_t cpu_before = CpuMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_LT(CpuMicros() - cpu_before, 150'000);  // a spinning worker takes the whole 600 ms
  deferring().MakeDurable(2);
  stop.join();
  EXPECT_EQ(held.Read().body, kGif);
  EXPECT_EQ(busy.Read().body, kGif);
}

// While a deferred handler's answer is awaited its connection is neither parsed nor read, so
// that a client cannot have many such answers (a scrape each) made at once by pipelining; the
// next request is served once the answer left. One given before the handler returned leaves at
// once. At a stop, a connection whose request lies
// unread in its socket is closed with a FIN, lingering until its client closes, not reset;
// the worker does not spin meanwhile.
TEST_F(HttpServerTest, DeferredAnswerHoldsTheInputAndAStopClosesItCleanly) {
  HttpServerConfig config;
  config.port = 0;
  HttpServer server(config, {});
  PendingAnswers pending;
  server.AddDeferredHandler("/slow", [&](const kernels::HttpRequest& r, HttpRespond respond) {
    pending.Add([respond = std::move(respond), query = std::string(r.query)](HttpResponse) {
      respond({200, "text/plain", query, {}});
    });
  });
  // Answered before it returns (a refusal): at once, holding nothing.
  server.AddDeferredHandler("/now", [](const kernels::HttpRequest& r, HttpRespond respond) {
    respond({403, "text/plain", std::string(r.query), {}});
  });
  server.Start();
  {
    Client now(server.port());
    now.Send(Get("/now?a") + Get("/now?b"));
    EXPECT_EQ(now.Read().body, "a");
    EXPECT_EQ(now.Read().body, "b");
  }

  Client c(server.port());
  c.Send(Get("/slow?1") + Get("/slow?2") + Get("/slow?3"));
  std::vector<HttpRespond> answers = pending.Take(3);
  ASSERT_EQ(answers.size(), 1u) << "pipelined requests made more than one deferred answer";
  answers[0]({});
  EXPECT_EQ(c.Read().body, "1");
  answers = pending.Take(2);
  ASSERT_EQ(answers.size(), 1u);
  answers[0]({});
  EXPECT_EQ(c.Read().body, "2");
  ASSERT_EQ(pending.Take().size(), 1u);  // /slow?3 awaited: never answered
  c.Send(Get("/unread"));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::thread stop([&server] { server.Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int64_t cpu_before = CpuMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_LT(CpuMicros() - cpu_before, 100'000);  // a spinning worker takes the whole 400 ms
  EXPECT_TRUE(c.ClosedCleanly());
  c.ShutdownWrite();  // the client's EOF ends the linger
  stop.join();
}

// At the connection limit with evict_idle_when_full (the management listener), the connection
// idle longest makes room, but never one whose request is being served (awaiting a deferred
// answer, as a POST /reload or a scrape): it is not idle, and its answer still reaches it.
TEST_F(HttpServerTest, EvictionSparesAConnectionAwaitingADeferredAnswer) {
  HttpServerConfig config;
  config.port = 0;
  config.max_connections_per_worker = 2;
  config.evict_idle_when_full = true;
  HttpServer server(config, {});
  PendingAnswers pending;
  server.AddDeferredHandler("/slow", [&](const kernels::HttpRequest&, HttpRespond respond) {
    pending.Add(std::move(respond));
  });
  server.AddHandler("/fast", [](const kernels::HttpRequest&) {
    return HttpResponse{200, "text/plain", "fast", {}};
  });
  server.Start();
  Client awaiting(server.port());
  awaiting.Send(Get("/slow"));
  std::vector<HttpRespond> answers = pending.Take();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // idle longer than the next one
  Client active(server.port());
  active.Send(Get("/fast"));
  EXPECT_EQ(active.Read().body, "fast");
  Client newest(server.port());  // over the limit: one of the two must make room
  newest.Send(Get("/fast"));
  EXPECT_EQ(newest.Read().body, "fast");
  EXPECT_TRUE(active.ClosedByServer());  // the idle one, though more recently active
  ASSERT_EQ(answers.size(), 1u);
  answers[0]({200, "text/plain", "reloaded", {}});
  EXPECT_EQ(awaiting.Read().body, "reloaded");
  server.Stop();
}

}  // namespace
}  // namespace beacon::host
