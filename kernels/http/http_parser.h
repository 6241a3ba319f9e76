// The strict incremental HTTP/1.1 request parser: CRLF only, no header folding, one
// Content-Length, chunked and gzip bodies under caps. Every rejection names its reason and the
// status the server answers with.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace beacon::kernels {

struct HttpLimits {
  size_t max_request_line = 8192;         // longer: 414
  size_t max_header_line = 8192;          // one header line longer: 431
  size_t max_header_bytes = 16384;        // all header lines (and chunked trailers): 431
  size_t max_header_count = 100;          // more header lines: 431
  size_t max_body_bytes = 65536;          // body on the wire (or de-chunked) longer: 413
  size_t max_decoded_body_bytes = 65536;  // gzip-inflated body longer: 413
  size_t max_collect_url = 8000;          // GET /collect request-target longer: 414 (server)
};

// X(enum value, metric label, HTTP status answered).
#define BEACON_HTTP_REJECTS(X)                                                        \
  X(kBareLf, "bare_lf", 400)                         /* LF without CR */              \
  X(kBareCr, "bare_cr", 400)                         /* CR without LF */              \
  X(kBadRequestLine, "bad_request_line", 400)        /* not METHOD SP target SP */    \
  X(kBadMethod, "bad_method", 400)                   /* method not a token */         \
  X(kBadTarget, "bad_target", 400)                   /* not origin-form */            \
  X(kUnsupportedVersion, "unsupported_version", 505) /* HTTP/x.y not 1.0/1.1 */       \
  X(kRequestLineTooLong, "request_line_too_long", 414)                                \
  X(kUrlTooLong, "url_too_long", 414) /* GET /collect > 8000 bytes */                 \
  X(kHeaderLineTooLong, "header_line_too_long", 431)                                  \
  X(kHeadersTooLarge, "headers_too_large", 431)                                       \
  X(kTooManyHeaders, "too_many_headers", 431)                                         \
  X(kObsoleteFolding, "obsolete_folding", 400) /* line starts with SP/HT */           \
  X(kBadHeaderName, "bad_header_name", 400)    /* not a token, or no ':' */           \
  X(kBadHeaderValue, "bad_header_value", 400)  /* control character */                \
  X(kMissingHost, "missing_host", 400)         /* HTTP/1.1 without Host */            \
  X(kDuplicateHost, "duplicate_host", 400)     /* a second Host line */               \
  X(kBadContentLength, "bad_content_length", 400)                                     \
  X(kDuplicateContentLength, "duplicate_content_length", 400)                         \
  X(kContentLengthWithTransferEncoding, "content_length_with_transfer_encoding", 400) \
  X(kUnsupportedTransferEncoding, "unsupported_transfer_encoding", 501)               \
  X(kLegacyTransferEncoding, "legacy_transfer_encoding", 400)                         \
  X(kBadChunk, "bad_chunk", 400) /* malformed chunked framing */                      \
  X(kBodyTooLarge, "body_too_large", 413)                                             \
  X(kUnsupportedContentEncoding, "unsupported_content_encoding", 415)                 \
  X(kBadGzip, "bad_gzip", 400) /* corrupt or truncated gzip */                        \
  X(kDecodedBodyTooLarge, "decoded_body_too_large", 413)

enum class HttpReject : uint8_t {
#define BEACON_HTTP_REJECT_ENUM(name, label, status) name,
  BEACON_HTTP_REJECTS(BEACON_HTTP_REJECT_ENUM)
#undef BEACON_HTTP_REJECT_ENUM
      kCount
};

inline constexpr size_t kHttpRejectCount = static_cast<size_t>(HttpReject::kCount);

// The snake_case metric label of a reason.
std::string_view HttpRejectName(HttpReject reason);
// ASCII case-insensitive equality, as header names and tokens compare (RFC 9110 §5.1).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// The status answered for a reason (400, 413, 414, 415, 431, 501, 505).
int HttpRejectStatus(HttpReject reason);

