// Strict incremental HTTP/1.1 request parsing (RFC 9112 without the lenient parts).
#include "kernels/http/http_parser.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "kernels/bytes/hex.h"
#include "kernels/http/gzip_body.h"

namespace beacon::kernels {
namespace {

constexpr size_t kMaxChunkSizeLine = 1024;

constexpr std::string_view kRejectNames[] = {
#define BEACON_HTTP_REJECT_NAME(name, label, status) label,
    BEACON_HTTP_REJECTS(BEACON_HTTP_REJECT_NAME)
#undef BEACON_HTTP_REJECT_NAME
};

constexpr int kRejectStatuses[] = {
#define BEACON_HTTP_REJECT_STATUS(name, label, status) status,
    BEACON_HTTP_REJECTS(BEACON_HTTP_REJECT_STATUS)
#undef BEACON_HTTP_REJECT_STATUS
};

bool IsTokenChar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// field-value characters: VCHAR, obs-text, SP, HT.
bool IsFieldValue(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 ? c != '\t' : c == 0x7f) return false;
  }
  return true;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `fn` with each trimmed, non-empty element of a comma-separated list.
template <typename Fn>
void ForEachListElement(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view element = Trim(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view HttpRejectName(HttpReject reason) {
  return kRejectNames[static_cast<size_t>(reason)];
}

int HttpRejectStatus(HttpReject reason) { return kRejectStatuses[static_cast<size_t>(reason)]; }

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

HttpParser::HttpParser(HttpLimits limits) : limits_(limits) {}

void HttpParser::Reset() {
  phase_ = Phase::kHead;
  pos_ = 0;
  scanned_ = 0;
  request_line_done_ = false;
  header_bytes_ = 0;
  body_start_ = 0;
  content_length_ = 0;
  chunk_remaining_ = 0;
  chunked_ = false;
  gzip_ = false;
  unsupported_content_encoding_ = false;
  has_content_length_ = false;
  has_transfer_encoding_ = false;
  has_host_ = false;
  expects_continue_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  minor_version_ = 1;
  method_ = {};
  target_ = {};
  header_spans_.clear();
  dechunked_.clear();
  inflated_.clear();
  request_.headers.clear();
  request_.body = {};
}

ParseResult HttpParser::Fail(HttpReject reason) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.reject = reason;
  r.http_status = HttpRejectStatus(reason);
  return r;
}

HttpReject HttpParser::ParseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HttpReject::kBadRequestLine;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return HttpReject::kBadRequestLine;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return HttpReject::kBadMethod;
  if (target.empty() || target.front() != '/') return HttpReject::kBadTarget;
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return HttpReject::kBadTarget;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return HttpReject::kBadRequestLine;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return HttpReject::kUnsupportedVersion;
  }
  minor_version_ = version[7] - '0';
  method_ = {0, static_cast<uint32_t>(sp1)};
  target_ = {static_cast<uint32_t>(sp1 + 1), static_cast<uint32_t>(target.size())};
  return HttpReject::kCount;
}

HttpReject HttpParser::ParseHeaderLine(std::string_view buffer, size_t start, size_t end) {
  const std::string_view line = buffer.substr(start, end - start);
  if (line.front() == ' ' || line.front() == '\t') return HttpReject::kObsoleteFolding;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return HttpReject::kBadHeaderName;
  const std::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return HttpReject::kBadHeaderName;
  const std::string_view value = Trim(line.substr(colon + 1));
  if (!IsFieldValue(value)) return HttpReject::kBadHeaderValue;
  if (header_spans_.size() == limits_.max_header_count) return HttpReject::kTooManyHeaders;
  const auto value_offset = static_cast<uint32_t>(value.data() - buffer.data());
  header_spans_.push_back({{static_cast<uint32_t>(start), static_cast<uint32_t>(name.size())},
                           {value_offset, static_cast<uint32_t>(value.size())}});

  if (EqualsIgnoreCase(name, "content-length")) {
    if (has_content_length_) return HttpReject::kDuplicateContentLength;
    has_content_length_ = true;
    if (value.empty() || value.size() > 18) return HttpReject::kBadContentLength;
    size_t n = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return HttpReject::kBadContentLength;
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    content_length_ = n;
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    // A second Transfer-Encoding line would extend the coding list: only "chunked" once is
    // supported.
    if (has_transfer_encoding_) return HttpReject::kUnsupportedTransferEncoding;
    has_transfer_encoding_ = true;
    chunked_ = EqualsIgnoreCase(value, "chunked");
  } else if (EqualsIgnoreCase(name, "content-encoding")) {
    ForEachListElement(value, [&](std::string_view coding) {
      if (EqualsIgnoreCase(coding, "gzip") || EqualsIgnoreCase(coding, "x-gzip")) {
        // Only one gzip layer is inflated.
        if (gzip_) unsupported_content_encoding_ = true;
        gzip_ = true;
      } else if (!EqualsIgnoreCase(coding, "identity")) {
        unsupported_content_encoding_ = true;
      }
    });
  } else if (EqualsIgnoreCase(name, "connection")) {
    ForEachListElement(value, [&](std::string_view option) {
      if (EqualsIgnoreCase(option, "close")) connection_close_ = true;
      if (EqualsIgnoreCase(option, "keep-alive")) connection_keep_alive_ = true;
    });
  } else if (EqualsIgnoreCase(name, "host")) {
    if (has_host_) return HttpReject::kDuplicateHost;  // RFC 9112 section 3.2
    has_host_ = true;
  } else if (EqualsIgnoreCase(name, "expect")) {
    // An HTTP/1.0 client knows no 1xx answers: its expectation is ignored (RFC 9110 10.1.1).
    expects_continue_ = minor_version_ == 1 && EqualsIgnoreCase(value, "100-continue");
  }
  return HttpReject::kCount;
}

