// The socket plumbing of the kernel-socket ingresses (the HTTP server and the UDP relay): one
// way to turn an address literal into a bound SO_REUSEPORT socket and a peer into an address.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "kernels/raw_batch.h"

namespace beacon::host {

// A nonblocking, close-on-exec SO_REUSEPORT socket of `type` (SOCK_STREAM: also SO_REUSEADDR
// and listening; SOCK_DGRAM) bound to `address` (an IPv4 or IPv6 literal) and `port` (0: an
// ephemeral one). `receive_buffer_bytes` > 0 sets the receive buffer: SO_RCVBUFFORCE where
// permitted, else SO_RCVBUF, which the kernel caps at net.core.rmem_max (ReceiveBufferBytes
// tells what it got). Throws std::runtime_error that begins with `who` and names the address
// and port.
int BindReusePort(const std::string& who, const std::string& address, uint16_t port, int type,
                  int receive_buffer_bytes = 0);

// The port a socket is bound to.
uint16_t BoundPort(int fd);

// The receive buffer a socket got, in the bytes SO_RCVBUF was set with (the kernel reports
// twice that).
int ReceiveBufferBytes(int fd);

// A peer's address (IPv4 v4-mapped); all zero for other families.
kernels::IpAddress PeerAddress(const sockaddr_storage& peer);

// setsockopt of one int option; failures are ignored (the option is a tuning).
void SetIntOption(int fd, int level, int name, int value);

}  // namespace beacon::host