// Per-worker counters: one writer (the worker), any number of readers (metrics scrapes).
class HttpRejectCounters {
 public:
  void Add(HttpReject reason) {
    auto& c = counts_[static_cast<size_t>(reason)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t Get(HttpReject reason) const {
    return counts_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kHttpRejectCount> counts_{};
};

struct HttpHeader {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;  // without surrounding whitespace
};

// Views into the buffer passed to the last HttpParser::Parse call (or into the parser for a
// de-chunked or inflated body): valid until that buffer changes or the parser is reset.
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // the request-target as sent
  std::string_view path;    // target before '?'
  std::string_view query;   // target after '?', empty when there is none
  int minor_version = 1;    // HTTP/1.<minor_version>: 0 or 1
  std::vector<HttpHeader> headers;
  std::string_view body;   // de-chunked and gzip-inflated
  bool keep_alive = true;  // from the version and the Connection header
  std::string_view content_type;
  std::string_view user_agent;

  // The first header named `name` (case-insensitive), or an empty view.
  std::string_view Header(std::string_view name) const;
};

enum class ParseStatus : uint8_t { kNeedMore, kComplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;                     // kComplete: bytes of this request
  HttpReject reject = HttpReject::kCount;  // kError: why
  int http_status = 0;                     // kError: what to answer
};

// Parses one request at a time. Work per call is proportional to the new bytes, not to the
// whole buffer.
class HttpParser {
 public:
  explicit HttpParser(HttpLimits limits = {});

  // `buffer` holds the bytes from the first byte of the current request on; each call must
  // pass a buffer that begins with the bytes of the previous call (more may follow). After
  // kComplete, request() is valid and the caller drops `consumed` bytes and calls Reset.
  // After kError the connection must be closed.
  ParseResult Parse(std::string_view buffer);
  const HttpRequest& request() const { return request_; }
  // The head is complete, carried `Expect: 100-continue` (HTTP/1.1 only: an HTTP/1.0 client's
  // is ignored), and the body is still awaited.
  bool expects_continue() const { return expects_continue_ && phase_ != Phase::kHead; }
  // The current request's head has been parsed (its body may still be awaited).
  bool head_complete() const { return phase_ != Phase::kHead; }
  // Bytes the de-chunked and inflated bodies hold past a fresh parser's (kept across Reset).
  size_t body_buffer_bytes() const {
    return dechunked_.capacity() + inflated_.capacity() - 2 * std::string().capacity();
  }
  void Reset();

 private:
  enum class Phase : uint8_t { kHead, kFixedBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailer };
  struct Span {
    uint32_t offset = 0;
    uint32_t size = 0;
  };

  ParseResult Fail(HttpReject reason);
  // The steps of Parse. Each returns what Parse answers, or nullopt to go on with the next
  // phase.
  std::optional<ParseResult> TakeLine(std::string_view buffer);
  std::optional<ParseResult> HeadLine(std::string_view buffer, std::string_view line,
                                      size_t line_start);
  std::optional<ParseResult> ChunkSizeLine(std::string_view line);
  std::optional<ParseResult> TrailerLine(std::string_view buffer, std::string_view line);
  std::optional<ParseResult> ChunkData(std::string_view buffer);
  std::optional<ParseResult> ChunkDataEnd(std::string_view buffer);
  // The length limit of the current phase that a line breaks once `bytes` of it have arrived
  // (its CR included, its LF not), or kCount: the same verdict whether or not the LF is there.
  HttpReject LineTooLong(size_t bytes) const;
  // Each returns kCount on success.
  HttpReject ParseRequestLine(std::string_view line);
  HttpReject ParseHeaderLine(std::string_view buffer, size_t start, size_t end);
  HttpReject FinishHead();
  // Inflates when gzip and fills request_; `end` is one past the request's last byte.
  ParseResult Complete(std::string_view buffer, std::string_view body, size_t end);

  HttpLimits limits_;
  Phase phase_ = Phase::kHead;
  size_t pos_ = 0;      // first byte not yet consumed by the current phase
  size_t scanned_ = 0;  // bytes from pos_ on already searched for LF
  bool request_line_done_ = false;
  size_t header_bytes_ = 0;
  size_t body_start_ = 0;
  size_t content_length_ = 0;
  size_t chunk_remaining_ = 0;
  bool chunked_ = false;
  bool gzip_ = false;
  bool unsupported_content_encoding_ = false;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool has_host_ = false;
  bool expects_continue_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  int minor_version_ = 1;
  Span method_, target_;
  std::vector<std::pair<Span, Span>> header_spans_;
  std::string dechunked_;
  std::string inflated_;
  HttpRequest request_;
};

}  // namespace beacon::kernels
