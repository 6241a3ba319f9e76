// GA Universal v1 decoding through DecodeBatch: reject reasons and their precedence, /batch
// limits, minutes, paths, visitor hashes, and realistic /collect and /batch payloads.
#include "kernels/formats/ga_v1.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/bytes/hash.h"
#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels {
namespace {

constexpr std::string_view kRegistry = R"(# site_id name tracking_ids hostnames
1 shop UA-1000-1 shop.example,*.shop.example
2 blog UA-2000-1,UA-2000-2 *
3 docs UA-3000-1 docs.example
)";

constexpr std::string_view kBrowserUa =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
constexpr int64_t kNowMs = 1'700'000'123'456;  // 2023-11-14T22:15:23.456Z
constexpr uint32_t kNowMinute = 28'333'335;    // kNowMs / 60000
constexpr uint64_t kVisitorKey = 0x5eed'1234'abcd'0042;

// A valid pageview of site 1.
constexpr std::string_view kPageview =
    "v=1&tid=UA-1000-1&cid=555.1700000000&t=pageview&dl=https%3A%2F%2Fshop.example%2Fcart";

constexpr std::string_view kAccepted = "accepted";

class GaV1Test : public ::testing::Test {
 protected:
  void Add(Endpoint endpoint, std::string_view payload, std::string_view user_agent = kBrowserUa,
           int64_t receive_time_ms = kNowMs) {
    ASSERT_TRUE(raw_.Add(endpoint, IngressKind::kHttp, payload, user_agent,
                         IpAddress::FromV4(0x0A000001), receive_time_ms));
  }

  void Decode() {
    DecodeBatch(raw_, ctx_, &events_);
    raw_.Clear();
  }

  // Decodes one beacon alone and names its single outcome: "accepted" or the reject label.
  // Anything but exactly one outcome is reported as a failure.
  std::string Outcome(std::string_view payload, std::string_view user_agent = kBrowserUa,
                      Endpoint endpoint = Endpoint::kGaCollect) {
    const size_t events_before = events_.size();
    std::array<uint64_t, kRejectReasonCount> before{};
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      before[r] = rejects_.Get(static_cast<RejectReason>(r));
    }
    Add(endpoint, payload, user_agent);
    Decode();
    std::vector<std::string> outcomes(events_.size() - events_before, std::string(kAccepted));
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      const auto reason = static_cast<RejectReason>(r);
      for (uint64_t n = before[r]; n < rejects_.Get(reason); ++n) {
        outcomes.emplace_back(RejectReasonName(reason));
      }
    }
    if (outcomes.size() != 1) {
      std::string all;
      for (const auto& o : outcomes) all += o + " ";
      ADD_FAILURE() << "expected one outcome, got " << outcomes.size() << ": " << all;
      return "several";
    }
    return outcomes[0];
  }

  std::string_view LastPath() const { return events_.str(events_.path.back()); }

  SiteRegistry sites_ = SiteRegistry::Parse(kRegistry);
  RejectCounters rejects_;
  DecodeContext ctx_{&sites_, &rejects_, kVisitorKey, {}};
  RawBatch raw_;
  EventBatch events_;
};

// --- Hits as parameter lists, so that faults can be combined. ---

struct Hit {
  std::vector<std::pair<std::string, std::string>> params;  // raw (encoded) key and value

  void Set(const std::string& key, const std::string& value) {
    for (auto& [k, v] : params) {
      if (k == key) {
        v = value;
        return;
      }
    }
    params.emplace_back(key, value);
  }
  void Remove(const std::string& key) {
    std::erase_if(params, [&](const auto& p) { return p.first == key; });
  }
  std::string Encode() const {
    std::string out;
    for (const auto& [k, v] : params) {
      if (!out.empty()) out += '&';
      out += k + "=" + v;
    }
    return out;
  }
};

Hit ValidPageview() {
  return {{{"v", "1"},
           {"tid", "UA-1000-1"},
           {"cid", "555.1700000000"},
           {"t", "pageview"},
           {"dl", "https%3A%2F%2Fshop.example%2Fcart"}}};
}

// One fault per reject reason the GA decoder gives a single hit, in precedence order. `keys`
// are the parameters a fault touches or relies on; faults sharing one do not combine.
struct Fault {
  RejectReason reason;
  std::vector<std::string> keys;
  std::function<void(Hit*)> apply;
};

