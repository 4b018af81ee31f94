// flsentry import-seed autoencoder.pth -o DETECTOR --reference UPDATE
//                      [--calibrate DIR] [--activations LIST] [--json]
//
// Imports an autoencoder trained by the original Python tool (a state_dict
// of Linear layers, input size = the model's number of parameters) as an
// `identity`-mode detector. UPDATE is one model update whose tensors give
// the layout (names, shapes, flattening order); DIR, when given, holds
// benign updates to calibrate thresholds on. LIST names the activation after
// each Linear ("relu,none,relu,none"); without it the state_dict's keys
// decide (detector/activation.h), and the tool says which was used and what
// it assumed. A LIST of the wrong length is refused with an example of the
// right length that is the architecture the state_dict's keys imply (not
// the legacy all-ReLU layout).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "detector/activation.h"
#include "detector/detector_train.h"
#include "tensor/tensor_file.h"

namespace flsentry::cli {
namespace {

// OK, or the refusal of a stated `activations` list whose length differs
// from the number of Linear layers in `pth`, with the list the keys imply
// as the example. Whatever this cannot read (the file, an unknown name) is
// left to ImportSeedAutoencoder to report.
Status CheckActivationCount(const std::string& pth,
                            const std::string& activations) {
  auto stated = ParseActivationList(activations, 0);
  if (!stated.ok()) return Status::Ok();
  auto seed = ReadTensorFile(pth);
  if (!seed.ok()) return Status::Ok();
  std::vector<std::string> weight_names;
  for (const OwnedTensor& t : seed->tensors) {
    const std::string_view name = t.name;
    if (name.size() > 7 && name.substr(name.size() - 7) == ".weight" &&
        seed->Find(std::string(name.substr(0, name.size() - 7)) + ".bias")) {
      weight_names.push_back(t.name);
    }
  }
  if (weight_names.empty() || weight_names.size() == stated->size()) {
    return Status::Ok();
  }
  const InferredActivations implied = InferActivations(weight_names);
  return InvalidArgument(
      "--activations: " + std::to_string(stated->size()) +
      " activations given for " + std::to_string(weight_names.size()) +
      " Linear layers (one per Linear, e.g. " +
      FormatActivations(implied.activations) +
      (implied.from_indices ? ", what the state_dict keys imply)"
                            : ", the default for a state_dict without "
                              "nn.Sequential indices)"));
}

Status RunImportSeed(const std::string& pth, const std::string& out,
                     const std::string& reference, const std::string& calibrate,
                     const std::string& activations, bool json) {
  if (!activations.empty()) {
    FLS_RETURN_IF_ERROR(CheckActivationCount(pth, activations));
  }
  auto summary =
      ImportSeedAutoencoder(pth, reference, calibrate, out, activations);
  if (!summary.ok()) return summary.status();
  if (json) {
    std::printf("%s\n", summary->dump(2).c_str());
    return Status::Ok();
  }
  const nlohmann::json& s = *summary;
  std::printf("imported %s: layers %s, identity mode\n", pth.c_str(),
              s["layer_sizes"].dump().c_str());
  std::printf("activations: %s, from %s\n",
              s["activations"].get<std::string>().c_str(),
              s["activations_source"].get<std::string>().c_str());
  if (s.contains("assumptions") && !s["assumptions"].empty()) {
    for (const auto& a : s["assumptions"])
      std::printf("  assumed: %s\n", a.get<std::string>().c_str());
    std::printf("  (state the architecture with --activations if not)\n");
  }
  if (!calibrate.empty()) {
    std::printf("calibration: %s\n", (*summary)["calibration"].dump().c_str());
  }
  std::printf("wrote %s\n", out.c_str());
  return Status::Ok();
}

}  // namespace

void AddImportSeedCommand(CLI::App& app, Status* result) {
  auto* cmd = app.add_subcommand(
      "import-seed", "import an autoencoder.pth from the original Python tool");
  auto pth = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto reference = std::make_shared<std::string>();
  auto calibrate = std::make_shared<std::string>();
  auto activations = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("AUTOENCODER", *pth, "autoencoder.pth (state_dict)")
      ->required();
  cmd->add_option("-o,--output", *out, "detector directory to write")
      ->required();
  cmd->add_option("--reference", *reference,
                  "one model update giving the layout")
      ->required();
  cmd->add_option("--calibrate", *calibrate,
                  "folder of benign updates to calibrate on");
  cmd->add_option(
      "--activations", *activations,
      "activation after each Linear layer, e.g. relu,none,relu,none "
      "(default: what the state_dict keys imply)");
  cmd->add_flag("--json", *json, "print the summary as JSON");
  cmd->callback([=] {
    *result =
        RunImportSeed(*pth, *out, *reference, *calibrate, *activations, *json);
  });
}

}  // namespace flsentry::cli
