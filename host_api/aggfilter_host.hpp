// aggfilter_host.hpp — header-only C++ helper for hosts that load an
// aggregation-filter plugin through aggfilter.h.
//
//   aggfilter::Plugin plugin("/path/libflsentry_filter.so");   // dlopen
//   aggfilter::Instance filter = plugin.create(yaml_text, base_dir);
//   std::vector<aggfilter::Decision> d = filter.filter(round);
//   // or on arrival (ABI 1.2): filter.begin(r, global); filter.add(u)...;
//   //                          d = filter.end();
//
// Errors from the plugin or the loader are thrown as aggfilter::Error with
// the plugin's message. Threading: a Plugin may be shared by threads; an
// Instance must be used by one thread at a time (aggfilter.h convention 8).
#ifndef AGGFILTER_HOST_HPP_
#define AGGFILTER_HOST_HPP_

#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aggfilter.h"

namespace aggfilter {

// Thrown by every function below on failure. status() is the plugin's code,
// or AGGF_ERR_INVALID_ARGUMENT for loader problems.
class Error : public std::runtime_error {
 public:
  Error(aggf_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  aggf_status status() const { return status_; }

 private:
  aggf_status status_;
};

// A decision with C++ types. Mirrors aggf_decision.
struct Decision {
  aggf_action action = AGGF_ACTION_DROP;
  uint32_t flags = 0;
  double weight = 0.0;
  double score = 0.0;
  double threshold = 0.0;
  std::string reason;
  // From on_round_details (ABI 1.1); NaN when the plugin predates it or did
  // not judge the update.
  double suspicion = std::numeric_limits<double>::quiet_NaN();

