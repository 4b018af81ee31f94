#include "tensor/zip_reader.h"

#include <unzip.h>
#include <zlib.h>

#include <algorithm>
#include <limits>
#include <unordered_set>

namespace flsentry {
namespace {

// A seekable read-only stream over the archive's bytes, for minizip's ioapi.
struct MemoryStream {
  const uint8_t* data;
  uint64_t size;
  uint64_t position = 0;
};

voidpf OpenStream(voidpf, const void* stream, int mode) {
  if ((mode & ZLIB_FILEFUNC_MODE_WRITE) != 0) return nullptr;
  return const_cast<void*>(stream);
}

uLong ReadStream(voidpf, voidpf stream, void* buffer, uLong size) {
  auto* s = static_cast<MemoryStream*>(stream);
  const uint64_t available = s->position < s->size ? s->size - s->position : 0;
  const uint64_t n = std::min<uint64_t>(size, available);
  if (n > 0)
    std::copy_n(s->data + s->position, n, static_cast<uint8_t*>(buffer));
  s->position += n;
  return static_cast<uLong>(n);
}

uLong WriteStream(voidpf, voidpf, const void*, uLong) { return 0; }

ZPOS64_T TellStream(voidpf, voidpf stream) {
  return static_cast<MemoryStream*>(stream)->position;
}

long SeekStream(voidpf, voidpf stream, ZPOS64_T offset, int origin) {
  auto* s = static_cast<MemoryStream*>(stream);
  uint64_t base = 0;
  switch (origin) {
    case ZLIB_FILEFUNC_SEEK_SET:
      base = 0;
      break;
    case ZLIB_FILEFUNC_SEEK_CUR:
      base = s->position;
      break;
    case ZLIB_FILEFUNC_SEEK_END:
      base = s->size;
      break;
    default:
      return -1;
  }
  uint64_t target = 0;
  if (__builtin_add_overflow(base, offset, &target) || target > s->size) {
    return -1;
  }
  s->position = target;
  return 0;
}

int CloseStream(voidpf, voidpf) { return 0; }
int ErrorStream(voidpf, voidpf) { return 0; }

// Entries inflate at most this many times their compressed size (deflate's
// own limit is about 1032:1), so a lying size cannot force a huge buffer.
constexpr uint64_t kMaxInflateRatio = 1100;

}  // namespace

struct ZipReader::Impl {
  MemoryStream stream;
  unzFile zip = nullptr;
  ~Impl() {
    if (zip != nullptr) unzClose(zip);
  }
};

ZipReader::ZipReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZipReader::~ZipReader() = default;

namespace {

// The end-of-central-directory record must end the archive exactly: zips
// that PyTorch writes also carry a zip64 record that minizip prefers, so a
// truncated tail would otherwise go unnoticed.
Status CheckEndRecord(std::span<const uint8_t> archive) {
  constexpr size_t kEndRecordBytes = 22;
  if (archive.size() < kEndRecordBytes) {
    return Corrupt("file of " + std::to_string(archive.size()) +
                   " bytes is too short to be a zip");
  }
  const size_t lowest = archive.size() > kEndRecordBytes + 0xffff
                            ? archive.size() - kEndRecordBytes - 0xffff
                            : 0;
  for (size_t pos = archive.size() - kEndRecordBytes + 1; pos-- > lowest;) {
    const uint8_t* p = archive.data() + pos;
    if (p[0] != 'P' || p[1] != 'K' || p[2] != 5 || p[3] != 6) continue;
    const size_t comment = p[20] | (p[21] << 8);
    if (pos + kEndRecordBytes + comment == archive.size()) return Status::Ok();
  }
  return Corrupt(
      "zip has no end-of-central-directory record at its end "
      "(truncated, or trailing bytes)");
}

}  // namespace

Result<std::unique_ptr<ZipReader>> ZipReader::Open(
    std::span<const uint8_t> archive) {
  FLS_RETURN_IF_ERROR(CheckEndRecord(archive));
  auto impl = std::make_unique<Impl>();
  impl->stream = {archive.data(), archive.size(), 0};
  zlib_filefunc64_def io{};
  io.zopen64_file = OpenStream;
  io.zread_file = ReadStream;
  io.zwrite_file = WriteStream;
  io.ztell64_file = TellStream;
  io.zseek64_file = SeekStream;
  io.zclose_file = CloseStream;
  io.zerror_file = ErrorStream;
  impl->zip = unzOpen2_64(&impl->stream, &io);
  if (impl->zip == nullptr) {
    return Corrupt(
        "not a readable zip archive (no valid central directory; "
        "truncated?)");
  }
  std::unique_ptr<ZipReader> reader(new ZipReader(std::move(impl)));
  unzFile zip = reader->impl_->zip;
  std::unordered_set<std::string> names;
  int err = unzGoToFirstFile(zip);
  while (err == UNZ_OK) {
    if (reader->entries_.size() >= kMaxEntries) {
      return Corrupt("zip lists more than " + std::to_string(kMaxEntries) +
                     " entries");
    }
    unz_file_info64 info{};
    char name[1024];
    if (unzGetCurrentFileInfo64(zip, &info, name, sizeof name, nullptr, 0,
                                nullptr, 0) != UNZ_OK) {
      return Corrupt("zip central directory entry " +
                     std::to_string(reader->entries_.size()) +
                     " is unreadable");
    }
    if (info.size_filename >= sizeof name) {
      return Corrupt("zip entry name longer than " +
                     std::to_string(sizeof name - 1) + " bytes");
    }
    ZipEntry entry;
    entry.name.assign(name, info.size_filename);
    if ((info.flag & 1u) != 0) {
      return Unsupported("zip entry '" + entry.name + "' is encrypted");
    }
    if (info.compression_method != 0 && info.compression_method != Z_DEFLATED) {
      return Unsupported("zip entry '" + entry.name +
                         "' uses compression method " +
                         std::to_string(info.compression_method) +
                         " (only stored and deflate are read)");
    }
    entry.stored = info.compression_method == 0;
    entry.compressed_size = info.compressed_size;
    entry.uncompressed_size = info.uncompressed_size;
    entry.crc32 = static_cast<uint32_t>(info.crc);
    unz64_file_pos pos{};
    if (unzGetFilePos64(zip, &pos) != UNZ_OK) {
      return Corrupt("zip entry '" + entry.name +
                     "' has no directory position");
    }
    entry.directory_position = pos.pos_in_zip_directory;
    entry.directory_file_number = pos.num_of_file;
    if (!names.insert(entry.name).second) {
      return Corrupt("zip lists entry '" + entry.name + "' twice");
    }
    reader->entries_.push_back(std::move(entry));
    err = unzGoToNextFile(zip);
  }
  if (err != UNZ_END_OF_LIST_OF_FILE) {
    return Corrupt("zip central directory is damaged after entry " +
                   std::to_string(reader->entries_.size()));
  }
  return reader;
}

const ZipEntry* ZipReader::Find(std::string_view name) const {
  for (const ZipEntry& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

Result<ZipEntryBytes> ZipReader::Read(const ZipEntry& entry,
                                      uint64_t max_bytes) {
  const std::string who = "zip entry '" + entry.name + "'";
  if (entry.uncompressed_size > max_bytes) {
    return Corrupt(who + " claims " + std::to_string(entry.uncompressed_size) +
                   " bytes, more than the " + std::to_string(max_bytes) +
                   " allowed");
  }
  const uint64_t archive_size = impl_->stream.size;
  if (entry.compressed_size > archive_size) {
    return Corrupt(who + " claims " + std::to_string(entry.compressed_size) +
                   " compressed bytes in a " + std::to_string(archive_size) +
                   "-byte file (truncated?)");
  }
  unzFile zip = impl_->zip;
  unz64_file_pos pos{entry.directory_position, entry.directory_file_number};
  if (unzGoToFilePos64(zip, &pos) != UNZ_OK) {
    return Corrupt(who + ": cannot seek to its directory record");
  }
  if (unzOpenCurrentFile(zip) != UNZ_OK) {
    return Corrupt(who +
                   ": local header is missing or disagrees with the "
                   "central directory");
  }
  struct Closer {
    unzFile zip;
    ~Closer() { unzCloseCurrentFile(zip); }
  } closer{zip};
  ZipEntryBytes out;
  if (entry.stored) {
    if (entry.compressed_size != entry.uncompressed_size) {
      return Corrupt(who + " is stored but its sizes differ (" +
                     std::to_string(entry.compressed_size) + " vs " +
                     std::to_string(entry.uncompressed_size) + ")");
    }
    const uint64_t offset = unzGetCurrentFileZStreamPos64(zip);
    uint64_t end = 0;
    if (__builtin_add_overflow(offset, entry.uncompressed_size, &end) ||
        end > archive_size) {
      return Corrupt(who + " claims " +
                     std::to_string(entry.uncompressed_size) +
                     " bytes at offset " + std::to_string(offset) +
                     ", past the end of the " + std::to_string(archive_size) +
                     "-byte file (truncated?)");
    }
    out.bytes = {impl_->stream.data + offset,
                 static_cast<size_t>(entry.uncompressed_size)};
  } else {
    const uint64_t ratio_limit =
        entry.compressed_size >
                std::numeric_limits<uint64_t>::max() / kMaxInflateRatio
            ? std::numeric_limits<uint64_t>::max()
            : entry.compressed_size * kMaxInflateRatio + 64;
    if (entry.uncompressed_size > ratio_limit) {
      return Corrupt(who + " claims " +
                     std::to_string(entry.uncompressed_size) + " bytes from " +
                     std::to_string(entry.compressed_size) +
                     " compressed bytes, beyond what deflate can produce");
    }
    out.owned = std::make_shared<std::vector<uint8_t>>(
        static_cast<size_t>(entry.uncompressed_size));
    uint64_t done = 0;
    while (done < entry.uncompressed_size) {
      const unsigned step = static_cast<unsigned>(
          std::min<uint64_t>(entry.uncompressed_size - done, 1u << 30));
      const int n = unzReadCurrentFile(zip, out.owned->data() + done, step);
      if (n < 0) return Corrupt(who + ": compressed data is damaged");
      if (n == 0) break;
      done += static_cast<uint64_t>(n);
    }
    uint8_t extra = 0;
    if (done != entry.uncompressed_size ||
        unzReadCurrentFile(zip, &extra, 1) != 0) {
      return Corrupt(who + " inflates to a different size than the " +
                     std::to_string(entry.uncompressed_size) +
                     " bytes it claims");
    }
    out.bytes = {out.owned->data(), out.owned->size()};
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  std::span<const uint8_t> rest = out.bytes;
  while (!rest.empty()) {
    const size_t step = std::min<size_t>(rest.size(), 1u << 30);
    crc = crc32(crc, rest.data(), static_cast<uInt>(step));
    rest = rest.subspan(step);
  }
  // Fuzzing builds skip the CRC so mutated pickles reach the unpickler.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  if (static_cast<uint32_t>(crc) != entry.crc32) {
    return Corrupt(who + " fails its CRC check (damaged data)");
  }
#endif
  return out;
}

}  // namespace flsentry
