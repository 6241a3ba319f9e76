// The epoll HTTP/1.1 server. Level-triggered: each ready connection gets one read (up to
// kReadChunk bytes) per event-loop round, so one busy client cannot starve the others; every
// complete request in the input is answered in order and the responses leave in one write.
#include "host/net/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <unordered_map>

#include "kernels/counter.h"
#include "kernels/enrich/attribution.h"
#include "kernels/http/routes.h"

namespace beacon::host {

using kernels::Bump;
using kernels::HttpLimits;
using kernels::HttpParser;
using kernels::HttpReject;
using kernels::HttpRequest;
using kernels::ParseResult;
using kernels::ParseStatus;

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Past this many unsent response bytes a connection is not read until the client catches up.
constexpr size_t kMaxPendingOutput = 256 * 1024;
// How long a connection closed after an error response keeps draining the client's unread
// bytes, so that the close does not turn into a reset that destroys the response.
constexpr int64_t kLingerMs = 1000;
constexpr int kMaxEvents = 256;
constexpr int kMaxStatus = 600;

// The 43-byte transparent 1x1 GIF89a that GA (and Snowplow) answer beacons with.
constexpr char kPixelGif[] =
    "GIF89a\x01\x00\x01\x00\xf0\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x05\x00\x00"
    "\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b";
constexpr std::string_view kPixel(kPixelGif, sizeof(kPixelGif) - 1);
static_assert(kPixel.size() == 43);

enum class RequestKind : uint8_t {
  kCollect,
  kBatch,
  kGtag,
  kMeasurementProtocol,
  kPlausible,
  kSnowplowPixel,
  kSnowplowPost,
  kHandler,
  kOther,
  kCount
};
constexpr std::string_view kRequestKindNames[] = {"collect",      "batch",     "g_collect",
                                                  "mp_collect",   "api_event", "snowplow_i",
                                                  "snowplow_tp2", "handler",   "other"};
static_assert(std::size(kRequestKindNames) == static_cast<size_t>(RequestKind::kCount));

// How a beacon route answers, as the real collector does (host/net/README.md, "Routes").
enum class Answer : uint8_t {
  kGif,        // 200 image/gif, the 43-byte GIF, no-cache (GA /collect, /batch; Snowplow /i)
  kNoContent,  // 204 (GA4 /g/collect, /mp/collect)
  kAccepted,   // 202 text/plain "ok" (Plausible)
  kOk,         // 200 text/plain "ok" (Snowplow tp2)
};

// Which CORS headers a route's answers carry.
enum class Cors : uint8_t {
  kNone,
  kAnyOrigin,   // Access-Control-Allow-Origin: * (Plausible)
  kEchoOrigin,  // the request's Origin (or *) with Allow-Credentials: true (Google, Snowplow)
};

// How the server answers the requests of one beacon endpoint (the routes themselves, paths and
// methods, are kernels/http/routes.h).
struct RouteAnswer {
  RequestKind kind;
  Answer answer;
  Cors cors;
  std::string_view allow;            // the Allow header of a 405
  std::string_view preflight_extra;  // Allow-Methods / Allow-Headers / Max-Age of a preflight
};

RouteAnswer AnswerOf(kernels::Endpoint endpoint) {
  switch (endpoint) {
    case kernels::Endpoint::kGaCollect:
      return {RequestKind::kCollect, Answer::kGif, Cors::kNone, "GET, POST", {}};
    case kernels::Endpoint::kGaBatch:
      return {RequestKind::kBatch, Answer::kGif, Cors::kNone, "POST", {}};
    case kernels::Endpoint::kGa4Gtag:
      return {RequestKind::kGtag, Answer::kNoContent, Cors::kEchoOrigin, "GET, POST, OPTIONS",
              "Access-Control-Allow-Methods: GET, POST\r\nAccess-Control-Allow-Headers: "
              "Content-Type\r\nAccess-Control-Max-Age: 86400\r\n"};
    case kernels::Endpoint::kGa4Mp:
      return {RequestKind::kMeasurementProtocol, Answer::kNoContent, Cors::kNone, "POST", {}};
    case kernels::Endpoint::kPlausibleEvent:
      return {RequestKind::kPlausible, Answer::kAccepted, Cors::kAnyOrigin, "POST, OPTIONS",
              "Access-Control-Allow-Methods: POST\r\nAccess-Control-Allow-Headers: "
              "Content-Type\r\nAccess-Control-Max-Age: 1728000\r\n"};
    case kernels::Endpoint::kSnowplowGet:
      return {RequestKind::kSnowplowPixel, Answer::kGif, Cors::kEchoOrigin, "GET", {}};
    case kernels::Endpoint::kSnowplowPost:
      return {RequestKind::kSnowplowPost, Answer::kOk, Cors::kEchoOrigin, "POST, OPTIONS",
              "Access-Control-Allow-Headers: Content-Type, SP-Anonymous\r\n"
              "Access-Control-Max-Age: 3600\r\n"};
    case kernels::Endpoint::kUdpHitBatch:
    case kernels::Endpoint::kUdpSyslog:
      break;  // no HTTP route
  }
  return {RequestKind::kOther, Answer::kGif, Cors::kNone, {}, {}};
}

// The CORS response headers of `cors` for a request from `origin` (may be empty).
std::string CorsHeaders(Cors cors, std::string_view origin) {
  switch (cors) {
    case Cors::kNone:
      return {};
    case Cors::kAnyOrigin:
      return "Access-Control-Allow-Origin: *\r\n";
    case Cors::kEchoOrigin:
      // Header values reach here validated (no CR, LF or other controls): echoing is safe.
      return "Access-Control-Allow-Origin: " + std::string(origin.empty() ? "*" : origin) +
             "\r\nAccess-Control-Allow-Credentials: true\r\n";
  }
  return {};
}

int64_t ClockMs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

std::string_view StatusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

kernels::IpAddress PeerAddress(const sockaddr_storage& ss) {
  kernels::IpAddress ip;
  if (ss.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(ss);
    ip = kernels::IpAddress::FromV4(ntohl(v4.sin_addr.s_addr));
  } else if (ss.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(ss);
    std::memcpy(ip.bytes.data(), v6.sin6_addr.s6_addr, 16);
  }
  return ip;
}

struct Connection {
  explicit Connection(const HttpLimits& limits) : parser(limits) {}
  int fd = -1;
  kernels::IpAddress peer;
  std::string in;
  size_t in_pos = 0;  // start of the request being parsed
  HttpParser parser;
  std::string out;
  size_t out_pos = 0;
  int64_t last_active_ms = 0;
  bool close_after_write = false;
  bool continue_sent = false;
  bool peer_closed = false;  // the client shut down its write side
  bool lingering = false;    // write side shut down; reading and discarding until EOF
  uint32_t events = 0;       // the epoll interest set
  size_t pending_output() const { return out.size() - out_pos; }
};

}  // namespace

