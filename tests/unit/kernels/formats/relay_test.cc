// The UDP relay payloads through DecodeBatch: hit batches, syslog framing (RFC 3164 and 5424),
// the beacon_relay log line, and relayed beacons decoding exactly as the same beacons over
// HTTP do.
#include "kernels/formats/relay.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/bytes/text.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

// nginx's escape=json: '"' and '\' backslashed, bytes below 0x20 as \n \r \t \b \f or \u00XX.
std::string EscapeJson(std::string_view in) {
  std::string out;
  for (const char c : in) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

struct Request {
  std::string method;
  std::string uri;
  std::string body;
  std::string user_agent = std::string(kBrowserUa);
  int64_t time_ms = kNowMs;
  std::string client = "192.168.0.1";
};

std::string Line(const Request& r) {
  char msec[32];
  std::snprintf(msec, sizeof(msec), "%lld.%03lld", static_cast<long long>(r.time_ms / 1000),
                static_cast<long long>(r.time_ms % 1000));
  return "beacon1\t" + std::string(msec) + "\t" + r.client + "\t" + r.method + "\t" +
         EscapeJson(r.uri) + "\t" + EscapeJson(r.user_agent) + "\thttps://shop.example/prev\tDE\t" +
         EscapeJson(r.body);
}

std::string Rfc3164(const std::string& message) {
  return "<190>Nov 14 22:15:23 proxy1 beacon: " + message;
}

class RelayTest : public FormatTest {
 protected:
  struct Row {
    uint32_t site;
    uint32_t minute;
    EventKind kind;
    uint8_t flags;
    uint64_t visitor;
    std::string path;
    bool operator==(const Row&) const = default;
  };

  // Decodes one beacon alone and returns its rows.
  std::vector<Row> Rows(const Input& in, std::vector<std::string>* outcomes = nullptr) {
    const size_t before = events_.size();
    const std::vector<std::string> all = Outcomes(in);
    if (outcomes != nullptr) *outcomes = all;
    std::vector<Row> rows;
    for (size_t i = before; i < events_.size(); ++i) {
      rows.push_back({events_.site_id[i], events_.minute[i], events_.kind[i], events_.flags[i],
                      events_.visitor[i], std::string(events_.str(events_.path[i]))});
    }
    return rows;
  }

  std::string Syslog(const std::string& datagram) {
    return Outcome({Endpoint::kUdpSyslog, datagram, {}, "", kNowMs + 20});
  }
};

TEST(RelayTextTest, LinesFieldsAndUnescaping) {
  std::string_view rest = "a\r\nb\n\nc";
  EXPECT_EQ(NextLine(&rest), "a");
  EXPECT_EQ(NextLine(&rest), "b");
  EXPECT_EQ(NextLine(&rest), "");
  EXPECT_EQ(NextLine(&rest), "c");
  EXPECT_TRUE(rest.empty());
  std::string_view fields[3];
  EXPECT_EQ(SplitFields("x\t\ty", '\t', fields, 3), 3u);
  EXPECT_EQ(fields[1], "");
  EXPECT_EQ(SplitFields("", '\t', fields, 3), 1u);
  EXPECT_EQ(SplitFields("a\tb\tc\td", '\t', fields, 3), 4u);
  char out[64];
  size_t n = 0;
  ASSERT_TRUE(UnescapeLogField(R"(a\"b\\c\/d\n\r\t\b\f\u0001\u00ffz)", out, &n));
  EXPECT_EQ(std::string(out, n), std::string("a\"b\\c/d\n\r\t\b\f\x01\xff"
                                             "z"));
  for (const char* bad : {"\\", "\\x", "\\u012", "\\u0100", "\\u00g0", "a\\"}) {
    EXPECT_FALSE(UnescapeLogField(bad, out, &n)) << bad;
  }
}

TEST(SyslogFrameTest, Rfc3164And5424) {
  std::string_view message;
  ASSERT_TRUE(SyslogMessage("<190>Nov  4 01:02:03 host nginx: hello: world", &message));
  EXPECT_EQ(message, "hello: world");
  ASSERT_TRUE(SyslogMessage("<190>Nov 14 22:15:23 beacon: m\n", &message));  // nohostname
  EXPECT_EQ(message, "m");
  ASSERT_TRUE(SyslogMessage("<134>1 2023-11-14T22:15:23.456Z proxy haproxy 77 - - msg", &message));
  EXPECT_EQ(message, "msg");
  ASSERT_TRUE(SyslogMessage(
      "<134>1 - - app - id [ex@1 a=\"x\\]y\"][b@2 c=\"d\"] \xEF\xBB\xBFmsg text", &message));
  EXPECT_EQ(message, "msg text");
  ASSERT_TRUE(SyslogMessage("<0>1 - - - - - -", &message));
  EXPECT_EQ(message, "");
  for (const char* bad :
       {"", "hello", "<>x: y", "<192>Nov 14 22:15:23 t: m", "<1a>x: y", "<13>no colon here",
        "<134>1 ts host app proc", "<134>1 - - - - - [unterminated", "<134>1 - - - - - -x",
        "<134>1 - - - - - x msg"}) {
    EXPECT_FALSE(SyslogMessage(bad, &message)) << bad;
  }
}

TEST_F(RelayTest, HitBatchFollowsTheBatchRules) {
  std::string body;
  for (int i = 0; i < 21; ++i) {
    body += "v=1&tid=G-ANY1&cid=" + std::to_string(i) + "&t=event&ec=c&ea=a\n";
  }
  const std::vector<std::string> outcomes =
      Outcomes({Endpoint::kUdpHitBatch, body, {}, std::string(kBrowserUa)});
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "accepted"), 20);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "too_many_hits"), 1);
}

