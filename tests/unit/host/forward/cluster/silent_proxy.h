// Test-only: a loopback TCP proxy to a real server that, on its first `silent_connections`
// connections, passes requests through but never passes the answers back — a server that
// commits an INSERT whose acknowledgement is lost, so the client times out and retries.
#pragma once

#include <atomic>
#include <thread>

namespace beacon::host {

class SilentProxy {
 public:
  SilentProxy(int upstream_port, int silent_connections);
  ~SilentProxy();
  SilentProxy(const SilentProxy&) = delete;
  SilentProxy& operator=(const SilentProxy&) = delete;

  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void Serve();
  void Relay(int client, bool silent);

  int upstream_port_;
  int silent_connections_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace beacon::host
