// UdpRelay: SO_REUSEPORT sockets bound up front, one epoll loop per worker thread reading
// recvmmsg bursts; an eventfd wakes the loops to stop.
#include "host/net/udp_relay.h"

#include <linux/sock_diag.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "host/net/socket.h"
#include "kernels/clock.h"
#include "kernels/counter.h"

namespace beacon::host {
namespace {

using kernels::Bump;

constexpr size_t kDatagramBytes = 65536;
// Less than any datagram costs a socket's receive buffer (its skb's truesize, > 512 bytes).
constexpr uint64_t kMinDatagramCharge = 256;

}  // namespace

class UdpRelay::Worker {
 public:
  Worker(const UdpRelayConfig& config, kernels::BeaconSink* sink)
      : config_(config),
        sink_(sink),
        filter_(config.allowed_sources),
        beacons_(sink),
        buffers_(config.burst * kDatagramBytes),
        messages_(config.burst),
        iov_(config.burst),
        from_(config.burst) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_ < 0 || wake_ < 0) {
      throw std::runtime_error("UDP relay: epoll/eventfd: " + std::string(strerror(errno)));
    }
    Watch(wake_, -1);
    for (unsigned i = 0; i < config.burst; ++i) {
      iov_[i] = {buffers_.data() + i * kDatagramBytes, kDatagramBytes};
      messages_[i].msg_hdr.msg_iov = &iov_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
      messages_[i].msg_hdr.msg_name = &from_[i];
    }
  }
  ~Worker() {
    for (const Socket& s : sockets_) close(s.fd);
    close(wake_);
    close(epoll_);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void AddSocket(int fd, kernels::Endpoint endpoint) {
    sockets_.push_back({fd, endpoint});
    Watch(fd, static_cast<int>(sockets_.size() - 1));
  }

  void Wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_, &one, sizeof(one));
  }

  void Run() {
    epoll_event events[16];
    int64_t next_tick = 0;
    for (;;) {
      const int ready = epoll_wait(epoll_, events, 16, config_.tick_ms);
      const int64_t now = kernels::MonotonicMillis();
      now_ms_ = kernels::UnixMillis();
      bool stop = false;
      const bool admitting = sink_->Admitting();
      for (int e = 0; e < ready; ++e) {
        const int index = static_cast<int>(events[e].data.u32) - 1;
        if (index < 0) {
          stop = true;
        } else if (admitting) {
          Receive(sockets_[static_cast<size_t>(index)]);
        }
      }
      if (stop && sink_->Admitting()) Drain();
      beacons_.Deliver();
      if (stop) break;
      if (now >= next_tick) {
        sink_->OnTick(now_ms_);
        next_tick = now + config_.tick_ms;
      }
      // Not admitting: the datagrams wait in the socket buffer (the kernel drops and counts
      // what overflows it); level-triggered epoll would otherwise spin on them.
      if (!admitting && ready > 0) usleep(1000);
    }
    sink_->OnTick(kernels::UnixMillis());
  }

  uint64_t datagrams() const { return datagrams_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t truncated() const { return truncated_.load(std::memory_order_relaxed); }
  uint64_t source_not_allowed() const {
    return source_not_allowed_.load(std::memory_order_relaxed);
  }
  uint64_t receive_errors() const { return receive_errors_.load(std::memory_order_relaxed); }
  // The kernel's own count of datagrams it dropped at this worker's sockets (SO_MEMINFO's
  // SK_MEMINFO_DROPS: mostly a full receive buffer). Read at scrape time, off the hot path.
  uint64_t socket_drops() const {
    uint64_t n = 0;
    for (const Socket& s : sockets_) {
      uint32_t meminfo[SK_MEMINFO_VARS] = {};
      socklen_t size = sizeof(meminfo);
      if (getsockopt(s.fd, SOL_SOCKET, SO_MEMINFO, meminfo, &size) == 0 &&
          size > SK_MEMINFO_DROPS * sizeof(uint32_t)) {
        n += meminfo[SK_MEMINFO_DROPS];
      }
    }
    return n;
  }

 private:
  struct Socket {
    int fd;
    kernels::Endpoint endpoint;
  };

  // data.u32 = index + 1; 0 is the wake-up eventfd.
  void Watch(int fd, int index) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = static_cast<uint32_t>(index + 1);
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
      throw std::runtime_error("UDP relay: epoll_ctl: " + std::string(strerror(errno)));
    }
  }

  // At the stop: the datagrams the sockets hold were sent to beacond and would go, uncounted,
  // with the sockets; each socket is read until it is found empty, or for at most what its
  // buffer can hold (the smallest datagram costs it more than kMinDatagramCharge bytes) while
  // senders keep it full.
  void Drain() {
    for (const Socket& socket : sockets_) {
      const uint64_t most =
          uint64_t{static_cast<unsigned>(ReceiveBufferBytes(socket.fd))} * 2 / kMinDatagramCharge +
          config_.burst;
      for (uint64_t taken = 0; taken < most;) {
        const unsigned n = Receive(socket);
        taken += n;
        if (n < config_.burst) break;
      }
    }
  }

  // One recvmmsg burst per ready socket and round, so that one busy port cannot starve another.
  // Returns the datagrams received.
  unsigned Receive(const Socket& socket) {
    for (unsigned i = 0; i < config_.burst; ++i) {
      messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      messages_[i].msg_hdr.msg_flags = 0;
    }
    const int n = recvmmsg(socket.fd, messages_.data(), config_.burst, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Bump(receive_errors_, 1);
      return 0;
    }
    uint64_t bytes = 0;
    uint64_t truncated = 0;
    uint64_t refused = 0;
    for (int i = 0; i < n; ++i) {
      if ((messages_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        ++truncated;
        continue;
      }
      const kernels::IpAddress source = PeerAddress(from_[i]);
      if (!filter_.Allows(source)) {
        ++refused;
        continue;
      }
      const std::string_view payload(static_cast<const char*>(iov_[i].iov_base),
                                     messages_[i].msg_len);
      beacons_.Add(socket.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, source, now_ms_);
      bytes += payload.size();
    }
    Bump(datagrams_, static_cast<uint64_t>(n) - truncated - refused);
    Bump(bytes_, bytes);
    Bump(truncated_, truncated);
    Bump(source_not_allowed_, refused);
    return static_cast<unsigned>(n);
  }

  const UdpRelayConfig& config_;
  kernels::BeaconSink* sink_;
  const kernels::SourceFilter filter_;
  kernels::SinkBatch beacons_;
  int epoll_ = -1;
  int wake_ = -1;
  std::vector<Socket> sockets_;
  std::vector<char> buffers_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> from_;
  int64_t now_ms_ = 0;
  std::atomic<uint64_t> datagrams_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> truncated_{0};
  std::atomic<uint64_t> source_not_allowed_{0};
  std::atomic<uint64_t> receive_errors_{0};
};