TEST_F(RelayTest, RelayedBeaconsDecodeAsOverHttp) {
  struct Pair {
    Request relayed;
    Input direct;
  };
  const std::string ga = "v=1&tid=G-SHOP1&cid=9.9&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa";
  const std::string gtag_query = "v=2&tid=G-SHOP1&cid=5.5&dl=https%3A%2F%2Fshop.example%2Fg";
  const std::string gtag_body = "en=page_view\nen=scroll&_et=5\n";
  const std::string mp_query = "measurement_id=G-SHOP1&api_secret=s3cret";
  const std::string mp_body =
      R"({"client_id":"1.2","events":[{"name":"page_view","params":{"page_location":"https://shop.example/m\"q"}}]})";
  const std::string plausible =
      R"({"name":"pageview","url":"https://any.example/p\\q","domain":"any.example"})";
  const std::string sp_get = "e=pv&url=https%3A%2F%2Fshop.example%2Fs&tv=js&p=web&aid=shopapp";
  const std::string sp_post =
      R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[{"e":"pv","url":"https://any.example/t","tv":"js","p":"web","aid":"anyapp"}]})";
  const std::vector<Pair> pairs = {
      {{"GET", "/collect?" + ga, ""}, {Endpoint::kGaCollect, ga, ""}},
      {{"POST", "/r/collect", ga}, {Endpoint::kGaCollect, ga, ""}},
      {{"POST", "/batch", ga + "\n" + ga + "\n"}, {Endpoint::kGaBatch, ga + "\n" + ga + "\n", ""}},
      {{"POST", "/g/collect?" + gtag_query, gtag_body},
       {Endpoint::kGa4Gtag, gtag_body, gtag_query}},
      {{"GET", "/g/collect?" + gtag_query + "&en=page_view", ""},
       {Endpoint::kGa4Gtag, "", gtag_query + "&en=page_view"}},
      {{"POST", "/mp/collect?" + mp_query, mp_body}, {Endpoint::kGa4Mp, mp_body, mp_query}},
      {{"POST", "/api/event", plausible}, {Endpoint::kPlausibleEvent, plausible, ""}},
      {{"GET", "/i?" + sp_get, ""}, {Endpoint::kSnowplowGet, sp_get, ""}},
      {{"POST", "/com.snowplowanalytics.snowplow/tp2", sp_post},
       {Endpoint::kSnowplowPost, sp_post, ""}},
  };
  for (const Pair& p : pairs) {
    SCOPED_TRACE(p.relayed.method + " " + p.relayed.uri);
    std::vector<std::string> direct_outcomes;
    const std::vector<Row> direct = Rows(p.direct, &direct_outcomes);
    ASSERT_FALSE(direct.empty());
    EXPECT_EQ(direct.size(), direct_outcomes.size());  // all accepted
    for (const std::string& datagram :
         {Rfc3164(Line(p.relayed)),
          "<134>1 2023-11-14T22:15:23Z p haproxy - - - " + Line(p.relayed)}) {
      std::vector<std::string> outcomes;
      const std::vector<Row> relayed = Rows({Endpoint::kUdpSyslog, datagram, "", "ignored",
                                             kNowMs + 20, IpAddress::FromV4(0x7F000001)},
                                            &outcomes);
      EXPECT_EQ(relayed, direct);
      EXPECT_EQ(outcomes, direct_outcomes);
    }
  }
}

