// Fuzz target "HTTP request parse is incremental": any byte string fed whole and fed one byte
// more per call must give the same outcome (status, consumed bytes, reject reason), and the
// parser never reads out of bounds. Aborts on a difference.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kernels/http/http_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using beacon::kernels::HttpParser;
  using beacon::kernels::HttpRejectName;
  using beacon::kernels::ParseResult;
  using beacon::kernels::ParseStatus;
  // Exactly sized, so that ASan catches a read past the end.
  const std::string input(reinterpret_cast<const char*>(data), size);
  HttpParser whole;
  const ParseResult a = whole.Parse(input);
  HttpParser bytewise;
  ParseResult b;
  for (size_t n = 1; n <= input.size(); ++n) {
    b = bytewise.Parse(std::string_view(input).substr(0, n));
    if (b.status != ParseStatus::kNeedMore) break;
  }
  const bool same = a.status == b.status &&
                    (a.status != ParseStatus::kComplete || a.consumed == b.consumed) &&
                    (a.status != ParseStatus::kError || a.reject == b.reject);
  if (!same) {
    const auto reason = [](const ParseResult& r) {
      return r.status == ParseStatus::kError ? HttpRejectName(r.reject) : std::string_view("-");
    };
    std::fprintf(stderr, "whole parse: status %d consumed %zu %s; bytewise: %d %zu %s\n",
                 static_cast<int>(a.status), a.consumed, std::string(reason(a)).c_str(),
                 static_cast<int>(b.status), b.consumed, std::string(reason(b)).c_str());
    std::abort();
  }
  return 0;
}
