// flsentry inspect FILE [--key PATH] [--json]
//
// One line per tensor: name, dtype, shape, number of elements, and the sum,
// min and max of its finite values (accumulated in float64) with the count
// of non-finite ones; then the file's non-tensor scalars. --json prints
//   {"file", "format": "pth"|"safetensors",
//    "tensors": [{"name", "dtype", "shape", "numel", "sum", "min", "max",
//                 "nonfinite"}],
//    "scalars": {...}}
// These field names are a stable contract: other tools and people check
// files against them. min and max are null when a tensor has no finite
// values; dtypes use PyTorch's names ("float32", "bfloat16", ...).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "tensor/tensor_file.h"

namespace flsentry::cli {
namespace {

using OJson = nlohmann::ordered_json;

struct TensorSummary {
  int64_t numel = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  int64_t finite = 0;
  int64_t nonfinite = 0;
};

Result<TensorSummary> Summarize(const TensorView& view) {
  TensorSummary s;
  int64_t extent = 0;
  FLS_RETURN_IF_ERROR(ValidateView(view, &s.numel, &extent));
  const auto* base = static_cast<const uint8_t*>(view.data);
  ForEachElementOffset(view, [&](int64_t, int64_t offset) {
    const double x = ElementAsDouble(base + offset, view.dtype, 0);
    if (!std::isfinite(x)) {
      ++s.nonfinite;
      return;
    }
    ++s.finite;
    s.sum += x;
    if (x < s.min) s.min = x;
    if (x > s.max) s.max = x;
  });
  return s;
}

OJson ScalarJson(const ScalarValue& value) {
  return std::visit([](const auto& v) { return OJson(v); }, value);
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return out + "]";
}

std::string Number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

Status RunInspect(const std::string& path, const std::string& key, bool json) {
  TensorFileFormat format = TensorFileFormat::kPth;
  Result<TensorSet> set = ReadTensorFile(path, {key}, &format);
  if (!set.ok()) return set.status();
  const bool progress = ::isatty(STDERR_FILENO) && set->tensors.size() > 1;
  OJson tensors = OJson::array();
  std::string text;
  for (size_t i = 0; i < set->tensors.size(); ++i) {
    const OwnedTensor& tensor = set->tensors[i];
    if (progress) {
      std::fprintf(stderr, "\rinspecting tensor %zu/%zu", i + 1,
                   set->tensors.size());
    }
    Result<TensorSummary> s = Summarize(tensor.view());
    if (!s.ok()) return InvalidArgument(path + ": " + s.status().message());
    const bool any = s->finite > 0;
    if (json) {
      OJson t;
      t["name"] = tensor.name;
      t["dtype"] = TorchName(tensor.dtype);
      t["shape"] = tensor.shape;
      t["numel"] = s->numel;
      t["sum"] = s->sum;
      t["min"] = any ? OJson(s->min) : OJson(nullptr);
      t["max"] = any ? OJson(s->max) : OJson(nullptr);
      t["nonfinite"] = s->nonfinite;
      tensors.push_back(std::move(t));
    } else {
      text += tensor.name + "  " + std::string(TorchName(tensor.dtype)) + "  " +
              ShapeText(tensor.shape) + "  numel=" + std::to_string(s->numel) +
              "  sum=" + Number(s->sum) +
              "  min=" + (any ? Number(s->min) : "-") +
              "  max=" + (any ? Number(s->max) : "-") +
              "  nonfinite=" + std::to_string(s->nonfinite) + "\n";
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (json) {
    OJson out;
    out["file"] = path;
    out["format"] = FormatName(format);
    out["tensors"] = std::move(tensors);
    OJson scalars = OJson::object();
    for (const auto& [k, v] : set->scalars) scalars[k] = ScalarJson(v);
    out["scalars"] = std::move(scalars);
    std::printf("%s\n",
                out.dump(-1, ' ', false,
                         nlohmann::ordered_json::error_handler_t::replace)
                    .c_str());
    return Status::Ok();
  }
  std::printf("%s", text.c_str());
  for (const auto& [k, v] : set->scalars) {
    std::printf("scalar  %s = %s\n", k.c_str(),
                OJson(ScalarJson(v))
                    .dump(-1, ' ', false, OJson::error_handler_t::replace)
                    .c_str());
  }
  return Status::Ok();
}

}  // namespace

void AddInspectCommand(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "inspect", "Print the tensors in a .pth or .safetensors file with sums");
  auto path = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("FILE", *path, "tensor file (.pth or .safetensors)")
      ->required();
  cmd->add_option("--key", *key,
                  "dotted key path of the tensor dict in a nested checkpoint "
                  "(e.g. model)");
  cmd->add_flag("--json", *json, "print one JSON object");
  cmd->callback(
      [result, path, key, json] { *result = RunInspect(*path, *key, *json); });
}

}  // namespace flsentry::cli
