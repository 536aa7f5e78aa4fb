#include "loadgen/run_report.hpp"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace loadgen {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t dot = path.find('.', begin);
    parts.push_back(path.substr(begin, dot - begin));
    if (dot == std::string::npos) return parts;
    begin = dot + 1;
  }
}

// Three significant figures or whole numbers, as a report table wants them.
std::string fmt(double v) {
  char text[64];
  if (std::isnan(v)) return "-";
  const double a = std::abs(v);
  if (a >= 1000) {
    std::snprintf(text, sizeof text, "%.0f", v);
    std::string digits(text), out;
    // Thousands separators.
    const bool negative = digits.front() == '-';
    if (negative) digits.erase(0, 1);
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
      out.push_back(digits[i]);
    }
    return negative ? "-" + out : out;
  }
  if (a >= 100)
    std::snprintf(text, sizeof text, "%.0f", v);
  else if (a >= 10)
    std::snprintf(text, sizeof text, "%.1f", v);
  else if (a >= 1)
    std::snprintf(text, sizeof text, "%.2f", v);
  else if (a == 0)
    return "0";
  else
    std::snprintf(text, sizeof text, "%.3f", v);
  return text;
}

}  // namespace

machine_info this_machine() {
  machine_info m;
  m.cores = std::thread::hardware_concurrency();
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.starts_with("MemTotal:")) {
      m.mem_gb = std::round(std::stod(line.substr(9)) / 1024.0 / 1024.0 * 10) / 10;
      break;
    }
  }
  return m;
}

figure_range run_report::range(const std::string& path) const {
  const auto it = figures.find(path);
  if (it == figures.end() || it->second.empty()) return {NAN, NAN, NAN};
  auto values = it->second;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  const double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {values.front(), median, values.back()};
}

std::string run_report::to_json() const {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& alloc = doc.GetAllocator();
  auto str = [&](const std::string& s) { return rapidjson::Value(s.c_str(), alloc); };
  doc.AddMember("scenario", str(scenario), alloc);
  doc.AddMember("description", str(description), alloc);
  doc.AddMember("status", str(status), alloc);
  if (!message.empty()) doc.AddMember("message", str(message), alloc);
  doc.AddMember("git_rev", str(git_rev), alloc);
  doc.AddMember("started_at", str(started_at), alloc);
  doc.AddMember("load", str(load), alloc);
  doc.AddMember("open_loop", open_loop, alloc);
  rapidjson::Value machine_json(rapidjson::kObjectType);
  machine_json.AddMember("cpu_model", str(machine.cpu_model), alloc);
  machine_json.AddMember("cores", machine.cores, alloc);
  machine_json.AddMember("mem_gb", machine.mem_gb, alloc);
  doc.AddMember("machine", machine_json, alloc);
  doc.AddMember("runs", runs, alloc);
  for (const auto& [path, values] : figures) {
    const auto parts = split_path(path);
    rapidjson::Value* node = &doc;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      if (!node->HasMember(parts[i].c_str())) {
        node->AddMember(str(parts[i]), rapidjson::Value(rapidjson::kObjectType), alloc);
      }
      node = &(*node)[parts[i].c_str()];
    }
    const figure_range r = range(path);
    // JSON has no NaN: a figure that could not be computed is null.
    auto number = [](double v) {
      if (!std::isfinite(v)) return rapidjson::Value();
      // Counts print as integers, not 205618.0.
      if (v == std::floor(v) && std::abs(v) < 9e15) {
        return rapidjson::Value(static_cast<std::int64_t>(v));
      }
      return rapidjson::Value(v);
    };
    node->AddMember(str(parts.back()), number(r.median), alloc);
    if (values.size() > 1) {
      rapidjson::Value triple(rapidjson::kArrayType);
      triple.PushBack(number(r.min), alloc)
          .PushBack(number(r.median), alloc)
          .PushBack(number(r.max), alloc);
      node->AddMember(str(parts.back() + "_range"), triple, alloc);
    }
  }
  if (!reference_name.empty()) {
    if (!doc.HasMember("reference")) {
      doc.AddMember("reference", rapidjson::Value(rapidjson::kObjectType), alloc);
    }
    doc["reference"].AddMember("name", str(reference_name), alloc);
    if (!reference_url.empty()) doc["reference"].AddMember("url", str(reference_url), alloc);
  }
  rapidjson::Value errors_json(rapidjson::kArrayType);
  for (const auto& e : errors) errors_json.PushBack(str(e), alloc);
  doc.AddMember("error_samples", errors_json, alloc);
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  writer.SetMaxDecimalPlaces(4);
  doc.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