struct HttpServer::Worker {
  // Counters: one writer (this worker), read by metrics scrapes.
  std::array<std::atomic<uint64_t>, static_cast<size_t>(RequestKind::kCount)> requests{};
  std::array<std::atomic<uint64_t>, kMaxStatus> responses{};
  kernels::HttpRejectCounters rejects;
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> shed{0};
  std::atomic<uint64_t> dropped{0};

  HttpServer* server = nullptr;
  BeaconSink* sink = nullptr;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  kernels::RawBatch batch;
  std::unordered_map<int, std::unique_ptr<Connection>> connections;
  bool admitting = true;
  int64_t now_ms = 0;        // monotonic, per round
  int64_t wall_ms = 0;       // CLOCK_REALTIME unix ms, per round
  int64_t date_second = -1;  // the second `date` was formatted for
  std::string date;          // "Sat, 28 Nov 2026 12:00:00 GMT"
  std::array<char, kReadChunk> read_buffer{};

  void Run();
  void Accept();
  void OnReadable(Connection* c);
  // Answers the complete requests in the input and writes the responses, holding requests
  // back while the output is over its bound. Returns false when the connection was closed.
  bool ProcessInput(Connection* c);
  // Appends the answers to complete requests; returns whether some were held back.
  bool AnswerInput(Connection* c);
  void HandleRequest(Connection* c, const HttpRequest& request);
  void AddBeacon(Connection* c, kernels::Endpoint endpoint, std::string_view payload,
                 const HttpRequest& request, std::string_view query);
  void AppendResponse(Connection* c, int status, std::string_view content_type,
                      std::string_view body, std::string_view extra_headers, bool keep_alive,
                      int minor_version, bool head);
  // Writes what the socket takes; returns false when the connection was closed.
  bool Flush(Connection* c);
  void SetInterest(Connection* c, uint32_t events);
  void Close(Connection* c);
  void FlushBatch();
  void UpdateDate();
};

