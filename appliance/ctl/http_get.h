// Blocking HTTP GET and POST for beaconctl (libcurl; curl_global_init is the caller's).
#pragma once

#include <string>

namespace beacon::app {

// GETs `url` with "Authorization: Bearer `token`" unless `token` is empty; throws
// std::runtime_error unless the answer is 200 within `timeout_ms`.
std::string HttpGet(const std::string& url, long timeout_ms = 5000, const std::string& token = "");

// The management listener's bearer token for beaconctl: the content of `token_file` when given,
// else $BEACON_MANAGEMENT_TOKEN when set, else the token of the beacond config `config_path`
// when given ([management] token or token_file), else "" (a loopback listener needs none).
// Trailing whitespace is trimmed; throws std::runtime_error when a file cannot be read.
std::string ManagementToken(const std::string& token_file, const std::string& config_path);

struct HttpAnswer {
  long status = 0;
  std::string body;
};

// POSTs an empty body to `url`, with "Authorization: Bearer <token>" unless `token` is empty;
// throws std::runtime_error when no answer comes within `timeout_ms`.
HttpAnswer HttpPost(const std::string& url, const std::string& token, long timeout_ms);

}  // namespace beacon::app
