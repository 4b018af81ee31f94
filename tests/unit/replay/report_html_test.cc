#include "replay/report_html.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace flsentry::cli {
namespace {

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1))
    ++n;
  return n;
}

ReplayDecision Make(uint64_t round, const std::string& client,
                    aggf_action action, double score, ArchiveLabel label,
                    uint32_t flags = 0) {
  ReplayDecision d;
  d.round = round;
  d.client = client;
  d.label = label;
  d.decision.action = action;
  d.decision.flags = flags;
  d.decision.score = score;
  d.decision.threshold = 2.0;
  d.decision.weight = action == AGGF_ACTION_DROP ? 0 : 1;
  d.decision.reason = action == AGGF_ACTION_DROP ? "anomalous" : "ok";
  return d;
}

const std::string kEvil = "<script>alert('x')</script>&\xFF";

// Five rounds; the evil client is dropped and quarantined in rounds 2-3 and
// 5, on probation in round 4.
PolicyRun MakeRun(bool labels) {
  PolicyRun run;
  run.label = "default";
  run.config_path = "configs/<default>.yaml";
  run.policy_text = "thresholds: {mode: \"robust\"}  # </pre><script>";
  const ArchiveLabel mal =
      labels ? ArchiveLabel::kMalicious : ArchiveLabel::kUnknown;
  const ArchiveLabel ben =
      labels ? ArchiveLabel::kBenign : ArchiveLabel::kUnknown;
  const uint32_t q = AGGF_FLAG_QUARANTINED, p = AGGF_FLAG_PROBATION;
  const uint32_t evil_flags[] = {0, q, q, p, q};
  for (uint64_t r = 1; r <= 5; ++r) {
    ReplayRound round;
    round.number = r;
    round.decisions.push_back(
        Make(r, "client_1", AGGF_ACTION_ACCEPT, 1.0 + r * 0.1, ben));
    round.decisions.push_back(
        Make(r, "client_2", AGGF_ACTION_ACCEPT, NAN, ben));
    round.decisions.push_back(
        Make(r, kEvil, r == 1 ? AGGF_ACTION_DOWNWEIGHT : AGGF_ACTION_DROP,
             5.0 * r, mal, evil_flags[r - 1]));
    run.rounds.push_back(std::move(round));
  }
  return run;
}

TEST_CASE("the report escapes every untrusted text") {
  const std::string html =
      RenderReportHtml(MakeRun(true), "/archive/<a>", "plugin & co");
  CHECK(Count(html, "<script") == 0);
  CHECK(
      html.find(
          "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;\xEF\xBF\xBD") !=
      std::string::npos);
  CHECK(html.find("</pre><script>") == std::string::npos);
  CHECK(html.find("configs/&lt;default&gt;.yaml") != std::string::npos);
  CHECK(html.find("/archive/&lt;a&gt;") != std::string::npos);
  CHECK(html.find("plugin &amp; co") != std::string::npos);
}

TEST_CASE("with labels: scores chart, timeline with spans, ROC curve") {
  const std::string html = RenderReportHtml(MakeRun(true), "a", "p");
  CHECK(Count(html, "<svg") == 3);
  CHECK(Count(html, "id=\"scores\"") == 1);
  CHECK(Count(html, "id=\"timeline\"") == 1);
  CHECK(Count(html, "id=\"roc\"") == 1);
  // Quarantine in rounds 2-3 and 5 are two spans; probation one.
  CHECK(Count(html, "class=\"quarantine\"") == 2);
  CHECK(html.find("quarantine: rounds 2\xE2\x80\x93"
                  "3") != std::string::npos);
  CHECK(Count(html, "class=\"probation\"") == 1);
  // One marker per decision: 5 malicious crosses, 10 benign circles.
  CHECK(Count(html, "<g class=\"mal\"") == 5);
  CHECK(Count(html, "<circle") == 10);
  // One threshold segment per round (all thresholds equal within a round).
  CHECK(Count(html, "class=\"threshold\"") == 5);
  CHECK(html.find("AUC 1") != std::string::npos);
}

TEST_CASE("without labels there is no ROC curve and no malicious marker") {
  const std::string html = RenderReportHtml(MakeRun(false), "a", "p");
  CHECK(Count(html, "<svg") == 2);
  CHECK(Count(html, "id=\"roc\"") == 0);
  CHECK(Count(html, "<g class=\"mal\"") == 0);
}

TEST_CASE("the report is deterministic and self-contained") {
  const std::string a = RenderReportHtml(MakeRun(true), "a", "p");
  CHECK(a == RenderReportHtml(MakeRun(true), "a", "p"));
  CHECK(a.find("http://") == a.find("http://www.w3.org/2000/svg"));
  CHECK(a.find("https://") == std::string::npos);
  CHECK(a.find("<link") == std::string::npos);
  CHECK(a.find("<img") == std::string::npos);
}

TEST_CASE("HtmlEscape keeps valid UTF-8 and replaces everything else") {
  CHECK(HtmlEscape("caf\xC3\xA9 \xF0\x9F\x98\x80") ==
        "caf\xC3\xA9 \xF0\x9F\x98\x80");
  CHECK(HtmlEscape("a\xC0\x80"
                   "b") ==
        "a\xEF\xBF\xBD\xEF\xBF\xBD"
        "b");  // overlong NUL
  CHECK(HtmlEscape("\xED\xA0\x80") ==
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");                // surrogate
  CHECK(HtmlEscape("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
  CHECK(HtmlEscape(std::string("x\0y\x1b", 4)) == "x\xEF\xBF\xBDy\xEF\xBF\xBD");
  CHECK(HtmlEscape("\"<&>'") == "&quot;&lt;&amp;&gt;&#39;");
  CHECK(HtmlEscape("tab\tnl\n") == "tab\tnl\n");
}

}  // namespace
}  // namespace flsentry::cli
