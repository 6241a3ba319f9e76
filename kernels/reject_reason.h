// Why a hit was not accepted. One enum, one counter per value; names are the metric labels.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/counter.h"

namespace beacon::kernels {

#define BEACON_REJECT_REASONS(X)                                                           \
  X(kEmptyPayload, "empty_payload")                  /* no parameters at all */            \
  X(kHitTooLarge, "hit_too_large")                   /* one hit > 8192 bytes */            \
  X(kBatchTooLarge, "batch_too_large")               /* /batch body > 16384 bytes */       \
  X(kTooManyHits, "too_many_hits")                   /* /batch hit beyond the 20th */      \
  X(kBadPercentEncoding, "bad_percent_encoding")     /* '%' not followed by 2 hex */       \
  X(kInvalidUtf8, "invalid_utf8")                    /* decoded value not UTF-8 */         \
  X(kMissingVersion, "missing_version")              /* no v */                            \
  X(kBadVersion, "bad_version")                      /* v != 1 */                          \
  X(kMissingTrackingId, "missing_tracking_id")       /* no tid */                          \
  X(kUnknownSite, "unknown_site")                    /* tid not in the site registry */    \
  X(kMissingClientId, "missing_client_id")           /* neither cid nor uid */             \
  X(kMissingHitType, "missing_hit_type")             /* no t */                            \
  X(kUnknownHitType, "unknown_hit_type")             /* t not a GA hit type */             \
  X(kMissingPage, "missing_page")                    /* pageview without dl or dh+dp */    \
  X(kMissingEventFields, "missing_event_fields")     /* event without ec and ea */         \
  X(kFieldTooLong, "field_too_long")                 /* over the protocol's byte cap */    \
  X(kBadQueueTime, "bad_queue_time")                 /* qt not an integer in [0, 4h] */    \
  X(kHostNotAllowed, "host_not_allowed")             /* page host not in allowlist */      \
  X(kBotUserAgent, "bot_user_agent")                 /* user agent is a known bot */       \
  X(kMissingUserAgent, "missing_user_agent")         /* Plausible without User-Agent */    \
  X(kBadJson, "bad_json")                            /* not the JSON the format needs */   \
  X(kTooManyEvents, "too_many_events")               /* event beyond the request cap */    \
  X(kMissingEventName, "missing_event_name")         /* GA4 en/name, Plausible name */     \
  X(kBadEventName, "bad_event_name")                 /* GA4 name charset or length */      \
  X(kMissingMeasurementId, "missing_measurement_id") /* GA4 tid / measurement_id */        \
  X(kMissingApiSecret, "missing_api_secret")         /* GA4 MP without api_secret */       \
  X(kBadApiSecret, "bad_api_secret")                 /* api_secret not the site's */       \
  X(kMissingDomain, "missing_domain")                /* Plausible without domain */        \
  X(kMissingAppId, "missing_app_id")                 /* Snowplow without aid */            \
  X(kMissingRequiredField, "missing_required_field") /* Snowplow tv or p absent */         \
  X(kBadSchema, "bad_schema")                        /* not Snowplow payload_data 1-0-x */ \
  X(kBadTimestamp, "bad_timestamp")                  /* MP timestamp, relay line time */   \
  X(kStaleSalt, "stale_salt")                        /* no visitor salt for the day */     \
  X(kBadSyslogFrame, "bad_syslog_frame")             /* not RFC 3164/5424 framing */       \
  X(kBadLogFormat, "bad_log_format")                 /* not a beacon_relay log line */     \
  X(kUnknownEndpoint, "unknown_endpoint")            /* relayed method+path not a beacon */

enum class RejectReason : uint8_t {
#define BEACON_REJECT_ENUM(name, label) name,
  BEACON_REJECT_REASONS(BEACON_REJECT_ENUM)
#undef BEACON_REJECT_ENUM
      kCount
};

inline constexpr size_t kRejectReasonCount = static_cast<size_t>(RejectReason::kCount);

// The snake_case label used in metrics and ground-truth files.
std::string_view RejectReasonName(RejectReason reason);
// Inverse of RejectReasonName; returns false for an unknown name.
bool ParseRejectReason(std::string_view name, RejectReason* reason);

// Per-worker counters: one writer (the worker), any number of readers (metrics scrapes).
class RejectCounters {
 public:
  void Add(RejectReason reason, uint64_t n = 1) { Bump(counts_[static_cast<size_t>(reason)], n); }
  uint64_t Get(RejectReason reason) const {
    return counts_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t Total() const;

 private:
  std::array<std::atomic<uint64_t>, kRejectReasonCount> counts_{};
};

}  // namespace beacon::kernels
