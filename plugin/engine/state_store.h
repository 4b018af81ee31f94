// state_store.h — the versioned state file: one JSON object
//   {"format": "flsentry-state/1", "round": N, "policy": {...},
//    "detector": {...}}
// whose members other than "format" belong to the caller (the engine). The
// store only checks the envelope: a JSON object whose "format" is
// kStateFormat and whose "round", when present, is a non-negative integer or
// null. Saves are atomic, through the one atomic writer (base/file_writer.h):
// the text goes to "<path>.tmp.<pid>", is fsync'ed, renamed over <path>, and
// the directory is fsync'ed, so after a crash at any point the file holds
// either the previous or the new state, and a failed Save leaves it as it
// was (a crash may leave the temporary file behind; it is never read, and
// the engine removes it when it next opens the state,
// RemoveStaleTemporaries).
//
// One writer: the engine holds "<path>.lock" (file_lock.h) for an
// instance's life, so no two instances save to one path.
// Threading: a StateStore is immutable; concurrent Saves to one path from
// several processes or threads are not supported.
#ifndef FLSENTRY_ENGINE_STATE_STORE_H_
#define FLSENTRY_ENGINE_STATE_STORE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "policy/policy_config.h"

namespace flsentry {

inline constexpr const char* kStateFormat = "flsentry-state/1";
// Largest state file or buffer accepted, in bytes.
inline constexpr uint64_t kMaxStateBytes = uint64_t{1} << 30;

// The text of a state document: `state` with "format" set to kStateFormat.
// REQUIRES nothing; returns kInvalidArgument when `state` is not an object.
// Invalid UTF-8 in strings is replaced by U+FFFD rather than failing.
Result<std::string> SerializeState(nlohmann::json state);

// Parses and checks a state document. `source` names where the bytes came
// from, for messages. Returns kState ("<source>: ...") on bad JSON, a
// missing or unknown format, or a bad "round".
Result<nlohmann::json> ParseState(std::string_view bytes,
                                  std::string_view source);

// A name to move `path` aside to that no file has yet:
// "<path>.<tag>-<UTC time>", with "-<k>" appended when taken. Returns kIo
// when 100 candidates are all taken.
Result<std::string> FreeAsideName(const std::string& path,
                                  std::string_view tag);

struct LoadedState {
  std::optional<nlohmann::json> state;  // nullopt: start fresh
  // Non-empty when a corrupt file was renamed aside (on_corrupt: reset);
  // the caller should log it as a warning.
  std::string warning;
};

class StateStore {
 public:
  // path: the state file (already resolved against the host's base_dir).
  StateStore(std::string path, OnCorrupt on_corrupt);

  // A missing file is a fresh start. An unreadable or corrupt file returns
  // kState naming the file, or with OnCorrupt::kReset is renamed to
  // "<path>.corrupt-<UTC time>" and gives a fresh start with a warning
  // (kState if even the rename fails).
  Result<LoadedState> Load() const;

  // Writes `state` atomically (see above), creating missing parent
  // directories. Returns kIo naming the file and the OS error, or
  // kInvalidArgument when `state` is not an object. On error the previous
  // file is untouched. `state` is taken (pass a temporary or std::move: at
  // 1,000 updates a round the document is tens of MB).
  Status Save(nlohmann::json state) const;

  // Removes the temporary files "<path>.tmp.<pid>" that saves interrupted
  // by a crash left beside the state file; returns how many. REQUIRES: the
  // caller holds "<path>.lock" (file_lock.h), so that no save is under way.
  // Files it cannot list or remove are left; never an error.
  size_t RemoveStaleTemporaries() const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  OnCorrupt on_corrupt_;
};

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_STATE_STORE_H_
