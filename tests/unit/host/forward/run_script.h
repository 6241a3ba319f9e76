// Test support: runs a helper script (scripts/clickhouse-local, scripts/clickhouse-cluster) and
// returns its standard output; aborts the test binary with the output when the script fails.
#pragma once

#include <string>

namespace beacon::host {

std::string RunScript(const std::string& command);

}  // namespace beacon::host
