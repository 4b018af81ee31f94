#include "replay/replay_round.h"

#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "tensor/tensor_set.h"

namespace flsentry::cli {
namespace {

using Scalars = std::map<std::string, ScalarValue>;
using Report = std::function<void(const std::string&)>;

std::optional<aggf_dtype> ToAggfDtype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return AGGF_DTYPE_F32;
    case DType::kF64:
      return AGGF_DTYPE_F64;
    case DType::kF16:
      return AGGF_DTYPE_F16;
    case DType::kBF16:
      return AGGF_DTYPE_BF16;
    default:
      return std::nullopt;
  }
}

// Owns everything an aggf_round points into. Built once per round; its
// vectors are sized before any pointer into them is taken.
class CRound {
 public:
  // Borrows `set`; it must outlive this CRound and not move.
  std::vector<aggf_tensor> Tensors(const TensorSet& set) {
    std::vector<aggf_tensor> out;
    for (const OwnedTensor& t : set.tensors) {
      std::optional<aggf_dtype> dtype = ToAggfDtype(t.dtype);
      if (!dtype) continue;
      aggf_tensor c{};
      c.name = t.name.data();
      c.name_len = static_cast<uint32_t>(t.name.size());
      c.dtype = *dtype;
      c.rank = static_cast<int32_t>(t.shape.size());
      c.shape = t.shape.empty() ? nullptr : t.shape.data();
      c.strides = t.strides.empty() ? nullptr : t.strides.data();
      c.data = Aligned(t);
      out.push_back(c);
    }
    return out;
  }

 private:
  // The C interface requires element-aligned data; files may not provide
  // it (safetensors does not guarantee alignment). Misaligned tensors are
  // copied into aligned memory owned by this CRound.
  const void* Aligned(const OwnedTensor& t) {
    const size_t elem = DTypeSize(t.dtype);
    if (!t.data || reinterpret_cast<uintptr_t>(t.data) % elem == 0)
      return t.data;
    int64_t numel = 0, extent = 0;
    if (!ValidateView(t.view(), &numel, &extent).ok() || extent <= 0)
      return t.data;
    auto& copy = copies_.emplace_back(
        new std::max_align_t[(static_cast<size_t>(extent) +
                              sizeof(std::max_align_t) - 1) /
                             sizeof(std::max_align_t)]);
    std::memcpy(copy.get(), t.data, static_cast<size_t>(extent));
    return copy.get();
  }

  std::vector<std::unique_ptr<std::max_align_t[]>> copies_;
};

// A flat folder's update file may name its client and example count in its
// metadata ("client_id", "num_examples": flsentry simulate --export-updates,
// WriteTensorFile's metadata). Sets clients[i].id / num_examples from the
// files' scalars (scalars[k] is clients[readable[k]]'s) where they do, and
// records
// where each came from. Ids that would not be unique in the round fall back
// to the file names for the whole round, said through `report`.
void ApplyFlatMetadata(const std::vector<Scalars>& scalars,
                       const std::vector<size_t>& readable,
                       std::vector<ArchiveClient>* clients,
                       std::vector<ReplayDecision>* origin,
                       const std::function<void(const std::string&)>& report) {
  const std::vector<ArchiveClient> by_file = *clients;
  for (ReplayDecision& o : *origin) {
    o.client_from = "file name";
    o.num_examples_from = "default";
  }
  for (size_t k = 0; k < scalars.size(); ++k) {
    ArchiveClient& c = (*clients)[readable[k]];
    ReplayDecision& o = (*origin)[readable[k]];
    const Scalars& file_scalars = scalars[k];
    if (auto id = file_scalars.find("client_id"); id != file_scalars.end()) {
      const auto* text = std::get_if<std::string>(&id->second);
      if (text && !text->empty()) {
        c.id = *text;
        o.client_from = "metadata";
      }
    }
    auto n = file_scalars.find("num_examples");
    if (n == file_scalars.end()) continue;
    std::optional<uint64_t> value;
    if (const auto* i = std::get_if<int64_t>(&n->second); i && *i >= 0) {
      value = static_cast<uint64_t>(*i);
    } else if (const auto* t = std::get_if<std::string>(&n->second)) {
      uint64_t parsed = 0;
      const char* end = t->data() + t->size();
      auto [ptr, ec] = std::from_chars(t->data(), end, parsed);
      if (ec == std::errc() && ptr == end && !t->empty()) value = parsed;
    }
    if (value) {
      c.num_examples = *value;
      o.num_examples_from = "metadata";
    } else {
      report(c.file +
             ": num_examples in its metadata is not a non-negative "
             "integer; " +
             std::to_string(c.num_examples) + " is used");
    }
  }
  std::set<std::string> ids;
  for (const ArchiveClient& c : *clients) {
    if (ids.insert(c.id).second) continue;
    report("client id '" + c.id +
           "' is given by two files (metadata or file name): every client "
           "is named after its file name");
    for (size_t i = 0; i < clients->size(); ++i) {
      (*clients)[i].id = by_file[i].id;
      (*origin)[i].client_from = "file name";
    }
    return;
  }
}

