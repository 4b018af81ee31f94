#include "base/json_reader.h"

#include <set>
#include <string>
#include <vector>

namespace flsentry {
namespace {

// Tracks the keys of every open object while nlohmann parses.
class DuplicateKeys {
 public:
  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event,
                  nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        frames_.push_back({event == Event::object_start, {}, next_name_});
        next_name_.clear();  // an element of an array has no key
        break;
      case Event::object_end:
      case Event::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case Event::key: {
        const std::string key = parsed.get<std::string>();
        next_name_ = key;
        if (!frames_.empty() && frames_.back().is_object &&
            !frames_.back().keys.insert(key).second && error_.empty()) {
          error_ = "key " + nlohmann::json(key).dump() + " given twice in " +
                   Where();
        }
        break;
      }
      case Event::value:
        break;
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  struct Frame {
    bool is_object = false;
    std::set<std::string> keys;
    std::string name;  // the key this container is the value of
  };
  // A JSON pointer to the innermost open container (array elements left
  // out).
  std::string Where() const {
    std::string where;
    for (size_t i = 1; i < frames_.size(); ++i) {
      if (frames_[i].name.empty()) continue;
      const std::string quoted = nlohmann::json(frames_[i].name).dump();
      where += "/" + quoted.substr(1, quoted.size() - 2);
    }
    return where.empty() ? "/" : where;
  }

  std::vector<Frame> frames_;
  std::string next_name_;
  std::string error_;
};

}  // namespace

Result<nlohmann::json> ParseJsonStrict(std::string_view text) {
  DuplicateKeys duplicates;
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(
        text.begin(), text.end(),
        [&](int depth, nlohmann::json::parse_event_t event,
            nlohmann::json& parsed) {
          return duplicates(depth, event, parsed);
        });
  } catch (const nlohmann::json::exception& e) {
    // what() is "[json.exception.parse_error.101] parse error at ...": the
    // bracketed id means nothing to a user and is left out.
    std::string_view what = e.what();
    const size_t id_end = what.find("] ");
    if (!what.empty() && what.front() == '[' &&
        id_end != std::string_view::npos)
      what.remove_prefix(id_end + 2);
    return Corrupt("not valid JSON: " + std::string(what));
  }
  if (!duplicates.error().empty()) return Corrupt(duplicates.error());
  return value;
}

}  // namespace flsentry
