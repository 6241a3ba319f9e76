// `beaconctl dead-letter`: the batches ClickHouse refused for their contents (and damaged spool
// records), from <spool_dir>/dead-letter (host/forward/dead_letter.h).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace beacon::app {

// `ls`: one line per dead letter, oldest first: id, shard, time, bytes, table, error. 0.
int DeadLetterList(const std::string& spool_dir, std::ostream& out);
// `retry`: moves each of `ids` (every one with `all`) back into its shard's spool, where the
// running beacond (or the next to start) sends it: the same bytes as the first attempt, so a
// replicated table counts a part already taken once. 1 when any could not be moved.
int DeadLetterRetry(const std::string& spool_dir, const std::vector<std::string>& ids, bool all,
                    std::ostream& out, std::ostream& err);
// `drop`: deletes each of `ids` for good. 1 when any was not there.
int DeadLetterDrop(const std::string& spool_dir, const std::vector<std::string>& ids,
                   std::ostream& out, std::ostream& err);

}  // namespace beacon::app