std::vector<Fault> HitFaultsInPrecedenceOrder() {
  return {
      {RejectReason::kHitTooLarge, {"z"}, [](Hit* h) { h->Set("z", std::string(8200, 'x')); }},
      {RejectReason::kBadPercentEncoding, {"dr"}, [](Hit* h) { h->Set("dr", "100%"); }},
      {RejectReason::kInvalidUtf8, {"el"}, [](Hit* h) { h->Set("el", "%C0%AF"); }},
      {RejectReason::kMissingVersion, {"v"}, [](Hit* h) { h->Remove("v"); }},
      {RejectReason::kBadVersion, {"v"}, [](Hit* h) { h->Set("v", "2"); }},
      {RejectReason::kMissingTrackingId, {"tid"}, [](Hit* h) { h->Remove("tid"); }},
      {RejectReason::kUnknownSite, {"tid"}, [](Hit* h) { h->Set("tid", "UA-9999-9"); }},
      {RejectReason::kMissingClientId, {"cid"}, [](Hit* h) { h->Remove("cid"); }},
      {RejectReason::kMissingHitType, {"t"}, [](Hit* h) { h->Remove("t"); }},
      {RejectReason::kUnknownHitType, {"t"}, [](Hit* h) { h->Set("t", "pageviews"); }},
      {RejectReason::kMissingPage, {"t", "dl"}, [](Hit* h) { h->Remove("dl"); }},
      {RejectReason::kMissingEventFields,
       {"t", "ec", "ea"},
       [](Hit* h) {
         h->Set("t", "event");
         h->Set("ec", "Video");
       }},
      {RejectReason::kFieldTooLong, {"dt"}, [](Hit* h) { h->Set("dt", std::string(1501, 'T')); }},
      {RejectReason::kBadQueueTime, {"qt"}, [](Hit* h) { h->Set("qt", "-5"); }},
      {RejectReason::kHostNotAllowed,
       {"dl"},
       [](Hit* h) { h->Set("dl", "https%3A%2F%2Fevil.example%2Fcart"); }},
      {RejectReason::kBotUserAgent,
       {"ua"},
       [](Hit* h) { h->Set("ua", "Mozilla%2F5.0+(compatible%3B+Googlebot%2F2.1)"); }},
  };
}

bool ShareKey(const Fault& a, const Fault& b) {
  for (const auto& k : a.keys) {
    if (std::find(b.keys.begin(), b.keys.end(), k) != b.keys.end()) return true;
  }
  return false;
}

TEST_F(GaV1Test, ValidPageviewIsAccepted) {
  EXPECT_EQ(Outcome(kPageview), kAccepted);
  EXPECT_EQ(Outcome(ValidPageview().Encode()), kAccepted);
  EXPECT_EQ(rejects_.Total(), 0u);
}

TEST_F(GaV1Test, EachHitFaultAloneGivesItsReasonCountedOnce) {
  for (const auto& fault : HitFaultsInPrecedenceOrder()) {
    Hit hit = ValidPageview();
    fault.apply(&hit);
    const uint64_t total_before = rejects_.Total();
    const uint64_t before = rejects_.Get(fault.reason);
    EXPECT_EQ(Outcome(hit.Encode()), RejectReasonName(fault.reason)) << hit.Encode();
    EXPECT_EQ(rejects_.Get(fault.reason), before + 1);
    EXPECT_EQ(rejects_.Total(), total_before + 1);
  }
}

TEST_F(GaV1Test, EveryGaRejectReasonIsCountedExactlyOnce) {
  struct Case {
    RejectReason reason;
    Endpoint endpoint;
    std::string payload;
  };
  const std::string line = std::string(kPageview) + "&z=" + std::string(1000, 'z');
  std::string too_large_batch;
  for (int i = 0; i < 16; ++i) too_large_batch += line + "\n";  // 16 hits, > 16384 bytes
  std::string twenty_one;
  for (int i = 0; i < 21; ++i) twenty_one += std::string(kPageview) + "\n";
  const Case cases[] = {
      {RejectReason::kEmptyPayload, Endpoint::kGaCollect, ""},
      {RejectReason::kBatchTooLarge, Endpoint::kGaBatch, too_large_batch},
      {RejectReason::kTooManyHits, Endpoint::kGaBatch, twenty_one},
  };
  for (const auto& c : cases) {
    const uint64_t before = rejects_.Get(c.reason);
    Add(c.endpoint, c.payload);
    Decode();
    const uint64_t expected = c.reason == RejectReason::kBatchTooLarge ? 16 : 1;
    EXPECT_EQ(rejects_.Get(c.reason) - before, expected) << RejectReasonName(c.reason);
  }
  EXPECT_EQ(rejects_.Total(), 18u);
  EXPECT_EQ(events_.size(), 20u);

  // Together with the single-hit faults, every reason of the GA decoder has fired.
  const auto faults = HitFaultsInPrecedenceOrder();
  for (const auto& fault : faults) {
    Hit hit = ValidPageview();
    fault.apply(&hit);
    Add(Endpoint::kGaCollect, hit.Encode());
  }
  Decode();
  for (const auto& fault : faults) {
    EXPECT_EQ(rejects_.Get(fault.reason), 1u) << RejectReasonName(fault.reason);
  }
  EXPECT_EQ(rejects_.Total(), 18u + faults.size());
  EXPECT_EQ(events_.size(), 20u);
}

TEST_F(GaV1Test, TwoFaultsGiveTheEarlierReason) {
  const auto faults = HitFaultsInPrecedenceOrder();
  int pairs = 0;
  for (size_t i = 0; i < faults.size(); ++i) {
    for (size_t j = i + 1; j < faults.size(); ++j) {
      if (ShareKey(faults[i], faults[j])) continue;
      for (const bool earlier_first : {true, false}) {
        Hit hit = ValidPageview();
        if (earlier_first) {
          faults[i].apply(&hit);
          faults[j].apply(&hit);
        } else {
          faults[j].apply(&hit);
          faults[i].apply(&hit);
        }
        EXPECT_EQ(Outcome(hit.Encode()), RejectReasonName(faults[i].reason))
            << RejectReasonName(faults[i].reason) << " before "
            << RejectReasonName(faults[j].reason) << ": " << hit.Encode().substr(0, 200);
        ++pairs;
      }
    }
  }
  EXPECT_GT(pairs, 150);
}

