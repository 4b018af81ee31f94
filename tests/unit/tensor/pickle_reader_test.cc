#include "tensor/pickle_reader.h"

#include <doctest/doctest.h>

#include <string>

namespace flsentry {
namespace {

using namespace std::string_literals;

Result<PickleDocument> Run(const std::string& program,
                           const PickleLimits& limits = {}) {
  return Unpickle(
      {reinterpret_cast<const uint8_t*>(program.data()), program.size()},
      limits);
}

std::string Str(const std::string& s) {  // SHORT_BINUNICODE
  return std::string("\x8c"s) + static_cast<char>(s.size()) + s;
}

void CheckRefused(const std::string& program, const std::string& message_part) {
  Result<PickleDocument> doc = Run(program);
  REQUIRE_FALSE(doc.ok());
  CHECK(doc.status().message().find(message_part) != std::string::npos);
}

TEST_CASE("reads the containers and scalars torch.save emits") {
  // {"a"s: [1, -2, 300, 2**40, 1.5, True, None], "b"s: ("x"s, b"yz"s)}
  const std::string program = std::string("\x80\x02}q\x00("s) + Str("a"s) +
                              "](K\x01J\xfe\xff\xff\xffM\x2c\x01"s +
                              "\x8a\x06\x00\x00\x00\x00\x00\x01"s +
                              "G\x3f\xf8\x00\x00\x00\x00\x00\x00"s + "\x88Ne"s +
                              Str("b"s) + Str("x"s) + "C\x02yz\x86u."s;
  Result<PickleDocument> doc = Run(program);
  REQUIRE_MESSAGE(doc.ok(), doc.status().message());
  const PickleValue* root = doc->root();
  REQUIRE(root->kind == PickleKind::kDict);
  REQUIRE(root->entries.size() == 2);
  CHECK(root->entries[0].first->text == "a"s);
  const PickleValue* list = root->entries[0].second;
  REQUIRE(list->kind == PickleKind::kList);
  REQUIRE(list->items.size() == 7);
  CHECK(list->items[0]->integer == 1);
  CHECK(list->items[1]->integer == -2);
  CHECK(list->items[2]->integer == 300);
  CHECK(list->items[3]->integer == (int64_t{1} << 40));
  CHECK(list->items[4]->real == 1.5);
  CHECK(list->items[5]->boolean);
  CHECK(list->items[6]->kind == PickleKind::kNone);
  const PickleValue* tuple = root->entries[1].second;
  REQUIRE(tuple->kind == PickleKind::kTuple);
  CHECK(tuple->items[1]->kind == PickleKind::kBytes);
  CHECK(tuple->items[1]->text == "yz"s);
}

TEST_CASE("negative LONG1 values are sign-extended") {
  Result<PickleDocument> doc = Run("\x80\x02\x8a\x02\x00\xff."s);  // -256
  REQUIRE(doc.ok());
  CHECK(doc->root()->integer == -256);
}

TEST_CASE("rebuilds tensors from persistent-id storages") {
  const std::string program =
      std::string("\x80\x02"s) + "ccollections\nOrderedDict\nq\x00)R("s +
      Str("w"s) + "ctorch._utils\n_rebuild_tensor_v2\n(("s + Str("storage"s) +
      "ctorch\nHalfStorage\n"s + Str("7"s) + Str("cpu"s) + "K\x0ctQ"s +
      "K\x02K\x03K\x02\x86K\x01K\x03\x86\x89h\x00)Rt"s + "R"s +
      // an nn.Parameter wrapping the same tensor type
      Str("p"s) + "ctorch._utils\n_rebuild_parameter\n"s +
      "ctorch._utils\n_rebuild_tensor_v2\n(("s + Str("storage"s) +
      "ctorch\nBoolStorage\n"s + Str("8"s) + Str("cpu"s) +
      "K\x01tQK\x00))\x89h\x00)Rt"s + "R\x88h\x00)R\x87Ru}b."s;
  Result<PickleDocument> doc = Run(program);
  REQUIRE_MESSAGE(doc.ok(), doc.status().message());
  const PickleValue* root = doc->root();
  REQUIRE(root->entries.size() == 2);
  const PickleTensor& w = root->entries[0].second->tensor;
  REQUIRE(root->entries[0].second->kind == PickleKind::kTensor);
  CHECK(w.storage->storage.dtype == DType::kF16);
  CHECK(w.storage->storage.key == "7"s);
  CHECK(w.storage->storage.numel == 12);
  CHECK(w.storage_offset == 2);
  CHECK(w.shape == std::vector<int64_t>{3, 2});
  CHECK(w.strides == std::vector<int64_t>{1, 3});
  CHECK_FALSE(w.is_parameter);
  const PickleValue* p = root->entries[1].second;
  REQUIRE(p->kind == PickleKind::kTensor);
  CHECK(p->tensor.is_parameter);
  CHECK(p->tensor.storage->storage.dtype == DType::kBool);
  CHECK(p->tensor.shape.empty());
}

TEST_CASE("forbidden globals are refused by name before anything is called") {
  CheckRefused("\x80\x02\x63os\nsystem\n"s, "forbidden global 'os.system'"s);
  CheckRefused("\x80\x02\x63posix\nsystem\n"s,
               "forbidden global 'posix.system'"s);
  CheckRefused(
      "\x80\x02\x63"s
      "builtins\neval\n"s,
      "forbidden global 'builtins.eval'"s);
  CheckRefused("\x80\x04"s + Str("subprocess"s) + Str("Popen"s) + "\x93"s,
               "forbidden global 'subprocess.Popen'"s);
  CheckRefused("\x80\x02\x63torch\nload\n"s, "'torch.load'"s);
}

TEST_CASE("opcodes outside the allow-list are refused by name") {
  CheckRefused("\x80\x02(i__main__\nX\n"s, "'INST'"s);
  CheckRefused("\x80\x02(o"s, "'OBJ'"s);
  CheckRefused("\x80\x02\x82\x01"s, "'EXT1'"s);
  CheckRefused("\x80\x02I42\n."s, "'INT'"s);
  CheckRefused("\x80\x02Pid\n."s, "'PERSID'"s);
  CheckRefused("\x80\x05\x97"s, "'NEXT_BUFFER'"s);
  CheckRefused("\x80\x02\xff"s, "0xff"s);
  CheckRefused("\x80\x01N."s, "protocol 1"s);
}

TEST_CASE("allowed globals cannot be used for anything but their purpose") {
  // Calling a storage class, REDUCE on a non-global, NEWOBJ of a tensor
  // builder, BUILD on a list.
  CheckRefused("\x80\x02\x63torch\nFloatStorage\n)R."s,
               "constructing storage"s);
  CheckRefused("\x80\x02K\x01)R."s, "calling a int"s);
  CheckRefused("\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n)\x81."s,
               "instantiating"s);
  CheckRefused("\x80\x02]}b."s, "BUILD on a list"s);
  CheckRefused("\x80\x02("s + Str("storage"s) +
                   "\x63"s
                   "collections\nOrderedDict\n"s +
                   Str("0"s) + Str("cpu"s) + "K\x01tQ."s,
               "not a torch.*Storage"s);
}

TEST_CASE("malformed programs are corrupt, not crashes") {
  CheckRefused(""s, "without STOP"s);
  CheckRefused("\x80\x02"s, "without STOP"s);
  CheckRefused("\x80\x02X\x00\x01\x00\x00"s, "ends in the middle"s);
  CheckRefused("\x80\x02."s, "empty stack"s);
  CheckRefused("\x80\x02t."s, "no MARK"s);
  CheckRefused("\x80\x02h\x05."s, "never stored"s);
  CheckRefused("\x80\x02K\x01K\x01K\x02s."s, "sets items on a int"s);
  CheckRefused(
      "\x80\x02K\x01K\x02"
      "a."s,
      "appends to a int"s);
  CheckRefused("\x80\x02}(K\x01u."s, "odd number"s);
  CheckRefused("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."s,
               "64 bits"s);
  CheckRefused("\x80\x02\x63os"s, "newline"s);
  CheckRefused("\x80\x02))R."s, "calling a tuple"s);
}

TEST_CASE("limits bound what a hostile program can build") {
  PickleLimits limits;
  limits.max_values = 10;
  std::string many = "\x80\x02]"s;
  for (int i = 0; i < 20; ++i) many += "Na"s;
  many += "."s;
  CHECK(Run(many, limits).status().message().find("more than 10 values"s) !=
        std::string::npos);

  limits = {};
  limits.max_stack = 8;
  CHECK(Run("\x80\x02(((((((((("s, limits).status().message().find("stack"s) !=
        std::string::npos);

  limits = {};
  limits.max_string_bytes = 4;
  CHECK(Run("\x80\x02"s + Str("hello"s) + "."s, limits)
            .status()
            .message()
            .find("exceeds the limit"s) != std::string::npos);
}

TEST_CASE("self-referencing containers parse without recursion") {
  // l = []; l.append(l)
  Result<PickleDocument> doc =
      Run("\x80\x02]q\x00h\x00"
          "a."s);
  REQUIRE(doc.ok());
  CHECK(doc->root()->items.at(0) == doc->root());
}

TEST_CASE("_codecs.encode rebuilds latin-1 bytes") {
  Result<PickleDocument> doc =
      Run("\x80\x02\x63_codecs\nencode\n"s + Str("a\xc3\xbf"s) +
          Str("latin1"s) + "\x86R."s);
  REQUIRE_MESSAGE(doc.ok(), doc.status().message());
  CHECK(doc->root()->kind == PickleKind::kBytes);
  CHECK(doc->root()->text == std::string("a\xff"s));
}

}  // namespace
}  // namespace flsentry
