// The .pth writer declared in pth_file.h: a protocol-2 pickle of an
// OrderedDict of _rebuild_tensor_v2 calls plus one STORED zip entry per
// tensor, laid out as torch.save lays them out.
#include <zip.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "base/file_writer.h"
#include "tensor/pth_file.h"
#include "tensor/view_bytes.h"

namespace flsentry {
namespace {

constexpr const char* kArchive = "archive";
constexpr uint64_t kAlignment = 64;  // torch.save aligns storages to 64 bytes
constexpr uint16_t kPaddingExtraId = 0x4246;  // "FB", as PyTorch uses
constexpr uint32_t kZipLocalHeaderBytes = 30;
constexpr uint32_t kZip64LocalExtraBytes = 20;

// Builds a protocol-2 pickle program.
class PickleWriter {
 public:
  PickleWriter() { out_ += "\x80\x02"; }
  void Global(std::string_view module, std::string_view name) {
    out_ += 'c';
    out_.append(module);
    out_ += '\n';
    out_.append(name);
    out_ += '\n';
  }
  void String(std::string_view text) {
    out_ += 'X';
    AppendLe(static_cast<uint32_t>(text.size()), 4);
    out_.append(text);
  }
  void Int(int64_t value) {
    if (value >= INT32_MIN && value <= INT32_MAX) {
      out_ += 'J';
      AppendLe(static_cast<uint32_t>(static_cast<int32_t>(value)), 4);
    } else {
      out_ += '\x8a';  // LONG1, 8 bytes two's complement
      out_ += '\x08';
      AppendLe(static_cast<uint64_t>(value), 8);
    }
  }
  void IntTuple(std::span<const int64_t> values) {
    Op('(');
    for (int64_t v : values) Int(v);
    Op('t');
  }
  void EmptyOrderedDict() {
    Global("collections", "OrderedDict");
    Op(')');
    Op('R');
  }
  void Op(char op) { out_ += op; }
  const std::string& program() const { return out_; }

 private:
  void AppendLe(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>(value >> (8 * i));
  }
  std::string out_;
};

std::string_view StorageClass(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "FloatStorage";
    case DType::kF64:
      return "DoubleStorage";
    case DType::kF16:
      return "HalfStorage";
    case DType::kBF16:
      return "BFloat16Storage";
    case DType::kI64:
      return "LongStorage";
    case DType::kI32:
      return "IntStorage";
    case DType::kI16:
      return "ShortStorage";
    case DType::kI8:
      return "CharStorage";
    case DType::kU8:
      return "ByteStorage";
    case DType::kBool:
      return "BoolStorage";
  }
  return "FloatStorage";
}

// The pickle torch.load turns into OrderedDict(name -> tensor); tensor i's
// storage is entry "data/<i>".
std::string StateDictPickle(std::span<const TensorView> tensors) {
  PickleWriter p;
  p.EmptyOrderedDict();
  p.Op('(');
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& view = tensors[i];
    p.String(view.name);
    p.Global("torch._utils", "_rebuild_tensor_v2");
    p.Op('(');
    p.Op('(');  // persistent id
    p.String("storage");
    p.Global("torch", StorageClass(view.dtype));
    p.String(std::to_string(i));
    p.String("cpu");
    p.Int(view.numel());
    p.Op('t');
    p.Op('Q');
    p.Int(0);  // storage offset
    p.IntTuple(view.shape);
    const std::vector<int64_t> strides = ContiguousStrides(view.shape);
    p.IntTuple(strides);
    p.Op('\x89');          // requires_grad = False
    p.EmptyOrderedDict();  // backward hooks
    p.Op('t');
    p.Op('R');
  }
  p.Op('u');
  p.Op('.');
  return p.program();
}

// minizip's file API over a FileWriter, so the writer knows where each
// local header starts.
struct ZipSink {
  FileWriter* writer;
  uint64_t size = 0;  // largest offset written
  Status error;
};

voidpf SinkOpen(voidpf, const void* sink, int) {
  return const_cast<void*>(sink);
}
uLong SinkRead(voidpf, voidpf, void*, uLong) { return 0; }
uLong SinkWrite(voidpf, voidpf stream, const void* buf, uLong size) {
  auto* sink = static_cast<ZipSink*>(stream);
  Status s = sink->writer->Write({static_cast<const uint8_t*>(buf), size});
  if (!s.ok()) {
    sink->error = s;
    return 0;
  }
  sink->size = std::max(sink->size, sink->writer->position());
  return size;
}
ZPOS64_T SinkTell(voidpf, voidpf stream) {
  return static_cast<ZipSink*>(stream)->writer->position();
}
long SinkSeek(voidpf, voidpf stream, ZPOS64_T offset, int origin) {
  auto* sink = static_cast<ZipSink*>(stream);
  uint64_t target = offset;
  if (origin == ZLIB_FILEFUNC_SEEK_CUR) target += sink->writer->position();
  if (origin == ZLIB_FILEFUNC_SEEK_END) target += sink->size;
  Status s = sink->writer->Seek(target);
  if (!s.ok()) {
    sink->error = s;
    return -1;
  }
  return 0;
}
int SinkClose(voidpf, voidpf) { return 0; }
int SinkError(voidpf, voidpf stream) {
  return static_cast<ZipSink*>(stream)->error.ok() ? 0 : 1;
}

class ZipWriter {
 public:
  explicit ZipWriter(FileWriter* writer) : sink_{writer, 0, Status()} {}
  ~ZipWriter() {
    if (zip_ != nullptr) zipClose(zip_, nullptr);
  }

