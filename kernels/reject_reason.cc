// Reject reason names.
#include "kernels/reject_reason.h"

namespace beacon::kernels {
namespace {

constexpr std::array<std::string_view, kRejectReasonCount> kNames = {
#define BEACON_REJECT_NAME(name, label) label,
    BEACON_REJECT_REASONS(BEACON_REJECT_NAME)
#undef BEACON_REJECT_NAME
};

}  // namespace

std::string_view RejectReasonName(RejectReason reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kNames.size() ? kNames[i] : std::string_view("invalid");
}

bool ParseRejectReason(std::string_view name, RejectReason* reason) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      *reason = static_cast<RejectReason>(i);
      return true;
    }
  }
  return false;
}

uint64_t RejectCounters::Total() const {
  uint64_t total = 0;
  for (const auto& c : counts_) total += c.load(std::memory_order_relaxed);
  return total;
}

}  // namespace beacon::kernels
