// c_guard.h — the one wrapper around every entry point of the C interface:
// runs a body that returns Status, and turns every outcome, including any
// C++ exception (std::bad_alloc, yaml or json errors, anything thrown),
// into an aggf_status plus error text. Nothing escapes it.
#ifndef FLSENTRY_ABI_C_GUARD_H_
#define FLSENTRY_ABI_C_GUARD_H_

#include <exception>
#include <new>
#include <string>

#include "aggfilter.h"
#include "base/status.h"

namespace flsentry {

// The entry points of aggfilter.h; each returns only the codes its comment
// there lists, so the mapping below is per entry point.
enum class CEntry { kCreate, kFilter, kStateSave, kStateLoad, kOther };

// Maps an internal error to the C code `entry` documents. Codes an entry
// does not list (a bug if reached) become AGGF_ERR_INTERNAL.
inline aggf_status ToCStatus(ErrorCode code, CEntry entry = CEntry::kOther) {
  switch (code) {
    case ErrorCode::kOk:
      return AGGF_OK;
    case ErrorCode::kInvalidArgument:
      return AGGF_ERR_INVALID_ARGUMENT;
    case ErrorCode::kInternal:
      return AGGF_ERR_INTERNAL;
    default:
      break;
  }
  const bool config_like =
      code == ErrorCode::kConfig || code == ErrorCode::kNotFound ||
      code == ErrorCode::kCorrupt || code == ErrorCode::kUnsupported;
  switch (entry) {
    case CEntry::kCreate:
      // A file the configuration names (detector, audit log, state folder)
      // that cannot be read or written is the configuration's problem.
      if (config_like || code == ErrorCode::kIo) return AGGF_ERR_CONFIG;
      if (code == ErrorCode::kState) return AGGF_ERR_STATE;
      return AGGF_ERR_INTERNAL;
    case CEntry::kFilter:
      if (code == ErrorCode::kRoundNumber) return AGGF_ERR_ROUND_NUMBER;
      return AGGF_ERR_ROUND_FAILED;
    case CEntry::kStateSave:
    case CEntry::kStateLoad:
      if (config_like || code == ErrorCode::kState || code == ErrorCode::kIo)
        return AGGF_ERR_STATE;
      return AGGF_ERR_INTERNAL;
    case CEntry::kOther:
      break;
  }
  switch (code) {
    case ErrorCode::kConfig:
    case ErrorCode::kNotFound:
    case ErrorCode::kCorrupt:
    case ErrorCode::kUnsupported:
      return AGGF_ERR_CONFIG;
    case ErrorCode::kState:
      return AGGF_ERR_STATE;
    case ErrorCode::kIo:
    case ErrorCode::kRoundFailed:
      return AGGF_ERR_ROUND_FAILED;
    case ErrorCode::kRoundNumber:
      return AGGF_ERR_ROUND_NUMBER;
    default:
      return AGGF_ERR_INTERNAL;
  }
}

// Runs body() (returning Status). On failure stores the message in
// *error_text (REQUIRES: error_text non-null) and returns the C code;
// clears *error_text on success. Never throws.
template <typename Body>
aggf_status CallGuarded(std::string* error_text, Body&& body,
                        CEntry entry = CEntry::kOther) noexcept {
  try {
    Status status = body();
    if (status.ok()) {
      error_text->clear();
      return AGGF_OK;
    }
    *error_text = status.message();
    return ToCStatus(status.code(), entry);
  } catch (const std::bad_alloc&) {
    try {
      *error_text = "out of memory";
    } catch (...) {
    }
    return AGGF_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    try {
      *error_text = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    return AGGF_ERR_INTERNAL;
  } catch (...) {
    try {
      *error_text = "internal error: unknown exception";
    } catch (...) {
    }
    return AGGF_ERR_INTERNAL;
  }
}

}  // namespace flsentry

#endif  // FLSENTRY_ABI_C_GUARD_H_
