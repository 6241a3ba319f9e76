// IsBotUserAgent: real crawler, script and browser user agents.
#include "kernels/formats/bot_agents.h"

#include <gtest/gtest.h>

#include <string_view>

namespace beacon::kernels {
namespace {

TEST(BotAgentsTest, FlagsCrawlersScriptsAndHeadlessBrowsers) {
  const std::string_view bots[] = {
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
      "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
      "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
      "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
      "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
      "CCBot/2.0 (https://commoncrawl.org/faq/)",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "HeadlessChrome/120.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36 Chrome/119.0 Mobile Safari/537.36 "
      "Chrome-Lighthouse",
      "curl/8.4.0",
      "Wget/1.21.3",
      "python-requests/2.31.0",
      "Python-urllib/3.11",
      "Go-http-client/1.1",
      "Java/17.0.2",
      "libwww-perl/6.72",
      "Scrapy/2.11.0 (+https://scrapy.org)",
      "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 PhantomJS/2.1.1 Safari/538.1",
      "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
      "Mediapartners-Google",
      "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 BingPreview/1.0b",
      "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
      "GOOGLEBOT",
  };
  for (const auto ua : bots) EXPECT_TRUE(IsBotUserAgent(ua)) << ua;
}

TEST(BotAgentsTest, PassesBrowsers) {
  const std::string_view browsers[] = {
      "",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.6099.43 Mobile Safari/537.36",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
      "curly",
      "bo",
  };
  for (const auto ua : browsers) EXPECT_FALSE(IsBotUserAgent(ua)) << ua;
}

TEST(BotAgentsTest, MarkersAreLowerCaseAndNonEmpty) {
  for (const auto marker : kBotUserAgentMarkers) {
    ASSERT_FALSE(marker.empty());
    for (const char c : marker) EXPECT_FALSE(c >= 'A' && c <= 'Z') << marker;
  }
}

}  // namespace
}  // namespace beacon::kernels
