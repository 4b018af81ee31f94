#include "archive/round_archive.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tensor/tensor_file.h"

namespace flsentry {
namespace {

namespace fs = std::filesystem;

// A fresh empty directory under the system temp dir, removed at scope exit.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/flsentry_archive_test_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const {
    return path + "/" + name;
  }
  std::string path;
};

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
  TensorView view() const {
    return {name, DType::kF32, shape, {}, values.data()};
  }
};

std::vector<TensorView> Views(const std::vector<Tensor>& ts) {
  std::vector<TensorView> v;
  for (const Tensor& t : ts) v.push_back(t.view());
  return v;
}

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<float> Floats(const TensorSet& set, const std::string& name) {
  const OwnedTensor* t = set.Find(name);
  REQUIRE(t != nullptr);
  REQUIRE(t->dtype == DType::kF32);
  const int64_t n = t->view().numel();
  const float* f = static_cast<const float*>(t->data);
  return std::vector<float>(f, f + n);
}

const std::vector<Tensor> kGlobal = {{"fc.weight", {2, 2}, {1, 2, 3, 4}},
                                     {"fc.bias", {2}, {0.5f, -0.5f}}};

TEST_CASE("written rounds read back with ids, labels and exact tensors") {
  TempDir dir;
  auto writer = RoundArchiveWriter::Open(dir.path);
  REQUIRE(writer.ok());
  for (uint64_t round : {2u, 1u}) {  // written out of order, read sorted
    REQUIRE(
        writer->BeginRound(round, ArchiveKind::kDelta, Views(kGlobal)).ok());
    std::vector<Tensor> a = {
        {"fc.weight", {2, 2}, {0.1f, 0.2f, 0.3f, float(round)}},
        {"fc.bias", {2}, {1, 2}}};
    REQUIRE(
        writer
            ->AddClient({"client_1", 600, ArchiveLabel::kBenign, ""}, Views(a))
            .ok());
    REQUIRE(writer
                ->AddClient(
                    {"client_9", 1200, ArchiveLabel::kMalicious, "sign_flip"},
                    Views(a))
                .ok());
    REQUIRE(writer->FinishRound().ok());
  }
  auto archive = OpenRoundArchive(dir.path);
  REQUIRE_MESSAGE(archive.ok(), archive.status().message());
  CHECK_FALSE(archive->flat);
  REQUIRE(archive->rounds.size() == 2);
  const ArchiveRound& r1 = archive->rounds[0];
  CHECK(r1.number == 1);
  CHECK(archive->rounds[1].number == 2);
  CHECK(r1.kind == ArchiveKind::kDelta);
  CHECK(r1.global_file == "global.safetensors");
  REQUIRE(r1.clients.size() == 2);
  CHECK(r1.clients[0].id == "client_1");
  CHECK(r1.clients[0].num_examples == 600);
  CHECK(r1.clients[0].label == ArchiveLabel::kBenign);
  CHECK(r1.clients[0].attack.empty());
  CHECK(r1.clients[1].label == ArchiveLabel::kMalicious);
  CHECK(r1.clients[1].attack == "sign_flip");
  CHECK(r1.HasLabels());
  auto client = ReadArchiveClient(archive->rounds[1], 1);
  REQUIRE(client.ok());
  CHECK(Floats(*client, "fc.weight") ==
        std::vector<float>{0.1f, 0.2f, 0.3f, 2.0f});
  auto global = ReadArchiveGlobal(r1);
  REQUIRE(global.ok());
  CHECK(Floats(*global, "fc.bias") == std::vector<float>{0.5f, -0.5f});
}

