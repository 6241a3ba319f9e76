// The epoll HTTP/1.1 server. Level-triggered: each ready connection gets one read (up to
// kReadChunk bytes) per event-loop round, so one busy client cannot starve the others; every
// complete request in the input is answered in order and the responses leave in one write.
#include "host/net/http_server.h"

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
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "host/net/collector_answers.h"
#include "host/net/socket.h"
#include "kernels/clock.h"
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
// Past this many unsent response bytes (those behind held answers included) a connection is
// neither parsed nor read until the client catches up.
constexpr size_t kMaxPendingOutput = 256 * 1024;
// How long a connection closed after an error response keeps draining the client's unread
// bytes, so that the close does not turn into a reset that destroys the response.
constexpr int64_t kLingerMs = 1000;
// At stop, how long the answers held for the archive may take to become durable and be sent.
constexpr int64_t kStopAnswersMs = 5000;
constexpr int kMaxEvents = 256;
constexpr int kMaxStatus = 600;
// Connections kept only to deliver a refusal (503, 429) per worker; past them, a silent close.
constexpr size_t kMaxRefusing = 64;

// Requests and connections refused by a server limit (not by the parser).
enum class Limit : uint8_t {
  kWorkerFull,       // max_connections_per_worker: 503
  kPeerLimit,        // max_connections_per_peer: 429
  kRequestTooLarge,  // max_request_bytes on the wire: 413
  kHeadTimeout,      // header_timeout_ms: 408
  kRequestTimeout,   // request_timeout_ms: 408
  kSourceRate,       // source_rate_per_s: 429
  kBeaconTooLarge,   // a beacon larger than an empty raw batch (kernels::kBatchArenaBytes): 413
  kCount
};
constexpr std::string_view kLimitNames[] = {
    "worker_full",     "peer_limit",  "request_too_large", "head_timeout",
    "request_timeout", "source_rate", "beacon_too_large"};
// Sources with a rate bucket per worker; past it, new sources are not limited until the sweep
// drops the buckets that refilled.
constexpr size_t kMaxSources = 65536;
constexpr size_t kLimitCount = static_cast<size_t>(Limit::kCount);

// accept() failures that pause the listener.
enum class AcceptError : uint8_t { kEmfile, kEnfile, kNoMemory, kOther, kCount };
constexpr std::string_view kAcceptErrorNames[] = {"emfile", "enfile", "no_memory", "other"};
constexpr size_t kAcceptErrorCount = static_cast<size_t>(AcceptError::kCount);

AcceptError ClassifyAcceptError(int error) {
  switch (error) {
    case EMFILE:
      return AcceptError::kEmfile;
    case ENFILE:
      return AcceptError::kEnfile;
    case ENOBUFS:
    case ENOMEM:
      return AcceptError::kNoMemory;
    default:
      return AcceptError::kOther;
  }
}

struct PeerHash {
  size_t operator()(const std::array<uint8_t, 16>& a) const {
    return std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char*>(a.data()), a.size()));
  }
};
// Beacon answers a connection may have waiting for durability before its input is held back.
constexpr size_t kMaxHeldAnswers = 1024;

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
    case 401:
      return "Unauthorized";
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

// A beacon request's answer waiting until its beacon is durable (a sink that DefersAnswers) or
// its batch was handed on (a sink that RefusesBeacons), or a deferred handler's until it
// answers, and the responses of the requests pipelined after it, which leave after it.
struct HeldAnswer {
  enum class State : uint8_t {
    kAwaitingBatch,
    kAwaitingDurable,
    kDurable,
    kLost,
    kOverBudget,
    kAwaitingHandler,  // a deferred handler's; `sequence` is its id
    kHandled,          // its response is at the front of `after`
  };
  State state = State::kAwaitingBatch;
  uint64_t sequence = 0;
  CollectorAnswer answer;
  int minor_version = 1;
  bool head = false;
  std::string after;  // responses to the requests that followed, in order
};

// Whether a held answer can leave: resolved, not waiting for a batch, durability or a handler.
bool Resolved(const HeldAnswer& held) {
  return held.state != HeldAnswer::State::kAwaitingBatch &&
         held.state != HeldAnswer::State::kAwaitingDurable &&
         held.state != HeldAnswer::State::kAwaitingHandler;
}

// The answers deferred handlers give from other threads, for one worker; the responders share
// it, so that one answering after the worker stopped leaves its answer here, dropped.
struct DeferredMailbox {
  struct Answer {
    int fd;       // the connection's
    uint64_t id;  // the held answer's sequence
    HttpResponse response;
  };
  DeferredMailbox() : wake_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~DeferredMailbox() {
    if (wake_fd >= 0) ::close(wake_fd);
  }
  DeferredMailbox(const DeferredMailbox&) = delete;
  DeferredMailbox& operator=(const DeferredMailbox&) = delete;
  void Post(Answer answer) {
    {
      const std::lock_guard lock(mutex);
      answers.push_back(std::move(answer));
    }
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd, &one, sizeof(one));
  }
  std::vector<Answer> Take() {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd, &count, sizeof(count));
    const std::lock_guard lock(mutex);
    return std::exchange(answers, {});
  }
  const int wake_fd;  // readable while answers wait
  std::mutex mutex;
  std::vector<Answer> answers;
};

// A deferred handler's answer given on the worker before the handler returned (a refusal): it
// is answered at once, as a handler's, not held and taken from the mailbox a round later.
struct AnsweredAtOnce {
  const DeferredMailbox* mailbox;  // whose worker calls the handler
  uint64_t id;
  std::optional<HttpResponse> response;
};
// Set on a worker's thread while it calls a deferred handler.
thread_local AnsweredAtOnce* t_answered_at_once = nullptr;

