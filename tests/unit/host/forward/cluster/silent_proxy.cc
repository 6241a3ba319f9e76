// One thread accepts; each connection is relayed by its own thread with poll(2).
#include "tests/unit/host/forward/cluster/silent_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace beacon::host {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

SilentProxy::SilentProxy(int upstream_port, int silent_connections)
    : upstream_port_(upstream_port), silent_connections_(silent_connections) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("SilentProxy: listening on 127.0.0.1:0");
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

SilentProxy::~SilentProxy() {
  stopping_ = true;
  thread_.join();
  close(listen_fd_);
}

void SilentProxy::Serve() {
  std::vector<std::thread> relays;
  while (!stopping_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    const int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    const bool silent = connections_.fetch_add(1) < silent_connections_;
    relays.emplace_back([this, client, silent] { Relay(client, silent); });
  }
  for (auto& relay : relays) relay.join();
}

void SilentProxy::Relay(int client, bool silent) {
  const int upstream = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(upstream_port_);
  if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(client);
    if (upstream >= 0) close(upstream);
    return;
  }
  char buf[65536];
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  while (!stopping_) {
    if (poll(fds, 2, 50) <= 0) continue;
    if (fds[0].revents != 0) {
      const ssize_t n = read(client, buf, sizeof(buf));
      if (n <= 0 || write(upstream, buf, static_cast<size_t>(n)) != n) break;
    }
    if (fds[1].revents != 0) {
      const ssize_t n = read(upstream, buf, sizeof(buf));
      if (n <= 0) break;
      // Silent: the answer is read and dropped; the client hears nothing.
      if (!silent && write(client, buf, static_cast<size_t>(n)) != n) break;
    }
  }
  close(client);
  close(upstream);
}

}  // namespace beacon::host