TEST_CASE("the manifest is the documented contract") {
  TempDir dir;
  auto writer = RoundArchiveWriter::Open(dir.path);
  REQUIRE(writer.ok());
  REQUIRE(writer->BeginRound(7, ArchiveKind::kWeights, Views(kGlobal)).ok());
  REQUIRE(
      writer->AddClient({"c", 3, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
          .ok());
  REQUIRE(writer->FinishRound().ok());
  std::ifstream in(dir / "round_0007/manifest.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text ==
        "{\n  \"format\": \"flsentry-round/1\",\n  \"round\": 7,\n  \"kind\": "
        "\"weights\",\n"
        "  \"global\": \"global.safetensors\",\n  \"clients\": [\n    {\n"
        "      \"id\": \"c\",\n      \"file\": \"c.safetensors\",\n"
        "      \"num_examples\": 3\n    }\n  ]\n}\n");
}

TEST_CASE("untrusted client ids never escape the round directory") {
  TempDir dir;
  auto writer = RoundArchiveWriter::Open(dir.path);
  REQUIRE(writer.ok());
  REQUIRE(writer->BeginRound(1, ArchiveKind::kDelta, {}).ok());
  const std::vector<std::string> ids = {
      "../../evil", "a/b",           ".hidden",          "global",
      "a_b",        "manifest.json", "\xC3\xA9t\xC3\xA9"};
  for (const std::string& id : ids) {
    REQUIRE(
        writer->AddClient({id, 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
            .ok());
  }
  CHECK(
      writer->AddClient({"a/b", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
          .code() == ErrorCode::kInvalidArgument);
  CHECK(writer->AddClient({"", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
            .code() == ErrorCode::kInvalidArgument);
  CHECK(writer
            ->AddClient({"bad\xFF", 1, ArchiveLabel::kUnknown, ""},
                        Views(kGlobal))
            .code() == ErrorCode::kInvalidArgument);
  REQUIRE(writer->FinishRound().ok());
  // Only round_0001 in the archive root, nothing written outside it.
  std::vector<std::string> root;
  for (auto& e : fs::directory_iterator(dir.path))
    root.push_back(e.path().filename());
  CHECK(root == std::vector<std::string>{"round_0001"});
  auto archive = OpenRoundArchive(dir.path);
  REQUIRE(archive.ok());
  const ArchiveRound& round = archive->rounds[0];
  REQUIRE(round.clients.size() == ids.size());
  std::set<std::string> files;
  for (size_t i = 0; i < ids.size(); ++i) {
    CHECK(round.clients[i].id == ids[i]);
    const std::string& f = round.clients[i].file;
    CHECK(f.find('/') == std::string::npos);
    CHECK(f.front() != '.');
    CHECK(f != "global.safetensors");
    CHECK(files.insert(f).second);
    CHECK(ReadArchiveClient(round, i).ok());
  }
  CHECK(round.clients[1].file == "a_b.safetensors");
  CHECK(round.clients[4].file == "a_b_2.safetensors");
}

TEST_CASE("SanitizeFileStem") {
  CHECK(SanitizeFileStem("client_007") == "client_007");
  CHECK(SanitizeFileStem("..") == "_.");
  CHECK(SanitizeFileStem("") == "_");
  CHECK(SanitizeFileStem("a b/c\\d") == "a_b_c_d");
  CHECK(SanitizeFileStem(std::string(500, 'x')).size() == 96);
}

TEST_CASE(
    "an unfinished round leaves no round directory, and rounds are never "
    "overwritten") {
  TempDir dir;
  {
    auto writer = RoundArchiveWriter::Open(dir.path);
    REQUIRE(writer.ok());
    REQUIRE(writer->BeginRound(1, ArchiveKind::kDelta, Views(kGlobal)).ok());
    REQUIRE(
        writer->AddClient({"a", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
            .ok());
    CHECK(writer->BeginRound(2, ArchiveKind::kDelta, {}).code() ==
          ErrorCode::kInvalidArgument);
    CHECK(fs::exists(dir / ".round_0001.partial"));
  }  // destroyed mid-round
  CHECK(fs::is_empty(dir.path));
  auto writer = RoundArchiveWriter::Open(dir.path);
  REQUIRE(writer.ok());
  CHECK(writer->BeginRound(1, ArchiveKind::kWeights, {}).code() ==
        ErrorCode::kInvalidArgument);  // weights need a global model
  CHECK(writer->AddClient({"a", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
            .code() == ErrorCode::kInvalidArgument);  // no round in progress
  REQUIRE(writer->BeginRound(1, ArchiveKind::kDelta, {}).ok());
  REQUIRE(writer->FinishRound().ok());
  Status again = writer->BeginRound(1, ArchiveKind::kDelta, {});
  CHECK(again.code() == ErrorCode::kInvalidArgument);
  CHECK(again.message().find("already exists") != std::string::npos);
  CHECK(RoundArchiveWriter::Open(dir.path, {".npy"}).status().code() ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("a flat folder of update files is one round") {
  TempDir dir;
  REQUIRE(WriteTensorFile(dir / "b.safetensors", Views(kGlobal)).ok());
  REQUIRE(WriteTensorFile(dir / "a.pth", Views(kGlobal)).ok());
  REQUIRE(WriteTensorFile(dir / "a.safetensors", Views(kGlobal)).ok());
  WriteText(dir / "notes.txt", "ignored");
  auto archive = OpenRoundArchive(dir.path);
  REQUIRE_MESSAGE(archive.ok(), archive.status().message());
  CHECK(archive->flat);
  REQUIRE(archive->rounds.size() == 1);
  const ArchiveRound& r = archive->rounds[0];
  CHECK(r.number == 1);
  CHECK(r.kind == ArchiveKind::kDelta);
  CHECK(r.global_file.empty());
  CHECK_FALSE(r.HasLabels());
  REQUIRE(r.clients.size() == 3);
  CHECK(r.clients[0].id == "a.pth");  // stems collide: full file names
  CHECK(r.clients[1].id == "a.safetensors");
  CHECK(r.clients[2].id == "b");
  CHECK(ReadArchiveClient(r, 0).ok());
  CHECK(ReadArchiveGlobal(r).ok());
}

std::string Manifest(
    const std::string& format = "flsentry-round/1",
    const std::string& clients =
        R"([{"id": "a", "file": "a.safetensors", "num_examples": 5}])") {
  return R"({"format": ")" + format +
         R"(", "round": 3, "kind": "delta", "clients": )" + clients + "}";
}

TEST_CASE("archives that cannot be read fail with a message naming the file") {
  struct Case {
    const char* what;
    std::string manifest;  // "" = no manifest file
    ErrorCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"missing manifest", "", ErrorCode::kNotFound, "missing manifest"},
      {"bad JSON", "{\"format\": ", ErrorCode::kCorrupt, "bad JSON"},
      {"unknown version", Manifest("flsentry-round/2"), ErrorCode::kUnsupported,
       "unknown format version \"flsentry-round/2\""},
      {"no format", R"({"round": 1, "kind": "delta", "clients": []})",
       ErrorCode::kCorrupt, "\"format\" is missing"},
      {"bad kind",
       R"({"format": "flsentry-round/1", "round": 1, "kind": "x", "clients": []})",
       ErrorCode::kCorrupt, "\"kind\""},
      {"negative round",
       R"({"format": "flsentry-round/1", "round": -1, "kind": "delta", "clients": []})",
       ErrorCode::kCorrupt, "\"round\""},
      {"escaping file",
       Manifest("flsentry-round/1",
                R"([{"id": "a", "file": "../x.pth", "num_examples": 1}])"),
       ErrorCode::kCorrupt, "clients[0].file"},
      {"absolute file",
       Manifest("flsentry-round/1",
                R"([{"id": "a", "file": "/etc/passwd", "num_examples": 1}])"),
       ErrorCode::kCorrupt, "clients[0].file"},
      {"duplicate id",
       Manifest("flsentry-round/1",
                R"([{"id": "a", "file": "a", "num_examples": 1},
                                    {"id": "a", "file": "b", "num_examples": 1}])"),
       ErrorCode::kCorrupt, "appears more than once"},
      {"bad label",
       Manifest(
           "flsentry-round/1",
           R"([{"id": "a", "file": "a", "num_examples": 1, "label": "evil"}])"),
       ErrorCode::kCorrupt, "clients[0].label"},
      {"fractional examples",
       Manifest("flsentry-round/1",
                R"([{"id": "a", "file": "a", "num_examples": 1.5}])"),
       ErrorCode::kCorrupt, "num_examples"},
      {"key given twice (parsers disagree which one counts)",
       R"({"format": "flsentry-round/1", "round": 1, "round": 2, "kind": "delta", "clients": []})",
       ErrorCode::kCorrupt, "key \"round\" given twice"},
      {"weights without global",
       R"({"format": "flsentry-round/1", "round": 1, "kind": "weights", "clients": []})",
       ErrorCode::kCorrupt, "requires a \"global\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    TempDir dir;
    fs::create_directories(dir / "round_0003");
    if (!c.manifest.empty())
      WriteText(dir / "round_0003/manifest.json", c.manifest);
    auto archive = OpenRoundArchive(dir.path);
    REQUIRE_FALSE(archive.ok());
    CHECK(archive.status().code() == c.code);
    const std::string& m = archive.status().message();
    CAPTURE(m);
    CHECK(m.find("round_0003/manifest.json") != std::string::npos);
    CHECK(m.find(c.message) != std::string::npos);
  }
}

TEST_CASE("other archive-level problems") {
  TempDir dir;
  CHECK(OpenRoundArchive(dir / "absent").status().code() ==
        ErrorCode::kNotFound);
  CHECK(OpenRoundArchive(dir.path).status().code() ==
        ErrorCode::kNotFound);  // empty
  WriteText(dir / "round_0001/manifest.json", Manifest());
  WriteText(dir / "round_1/manifest.json", Manifest());
  auto dup = OpenRoundArchive(dir.path);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().message().find("round 3 appears twice") !=
        std::string::npos);
  // Unknown fields are ignored; a round directory itself opens as one round.
  TempDir one;
  WriteText(
      one / "manifest.json",
      R"({"format": "flsentry-round/1", "round": 4, "kind": "delta", "extra": 1,
                "clients": [{"id": "a", "file": "a.pth", "num_examples": 2, "more": []}]})");
  auto single = OpenRoundArchive(one.path);
  REQUIRE_MESSAGE(single.ok(), single.status().message());
  CHECK(single->rounds[0].number == 4);
}

// A one-round archive with clients a, b and c, and a tensor file and a
// text file outside it.
struct LinkedArchive {
  TempDir dir, outside;
  LinkedArchive() {
    auto writer = RoundArchiveWriter::Open(dir.path);
    REQUIRE(writer.ok());
    REQUIRE(writer->BeginRound(1, ArchiveKind::kDelta, {}).ok());
    for (const char* id : {"a", "b", "c"}) {
      REQUIRE(
          writer->AddClient({id, 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
              .ok());
    }
    REQUIRE(writer->FinishRound().ok());
    WriteText(outside / "secret.txt", "password=hunter2\n");
    REQUIRE(
        WriteTensorFile(outside / "model.safetensors", Views(kGlobal)).ok());
  }
  std::string Round(const std::string& name) const {
    return dir / ("round_0001/" + name);
  }
};

TEST_CASE("symbolic links in a round are refused, never followed") {
  LinkedArchive a;
  // b: a link to a text file outside; c: a link to a tensor file outside.
  fs::remove(a.Round("b.safetensors"));
  fs::create_symlink(a.outside / "secret.txt", a.Round("b.safetensors"));
  fs::remove(a.Round("c.safetensors"));
  fs::create_symlink(a.outside / "model.safetensors", a.Round("c.safetensors"));
  auto archive = OpenRoundArchive(a.dir.path);
  REQUIRE(archive.ok());
  const ArchiveRound& r = archive->rounds[0];
  CHECK(ReadArchiveClient(r, 0).ok());
  // The first 8 bytes of the text, read as a safetensors header length.
  uint64_t as_length = 0;
  for (int i = 7; i >= 0; --i) as_length = (as_length << 8) | "password"[i];
  for (size_t i : {1u, 2u}) {
    CAPTURE(i);
    auto read = ReadArchiveClient(r, i);
    REQUIRE_FALSE(read.ok());
    const std::string& message = read.status().message();
    CHECK(message.find("symbolic link") != std::string::npos);
    CHECK(message.find("password") == std::string::npos);
    CHECK(message.find(std::to_string(as_length)) == std::string::npos);
  }
}

TEST_CASE(
    "a linked directory on the way, round folder or manifest is refused") {
  SUBCASE("a directory on a client's path") {
    LinkedArchive a;
    fs::create_directory_symlink(a.outside.path, a.Round("sub"));
    WriteText(a.Round("manifest.json"),
              Manifest("flsentry-round/1",
                       R"([{"id": "x", "file": "sub/model.safetensors",)"
                       R"( "num_examples": 1}])"));
    auto archive = OpenRoundArchive(a.dir.path);
    REQUIRE(archive.ok());
    auto read = ReadArchiveClient(archive->rounds[0], 0);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().message().find("'sub' is a symbolic link") !=
          std::string::npos);
  }
  SUBCASE("a round folder") {
    LinkedArchive a, other;
    fs::create_directory_symlink(other.Round(""), a.dir / "round_0002");
    auto archive = OpenRoundArchive(a.dir.path);
    REQUIRE_FALSE(archive.ok());
    CHECK(archive.status().message().find("round_0002 is a symbolic link") !=
          std::string::npos);
  }
  SUBCASE("a manifest") {
    LinkedArchive a;
    WriteText(a.outside / "manifest.json", Manifest());
    fs::remove(a.Round("manifest.json"));
    fs::create_symlink(a.outside / "manifest.json", a.Round("manifest.json"));
    auto archive = OpenRoundArchive(a.dir.path);
    REQUIRE_FALSE(archive.ok());
    CHECK(archive.status().message().find("symbolic link") !=
          std::string::npos);
    CHECK_FALSE(OpenRoundArchive(a.Round("")).ok());  // opened as one round
  }
  SUBCASE("a file in a flat folder") {
    LinkedArchive a;
    TempDir flat;
    REQUIRE(WriteTensorFile(flat / "own.safetensors", Views(kGlobal)).ok());
    fs::create_symlink(a.outside / "model.safetensors",
                       flat / "linked.safetensors");
    auto archive = OpenRoundArchive(flat.path);
    REQUIRE(archive.ok());
    REQUIRE(archive->rounds[0].clients.size() == 1);  // the link is not listed
    CHECK(archive->rounds[0].clients[0].id == "own");
  }
}

TEST_CASE("an unreadable client file fails only that client") {
  TempDir dir;
  auto writer = RoundArchiveWriter::Open(dir.path);
  REQUIRE(writer.ok());
  REQUIRE(writer->BeginRound(1, ArchiveKind::kDelta, {}).ok());
  REQUIRE(
      writer->AddClient({"good", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
          .ok());
  REQUIRE(
      writer->AddClient({"bad", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
          .ok());
  REQUIRE(
      writer->AddClient({"gone", 1, ArchiveLabel::kUnknown, ""}, Views(kGlobal))
          .ok());
  REQUIRE(writer->FinishRound().ok());
  WriteText(dir / "round_0001/bad.safetensors", "garbage, not a tensor file");
  fs::remove(dir / "round_0001/gone.safetensors");
  auto archive = OpenRoundArchive(dir.path);
  REQUIRE(archive.ok());
  const ArchiveRound& r = archive->rounds[0];
  CHECK(ReadArchiveClient(r, 0).ok());
  auto bad = ReadArchiveClient(r, 1);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("client \"bad\"") != std::string::npos);
  CHECK(bad.status().message().find("bad.safetensors") != std::string::npos);
  CHECK_FALSE(ReadArchiveClient(r, 2).ok());
}

}  // namespace
}  // namespace flsentry