TEST_F(GaV1Test, AllFaultsAtOnceGiveTheFirstReasonEachTimeOneIsFixed) {
  // Apply every fault that does not clash with an earlier one, then fix them in order.
  const auto faults = HitFaultsInPrecedenceOrder();
  std::vector<const Fault*> applied;
  for (const auto& f : faults) {
    if (std::none_of(applied.begin(), applied.end(),
                     [&](const Fault* a) { return ShareKey(*a, f); })) {
      applied.push_back(&f);
    }
  }
  ASSERT_GE(applied.size(), 8u);
  for (size_t first = 0; first < applied.size(); ++first) {
    Hit hit = ValidPageview();
    for (size_t k = first; k < applied.size(); ++k) applied[k]->apply(&hit);
    EXPECT_EQ(Outcome(hit.Encode()), RejectReasonName(applied[first]->reason));
  }
}

TEST_F(GaV1Test, TooLargeHitBeatsEmptyPayload) {
  EXPECT_EQ(Outcome(std::string(9000, '&')), "hit_too_large");
  EXPECT_EQ(Outcome("&&&"), "empty_payload");
  EXPECT_EQ(Outcome("&"), "empty_payload");
}

TEST_F(GaV1Test, BadEscapeInAnyParameterBeatsInvalidUtf8) {
  EXPECT_EQ(Outcome(std::string(kPageview) + "&el=%FF&dt=%zz"), "bad_percent_encoding");
  EXPECT_EQ(Outcome(std::string(kPageview) + "&dt=%zz&el=%FF"), "bad_percent_encoding");
}

TEST_F(GaV1Test, BatchLimitsBeatHitFaults) {
  std::string body;
  for (int i = 0; i < 20; ++i) body += std::string(kPageview) + "\n";
  body += "v=2\n";                        // hit 21: also a bad version
  body += std::string(9000, 'x') + "\n";  // hit 22: also too large (body still <= 16384)
  ASSERT_LE(body.size(), kGaMaxBatchBytes);
  Add(Endpoint::kGaBatch, body);
  Decode();
  EXPECT_EQ(events_.size(), 20u);
  EXPECT_EQ(rejects_.Get(RejectReason::kTooManyHits), 2u);
  EXPECT_EQ(rejects_.Total(), 2u);

  std::string big = "v=2\n" + std::string(9000, 'x') + "\n" + std::string(kPageview) + "\n";
  big += "dt=" + std::string(kGaMaxBatchBytes, 'y');
  Add(Endpoint::kGaBatch, big);
  Decode();
  EXPECT_EQ(rejects_.Get(RejectReason::kBatchTooLarge), 4u);
  EXPECT_EQ(rejects_.Total(), 6u);
  EXPECT_EQ(events_.size(), 20u);
}

TEST_F(GaV1Test, BatchAcceptsTwentyHitsAndRejectsTheRest) {
  for (const int hits : {1, 19, 20, 21, 25}) {
    std::string body;
    for (int i = 0; i < hits; ++i) body += std::string(kPageview) + "\n";
    const size_t events_before = events_.size();
    const uint64_t rejected_before = rejects_.Get(RejectReason::kTooManyHits);
    Add(Endpoint::kGaBatch, body);
    Decode();
    EXPECT_EQ(events_.size() - events_before, static_cast<size_t>(std::min(hits, 20)));
    EXPECT_EQ(rejects_.Get(RejectReason::kTooManyHits) - rejected_before,
              static_cast<uint64_t>(std::max(hits - 20, 0)));
  }
  EXPECT_EQ(rejects_.Total(), 6u);
}

TEST_F(GaV1Test, BatchSkipsBlankLinesAndToleratesCrLf) {
  std::string body = "\n\r\n";
  for (int i = 0; i < 20; ++i) body += std::string(kPageview) + (i % 2 ? "\r\n\n" : "\n\r\n");
  body += "\n\n";
  EXPECT_EQ(events_.size(), 0u);
  Add(Endpoint::kGaBatch, body);
  Decode();
  EXPECT_EQ(events_.size(), 20u);
  EXPECT_EQ(rejects_.Total(), 0u);
  for (size_t i = 0; i < events_.size(); ++i) EXPECT_EQ(events_.str(events_.path[i]), "/cart");

  // No trailing newline on the last hit; a bare "\r" line is blank.
  Add(Endpoint::kGaBatch, std::string(kPageview) + "\r\n\r\n" + std::string(kPageview));
  Decode();
  EXPECT_EQ(events_.size(), 22u);
  EXPECT_EQ(rejects_.Total(), 0u);
}

