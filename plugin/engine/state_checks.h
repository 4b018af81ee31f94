// state_checks.h — what a state document may bring into an engine whose
// policy may have changed since the state was saved (configs/README.md,
// "Changing the policy between restarts"): which detector state it holds and
// whether that matches the configured detector, and how far the audit log
// it knew went. A detector state that does not match is refused with a
// message saying how to go on, never loaded silently.
#ifndef FLSENTRY_ENGINE_STATE_CHECKS_H_
#define FLSENTRY_ENGINE_STATE_CHECKS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/status.h"
#include "detector/detector_config.h"
#include "detector/detector_file.h"

namespace flsentry {

class Detector;

// The detector the policy configures. OWNERSHIP: borrows; valid for the
// call it is passed to.
struct DetectorExpectation {
  const DetectorConfig& config;
  const Detector* loaded;  // from detector.path; null when none
  std::string path;        // detector.path resolved; "" when none
  std::string source;      // DetectorSourceId(path); "" when none
};

struct DetectorRestore {
  enum Kind {
    kNone,          // nothing to restore (no detector state, or ignored)
    kBootstrapped,  // rebuild from state["detector"] (FromBootstrapState)
    kIntoLoaded,    // state["detector"] into the loaded detector (LoadState)
  };
  Kind kind = kNone;
  std::string warning;  // for the host's log; "" when none
};

// Decides how `state`'s "detector" member is restored under `expected`.
// Errors: kState when it belongs to another kind of detector (bootstrapped
// vs a directory) or, by "detector_source", to another detector directory.
Result<DetectorRestore> CheckStateDetector(const nlohmann::json& state,
                                           const DetectorExpectation& expected);

// Ok when a bootstrapped detector restored from a state was built with the
// policy's detector.bootstrap settings (sketch_dim, sketch_version, hidden);
// otherwise kState naming both.
Status CheckBootstrapMatches(const DetectorMetadata& metadata,
                             const DetectorConfig& config);

// A fingerprint (16 hex digits) of a detector directory's files, recorded
// in the state as "detector_source"; "" when they cannot be read.
std::string DetectorSourceId(const std::string& path);

// The audit log's committed end recorded in `state` ("audit": {"path",
// "end"}, the path as the policy gave it) when it names `audit_path`;
// nullopt otherwise (no record, or a record of another log: audit.path
// changed).
std::optional<uint64_t> AuditEndInState(const nlohmann::json& state,
                                        const std::string& audit_path);

// The advice every refused detector state ends with.
inline constexpr const char* kKeepClientsAdvice =
    "Restore the policy's detector settings, or, to keep the clients' "
    "records and start a new detector, delete the state's \"detector\" and "
    "\"detector_source\" members (e.g. jq 'del(.detector, "
    ".detector_source)' STATE > NEW && mv NEW STATE)";

}  // namespace flsentry

#endif  // FLSENTRY_ENGINE_STATE_CHECKS_H_
