// Socket helpers over the BSD socket API.
#include "host/net/socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace beacon::host {

int BindReusePort(const std::string& who, const std::string& address, uint16_t port, int type,
                  int receive_buffer_bytes) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
  auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
  if (inet_pton(AF_INET, address.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    length = sizeof(v4);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    length = sizeof(v6);
  } else {
    throw std::runtime_error(who + ": address '" + address +
                             "' is not an IPv4 or IPv6 address literal");
  }
  const int fd = socket(storage.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(who + ": socket: " + strerror(errno));
  const bool stream = type == SOCK_STREAM;
  if (stream) SetIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  SetIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  // SO_RCVBUF stops silently at net.core.rmem_max; SO_RCVBUFFORCE passes it where permitted
  // (CAP_NET_ADMIN). ReceiveBufferBytes tells what the socket got.
  if (receive_buffer_bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes,
                                             sizeof(receive_buffer_bytes)) != 0) {
    SetIntOption(fd, SOL_SOCKET, SO_RCVBUF, receive_buffer_bytes);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      (stream && listen(fd, SOMAXCONN) != 0)) {
    const std::string error = strerror(errno);
    close(fd);
    throw std::runtime_error(who + (stream ? ": cannot listen on " : ": cannot bind ") + address +
                             ":" + std::to_string(port) + ": " + error);
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(storage).sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in&>(storage).sin_port);
}

int ReceiveBufferBytes(int fd) {
  int doubled = 0;
  socklen_t size = sizeof(doubled);
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &doubled, &size) != 0) return 0;
  return doubled / 2;  // Linux reports twice the size set, for its bookkeeping overhead
}

kernels::IpAddress PeerAddress(const sockaddr_storage& peer) {
  kernels::IpAddress ip;
  if (peer.ss_family == AF_INET) {
    ip = kernels::IpAddress::FromV4(
        ntohl(reinterpret_cast<const sockaddr_in&>(peer).sin_addr.s_addr));
  } else if (peer.ss_family == AF_INET6) {
    std::memcpy(ip.bytes.data(), reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr.s6_addr, 16);
  }
  return ip;
}

void SetIntOption(int fd, int level, int name, int value) {
  setsockopt(fd, level, name, &value, sizeof(value));
}

}  // namespace beacon::host
