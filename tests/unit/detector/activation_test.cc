// Tests of activation.h: the list syntax and its errors, the legacy
// default, and what a state_dict's keys are read to imply.
#include "detector/activation.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace flsentry {
namespace {

using enum Activation;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("the default is ReLU after every layer but the last") {
  CHECK(DefaultActivations(4) ==
        std::vector<Activation>{kRelu, kRelu, kRelu, kNone});
  CHECK(DefaultActivations(1) == std::vector<Activation>{kNone});
  CHECK(DefaultActivations(0).empty());
}

TEST_CASE("activation lists parse, format, and name what is wrong") {
  auto parsed = ParseActivationList("relu, none,relu ,none", 4);
  REQUIRE(parsed.ok());
  CHECK(*parsed == std::vector<Activation>{kRelu, kNone, kRelu, kNone});
  CHECK(FormatActivations(*parsed) == "relu,none,relu,none");
  CHECK(ParseActivationList("none", 0).ok());  // 0: any count

  auto count = ParseActivationList("relu,none,none", 4);
  REQUIRE_FALSE(count.ok());
  CHECK(count.status().code() == ErrorCode::kInvalidArgument);
  CHECK(Contains(count.status().message(),
                 "3 activations given for 4 Linear layers"));
  auto unknown = ParseActivationList("relu,tanh,relu,none", 4);
  REQUIRE_FALSE(unknown.ok());
  CHECK(Contains(unknown.status().message(), "activation 2 is 'tanh'"));
  CHECK_FALSE(ParseActivationList("relu,,none", 3).ok());
  CHECK_FALSE(ParseActivationList("", 1).ok());
}

TEST_CASE("Sequential indices: a gap is an activation; the latent is none") {
  // The original tool: encoder = Linear, ReLU, Linear; decoder the same.
  const InferredActivations r =
      InferActivations({"encoder.0.weight", "encoder.2.weight",
                        "decoder.0.weight", "decoder.2.weight"});
  CHECK(r.from_indices);
  CHECK(r.activations == std::vector<Activation>{kRelu, kNone, kRelu, kNone});
  REQUIRE(r.assumptions.size() == 1);
  CHECK(Contains(r.assumptions[0], "'encoder.2' and 'decoder.0'"));
}

TEST_CASE("Sequential indices: wide gaps, adjacent and nested modules") {
  const InferredActivations wide = InferActivations(
      {"net.0.weight", "net.3.weight", "net.4.weight", "net.6.weight"});
  CHECK(wide.activations ==
        std::vector<Activation>{kRelu, kRelu, kRelu, kNone});
  REQUIRE(wide.assumptions.size() == 2);
  CHECK(Contains(wide.assumptions[0], "2 modules without parameters"));
  // Adjacent indices: a ModuleList whose forward() applies the activation
  // (flsentry's own layers.<i>), or two Linear in a row; ReLU assumed.
  CHECK(Contains(wide.assumptions[1], "'net.3' and 'net.4' are adjacent"));
  const InferredActivations nested =
      InferActivations({"model.encoder.0.weight", "model.encoder.2.weight",
                        "model.decoder.0.weight"});
  CHECK(nested.activations == std::vector<Activation>{kRelu, kNone, kNone});
}

TEST_CASE("without Sequential indices the documented default is used") {
  const InferredActivations r =
      InferActivations({"fc1.weight", "fc2.weight", "fc3.weight"});
  CHECK_FALSE(r.from_indices);
  CHECK(r.activations == DefaultActivations(3));
  REQUIRE(r.assumptions.size() == 1);
  CHECK(Contains(r.assumptions[0], "'fc1.weight'"));
  const InferredActivations one = InferActivations({"fc.weight"});
  CHECK(one.activations == std::vector<Activation>{kNone});
  CHECK(one.assumptions.empty());
}

}  // namespace
}  // namespace flsentry
