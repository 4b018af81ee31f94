// flsentry convert IN OUT [--key PATH] [--json]
//
// Rewrites a tensor file in the format OUT's extension names (.pth, .pt or
// .safetensors), keeping every byte of tensor data; strided tensors are
// written contiguous. Non-tensor scalars become safetensors "__metadata__"
// strings (or the .pth's metadata entry). Prints, as the other commands do,
// one human line on success:
//   wrote OUT (safetensors): 6 tensors, 276 bytes of tensor data, from IN
// and with --json one JSON line instead:
//   {"in", "out", "format", "tensors", "bytes"}
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "tensor/tensor_file.h"

namespace flsentry::cli {
namespace {

std::string ScalarString(const ScalarValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(value));
  return buf;
}

Status RunConvert(const std::string& in, const std::string& out,
                  const std::string& key, bool json) {
  Result<TensorFileFormat> out_format = FormatFromExtension(out);
  if (!out_format.ok()) return out_format.status();
  Result<TensorSet> set = ReadTensorFile(in, {key});
  if (!set.ok()) return set.status();
  std::map<std::string, std::string> metadata;
  for (const auto& [k, v] : set->scalars) metadata[k] = ScalarString(v);
  const std::vector<TensorView> views = set->Views();
  Status written = WriteTensorFile(out, views, metadata);
  if (!written.ok()) return written;
  int64_t bytes = 0;
  for (const TensorView& v : views) {
    bytes += v.numel() * static_cast<int64_t>(DTypeSize(v.dtype));
  }
  if (!json) {
    std::printf(
        "wrote %s (%s): %zu tensors, %lld bytes of tensor data, from "
        "%s\n",
        out.c_str(), std::string(FormatName(*out_format)).c_str(), views.size(),
        static_cast<long long>(bytes), in.c_str());
    return Status::Ok();
  }
  nlohmann::ordered_json summary;
  summary["in"] = in;
  summary["out"] = out;
  summary["format"] = FormatName(*out_format);
  summary["tensors"] = views.size();
  summary["bytes"] = bytes;
  std::printf("%s\n",
              summary
                  .dump(-1, ' ', false,
                        nlohmann::ordered_json::error_handler_t::replace)
                  .c_str());
  return Status::Ok();
}

}  // namespace

void AddConvertCommand(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "convert", "Convert a tensor file between .pth and .safetensors");
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  cmd->add_option("IN", *in, "input tensor file")->required();
  cmd->add_option("OUT", *out, "output file; its extension picks the format")
      ->required();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--key", *key, "dotted key path of the tensor dict to keep");
  cmd->add_flag("--json", *json, "print the summary as one JSON line");
  cmd->callback([result, in, out, key, json] {
    *result = RunConvert(*in, *out, *key, *json);
  });
}

}  // namespace flsentry::cli
