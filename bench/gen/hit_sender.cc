// Pipelined HTTP/1.1 sender: one thread and one keep-alive connection per --connections.
#include "bench/gen/hit_sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/clock.h"
#include "kernels/unix_time.h"

namespace beacon::bench {
namespace {

using kernels::kMillisPerMinute;
constexpr int kMaxReconnectsWithoutProgress = 5;

void SleepMs(int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// A hit without qt is stamped with the send minute, so it may not be sent inside the guard.
bool NeedsSendMinute(const Request& request) {
  for (const Hit& hit : request.hits) {
    if (!hit.reject && hit.queue_time_ms < 0) return true;
  }
  return false;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

struct HttpResponse {
  int status = 0;
  int64_t retry_after_ms = -1;
  bool close = false;
};

// One keep-alive client connection reading responses with Content-Length bodies.
class HttpConnection {
 public:
  explicit HttpConnection(const HttpTarget& target) : target_(target) {}
  ~HttpConnection() { Close(); }

  bool Connect(std::string* error) {
    Close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(target_.port);
    const std::string host = target_.host == "localhost" ? "127.0.0.1" : target_.host;
    ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval timeout{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      *error = "connect to " + host + ":" + std::to_string(target_.port) +
               " failed: " + std::strerror(errno);
      Close();
      return false;
    }
    buffer_.clear();
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool WriteAll(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response; false when the connection ended or the response is malformed.
  bool ReadResponse(HttpResponse* response) {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > 65536 || !Fill()) return false;
    }
    const std::string_view head(buffer_.data(), header_end);
    *response = HttpResponse{};
    if (head.size() < 12 || !head.starts_with("HTTP/1.")) return false;
    std::from_chars(head.data() + 9, head.data() + 12, response->status);
    size_t body_length = 0;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      const size_t start = pos + 2;
      const size_t end = std::min(head.find("\r\n", start), head.size());
      const std::string_view line = head.substr(start, end - start);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        const std::string_view name = line.substr(0, colon);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (EqualsIgnoreCase(name, "content-length")) {
          std::from_chars(value.data(), value.data() + value.size(), body_length);
        } else if (EqualsIgnoreCase(name, "retry-after")) {
          int64_t seconds = 0;
          if (std::from_chars(value.data(), value.data() + value.size(), seconds).ec ==
              std::errc()) {
            response->retry_after_ms = seconds * 1000;
          }
        } else if (EqualsIgnoreCase(name, "connection")) {
          response->close = EqualsIgnoreCase(value, "close");
        }
      }
      pos = end;
    }
    const size_t total = header_end + 4 + body_length;
    while (buffer_.size() < total) {
      if (!Fill()) return false;
    }
    buffer_.erase(0, total);
    return true;
  }

 private:
  bool Fill() {
    char chunk[16384];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }

  HttpTarget target_;
  int fd_ = -1;
  std::string buffer_;
};

struct SharedState {
  const TrafficModel* model = nullptr;
  SendOptions options;
  std::atomic<uint64_t> next_chunk{0};
  std::mutex mu;
  SendReport report;  // merged under mu
};

// One sender thread: fills a pipeline window from the shared chunk counter, writes it, reads
// its answers, and requeues (or, with a request log, logs in doubt) what a lost connection took.
class ConnectionRun {
 public:
  explicit ConnectionRun(SharedState* shared)
      : shared_(shared),
        opt_(shared->options),
        host_header_(opt_.target.host + ":" + std::to_string(opt_.target.port)),
        conn_(opt_.target),
        start_(std::chrono::steady_clock::now()),
        last_progress_(start_) {}

  void Run() {
    for (;;) {
      FillQueue();
      if (queue_.empty()) break;
      if (!connected_) {
        std::string error;
        if (!conn_.Connect(&error)) {
          if (opt_.reconnect_timeout_s <= 0) local_.failure = error;
          if (opt_.reconnect_timeout_s <= 0 || GiveUp(error)) break;
          SleepMs(100);
          continue;
        }
        connected_ = true;
      }
      const size_t window = std::min(queue_.size(), static_cast<size_t>(opt_.pipeline));
      std::vector<std::vector<uint32_t>> minutes(window);
      const bool written = WriteWindow(window, &minutes);
      std::vector<Request> resend;
      int64_t backoff_ms = 0;
      size_t answered = 0;
      const bool lost = !written || !ReadAnswers(window, minutes, &answered, &resend, &backoff_ms);
      if (lost) {
        ++local_.reconnects;
        conn_.Close();
        connected_ = false;
        if (GiveUp("connection to " + host_header_ + " lost")) break;
        backoff_ms = std::max<int64_t>(backoff_ms, 100);
      }
      Requeue(window, answered, lost, minutes, std::move(resend));
      SleepMs(backoff_ms);
    }
    MergeInto(shared_);
  }