std::string HeaderLines(const HttpResponse& response) {
  std::string extra;
  for (const auto& [name, value] : response.headers) {
    extra.append(name).append(": ").append(value).append("\r\n");
  }
  return extra;
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
  bool refusal = false;      // accepted only to answer 503 or 429 and close
  bool counts_for_peer = false;
  int64_t request_start_ms = -1;   // first byte of the request in `in`; -1: none
  uint32_t events = 0;             // the epoll interest set
  std::deque<HeldAnswer> held;     // answers waiting for durability, in request order
  size_t held_bytes = 0;           // the responses in the held answers' `after`
  uint32_t awaiting_handlers = 0;  // held answers of deferred handlers not given yet
  size_t pending_output() const { return out.size() - out_pos; }
  // Every response byte not yet sent, queued behind held answers or not.
  size_t queued_output() const { return pending_output() + held_bytes; }
  // Past either bound the input waits (neither parsed nor read) until answers leave; so it
  // does while a deferred handler's answer is awaited, so that a client cannot have many of
  // them (each may be as large as a whole scrape) made at once by pipelining.
  bool input_held_back() const {
    return awaiting_handlers > 0 || queued_output() > kMaxPendingOutput ||
           held.size() >= kMaxHeldAnswers;
  }
  // Where the next response goes: behind the last held answer, if any. Count what is appended
  // there with CountQueued.
  std::string& output() { return held.empty() ? out : held.back().after; }
  // After appending to output(), whose size was `before`: counts the bytes held behind.
  void CountQueued(size_t before) {
    if (!held.empty()) held_bytes += held.back().after.size() - before;
  }
};

}  // namespace

struct HttpServer::Worker {
  Worker(HttpServer* owner, kernels::BeaconSink* beacon_sink)
      : server(owner), sink(beacon_sink), beacons(beacon_sink) {}

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
  std::array<std::atomic<uint64_t>, kLimitCount> limits{};
  std::array<std::atomic<uint64_t>, kAcceptErrorCount> accept_errors{};
  std::atomic<uint64_t> unarchived{0};
  std::atomic<uint64_t> over_budget{0};

  HttpServer* server;
  kernels::BeaconSink* sink;  // null: handler routes only
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  kernels::SinkBatch beacons;
  std::unordered_map<int, std::unique_ptr<Connection>> connections;
  std::unordered_map<std::array<uint8_t, 16>, uint32_t, PeerHash> peers;  // serving, per address
  size_t serving = 0;                          // connections under max_connections_per_worker
  size_t refusing = 0;                         // refusal connections
  int64_t accept_resume_ms = -1;               // the listener is paused until then; -1: listening
  std::vector<Connection*> expired, late;      // Sweep's scratch
  std::vector<Connection*> lingering_at_stop;  // LingerAtStop's scratch
  // Per source (address prefix): when its rate bucket is whole again, CLOCK_MONOTONIC ns.
  std::unordered_map<std::array<uint8_t, 16>, int64_t, PeerHash> sources;
  int64_t source_interval_ns = 0;  // 0: no source limit
  int64_t source_burst_ns = 0;
  // Held answers of the beacons in `beacons`, in batch order (null: its connection closed).
  std::vector<HeldAnswer*> awaiting_batch;
  std::unordered_set<int> holding;  // connections with held answers
  std::vector<int> release_scratch;
  const std::shared_ptr<DeferredMailbox> mailbox = std::make_shared<DeferredMailbox>();
  uint64_t deferred_ids = 0;
  int durability_fd = -1;
  bool durability_ready = false;  // durability_fd was readable this round
  bool stopped = false;           // no request is parsed any more: the server stops
  bool admitting = true;
  int64_t now_ms = 0;        // monotonic, per round
  int64_t wall_ms = 0;       // CLOCK_REALTIME unix ms, per round
  int64_t date_second = -1;  // the second `date` was formatted for
  std::string date;          // "Sat, 28 Nov 2026 12:00:00 GMT"
  std::array<char, kReadChunk> read_buffer{};

