#include "pth_file.h"

namespace flsentry {

// Interim: the .pth reader and writer land in the next commit.
Result<TensorSet> ParsePth(std::span<const uint8_t>, std::shared_ptr<const void>,
                           const std::string&) {
  return Unsupported("reading .pth is not built yet");
}

Status WritePthFile(const std::string& path, std::span<const TensorView>,
                    const std::map<std::string, std::string>&) {
  return Unsupported(path + ": writing .pth is not built yet");
}

}  // namespace flsentry
