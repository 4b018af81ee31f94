// temp_dir.h — a fresh temporary directory for a test, shared by the unit
// tests of every layer (it depends on nothing of flsentry).
#ifndef FLSENTRY_TESTS_TEMP_DIR_H_
#define FLSENTRY_TESTS_TEMP_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace flsentry::testing {

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("flsentry_tio_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace flsentry::testing

#endif  // FLSENTRY_TESTS_TEMP_DIR_H_
