// Pins the layout of every struct in aggfilter.h: an accidental reorder or
// type change breaks this test (and the build, via static_assert).
#include <doctest/doctest.h>

#include <cstddef>

#include "aggfilter.h"

static_assert(sizeof(aggf_status) == 4 && sizeof(aggf_dtype) == 4 &&
              sizeof(aggf_action) == 4 && sizeof(aggf_update_kind) == 4);

TEST_CASE("aggf_tensor layout") {
  CHECK(offsetof(aggf_tensor, name) == 0);
  CHECK(offsetof(aggf_tensor, name_len) == 8);
  CHECK(offsetof(aggf_tensor, dtype) == 12);
  CHECK(offsetof(aggf_tensor, rank) == 16);
  CHECK(offsetof(aggf_tensor, reserved0) == 20);
  CHECK(offsetof(aggf_tensor, shape) == 24);
  CHECK(offsetof(aggf_tensor, strides) == 32);
  CHECK(offsetof(aggf_tensor, data) == 40);
  CHECK(sizeof(aggf_tensor) == 48);
}

TEST_CASE("aggf_update layout") {
  CHECK(offsetof(aggf_update, client_id) == 0);
  CHECK(offsetof(aggf_update, client_id_len) == 8);
  CHECK(offsetof(aggf_update, kind) == 12);
  CHECK(offsetof(aggf_update, num_examples) == 16);
  CHECK(offsetof(aggf_update, tensors) == 24);
  CHECK(offsetof(aggf_update, num_tensors) == 32);
  CHECK(sizeof(aggf_update) == 40);
}

TEST_CASE("aggf_round layout") {
  CHECK(offsetof(aggf_round, struct_size) == 0);
  CHECK(offsetof(aggf_round, num_updates) == 4);
  CHECK(offsetof(aggf_round, round) == 8);
  CHECK(offsetof(aggf_round, global_tensors) == 16);
  CHECK(offsetof(aggf_round, num_global_tensors) == 24);
  CHECK(offsetof(aggf_round, updates) == 32);
  CHECK(sizeof(aggf_round) == 40);
}

TEST_CASE("aggf_decision layout") {
  CHECK(offsetof(aggf_decision, action) == 0);
  CHECK(offsetof(aggf_decision, flags) == 4);
  CHECK(offsetof(aggf_decision, weight) == 8);
  CHECK(offsetof(aggf_decision, score) == 16);
  CHECK(offsetof(aggf_decision, threshold) == 24);
  CHECK(offsetof(aggf_decision, reason) == 32);
  CHECK(sizeof(aggf_decision) == 32 + AGGF_REASON_SIZE);
}

TEST_CASE("aggf_host_callbacks layout") {
  CHECK(offsetof(aggf_host_callbacks, struct_size) == 0);
  CHECK(offsetof(aggf_host_callbacks, user_data) == 8);
  CHECK(offsetof(aggf_host_callbacks, callback_log) == 16);
  CHECK(sizeof(aggf_host_callbacks) == 24);
}

TEST_CASE("aggf_api is append-only: ABI 1.0 entries keep their offsets") {
  CHECK(offsetof(aggf_api, struct_size) == 0);
  CHECK(offsetof(aggf_api, abi_major) == 4);
  CHECK(offsetof(aggf_api, abi_minor) == 8);
  CHECK(offsetof(aggf_api, plugin_name) == 16);
  CHECK(offsetof(aggf_api, plugin_version) == 24);
  CHECK(offsetof(aggf_api, on_instance_create) == 32);
  CHECK(offsetof(aggf_api, on_instance_destroy) == 40);
  CHECK(offsetof(aggf_api, on_instance_last_error) == 48);
  CHECK(offsetof(aggf_api, on_round_filter) == 56);
  CHECK(offsetof(aggf_api, on_state_save) == 64);
  CHECK(offsetof(aggf_api, on_state_load) == 72);
  CHECK(offsetof(aggf_api, on_round_details) == 80);  // since 1.1
  CHECK(offsetof(aggf_api, on_round_begin) == 88);    // since 1.2
  CHECK(offsetof(aggf_api, on_round_add) == 96);      // since 1.2
  CHECK(offsetof(aggf_api, on_round_end) == 104);     // since 1.2
  CHECK(sizeof(aggf_api) == 112);
}

TEST_CASE("aggf_round_begin layout (since 1.2)") {
  CHECK(offsetof(aggf_round_begin, struct_size) == 0);
  CHECK(offsetof(aggf_round_begin, round) == 8);
  CHECK(offsetof(aggf_round_begin, global_tensors) == 16);
  CHECK(offsetof(aggf_round_begin, num_global_tensors) == 24);
  CHECK(offsetof(aggf_round_begin, reserved1) == 28);
  CHECK(sizeof(aggf_round_begin) == 32);
}

TEST_CASE("aggf_decision_details: its header, then the 1.1 fields") {
  CHECK(offsetof(aggf_decision_details, struct_size) == 0);
  CHECK(offsetof(aggf_decision_details, reserved0) == 4);
  CHECK(offsetof(aggf_decision_details, suspicion) == 8);
  CHECK(sizeof(aggf_decision_details) == 16);
}