TEST_F(RelayTest, RelayedIpAndUserAgentAreTheBrowsers) {
  Request r{"POST", "/api/event",
            R"({"name":"pageview","url":"https://any.example/","domain":"any.example"})"};
  r.client = "2001:db8::1";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), kAccepted);
  EXPECT_EQ(events_.country.back(), ('D' << 8) | 'E');  // the line's country header
  uint64_t expected = 0;
  IpAddress v6;
  v6.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  ASSERT_TRUE(VisitorFromAddress(ctx_.salts, kNowMs, 2, v6, kBrowserUa, &expected));
  EXPECT_EQ(events_.visitor.back(), expected);
  r.user_agent = std::string(kBotUa);
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "bot_user_agent");
}

// A proxy's clock may run up to kRelayMaxAheadMs ahead of ours: a line stamped just after UTC
// midnight that arrives (and is decoded) just before it has no salt of its own day yet. It
// takes the salt of the day it arrived, as the archive's address hash does, instead of being
// refused as stale_salt.
TEST_F(RelayTest, ALineStampedAheadAcrossMidnightTakesTheSaltOfItsArrival) {
  const int64_t midnight = (kNowDay + 1) * 86'400'000;
  Request r{"POST", "/api/event",
            R"({"name":"pageview","url":"https://any.example/","domain":"any.example"})"};
  r.time_ms = midnight + 20'000;
  const std::string datagram = Rfc3164(Line(r));
  ASSERT_EQ(Outcome({Endpoint::kUdpSyslog, datagram, {}, "", midnight - 10'000}), kAccepted);
  uint64_t expected = 0;
  ASSERT_TRUE(VisitorFromAddress(ctx_.salts, midnight - 10'000, 2, IpAddress::FromV4(0xC0A80001),
                                 kBrowserUa, &expected));
  EXPECT_EQ(events_.visitor.back(), expected);
  EXPECT_EQ(events_.minute.back(), static_cast<uint32_t>(r.time_ms / 60'000));  // the line's
  // Decoded after midnight (the salts rotated), the line's own day has its salt.
  ctx_.salts = {kNowDay + 1, 0x5555'6666'7777'8888, ctx_.salts.today};
  EXPECT_EQ(Outcome({Endpoint::kUdpSyslog, datagram, {}, "", midnight - 10'000}), kAccepted);
}

TEST(RelayLineTest, FieldsUnescapedAndDashesEmpty) {
  const std::string message =
      "beacon1\t1700000000.123\t10.1.2.3\tPOST\t/api/event?x=\\\"y\\\"\t-\t-\t-\t"
      "{\\\"a\\\":\\\"b\\\\\\\\c\\\\u0001\\\"}\\n";
  std::vector<char> scratch(message.size() + kPayloadPadding, 'x');
  RelayLine line;
  ASSERT_FALSE(ParseRelayLine(message, scratch.data(), &line));
  EXPECT_EQ(line.time_ms, 1'700'000'000'123);
  EXPECT_EQ(line.client.bytes[12], 10);
  EXPECT_EQ(line.client.bytes[15], 3);
  EXPECT_EQ(line.method, "POST");
  EXPECT_EQ(line.uri, "/api/event?x=\"y\"");
  EXPECT_EQ(line.user_agent, "");
  EXPECT_EQ(line.referer, "");
  EXPECT_EQ(line.country, "");
  EXPECT_EQ(line.body, "{\"a\":\"b\\\\c\\u0001\"}\n");
  // The body is followed by zero padding (simdjson parses it in place).
  for (size_t i = 0; i < kPayloadPadding; ++i) EXPECT_EQ(line.body.data()[line.body.size() + i], 0);
}

// The client IP field is taken exactly when inet_pton takes it (IPv4 first, then IPv6, the text
// ending at a NUL as a C string does), with the same address.
TEST(RelayLineTest, ClientAddressesAsInetPton) {
  std::vector<std::string> texts = {"1.2.3.4",
                                    "0.0.0.0",
                                    "255.255.255.255",
                                    "256.1.1.1",
                                    "01.2.3.4",
                                    "1.2.3.04",
                                    "1.2.3",
                                    "1.2.3.4.5",
                                    "1..2.3",
                                    ".1.2.3",
                                    "1.2.3.4.",
                                    "",
                                    "::1",
                                    "::ffff:1.2.3.4",
                                    "2001:db8::1",
                                    "1.2.3.4 ",
                                    std::string("1.2.3.4\0x", 9),
                                    std::string("::1\0zz", 6),
                                    "10.0.0.1" + std::string(50, '0')};
  uint64_t seed = 7;
  for (int n = 0; n < 20000; ++n) {
    std::string text;
    const size_t size = (seed >> 33) % 17;
    for (size_t i = 0; i < size; ++i) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      text += "0123456789..::a\0"[(seed >> 40) % 16];
    }
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    texts.push_back(text);
  }
  for (const std::string& text : texts) {
    IpAddress expected;
    bool ok = text.size() < INET6_ADDRSTRLEN + 1;
    if (ok) {
      in_addr v4{};
      if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        expected = IpAddress::FromV4(ntohl(v4.s_addr));
      } else {
        ok = inet_pton(AF_INET6, text.c_str(), expected.bytes.data()) == 1;
      }
    }
    const std::string message =
        "beacon1\t1700000000.123\t" + EscapeJson(text) + "\tGET\t/collect?v=1\t-\t-\t-\t-";
    std::vector<char> scratch(message.size() + kPayloadPadding);
    RelayLine line;
    const auto reason = ParseRelayLine(message, scratch.data(), &line);
    ASSERT_EQ(!reason, ok) << ::testing::PrintToString(text);
    if (ok) {
      EXPECT_EQ(line.client.bytes, expected.bytes) << ::testing::PrintToString(text);
    }
  }
}

TEST_F(RelayTest, EveryRelayRejectReason) {
  const Request ok{"GET", "/collect?v=1&tid=G-ANY1&cid=1&t=event&ec=c&ea=a", ""};
  const std::string line = Line(ok);
  EXPECT_EQ(Syslog(Rfc3164(line)), kAccepted);
  EXPECT_EQ(Syslog(line), "bad_syslog_frame");
  EXPECT_EQ(Syslog("<13>" + std::string(kRelayMaxDatagramBytes, 'x')), "bad_syslog_frame");
  EXPECT_EQ(Syslog(Rfc3164("beacon2" + line.substr(7))), "bad_log_format");
  EXPECT_EQ(Syslog(Rfc3164(line + "\textra")), "bad_log_format");
  EXPECT_EQ(Syslog(Rfc3164(line.substr(0, line.rfind('\t')))), "bad_log_format");
  EXPECT_EQ(Syslog(Rfc3164(line + "\\q")), "bad_log_format");
  Request r = ok;
  r.client = "300.1.1.1";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "bad_log_format");
  r = ok;
  r.method = "";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "bad_log_format");
  r = ok;
  r.uri = "collect";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "bad_log_format");
  std::string bad_time = line;
  bad_time.replace(bad_time.find('.'), 4, ".12");
  EXPECT_EQ(Syslog(Rfc3164(bad_time)), "bad_log_format");
  r = ok;
  r.time_ms = kNowMs - kRelayMaxAgeMs - 1000;
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "bad_timestamp");
  r.time_ms = kNowMs + kRelayMaxAheadMs + 1000;
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "bad_timestamp");
  r = ok;
  r.method = "PUT";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "unknown_endpoint");
  r = ok;
  r.uri = "/favicon.ico";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "unknown_endpoint");
  // The relayed request's own rejects come from its decoder.
  r = ok;
  r.uri = "/collect?v=1&tid=G-NOPE&cid=1&t=event&ec=c&ea=a";
  EXPECT_EQ(Syslog(Rfc3164(Line(r))), "unknown_site");
}

}  // namespace
}  // namespace beacon::kernels::testing