HttpReject HttpParser::FinishHead() {
  if (minor_version_ == 1 && !has_host_) return HttpReject::kMissingHost;
  if (has_content_length_ && has_transfer_encoding_) {
    return HttpReject::kContentLengthWithTransferEncoding;
  }
  // HTTP/1.0 has no transfer codings: its framing is faulty (RFC 9112 section 6.1). A front
  // proxy that ignores the header takes the body as empty and the chunks as the next request.
  if (minor_version_ == 0 && has_transfer_encoding_) return HttpReject::kLegacyTransferEncoding;
  if (has_transfer_encoding_ && !chunked_) return HttpReject::kUnsupportedTransferEncoding;
  if (content_length_ > limits_.max_body_bytes) return HttpReject::kBodyTooLarge;
  if (unsupported_content_encoding_) return HttpReject::kUnsupportedContentEncoding;
  return HttpReject::kCount;
}

ParseResult HttpParser::Complete(std::string_view buffer, std::string_view body, size_t end) {
  if (gzip_) {
    switch (Gunzip(body, limits_.max_decoded_body_bytes, &inflated_)) {
      case GunzipStatus::kOk:
        body = inflated_;
        break;
      case GunzipStatus::kTooLarge:
        return Fail(HttpReject::kDecodedBodyTooLarge);
      case GunzipStatus::kCorrupt:
        return Fail(HttpReject::kBadGzip);
    }
  }
  HttpRequest& r = request_;
  r.method = buffer.substr(method_.offset, method_.size);
  r.target = buffer.substr(target_.offset, target_.size);
  const size_t question = r.target.find('?');
  r.path = r.target.substr(0, question);
  r.query = question == std::string_view::npos ? std::string_view() : r.target.substr(question + 1);
  r.minor_version = minor_version_;
  r.headers.clear();
  for (const auto& [name, value] : header_spans_) {
    r.headers.push_back(
        {buffer.substr(name.offset, name.size), buffer.substr(value.offset, value.size)});
  }
  r.body = body;
  r.keep_alive = !connection_close_ && (minor_version_ == 1 || connection_keep_alive_);
  r.content_type = r.Header("content-type");
  r.user_agent = r.Header("user-agent");
  ParseResult result;
  result.status = ParseStatus::kComplete;
  result.consumed = end;
  return result;
}

HttpReject HttpParser::LineTooLong(size_t bytes) const {
  const size_t line = bytes > 0 ? bytes - 1 : 0;  // without the CR that may end it
  if (phase_ == Phase::kChunkSize) {
    return line > kMaxChunkSizeLine ? HttpReject::kBadChunk : HttpReject::kCount;
  }
  if (phase_ == Phase::kHead && !request_line_done_) {
    // Counted from the first byte of the buffer: empty lines before the request line count.
    return pos_ + line > limits_.max_request_line ? HttpReject::kRequestLineTooLong
                                                  : HttpReject::kCount;
  }
  // A header or trailer line: the limit it reaches first, byte by byte.
  const size_t line_room = limits_.max_header_line;
  const size_t total_room = limits_.max_header_bytes - header_bytes_;
  if (line <= std::min(line_room, total_room)) return HttpReject::kCount;
  return line_room <= total_room ? HttpReject::kHeaderLineTooLong : HttpReject::kHeadersTooLarge;
}

std::optional<ParseResult> HttpParser::TakeLine(std::string_view buffer) {
  const size_t from = pos_ + scanned_;
  const void* lf = std::memchr(buffer.data() + from, '\n', buffer.size() - from);
  const size_t end = lf == nullptr ? buffer.size() : static_cast<const char*>(lf) - buffer.data();
  // The length limits first, on the bytes before the LF: a split request fails them before
  // its LF arrives, so a whole one must too, whatever else is wrong with the line.
  if (const HttpReject reject = LineTooLong(end - pos_); reject != HttpReject::kCount) {
    return Fail(reject);
  }
  if (lf == nullptr) {
    scanned_ = buffer.size() - pos_;
    return ParseResult{};
  }
  if (end == pos_ || buffer[end - 1] != '\r') return Fail(HttpReject::kBareLf);
  const size_t line_start = pos_;
  const std::string_view line = buffer.substr(pos_, end - 1 - pos_);
  if (line.find('\r') != std::string_view::npos) return Fail(HttpReject::kBareCr);
  pos_ = end + 1;
  scanned_ = 0;
  switch (phase_) {
    case Phase::kChunkSize:
      return ChunkSizeLine(line);
    case Phase::kTrailer:
      return TrailerLine(buffer, line);
    default:
      return HeadLine(buffer, line, line_start);
  }
}