  bool accepted() const { return action != AGGF_ACTION_DROP; }
  bool has_flag(uint32_t flag) const { return (flags & flag) != 0; }
};

inline const char* action_name(aggf_action action) {
  switch (action) {
    case AGGF_ACTION_ACCEPT:
      return "accept";
    case AGGF_ACTION_DOWNWEIGHT:
      return "downweight";
    case AGGF_ACTION_DROP:
      return "drop";
    default:
      return "unknown";
  }
}

// The names of the bits set in `flags`, in bit order, e.g. {"nonfinite",
// "quarantined"}: aggfilter.h's AGGF_FLAG_NAMES; a bit this header does not
// know yet (a newer plugin's) as "bit<N>".
inline std::vector<std::string> flag_names(uint32_t flags) {
  std::vector<std::string> names;
  for (uint32_t bit = 0; bit < 32; ++bit) {
    const uint32_t mask = uint32_t{1} << bit;
    if (!(flags & mask)) continue;
    const char* name = nullptr;
#define AGGF_HOST_FLAG_NAME_(flag, text) \
  if ((flag) == mask) name = (text);
    AGGF_FLAG_NAMES(AGGF_HOST_FLAG_NAME_)
#undef AGGF_HOST_FLAG_NAME_
    names.push_back(name != nullptr ? name : "bit" + std::to_string(bit));
  }
  return names;
}

// One instance of a filter. Move-only; destroys the plugin instance.
class Instance {
 public:
  Instance() = default;
  Instance(const aggf_api* api, aggf_instance* handle)
      : api_(api), handle_(handle) {}
  Instance(Instance&& other) noexcept
      : api_(other.api_),
        handle_(std::exchange(other.handle_, nullptr)),
        added_(std::exchange(other.added_, 0)) {}
  Instance& operator=(Instance&& other) noexcept {
    if (this != &other) {
      reset();
      api_ = other.api_;
      handle_ = std::exchange(other.handle_, nullptr);
      added_ = std::exchange(other.added_, 0);
    }
    return *this;
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance() { reset(); }

  bool valid() const { return handle_ != nullptr; }
  aggf_instance* handle() const { return handle_; }

  // Filters one round; returns one decision per update, in order.
  // Throws Error when the plugin fails the round.
  std::vector<Decision> filter(const aggf_round& round) {
    std::vector<aggf_decision> raw(round.num_updates);
    check(api_->on_round_filter(handle_, &round, raw.data(),
                                static_cast<uint32_t>(raw.size())));
    return convert(raw);
  }

  // Rounds on arrival (ABI 1.2; aggfilter.h, on_round_begin): begin the
  // round, add each update as its client finishes (the update may be
  // freed once add returns), then end it for one decision per update
  // added, in the order added. `global` (may be empty) is borrowed until
  // end() returns: keep the tensors, their names, shapes and data alive.
  // Throws Error when the plugin refuses a call, or when it predates 1.2
  // (has_on_arrival() is false).
  void begin(uint64_t round, const std::vector<aggf_tensor>& global = {}) {
    require_on_arrival();
    aggf_round_begin b{};
    b.struct_size = sizeof b;
    b.round = round;
    b.global_tensors = global.empty() ? nullptr : global.data();
    b.num_global_tensors = static_cast<uint32_t>(global.size());
    check(api_->on_round_begin(handle_, &b));
    added_ = 0;
  }
  void add(const aggf_update& update) {
    require_on_arrival();
    check(api_->on_round_add(handle_, &update));
    ++added_;
  }
  std::vector<Decision> end() {
    require_on_arrival();
    std::vector<aggf_decision> raw(added_);
    added_ = 0;
    check(api_->on_round_end(handle_, raw.data(),
                             static_cast<uint32_t>(raw.size())));
    return convert(raw);
  }

  // Whether the plugin's table has the on-arrival entries (ABI 1.2).
  bool has_on_arrival() const {
    return api_->struct_size > offsetof(aggf_api, on_round_end) &&
           api_->on_round_begin != nullptr && api_->on_round_add != nullptr &&
           api_->on_round_end != nullptr;
  }

 private:
  std::vector<Decision> convert(const std::vector<aggf_decision>& raw) {
    std::vector<Decision> out;
    out.reserve(raw.size());
    for (const aggf_decision& d : raw) {
      Decision c;
      c.action = d.action;
      c.flags = d.flags;
      c.weight = d.weight;
      c.score = d.score;
      c.threshold = d.threshold;
      c.reason.assign(d.reason, strnlen(d.reason, sizeof d.reason));
      out.push_back(std::move(c));
    }
    if (has_round_details()) {
      for (uint32_t i = 0; i < out.size(); ++i) {
        aggf_decision_details details{};
        details.struct_size = sizeof details;
        check(api_->on_round_details(handle_, i, &details));
        out[i].suspicion = details.suspicion;
      }
    }
    return out;
  }
  void require_on_arrival() const {
    if (!has_on_arrival()) {
      throw Error(AGGF_ERR_INVALID_ARGUMENT,
                  "the filter plugin predates ABI 1.2: it cannot take a "
                  "round on arrival (use filter())");
    }
  }

 public:
  // Whether the plugin's table has on_round_details (ABI 1.1; convention 1).
  bool has_round_details() const {
    return api_->struct_size > offsetof(aggf_api, on_round_details) &&
           api_->on_round_details != nullptr;
  }

  // The instance's state as opaque bytes (see on_state_save).
  std::vector<uint8_t> save_state() {
    std::vector<uint8_t> bytes;
    auto sink = [](void* user, const uint8_t* data, uint64_t size) -> int32_t {
      auto* out = static_cast<std::vector<uint8_t>*>(user);
      out->insert(out->end(), data, data + size);
      return 0;
    };
    check(api_->on_state_save(handle_, sink, &bytes));
    return bytes;
  }

  void load_state(const std::vector<uint8_t>& bytes) {
    check(api_->on_state_load(handle_, bytes.data(), bytes.size()));
  }

  std::string last_error() const {
    return handle_ ? api_->on_instance_last_error(handle_) : "";
  }

 private:
  void check(aggf_status status) {
    if (status != AGGF_OK) throw Error(status, last_error());
  }
  void reset() {
    if (handle_) api_->on_instance_destroy(handle_);
    handle_ = nullptr;
  }

  const aggf_api* api_ = nullptr;
  aggf_instance* handle_ = nullptr;
  uint32_t added_ = 0;  // updates added to the round open on arrival
};

// A loaded plugin. The shared object is opened with RTLD_NOW | RTLD_LOCAL |
// RTLD_NODELETE and never unloaded: plugins that link LibTorch crash when
// dlclose'd, so the handle lives until the process exits.
class Plugin {
 public:
  // Throws Error when the file cannot be opened, lacks the entry symbol, or
  // cannot serve AGGF_ABI_MAJOR.
  explicit Plugin(const std::string& path) : path_(path) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) {
      const char* why = dlerror();
      throw Error(AGGF_ERR_INVALID_ARGUMENT, "cannot load filter plugin " +
                                                 path + ": " +
                                                 (why ? why : "unknown error"));
    }
    dlerror();
    void* symbol = dlsym(handle, AGGF_ENTRY_SYMBOL);
    if (!symbol) {
      throw Error(
          AGGF_ERR_INVALID_ARGUMENT,
          "filter plugin " + path + " does not export " + AGGF_ENTRY_SYMBOL);
    }
    aggf_get_api_fn get_api;
    static_assert(sizeof get_api == sizeof symbol);
    std::memcpy(&get_api, &symbol, sizeof get_api);
    char error[256] = {0};
    api_ = get_api(AGGF_ABI_MAJOR, error, sizeof error);
    if (!api_) {
      throw Error(AGGF_ERR_INVALID_ARGUMENT,
                  "filter plugin " + path + " refused ABI version " +
                      std::to_string(AGGF_ABI_MAJOR) + ": " + error);
    }
    if (api_->abi_major != AGGF_ABI_MAJOR ||
        api_->struct_size <
            offsetof(aggf_api, on_state_load) + sizeof api_->on_state_load) {
      throw Error(AGGF_ERR_INVALID_ARGUMENT,
                  "filter plugin " + path + " returned an incompatible table");
    }
  }