 private:
  void FillQueue() {
    while (queue_.size() < static_cast<size_t>(opt_.pipeline)) {
      const uint64_t k = shared_->next_chunk.fetch_add(1);
      if (k >= shared_->model->chunk_count()) break;
      for (auto& r : shared_->model->Chunk(k)) queue_.push_back(std::move(r));
    }
  }

  // Whether to stop after a failure: with reconnect_timeout_s, once nothing was answered for
  // that long; else after kMaxReconnectsWithoutProgress failures in a row.
  bool GiveUp(const std::string& what) {
    if (opt_.reconnect_timeout_s > 0) {
      const double idle =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - last_progress_).count();
      if (idle <= opt_.reconnect_timeout_s) return false;
      local_.failure = what + ": nothing answered for " + std::to_string(idle) + " s";
      return true;
    }
    if (++failures_without_progress_ <= kMaxReconnectsWithoutProgress) return false;
    local_.failure =
        what + " " + std::to_string(failures_without_progress_) + " times without progress";
    return true;
  }

  bool WriteWindow(size_t window, std::vector<std::vector<uint32_t>>* minutes) {
    const double rate_per_connection = opt_.rate > 0 ? opt_.rate / opt_.connections : 0;
    std::string wire;
    for (size_t i = 0; i < window; ++i) {
      const Request& req = queue_[i];
      if (rate_per_connection > 0) {
        const auto due = start_ + std::chrono::duration<double>(static_cast<double>(hits_written_) /
                                                                rate_per_connection);
        std::this_thread::sleep_until(due);
      }
      int64_t now = kernels::UnixMillis();
      if (NeedsSendMinute(req) &&
          now % kMillisPerMinute >= kMillisPerMinute - opt_.minute_guard_ms) {
        // Flush what is built so far: those requests were stamped before the guard.
        local_.bytes += wire.size();
        if (!wire.empty() && !conn_.WriteAll(wire)) return false;
        wire.clear();
        SleepMs(kMillisPerMinute - now % kMillisPerMinute + 1);
        now = kernels::UnixMillis();
      }
      const std::string tag = opt_.log != nullptr ? RequestTag(req.id) : std::string();
      wire += RequestWire(req, host_header_, now, opt_.minute_guard_ms, &(*minutes)[i], tag);
      hits_written_ += req.hits.size();
    }
    local_.bytes += wire.size();
    const bool written = conn_.WriteAll(wire);
    window_written_ = std::chrono::steady_clock::now();
    return written;
  }

  // Reads the window's answers in order; false when the connection was lost before the last.
  bool ReadAnswers(size_t window, const std::vector<std::vector<uint32_t>>& minutes,
                   size_t* answered, std::vector<Request>* resend, int64_t* backoff_ms) {
    for (; *answered < window; ++*answered) {
      HttpResponse response;
      if (!conn_.ReadResponse(&response)) return false;
      Request& req = queue_[*answered];
      ++local_.requests;
      local_.latency_us.push_back(
          static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - window_written_)
                                    .count()));
      if (response.status >= 200 && response.status < 300) {
        for (size_t h = 0; h < req.hits.size(); ++h) {
          local_.truth.Record(req.hits[h], minutes[*answered][h]);
        }
        if (opt_.log != nullptr) opt_.log->Append(true, req, minutes[*answered]);
        local_.hits += req.hits.size();
        failures_without_progress_ = 0;
        last_progress_ = std::chrono::steady_clock::now();
      } else if (response.status == 503) {
        ++local_.resends_503;
        *backoff_ms = std::max(
            *backoff_ms, response.retry_after_ms >= 0 ? response.retry_after_ms : int64_t{100});
        resend->push_back(std::move(req));
      } else {
        ++local_.unexpected_status[response.status];
      }
      if (response.close) {
        ++*answered;
        conn_.Close();
        connected_ = false;
        return *answered == window;
      }
    }
    return true;
  }

  // Puts the 503'd requests, then the unanswered ones, back in front of the queue; with a
  // request log, those of a lost connection that were written (or begun) are logged in doubt
  // instead: beacond may have taken them.
  void Requeue(size_t window, size_t answered, bool lost,
               const std::vector<std::vector<uint32_t>>& minutes, std::vector<Request> resend) {
    std::vector<Request> unanswered;
    for (size_t i = answered; i < window; ++i) {
      if (lost && opt_.log != nullptr && !minutes[i].empty()) {
        opt_.log->Append(false, queue_[i], minutes[i]);
        ++local_.in_doubt;
      } else {
        unanswered.push_back(std::move(queue_[i]));
      }
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(window));
    for (auto it = unanswered.rbegin(); it != unanswered.rend(); ++it) {
      queue_.push_front(std::move(*it));
    }
    for (auto it = resend.rbegin(); it != resend.rend(); ++it) queue_.push_front(std::move(*it));
  }

  void MergeInto(SharedState* shared) {
    std::lock_guard lock(shared->mu);
    SendReport& total = shared->report;
    total.hits += local_.hits;
    total.requests += local_.requests;
    total.bytes += local_.bytes;
    total.resends_503 += local_.resends_503;
    total.reconnects += local_.reconnects;
    total.in_doubt += local_.in_doubt;
    for (const auto& [status, n] : local_.unexpected_status) total.unexpected_status[status] += n;
    if (total.failure.empty()) total.failure = local_.failure;
    total.latency_us.insert(total.latency_us.end(), local_.latency_us.begin(),
                            local_.latency_us.end());
    total.truth.Merge(local_.truth);
  }

  SharedState* shared_;
  const SendOptions& opt_;
  const std::string host_header_;
  HttpConnection conn_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_progress_;
  std::chrono::steady_clock::time_point window_written_;  // when the window's requests went out
  SendReport local_;
  std::deque<Request> queue_;
  bool connected_ = false;
  int failures_without_progress_ = 0;
  uint64_t hits_written_ = 0;
};

}  // namespace