  void Run();
  void Accept();
  // Registers an accepted socket; null (the socket closed) when epoll refuses it.
  Connection* AddConnection(int fd, const kernels::IpAddress& peer);
  // Closes the serving connection idle longest (no byte read or sent), but for those holding
  // beacon answers; false when there is none (evict_idle_when_full).
  bool EvictIdlest();
  // Answers a just-accepted client 503 (worker full) or 429 (peer limit) and closes it.
  void Refuse(int fd, const kernels::IpAddress& peer, Limit limit);
  void PauseAccepting(int error);
  void ResumeAcceptingWhenDue();
  // Queues the error answer of a limit and closes the connection after it.
  void RejectForLimit(Connection* c, Limit limit, int status);
  // Closes idle and lingering connections; answers 408 to requests past their deadline.
  void Sweep();
  // Takes one request from the source's rate bucket; false (and the seconds until the next
  // one in *retry_s) when it is empty.
  bool TakeSourceToken(const kernels::IpAddress& peer, int64_t* retry_s);
  void OnReadable(Connection* c);
  // Answers the complete requests in the input and writes the responses, holding requests
  // back while the output is over its bound. Returns false when the connection was closed.
  bool ProcessInput(Connection* c);
  // Appends the answers to complete requests; returns whether some were held back.
  bool AnswerInput(Connection* c);
  void HandleRequest(Connection* c, const HttpRequest& request);
  // Answers a request on a beacon route (collector_answers.h) and takes its beacon.
  void AnswerBeaconRoute(Connection* c, const HttpRequest& request,
                         const kernels::RoutedRequest& routed);
  // Adds the request's beacon to the batch; false when it was dropped (counted).
  bool AddBeacon(Connection* c, const HttpRequest& request, const kernels::RoutedRequest& routed);
  // Takes the beacon and holds its answer until the beacon is durable; false when the beacon
  // was dropped (the caller answers 413).
  bool HoldBeaconAnswer(Connection* c, const HttpRequest& request,
                        const kernels::RoutedRequest& routed, const CollectorAnswer& answer);
  // Holds the request's answer and runs its deferred handler, which answers through the mailbox.
  void HoldHandlerAnswer(Connection* c, const HttpRequest& request,
                         const DeferredHttpHandler& handler);
  // Puts the deferred handlers' answers in their places and sends those now in order.
  void TakeDeferredAnswers();
  // Sends the connection's held answers resolved at its front; false when it was closed.
  bool SendResolved(Connection* c);
  // Gives the sink's sequences to the first `count` beacons of awaiting_batch, just delivered.
  void AssignSequences(size_t count);
  void Deliver();
  // Resolves held answers against the sink's durability and sends those now in order.
  void ReleaseHeld();
  // At stop, with nothing parsed any more: delivers the beacons taken in and sends the answers
  // held for them as they become durable, so that nothing archived goes unanswered (bounded by
  // kStopAnswersMs).
  void AnswerHeldAtStop();
  // Then (at once without a sink): closes the connections without unread requests, in the
  // input or the socket; sends the others FIN and reads what their client still sends until it
  // closes (or `until`), so that the close does not reset the connection and destroy the
  // answers in flight.
  void LingerAtStop(int64_t until);
  // Reads and drops the client's input; closes at its EOF or an error.
  void DiscardInput(Connection* c);
  void SendHeld(Connection* c, HeldAnswer& held);
  void AppendResponse(Connection* c, int status, std::string_view content_type,
                      std::string_view body, std::string_view extra_headers, bool keep_alive,
                      int minor_version, bool head);
  void FormatResponse(std::string& out, int status, std::string_view content_type,
                      std::string_view body, std::string_view extra_headers, bool keep_alive,
                      int minor_version, bool head);
  // Writes what the socket takes; returns false when the connection was closed.
  bool Flush(Connection* c);
  void SetInterest(Connection* c, uint32_t events);
  // Sets the interest the connection's state calls for: EPOLLOUT while output is unsent; its
  // input while it may be read.
  void UpdateInterest(Connection* c);
  void Close(Connection* c);
  void UpdateDate();
  // Adds the sink's durability fd to the epoll set when the sink defers answers.
  void WatchDurability();
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

void HttpServer::Worker::UpdateInterest(Connection* c) {
  // Level-triggered: a readable EOF, or EPOLLRDHUP after it, would wake every round, so a
  // half-closed client's input is not asked for again; nor is input held back by the answers
  // queued. A lingering close reads until the client's EOF, then closes.
  const bool pending = c->pending_output() > 0;
  // Once stopped no request is read: only a lingering close's input is, to its EOF.
  const bool read = c->lingering || (!stopped && !c->peer_closed && !c->input_held_back() &&
                                     !(pending && c->close_after_write));
  SetInterest(c, (pending ? EPOLLOUT : 0u) | (read ? EPOLLIN | EPOLLRDHUP : 0u));
}

void HttpServer::Worker::Close(Connection* c) {
  for (HeldAnswer& h : c->held) {
    std::replace(awaiting_batch.begin(), awaiting_batch.end(), &h,
                 static_cast<HeldAnswer*>(nullptr));
  }
  holding.erase(c->fd);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  if (c->refusal) {
    --refusing;
  } else {
    Bump(closed);
    --serving;
  }
  if (c->counts_for_peer) {
    const auto it = peers.find(c->peer.bytes);
    if (--it->second == 0) peers.erase(it);
  }
  ::close(c->fd);
  connections.erase(c->fd);
}

void HttpServer::Worker::Accept() {
  const HttpServerConfig& config = server->config_;
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    const int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // The listener is level-triggered: an error that persists would spin the loop.
      if (errno != EAGAIN && errno != EWOULDBLOCK) PauseAccepting(errno);
      return;
    }
    const kernels::IpAddress peer = PeerAddress(ss);
    if (serving >= config.max_connections_per_worker &&
        !(config.evict_idle_when_full && EvictIdlest())) {
      Refuse(fd, peer, Limit::kWorkerFull);
      continue;
    }
    const size_t per_peer = config.max_connections_per_peer;
    if (per_peer != 0) {
      const auto it = peers.find(peer.bytes);
      if (it != peers.end() && it->second >= per_peer) {
        Refuse(fd, peer, Limit::kPeerLimit);
        continue;
      }
    }
    Connection* c = AddConnection(fd, peer);
    if (c == nullptr) {
      Bump(refused);
      continue;
    }
    ++serving;
    if (per_peer != 0) {
      ++peers[peer.bytes];
      c->counts_for_peer = true;
    }
    Bump(accepted);
  }
}

Connection* HttpServer::Worker::AddConnection(int fd, const kernels::IpAddress& peer) {
  SetIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  auto conn = std::make_unique<Connection>(server->config_.limits);
  conn->fd = fd;
  conn->peer = peer;
  conn->last_active_ms = now_ms;
  conn->events = EPOLLIN | EPOLLRDHUP;
  epoll_event ev{};
  ev.events = conn->events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    return nullptr;
  }
  return connections.emplace(fd, std::move(conn)).first->second.get();
}

bool HttpServer::Worker::EvictIdlest() {
  Connection* idlest = nullptr;
  for (const auto& [fd, conn] : connections) {
    Connection* c = conn.get();
    // A reader that stopped taking its answers is idle too: sending counts as activity.
    if (c->refusal || !c->held.empty()) continue;
    if (idlest == nullptr || c->last_active_ms < idlest->last_active_ms) idlest = c;
  }
  if (idlest == nullptr) return false;
  Close(idlest);
  return true;
}

