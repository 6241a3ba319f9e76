// The decode fuzz targets' input layout; see decode_fuzz_input.h.
#include "tests/fuzz/decode_fuzz_input.h"

#include <array>
#include <string_view>

namespace beacon::kernels::fuzz {
namespace {

constexpr size_t kEndpointCount = static_cast<size_t>(Endpoint::kUdpSyslog) + 1;

constexpr std::array<std::string_view, 4> kUserAgents = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1)", "", "python-requests/2.31"};

// Site 1 accepts shop.example and its subdomains, site 2 any host (GA v1, GA4, Plausible
// domains and Snowplow app ids of both).
constexpr std::string_view kRegistry = R"(# site_id name tracking_ids hostnames
1 shop UA-1-1,G-SHOP1,shop.example,shopapp shop.example,*.shop.example api_secrets=s3cret
2 any UA-2-1,G-ANY1,any.example,anyapp *
)";

}  // namespace

bool FillRawBatch(const uint8_t* data, size_t size, RawBatch* raw) {
  if (size == 0) return false;
  const auto endpoint = static_cast<Endpoint>((data[0] & 0x0F) % kEndpointCount);
  const std::string_view user_agent = kUserAgents[(data[0] >> 4) & 3];
  std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string_view query;
  if (endpoint == Endpoint::kGa4Gtag || endpoint == Endpoint::kGa4Mp) {
    const size_t nul = payload.find('\0');
    if (nul != std::string_view::npos) {
      query = payload.substr(0, nul);
      payload.remove_prefix(nul + 1);
    }
  }
  return raw->Add(endpoint, IngressKind::kHttp, payload, user_agent, IpAddress::FromV4(0xC0A80001),
                  kFuzzNowMs, query);
}

DecodeFixture::DecodeFixture() : sites(SiteRegistry::Parse(kRegistry)) {}

DecodeContext DecodeFixture::Context(const ByteKernels* bytes, RejectCounters* rejects) const {
  constexpr int64_t kDay = kFuzzNowMs / 86'400'000;
  return DecodeContext{.sites = &sites,
                       .rejects = rejects,
                       .visitor_key = 0x5eed'1234'abcd'0042,
                       .salts = {kDay, 0x1111'2222'3333'4444, 0x5555'6666'7777'8888},
                       .bytes = bytes};
}

}  // namespace beacon::kernels::fuzz
