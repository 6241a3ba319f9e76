// The service manager's readiness protocol (sd_notify(3)): beacond tells systemd (a
// Type=notify unit) that it serves, and that it stops. The protocol is one datagram of
// "KEY=VALUE" lines to the unix socket named by $NOTIFY_SOCKET; written here in a few lines
// rather than linking libsystemd for one call.
#pragma once

#include <string_view>

namespace beacon::app {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET ("@name": an abstract
// socket); nothing without it. Returns false when the socket is named but the send failed.
bool NotifyServiceManager(std::string_view state);

}  // namespace beacon::app