std::optional<ParseResult> HttpParser::HeadLine(std::string_view buffer, std::string_view line,
                                                size_t line_start) {
  if (!request_line_done_) {
    // An empty line before the request line is ignored (RFC 9112 section 2.2).
    if (line.empty()) {
      if (pos_ > limits_.max_request_line) return Fail(HttpReject::kRequestLineTooLong);
      return std::nullopt;
    }
    const HttpReject reject = ParseRequestLine(line);
    if (reject != HttpReject::kCount) return Fail(reject);
    method_.offset += static_cast<uint32_t>(line_start);
    target_.offset += static_cast<uint32_t>(line_start);
    request_line_done_ = true;
    return std::nullopt;
  }
  if (!line.empty()) {
    header_bytes_ += line.size() + 2;
    if (header_bytes_ > limits_.max_header_bytes) return Fail(HttpReject::kHeadersTooLarge);
    const HttpReject reject = ParseHeaderLine(buffer, line_start, line_start + line.size());
    if (reject != HttpReject::kCount) return Fail(reject);
    return std::nullopt;
  }
  const HttpReject reject = FinishHead();
  if (reject != HttpReject::kCount) return Fail(reject);
  body_start_ = pos_;
  if (chunked_) {
    phase_ = Phase::kChunkSize;
  } else if (content_length_ > 0) {
    phase_ = Phase::kFixedBody;
  } else {
    return Complete(buffer, {}, pos_);
  }
  return std::nullopt;
}

std::optional<ParseResult> HttpParser::ChunkSizeLine(std::string_view line) {
  size_t i = 0;
  size_t size = 0;
  for (; i < line.size() && HexDigitValue(line[i]) != kNotHex; ++i) {
    if (i == 15) return Fail(HttpReject::kBadChunk);
    size = size * 16 + static_cast<size_t>(HexDigitValue(line[i]));
  }
  // Chunk extensions (";name=value") are allowed and ignored.
  if (i == 0 || (i < line.size() && line[i] != ';')) return Fail(HttpReject::kBadChunk);
  if (dechunked_.size() + size > limits_.max_body_bytes) return Fail(HttpReject::kBodyTooLarge);
  chunk_remaining_ = size;
  phase_ = size == 0 ? Phase::kTrailer : Phase::kChunkData;
  return std::nullopt;
}

std::optional<ParseResult> HttpParser::TrailerLine(std::string_view buffer, std::string_view line) {
  if (line.empty()) return Complete(buffer, dechunked_, pos_);
  // Trailer fields are checked for framing and size, then ignored.
  header_bytes_ += line.size() + 2;
  if (line.front() == ' ' || line.front() == '\t') return Fail(HttpReject::kObsoleteFolding);
  if (header_bytes_ > limits_.max_header_bytes) return Fail(HttpReject::kHeadersTooLarge);
  return std::nullopt;
}

std::optional<ParseResult> HttpParser::ChunkData(std::string_view buffer) {
  const size_t take = std::min(chunk_remaining_, buffer.size() - pos_);
  dechunked_.append(buffer.data() + pos_, take);
  pos_ += take;
  chunk_remaining_ -= take;
  if (chunk_remaining_ > 0) return ParseResult{};
  phase_ = Phase::kChunkDataEnd;
  return std::nullopt;
}

std::optional<ParseResult> HttpParser::ChunkDataEnd(std::string_view buffer) {
  if (buffer.size() - pos_ < 2) {
    if (buffer.size() > pos_ && buffer[pos_] != '\r') return Fail(HttpReject::kBadChunk);
    return ParseResult{};
  }
  if (buffer[pos_] != '\r' || buffer[pos_ + 1] != '\n') return Fail(HttpReject::kBadChunk);
  pos_ += 2;
  phase_ = Phase::kChunkSize;
  return std::nullopt;
}

ParseResult HttpParser::Parse(std::string_view buffer) {
  for (;;) {
    std::optional<ParseResult> result;
    switch (phase_) {
      case Phase::kHead:
      case Phase::kChunkSize:
      case Phase::kTrailer:
        result = TakeLine(buffer);
        break;
      case Phase::kFixedBody:
        if (buffer.size() - body_start_ < content_length_) return {};
        return Complete(buffer, buffer.substr(body_start_, content_length_),
                        body_start_ + content_length_);
      case Phase::kChunkData:
        result = ChunkData(buffer);
        break;
      case Phase::kChunkDataEnd:
        result = ChunkDataEnd(buffer);
        break;
    }
    if (result.has_value()) return *result;
  }
}

}  // namespace beacon::kernels
