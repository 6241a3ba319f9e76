// The strict HTTP/1.1 parser: accepted requests, every rejection class, and the same outcome
// whether a request arrives whole or split at any byte boundary.
#include "kernels/http/http_parser.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <string_view>
#include <vector>

#include "kernels/http/gzip_body.h"

namespace beacon::kernels {
namespace {

std::string GzipBytes(std::string_view plain) {
  z_stream zs{};
  EXPECT_EQ(
      deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
      Z_OK);
  std::string out(deflateBound(&zs, plain.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct Outcome {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;
  HttpReject reject = HttpReject::kCount;
  int http_status = 0;
  std::string method, path, query, body, user_agent;
  int minor_version = 0;
  bool keep_alive = false;
};

Outcome Capture(const HttpParser& parser, const ParseResult& r) {
  Outcome o;
  o.status = r.status;
  o.consumed = r.consumed;
  o.reject = r.reject;
  o.http_status = r.http_status;
  if (r.status == ParseStatus::kComplete) {
    const HttpRequest& q = parser.request();
    o.method = q.method;
    o.path = q.path;
    o.query = q.query;
    o.body = q.body;
    o.user_agent = q.user_agent;
    o.minor_version = q.minor_version;
    o.keep_alive = q.keep_alive;
  }
  return o;
}

Outcome ParseWhole(std::string_view input, const HttpLimits& limits) {
  HttpParser parser(limits);
  return Capture(parser, parser.Parse(input));
}

// Feeds growing prefixes, as a connection receiving one byte per read does. The buffer is a
// fresh copy each time so views into an older buffer would be caught by ASan.
Outcome ParseBytewise(std::string_view input, const HttpLimits& limits) {
  HttpParser parser(limits);
  Outcome o;
  for (size_t n = 1; n <= input.size(); ++n) {
    const std::string prefix(input.substr(0, n));
    const ParseResult r = parser.Parse(prefix);
    o = Capture(parser, r);
    if (r.status != ParseStatus::kNeedMore) break;
  }
  return o;
}

struct Case {
  const char* name;
  std::string input;
  ParseStatus status;
  HttpReject reject = HttpReject::kCount;
  int http_status = 0;
};

HttpLimits SmallLimits() {
  HttpLimits l;
  l.max_request_line = 64;
  l.max_header_line = 64;
  l.max_header_bytes = 128;
  l.max_header_count = 4;
  l.max_body_bytes = 64;
  l.max_decoded_body_bytes = 100;
  return l;
}

std::vector<Case> Cases() {
  const std::string host = "Host: x\r\n";
  std::vector<Case> c = {
      {"get", "GET /collect?v=1 HTTP/1.1\r\n" + host + "\r\n", ParseStatus::kComplete},
      {"http10", "GET / HTTP/1.0\r\n\r\n", ParseStatus::kComplete},
      {"post_body", "POST /batch HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello",
       ParseStatus::kComplete},
      {"chunked",
       "POST /c HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
       ParseStatus::kComplete},
      {"leading_empty_line", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", ParseStatus::kComplete},
      {"incomplete_head", "GET / HTTP/1.1\r\n" + host, ParseStatus::kNeedMore},
      {"incomplete_body", "POST / HTTP/1.1\r\n" + host + "Content-Length: 9\r\n\r\nabc",
       ParseStatus::kNeedMore},
      {"bare_lf", "GET / HTTP/1.1\n" + host + "\r\n", ParseStatus::kError, HttpReject::kBareLf,
       400},
      {"bare_lf_header", "GET / HTTP/1.1\r\nHost: x\n\r\n", ParseStatus::kError,
       HttpReject::kBareLf, 400},
      {"bare_cr", "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", ParseStatus::kError,
       HttpReject::kBareCr, 400},
      {"folding", "GET / HTTP/1.1\r\n" + host + "A: b\r\n  c\r\n\r\n", ParseStatus::kError,
       HttpReject::kObsoleteFolding, 400},
      {"no_target", "GET HTTP/1.1\r\n\r\n", ParseStatus::kError, HttpReject::kBadRequestLine, 400},
      {"bad_method", "G(T / HTTP/1.1\r\n\r\n", ParseStatus::kError, HttpReject::kBadMethod, 400},
      {"bad_target", "GET collect HTTP/1.1\r\n\r\n", ParseStatus::kError, HttpReject::kBadTarget,
       400},
      {"bad_version_text", "GET / HTTX/1.1\r\n\r\n", ParseStatus::kError,
       HttpReject::kBadRequestLine, 400},
      {"version_2", "GET / HTTP/2.0\r\n\r\n", ParseStatus::kError, HttpReject::kUnsupportedVersion,
       505},
      {"version_1_2", "GET / HTTP/1.2\r\n\r\n", ParseStatus::kError,
       HttpReject::kUnsupportedVersion, 505},
      {"request_line_too_long", "GET /" + std::string(80, 'a') + " HTTP/1.1\r\n\r\n",
       ParseStatus::kError, HttpReject::kRequestLineTooLong, 414},
      {"header_line_too_long", "GET / HTTP/1.1\r\nA: " + std::string(70, 'b') + "\r\n\r\n",
       ParseStatus::kError, HttpReject::kHeaderLineTooLong, 431},
      // A length limit wins over a framing error later on its line: a split request reaches
      // the limit before the line's LF arrives.
      {"request_line_too_long_bare_cr", "P/1.0\rGET /" + std::string(80, 'a') + " HTTP/1.1\r\n",
       ParseStatus::kError, HttpReject::kRequestLineTooLong, 414},
      {"request_line_too_long_bare_lf", "GET /" + std::string(80, 'a') + " HTTP/1.1\n",
       ParseStatus::kError, HttpReject::kRequestLineTooLong, 414},
      {"trailer_line_too_long",
       "POST /c HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\n\r\n0\r\nT: " + std::string(70, 'v') + "\r\n\r\n",
       ParseStatus::kError, HttpReject::kHeaderLineTooLong, 431},
      {"headers_too_large",
       "GET / HTTP/1.1\r\nA: " + std::string(50, 'b') + "\r\nB: " + std::string(50, 'b') +
           "\r\nC: " + std::string(50, 'b') + "\r\n\r\n",
       ParseStatus::kError, HttpReject::kHeadersTooLarge, 431},
      {"too_many_headers", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
       ParseStatus::kError, HttpReject::kTooManyHeaders, 431},
      {"bad_header_name", "GET / HTTP/1.1\r\nA b: 1\r\n\r\n", ParseStatus::kError,
       HttpReject::kBadHeaderName, 400},
      {"space_before_colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", ParseStatus::kError,
       HttpReject::kBadHeaderName, 400},
      {"no_colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", ParseStatus::kError,
       HttpReject::kBadHeaderName, 400},
      {"bad_header_value", std::string("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), ParseStatus::kError,
       HttpReject::kBadHeaderValue, 400},
      {"missing_host", "GET / HTTP/1.1\r\n\r\n", ParseStatus::kError, HttpReject::kMissingHost,
       400},
      {"duplicate_cl",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 1\r\n\r\na",
       ParseStatus::kError, HttpReject::kDuplicateContentLength, 400},
      {"conflicting_cl",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       ParseStatus::kError, HttpReject::kDuplicateContentLength, 400},
      {"bad_cl", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1x\r\n\r\na", ParseStatus::kError,
       HttpReject::kBadContentLength, 400},
      {"negative_cl", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n",
       ParseStatus::kError, HttpReject::kBadContentLength, 400},
      {"cl_and_te",
       "POST / HTTP/1.1\r\n" + host +
           "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       ParseStatus::kError, HttpReject::kContentLengthWithTransferEncoding, 400},
      {"te_gzip", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n",
       ParseStatus::kError, HttpReject::kUnsupportedTransferEncoding, 501},
      {"te_twice",
       "POST / HTTP/1.1\r\n" + host +
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       ParseStatus::kError, HttpReject::kUnsupportedTransferEncoding, 501},
      {"bad_chunk_size", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
       ParseStatus::kError, HttpReject::kBadChunk, 400},
      {"bad_chunk_end", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\r\nabX",
       ParseStatus::kError, HttpReject::kBadChunk, 400},
      {"body_too_large", "POST / HTTP/1.1\r\n" + host + "Content-Length: 65\r\n\r\n",
       ParseStatus::kError, HttpReject::kBodyTooLarge, 413},
      {"chunked_too_large",
       "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n20\r\n" +
           std::string(32, 'a') + "\r\n21\r\n",
       ParseStatus::kError, HttpReject::kBodyTooLarge, 413},
      {"content_encoding_br", "POST / HTTP/1.1\r\n" + host + "Content-Encoding: br\r\n\r\n",
       ParseStatus::kError, HttpReject::kUnsupportedContentEncoding, 415},
      {"gzip_corrupt",
       "POST / HTTP/1.1\r\n" + host + "Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd",
       ParseStatus::kError, HttpReject::kBadGzip, 400},
  };
  const std::string gz = GzipBytes("v=1&t=pageview");
  c.push_back({"gzip",
               "POST /collect HTTP/1.1\r\n" + host + "Content-Encoding: gzip\r\nContent-Length: " +
                   std::to_string(gz.size()) + "\r\n\r\n" + gz,
               ParseStatus::kComplete});
  const std::string bomb = GzipBytes(std::string(101, 'z'));
  c.push_back({"gzip_over_cap",
               "POST /collect HTTP/1.1\r\n" + host + "Content-Encoding: gzip\r\nContent-Length: " +
                   std::to_string(bomb.size()) + "\r\n\r\n" + bomb,
               ParseStatus::kError, HttpReject::kDecodedBodyTooLarge, 413});
  const std::string truncated = gz.substr(0, gz.size() - 3);
  c.push_back({"gzip_truncated",
               "POST /collect HTTP/1.1\r\n" + host + "Content-Encoding: gzip\r\nContent-Length: " +
                   std::to_string(truncated.size()) + "\r\n\r\n" + truncated,
               ParseStatus::kError, HttpReject::kBadGzip, 400});
  return c;
}

TEST(HttpParserTest, TableWholeAndSplitAtEveryByte) {
  const HttpLimits limits = SmallLimits();
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const Outcome whole = ParseWhole(c.input, limits);
    EXPECT_EQ(whole.status, c.status);
    EXPECT_EQ(whole.reject, c.reject);
    EXPECT_EQ(whole.http_status, c.http_status);
    if (c.status == ParseStatus::kComplete) {
      EXPECT_EQ(whole.consumed, c.input.size());
    }
    const Outcome split = ParseBytewise(c.input, limits);
    EXPECT_EQ(split.status, whole.status);
    EXPECT_EQ(split.reject, whole.reject);
    EXPECT_EQ(split.consumed, whole.consumed);
    EXPECT_EQ(split.method, whole.method);
    EXPECT_EQ(split.path, whole.path);
    EXPECT_EQ(split.query, whole.query);
    EXPECT_EQ(split.body, whole.body);
    EXPECT_EQ(split.keep_alive, whole.keep_alive);
  }
}

// HTTP/1.0 has no transfer codings: a Transfer-Encoding in an HTTP/1.0 request is faulty
// framing (RFC 9112 section 6.1), answered 400 whole and split, never de-chunked: a front proxy
// that takes the body as empty would see the chunks as a second request.
TEST(HttpParserTest, TransferEncodingInHttp10IsFaultyFraming) {
  const std::string chunked =
      "POST /collect HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nv=1\r\n0\r\n\r\n";
  for (const Outcome& o : {ParseWhole(chunked, {}), ParseBytewise(chunked, {})}) {
    ASSERT_EQ(o.status, ParseStatus::kError)
        << "body \"" << o.body << "\" keep-alive " << o.keep_alive;
    EXPECT_EQ(HttpRejectName(o.reject), "legacy_transfer_encoding");
    EXPECT_EQ(o.http_status, 400);
  }
}

// A second Host line is refused (RFC 9112 section 3.2), whole and split: two hosts are how a
// request is made to mean one site to a front proxy and another to the server behind it.
TEST(HttpParserTest, DuplicateHostRefused) {
  for (const std::string& request :
       {std::string("GET /collect HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"),
        std::string("GET /collect HTTP/1.0\r\nHost: a.example\r\nhost: a.example\r\n\r\n")}) {
    for (const Outcome& o : {ParseWhole(request, {}), ParseBytewise(request, {})}) {
      ASSERT_EQ(o.status, ParseStatus::kError) << request;
      EXPECT_EQ(HttpRejectName(o.reject), "duplicate_host");
      EXPECT_EQ(o.http_status, 400);
    }
  }
}

TEST(HttpParserTest, FieldsOfAGetRequest) {
  HttpParser parser;
  const std::string in =
      "GET /collect?v=1&tid=UA-1 HTTP/1.1\r\nHost: h\r\nUser-Agent: Mozilla/5.0 (X)\r\n"
      "Content-Type: text/plain\r\nX-Empty:\r\n\r\n";
  const ParseResult r = parser.Parse(in);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  const HttpRequest& q = parser.request();
  EXPECT_EQ(q.method, "GET");
  EXPECT_EQ(q.target, "/collect?v=1&tid=UA-1");
  EXPECT_EQ(q.path, "/collect");
  EXPECT_EQ(q.query, "v=1&tid=UA-1");
  EXPECT_EQ(q.minor_version, 1);
  EXPECT_EQ(q.user_agent, "Mozilla/5.0 (X)");
  EXPECT_EQ(q.content_type, "text/plain");
  EXPECT_EQ(q.Header("HOST"), "h");
  EXPECT_EQ(q.Header("x-empty"), "");
  EXPECT_EQ(q.headers.size(), 4u);
  EXPECT_TRUE(q.keep_alive);
  EXPECT_TRUE(q.body.empty());
}

TEST(HttpParserTest, KeepAliveFromVersionAndConnection) {
  struct KeepAliveCase {
    std::string input;
    bool keep_alive;
  };
  const std::vector<KeepAliveCase> cases = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, Close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
  };
  for (const auto& c : cases) {
    HttpParser parser;
    ASSERT_EQ(parser.Parse(c.input).status, ParseStatus::kComplete) << c.input;
    EXPECT_EQ(parser.request().keep_alive, c.keep_alive) << c.input;
  }
}

TEST(HttpParserTest, BodiesDechunkedAndInflated) {
  HttpParser parser;
  ASSERT_EQ(parser
                .Parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
                       "4\r\nv=1&\r\na\r\nt=pageview\r\n0\r\n\r\n")
                .status,
            ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "v=1&t=pageview");

  parser.Reset();
  const std::string gz = GzipBytes("v=1&t=event");
  const std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\nContent-Length: " +
      std::to_string(gz.size()) + "\r\n\r\n" + gz;
  ASSERT_EQ(parser.Parse(in).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "v=1&t=event");
}

TEST(HttpParserTest, PipelinedRequestsParsedOneAfterAnother) {
  std::string in;
  for (int i = 0; i < 5; ++i) {
    in += "POST /collect HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nv=" + std::to_string(i);
  }
  HttpParser parser;
  size_t offset = 0;
  for (int i = 0; i < 5; ++i) {
    const ParseResult r = parser.Parse(std::string_view(in).substr(offset));
    ASSERT_EQ(r.status, ParseStatus::kComplete);
    EXPECT_EQ(parser.request().body, "v=" + std::to_string(i));
    offset += r.consumed;
    parser.Reset();
  }
  EXPECT_EQ(offset, in.size());
}

TEST(HttpParserTest, ExpectContinueReportedOnceTheHeadIsComplete) {
  HttpParser parser;
  const std::string head =
      "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  EXPECT_EQ(parser.Parse(head.substr(0, 20)).status, ParseStatus::kNeedMore);
  EXPECT_FALSE(parser.expects_continue());
  EXPECT_EQ(parser.Parse(head).status, ParseStatus::kNeedMore);
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_EQ(parser.Parse(head + "ok").status, ParseStatus::kComplete);
}

// An HTTP/1.0 client knows no 1xx answers: its 100-continue expectation is ignored (RFC 9110
// section 10.1.1), so the server never sends it an interim "100 Continue" for a final answer.
TEST(HttpParserTest, ExpectContinueIgnoredOnHttp10) {
  HttpParser parser;
  const std::string head = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  EXPECT_EQ(parser.Parse(head).status, ParseStatus::kNeedMore);
  EXPECT_TRUE(parser.head_complete());
  EXPECT_FALSE(parser.expects_continue());
  const std::string whole = head + "ok";  // the request's views point into the parsed buffer
  EXPECT_EQ(parser.Parse(whole).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "ok");
}

TEST(HttpParserTest, RejectNamesAreSnakeCaseAndDistinct) {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < kHttpRejectCount; ++i) {
    const auto reason = static_cast<HttpReject>(i);
    const std::string_view name = HttpRejectName(reason);
    EXPECT_FALSE(name.empty());
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    }
    for (std::string_view other : names) {
      EXPECT_NE(name, other);
    }
    names.push_back(name);
    const int status = HttpRejectStatus(reason);
    EXPECT_TRUE(status >= 400 && status < 600) << name;
  }
  HttpRejectCounters counters;
  counters.Add(HttpReject::kBareLf);
  counters.Add(HttpReject::kBareLf);
  EXPECT_EQ(counters.Get(HttpReject::kBareLf), 2u);
  EXPECT_EQ(counters.Get(HttpReject::kBareCr), 0u);
}

TEST(GunzipTest, CapIsExactAndCorruptionDetected) {
  std::string out;
  const std::string gz = GzipBytes(std::string(1000, 'a'));
  EXPECT_EQ(Gunzip(gz, 1000, &out), GunzipStatus::kOk);
  EXPECT_EQ(out, std::string(1000, 'a'));
  EXPECT_EQ(Gunzip(gz, 999, &out), GunzipStatus::kTooLarge);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(Gunzip(gz + "x", 1000, &out), GunzipStatus::kCorrupt);
  std::string flipped = gz;
  flipped[flipped.size() - 6] ^= 0x55;  // the CRC32 trailer
  EXPECT_EQ(Gunzip(flipped, 1000, &out), GunzipStatus::kCorrupt);
  EXPECT_EQ(Gunzip("", 1000, &out), GunzipStatus::kCorrupt);
}

}  // namespace
}  // namespace beacon::kernels