HttpTarget ParseHttpTarget(std::string_view url) {
  const std::string original(url);
  auto fail = [&]() -> HttpTarget {
    throw std::invalid_argument("target '" + original +
                                "' is not of the form http://127.0.0.1:PORT");
  };
  if (!url.starts_with("http://")) return fail();
  url.remove_prefix(7);
  if (url.ends_with("/")) url.remove_suffix(1);
  const size_t colon = url.rfind(':');
  if (colon == std::string_view::npos) return fail();
  HttpTarget target;
  target.host = std::string(url.substr(0, colon));
  in_addr probe{};
  if (target.host != "localhost" && ::inet_pton(AF_INET, target.host.c_str(), &probe) != 1) {
    return fail();
  }
  const std::string_view port = url.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), target.port);
  if (ec != std::errc() || end != port.data() + port.size() || target.port == 0) return fail();
  return target;
}

std::string RequestWire(const Request& request, std::string_view host_header, int64_t now_ms,
                        int64_t minute_guard_ms, std::vector<uint32_t>* minutes,
                        std::string_view tag) {
  minutes->clear();
  std::string body;
  for (size_t i = 0; i < request.hits.size(); ++i) {
    const Hit& hit = request.hits[i];
    if (i > 0) body += '\n';
    body += hit.params;
    if (i == 0 && !tag.empty()) {
      body += "&z=";
      body += tag;
    }
    int64_t event_ms = now_ms;
    if (hit.queue_time_ms >= 0) {
      int64_t qt = hit.queue_time_ms;
      const int64_t into_minute = (now_ms - qt) % kMillisPerMinute;
      if (into_minute >= kMillisPerMinute - minute_guard_ms) {
        qt += into_minute - (kMillisPerMinute - minute_guard_ms) + 1;  // back to before the guard
      }
      body += "&qt=" + std::to_string(qt);
      event_ms = now_ms - qt;
    }
    minutes->push_back(static_cast<uint32_t>(kernels::UnixMinute(event_ms)));
  }
  std::string wire;
  wire.reserve(body.size() + 400);
  if (request.transport == Transport::kGet) {
    wire += "GET /collect?";
    wire += body;
    wire += " HTTP/1.1\r\n";
  } else {
    wire += request.transport == Transport::kBatch ? "POST /batch HTTP/1.1\r\n"
                                                   : "POST /collect HTTP/1.1\r\n";
  }
  wire += "Host: ";
  wire += host_header;
  wire += "\r\nUser-Agent: ";
  wire += request.user_agent;
  wire += "\r\n";
  if (!request.country_header.empty()) {
    wire += "CF-IPCountry: ";  // as Cloudflare sends it; beacond reads it by default
    wire += request.country_header;
    wire += "\r\n";
  }
  if (request.transport != Transport::kGet) {
    wire += "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ";
    wire += std::to_string(body.size());
    wire += "\r\n\r\n";
    wire += body;
  } else {
    wire += "\r\n";
  }
  return wire;
}

SendReport SendTraffic(const TrafficModel& model, const SendOptions& options) {
  if (options.connections < 1 || options.pipeline < 1) {
    throw std::invalid_argument("--connections and --pipeline must be at least 1");
  }
  SharedState shared;
  shared.model = &model;
  shared.options = options;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < options.connections; ++i) {
    threads.emplace_back([&shared] { ConnectionRun(&shared).Run(); });
  }
  for (auto& t : threads) t.join();
  shared.report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::move(shared.report);
}

}  // namespace beacon::bench