  Status Open() {
    zlib_filefunc64_def io{};
    io.zopen64_file = SinkOpen;
    io.zread_file = SinkRead;
    io.zwrite_file = SinkWrite;
    io.ztell64_file = SinkTell;
    io.zseek64_file = SinkSeek;
    io.zclose_file = SinkClose;
    io.zerror_file = SinkError;
    zip_ = zipOpen2_64(&sink_, APPEND_STATUS_CREATE, nullptr, &io);
    if (zip_ == nullptr) return Failure("cannot start the zip archive");
    return Status::Ok();
  }

  // Adds a STORED entry of `size` bytes whose data starts 64-byte aligned;
  // `produce` writes the bytes through WriteData.
  Status AddEntry(const std::string& name, uint64_t size,
                  const std::function<Status()>& produce) {
    const bool zip64 = size >= 0xffffffffu;
    const uint64_t header_end = sink_.writer->position() +
                                kZipLocalHeaderBytes + name.size() + 4 +
                                (zip64 ? kZip64LocalExtraBytes : 0);
    const uint64_t padding =
        (kAlignment - header_end % kAlignment) % kAlignment;
    std::string extra;
    extra += static_cast<char>(kPaddingExtraId & 0xff);
    extra += static_cast<char>(kPaddingExtraId >> 8);
    extra += static_cast<char>(padding & 0xff);
    extra += static_cast<char>(padding >> 8);
    extra.append(padding, 'Z');
    zip_fileinfo info{};
    if (zipOpenNewFileInZip4_64(
            zip_, name.c_str(), &info, extra.data(),
            static_cast<uInt>(extra.size()), nullptr, 0, nullptr, /*method=*/0,
            /*level=*/0, /*raw=*/0, -MAX_WBITS, DEF_MEM_LEVEL,
            Z_DEFAULT_STRATEGY, nullptr, 0, /*versionMadeBy=*/0,
            /*flagBase=*/0x800 /* UTF-8 names */, zip64 ? 1 : 0) != ZIP_OK) {
      return Failure("cannot add entry '" + name + "'");
    }
    const uint64_t data_start = sink_.writer->position();
    if (data_start % kAlignment != 0) {
      return InternalError("zip entry '" + name +
                           "' data is not 64-byte aligned");
    }
    FLS_RETURN_IF_ERROR(produce());
    if (zipCloseFileInZip(zip_) != ZIP_OK)
      return Failure("cannot finish entry '" + name + "'");
    if (sink_.writer->position() - data_start != size) {
      return InternalError("zip entry '" + name +
                           "' size differs from its plan");
    }
    return Status::Ok();
  }

  Status WriteData(std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
      const size_t step = std::min<size_t>(bytes.size(), 1u << 30);
      if (zipWriteInFileInZip(zip_, bytes.data(),
                              static_cast<unsigned>(step)) != ZIP_OK) {
        return Failure("write failed");
      }
      bytes = bytes.subspan(step);
    }
    return Status::Ok();
  }

  Status Close() {
    const int rc = zipClose(zip_, nullptr);
    zip_ = nullptr;
    if (rc != ZIP_OK) return Failure("cannot write the zip directory");
    return Status::Ok();
  }

 private:
  Status Failure(const std::string& what) {
    if (!sink_.error.ok()) return sink_.error;
    return IoError(sink_.writer->path() + ": " + what);
  }
  ZipSink sink_;
  zipFile zip_ = nullptr;
};

Status WriteString(ZipWriter* zip, const std::string& name,
                   const std::string& text) {
  return zip->AddEntry(name, text.size(), [&] {
    return zip->WriteData(
        {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  });
}

}  // namespace

Status WritePthFile(const std::string& path,
                    std::span<const TensorView> tensors,
                    const std::map<std::string, std::string>& metadata) {
  try {
    std::set<std::string_view> names;
    for (const TensorView& view : tensors) {
      if (!names.insert(view.name).second) {
        return InvalidArgument(path + ": duplicate tensor name '" +
                               std::string(view.name) + "'");
      }
      int64_t numel = 0;
      int64_t extent = 0;
      Status valid = ValidateView(view, &numel, &extent);
      if (!valid.ok()) return valid.WithContext(path);
    }
    FileWriter file;
    FLS_RETURN_IF_ERROR(file.Open(path));
    ZipWriter zip(&file);
    FLS_RETURN_IF_ERROR(zip.Open());
    const std::string archive = kArchive;
    FLS_RETURN_IF_ERROR(
        WriteString(&zip, archive + "/data.pkl", StateDictPickle(tensors)));
    FLS_RETURN_IF_ERROR(WriteString(&zip, archive + "/byteorder", "little"));
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorView& view = tensors[i];
      FLS_RETURN_IF_ERROR(zip.AddEntry(
          archive + "/data/" + std::to_string(i),
          static_cast<uint64_t>(ContiguousByteSize(view)), [&] {
            return StreamViewBytes(view, [&](std::span<const uint8_t> chunk) {
              return zip.WriteData(chunk);
            });
          }));
    }
    if (!metadata.empty()) {
      const nlohmann::json json(metadata);
      FLS_RETURN_IF_ERROR(WriteString(
          &zip, archive + "/extra/flsentry_metadata.json", json.dump()));
    }
    FLS_RETURN_IF_ERROR(WriteString(&zip, archive + "/version", "3\n"));
    FLS_RETURN_IF_ERROR(zip.Close());
    return file.Commit();
  } catch (const std::exception& e) {
    return InternalError(path + ": writing .pth: " + e.what());
  }
}

}  // namespace flsentry
