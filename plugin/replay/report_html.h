// report_html.h — the report people look at after `flsentry replay`: one
// self-contained HTML file (inline SVG and CSS; no script, no network) with
//  - the clients' scores per round against the threshold, malicious updates
//    marked when the archive has labels;
//  - a per-client timeline of decisions with quarantine and probation spans
//    (from AGGF_FLAG_QUARANTINED / AGGF_FLAG_PROBATION);
//  - the ROC curve when labels exist;
//  - per-round counts and the policy text used.
// All text from outside (client ids, reasons, attack names, policy text,
// paths) is escaped. Output is deterministic for the same input.
#ifndef FLSENTRY_REPLAY_REPORT_HTML_H_
#define FLSENTRY_REPLAY_REPORT_HTML_H_

#include <string>
#include <string_view>

#include "replay/replay_runner.h"

namespace flsentry::cli {

// Most clients drawn in the timeline; clients with drops, quarantine or
// probation come first, the rest by id. The report says when some are left
// out.
inline constexpr size_t kMaxTimelineClients = 200;

// The whole report as one HTML document.
std::string RenderReportHtml(const PolicyRun& run,
                             std::string_view archive_path,
                             std::string_view plugin_description);

// Escapes & < > " ' for HTML/SVG text and attribute values, and replaces
// bytes that are not valid UTF-8 (and control characters other than tab and
// newline) with U+FFFD, so that any input yields a well-formed document.
std::string HtmlEscape(std::string_view text);

}  // namespace flsentry::cli

#endif  // FLSENTRY_REPLAY_REPORT_HTML_H_