void HttpServer::Worker::UpdateDate() {
  const int64_t second = wall_ms / 1000;
  if (second == date_second) return;
  date_second = second;
  const time_t t = static_cast<time_t>(second);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &utc);
  date.assign(buf, n);
}

void HttpServer::Worker::SetInterest(Connection* c, uint32_t events) {
  if (events == c->events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c->fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = events;
}

void HttpServer::Worker::Close(Connection* c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  Bump(closed);
  ::close(c->fd);
  connections.erase(c->fd);
}

void HttpServer::Worker::Accept() {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    const int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of descriptors: retried on the next round
    }
    if (connections.size() >= server->config_.max_connections_per_worker) {
      Bump(refused);  // before the close that the client observes
      ::close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<Connection>(server->config_.limits);
    conn->fd = fd;
    conn->peer = PeerAddress(ss);
    conn->last_active_ms = now_ms;
    conn->events = EPOLLIN | EPOLLRDHUP;
    epoll_event ev{};
    ev.events = conn->events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      Bump(refused);
      continue;
    }
    Bump(accepted);
    connections.emplace(fd, std::move(conn));
  }
}

void HttpServer::Worker::OnReadable(Connection* c) {
  if (c->pending_output() > kMaxPendingOutput) return;
  const ssize_t n = ::read(c->fd, read_buffer.data(), read_buffer.size());
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    Close(c);
    return;
  }
  if (n == 0) {
    if (c->lingering) {
      Close(c);
      return;
    }
    // The client finished sending: answer the complete requests still buffered, then close.
    c->peer_closed = true;
    ProcessInput(c);
    return;
  }
  Bump(bytes_read, static_cast<uint64_t>(n));
  c->last_active_ms = now_ms;
  if (c->lingering || c->close_after_write) return;  // discarded
  c->in.append(read_buffer.data(), static_cast<size_t>(n));
  ProcessInput(c);
}

bool HttpServer::Worker::ProcessInput(Connection* c) {
  for (;;) {
    const bool held_back = AnswerInput(c);
    if (!Flush(c)) return false;
    // Requests held back by a full output buffer are answered once it drains.
    if (held_back && c->pending_output() <= kMaxPendingOutput) continue;
    if (c->peer_closed && !held_back && c->pending_output() == 0) {
      Close(c);
      return false;
    }
    return true;
  }
}

bool HttpServer::Worker::AnswerInput(Connection* c) {
  bool held_back = false;
  while (!c->close_after_write && c->in_pos < c->in.size()) {
    if (c->pending_output() > kMaxPendingOutput) {
      held_back = true;
      break;
    }
    const std::string_view pending(c->in.data() + c->in_pos, c->in.size() - c->in_pos);
    const ParseResult r = c->parser.Parse(pending);
    if (r.status == ParseStatus::kNeedMore) {
      if (c->parser.expects_continue() && !c->continue_sent) {
        c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
        c->continue_sent = true;
      }
      break;
    }
    if (r.status == ParseStatus::kError) {
      rejects.Add(r.reject);
      AppendResponse(c, r.http_status, "text/plain; charset=utf-8",
                     std::string(kernels::HttpRejectName(r.reject)) + "\n", {}, false, 1, false);
      c->close_after_write = true;
      break;
    }
    HandleRequest(c, c->parser.request());
    c->in_pos += r.consumed;
    c->parser.Reset();
    c->continue_sent = false;
  }
  // Keep only the unparsed tail; the parser's offsets are relative to in_pos.
  if (c->in_pos == c->in.size() || c->close_after_write) {
    c->in.clear();
    c->in_pos = 0;
  } else if (c->in_pos > 0) {
    c->in.erase(0, c->in_pos);
    c->in_pos = 0;
  }
  return held_back;
}

void HttpServer::Worker::AddBeacon(Connection* c, kernels::Endpoint endpoint,
                                   std::string_view payload, const HttpRequest& request,
                                   std::string_view query) {
  uint16_t country = kernels::kUnknownCountry;
  for (const std::string& name : server->config_.country_headers) {
    const std::string_view value = request.Header(name);
    if (!value.empty()) {
      country = kernels::CountryFromHeader(value);
      break;
    }
  }
  const std::string_view user_agent = request.user_agent;
  if (batch.Add(endpoint, kernels::IngressKind::kHttp, payload, user_agent, c->peer, wall_ms, query,
                country)) {
    return;
  }
  FlushBatch();
  if (!batch.Add(endpoint, kernels::IngressKind::kHttp, payload, user_agent, c->peer, wall_ms,
                 query, country)) {
    Bump(dropped);  // larger than an empty batch's arena
  }
}

