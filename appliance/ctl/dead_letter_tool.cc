// beaconctl dead-letter over host::DeadLetters. It never creates the directory: one made by
// root here would be closed to beacond's user.
#include "appliance/ctl/dead_letter_tool.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <optional>

#include "host/forward/dead_letter.h"

namespace beacon::app {
namespace {

// The set in `spool_dir`; nullopt (with a word on `out`) when there is none yet.
std::optional<host::DeadLetters> Open(const std::string& spool_dir, std::ostream& out) {
  if (!std::filesystem::is_directory(spool_dir + "/dead-letter")) {
    out << "no dead letters: " << spool_dir << "/dead-letter does not exist\n";
    return std::nullopt;
  }
  // Retry and drop only move and delete: the bound matters to beacond's Put alone.
  return std::optional<host::DeadLetters>(std::in_place, spool_dir, UINT64_MAX, /*fsync=*/true);
}

// Applies `step` to each id (every listed one with `all`); 1 when any step failed.
template <typename Step>
int ForEach(host::DeadLetters& letters, const std::vector<std::string>& ids, bool all,
            std::ostream& err, Step step) {
  std::vector<std::string> chosen = ids;
  if (all) {
    chosen.clear();
    for (const host::DeadLetter& letter : letters.List()) chosen.push_back(letter.id);
  }
  int status = 0;
  for (const std::string& id : chosen) {
    std::string error;
    if (!step(id, &error)) {
      err << "beaconctl dead-letter: " << error << "\n";
      status = 1;
    }
  }
  return status;
}

}  // namespace

int DeadLetterList(const std::string& spool_dir, std::ostream& out) {
  std::optional<host::DeadLetters> letters = Open(spool_dir, out);
  if (!letters) return 0;
  const std::vector<host::DeadLetter> listed = letters->List();
  size_t width = 2;
  for (const host::DeadLetter& letter : listed) width = std::max(width, letter.id.size());
  auto row = [&](const std::string& id, const std::string& shard, const std::string& time,
                 const std::string& bytes, const std::string& table, const std::string& error) {
    out << std::left << std::setw(static_cast<int>(width)) << id << "  " << std::setw(5) << shard
        << "  " << std::setw(20) << time << "  " << std::setw(10) << bytes << "  " << std::setw(17)
        << table << "  " << error << "\n";
  };
  row("ID", "SHARD", "TIME", "BYTES", "TABLE", "ERROR");
  for (const host::DeadLetter& letter : listed) {
    row(letter.id, std::to_string(letter.shard), letter.time.empty() ? "-" : letter.time,
        std::to_string(letter.bytes), letter.table.empty() ? "-" : letter.table, letter.error);
  }
  out << listed.size() << " dead letters in " << letters->dir() << "\n";
  return 0;
}

int DeadLetterRetry(const std::string& spool_dir, const std::vector<std::string>& ids, bool all,
                    std::ostream& out, std::ostream& err) {
  std::optional<host::DeadLetters> letters = Open(spool_dir, out);
  if (!letters) return ids.empty() ? 0 : 1;
  return ForEach(*letters, ids, all, err, [&](const std::string& id, std::string* error) {
    if (!letters->Retry(id, error)) return false;
    out << id << ": back in the spool of shard " << id.substr(id.rfind("-s") + 2) << "\n";
    return true;
  });
}

int DeadLetterDrop(const std::string& spool_dir, const std::vector<std::string>& ids,
                   std::ostream& out, std::ostream& err) {
  std::optional<host::DeadLetters> letters = Open(spool_dir, out);
  if (!letters) return ids.empty() ? 0 : 1;
  return ForEach(*letters, ids, false, err, [&](const std::string& id, std::string* error) {
    if (!letters->Drop(id, error)) return false;
    out << id << ": dropped\n";
    return true;
  });
}

}  // namespace beacon::app
