// ResultsMarkdown (benchmark_report_results.h): the header, the protocol
// and its cost, then the sections of benchmark_report_targets.cc and
// benchmark_report_tables.cc.
#include "benchmark_report_results.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace flsentry::bench {
namespace {

std::string SeedList(const std::vector<int>& seeds) {
  std::string s;
  for (const int seed : seeds)
    s += (s.empty() ? "" : ", ") + std::to_string(seed);
  return s;
}

void RunsLine(const RunIndex& index, const ReportContext& ctx,
              std::ostream& out) {
  int finished = 0;
  double cpu = 0.0;
  for (const RunOutcome& r : index.runs()) {
    if (!r.metrics) continue;
    ++finished;
    if (std::isfinite(r.metrics->cpu_seconds)) cpu += r.metrics->cpu_seconds;
  }
  out << "Runs: " << finished << " of " << index.runs().size() << " finished ("
      << ctx.runs_executed
      << " simulated by this invocation, the others resumed from their "
         "summary.json); wall time of this invocation "
      << Fixed(ctx.wall_seconds / 60.0, "%.1f") << " min, " << ctx.jobs
      << " runs at a time with 1 LibTorch thread each"
      << (ctx.load.empty() ? ""
                           : " (load average at the end: " + ctx.load + ")")
      << "; CPU time of all finished runs " << Fixed(cpu / 60.0, "%.1f")
      << " min.\n\n";
}

void AggregatorLines(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  static const std::map<std::string, std::string> kWhat = {
      {"fedavg", "FedAvg without defence"},
      {"filter",
       "FedAvg with the flsentry plugin (not told how many clients are "
       "malicious)"},
      {"median", "coordinate-wise median"},
      {"trimmed_mean", "coordinate-wise trimmed mean"},
      {"multikrum", "Multi-Krum (told f)"},
      {"normclip", "FedAvg of norm-clipped updates"}};
  out << "- Aggregators (parameters per malicious fraction; without attack the "
         "defences keep the setting of the smallest attacked fraction):\n";
  for (const std::string& agg : plan.protocol.aggregators) {
    out << "  - `" << agg << "`: " << kWhat.at(agg);
    for (const double f : plan.protocol.fractions) {
      const auto attacks = plan.protocol.AttacksAt(f);
      const RunSpec* spec =
          attacks.empty() ? nullptr
                          : index.Spec(kBaseShape, f, attacks.front(), agg);
      if (spec != nullptr && !spec->agg_params.empty())
        out << "; " << FractionText(f) << ": " << spec->agg_params;
    }
    out << "\n";
  }
}

void ShapeLines(const Plan& plan, std::ostream& out) {
  const Protocol& p = plan.protocol;
  if (p.shapes.empty()) return;
  out << "- Other shapes (the base config with these keys changed):\n";
  for (const Shape& shape : p.shapes) {
    const ShapeInfo* info = plan.Shape(shape.name);
    out << "  - `" << shape.name
        << "`: " << (info ? ShapeText(*info) : std::string("?")) << " (";
    bool first = true;
    for (const auto& [k, v] : shape.overrides) {
      out << (first ? "" : ", ") << k << "=" << v;
      first = false;
    }
    out << ")";
    const bool honest = std::count(p.honest_shapes.begin(),
                                   p.honest_shapes.end(), shape.name) > 0;
    const bool detection = std::count(p.detection_shapes.begin(),
                                      p.detection_shapes.end(), shape.name) > 0;
    if (honest) out << "; no attack, filter and FedAvg";
    if (detection) {
      out << "; the filter at " << FractionText(p.targets.fraction)
          << " malicious under the detection attacks";
    }
    out << "\n";
  }
}

void ProtocolSection(const Plan& plan, const RunIndex& index,
                     std::ostream& out) {
  const Protocol& p = plan.protocol;
  const ShapeInfo* base = plan.Shape(kBaseShape);
  out << "## Protocol\n\n- Fashion-MNIST. Base shape: " << ShapeText(*base)
      << "; " << base->setting << " (from `" << p.base_config << "`";
  if (!p.overrides.empty()) {
    out << " with";
    for (const auto& [k, v] : p.overrides) out << " " << k << "=" << v;
  }
  out << ").\n- " << p.rounds << " rounds. Every attack starts at round "
      << p.start_round << ". The filter runs the policy `" << p.policy
      << "` as shipped (copied into each filter run's directory); its "
         "`detector.refresh.warmup_rounds` is "
      << plan.policy_warmup_rounds << ": it trusts and learns from the first "
      << plan.policy_warmup_rounds << " rounds";
  if (plan.policy_warmup_rounds < p.start_round) {
    out << ", so the attackers are honest during the warm-up.\n";
  } else {
    out << ". **The attacks start inside the warm-up**: the filter learns "
           "attacked updates as normal in rounds "
        << p.start_round << "-" << plan.policy_warmup_rounds << ".\n";
  }
  out << "- Seeds (a run's seed sets the data split, the malicious set, the "
         "model's initialisation, sampling and training): the filter's runs "
         "and the no-attack FedAvg runs use "
      << SeedList(p.seeds) << "; the other aggregators' runs use "
      << SeedList(p.baseline_seeds)
      << ". Tables give the mean ± sample standard deviation over a cell's "
         "seeds.\n";
  out << "- Malicious fractions 0%";
  for (const double f : p.fractions) out << ", " << FractionText(f);
  out << " of the clients (a fixed, seeded set). Attacks";
  for (const double f : p.fractions) {
    const size_t adaptive = p.AttacksAt(f, true).size();
    out << (f == p.fractions.front() ? " at " : "; at ") << FractionText(f)
        << ": " << p.AttacksAt(f).size();
    if (adaptive > 0) out << " (" << adaptive << " adaptive)";
  }
  out << ". Parameters, read from `configs/sim/attack_<name>.yaml` when the "
         "plan was made:\n";
  for (const auto& [name, details] : plan.attack_details) {
    out << "  - `" << name << "`: " << details
        << (p.IsAdaptive(name) ? " (adaptive)" : "") << "\n";
  }
  AggregatorLines(plan, index, out);
  ShapeLines(plan, out);
  out << "\n";
}

// CPU time per group of runs: what the protocol costs on an idle machine.
void CostSection(const RunIndex& index, std::ostream& out) {
  struct Group {
    int runs = 0;
    int measured = 0;
    double cpu = 0.0;
    double wall = 0.0;
  };
  std::map<std::string, Group> groups;
  std::vector<std::string> order;
  double total = 0.0;
  for (const RunOutcome& r : index.runs()) {
    const std::string key =
        r.spec.shape +
        (r.spec.uses_filter ? ", filter" : ", other aggregators");
    if (!groups.count(key)) order.push_back(key);
    Group& g = groups[key];
    ++g.runs;
    if (!r.metrics || !std::isfinite(r.metrics->cpu_seconds)) continue;
    ++g.measured;
    g.cpu += r.metrics->cpu_seconds;
    g.wall += r.metrics->total_seconds;
    total += r.metrics->cpu_seconds;
  }
  out << "### Cost\n\nCPU time (user + system, the process's own, so "
         "independent of other load) per group of runs. On 2 idle cores, 2 "
         "runs at a time, the protocol takes about the total CPU time / 2.\n\n"
      << TableHeader("runs", {"planned", "measured", "CPU s per run", "CPU min",
                              "round wall s per run"});
  for (const std::string& key : order) {
    const Group& g = groups[key];
    const double n = g.measured > 0 ? g.measured : std::nan("");
    out << "| " << key << " | " << g.runs << " | " << g.measured << " | "
        << Fixed(g.cpu / n, "%.1f") << " | " << Fixed(g.cpu / 60.0, "%.1f")
        << " | " << Fixed(g.wall / n, "%.0f") << " |\n";
  }
  out << "\nTotal " << Fixed(total / 60.0, "%.1f") << " CPU min, i.e. about "
      << Fixed(total / 120.0, "%.1f")
      << " min on 2 idle cores (runs without `cpu_seconds` in their "
         "summary.json are not counted).\n\n";
}

// Error text from files (JSON parse errors quote the bad bytes) as printable
// ASCII for Markdown: other bytes and backticks become '?'.
std::string PrintableText(std::string text) {
  for (char& c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '`') c = '?';
  }
  return text;
}

