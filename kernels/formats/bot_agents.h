// The fixed bot user-agent check of the scalar reference (a Hyperscan engine replaces it later).
#pragma once

#include <array>
#include <string_view>

namespace beacon::kernels {

// Lower-case substrings that mark a user agent as a bot, crawler, headless browser or script.
inline constexpr std::array<std::string_view, 19> kBotUserAgentMarkers = {
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget",
    "go-http-client",
    "java/",
    "libwww-perl",
    "scrapy",
    "phantomjs",
    "facebookexternalhit",
    "mediapartners-google",
    "bingpreview",
    "pingdom",
};

// Whether `user_agent` contains one of kBotUserAgentMarkers, ignoring ASCII case. An empty
// user agent is not a bot.
bool IsBotUserAgent(std::string_view user_agent);

}  // namespace beacon::kernels
