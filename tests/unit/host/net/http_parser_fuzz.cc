// libFuzzer target: any byte string, fed whole and one byte at a time, must give the same
// outcome and never read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "host/net/http_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using beacon::host::HttpParser;
  using beacon::host::ParseResult;
  using beacon::host::ParseStatus;
  const std::string input(reinterpret_cast<const char*>(data), size);
  HttpParser whole;
  const ParseResult a = whole.Parse(input);
  HttpParser bytewise;
  ParseResult b;
  for (size_t n = 1; n <= input.size(); ++n) {
    b = bytewise.Parse(std::string_view(input).substr(0, n));
    if (b.status != ParseStatus::kNeedMore) break;
  }
  if (a.status != b.status) std::abort();
  if (a.status == ParseStatus::kComplete && a.consumed != b.consumed) std::abort();
  return 0;
}
