// Archive dictionaries on disk; see dictionary_files.h.
#include "host/archive/dictionary_files.h"

#include <cerrno>
#include <charconv>
#include <memory>
#include <string_view>
#include <vector>

namespace beacon::host {
namespace {

constexpr std::string_view kPrefix = "dict-";
constexpr std::string_view kSuffix = ".zdict";

}  // namespace

std::string DictionaryFileName(uint32_t id) {
  return std::string(kPrefix) + std::to_string(id) + std::string(kSuffix);
}

int SaveDictionary(FileSystem& fs, const std::string& dir,
                   const kernels::ArchiveDictionary& dictionary) {
  const std::string name = DictionaryFileName(dictionary.id());
  std::string existing;
  if (fs.ReadPrefix(dir + "/" + name, 1, &existing) == 0) return EEXIST;
  return WriteFileAtomically(fs, dir, name, dictionary.bytes());
}

int LoadDictionaries(FileSystem& fs, const std::string& dir, kernels::DictionarySet* dictionaries) {
  std::vector<DirEntry> entries;
  if (const int error = fs.List(dir, &entries); error != 0) return error;
  for (const DirEntry& entry : entries) {
    std::string_view name = entry.name;
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) continue;
    name.remove_prefix(kPrefix.size());
    name.remove_suffix(kSuffix.size());
    uint32_t id = 0;
    const auto parsed = std::from_chars(name.data(), name.data() + name.size(), id);
    if (parsed.ec != std::errc() || parsed.ptr != name.data() + name.size()) continue;
    std::string bytes;
    if (const int error = fs.ReadFile(dir + "/" + entry.name, &bytes); error != 0) return error;
    std::unique_ptr<const kernels::ArchiveDictionary> dictionary =
        kernels::ArchiveDictionary::Load(bytes);
    if (dictionary == nullptr || dictionary->id() != id ||
        (dictionaries->Find(id) == nullptr && !dictionaries->Add(std::move(bytes)))) {
      return EINVAL;
    }
  }
  return 0;
}

}  // namespace beacon::host
