// RunScript: popen, read everything, abort on failure.
#include "tests/unit/host/forward/run_script.h"

#include <cstdio>
#include <cstdlib>

namespace beacon::host {

std::string RunScript(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::fprintf(stderr, "cannot run %s\n", command.c_str());
    std::abort();
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  if (pclose(pipe) != 0) {
    std::fprintf(stderr, "%s failed:\n%s\n", command.c_str(), output.c_str());
    std::abort();
  }
  return output;
}

}  // namespace beacon::host