TEST_F(GaV1Test, BatchWithoutHitsCountsOneEmptyPayload) {
  EXPECT_EQ(Outcome("", kBrowserUa, Endpoint::kGaBatch), "empty_payload");
  EXPECT_EQ(Outcome("\n\r\n\n", kBrowserUa, Endpoint::kGaBatch), "empty_payload");
  EXPECT_EQ(Outcome("&&\n", kBrowserUa, Endpoint::kGaBatch), "empty_payload");
}

TEST_F(GaV1Test, BatchSizeLimitIsInclusive) {
  // One hit padded with a cache buster so that the body is exactly 16384 bytes, then 16385.
  for (const size_t size : {kGaMaxBatchBytes, kGaMaxBatchBytes + 1}) {
    std::string body;
    const std::string hit = std::string(kPageview) + "&z=";
    const size_t per_line = (size - 1) / 2;  // two lines: each "<hit>&z=xxx\n"
    for (int i = 0; i < 2; ++i) {
      const size_t line_size = i == 0 ? per_line : size - per_line;
      body += hit + std::string(line_size - hit.size() - 1, '9') + "\n";
    }
    ASSERT_EQ(body.size(), size);
    const size_t events_before = events_.size();
    Add(Endpoint::kGaBatch, body);
    Decode();
    if (size == kGaMaxBatchBytes) {
      EXPECT_EQ(events_.size() - events_before, 2u);
    } else {
      EXPECT_EQ(events_.size(), events_before);
      EXPECT_EQ(rejects_.Get(RejectReason::kBatchTooLarge), 2u);
    }
  }
}

TEST_F(GaV1Test, HitSizeLimitIsInclusive) {
  const std::string head = std::string(kPageview) + "&z=";
  const std::string at_limit = head + std::string(kGaMaxHitBytes - head.size(), '1');
  ASSERT_EQ(at_limit.size(), kGaMaxHitBytes);
  EXPECT_EQ(Outcome(at_limit), kAccepted);
  EXPECT_EQ(Outcome(at_limit + "1"), "hit_too_large");
  Add(Endpoint::kGaBatch, at_limit + "\n" + std::string(kPageview));
  Decode();
  EXPECT_EQ(events_.size(), 3u);
  EXPECT_EQ(Outcome(at_limit + "1\n", kBrowserUa, Endpoint::kGaBatch), "hit_too_large");
  // The "\r" of a CRLF line does not count towards the hit.
  EXPECT_EQ(Outcome(at_limit + "\r\n", kBrowserUa, Endpoint::kGaBatch), kAccepted);
}

TEST_F(GaV1Test, RequiredParameters) {
  const std::string base = "tid=UA-1000-1&cid=1.2&t=pageview&dl=https://shop.example/";
  EXPECT_EQ(Outcome("v=1&" + base), kAccepted);
  EXPECT_EQ(Outcome(base), "missing_version");
  EXPECT_EQ(Outcome("v=&" + base), "missing_version");
  EXPECT_EQ(Outcome("v&" + base), "missing_version");
  EXPECT_EQ(Outcome("v=2&" + base), "bad_version");
  EXPECT_EQ(Outcome("v=01&" + base), "bad_version");
  EXPECT_EQ(Outcome("v=1+&" + base), "bad_version");
  EXPECT_EQ(Outcome("v=1&tid=&cid=1.2&t=pageview&dl=https://shop.example/"), "missing_tracking_id");
  EXPECT_EQ(Outcome("v=1&tid=ua-1000-1&cid=1.2&t=pageview&dl=https://shop.example/"),
            "unknown_site");
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&t=pageview&dl=https://shop.example/"), "missing_client_id");
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&uid=u-42&t=pageview&dl=https://shop.example/"), kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&cid=&uid=&t=pageview&dl=https://shop.example/"),
            "missing_client_id");
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&cid=1.2&dl=https://shop.example/"), "missing_hit_type");
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&cid=1.2&t=PageView&dl=https://shop.example/"),
            "unknown_hit_type");
}

TEST_F(GaV1Test, HitTypesAndTheirRequirements) {
  const std::string head = "v=1&tid=UA-2000-1&cid=1.2&t=";
  EXPECT_EQ(Outcome(head + "pageview&dl=https://blog.example/a"), kAccepted);
  EXPECT_EQ(Outcome(head + "pageview&dh=blog.example&dp=/a"), kAccepted);
  EXPECT_EQ(Outcome(head + "pageview&dh=blog.example"), "missing_page");
  EXPECT_EQ(Outcome(head + "pageview&dp=/a"), "missing_page");
  EXPECT_EQ(Outcome(head + "pageview&dl=&dh=blog.example&dp="), "missing_page");
  EXPECT_EQ(Outcome(head + "pageview"), "missing_page");
  EXPECT_EQ(Outcome(head + "event&ec=Video&ea=play"), kAccepted);
  EXPECT_EQ(Outcome(head + "event&ec=Video"), "missing_event_fields");
  EXPECT_EQ(Outcome(head + "event&ea=play"), "missing_event_fields");
  EXPECT_EQ(Outcome(head + "event&ec=&ea=play"), "missing_event_fields");
  EXPECT_EQ(Outcome(head + "screenview&cd=Home"), kAccepted);
  EXPECT_EQ(Outcome(head + "screenview"), kAccepted);
  for (const char* other : {"transaction", "item", "social", "exception", "timing"}) {
    EXPECT_EQ(Outcome(head + other), kAccepted) << other;
    EXPECT_EQ(events_.kind.back(), EventKind::kOther);
    EXPECT_EQ(events_.path.back().size, 0u);
  }
}