namespace {

void flatten(const rapidjson::Value& node, const std::string& prefix, run_report& out) {
  for (auto it = node.MemberBegin(); it != node.MemberEnd(); ++it) {
    const std::string name = it->name.GetString();
    std::string path = prefix;
    if (!path.empty()) path += '.';
    path += name;
    if (it->value.IsObject()) {
      flatten(it->value, path, out);
    } else if (it->value.IsNumber() && !out.figures.count(path)) {
      out.figures[path] = {it->value.GetDouble()};
    } else if (it->value.IsArray() && name.ends_with("_range") && it->value.Size() == 3 &&
               it->value[0].IsNumber() && it->value[1].IsNumber() && it->value[2].IsNumber()) {
      // [min, median, max] stands for the runs: range() of these three gives them back.
      const std::string base = path.substr(0, path.size() - 6);
      out.figures[base] = {it->value[0].GetDouble(), it->value[1].GetDouble(),
                           it->value[2].GetDouble()};
    }
  }
}

}  // namespace

std::string read_report(const std::string& json_text, run_report& out) {
  rapidjson::Document doc;
  doc.Parse(json_text.data(), json_text.size());
  if (doc.HasParseError() || !doc.IsObject()) return "not a results JSON document";
  auto text = [&](const char* key) {
    return doc.HasMember(key) && doc[key].IsString() ? std::string(doc[key].GetString()) : "";
  };
  out.scenario = text("scenario");
  out.description = text("description");
  out.status = text("status");
  out.message = text("message");
  out.git_rev = text("git_rev");
  out.started_at = text("started_at");
  out.load = text("load");
  out.open_loop =
      doc.HasMember("open_loop") && doc["open_loop"].IsBool() && doc["open_loop"].GetBool();
  out.runs = doc.HasMember("runs") && doc["runs"].IsInt() ? doc["runs"].GetInt() : 1;
  if (doc.HasMember("machine") && doc["machine"].IsObject()) {
    const auto& m = doc["machine"];
    if (m.HasMember("cpu_model") && m["cpu_model"].IsString())
      out.machine.cpu_model = m["cpu_model"].GetString();
    if (m.HasMember("cores") && m["cores"].IsUint()) out.machine.cores = m["cores"].GetUint();
    if (m.HasMember("mem_gb") && m["mem_gb"].IsNumber())
      out.machine.mem_gb = m["mem_gb"].GetDouble();
  }
  if (doc.HasMember("reference") && doc["reference"].IsObject()) {
    const auto& ref = doc["reference"];
    if (ref.HasMember("name") && ref["name"].IsString())
      out.reference_name = ref["name"].GetString();
    if (ref.HasMember("url") && ref["url"].IsString()) out.reference_url = ref["url"].GetString();
  }
  for (const char* section :
       {"total", "ops", "services", "loadgen", "hold", "server", "reference"}) {
    if (doc.HasMember(section) && doc[section].IsObject()) flatten(doc[section], section, out);
  }
  return {};
}

