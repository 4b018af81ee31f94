// Loading plugins through host_api/aggfilter_host.hpp: version negotiation,
// broken plugins, and a second, unrelated plugin run by the same host code.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "aggfilter_host.hpp"
#include "round_builder.h"

TEST_CASE("flsentry plugin loads and names itself") {
  aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);
  CHECK(plugin.name() == "flsentry");
  CHECK(plugin.api().abi_major == AGGF_ABI_MAJOR);
  CHECK(plugin.api().struct_size >= sizeof(aggf_api));
}

TEST_CASE("an unknown ABI major version gets NULL and a reason") {
  aggfilter::Plugin plugin(FLSENTRY_PLUGIN_PATH);  // keeps it loaded
  void* handle =
      dlopen(FLSENTRY_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  REQUIRE(handle != nullptr);
  auto get_api =
      reinterpret_cast<aggf_get_api_fn>(dlsym(handle, AGGF_ENTRY_SYMBOL));
  const bool found = get_api != nullptr;
  REQUIRE(found);
  char error[128] = {0};
  CHECK(get_api(2, error, sizeof error) == nullptr);
  CHECK(std::string(error).find("major version 1") != std::string::npos);
  CHECK(get_api(0, nullptr, 0) == nullptr);  // NULL error buffer is allowed
}

TEST_CASE("loader errors name the plugin and the problem") {
  auto message_of = [](const char* path) {
    try {
      aggfilter::Plugin plugin(path);
    } catch (const aggfilter::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message_of("/nonexistent/libnothing.so").find("cannot load") !=
        std::string::npos);
  CHECK(message_of(NO_ENTRY_PLUGIN_PATH).find("does not export aggf_get_api") !=
        std::string::npos);
  CHECK(message_of(REFUSING_PLUGIN_PATH).find("only ABI 99 here") !=
        std::string::npos);
}

namespace {
bool filter_has_details(const aggfilter::Plugin& plugin) {
  return plugin.api().struct_size > offsetof(aggf_api, on_round_details);
}
}  // namespace

// The same host code drives both plugins: the interface is generic.
TEST_CASE(
    "a second plugin (L2 norm threshold, in C) runs through the same host "
    "code") {
  for (const char* path : {NORM_PLUGIN_PATH, FLSENTRY_PLUGIN_PATH}) {
    CAPTURE(path);
    aggfilter::Plugin plugin(path);
    aggfilter::Instance filter =
        plugin.create(std::string(path) == NORM_PLUGIN_PATH ? "0.5" : "");
    testhost::RoundBuilder rb;
    rb.AddUpdate("small", testhost::SmallModel(0.1f));
    rb.AddUpdate("medium", testhost::SmallModel(0.15f));
    aggf_round round = rb.Build();
    auto decisions = filter.filter(round);
    REQUIRE(decisions.size() == 2);
    CHECK(decisions[0].action == AGGF_ACTION_ACCEPT);
    CHECK(decisions[0].score > 0.0);
    // Convention 1: the 1.0 plugin's table ends before on_round_details, so
    // the host never calls it and suspicion stays NaN; flsentry (1.1) has
    // it (its values: bad_input_test.cc).
    const bool is_norm = std::string(path) == NORM_PLUGIN_PATH;
    CHECK(filter_has_details(plugin) == !is_norm);
    if (is_norm) CHECK(std::isnan(decisions[0].suspicion));
    auto state = filter.save_state();
    CHECK_FALSE(state.empty());
    filter.load_state(state);
  }
  aggfilter::Plugin norm(NORM_PLUGIN_PATH);
  aggfilter::Instance strict = norm.create("0.2");
  testhost::RoundBuilder rb;
  rb.AddUpdate("big", testhost::SmallModel(1.0f));
  rb.AddUpdate("small", testhost::SmallModel(0.01f));
  aggf_round round = rb.Build();
  auto decisions = strict.filter(round);
  CHECK(decisions[0].action == AGGF_ACTION_DROP);
  CHECK(decisions[0].reason == "norm");
  CHECK(decisions[1].action == AGGF_ACTION_ACCEPT);
  CHECK_THROWS_AS(norm.create("-3"), aggfilter::Error);
}

TEST_CASE("aggfilter.h names every flag here") {
  // Every `#define AGGF_FLAG_<NAME> ((uint32_t)1u << <bit>)` of the header
  // is named <name> by flag_names (replay and hosts print these names; the
  // Python package reads the same table from the header).
  std::ifstream in(FLSENTRY_SOURCE_DIR "/host_api/aggfilter.h");
  std::stringstream text;
  text << in.rdbuf();
  const std::string header = text.str();
  const std::regex define(
      R"(#define AGGF_FLAG_(\w+) \(\(uint32_t\)1u << (\d+)\))");
  int count = 0;
  for (std::sregex_iterator it(header.begin(), header.end(), define), end;
       it != end; ++it, ++count) {
    std::string name = (*it)[1].str();
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    const uint32_t bit = uint32_t{1} << std::stoi((*it)[2].str());
    CHECK(aggfilter::flag_names(bit) == std::vector<std::string>{name});
  }
  CHECK(count >= 13);
  CHECK(aggfilter::flag_names(AGGF_FLAG_NONFINITE | (uint32_t{1} << 30)) ==
        std::vector<std::string>{"nonfinite", "bit30"});
}