// The round's clients as replay gives them to the plugin; index i is
// round.clients[i] throughout.
struct RoundClients {
  std::vector<ArchiveClient> clients;  // the ids and counts given
  // Replay's own decision for an unreadable client, and (flat folders)
  // where each id and count came from; the plugin's decisions are put in
  // at the end.
  std::vector<ReplayDecision> made;
  std::vector<bool> left_out;    // unreadable: dropped by replay or skipped
  std::vector<bool> unreadable;  // left out and decided (dropped) by replay
};

// Client i's file could not be read (`why`): the error under kFail,
// otherwise the client is left out of the round, skipped or dropped as
// unreadable, and `report` says so.
Status LeaveOut(size_t i, const Status& why, uint64_t round_number,
                const ReplayOptions& options, const Report& report,
                RoundClients* rc) {
  const std::string round = "round " + std::to_string(round_number);
  switch (options.on_unreadable) {
    case OnUnreadable::kFail:
      return why;
    case OnUnreadable::kSkip:
      report(round + ": skipped: " + why.message());
      break;
    case OnUnreadable::kDrop: {
      report(round + ": dropped as unreadable: " + why.message());
      ReplayDecision& d = rc->made[i];
      rc->unreadable[i] = true;
      d.unreadable = true;
      d.decision.action = AGGF_ACTION_DROP;
      d.decision.flags = AGGF_FLAG_INVALID;
      d.decision.weight = 0.0;
      d.decision.score = std::nan("");
      d.decision.threshold = std::nan("");
      d.decision.reason = "unreadable";
      break;
    }
  }
  rc->left_out[i] = true;
  return Status::Ok();
}

// Reads each client's file in turn, but those already left out, and hands
// it to `take` (client index, its tensors), which may keep or drop it; a
// file that cannot be read is left out (LeaveOut), or its error returned.
Status ForEachReadable(const ArchiveRound& round, const ReplayOptions& options,
                       const Report& report, RoundClients* rc,
                       const std::function<void(size_t, TensorSet)>& take) {
  for (size_t i = 0; i < round.clients.size(); ++i) {
    if (rc->left_out[i]) continue;
    Result<TensorSet> set = ReadArchiveClient(round, i);
    if (!set.ok()) {
      FLS_RETURN_IF_ERROR(
          LeaveOut(i, set.status(), round.number, options, report, rc));
      continue;
    }
    take(i, std::move(set).value());
  }
  return Status::Ok();
}

// A flat folder: every file read once for the client id and example count
// in its metadata (kept: its scalars only), before any update is given.
Status ReadFlatMetadata(const ArchiveRound& round, const ReplayOptions& options,
                        const Report& report, RoundClients* rc) {
  std::vector<Scalars> scalars;
  std::vector<size_t> readable;
  FLS_RETURN_IF_ERROR(
      ForEachReadable(round, options, report, rc, [&](size_t i, TensorSet set) {
        scalars.push_back(std::move(set.scalars));
        readable.push_back(i);
      }));
  ApplyFlatMetadata(
      scalars, readable, &rc->clients, &rc->made, [&](const std::string& line) {
        report("round " + std::to_string(round.number) + ": " + line);
      });
  return Status::Ok();
}

// The C view of one client's update. OWNERSHIP: borrows `client` and
// `tensors`, which must outlive its use.
aggf_update CUpdate(const ArchiveClient& client, ArchiveKind kind,
                    const std::vector<aggf_tensor>& tensors) {
  aggf_update u{};
  u.client_id = client.id.data();
  u.client_id_len = static_cast<uint32_t>(client.id.size());
  u.kind =
      kind == ArchiveKind::kWeights ? AGGF_UPDATE_WEIGHTS : AGGF_UPDATE_DELTA;
  u.num_examples = client.num_examples;
  u.tensors = tensors.empty() ? nullptr : tensors.data();
  u.num_tensors = static_cast<uint32_t>(tensors.size());
  return u;
}