TEST_F(GaV1Test, FieldCapsApplyToDecodedBytes) {
  struct Cap {
    std::string key;
    size_t max_bytes;
  };
  const Cap caps[] = {{"dh", 100}, {"dt", 1500}, {"dr", 2048}, {"ec", 150},  {"ea", 500},
                      {"el", 500}, {"cn", 100},  {"cs", 100},  {"cm", 50},   {"ck", 500},
                      {"cc", 500}, {"ci", 100},  {"ul", 20},   {"sr", 20},   {"cu", 10},
                      {"sn", 50},  {"st", 2048}, {"exd", 150}, {"cd7", 150}, {"cd200", 150}};
  for (const auto& cap : caps) {
    // Escaped: the raw value is three times the decoded one.
    std::string at_cap;
    for (size_t i = 0; i < cap.max_bytes; ++i) at_cap += "%41";
    const std::string hit = "v=1&tid=UA-2000-1&cid=1.2&t=event&ec=c&ea=a&" + cap.key + "=";
    EXPECT_EQ(Outcome(hit + at_cap), kAccepted) << cap.key;
    EXPECT_EQ(Outcome(hit + at_cap + "B"), "field_too_long") << cap.key;
  }
  const std::string dl = "https://blog.example/";
  const std::string pv = "v=1&tid=UA-2000-1&cid=1.2&t=pageview&dl=" + dl;
  EXPECT_EQ(Outcome(pv + std::string(2048 - dl.size(), 'p')), kAccepted);
  EXPECT_EQ(Outcome(pv + std::string(2048 - dl.size() + 1, 'p')), "field_too_long");
  const std::string sv = "v=1&tid=UA-2000-1&cid=1.2&t=screenview&cd=";
  EXPECT_EQ(Outcome(sv + std::string(2048, 's')), kAccepted);
  EXPECT_EQ(Outcome(sv + std::string(2049, 's')), "field_too_long");
  // Uncapped and unknown parameters may be long.
  EXPECT_EQ(Outcome(pv + "&cid2=" + std::string(3000, 'c') + "&ua=" + std::string(3000, 'u')),
            kAccepted);
}

TEST_F(GaV1Test, DuplicateKeysFirstWins) {
  const std::string tail = "&cid=1.2&t=pageview&dl=https://blog.example/";
  EXPECT_EQ(Outcome("v=1&tid=UA-9999-9&tid=UA-2000-1" + tail), "unknown_site");
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&tid=UA-9999-9" + tail), kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=&tid=UA-2000-1" + tail), "missing_tracking_id");
  EXPECT_EQ(Outcome("v=1&v=2&tid=UA-2000-1" + tail), kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=pageview&dl=https://blog.example/first"
                    "&dl=https://blog.example/second"),
            kAccepted);
  EXPECT_EQ(LastPath(), "/first");
  // Well-formedness and caps are checked on every occurrence.
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1" + tail + "&dt=x&dt=" + std::string(1501, 'x')),
            "field_too_long");
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1" + tail + "&t=%FF"), "invalid_utf8");
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1" + tail + "&t=%F"), "bad_percent_encoding");
}