void HttpServer::Worker::Refuse(int fd, const kernels::IpAddress& peer, Limit limit) {
  Bump(limits[static_cast<size_t>(limit)]);
  Bump(refused);  // before the answer or the close that the client observes
  if (refusing >= kMaxRefusing) {
    ::close(fd);
    return;
  }
  Connection* c = AddConnection(fd, peer);
  if (c == nullptr) return;
  c->refusal = true;
  ++refusing;
  const std::string retry =
      "Retry-After: " + std::to_string(server->config_.retry_after_s) + "\r\n";
  const int status = limit == Limit::kPeerLimit ? 429 : 503;
  AppendResponse(c, status, kTextPlain, std::string(kLimitNames[static_cast<size_t>(limit)]) + "\n",
                 retry, false, 1, false);
  Flush(c);
}

void HttpServer::Worker::PauseAccepting(int error) {
  Bump(accept_errors[static_cast<size_t>(ClassifyAcceptError(error))]);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
  accept_resume_ms = now_ms + server->config_.accept_backoff_ms;
}

void HttpServer::Worker::ResumeAcceptingWhenDue() {
  if (accept_resume_ms < 0 || now_ms < accept_resume_ms) return;
  accept_resume_ms = -1;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
}

void HttpServer::Worker::RejectForLimit(Connection* c, Limit limit, int status) {
  Bump(limits[static_cast<size_t>(limit)]);
  AppendResponse(c, status, kTextPlain, std::string(kLimitNames[static_cast<size_t>(limit)]) + "\n",
                 {}, false, 1, false);
}

void HttpServer::Worker::OnReadable(Connection* c) {
  if (c->input_held_back()) {
    UpdateInterest(c);  // read again once answers leave (Flush)
    return;
  }
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
  // A lingering close lasts kLingerMs however long the client keeps sending.
  if (c->lingering) return;
  c->last_active_ms = now_ms;
  if (c->close_after_write) return;  // discarded
  c->in.append(read_buffer.data(), static_cast<size_t>(n));
  ProcessInput(c);
}

bool HttpServer::Worker::ProcessInput(Connection* c) {
  for (;;) {
    const bool held_back = AnswerInput(c);
    if (!Flush(c)) return false;
    // Requests held back by a full output buffer are answered once it drains.
    if (held_back && !c->input_held_back()) continue;
    if (c->peer_closed && !held_back && c->pending_output() == 0 && c->held.empty()) {
      Close(c);
      return false;
    }
    return true;
  }
}

bool HttpServer::Worker::AnswerInput(Connection* c) {
  bool held_back = false;
  bool completed = false;
  while (!stopped && !c->close_after_write && c->in_pos < c->in.size()) {
    if (c->input_held_back()) {
      held_back = true;
      break;
    }
    const std::string_view pending(c->in.data() + c->in_pos, c->in.size() - c->in_pos);
    const ParseResult r = c->parser.Parse(pending);
    if (r.status == ParseStatus::kNeedMore) {
      // Chunk framing and extensions count too: the input holds the whole request until done.
      if (pending.size() > server->request_cap_) {
        RejectForLimit(c, Limit::kRequestTooLarge, 413);
        break;
      }
      if (c->parser.expects_continue() && !c->continue_sent) {
        const size_t before = c->output().size();
        c->output().append("HTTP/1.1 100 Continue\r\n\r\n");
        c->CountQueued(before);
        c->continue_sent = true;
      }
      break;
    }
    if (r.status == ParseStatus::kError) {
      rejects.Add(r.reject);
      AppendResponse(c, r.http_status, kTextPlain,
                     std::string(kernels::HttpRejectName(r.reject)) + "\n", {}, false, 1, false);
      c->close_after_write = true;
      break;
    }
    HandleRequest(c, c->parser.request());
    c->in_pos += r.consumed;
    c->parser.Reset();
    c->continue_sent = false;
    completed = true;
  }
  // Keep only the unparsed tail; the parser's offsets are relative to in_pos.
  if (c->in_pos == c->in.size() || c->close_after_write) {
    c->in.clear();
    c->in_pos = 0;
  } else if (c->in_pos > 0) {
    c->in.erase(0, c->in_pos);
    c->in_pos = 0;
  }
  if (c->in.empty()) {
    c->request_start_ms = -1;
    // An idle connection does not keep the buffer a large request grew.
    if (c->in.capacity() > kReadChunk) std::string().swap(c->in);
  } else if (completed || c->request_start_ms < 0) {
    c->request_start_ms = now_ms;
  }
  return held_back;
}

bool HttpServer::Worker::AddBeacon(Connection* c, const HttpRequest& request,
                                   const kernels::RoutedRequest& routed) {
  const uint16_t country =
      kernels::CountryFromHeader(kernels::FirstHeader(request, server->config_.country_headers));
  if (!beacons.Add(routed.route->endpoint, kernels::IngressKind::kHttp, routed.payload,
                   request.user_agent, c->peer, wall_ms, routed.query, country)) {
    Bump(dropped);  // larger than an empty batch's arena
    return false;
  }
  return true;
}