// The round on arrival (ABI 1.2): each file read, added and released in
// turn. *given: the clients added, in order (the decisions' order). Throws
// aggfilter::Error when the plugin refuses a call.
Result<std::vector<aggfilter::Decision>> FeedOnArrival(
    aggfilter::Instance& instance, const ArchiveRound& round,
    const std::vector<aggf_tensor>& global, const ReplayOptions& options,
    const Report& report, RoundClients* rc, std::vector<size_t>* given) {
  instance.begin(round.number, global);
  FLS_RETURN_IF_ERROR(
      ForEachReadable(round, options, report, rc, [&](size_t i, TensorSet set) {
        CRound owner;
        const std::vector<aggf_tensor> tensors = owner.Tensors(set);
        instance.add(CUpdate(rc->clients[i], round.kind, tensors));
        given->push_back(i);
      }));
  return instance.end();
}

// The round in one on_round_filter call (plugins before ABI 1.2): every
// file held at once. *given as FeedOnArrival's.
Result<std::vector<aggfilter::Decision>> FeedInOneCall(
    aggfilter::Instance& instance, const ArchiveRound& round,
    const std::vector<aggf_tensor>& global, const ReplayOptions& options,
    const Report& report, RoundClients* rc, std::vector<size_t>* given) {
  std::vector<TensorSet> sets;  // must not move once C views exist
  sets.reserve(round.clients.size());
  FLS_RETURN_IF_ERROR(
      ForEachReadable(round, options, report, rc, [&](size_t i, TensorSet set) {
        sets.push_back(std::move(set));
        given->push_back(i);
      }));
  CRound owner;
  std::vector<std::vector<aggf_tensor>> tensors;
  tensors.reserve(sets.size());
  for (const TensorSet& set : sets) tensors.push_back(owner.Tensors(set));
  std::vector<aggf_update> updates;
  updates.reserve(sets.size());
  for (size_t k = 0; k < sets.size(); ++k) {
    updates.push_back(
        CUpdate(rc->clients[(*given)[k]], round.kind, tensors[k]));
  }
  aggf_round c_round{};
  c_round.struct_size = sizeof c_round;
  c_round.num_updates = static_cast<uint32_t>(updates.size());
  c_round.round = round.number;
  c_round.global_tensors = global.empty() ? nullptr : global.data();
  c_round.num_global_tensors = static_cast<uint32_t>(global.size());
  c_round.updates = updates.empty() ? nullptr : updates.data();
  return instance.filter(c_round);
}

}  // namespace

Status ReplayOneRound(aggfilter::Instance& instance, const ArchiveRound& round,
                      const ReplayOptions& options, ReplayRound* out) {
  out->number = round.number;
  const Report report = [&](const std::string& line) {
    out->errors.push_back(line);
    if (options.error_line) options.error_line(line);
  };
  Result<TensorSet> global = ReadArchiveGlobal(round);
  if (!global.ok()) return global.status();
  CRound global_owner;
  const std::vector<aggf_tensor> global_tensors =
      global_owner.Tensors(global.value());

  const size_t n = round.clients.size();
  RoundClients rc{round.clients, std::vector<ReplayDecision>(n),
                  std::vector<bool>(n, false), std::vector<bool>(n, false)};
  if (round.manifest_path.empty()) {
    FLS_RETURN_IF_ERROR(ReadFlatMetadata(round, options, report, &rc));
  }
  std::vector<size_t> given;  // indices into round.clients, in given order
  Result<std::vector<aggfilter::Decision>> decisions =
      std::vector<aggfilter::Decision>{};
  try {
    decisions = instance.has_on_arrival()
                    ? FeedOnArrival(instance, round, global_tensors, options,
                                    report, &rc, &given)
                    : FeedInOneCall(instance, round, global_tensors, options,
                                    report, &rc, &given);
  } catch (const aggfilter::Error& e) {
    out->failed = true;
    report("round " + std::to_string(round.number) +
           ": the plugin refused the round: " + e.what());
    return Status::Ok();
  }
  if (!decisions.ok()) return decisions.status();
  // Decisions in manifest order: the plugin's and replay's unreadable drops
  // interleaved as the clients appear in the manifest.
  size_t next = 0;
  for (size_t i = 0; i < n; ++i) {
    ReplayDecision d = std::move(rc.made[i]);
    if (next < given.size() && given[next] == i) {
      d.decision = std::move((*decisions)[next++]);
    } else if (!rc.unreadable[i]) {
      continue;  // skipped
    }
    const ArchiveClient& c = rc.clients[i];
    d.round = round.number;
    d.client = c.id;
    d.rank_score = d.decision.score;
    d.num_examples = c.num_examples;
    d.label = c.label;
    d.attack = c.attack;
    out->decisions.push_back(std::move(d));
  }
  return Status::Ok();
}

}  // namespace flsentry::cli
