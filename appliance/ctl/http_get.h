// A blocking HTTP GET for beaconctl (libcurl; curl_global_init is the caller's).
#pragma once

#include <string>

namespace beacon::app {

// GETs `url`; throws std::runtime_error unless the answer is 200 within `timeout_ms`.
std::string HttpGet(const std::string& url, long timeout_ms = 5000);

}  // namespace beacon::app
