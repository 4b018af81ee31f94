// activation.h — where the autoencoder's activations are: one per Linear
// layer, applied to that layer's output. Names, the list syntax of
// `--activations` and detector.json, the legacy default, and what the keys
// of a PyTorch state_dict imply about them (a state_dict holds parameters
// only, so an activation leaves no key of its own).
#ifndef FLSENTRY_DETECTOR_ACTIVATION_H_
#define FLSENTRY_DETECTOR_ACTIVATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace flsentry {

enum class Activation { kNone, kRelu };

// "none" / "relu".
const char* ActivationName(Activation a);

// The meaning of a detector without a per-layer list (detector.json before
// "activations", `flsentry train`, bootstrap): ReLU after every layer but
// the last, none after the last.
std::vector<Activation> DefaultActivations(size_t layers);

// Parses "relu,none,relu,none" (one name per Linear layer, spaces around a
// name allowed). Errors: kInvalidArgument naming the unknown entry, or
// "N activations given for M Linear layers" when `layers` (if > 0) differs.
Result<std::vector<Activation>> ParseActivationList(std::string_view text,
                                                    size_t layers);
// The inverse: names joined by ','.
std::string FormatActivations(const std::vector<Activation>& activations);

// What the parameter names of a state_dict's Linear layers (the weight
// names, in file order, e.g. "encoder.0.weight") imply.
struct InferredActivations {
  std::vector<Activation> activations;
  // One line per decision the keys could not make, saying what was assumed.
  std::vector<std::string> assumptions;
  // True when every Linear sits in an nn.Sequential (a name ending in
  // ".<index>.weight"), so the gaps between indices were read.
  bool from_indices = false;
};

// Within one nn.Sequential (names sharing everything before ".<index>."),
// a gap between two Linear layers' indices is a module without parameters:
// read as a ReLU (the activation of the original tool). Adjacent indices
// are a ModuleList whose forward() applies activations (flsentry's own
// layers.<i>) or two Linear in a row, which compose to one linear map and
// so are rare: ReLU assumed, and said. After a container's last Linear the
// keys say nothing
// (a trailing module leaves no key): assumed none, the original tool's
// `encoder = Linear, ReLU, Linear` / `decoder = Linear, ReLU, Linear`, and
// said in `assumptions`. The network's last layer is always none. Without
// Sequential indices on every layer, DefaultActivations, said too.
InferredActivations InferActivations(
    const std::vector<std::string>& weight_names);

}  // namespace flsentry

#endif  // FLSENTRY_DETECTOR_ACTIVATION_H_