bool HttpServer::Worker::TakeSourceToken(const kernels::IpAddress& peer, int64_t* retry_s) {
  if (source_interval_ns == 0) return true;
  const HttpServerConfig& config = server->config_;
  std::array<uint8_t, 16> key = peer.bytes;
  const bool v4 = peer.is_v4();
  const int bits = v4 ? 96 + config.source_prefix_v4 : config.source_prefix_v6;
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(bits - i * 8, 0, 8);
    key[static_cast<size_t>(i)] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  const int64_t now_ns = now_ms * 1'000'000;
  auto it = sources.find(key);
  if (it == sources.end()) {
    if (sources.size() >= kMaxSources) return true;
    it = sources.emplace(key, now_ns).first;
  }
  const int64_t start = std::max(it->second, now_ns);
  if (start + source_interval_ns - now_ns > source_burst_ns) {
    *retry_s = std::max<int64_t>(
        1, (start + source_interval_ns - source_burst_ns - now_ns + 999'999'999) / 1'000'000'000);
    return false;
  }
  it->second = start + source_interval_ns;
  return true;
}

void HttpServer::Worker::AnswerBeaconRoute(Connection* c, const HttpRequest& request,
                                           const kernels::RoutedRequest& routed) {
  int64_t retry_s = 0;
  if (routed.outcome == kernels::RouteOutcome::kBeacon && !TakeSourceToken(c->peer, &retry_s)) {
    Bump(limits[static_cast<size_t>(Limit::kSourceRate)]);
    AppendResponse(c, 429, kTextPlain, "source_rate\n",
                   "Retry-After: " + std::to_string(retry_s) + "\r\n", request.keep_alive,
                   request.minor_version, request.method == "HEAD");
    return;
  }
  const CollectorAnswer answer =
      AnswerBeaconRequest(routed, request, admitting, server->config_.retry_after_s);
  Bump(requests[static_cast<size_t>(answer.kind)]);
  if (routed.outcome == kernels::RouteOutcome::kUrlTooLong) rejects.Add(HttpReject::kUrlTooLong);
  if (answer.shed) Bump(shed);
  if (answer.take_beacon) {
    const bool hold = sink->DefersAnswers() || sink->RefusesBeacons();
    if (!(hold ? HoldBeaconAnswer(c, request, routed, answer) : AddBeacon(c, request, routed))) {
      // No batch can ever take it: a retry would fail alike, so not 503. The request was read
      // whole; the connection goes on.
      Bump(limits[static_cast<size_t>(Limit::kBeaconTooLarge)]);
      AppendResponse(c, 413, kTextPlain, "beacon_too_large\n", {}, answer.keep_alive,
                     request.minor_version, request.method == "HEAD");
      return;
    }
    if (hold) return;
  }
  AppendResponse(c, answer.status, answer.content_type, answer.body, answer.headers,
                 answer.keep_alive, request.minor_version, request.method == "HEAD");
}

void HttpServer::Worker::HandleRequest(Connection* c, const HttpRequest& request) {
  const std::string_view path = request.path;
  const bool head = request.method == "HEAD";
  if (sink != nullptr) {
    const kernels::RoutedRequest routed = kernels::RouteRequest(request, server->config_.limits);
    if (routed.route != nullptr) {
      AnswerBeaconRoute(c, request, routed);
      return;
    }
  }
  for (const auto& [handler_path, handler] : server->handlers_) {
    if (handler_path != path) continue;
    Bump(requests[static_cast<size_t>(RequestKind::kHandler)]);
    const HttpResponse response = handler(request);
    AppendResponse(c, response.status, response.content_type, response.body, HeaderLines(response),
                   request.keep_alive, request.minor_version, head);
    return;
  }
  for (const auto& [handler_path, handler] : server->deferred_handlers_) {
    if (handler_path != path) continue;
    Bump(requests[static_cast<size_t>(RequestKind::kHandler)]);
    HoldHandlerAnswer(c, request, handler);
    return;
  }
  Bump(requests[static_cast<size_t>(RequestKind::kOther)]);
  AppendResponse(c, 404, kTextPlain, "not found\n", {}, request.keep_alive, request.minor_version,
                 head);
}

void HttpServer::Worker::AppendResponse(Connection* c, int status, std::string_view content_type,
                                        std::string_view body, std::string_view extra_headers,
                                        bool keep_alive, int minor_version, bool head) {
  const size_t before = c->output().size();
  FormatResponse(c->output(), status, content_type, body, extra_headers, keep_alive, minor_version,
                 head);
  c->CountQueued(before);
  if (!keep_alive) c->close_after_write = true;
}

void HttpServer::Worker::FormatResponse(std::string& out, int status, std::string_view content_type,
                                        std::string_view body, std::string_view extra_headers,
                                        bool keep_alive, int minor_version, bool head) {
  if (status >= 0 && status < kMaxStatus) Bump(responses[static_cast<size_t>(status)]);
  UpdateDate();
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
  } else {
    c->out.clear();
    c->out_pos = 0;
    if (c->out.capacity() > kReadChunk) std::string().swap(c->out);
    if (c->close_after_write && c->held.empty() && !c->lingering) {
      shutdown(c->fd, SHUT_WR);
      c->lingering = true;
      c->last_active_ms = now_ms;
    }
  }
  UpdateInterest(c);  // reads on while the answers queued are within bounds
  return true;
}

void HttpServer::Worker::Sweep() {
  const HttpServerConfig& config = server->config_;
  expired.clear();
  late.clear();
  for (const auto& [fd, conn] : connections) {
    Connection* c = conn.get();
    const int64_t idle = now_ms - c->last_active_ms;
    if (c->lingering) {
      if (idle >= kLingerMs) expired.push_back(c);
      continue;
    }
    // A request waiting for its client, not for the server's answers to leave (or come).
    if (c->request_start_ms >= 0 && !c->close_after_write && c->queued_output() == 0 &&
        c->held.size() < kMaxHeldAnswers && c->awaiting_handlers == 0) {
      const int64_t age = now_ms - c->request_start_ms;
      const int deadline =
          c->parser.head_complete() ? config.request_timeout_ms : config.header_timeout_ms;
      if (age >= deadline) {
        late.push_back(c);
        continue;
      }
    }
    // A deferred handler at work (a reload) is not the client idling.
    if (idle >= config.idle_timeout_ms && c->awaiting_handlers == 0) expired.push_back(c);
  }
  for (Connection* c : expired) Close(c);
  // Buckets that refilled carry no state.
  const int64_t now_ns = now_ms * 1'000'000;
  std::erase_if(sources, [now_ns](const auto& s) { return s.second <= now_ns; });
  for (Connection* c : late) {
    RejectForLimit(c, c->parser.head_complete() ? Limit::kRequestTimeout : Limit::kHeadTimeout,
                   408);
    c->in.clear();
    c->in_pos = 0;
    Flush(c);
  }
}

