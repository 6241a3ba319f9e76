// Blocking HTTP GET and POST for beaconctl (libcurl; curl_global_init is the caller's).
#pragma once

#include <string>

namespace beacon::app {

// GETs `url`; throws std::runtime_error unless the answer is 200 within `timeout_ms`.
std::string HttpGet(const std::string& url, long timeout_ms = 5000);

struct HttpAnswer {
  long status = 0;
  std::string body;
};

// POSTs an empty body to `url`, with "Authorization: Bearer <token>" unless `token` is empty;
// throws std::runtime_error when no answer comes within `timeout_ms`.
HttpAnswer HttpPost(const std::string& url, const std::string& token, long timeout_ms);

}  // namespace beacon::app
