// report_browser_test — renders a real replay's report.html in Debian's
// Chromium (headless) and fails when the page is blank or its charts are
// missing: the rendered DOM must hold the three SVG charts, and the
// screenshot must show the charts' colours over a substantial area.
// Two negative controls (a blank page, and the same report with its SVGs
// removed) must be rejected by the same checks, so the test can fail.
//
// Exit codes: 0 pass, 1 fail, 77 skipped (no chromium on this machine).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "png_decode.h"
#include "replay_test_util.h"

namespace {

using namespace replaytest;

std::string ChromiumPath() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

std::vector<std::string> ChromiumArgs(const std::string& chromium,
                                      const TempDir& profile) {
  return {chromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--hide-scrollbars",
          "--user-data-dir=" + profile.path,
          "--window-size=1200,2000"};
}

struct Rendered {
  std::string dom;
  Image image;
  std::string error;  // non-empty when Chromium failed
};

Rendered Render(const std::string& chromium, const std::string& html_path,
                const TempDir& work) {
  Rendered out;
  TempDir profile;
  const std::string url = "file://" + html_path;
  std::vector<std::string> dom_args = ChromiumArgs(chromium, profile);
  dom_args.push_back("--dump-dom");
  dom_args.push_back(url);
  RunResult dom = Run(dom_args);
  out.dom = dom.out;
  const std::string png = work / "shot.png";
  fs::remove(png);
  std::vector<std::string> shot_args = ChromiumArgs(chromium, profile);
  shot_args.push_back("--screenshot=" + png);
  shot_args.push_back(url);
  RunResult shot = Run(shot_args);
  if (!fs::exists(png)) {
    out.error = "chromium wrote no screenshot (exit " +
                std::to_string(shot.exit_code) +
                "): " + shot.err.substr(0, 2000);
    return out;
  }
  const std::string why = DecodePng(ReadFile(png), &out.image);
  if (!why.empty()) out.error = "screenshot: " + why;
  return out;
}

bool Near(const uint8_t* px, uint32_t rgb, int tolerance = 14) {
  const int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
  return std::abs(px[0] - r) <= tolerance && std::abs(px[1] - g) <= tolerance &&
         std::abs(px[2] - b) <= tolerance;
}

// Returns the reasons the page fails; empty when it passes.
std::vector<std::string> Check(const Rendered& page) {
  std::vector<std::string> problems;
  if (!page.error.empty()) return {page.error};
  const size_t svgs = CountOf(page.dom, "<svg");
  if (svgs < 3)
    problems.push_back("rendered DOM has " + std::to_string(svgs) +
                       " <svg>, want 3");
  for (const char* id : {"id=\"scores\"", "id=\"timeline\"", "id=\"roc\""}) {
    if (page.dom.find(id) == std::string::npos) {
      problems.push_back(std::string("rendered DOM lacks the chart ") + id);
    }
  }
  const Image& img = page.image;
  const size_t pixels = size_t(img.width) * img.height;
  size_t non_white = 0, accepted = 0, dropped = 0, plot_bg = 0;
  const uint8_t* first = img.rgb.data();
  bool single_colour = true;
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* px = &img.rgb[i * 3];
    if (px[0] != first[0] || px[1] != first[1] || px[2] != first[2])
      single_colour = false;
    if (px[0] < 240 || px[1] < 240 || px[2] < 240) ++non_white;
    accepted += Near(px, 0x2b8a3e);    // accepted cells and markers
    dropped += Near(px, 0xc92a2a);     // dropped cells and markers
    plot_bg += Near(px, 0xf8f9fa, 2);  // plot areas of the score and ROC charts
  }
  if (single_colour) problems.push_back("the screenshot is a single colour");
  if (non_white < pixels / 50) {
    problems.push_back("only " + std::to_string(non_white) + " of " +
                       std::to_string(pixels) + " pixels are not white");
  }
  if (accepted < 500)
    problems.push_back("too few 'accepted' green pixels: " +
                       std::to_string(accepted));
  if (dropped < 100)
    problems.push_back("too few 'dropped' red pixels: " +
                       std::to_string(dropped));
  if (plot_bg < 50000)
    problems.push_back("chart plot areas missing: " + std::to_string(plot_bg));
  return problems;
}

int Fail(const std::string& what, const std::vector<std::string>& problems) {
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  for (const std::string& p : problems)
    std::fprintf(stderr, "  %s\n", p.c_str());
  return 1;
}

}  // namespace

int main() {
  const std::string chromium = ChromiumPath();
  if (chromium.empty()) {
    std::fprintf(
        stderr,
        "SKIP: chromium not installed (scripts/setup.sh installs it)\n");
    return 77;
  }
  TempDir dir;
  MakeArchive(dir / "archive", 6);
  WriteFile(dir / "norm.cfg", "1.0");
  RunResult replay = Run({FLSENTRY_BIN, "replay", dir / "archive", "--config",
                          dir / "norm.cfg", "--plugin", NORM_PLUGIN_PATH,
                          "--out", dir / "out"});
  if (replay.exit_code != 0) return Fail("flsentry replay", {replay.err});
  const std::string report = dir / "out/report.html";

  Rendered page = Render(chromium, report, dir);
  std::vector<std::string> problems = Check(page);
  if (!problems.empty())
    return Fail("report.html as rendered by chromium", problems);
  std::printf("report.html: %zu <svg> in the DOM, %ux%u screenshot\n",
              CountOf(page.dom, "<svg"), page.image.width, page.image.height);

  // Negative controls: the checks must reject a blank page and the report
  // with its charts removed.
  WriteFile(dir / "blank.html", "<!DOCTYPE html><html><body></body></html>\n");
  if (Check(Render(chromium, dir / "blank.html", dir)).empty()) {
    return Fail("negative control", {"a blank page passed the checks"});
  }
  std::string stripped = ReadFile(report);
  for (size_t at; (at = stripped.find("<svg")) != std::string::npos;) {
    const size_t end = stripped.find("</svg>", at);
    stripped.erase(at,
                   end == std::string::npos ? std::string::npos : end + 6 - at);
  }
  WriteFile(dir / "nosvg.html", stripped);
  if (Check(Render(chromium, dir / "nosvg.html", dir)).empty()) {
    return Fail("negative control",
                {"the report without its SVGs passed the checks"});
  }
  std::printf("PASS (negative controls rejected)\n");
  return 0;
}