TEST_F(GaV1Test, KeysAreDecodedAndUnknownKeysIgnored) {
  EXPECT_EQ(Outcome("v=1&t%69d=UA-2000-1&cid=1.2&t=event&ec=a+b&ea=%70lay"), kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&_gid=GA1.2.3&jid&=x&foo=bar"),
            kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&%FF=x"), "invalid_utf8");
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&x%=1"), "bad_percent_encoding");
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&&&"), kAccepted);
}

TEST_F(GaV1Test, PercentAndUtf8EdgeCasesInValues) {
  struct Case {
    std::string el;
    std::string_view outcome;
  };
  const Case cases[] = {
      {"caf%C3%A9", kAccepted},
      {"caf\xC3\xA9", kAccepted},  // raw UTF-8 bytes, not escaped
      {"%E2%82%AC+%F0%9F%98%80", kAccepted},
      {"%F4%8F%BF%BF", kAccepted},
      {"%00", kAccepted},
      {"%C0%AF", "invalid_utf8"},
      {"%E0%80%AF", "invalid_utf8"},
      {"%ED%A0%80", "invalid_utf8"},
      {"%F4%90%80%80", "invalid_utf8"},
      {"%C3", "invalid_utf8"},
      {"\xC3", "invalid_utf8"},
      {"%80", "invalid_utf8"},
      {"%", "bad_percent_encoding"},
      {"%4", "bad_percent_encoding"},
      {"%4G", "bad_percent_encoding"},
      {"50%+off", "bad_percent_encoding"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&el=" + c.el), c.outcome) << c.el;
  }
  // A bad escape as the last bytes of a beacon: the padding after it must not complete it.
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&el=%"), "bad_percent_encoding");
}

TEST_F(GaV1Test, QueueTimeShiftsTheMinute) {
  const std::string hit = "v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b";
  struct Case {
    std::string qt;
    uint32_t minute;
    bool flag;
  };
  // kNowMs is 23.456 s into its minute.
  const Case cases[] = {
      {"", kNowMinute, false},
      {"0", kNowMinute, false},
      {"23456", kNowMinute, true},
      {"23457", kNowMinute - 1, true},
      {"83456", kNowMinute - 1, true},
      {"83457", kNowMinute - 2, true},
      {"000120000", kNowMinute - 2, true},
      {"14400000", kNowMinute - 240, true},
  };
  for (const auto& c : cases) {
    ASSERT_EQ(Outcome(hit + (c.qt.empty() ? "" : "&qt=" + c.qt)), kAccepted) << c.qt;
    EXPECT_EQ(events_.minute.back(), c.minute) << c.qt;
    EXPECT_EQ((events_.flags.back() & kFlagQueueTimeApplied) != 0, c.flag) << c.qt;
  }
  for (const char* bad :
       {"14400001", "-1", "+5", "1.5", "1e3", "abc", " 5", "99999999999999999999"}) {
    EXPECT_EQ(Outcome(hit + "&qt=" + bad), "bad_queue_time") << bad;
  }
}

TEST_F(GaV1Test, NonInteractionFlag) {
  const std::string hit = "v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b";
  ASSERT_EQ(Outcome(hit + "&ni=1"), kAccepted);
  EXPECT_EQ(events_.flags.back(), kFlagNonInteraction);
  for (const char* not_one : {"0", "true", "", "11"}) {
    ASSERT_EQ(Outcome(hit + "&ni=" + not_one), kAccepted);
    EXPECT_EQ(events_.flags.back(), 0) << not_one;
  }
  ASSERT_EQ(Outcome(hit + "&ni=1&qt=1000"), kAccepted);
  EXPECT_EQ(events_.flags.back(), kFlagNonInteraction | kFlagQueueTimeApplied);
}

TEST_F(GaV1Test, PagePathFromDocumentLocation) {
  struct Case {
    std::string dl;  // encoded as trackers send it
    std::string_view path;
  };
  const Case cases[] = {
      {"https%3A%2F%2Fblog.example%2Fposts%2Fhello", "/posts/hello"},
      {"https://blog.example/posts/hello", "/posts/hello"},
      {"http%3A%2F%2Fblog.example%3A8080%2Fa%2Fb", "/a/b"},
      {"https%3A%2F%2Fblog.example%2Fsearch%3Fq%3Dshoes%26page%3D2", "/search"},
      {"https%3A%2F%2Fblog.example%2Fdocs%23install", "/docs"},
      {"https%3A%2F%2Fblog.example%2Fa%3Fb%23c", "/a"},
      {"https%3A%2F%2Fblog.example", "/"},
      {"https%3A%2F%2Fblog.example%2F", "/"},
      {"https%3A%2F%2Fblog.example%3Fq%3D1", "/"},
      {"https%3A%2F%2Fm%C3%BCnchen.example%2Fstra%C3%9Fe",
       "/stra\xC3\x9F"
       "e"},
      {"https%3A%2F%2Fblog.example%2Fcaf%25C3%25A9", "/caf%C3%A9"},
      {"https%3A%2F%2Fblog.example%2Fwith+space", "/with space"},
      {"%2Frelative%3Fx%3D1", "/relative"},
  };
  for (const auto& c : cases) {
    ASSERT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=pageview&dl=" + c.dl), kAccepted) << c.dl;
    EXPECT_EQ(LastPath(), c.path) << c.dl;
    EXPECT_EQ(events_.kind.back(), EventKind::kPageview);
  }
}

TEST_F(GaV1Test, PagePathFromDocumentPathWhenNoLocation) {
  const std::string head = "v=1&tid=UA-2000-1&cid=1.2&t=pageview&dh=blog.example&dp=";
  ASSERT_EQ(Outcome(head + "%2Fa%2Fb%3Fc%3Dd%23e"), kAccepted);
  EXPECT_EQ(LastPath(), "/a/b");
  ASSERT_EQ(Outcome(head + "%3Fonly-query"), kAccepted);
  EXPECT_EQ(LastPath(), "/");
  ASSERT_EQ(Outcome(head + "no-slash"), kAccepted);
  EXPECT_EQ(LastPath(), "/no-slash");  // normalised: a path starts with "/"
  // dp overrides the path of dl when both are sent (GA's virtual pageviews).
  ASSERT_EQ(Outcome(head + "%2Fvirtual%3Fq%3D1&dl=https://blog.example/real"), kAccepted);
  EXPECT_EQ(LastPath(), "/virtual");
  // Screen views keep the screen name; events have no path.
  ASSERT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=screenview&cd=Home+Screen%3F"), kAccepted);
  EXPECT_EQ(LastPath(), "Home Screen?");
  EXPECT_EQ(events_.kind.back(), EventKind::kPageview);
  ASSERT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&dl=https://blog.example/x"),
            kAccepted);
  EXPECT_EQ(events_.path.back().size, 0u);
}

TEST_F(GaV1Test, HostAllowlist) {
  const std::string head = "v=1&tid=UA-1000-1&cid=1.2&t=pageview&dl=";
  for (const char* ok : {"https://shop.example/", "https://www.shop.example/",
                         "https://SHOP.Example/", "https://shop.example:8443/a",
                         "https://a.b.shop.example/", "http://user@shop.example./x"}) {
    EXPECT_EQ(Outcome(head + ok), kAccepted) << ok;
  }
  for (const char* bad :
       {"https://evil.example/", "https://notshop.example/", "https://shop.example.evil.example/",
        "https://evil.example/shop.example"}) {
    EXPECT_EQ(Outcome(head + bad), "host_not_allowed") << bad;
  }
  // The host of dl wins over dh; dh is used when dl has no host.
  EXPECT_EQ(Outcome(head + "https://evil.example/&dh=shop.example"), "host_not_allowed");
  EXPECT_EQ(Outcome(head + "/relative&dh=shop.example"), kAccepted);
  EXPECT_EQ(Outcome(head + "/relative&dh=evil.example"), "host_not_allowed");
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&cid=1.2&t=pageview&dh=www.shop.example&dp=/"), kAccepted);
  // A hit without any page host passes only sites that accept every host.
  EXPECT_EQ(Outcome("v=1&tid=UA-1000-1&cid=1.2&t=event&ec=a&ea=b"), "host_not_allowed");
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b"), kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=UA-2000-1&cid=1.2&t=pageview&dl=https://m\xC3\xBCnchen.example/"),
            kAccepted);
  EXPECT_EQ(Outcome("v=1&tid=UA-3000-1&cid=1.2&t=pageview&dl=https://m\xC3\xBCnchen.example/"),
            "host_not_allowed");
}

