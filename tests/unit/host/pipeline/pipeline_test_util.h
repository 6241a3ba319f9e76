// Helpers of the pipeline tests: one beacon GET against a real server, one metric sample.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "host/metrics/metrics.h"

namespace beacon::host {

// The value of the sample `key` (name and labels) in a scrape of `registry`; ~0 when absent.
inline uint64_t Sample(const MetricsRegistry& registry, const std::string& key) {
  const std::string text = registry.Scrape();
  const size_t at = text.find("\n" + key + " ");
  if (at == std::string::npos) return ~0ULL;
  return std::stoull(text.substr(at + key.size() + 2));
}

// Sends `requests` on a fresh connection to loopback `port` and returns everything read until
// the server closes it; "connect failed" when it cannot connect.
inline std::string Exchange(uint16_t port, const std::string& requests) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "connect failed";
  }
  send(fd, requests.data(), requests.size(), 0);
  std::string response;
  char buf[4096];
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

// Sends one GET /collect on a fresh connection; returns the response head.
inline std::string Get(uint16_t port) {
  const std::string response =
      Exchange(port,
               "GET /collect?v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2F "
               "HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return response.substr(0, response.find("\r\n\r\n"));
}

}  // namespace beacon::host
