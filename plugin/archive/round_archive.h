// round_archive.h — the round archive (docs/round-archive.md): past rounds of
// a federated run on disk, one directory per round with a manifest.json, the
// global model and one tensor file per client update. The reader serves
// offline replay and detector training; the writer serves servers that record
// their run. No LibTorch.
//
//   ARCHIVE/round_0001/manifest.json
//   ARCHIVE/round_0001/global.safetensors
//   ARCHIVE/round_0001/client_007.safetensors
//
// Everything read from disk is untrusted: manifests are validated, file
// names in them must stay inside their round directory, and every file of a
// round (manifest, global model, client updates, and the directories on the
// way) is opened without following symbolic links, so an archive cannot
// make flsentry read a file outside it. Client ids given to
// the writer are untrusted too: file names are derived from them by
// SanitizeFileStem, never used verbatim.
//
// Threading: value types are thread-compatible; a RoundArchiveWriter must be
// used by one thread at a time.
#ifndef FLSENTRY_ARCHIVE_ROUND_ARCHIVE_H_
#define FLSENTRY_ARCHIVE_ROUND_ARCHIVE_H_

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tensor/tensor_file.h"
#include "tensor/tensor_set.h"
#include "tensor/tensor_view.h"

namespace flsentry {

// The value of a manifest's "format" field this code reads and writes.
inline constexpr std::string_view kRoundArchiveFormat = "flsentry-round/1";

// Largest manifest.json accepted, in bytes, and most clients per round.
inline constexpr uint64_t kMaxManifestBytes = 64ull << 20;
inline constexpr size_t kMaxClientsPerRound = 100000;

// What a client file holds: the change from the global model ("delta") or
// full local weights ("weights", compared with the round's global model).
enum class ArchiveKind { kDelta, kWeights };

// "delta" or "weights".
std::string_view ArchiveKindName(ArchiveKind kind);

// Ground truth recorded by a simulation; a filter never sees it.
enum class ArchiveLabel { kUnknown, kBenign, kMalicious };

// "", "benign" or "malicious".
std::string_view ArchiveLabelName(ArchiveLabel label);

struct ArchiveClient {
  std::string id;    // as in the manifest (any UTF-8 text)
  std::string file;  // relative to the round directory
  uint64_t num_examples = 0;
  ArchiveLabel label = ArchiveLabel::kUnknown;
  std::string attack;  // "" when absent
};

struct ArchiveRound {
  uint64_t number = 0;
  ArchiveKind kind = ArchiveKind::kDelta;
  std::string dir;  // the round's directory
  // The directory the round's files are confined to (the archive's root,
  // or `dir` for a round or flat folder opened alone) and `dir` relative to
  // it ("round_0001", or ""). Files are opened below `root` with
  // OpenBeneath (base/confined_open.h): no symbolic link is followed.
  std::string root;
  std::string dir_in_root;
  std::string manifest_path;           // "" for a flat folder (no manifest)
  std::string global_file;             // relative to dir; "" when none
  std::vector<ArchiveClient> clients;  // in manifest order