TEST_F(GaV1Test, BotUserAgents) {
  const std::string hit = "v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b";
  const std::string_view googlebot =
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
  EXPECT_EQ(Outcome(hit, googlebot), "bot_user_agent");
  EXPECT_EQ(Outcome(hit, "curl/8.4.0"), "bot_user_agent");
  EXPECT_EQ(Outcome(hit, ""), kAccepted);
  // The ua parameter overrides the HTTP User-Agent, both ways.
  EXPECT_EQ(Outcome(hit + "&ua=Mozilla%2F5.0+(Windows+NT+10.0)", googlebot), kAccepted);
  EXPECT_EQ(Outcome(hit + "&ua=python-requests%2F2.31", kBrowserUa), "bot_user_agent");
  EXPECT_EQ(Outcome(hit + "&ua=", googlebot), "bot_user_agent");
  // Each hit of a /batch body uses its own ua, else the request's.
  Add(Endpoint::kGaBatch, hit + "\n" + hit + "&ua=HeadlessChrome\n" + hit + "\n", kBrowserUa);
  Add(Endpoint::kGaBatch, hit + "\n" + hit + "&ua=Firefox\n", googlebot);
  Decode();
  EXPECT_EQ(rejects_.Get(RejectReason::kBotUserAgent), 4u + 2u);
}

TEST_F(GaV1Test, VisitorHashIsKeyedBySite) {
  const auto visitor_of = [&](const std::string& tid, const std::string& ids) {
    EXPECT_EQ(Outcome("v=1&tid=" + tid + "&" + ids + "&t=event&ec=a&ea=b&dl=https://docs.example/"),
              kAccepted);
    return events_.visitor.back();
  };
  const uint64_t a = visitor_of("UA-2000-1", "cid=555.1700000000");
  EXPECT_EQ(visitor_of("UA-2000-1", "cid=555.1700000000"), a);
  EXPECT_EQ(visitor_of("UA-2000-2", "cid=555.1700000000"), a);  // same site, other tid
  EXPECT_NE(visitor_of("UA-3000-1", "cid=555.1700000000"), a);  // other site
  EXPECT_NE(visitor_of("UA-2000-1", "cid=556.1700000000"), a);
  EXPECT_EQ(visitor_of("UA-2000-1", "cid=555.1700000000&uid=user-7"), a);  // cid wins
  EXPECT_EQ(visitor_of("UA-2000-1", "uid=user-7"), Hash64("user-7", kVisitorKey ^ Mix64(2)));
  EXPECT_EQ(a, Hash64("555.1700000000", kVisitorKey ^ Mix64(2)));
  EXPECT_EQ(visitor_of("UA-2000-1", "cid=555%2E1700000000"), a);  // decoded before hashing
}