bool HttpServer::Worker::HoldBeaconAnswer(Connection* c, const HttpRequest& request,
                                          const kernels::RoutedRequest& routed,
                                          const CollectorAnswer& answer) {
  const size_t before = beacons.batch()->size();
  const bool added = AddBeacon(c, request, routed);
  // A full batch went to the sink first: its beacons have their sequences.
  if (beacons.batch()->size() < before + (added ? 1 : 0)) AssignSequences(before);
  if (!added) return false;
  HeldAnswer& held = c->held.emplace_back();
  held.answer = answer;
  held.minor_version = request.minor_version;
  held.head = request.method == "HEAD";
  if (!answer.keep_alive) c->close_after_write = true;
  awaiting_batch.push_back(&held);
  holding.insert(c->fd);
  return true;
}

void HttpServer::Worker::AssignSequences(size_t count) {
  const std::span<const uint64_t> sequences = sink->batch_sequences();
  const std::span<const kernels::BeaconStatus> status = sink->batch_status();
  const bool durable = !sink->DefersAnswers();  // answers wait for the batch only
  count = std::min(count, awaiting_batch.size());
  for (size_t i = 0; i < count; ++i) {
    HeldAnswer* held = awaiting_batch[i];
    if (held == nullptr) continue;
    const kernels::BeaconStatus taken =
        i < status.size() ? status[i] : kernels::BeaconStatus::kTaken;
    held->sequence = i < sequences.size() ? sequences[i] : 0;
    if (taken == kernels::BeaconStatus::kOverBudget) {
      held->state = HeldAnswer::State::kOverBudget;
    } else if (taken == kernels::BeaconStatus::kRefused || (!durable && held->sequence == 0)) {
      held->state = HeldAnswer::State::kLost;
    } else {
      held->state = durable ? HeldAnswer::State::kDurable : HeldAnswer::State::kAwaitingDurable;
    }
  }
  awaiting_batch.erase(awaiting_batch.begin(),
                       awaiting_batch.begin() + static_cast<std::ptrdiff_t>(count));
}

void HttpServer::Worker::Deliver() {
  const size_t count = beacons.batch()->size();
  beacons.Deliver();
  if (count > 0 && (sink->DefersAnswers() || sink->RefusesBeacons())) AssignSequences(count);
}

void HttpServer::Worker::ReleaseHeld() {
  // A readable durability fd is drained even with nothing held: it is level-triggered.
  if (holding.empty() && !durability_ready) return;
  durability_ready = false;
  const kernels::Durability durability = sink->PollDurability();
  release_scratch.assign(holding.begin(), holding.end());
  for (const int fd : release_scratch) {
    const auto it = connections.find(fd);
    if (it == connections.end()) continue;
    Connection* c = it->second.get();
    // Every waiting answer is resolved at each poll: a lost range is reported only until the
    // archive resumes.
    for (HeldAnswer& held : c->held) {
      if (held.state != HeldAnswer::State::kAwaitingDurable) continue;
      if (durability.Lost(held.sequence)) {
        held.state = HeldAnswer::State::kLost;
      } else if (held.sequence <= durability.durable) {
        held.state = HeldAnswer::State::kDurable;
      }
    }
    if (!c->held.empty() && Resolved(c->held.front()) && !SendResolved(c)) continue;  // closed
    if (c->held.empty()) holding.erase(fd);
  }
}

bool HttpServer::Worker::SendResolved(Connection* c) {
  while (!c->held.empty() && Resolved(c->held.front())) {
    SendHeld(c, c->held.front());
    c->held.pop_front();
  }
  return ProcessInput(c);
}

void HttpServer::Worker::HoldHandlerAnswer(Connection* c, const HttpRequest& request,
                                           const DeferredHttpHandler& handler) {
  const uint64_t id = ++deferred_ids;
  AnsweredAtOnce at_once{mailbox.get(), id, std::nullopt};
  t_answered_at_once = &at_once;
  handler(request, [mailbox = mailbox, fd = c->fd, id](HttpResponse response) {
    AnsweredAtOnce* now = t_answered_at_once;
    if (now != nullptr && now->mailbox == mailbox.get() && now->id == id) {
      now->response = std::move(response);  // on the worker, before the handler returned
      return;
    }
    mailbox->Post({fd, id, std::move(response)});
  });
  t_answered_at_once = nullptr;
  if (at_once.response) {
    const HttpResponse& r = *at_once.response;
    AppendResponse(c, r.status, r.content_type, r.body, HeaderLines(r), request.keep_alive,
                   request.minor_version, request.method == "HEAD");
    return;
  }
  HeldAnswer& held = c->held.emplace_back();
  held.state = HeldAnswer::State::kAwaitingHandler;
  held.sequence = id;
  held.answer.keep_alive = request.keep_alive;
  held.minor_version = request.minor_version;
  held.head = request.method == "HEAD";
  if (!request.keep_alive) c->close_after_write = true;
  ++c->awaiting_handlers;
}

