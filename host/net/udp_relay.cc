// UdpRelay: SO_REUSEPORT sockets bound up front, one epoll loop per worker thread reading
// recvmmsg bursts; an eventfd wakes the loops to stop.
#include "host/net/udp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "kernels/counter.h"

namespace beacon::host {
namespace {

using kernels::Bump;

constexpr size_t kDatagramBytes = 65536;

int64_t WallMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Binds one SO_REUSEPORT datagram socket; returns it and its bound port.
int BindSocket(const std::string& address, uint16_t port, int receive_buffer, uint16_t* bound) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("UDP relay address '" + address + "' is not an IPv4 or IPv6 literal");
  }
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("UDP relay: socket: " + std::string(strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    const std::string why = strerror(errno);
    close(fd);
    throw std::runtime_error("UDP relay: cannot bind " + address + ":" + std::to_string(port) +
                             ": " + why);
  }
  length = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  *bound = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

kernels::IpAddress SourceAddress(const sockaddr_storage& from) {
  if (from.ss_family == AF_INET) {
    return kernels::IpAddress::FromV4(
        ntohl(reinterpret_cast<const sockaddr_in&>(from).sin_addr.s_addr));
  }
  kernels::IpAddress ip;
  std::memcpy(ip.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(from).sin6_addr, 16);
  return ip;
}

}  // namespace

class UdpRelay::Worker {
 public:
  Worker(const UdpRelayConfig& config, BeaconSink* sink)
      : config_(config),
        sink_(sink),
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
      const int64_t now = MonotonicMs();
      now_ms_ = WallMs();
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
      Deliver();
      if (stop) break;
      if (now >= next_tick) {
        sink_->OnTick(now_ms_);
        next_tick = now + config_.tick_ms;
      }
      // Not admitting: the datagrams wait in the socket buffer (the kernel drops and counts
      // what overflows it); level-triggered epoll would otherwise spin on them.
      if (!admitting && ready > 0) usleep(1000);
    }
    sink_->OnTick(WallMs());
  }

  uint64_t datagrams() const { return datagrams_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t truncated() const { return truncated_.load(std::memory_order_relaxed); }
  uint64_t receive_errors() const { return receive_errors_.load(std::memory_order_relaxed); }

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

  // One recvmmsg burst per ready socket and round, so that one busy port cannot starve another.
  void Receive(const Socket& socket) {
    for (unsigned i = 0; i < config_.burst; ++i) {
      messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      messages_[i].msg_hdr.msg_flags = 0;
    }
    const int n = recvmmsg(socket.fd, messages_.data(), config_.burst, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Bump(receive_errors_, 1);
      return;
    }
    uint64_t bytes = 0;
    uint64_t truncated = 0;
    for (int i = 0; i < n; ++i) {
      if ((messages_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        ++truncated;
        continue;
      }
      const std::string_view payload(static_cast<const char*>(iov_[i].iov_base),
                                     messages_[i].msg_len);
      const kernels::IpAddress source = SourceAddress(from_[i]);
      if (!batch_.Add(socket.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, source,
                      now_ms_)) {
        Deliver();
        batch_.Add(socket.endpoint, kernels::IngressKind::kUdpRelay, payload, {}, source, now_ms_);
      }
      bytes += payload.size();
    }
    Bump(datagrams_, static_cast<uint64_t>(n) - truncated);
    Bump(bytes_, bytes);
    Bump(truncated_, truncated);
  }

  void Deliver() {
    if (batch_.empty()) return;
    sink_->OnBatch(batch_);
    batch_.Clear();
  }

  const UdpRelayConfig& config_;
  BeaconSink* sink_;
  int epoll_ = -1;
  int wake_ = -1;
  std::vector<Socket> sockets_;
  std::vector<char> buffers_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iov_;
  std::vector<sockaddr_storage> from_;
  kernels::RawBatch batch_;
  int64_t now_ms_ = 0;
  std::atomic<uint64_t> datagrams_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> truncated_{0};
  std::atomic<uint64_t> receive_errors_{0};
};

UdpRelay::UdpRelay(const UdpRelayConfig& config, std::vector<BeaconSink*> sinks) : config_(config) {
  if (sinks.empty()) throw std::runtime_error("UDP relay: no workers (sinks) given");
  if (config_.ports.empty()) throw std::runtime_error("UDP relay: no beacon ports configured");
  if (config_.burst == 0 || config_.burst > 1024) {
    throw std::runtime_error("UDP relay: burst " + std::to_string(config_.burst) +
                             " is outside 1..1024");
  }
  for (BeaconSink* sink : sinks) workers_.push_back(std::make_unique<Worker>(config_, sink));
  bound_ports_.resize(config_.ports.size());
  for (size_t p = 0; p < config_.ports.size(); ++p) {
    for (auto& worker : workers_) {
      // Port 0: the first worker's socket picks the port, the others join it.
      const uint16_t want = worker == workers_.front() ? config_.ports[p].port : bound_ports_[p];
      uint16_t bound = 0;
      const int fd = BindSocket(config_.address, want, config_.receive_buffer_bytes, &bound);
      worker->AddSocket(fd, config_.ports[p].endpoint);
      bound_ports_[p] = bound;
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

uint64_t UdpRelay::receive_errors() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->receive_errors();
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
    out.Counter(prefix + "_receive_errors_total", "recvmmsg failures other than EAGAIN", {},
                receive_errors());
  });
}

}  // namespace beacon::host
