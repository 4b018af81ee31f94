// replay_round.h — one archived round through a plugin instance: the part
// of ReplayArchive (replay_runner.h) that reads the round's files and calls
// the plugin.
//
// With a plugin that has rounds on arrival (ABI 1.2, aggfilter.h
// on_round_begin), each client's file is read, given to on_round_add and
// released before the next one is read: a round holds the memory and the
// mappings of one update at a time (plus the global model), whatever the
// number of its files (up to AGGF_MAX_UPDATES) and their sizes, so the
// process's limit on mappings (vm.max_map_count) never bounds a round. By
// aggfilter.h's contract the decisions, state and audit are those of one
// on_round_filter call on the same round. A plugin before 1.2 gets the round
// in one on_round_filter call, with every file held at once.
//
// A flat folder's files are read twice: once for the client ids and
// example counts in their metadata (which must be known, and unique, before
// the first update is added), once to add them.
//
// Threading: one call at a time per instance (aggfilter.h's rule).
#ifndef FLSENTRY_REPLAY_REPLAY_ROUND_H_
#define FLSENTRY_REPLAY_REPLAY_ROUND_H_

#include "aggfilter_host.hpp"
#include "archive/round_archive.h"
#include "base/status.h"
#include "replay/replay_runner.h"

namespace flsentry::cli {

// Replays `round` through `instance` and fills *out (decisions in manifest
// order, problems in out->errors, out->failed when the plugin refused the
// round). A client whose file cannot be read is handled as
// options.on_unreadable says, whenever it is read. Returns an error only
// for what stops the whole replay: an unreadable global model, or an
// unreadable client under OnUnreadable::kFail.
Status ReplayOneRound(aggfilter::Instance& instance, const ArchiveRound& round,
                      const ReplayOptions& options, ReplayRound* out);

}  // namespace flsentry::cli

#endif  // FLSENTRY_REPLAY_REPLAY_ROUND_H_