  const aggf_api& api() const { return *api_; }
  const std::string& path() const { return path_; }
  std::string name() const { return api_->plugin_name; }
  std::string version() const { return api_->plugin_version; }

  // Creates an instance from configuration bytes. base_dir resolves relative
  // paths in the configuration ("" = current directory). `host` may be null;
  // its user_data must outlive the instance.
  Instance create(std::string_view config, const std::string& base_dir = "",
                  const aggf_host_callbacks* host = nullptr) const {
    aggf_instance* handle = nullptr;
    char error[1024] = {0};
    aggf_status status =
        api_->on_instance_create(config.data(), config.size(),
                                 base_dir.empty() ? nullptr : base_dir.c_str(),
                                 host, &handle, error, sizeof error);
    if (status != AGGF_OK || !handle) {
      throw Error(status == AGGF_OK ? AGGF_ERR_INTERNAL : status, error);
    }
    return Instance(api_, handle);
  }

 private:
  std::string path_;
  const aggf_api* api_ = nullptr;
};

// Convenience for building aggf_tensor values that point into host memory.
// OWNERSHIP: the returned struct borrows the characters of `name` (a string
// literal, or a std::string kept alive), `shape` (never a temporary vector)
// and `data`; they must outlive every call the struct is passed to.
inline aggf_tensor make_tensor(std::string_view name, aggf_dtype dtype,
                               const std::vector<int64_t>& shape,
                               const void* data) {
  aggf_tensor t{};
  t.name = name.data();
  t.name_len = static_cast<uint32_t>(name.size());
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  t.shape = shape.empty() ? nullptr : shape.data();
  t.strides = nullptr;
  t.data = data;
  return t;
}

}  // namespace aggfilter

#endif  // AGGFILTER_HOST_HPP_