std::string run_report::to_markdown() const {
  std::ostringstream md;
  // A figure as "median" or "median (min-max)".
  auto cell = [&](const std::string& path, double scale = 1) {
    if (!has(path)) return std::string("-");
    const auto r = range(path);
    if (figures.at(path).size() < 2 || r.min == r.max) return fmt(r.median * scale);
    return fmt(r.median * scale) + " (" + fmt(r.min * scale) + "–" + fmt(r.max * scale) + ")";
  };
  md << "## " << scenario << "\n\n" << description << "  \n";
  md << "git " << git_rev << ", " << started_at << ", " << machine.cpu_model << " ("
     << machine.cores << " cores, " << fmt(machine.mem_gb) << " GB); " << load;
  if (runs > 1) md << "; " << runs << " runs: median (min–max)";
  md << "\n\n";
  if (status != "ok") {
    md << "**" << status << "**: " << message << "\n\n";
    if (status == "skipped") return md.str();
  }
  std::vector<std::string> services;
  for (const auto& [path, values] : figures) {
    if (path.starts_with("services.") && path.ends_with(".peak_rss_mb")) {
      services.push_back(path.substr(9, path.size() - 9 - 12));
    }
  }
  auto per_service = [&](const std::string& a, const std::string& b, const std::string& unit) {
    std::string out;
    for (const auto& s : services) {
      const std::string base = "services." + s + ".";
      if (!has(base + a)) continue;
      if (!out.empty()) out += "; ";
      out.append(s).append(" ").append(cell(base + a));
      if (!b.empty()) out.append(" / ").append(cell(base + b));
      out.append(" ").append(unit);
    }
    return out.empty() ? std::string("-") : out;
  };
  const std::string latency = "total.latency_ms";
  md << "| metric | value |\n|---|---|\n";
  md << "| throughput | " << cell("total.throughput_per_s") << " req/s";
  if (has("total.events_per_s")) md << " (" << cell("total.events_per_s") << " events/s)";
  md << " |\n";
  md << "| latency p50 / p95 / p99" << (open_loop ? " (from intended send)" : "") << " | "
     << cell(latency + ".p50") << " / " << cell(latency + ".p95") << " / " << cell(latency + ".p99")
     << " ms |\n";
  if (open_loop) {
    md << "| uncorrected p50 / p95 / p99 | " << cell("total.latency_uncorrected_ms.p50") << " / "
       << cell("total.latency_uncorrected_ms.p95") << " / "
       << cell("total.latency_uncorrected_ms.p99") << " ms |\n";
  }
  md << "| idle RSS / peak RSS | " << per_service("idle_rss_mb", "peak_rss_mb", "MB") << " |\n";
  md << "| startup | " << per_service("startup_ms", "", "ms") << " |\n";
  md << "| failed requests | " << cell("total.errors") << " |\n";
  md << "| binary size | " << per_service("binary_mb", "", "MB") << " |\n";
  if (has("loadgen.schedule_lag_ms.p50")) {
    md << "| loadgen schedule lag p50 / p99 | " << cell("loadgen.schedule_lag_ms.p50") << " / "
       << cell("loadgen.schedule_lag_ms.p99") << " ms (sent " << cell("total.sent_per_s")
       << " req/s) |\n";
  }
  if (has("loadgen.cpu_us_per_request")) {
    md << "| loadgen CPU per request | " << cell("loadgen.cpu_us_per_request") << " µs |\n";
  }
  if (!reference_name.empty()) {
    md << "| reference: " << reference_name;
    if (has("reference.throughput_per_s")) {
      md << " (same load, same run) | " << cell("reference.throughput_per_s")
         << " req/s, p50 / p95 / p99 " << cell("reference.latency_ms.p50") << " / "
         << cell("reference.latency_ms.p95") << " / " << cell("reference.latency_ms.p99") << " ms";
      const auto ours = range("total.throughput_per_s"),
                 theirs = range("reference.throughput_per_s");
      const auto our_p50 = range("total.latency_ms.p50"),
                 their_p50 = range("reference.latency_ms.p50");
      if (theirs.median > 0 && their_p50.median > 0) {
        md << "; suite / reference: throughput " << fmt(ours.median / theirs.median) << ", p50 "
           << fmt(our_p50.median / their_p50.median);
      }
      md << " |\n";
    } else {
      md << " | not measured (no --reference-url) |\n";
    }
  }
  if (has("hold.kb_per_connection")) {
    md << "| held connections (idle + streams) | " << cell("hold.idle_open") << " + "
       << cell("hold.streams_open") << ", dropped " << cell("hold.dropped") << " |\n";
    md << "| gateway memory per held connection | " << cell("hold.kb_per_connection") << " KB |\n";
  }

  md << "\n| op | requests | errors | req/s | p50 | p90 | p95 | p99 | p99.9 | max |\n";
  md << "|---|---|---|---|---|---|---|---|---|---|\n";
  std::set<std::string> ops;
  for (const auto& [path, values] : figures) {
    if (path.starts_with("ops.") && path.ends_with(".count"))
      ops.insert(path.substr(4, path.size() - 10));
  }
  auto op_row = [&](const std::string& label, const std::string& base, const std::string& lat) {
    md << "| " << label << " | " << cell(base + ".count") << " | " << cell(base + ".errors")
       << " | " << cell(base + ".throughput_per_s");
    for (const char* p : {"p50", "p90", "p95", "p99", "p999", "max"}) {
      md << " | " << cell(base + '.' + lat + '.' + p);
    }
    md << " |\n";
  };
  for (const auto& op : ops) op_row(op, "ops." + op, "latency_ms");
  op_row("**total**", "total", "latency_ms");
  md << "\nLatencies in ms"
     << (open_loop ? ", measured from each request's intended send time" : "") << ".\n";

  bool server_rows = false;
  for (const auto& s : services) {
    if (!has("services." + s + ".server_latency_ms.p50")) continue;
    if (!server_rows) {
      md << "\n| latency seen by (ms) | requests | p50 | p95 | p99 |\n|---|---|---|---|---|\n";
      md << "| loadgen (client) | " << cell("total.count") << " | " << cell(latency + ".p50")
         << " | " << cell(latency + ".p95") << " | " << cell(latency + ".p99") << " |\n";
      server_rows = true;
    }
    const std::string base = "services." + s + ".server_";
    md << "| " << s << " (server histogram) | " << cell(base + "requests") << " | "
       << cell(base + "latency_ms.p50") << " | " << cell(base + "latency_ms.p95") << " | "
       << cell(base + "latency_ms.p99") << " |\n";
  }
  if (!errors.empty()) {
    md << "\nFailures (first " << errors.size() << "):\n";
    for (const auto& e : errors) md << "- `" << e << "`\n";
  }
  return md.str();
}