void HttpServer::Worker::HandleRequest(Connection* c, const HttpRequest& request) {
  const HttpServerConfig& config = server->config_;
  const std::string_view path = request.path;
  const bool head = request.method == "HEAD";
  const kernels::RoutedRequest routed =
      sink != nullptr ? kernels::RouteRequest(request, config.limits) : kernels::RoutedRequest{};
  if (routed.route != nullptr) {
    const RouteAnswer route = AnswerOf(routed.route->endpoint);
    Bump(requests[static_cast<size_t>(route.kind)]);
    const std::string cors = CorsHeaders(route.cors, request.Header("Origin"));
    switch (routed.outcome) {
      case kernels::RouteOutcome::kPreflight:
        AppendResponse(c, 204, "text/plain; charset=utf-8", {},
                       cors + std::string(route.preflight_extra), request.keep_alive,
                       request.minor_version, false);
        return;
      case kernels::RouteOutcome::kMethodNotAllowed:
        AppendResponse(c, 405, "text/plain; charset=utf-8", "method not allowed\n",
                       "Allow: " + std::string(route.allow) + "\r\n", request.keep_alive,
                       request.minor_version, head);
        return;
      case kernels::RouteOutcome::kUrlTooLong:
        rejects.Add(HttpReject::kUrlTooLong);
        AppendResponse(c, 414, "text/plain; charset=utf-8", "url_too_long\n", {}, false,
                       request.minor_version, false);
        c->close_after_write = true;
        return;
      case kernels::RouteOutcome::kBeacon:
      case kernels::RouteOutcome::kNotBeaconPath:
        break;
    }
    if (!admitting) {
      Bump(shed);
      const std::string retry = "Retry-After: " + std::to_string(config.retry_after_s) + "\r\n";
      AppendResponse(c, 503, "text/plain; charset=utf-8", "overloaded\n", retry, request.keep_alive,
                     request.minor_version, false);
      return;
    }
    AddBeacon(c, routed.route->endpoint, routed.payload, request, routed.query);
    switch (route.answer) {
      case Answer::kGif:
        AppendResponse(c, 200, "image/gif", kPixel,
                       "Cache-Control: no-cache, no-store, must-revalidate\r\n" + cors,
                       request.keep_alive, request.minor_version, false);
        break;
      case Answer::kNoContent:
        AppendResponse(c, 204, "text/plain; charset=utf-8", {}, cors, request.keep_alive,
                       request.minor_version, false);
        break;
      case Answer::kAccepted:
        AppendResponse(c, 202, "text/plain; charset=utf-8", "ok", cors, request.keep_alive,
                       request.minor_version, false);
        break;
      case Answer::kOk:
        AppendResponse(c, 200, "text/plain; charset=utf-8", "ok", cors, request.keep_alive,
                       request.minor_version, false);
        break;
    }
    return;
  }
  for (const auto& [handler_path, handler] : server->handlers_) {
    if (handler_path != path) continue;
    Bump(requests[static_cast<size_t>(RequestKind::kHandler)]);
    const HttpResponse response = handler(request);
    std::string extra;
    for (const auto& [name, value] : response.headers) {
      extra.append(name).append(": ").append(value).append("\r\n");
    }
    AppendResponse(c, response.status, response.content_type, response.body, extra,
                   request.keep_alive, request.minor_version, head);
    return;
  }
  Bump(requests[static_cast<size_t>(RequestKind::kOther)]);
  AppendResponse(c, 404, "text/plain; charset=utf-8", "not found\n", {}, request.keep_alive,
                 request.minor_version, head);
}

