#include "replay/replay_summary.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace flsentry::cli {
namespace {

using OJson = nlohmann::ordered_json;

OJson NumberOrNull(double v) {
  return std::isfinite(v) ? OJson(v) : OJson(nullptr);
}

}  // namespace

std::vector<ScoredCall> ToScoredCalls(
    std::span<const ReplayDecision> decisions) {
  std::vector<ScoredCall> calls;
  calls.reserve(decisions.size());
  for (const ReplayDecision& d : decisions) {
    if (d.unreadable) continue;
    ScoredCall c;
    c.score = d.rank_score;
    c.positive_call = d.decision.action != AGGF_ACTION_ACCEPT;
    c.labelled = d.label != ArchiveLabel::kUnknown;
    c.malicious = d.label == ArchiveLabel::kMalicious;
    calls.push_back(c);
  }
  return calls;
}

DecisionCounts CountDecisions(std::span<const ReplayDecision> decisions) {
  DecisionCounts counts;
  for (const ReplayDecision& d : decisions) {
    ++counts.clients;
    switch (d.decision.action) {
      case AGGF_ACTION_ACCEPT:
        ++counts.accepted;
        break;
      case AGGF_ACTION_DOWNWEIGHT:
        ++counts.downweighted;
        break;
      default:
        ++counts.dropped;
        break;
    }
    if (d.decision.has_flag(AGGF_FLAG_QUARANTINED)) ++counts.quarantined;
    if (d.decision.has_flag(AGGF_FLAG_PROBATION)) ++counts.probation;
    if (d.unreadable) ++counts.unreadable;
    if (d.label != ArchiveLabel::kUnknown) counts.has_labels = true;
  }
  std::vector<ScoredCall> calls = ToScoredCalls(decisions);
  counts.confusion = CountConfusion(calls);
  counts.auc = RocAuc(calls);
  return counts;
}

std::vector<ReplayDecision> AllDecisions(const PolicyRun& run) {
  std::vector<ReplayDecision> all;
  for (const ReplayRound& r : run.rounds) {
    all.insert(all.end(), r.decisions.begin(), r.decisions.end());
  }
  return all;
}

std::vector<uint64_t> RefusedRounds(const PolicyRun& run) {
  std::vector<uint64_t> refused;
  for (const ReplayRound& r : run.rounds) {
    if (r.failed) refused.push_back(r.number);
  }
  return refused;
}

std::string RefusedRoundsNote(const PolicyRun& run) {
  const std::vector<uint64_t> refused = RefusedRounds(run);
  if (refused.empty()) return "";
  std::string list;
  for (uint64_t n : refused) {
    list += (list.empty() ? "" : ", ") + std::to_string(n);
  }
  return std::to_string(refused.size()) + " of " +
         std::to_string(run.rounds.size()) + " rounds refused by the plugin (" +
         list + "): the counts and metrics cover the other " +
         std::to_string(run.rounds.size() - refused.size()) + " rounds only";
}

std::vector<std::string> RunNotes(const PolicyRun& run) {
  std::vector<std::string> notes = run.notes;
  if (std::string refused = RefusedRoundsNote(run); !refused.empty()) {
    notes.push_back(std::move(refused));
  }
  return notes;
}

OJson RunOverviewJson(const PolicyRun& run) {
  OJson j = CountsJson(CountDecisions(AllDecisions(run)));
  const std::vector<uint64_t> refused = RefusedRounds(run);
  j["rounds"] = run.rounds.size();
  j["failed_rounds"] = refused.size();
  j["refused_rounds"] = refused;
  j["notes"] = RunNotes(run);
  return j;
}

std::string DecisionsJsonl(const PolicyRun& run) {
  std::string out;
  for (const ReplayRound& r : run.rounds) {
    for (const ReplayDecision& d : r.decisions) {
      OJson line;
      line["round"] = d.round;
      line["client"] = d.client;
      line["action"] = aggfilter::action_name(d.decision.action);
      line["weight"] = NumberOrNull(d.decision.weight);
      line["score"] = NumberOrNull(d.decision.score);
      line["threshold"] = NumberOrNull(d.decision.threshold);
      line["reason"] = d.decision.reason;
      line["flags"] = aggfilter::flag_names(d.decision.flags);
      line["num_examples"] = d.num_examples;
      if (d.label != ArchiveLabel::kUnknown)
        line["label"] = ArchiveLabelName(d.label);
      if (!d.attack.empty()) line["attack"] = d.attack;
      if (d.unreadable) line["unreadable"] = true;
      if (!d.client_from.empty()) line["client_from"] = d.client_from;
      if (!d.num_examples_from.empty())
        line["num_examples_from"] = d.num_examples_from;
      // Replace invalid UTF-8 (from a plugin's reason text) rather than
      // throwing: the output must always be written.
      out += line.dump(-1, ' ', false, OJson::error_handler_t::replace);
      out += '\n';
    }
  }
  return out;
}

OJson CountsJson(const DecisionCounts& c) {
  OJson j;
  j["clients"] = c.clients;
  j["accepted"] = c.accepted;
  j["downweighted"] = c.downweighted;
  j["dropped"] = c.dropped;
  j["quarantined"] = c.quarantined;
  j["probation"] = c.probation;
  j["unreadable"] = c.unreadable;
  if (c.has_labels) {
    j["labelled"] = c.confusion.labelled();
    j["tp"] = c.confusion.tp;
    j["fp"] = c.confusion.fp;
    j["tn"] = c.confusion.tn;
    j["fn"] = c.confusion.fn;
    j["tpr"] = NumberOrNull(c.confusion.tpr());
    j["fpr"] = NumberOrNull(c.confusion.fpr());
    j["precision"] = NumberOrNull(c.confusion.precision());
    j["auc"] = NumberOrNull(c.auc);
  }
  return j;
}

OJson SummaryJson(const PolicyRun& run, const std::string& archive_path,
                  const std::string& plugin_description,
                  OnUnreadable on_unreadable) {
  OJson j;
  j["format"] = "flsentry-replay-summary/1";
  j["archive"] = archive_path;
  j["config"] = run.config_path;
  j["plugin"] = plugin_description;
  j["on_unreadable"] = OnUnreadableName(on_unreadable);
  j["redirects"] = run.redirects;
  j["ranked_by"] = run.ranked_by;
  j["notes"] = RunNotes(run);
  j["overall"] = RunOverviewJson(run);
  j["overall"].erase("notes");
  j["rounds"] = OJson::array();
  for (const ReplayRound& r : run.rounds) {
    OJson round;
    round["round"] = r.number;
    round["failed"] = r.failed;
    const OJson counts = CountsJson(CountDecisions(r.decisions));
    for (auto it = counts.begin(); it != counts.end(); ++it)
      round[it.key()] = *it;
    round["errors"] = r.errors;
    j["rounds"].push_back(std::move(round));
  }
  return j;
}

}  // namespace flsentry::cli