void RunList(const RunIndex& index, std::ostream& out) {
  std::vector<const RunOutcome*> failed;
  for (const RunOutcome& r : index.runs()) {
    if (!r.metrics) failed.push_back(&r);
  }
  if (failed.empty()) return;
  out << "## Runs that did not finish\n\n";
  for (const RunOutcome* r : failed) {
    out << "- `" << r->spec.id << "`: " << PrintableText(r->error) << "\n";
  }
  out << "\n";
}

}  // namespace

std::string ResultsMarkdown(const Plan& plan, const RunIndex& index,
                            const ReportContext& ctx,
                            const std::vector<std::string>& svg_files) {
  std::ostringstream out;
  out << "# flsentry benchmark results (protocol `" << plan.protocol.name
      << "`)\n\nGenerated by `" << ctx.command << "` at commit `" << ctx.commit
      << "` on " << ctx.date << ".\nMachine: " << ctx.machine << ".\n";
  RunsLine(index, ctx, out);
  ProtocolSection(plan, index, out);
  CostSection(index, out);
  TargetsSection(plan, index, out);
  if (!ctx.notes.empty()) out << "## Notes\n\n" << ctx.notes << "\n\n";
  HonestSection(plan, index, out);
  AttackSections(plan, index, out);
  if (!svg_files.empty()) {
    out << "## Plots\n\n";
    for (const std::string& file : svg_files) {
      const std::string path =
          ctx.svg_rel_dir.empty() ? file : ctx.svg_rel_dir + "/" + file;
      out << "![" << file << "](" << path << ")\n\n";
    }
  }
  RunList(index, out);
  return out.str();
}

}  // namespace flsentry::bench