std::string summary_table(const std::vector<run_report>& reports) {
  std::ostringstream md;
  md << "| scenario | status | req/s | p50 ms | p99 ms | errors | peak RSS MB (gateway) | vs "
        "reference |\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : reports) {
    auto cell = [&](const std::string& path) {
      return r.has(path) ? fmt(r.range(path).median) : std::string("-");
    };
    std::string status = r.status;
    if (r.status != "ok" && !r.message.empty()) status += ": " + r.message;
    std::string throughput = cell("total.throughput_per_s");
    if (r.has("total.events_per_s")) throughput += " (" + cell("total.events_per_s") + " ev/s)";
    // At a fixed rate both sides send the same: compare latency; at saturation, throughput.
    std::string versus = "-";
    const std::string figure = r.open_loop ? "latency_ms.p50" : "throughput_per_s";
    if (r.has("reference." + figure) && r.range("reference." + figure).median > 0) {
      versus = (r.open_loop ? "p50 " : "req/s ") +
               fmt(r.range("total." + figure).median / r.range("reference." + figure).median) +
               " x " + r.reference_name;
    }
    md << "| " << r.scenario << " | " << status << " | " << throughput << " | "
       << cell("total.latency_ms.p50") << " | " << cell("total.latency_ms.p99") << " | "
       << cell("total.errors") << " | " << cell("services.gateway.peak_rss_mb") << " | " << versus
       << " |\n";
  }
  md << "\nClosed-loop scenarios measure throughput at saturation; open-loop ones (*-rate, "
        "rem-mixed, gateway-c10k) latency at a fixed rate, from each request's intended send "
        "time.\n";
  return md.str();
}

std::string compare_reports(const run_report& a, const run_report& b) {
  std::ostringstream out;
  char line[512];
  out << "A: " << a.scenario << " @ " << a.git_rev << ", " << a.machine.cpu_model << " x"
      << a.machine.cores << ", " << a.started_at << ", " << a.runs << " run(s)\n";
  out << "B: " << b.scenario << " @ " << b.git_rev << ", " << b.machine.cpu_model << " x"
      << b.machine.cores << ", " << b.started_at << ", " << b.runs << " run(s)\n\n";
  auto reference_line = [](const char* side, const run_report& r) {
    if (r.reference_name.empty()) return std::string();
    std::string text = std::string(side) + " reference: " + r.reference_name;
    const auto ours = r.range("total.throughput_per_s"),
               theirs = r.range("reference.throughput_per_s");
    const auto our_p50 = r.range("total.latency_ms.p50"),
               their_p50 = r.range("reference.latency_ms.p50");
    if (r.has("reference.throughput_per_s") && theirs.median > 0 && their_p50.median > 0) {
      text += "; suite / reference: throughput " + fmt(ours.median / theirs.median) + ", p50 " +
              fmt(our_p50.median / their_p50.median);
    } else {
      text += " (not measured)";
    }
    return text + "\n";
  };
  const std::string references = reference_line("A", a) + reference_line("B", b);
  if (!references.empty()) out << references << "\n";
  std::snprintf(line, sizeof line, "%-52s %22s %22s %8s\n", "figure", "A", "B", "B/A");
  out << line;
  auto show = [](const run_report& r, const std::string& path) {
    const auto range = r.range(path);
    if (r.figures.at(path).size() < 2 || range.min == range.max) return fmt(range.median);
    return fmt(range.median) + " (" + fmt(range.min) + "-" + fmt(range.max) + ")";
  };
  for (const auto& [path, values] : a.figures) {
    if (!b.has(path)) continue;
    const auto ra = a.range(path);
    const auto rb = b.range(path);
    const bool both_ranged = values.size() > 1 && b.figures.at(path).size() > 1;
    const bool overlap = both_ranged && ra.min <= rb.max && rb.min <= ra.max;
    char ratio[32] = "-";
    if (ra.median != 0) std::snprintf(ratio, sizeof ratio, "%.3f", rb.median / ra.median);
    std::snprintf(line, sizeof line, "%-52s %22s %22s %8s%s\n", path.c_str(), show(a, path).c_str(),
                  show(b, path).c_str(), ratio, overlap ? "  noise" : "");
    out << line;
  }
  out << "\n\"noise\": the two runs' min-max ranges overlap, so the difference is within "
         "run-to-run variation. Without --repeat there is no range to judge by.\n";
  return out.str();
}

}  // namespace loadgen