  // Absolute-or-as-given paths of a client's file / the global file.
  // REQUIRES: index < clients.size(); global: !global_file.empty().
  std::string ClientPath(size_t index) const;
  std::string GlobalPath() const;
  // True when at least one client has a label.
  bool HasLabels() const;
};

struct RoundArchive {
  std::string root;
  // True when root is a flat folder of update files read as one round.
  bool flat = false;
  std::vector<ArchiveRound> rounds;  // sorted by number, numbers unique
};

// Opens an archive for reading. `path` may be:
//  - an archive: a directory whose subdirectories named round_<digits> each
//    hold a manifest.json (other entries are ignored);
//  - one round directory holding a manifest.json;
//  - a flat folder of .pth / .safetensors files: one round (number 1, kind
//    delta, no global model, no labels), clients named after the files'
//    stems (the full file name when two stems collide), sorted by name,
//    num_examples 1.
// Reads and validates every manifest (see ParseRoundManifest); client files
// are NOT opened here, so an unreadable client file does not fail Open.
// Errors: kNotFound (path missing, a round directory without manifest.json,
// no rounds at all), kCorrupt (a manifest that is not valid JSON or breaks
// the schema), kUnsupported (unknown "format"), kInvalidArgument (two rounds
// with the same number). Every message names the offending file.
Result<RoundArchive> OpenRoundArchive(const std::string& path);

// Parses and validates one manifest's text. `round_dir` becomes
// ArchiveRound::dir; `manifest_path` is used in messages only.
// Checks: format == kRoundArchiveFormat (else kUnsupported); "round" a
// non-negative integer; "kind" "delta" | "weights"; "global" (optional,
// required for kind weights) a safe relative file name; "clients" an array
// of at most kMaxClientsPerRound objects with a non-empty unique "id", a safe
// relative "file" (no absolute path, no "..", no NUL), a non-negative
// integer "num_examples", an optional "label" "benign" | "malicious", an
// optional string "attack". Unknown keys are ignored (the format grows only
// by optional fields). Errors: kCorrupt / kUnsupported naming the file and
// the field.
Result<ArchiveRound> ParseRoundManifest(std::string_view text,
                                        const std::string& round_dir,
                                        const std::string& manifest_path);

// Reads a client's tensor file (through ReadTensorFile), confined to the
// round's root. Errors name the file (a symbolic link on the way is
// kInvalidArgument); callers decide whether one unreadable client is fatal.
// REQUIRES: index < round.clients.size().
Result<TensorSet> ReadArchiveClient(const ArchiveRound& round, size_t index,
                                    const ReadOptions& options = {});

// Reads the round's global model, confined likewise; an empty TensorSet
// when it has none.
Result<TensorSet> ReadArchiveGlobal(const ArchiveRound& round,
                                    const ReadOptions& options = {});

// A file-name stem derived from untrusted text: bytes outside
// [A-Za-z0-9._-] become '_', a leading '.' becomes '_', cut to 96 bytes; ""
// becomes "_". Never names a parent directory or a hidden file.
std::string SanitizeFileStem(std::string_view text);

// Ground truth and bookkeeping for one client, as given to the writer.
struct ArchiveClientRecord {
  std::string id;  // untrusted; must be non-empty and unique in the round
  uint64_t num_examples = 0;
  ArchiveLabel label = ArchiveLabel::kUnknown;
  std::string attack;  // "" = not recorded
};

struct ArchiveWriterOptions {
  // Extension of the tensor files written; selects the format through
  // WriteTensorFile: ".safetensors" or ".pth".
  std::string file_extension = ".safetensors";
};

// Writes rounds into an archive directory, one round at a time:
//
//   FLS_ASSIGN_OR_RETURN(auto writer, RoundArchiveWriter::Open(dir));
//   FLS_RETURN_IF_ERROR(writer.BeginRound(7, ArchiveKind::kDelta, global));
//   FLS_RETURN_IF_ERROR(writer.AddClient({"client_3", 600}, tensors));
//   FLS_RETURN_IF_ERROR(writer.FinishRound());
//
// Atomicity: a round is written into a hidden staging directory
// (".round_<n>.partial") and renamed to round_<n> only after its manifest is
// complete, so readers never see half a round. A round that is not finished
// (error, or the writer destroyed first) leaves no round_<n> directory; its
// staging directory is removed. An existing round_<n> is never overwritten.
// Move-only.
class RoundArchiveWriter {
 public:
  // Creates `dir` (and parents) when missing. Errors: kIo.
  static Result<RoundArchiveWriter> Open(const std::string& dir,
                                         ArchiveWriterOptions options = {});

  RoundArchiveWriter(RoundArchiveWriter&& other) noexcept;
  RoundArchiveWriter& operator=(RoundArchiveWriter&& other) noexcept;
  RoundArchiveWriter(const RoundArchiveWriter&) = delete;
  RoundArchiveWriter& operator=(const RoundArchiveWriter&) = delete;
  ~RoundArchiveWriter();  // abandons an unfinished round

  // Starts round `number` and writes its global model (skipped when `global`
  // is empty). REQUIRES: no round in progress. Errors: kInvalidArgument (a
  // round in progress, round_<number> already exists, kind weights without
  // a global model), kIo, or WriteTensorFile's errors.
  // OWNERSHIP: `global` is borrowed for the call only.
  Status BeginRound(uint64_t number, ArchiveKind kind,
                    std::span<const TensorView> global);

  // Writes one client's update as <SanitizeFileStem(id)><extension> (with a
  // numeric suffix when two ids map to the same name). Errors:
  // kInvalidArgument (no round in progress, empty or duplicate id), kIo, or
  // WriteTensorFile's errors; the round stays open and may still be
  // finished without this client. OWNERSHIP: `tensors` borrowed for the call.
  Status AddClient(const ArchiveClientRecord& client,
                   std::span<const TensorView> tensors);

  // Writes manifest.json and publishes the round. Errors: kInvalidArgument
  // (no round in progress), kIo. On error the round is abandoned.
  Status FinishRound();

  // Drops the round in progress, if any, and removes its staging directory.
  void AbandonRound();

  const std::string& dir() const { return dir_; }

 private:
  RoundArchiveWriter(std::string dir, ArchiveWriterOptions options);

  std::string dir_;
  ArchiveWriterOptions options_;
  bool in_round_ = false;
  uint64_t number_ = 0;
  ArchiveKind kind_ = ArchiveKind::kDelta;
  std::string staging_;      // staging directory of the round in progress
  std::string global_file_;  // "" when the round has no global model
  std::vector<ArchiveClient> clients_;
  std::set<std::string> ids_, file_names_;
};

// The directory name of round `number`: "round_0001", "round_12345".
std::string RoundDirName(uint64_t number);

}  // namespace flsentry

#endif  // FLSENTRY_ARCHIVE_ROUND_ARCHIVE_H_