TEST_F(GaV1Test, RealisticGetPostAndBatchRoundTrip) {
  // analytics.js GET /collect query string.
  const std::string get =
      "v=1&_v=j101&a=1139256317&t=pageview&_s=1"
      "&dl=https%3A%2F%2Fwww.shop.example%2Fproducts%2Frunning-shoes%3Futm_source%3Dnewsletter"
      "%26utm_medium%3Demail&dr=https%3A%2F%2Fwww.google.com%2F&ul=de-de&de=UTF-8"
      "&dt=Laufschuhe%20%E2%80%93%20Shop&sd=24-bit&sr=1920x1080&vp=1903x969&je=0"
      "&_u=QACAAEABAAAAACAAI~&jid=&gjid=&cid=1234567890.1700000000&tid=UA-1000-1"
      "&_gid=987654321.1700000000&gtm=2wgb10&z=1880394766";
  // Server-side POST /collect: a non-interaction event with a queue time.
  const std::string post =
      "v=1&tid=UA-2000-2&cid=35009a79-1a05-49d7-b876-2b884d0f825b&t=event&ec=Video"
      "&ea=play&el=Holiday+Campaign&ev=300&ni=1&qt=120000&ua=Mozilla%2F5.0+(X11%3B+Linux)";
  // POST /batch from an app: CRLF lines, a screen view, an event and a bad hit.
  const std::string batch =
      "v=1&tid=UA-2000-1&cid=app-7&t=screenview&an=Blog+App&av=4.2&cd=Article+List\r\n"
      "v=1&tid=UA-2000-1&cid=app-7&t=event&ec=Share&ea=tap&el=twitter\r\n"
      "v=1&tid=UA-2000-1&cid=app-7&t=pageview\r\n";

  events_.Append(99, 1, EventKind::kOther, 0, 0, {}, 999);  // not cleared by DecodeBatch
  Add(Endpoint::kGaCollect, get, kBrowserUa, kNowMs);
  Add(Endpoint::kGaCollect, post, "", kNowMs + 1000);
  Add(Endpoint::kGaBatch, batch, "BlogApp/4.2 CFNetwork/1410 Darwin/22.6.0", kNowMs + 2000);
  Decode();

  ASSERT_EQ(events_.size(), 1u + 4u);
  EXPECT_EQ(rejects_.Total(), 1u);
  EXPECT_EQ(rejects_.Get(RejectReason::kMissingPage), 1u);
  EXPECT_EQ(events_.site_id[0], 99u);

  EXPECT_EQ(events_.site_id[1], 1u);
  EXPECT_EQ(events_.minute[1], kNowMinute);
  EXPECT_EQ(events_.kind[1], EventKind::kPageview);
  EXPECT_EQ(events_.flags[1], 0);
  EXPECT_EQ(events_.visitor[1], Hash64("1234567890.1700000000", kVisitorKey ^ Mix64(1)));
  EXPECT_EQ(events_.str(events_.path[1]), "/products/running-shoes");
  EXPECT_EQ(events_.source[1], 0);

  EXPECT_EQ(events_.site_id[2], 2u);
  EXPECT_EQ(events_.minute[2], kNowMinute - 2);  // 24.456 s into the minute, minus 120 s
  EXPECT_EQ(events_.kind[2], EventKind::kEvent);
  EXPECT_EQ(events_.flags[2], kFlagNonInteraction | kFlagQueueTimeApplied);
  EXPECT_EQ(events_.visitor[2],
            Hash64("35009a79-1a05-49d7-b876-2b884d0f825b", kVisitorKey ^ Mix64(2)));
  EXPECT_EQ(events_.path[2].size, 0u);
  EXPECT_EQ(events_.source[2], 1);

  EXPECT_EQ(events_.kind[3], EventKind::kPageview);
  EXPECT_EQ(events_.str(events_.path[3]), "Article List");
  EXPECT_EQ(events_.source[3], 2);
  EXPECT_EQ(events_.kind[4], EventKind::kEvent);
  EXPECT_EQ(events_.source[4], 2);
  EXPECT_EQ(events_.visitor[3], events_.visitor[4]);
  EXPECT_EQ(events_.minute[4], kNowMinute);
}

// Every /collect beacon has exactly one outcome, whatever its bytes; the decoder reads only
// inside the payload (run under ASan: the payload sits in an exactly sized heap block).
TEST_F(GaV1Test, ArbitraryBytesGiveExactlyOneOutcome) {
  std::mt19937_64 rng(20261128);
  const std::string alphabet =
      "v=1&tid=UA-2000-1&cid=t=event&ec=ea=%+\r\n\xC3\xA9\xFF\x80"
      "0Ff9";
  const std::string valid = "v=1&tid=UA-2000-1&cid=1.2&t=event&ec=a&ea=b&el=";
  for (int round = 0; round < 3000; ++round) {
    std::string text = round % 2 ? valid : "";
    const size_t n = rng() % 64;
    for (size_t i = 0; i < n; ++i) text += alphabet[rng() % alphabet.size()];
    const std::vector<char> payload(text.begin(), text.end());
    const Beacon beacon{.payload = std::string_view(payload.data(), payload.size()),
                        .user_agent = kBrowserUa,
                        .receive_time_ms = kNowMs,
                        .salt_time_ms = kNowMs};
    const size_t events_before = events_.size();
    const uint64_t rejects_before = rejects_.Total();
    DecodeGaCollect(beacon, ctx_, &events_);
    ASSERT_EQ(events_.size() - events_before + rejects_.Total() - rejects_before, 1u) << text;
    const size_t hits_before = events_.size() + rejects_.Total();
    DecodeGaBatch(beacon, ctx_, &events_);
    ASSERT_GE(events_.size() + rejects_.Total(), hits_before + 1) << text;
  }
}

}  // namespace
}  // namespace beacon::kernels
