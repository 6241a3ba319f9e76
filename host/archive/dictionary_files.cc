// Archive dictionaries on disk; see dictionary_files.h.
#include "host/archive/dictionary_files.h"

#include <cerrno>
#include <charconv>
#include <memory>
#include <string_view>
#include <system_error>
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

namespace {

// Loads the dictionary file `name` (`id`, parsed from it) into `dictionaries`: 0 or an errno.
int LoadOne(FileSystem& fs, const std::string& dir, const std::string& name, uint32_t id,
            kernels::DictionarySet* dictionaries) {
  std::string bytes;
  if (const int error = fs.ReadFile(dir + "/" + name, &bytes); error != 0) return error;
  std::unique_ptr<const kernels::ArchiveDictionary> dictionary =
      kernels::ArchiveDictionary::Load(bytes);
  if (dictionary == nullptr || dictionary->id() != id) return EINVAL;
  if (dictionaries->Find(id) == nullptr && !dictionaries->Add(std::move(bytes))) return EINVAL;
  return 0;
}

}  // namespace

int LoadDictionaries(FileSystem& fs, const std::string& dir, kernels::DictionarySet* dictionaries,
                     std::vector<std::string>* refused) {
  std::vector<DirEntry> entries;
  if (const int error = fs.List(dir, &entries); error != 0) return error;
  int first_error = 0;
  for (const DirEntry& entry : entries) {
    std::string_view name = entry.name;
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) continue;
    name.remove_prefix(kPrefix.size());
    name.remove_suffix(kSuffix.size());
    uint32_t id = 0;
    const auto parsed = std::from_chars(name.data(), name.data() + name.size(), id);
    if (parsed.ec != std::errc() || parsed.ptr != name.data() + name.size()) continue;
    // One damaged file costs its own dictionary only: the others are still loaded.
    const int error = LoadOne(fs, dir, entry.name, id, dictionaries);
    if (error == 0) continue;
    if (first_error == 0) first_error = error;
    if (refused != nullptr) {
      refused->push_back(entry.name + ": " +
                         (error == EINVAL ? "not the dictionary its name gives"
                                          : std::generic_category().message(error)));
    }
  }
  return first_error;
}

}  // namespace beacon::host