void HttpServer::Worker::TakeDeferredAnswers() {
  for (DeferredMailbox::Answer& a : mailbox->Take()) {
    const auto it = connections.find(a.fd);
    if (it == connections.end()) continue;  // the client left
    Connection* c = it->second.get();
    const auto held = std::find_if(c->held.begin(), c->held.end(), [&a](const HeldAnswer& h) {
      return h.state == HeldAnswer::State::kAwaitingHandler && h.sequence == a.id;
    });
    if (held == c->held.end()) continue;  // another connection on a reused descriptor
    std::string response;
    FormatResponse(response, a.response.status, a.response.content_type, a.response.body,
                   HeaderLines(a.response), held->answer.keep_alive, held->minor_version,
                   held->head);
    c->held_bytes += response.size();
    held->after.insert(0, response);
    held->state = HeldAnswer::State::kHandled;
    --c->awaiting_handlers;
    if (Resolved(c->held.front())) SendResolved(c);
  }
}

void HttpServer::Worker::AnswerHeldAtStop() {
  Deliver();
  // Level-triggered: input nobody reads any more would end every wait at once. Only output, a
  // lingering close's input and durability wake the worker now.
  for (const auto& [fd, c] : connections) UpdateInterest(c.get());
  const int64_t until = kernels::MonotonicMillis() + kStopAnswersMs;
  std::array<epoll_event, kMaxEvents> events{};
  const auto unsent = [this] {
    if (!holding.empty()) return true;
    for (const auto& [fd, c] : connections) {
      if (c->pending_output() > 0) return true;
    }
    return false;
  };
  while (unsent() && kernels::MonotonicMillis() < until) {
    const int n = epoll_wait(epoll_fd, events.data(), kMaxEvents, 5);
    now_ms = kernels::MonotonicMillis();
    durability_ready = true;  // polled every round: the fd may have been read already
    ReleaseHeld();
    for (int i = 0; i < n; ++i) {
      const auto it = connections.find(events[i].data.fd);
      if (it == connections.end()) continue;
      Connection* c = it->second.get();
      const uint32_t ev = events[i].events;
      if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLIN)) {
        Close(c);  // reported whatever the interest: nothing can reach this client any more
        continue;
      }
      if ((ev & EPOLLOUT) && !Flush(c)) continue;
      if ((ev & EPOLLIN) && c->lingering) DiscardInput(c);
    }
  }
  LingerAtStop(std::min(until, kernels::MonotonicMillis() + kLingerMs));
}

void HttpServer::Worker::LingerAtStop(int64_t until) {
  std::array<epoll_event, kMaxEvents> events{};
  lingering_at_stop.clear();
  for (const auto& [fd, c] : connections) {
    char byte = 0;
    // A request the worker never read (a management client's, pipelined behind a scrape, or
    // sent as the stop came) would turn the close into a reset too.
    if (c->in.empty() && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
      lingering_at_stop.push_back(c.get());  // closed at once: no unread request to reset it
      continue;
    }
    shutdown(fd, SHUT_WR);
    SetInterest(c.get(), EPOLLIN | EPOLLRDHUP);
  }
  for (Connection* c : lingering_at_stop) Close(c);
  while (!connections.empty() && kernels::MonotonicMillis() < until) {
    const int n = epoll_wait(epoll_fd, events.data(), kMaxEvents, 5);
    for (int i = 0; i < n; ++i) {
      const auto it = connections.find(events[i].data.fd);
      if (it != connections.end()) DiscardInput(it->second.get());
    }
  }
}

void HttpServer::Worker::DiscardInput(Connection* c) {
  ssize_t got = 0;
  while ((got = recv(c->fd, read_buffer.data(), read_buffer.size(), 0)) > 0) {
  }
  if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) Close(c);
}

void HttpServer::Worker::SendHeld(Connection* c, HeldAnswer& held) {
  const CollectorAnswer& a = held.answer;
  if (held.state == HeldAnswer::State::kHandled) {
    // The handler's response, formatted when it came, is at the front of `after`.
  } else if (held.state == HeldAnswer::State::kOverBudget) {
    // The site's budget refills within a second at any rate worth limiting.
    Bump(over_budget);
    FormatResponse(c->out, 429, kTextPlain, "site_rate\n", "Retry-After: 1\r\n", a.keep_alive,
                   held.minor_version, held.head);
  } else if (held.state == HeldAnswer::State::kLost) {
    // Not archived (write failure, full disk): the client retries; nothing is acknowledged.
    Bump(unarchived);
    const std::string retry =
        "Retry-After: " + std::to_string(server->config_.retry_after_s) + "\r\n";
    FormatResponse(c->out, 503, kTextPlain, "archive unavailable\n", retry, a.keep_alive,
                   held.minor_version, held.head);
  } else {
    FormatResponse(c->out, a.status, a.content_type, a.body, a.headers, a.keep_alive,
                   held.minor_version, held.head);
  }
  c->out.append(held.after);
  c->held_bytes -= held.after.size();
}

void HttpServer::Worker::WatchDurability() {
  if (sink == nullptr || !sink->DefersAnswers() || sink->durability_fd() < 0) return;
  durability_fd = sink->durability_fd();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = durability_fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, durability_fd, &ev);
}