void HttpServer::Worker::AppendResponse(Connection* c, int status, std::string_view content_type,
                                        std::string_view body, std::string_view extra_headers,
                                        bool keep_alive, int minor_version, bool head) {
  if (status >= 0 && status < kMaxStatus) Bump(responses[static_cast<size_t>(status)]);
  UpdateDate();
  std::string& out = c->out;
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(StatusText(status)).append("\r\nDate: ").append(date).append("\r\n");
  // A 204 carries neither (RFC 9110 §8.6: no Content-Length in a 204).
  if (status != 204) {
    out.append("Content-Type: ").append(content_type).append("\r\n");
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  out.append(extra_headers);
  if (!keep_alive) {
    out.append("Connection: close\r\n");
    c->close_after_write = true;
  } else if (minor_version == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!head) out.append(body);
}

bool HttpServer::Worker::Flush(Connection* c) {
  while (c->pending_output() > 0) {
    const ssize_t n = ::send(c->fd, c->out.data() + c->out_pos, c->pending_output(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close(c);
      return false;
    }
    c->out_pos += static_cast<size_t>(n);
    c->last_active_ms = now_ms;  // a slow reader is not idle
  }
  if (c->pending_output() > 0) {
    // Drop the sent prefix so a client that never fully drains does not grow the buffer.
    if (c->out_pos >= kMaxPendingOutput) {
      c->out.erase(0, c->out_pos);
      c->out_pos = 0;
    }
    // Keep reading while the backlog is small; past the bound only wait for writability.
    const bool read_more =
        !c->peer_closed && !c->close_after_write && c->pending_output() <= kMaxPendingOutput;
    SetInterest(c, read_more ? EPOLLIN | EPOLLRDHUP | EPOLLOUT : EPOLLOUT);
    return true;
  }
  c->out.clear();
  c->out_pos = 0;
  if (c->close_after_write) {
    if (c->lingering) return true;
    shutdown(c->fd, SHUT_WR);
    c->lingering = true;
    c->last_active_ms = now_ms;
  }
  SetInterest(c, EPOLLIN | EPOLLRDHUP);
  return true;
}

void HttpServer::Worker::FlushBatch() {
  if (batch.empty()) return;
  sink->OnBatch(batch);
  batch.Clear();
}

void HttpServer::Worker::Run() {
  std::array<epoll_event, kMaxEvents> events{};
  const HttpServerConfig& config = server->config_;
  const int64_t sweep_every_ms = std::max(1, std::min(config.idle_timeout_ms / 4, 1000));
  now_ms = ClockMs(CLOCK_MONOTONIC);
  int64_t last_tick_ms = now_ms;
  int64_t last_sweep_ms = now_ms;
  std::vector<Connection*> expired;
  while (!server->stopping_.load(std::memory_order_acquire)) {
    int timeout = static_cast<int>(std::max<int64_t>(0, last_sweep_ms + sweep_every_ms - now_ms));
    if (sink != nullptr) {
      timeout = std::min(
          timeout, static_cast<int>(std::max<int64_t>(0, last_tick_ms + config.tick_ms - now_ms)));
    }
    const int n = epoll_wait(epoll_fd, events.data(), kMaxEvents, timeout);
    now_ms = ClockMs(CLOCK_MONOTONIC);
    wall_ms = ClockMs(CLOCK_REALTIME);
    if (sink != nullptr) admitting = sink->Admitting();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        Accept();
        continue;
      }
      if (fd == wake_fd) continue;
      const auto it = connections.find(fd);
      if (it == connections.end()) continue;
      Connection* c = it->second.get();
      const uint32_t ev = events[i].events;
      if (ev & EPOLLOUT) {
        // As the output drains, requests held back are answered.
        const bool open = c->close_after_write ? Flush(c) : ProcessInput(c);
        if (!open) continue;
      }
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLIN)) {
          Close(c);
          continue;
        }
        if (c->events & EPOLLIN) OnReadable(c);
      }
    }
    if (sink != nullptr) {
      FlushBatch();
      if (now_ms - last_tick_ms >= config.tick_ms) {
        sink->OnTick(wall_ms);
        last_tick_ms = now_ms;
      }
    }
    if (now_ms - last_sweep_ms >= sweep_every_ms) {
      last_sweep_ms = now_ms;
      expired.clear();
      for (const auto& [fd, c] : connections) {
        const int64_t limit = c->lingering ? kLingerMs : config.idle_timeout_ms;
        if (now_ms - c->last_active_ms >= limit) expired.push_back(c.get());
      }
      for (Connection* c : expired) Close(c);
    }
  }
  ::close(listen_fd);
  listen_fd = -1;
  while (!connections.empty()) Close(connections.begin()->second.get());
  if (sink != nullptr) {
    FlushBatch();
    sink->OnTick(ClockMs(CLOCK_REALTIME));
  }
  ::close(epoll_fd);
  ::close(wake_fd);
  epoll_fd = wake_fd = -1;
}

HttpServer::HttpServer(HttpServerConfig config, std::vector<BeaconSink*> sinks)
    : config_(std::move(config)), sinks_(std::move(sinks)) {
  const size_t count =
      sinks_.empty() ? static_cast<size_t>(std::max(1, config_.workers)) : sinks_.size();
  for (size_t i = 0; i < count; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->server = this;
    worker->sink = sinks_.empty() ? nullptr : sinks_[i];
    workers_.push_back(std::move(worker));
  }
}