UdpRelay::UdpRelay(const UdpRelayConfig& config, std::vector<kernels::BeaconSink*> sinks)
    : config_(config) {
  if (sinks.empty()) throw std::runtime_error("UDP relay: no workers (sinks) given");
  if (config_.ports.empty()) throw std::runtime_error("UDP relay: no beacon ports configured");
  if (config_.burst == 0 || config_.burst > 1024) {
    throw std::runtime_error("UDP relay: burst " + std::to_string(config_.burst) +
                             " is outside 1..1024");
  }
  for (kernels::BeaconSink* sink : sinks)
    workers_.push_back(std::make_unique<Worker>(config_, sink));
  bound_ports_.resize(config_.ports.size());
  for (size_t p = 0; p < config_.ports.size(); ++p) {
    for (auto& worker : workers_) {
      // Port 0: the first worker's socket picks the port, the others join it.
      const uint16_t want = worker == workers_.front() ? config_.ports[p].port : bound_ports_[p];
      const int fd = BindReusePort("UDP relay", config_.address, want, SOCK_DGRAM,
                                   config_.receive_buffer_bytes);
      worker->AddSocket(fd, config_.ports[p].endpoint);
      bound_ports_[p] = BoundPort(fd);
      const int got = ReceiveBufferBytes(fd);
      if (receive_buffer_bytes_ == 0 || got < receive_buffer_bytes_) receive_buffer_bytes_ = got;
    }
  }
}

UdpRelay::~UdpRelay() { Stop(); }

void UdpRelay::Start() {
  if (!threads_.empty()) return;
  for (auto& worker : workers_) threads_.emplace_back([w = worker.get()] { w->Run(); });
}

void UdpRelay::Stop() {
  for (auto& worker : workers_) worker->Wake();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

uint64_t UdpRelay::datagrams() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->datagrams();
  return n;
}

uint64_t UdpRelay::bytes() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->bytes();
  return n;
}

uint64_t UdpRelay::truncated() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->truncated();
  return n;
}

uint64_t UdpRelay::source_not_allowed() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->source_not_allowed();
  return n;
}

uint64_t UdpRelay::receive_errors() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->receive_errors();
  return n;
}

uint64_t UdpRelay::socket_drops() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->socket_drops();
  return n;
}

void UdpRelay::RegisterMetrics(MetricsRegistry* registry, std::string prefix) const {
  registry->Add([this, prefix](MetricsWriter& out) {
    out.Counter(prefix + "_datagrams_total", "UDP relay datagrams handed to the workers", {},
                datagrams());
    out.Counter(prefix + "_bytes_total", "UDP relay payload bytes handed to the workers", {},
                bytes());
    out.Counter(prefix + "_truncated_total", "UDP relay datagrams dropped as truncated", {},
                truncated());
    out.Counter(prefix + "_source_not_allowed_total",
                "UDP relay datagrams dropped: sender outside allowed_sources", {},
                source_not_allowed());
    out.Counter(prefix + "_receive_errors_total", "recvmmsg failures other than EAGAIN", {},
                receive_errors());
    out.Gauge(prefix + "_receive_buffer_bytes",
              "UDP relay receive buffer per socket as the kernel set it (receive_buffer_kb, "
              "capped at net.core.rmem_max without CAP_NET_ADMIN)",
              {}, static_cast<double>(receive_buffer_bytes_));
    out.Counter(prefix + "_socket_drops_total",
                "UDP relay datagrams the kernel dropped at the relay's sockets (receive buffer "
                "full)",
                {}, socket_drops());
  });
}

}  // namespace beacon::host