void HttpServer::Worker::Run() {
  std::array<epoll_event, kMaxEvents> events{};
  const HttpServerConfig& config = server->config_;
  const int sweep_every_ms =
      std::max(1, std::min({config.idle_timeout_ms / 4, config.header_timeout_ms / 4,
                            config.request_timeout_ms / 4, 1000}));
  now_ms = kernels::MonotonicMillis();
  int64_t last_tick_ms = now_ms;
  int64_t last_sweep_ms = now_ms;
  while (!server->stopping_.load(std::memory_order_acquire)) {
    int64_t wake_ms = last_sweep_ms + sweep_every_ms;
    if (sink != nullptr) wake_ms = std::min(wake_ms, last_tick_ms + config.tick_ms);
    if (accept_resume_ms >= 0) wake_ms = std::min(wake_ms, accept_resume_ms);
    const int timeout = static_cast<int>(std::max<int64_t>(0, wake_ms - now_ms));
    const int n = epoll_wait(epoll_fd, events.data(), kMaxEvents, timeout);
    now_ms = kernels::MonotonicMillis();
    wall_ms = kernels::UnixMillis();
    ResumeAcceptingWhenDue();
    if (sink != nullptr) admitting = sink->Admitting();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd) {
        Accept();
        continue;
      }
      if (fd == durability_fd) durability_ready = true;  // ReleaseHeld polls the sink
      if (fd == mailbox->wake_fd) {
        TakeDeferredAnswers();
        continue;
      }
      if (fd == wake_fd || fd == durability_fd) continue;
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
      Deliver();
      ReleaseHeld();
      if (now_ms - last_tick_ms >= config.tick_ms) {
        sink->OnTick(wall_ms);
        last_tick_ms = now_ms;
      }
    }
    if (now_ms - last_sweep_ms >= sweep_every_ms) {
      last_sweep_ms = now_ms;
      Sweep();
    }
  }
  ::close(listen_fd);
  listen_fd = -1;
  stopped = true;
  // Level-triggered: the stop's wake-up and the deferred answers nobody takes any more would
  // end every wait of the stop at once.
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, wake_fd, nullptr);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, mailbox->wake_fd, nullptr);
  if (sink != nullptr) {
    AnswerHeldAtStop();
  } else {
    LingerAtStop(kernels::MonotonicMillis() + kLingerMs);
  }
  while (!connections.empty()) Close(connections.begin()->second.get());
  if (sink != nullptr) sink->OnTick(kernels::UnixMillis());
  ::close(epoll_fd);
  ::close(wake_fd);
  epoll_fd = wake_fd = -1;
}

HttpServer::HttpServer(HttpServerConfig config, std::vector<kernels::BeaconSink*> sinks)
    : config_(std::move(config)), sinks_(std::move(sinks)) {
  const HttpLimits& l = config_.limits;
  request_cap_ = config_.max_request_bytes != 0
                     ? config_.max_request_bytes
                     : l.max_request_line + l.max_header_bytes + 2 * l.max_body_bytes;
  const size_t count =
      sinks_.empty() ? static_cast<size_t>(std::max(1, config_.workers)) : sinks_.size();
  for (size_t i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<Worker>(this, sinks_.empty() ? nullptr : sinks_[i]));
  }
  for (auto& w : workers_) {
    if (config_.source_rate_per_s <= 0) break;
    w->source_interval_ns = std::max<int64_t>(1, std::llround(1e9 / config_.source_rate_per_s));
    w->source_burst_ns = static_cast<int64_t>(std::max(1.0, config_.source_burst) *
                                              static_cast<double>(w->source_interval_ns));
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

void HttpServer::AddDeferredHandler(std::string path, DeferredHttpHandler handler) {
  deferred_handlers_.emplace_back(std::move(path), std::move(handler));
}

void HttpServer::Start() {
  if (!threads_.empty()) throw std::runtime_error("http server: Start called twice");
  port_ = config_.port;
  for (auto& w : workers_) {
    w->listen_fd = BindReusePort("http server", config_.address, port_, SOCK_STREAM);
    if (port_ == 0) port_ = BoundPort(w->listen_fd);
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epoll_fd < 0 || w->wake_fd < 0 || w->mailbox->wake_fd < 0) {
      throw std::runtime_error(std::string("http server: epoll/eventfd: ") + strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = w->listen_fd;
    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->listen_fd, &ev);
    ev.data.fd = w->wake_fd;
    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &ev);
    ev.data.fd = w->mailbox->wake_fd;
    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->mailbox->wake_fd, &ev);
    w->WatchDurability();
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
                {{"endpoint", RequestKindName(static_cast<RequestKind>(k))}},
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
    for (size_t l = 0; l < kLimitCount; ++l) {
      w.Counter(prefix + "_limit_rejects_total",
                "connections and requests refused by a server limit, by reason",
                {{"reason", std::string(kLimitNames[l])}},
                sum([l](Worker& x) -> std::atomic<uint64_t>& { return x.limits[l]; }));
    }
    for (size_t e = 0; e < kAcceptErrorCount; ++e) {
      w.Counter(prefix + "_accept_errors_total",
                "accept() failures that paused the listener for accept_backoff_ms, by error",
                {{"error", std::string(kAcceptErrorNames[e])}},
                sum([e](Worker& x) -> std::atomic<uint64_t>& { return x.accept_errors[e]; }));
    }
    w.Counter(prefix + "_connections_refused_total",
              "TCP connections refused at accept (worker or peer connection limit)", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.refused; }));
    w.Counter(prefix + "_bytes_read_total", "bytes read from clients", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.bytes_read; }));
    w.Counter(prefix + "_requests_shed_total", "beacon requests answered 503 (sink not admitting)",
              {}, sum([](Worker& x) -> std::atomic<uint64_t>& { return x.shed; }));
    w.Counter(prefix + "_beacons_dropped_total",
              "beacons larger than an empty raw batch (answered 413)", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.dropped; }));
    w.Counter(prefix + "_requests_unarchived_total",
              "beacon requests answered 503 because the archive could not make them durable", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.unarchived; }));
    w.Counter(prefix + "_requests_over_budget_total",
              "beacon requests answered 429 because their site is over its [limits] budget", {},
              sum([](Worker& x) -> std::atomic<uint64_t>& { return x.over_budget; }));
  });
}

}  // namespace beacon::host