HttpServer::~HttpServer() {
  Stop();
  for (auto& w : workers_) {
    if (w->listen_fd >= 0) ::close(w->listen_fd);
    if (w->epoll_fd >= 0) ::close(w->epoll_fd);
    if (w->wake_fd >= 0) ::close(w->wake_fd);
  }
}

void HttpServer::AddHandler(std::string path, HttpHandler handler) {
  handlers_.emplace_back(std::move(path), std::move(handler));
}

namespace {

// A nonblocking SO_REUSEPORT listening socket on address:port.
int Listen(const std::string& address, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto& v4 = reinterpret_cast<sockaddr_in&>(ss);
  auto& v6 = reinterpret_cast<sockaddr_in6&>(ss);
  if (inet_pton(AF_INET, address.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    len = sizeof(v4);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    len = sizeof(v6);
  } else {
    throw std::runtime_error("http server: listen address '" + address +
                             "' is not an IPv4 or IPv6 address literal");
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("http server: socket: ") + strerror(errno));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, SOMAXCONN) != 0) {
    const std::string error = strerror(errno);
    ::close(fd);
    throw std::runtime_error("http server: cannot listen on " + address + ":" +
                             std::to_string(port) + ": " + error);
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
}

}  // namespace

void HttpServer::Start() {
  if (!threads_.empty()) throw std::runtime_error("http server: Start called twice");
  port_ = config_.port;
  for (auto& w : workers_) {
    w->listen_fd = Listen(config_.address, port_);
    if (port_ == 0) port_ = BoundPort(w->listen_fd);
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epoll_fd < 0 || w->wake_fd < 0) {
      throw std::runtime_error(std::string("http server: epoll/eventfd: ") + strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = w->listen_fd;
    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->listen_fd, &ev);
    ev.data.fd = w->wake_fd;
    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &ev);
  }
  for (auto& w : workers_) threads_.emplace_back([worker = w.get()] { worker->Run(); });
}

void HttpServer::Stop() {
  if (threads_.empty()) return;
  stopping_.store(true, std::memory_order_release);
  for (auto& w : workers_) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(w->wake_fd, &one, sizeof(one));
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void HttpServer::RegisterMetrics(MetricsRegistry* registry, std::string prefix) const {
  registry->Add([this, prefix = std::move(prefix)](MetricsWriter& w) {
    const auto sum = [this](auto member) {
      uint64_t total = 0;
      for (const auto& worker : workers_) total += member(*worker).load(std::memory_order_relaxed);
      return total;
    };
    for (size_t k = 0; k < static_cast<size_t>(RequestKind::kCount); ++k) {
      w.Counter(prefix + "_requests_total", "HTTP requests by endpoint",
                {{"endpoint", kRequestKindNames[k]}},
                sum([k](Worker& x) -> std::atomic<uint64_t>& { return x.requests[k]; }));
    }
    for (int s = 0; s < kMaxStatus; ++s) {
      const uint64_t v = sum(
          [s](Worker& x) -> std::atomic<uint64_t>& { return x.responses[static_cast<size_t>(s)]; });
      if (v == 0) continue;
      const std::string code = std::to_string(s);
      w.Counter(prefix + "_responses_total", "HTTP responses by status code", {{"code", code}}, v);
    }
    for (size_t r = 0; r < kernels::kHttpRejectCount; ++r) {
      uint64_t v = 0;
      for (const auto& worker : workers_) v += worker->rejects.Get(static_cast<HttpReject>(r));
      w.Counter(prefix + "_parse_rejects_total", "HTTP requests rejected, by reason",
                {{"reason", kernels::HttpRejectName(static_cast<HttpReject>(r))}}, v);
    }
    w.Counter(prefix + "_connections_accepted_total", "TCP connections accepted", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.accepted; }));
    w.Counter(prefix + "_connections_closed_total", "TCP connections closed", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.closed; }));
    w.Counter(prefix + "_connections_refused_total",
              "TCP connections closed at accept (per-worker connection limit)", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.refused; }));
    w.Counter(prefix + "_bytes_read_total", "bytes read from clients", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.bytes_read; }));
    w.Counter(prefix + "_requests_shed_total", "beacon requests answered 503 (sink not admitting)",
              {}, sum([](Worker& x) -> std::atomic<uint64_t>& { return x.shed; }));
    w.Counter(prefix + "_beacons_dropped_total", "beacons larger than an empty raw batch", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.dropped; }));
  });
}

}  // namespace beacon::host
