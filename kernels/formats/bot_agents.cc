// Bot user-agent check: one pass over the user agent; a table of markers by first letter
// limits the comparisons to the markers that can start at each byte.
#include "kernels/formats/bot_agents.h"

#include <bit>
#include <cstdint>

namespace beacon::kernels {
namespace {

static_assert(kBotUserAgentMarkers.size() <= 32, "marker sets are uint32_t masks");

constexpr char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// Bit m of kMarkersByFirstByte[b] is set when marker m starts with byte b.
constexpr std::array<uint32_t, 256> MakeMarkersByFirstByte() {
  std::array<uint32_t, 256> table{};
  for (size_t m = 0; m < kBotUserAgentMarkers.size(); ++m) {
    table[static_cast<unsigned char>(kBotUserAgentMarkers[m][0])] |= uint32_t{1} << m;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kMarkersByFirstByte = MakeMarkersByFirstByte();

bool MarkerAt(std::string_view user_agent, size_t pos, std::string_view marker) {
  if (user_agent.size() - pos < marker.size()) return false;
  for (size_t k = 1; k < marker.size(); ++k) {
    if (AsciiLower(user_agent[pos + k]) != marker[k]) return false;
  }
  return true;
}

}  // namespace

bool IsBotUserAgent(std::string_view user_agent) {
  for (size_t i = 0; i < user_agent.size(); ++i) {
    uint32_t candidates =
        kMarkersByFirstByte[static_cast<unsigned char>(AsciiLower(user_agent[i]))];
    while (candidates != 0) {
      const int m = std::countr_zero(candidates);
      candidates &= candidates - 1;
      if (MarkerAt(user_agent, i, kBotUserAgentMarkers[m])) return true;
    }
  }
  return false;
}

}  // namespace beacon::kernels
