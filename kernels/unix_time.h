// Unix time in milliseconds, minutes and days. Floor division throughout: a time before the
// epoch belongs to the minute or day that began before it.
#pragma once

#include <cstdint>

namespace beacon::kernels {

inline constexpr int64_t kSecondsPerMinute = 60;
inline constexpr int64_t kMillisPerMinute = 60'000;
inline constexpr int64_t kMillisPerDay = 86'400'000;

// a / b rounded towards minus infinity (b > 0).
constexpr int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }

// floor(unix_ms / 60000): the minute rows are keyed by.
constexpr int64_t UnixMinute(int64_t unix_ms) { return FloorDiv(unix_ms, kMillisPerMinute); }

// The UTC day, counted from 1970-01-01: the day visitor salts are keyed by.
constexpr int64_t UnixDay(int64_t unix_ms) { return FloorDiv(unix_ms, kMillisPerDay); }

// The unix second at which `minute` begins.
constexpr int64_t MinuteStartSecond(int64_t minute) { return minute * kSecondsPerMinute; }

}  // namespace beacon::kernels
