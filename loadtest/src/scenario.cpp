#include "loadgen/scenario.hpp"

#include "loadgen/http_transport.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "loadgen/located_json.hpp"

namespace loadgen {

namespace {

using rapidjson::Value;

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::chrono::nanoseconds seconds_to_ns(double s) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(s * 1e9)));
}

// Walks the document, collecting the first error with its location. Each accessor
// takes the object and its path, so that errors can name the field precisely.
class validator {
 public:
  validator(const located_json& json, value_pools& pools) : json_(json), pools_(pools) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  bool fail(const std::string& path, const std::string& message) {
    if (error_.empty()) {
      error_ = json_.location_of(path) + ": " + (path.empty() ? "(top)" : path) + ": " + message;
    }
    return false;
  }

  static std::string join(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  }

  // Rejects members not in `known`: a misspelt field must not be silently ignored.
  bool only_known(const Value& object, const std::string& path,
                  std::initializer_list<std::string_view> known) {
    for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
      const std::string_view name(it->name.GetString(), it->name.GetStringLength());
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string list;
        for (const auto k : known) list.append(list.empty() ? "" : ", ").append(k);
        return fail(join(path, name), "unknown field (known here: " + list + ")");
      }
    }
    return true;
  }

  const Value* member(const Value& object, std::string_view key) {
    const auto it = object.FindMember(rapidjson::StringRef(key.data(), key.size()));
    return it == object.MemberEnd() ? nullptr : &it->value;
  }

  bool object(const Value& object, const std::string& path, std::string_view key, const Value*& out,
              bool required) {
    out = member(object, key);
    if (out == nullptr)
      return !required || fail(path, "missing required field \"" + std::string(key) + "\"");
    if (!out->IsObject()) return fail(join(path, key), "must be an object");
    return true;
  }

  bool text(const Value& object, const std::string& path, std::string_view key, std::string& out,
            bool required) {
    const Value* v = member(object, key);
    if (v == nullptr)
      return !required || fail(path, "missing required field \"" + std::string(key) + "\"");
    if (!v->IsString() || v->GetStringLength() == 0)
      return fail(join(path, key), "must be a non-empty string");
    out.assign(v->GetString(), v->GetStringLength());
    return true;
  }

  bool number(const Value& object, const std::string& path, std::string_view key, double& out,
              double min, double max, bool required) {
    const Value* v = member(object, key);
    if (v == nullptr)
      return !required || fail(path, "missing required field \"" + std::string(key) + "\"");
    if (!v->IsNumber()) return fail(join(path, key), "must be a number");
    const double d = v->GetDouble();
    if (!(d >= min && d <= max)) {
      std::ostringstream range;
      range << "must be between " << min << " and " << max << ", got " << d;
      return fail(join(path, key), range.str());
    }
    out = d;
    return true;
  }

  template <class Integer>
  bool integer(const Value& object, const std::string& path, std::string_view key, Integer& out,
               std::uint64_t min, std::uint64_t max, bool required) {
    const Value* v = member(object, key);
    if (v == nullptr)
      return !required || fail(path, "missing required field \"" + std::string(key) + "\"");
    if (!v->IsUint64()) return fail(join(path, key), "must be a whole number >= 0");
    const std::uint64_t n = v->GetUint64();
    if (n < min || n > max) {
      return fail(join(path, key), "must be between " + std::to_string(min) + " and " +
                                       std::to_string(max) + ", got " + std::to_string(n));
    }
    out = static_cast<Integer>(n);
    return true;
  }

  bool boolean(const Value& object, const std::string& path, std::string_view key, bool& out) {
    const Value* v = member(object, key);
    if (v == nullptr) return true;
    if (!v->IsBool()) return fail(join(path, key), "must be true or false");
    out = v->GetBool();
    return true;
  }

  // The request fields shared by setup steps and mix entries.
  bool request(const Value& object, const std::string& path, request_spec& out,
               std::vector<std::pair<std::size_t, std::string>>& picks) {
    if (!text(object, path, "name", out.name, true)) return false;
    if (!text(object, path, "method", out.method, false)) return false;
    static constexpr std::string_view methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    if (std::find(std::begin(methods), std::end(methods), out.method) == std::end(methods)) {
      return fail(join(path, "method"), "must be one of GET, POST, PUT, PATCH, DELETE, HEAD");
    }
    std::string target;
    if (!text(object, path, "path", target, true)) return false;
    if (target.front() != '/') return fail(join(path, "path"), "must start with \"/\"");
    if (auto error = request_template::compile_text(target, pools_, out.target); !error.empty()) {
      return fail(join(path, "path"), error);
    }
    for (const auto pool : out.target.picked_pools()) picks.emplace_back(pool, join(path, "path"));
    if (const Value* body = member(object, "body")) {
      if (!body->IsObject() && !body->IsArray())
        return fail(join(path, "body"), "must be a JSON object or array");
      if (auto error = request_template::compile_json(*body, pools_, out.body); !error.empty()) {
        return fail(join(path, "body"), error);
      }
      for (const auto pool : out.body.picked_pools()) picks.emplace_back(pool, join(path, "body"));
    }
    if (const Value* capture = member(object, "capture")) {
      if (!capture->IsObject())
        return fail(join(path, "capture"), "must be an object {\"pool\": \"response field\"}");
      for (auto it = capture->MemberBegin(); it != capture->MemberEnd(); ++it) {
        if (!it->value.IsString() || it->value.GetStringLength() == 0) {
          return fail(join(join(path, "capture"), it->name.GetString()),
                      "must name a response field");
        }
        out.captures.push_back({pools_.pool_index(it->name.GetString()), it->value.GetString()});
      }
    }
    if (const Value* expect = member(object, "expect")) {
      if (!expect->IsArray() || expect->Empty())
        return fail(join(path, "expect"), "must be a non-empty array of status codes");
      for (const auto& code : expect->GetArray()) {
        if (!code.IsInt() || code.GetInt() < 100 || code.GetInt() > 599) {
          return fail(join(path, "expect"), "status codes are whole numbers from 100 to 599");
        }
        out.expect_status.push_back(code.GetInt());
      }
    }
    return integer(object, path, "events_per_request", out.events_per_request, 1, 1'000'000, false);
  }

 private:
  const located_json& json_;
  value_pools& pools_;
  std::string error_;
};

scenario_load_result failure(std::string message) {
  scenario_load_result r;
  r.error = std::move(message);
  return r;
}

// Reads `path` and, recursively, the files it extends (at most 4 deep).
std::string read_located(const std::string& path, located_json& out, int depth) {
  bool ok = false;
  const std::string text = read_file(path, ok);
  if (!ok) return path + ": cannot read the file";
  located_json own;
  if (auto error = own.parse(text, path); !error.empty()) return error;
  const auto& doc = own.document();
  if (!doc.IsObject()) return path + ":1: (top): a scenario is a JSON object";
  const auto base = doc.FindMember("extends");
  if (base == doc.MemberEnd()) {
    out = std::move(own);
    return {};
  }
  if (!base->value.IsString()) return own.location_of("extends") + ": extends: must be a file name";
  if (!own.document().IsObject()) return path + ":1: (top): a scenario is a JSON object";
  if (depth >= 4) return own.location_of("extends") + ": extends: nested more than 4 deep";
  const auto base_path =
      (std::filesystem::path(path).parent_path() / base->value.GetString()).string();
  if (auto error = read_located(base_path, out, depth + 1); !error.empty()) return error;
  out.overlay(own);
  return {};
}

scenario_load_result validate(const located_json& json, const std::string& file_name) {
  scenario_load_result result;
  scenario& s = result.value;
  s.file = file_name;
  load_plan& plan = s.plan;
  validator v(json, s.pools);
  const Value& top = json.document();
  std::vector<std::pair<std::size_t, std::string>> picks;  // pool, where it is picked
  std::vector<bool> filled;                                // per pool: something captures

  auto check = [&]() -> bool {
    if (!v.only_known(top, "",
                      {"name", "description", "extends", "requires", "services", "load", "warmup",
                       "duration_s", "requests", "ramp_s", "timeout_s", "allow_errors", "seed",
                       "setup", "mix", "hold", "headers", "reference"})) {
      return false;
    }
    if (!v.text(top, "", "name", s.name, true)) return false;
    if (!v.text(top, "", "description", s.description, false)) return false;
    std::string requires_route;
    if (!v.text(top, "", "requires", requires_route, true)) return false;
    const auto space = requires_route.find(' ');
    if (space == std::string::npos || requires_route.find('/', space) != space + 1) {
      return v.fail("requires", "must be \"METHOD /path\", e.g. \"GET /api/health\"");
    }
    s.probe_method = requires_route.substr(0, space);
    s.probe_path = requires_route.substr(space + 1);

    if (const Value* services = v.member(top, "services")) {
      static constexpr std::string_view known[] = {"clinic-records", "chat-cache", "event-ingest",
                                                   "rem-store"};
      if (!services->IsArray()) return v.fail("services", "must be an array of service names");
      for (rapidjson::SizeType i = 0; i < services->Size(); ++i) {
        const Value& name = (*services)[i];
        if (!name.IsString() || std::find(std::begin(known), std::end(known),
                                          std::string_view(name.GetString())) == std::end(known)) {
          return v.fail("services[" + std::to_string(i) + "]",
                        "must be one of clinic-records, chat-cache, event-ingest, rem-store");
        }
        s.services.emplace_back(name.GetString());
      }
    }

    // How to send.
    const Value* load = nullptr;
    if (!v.object(top, "", "load", load, true)) return false;
    std::string model;
    if (!v.text(*load, "load", "model", model, true)) return false;
    if (model == "closed") {
      plan.model = arrival_model::closed;
      if (!v.only_known(*load, "load", {"model", "users", "think_ms", "threads"})) return false;
      if (!v.integer(*load, "load", "users", plan.connections, 1, 100'000, true)) return false;
      double think_ms = 0;
      if (!v.number(*load, "load", "think_ms", think_ms, 0, 3'600'000, false)) return false;
      plan.think_time = seconds_to_ns(think_ms / 1000);
    } else if (model == "open") {
      plan.model = arrival_model::open;
      if (!v.only_known(*load, "load",
                        {"model", "rate_per_s", "arrival", "connections", "threads"})) {
        return false;
      }
      if (!v.number(*load, "load", "rate_per_s", plan.rate_per_s, 0.001, 10'000'000, true))
        return false;
      if (!v.integer(*load, "load", "connections", plan.connections, 1, 100'000, true))
        return false;
      std::string arrival = "constant";
      if (!v.text(*load, "load", "arrival", arrival, false)) return false;
      if (arrival != "constant" && arrival != "poisson") {
        return v.fail("load.arrival", "must be \"constant\" or \"poisson\"");
      }
      plan.poisson = arrival == "poisson";
    } else {
      return v.fail("load.model", "must be \"closed\" or \"open\"");
    }
    if (!v.integer(*load, "load", "threads", plan.threads, 1, 256, false)) return false;

    // How long.
    const bool has_duration = v.member(top, "duration_s") != nullptr;
    const bool has_count = v.member(top, "requests") != nullptr;
    if (has_duration == has_count) {
      return v.fail("", "needs exactly one of \"duration_s\" and \"requests\"");
    }
    double seconds = 0;
    if (!v.number(top, "", "duration_s", seconds, 0.1, 30 * 86400, false)) return false;
    plan.duration = seconds_to_ns(seconds);
    if (!v.integer(top, "", "requests", plan.request_count, 1, UINT64_MAX / 2, false)) return false;
    if (const Value* warmup = nullptr; v.object(top, "", "warmup", warmup, false) && warmup) {
      if (!v.only_known(*warmup, "warmup", {"seconds", "requests"})) return false;
      if (has_duration) {
        if (v.member(*warmup, "requests")) {
          return v.fail("warmup.requests", "a run with \"duration_s\" warms up in \"seconds\"");
        }
        double warm_s = 0;
        if (!v.number(*warmup, "warmup", "seconds", warm_s, 0, 3600, true)) return false;
        plan.warmup_time = seconds_to_ns(warm_s);
      } else {
        if (v.member(*warmup, "seconds")) {
          return v.fail("warmup.seconds", "a run with \"requests\" warms up in \"requests\"");
        }
        if (!v.integer(*warmup, "warmup", "requests", plan.warmup_requests, 0, UINT64_MAX / 2,
                       true)) {
          return false;
        }
      }
    } else if (v.failed()) {
      return false;
    }
    double ramp_s = 0, timeout_s = 30;
    if (!v.number(top, "", "ramp_s", ramp_s, 0, 3600, false)) return false;
    if (!v.number(top, "", "timeout_s", timeout_s, 0.001, 3600, false)) return false;
    plan.ramp = seconds_to_ns(ramp_s);
    plan.timeout = seconds_to_ns(timeout_s);
    if (!v.boolean(top, "", "allow_errors", plan.allow_errors)) return false;
    if (!v.integer(top, "", "seed", plan.seed, 0, UINT64_MAX, false)) return false;

    // What to send.
    if (const Value* setup = v.member(top, "setup")) {
      if (!setup->IsArray()) return v.fail("setup", "must be an array of steps");
      for (rapidjson::SizeType i = 0; i < setup->Size(); ++i) {
        const std::string path = "setup[" + std::to_string(i) + "]";
        const Value& step = (*setup)[i];
        if (!step.IsObject()) return v.fail(path, "a step is an object");
        if (!v.only_known(step, path,
                          {"name", "method", "path", "body", "capture", "expect",
                           "events_per_request", "count", "users"})) {
          return false;
        }
        setup_step out;
        if (!v.request(step, path, out.request, picks)) return false;
        if (!v.integer(step, path, "count", out.count, 1, 10'000'000, true)) return false;
        if (!v.integer(step, path, "users", out.users, 1, 10'000, false)) return false;
        s.setup.push_back(std::move(out));
      }
    }
    const Value* mix = v.member(top, "mix");
    if (mix == nullptr) return v.fail("", "missing required field \"mix\"");
    if (!mix->IsArray() || mix->Empty())
      return v.fail("mix", "must be a non-empty array of requests");
    for (rapidjson::SizeType i = 0; i < mix->Size(); ++i) {
      const std::string path = "mix[" + std::to_string(i) + "]";
      const Value& entry = (*mix)[i];
      if (!entry.IsObject()) return v.fail(path, "a request is an object");
      if (!v.only_known(entry, path,
                        {"name", "weight", "method", "path", "body", "capture", "expect",
                         "events_per_request"})) {
        return false;
      }
      request_spec out;
      if (!v.request(entry, path, out, picks)) return false;
      if (!v.number(entry, path, "weight", out.weight, 0.000001, 1e9, false)) return false;
      for (const auto& other : plan.mix) {
        if (other.name == out.name)
          return v.fail(v.join(path, "name"), "\"" + out.name + "\" is used twice");
      }
      plan.mix.push_back(std::move(out));
    }

    if (const Value* headers = nullptr; v.object(top, "", "headers", headers, false) && headers) {
      for (auto it = headers->MemberBegin(); it != headers->MemberEnd(); ++it) {
        const std::string name(it->name.GetString(), it->name.GetStringLength());
        const std::string where = v.join("headers", name);
        if (!it->value.IsString()) return v.fail(where, "must be a string");
        const std::string value(it->value.GetString(), it->value.GetStringLength());
        if (const auto problem = header_problem(name, value); !problem.empty())
          return v.fail(where, problem);
        s.headers.emplace_back(name, value);
      }
    } else if (v.failed()) {
      return false;
    }

    if (const Value* ref = nullptr; v.object(top, "", "reference", ref, false) && ref) {
      if (!v.only_known(*ref, "reference", {"name", "path"})) return false;
      if (!v.text(*ref, "reference", "name", s.reference_name, true)) return false;
      if (!v.text(*ref, "reference", "path", s.reference_path, true)) return false;
      if (s.reference_path.front() != '/') return v.fail("reference.path", "must start with /");
    } else if (v.failed()) {
      return false;
    }

    if (const Value* hold = nullptr; v.object(top, "", "hold", hold, false) && hold) {
      if (!v.only_known(*hold, "hold",
                        {"idle_connections", "idle_path", "streams", "stream_path"})) {
        return false;
      }
      if (!v.integer(*hold, "hold", "idle_connections", s.hold.idle, 0, 1'000'000, false))
        return false;
      if (!v.text(*hold, "hold", "idle_path", s.hold.idle_path, false)) return false;
      if (!v.integer(*hold, "hold", "streams", s.hold.streams, 0, 1'000'000, false)) return false;
      if (s.hold.streams > 0 && !v.text(*hold, "hold", "stream_path", s.hold.stream_path, true)) {
        return false;
      }
    } else if (v.failed()) {
      return false;
    }

    // Every pool picked from must be filled by some capture, or the run cannot start.
    filled.assign(s.pools.pool_count(), false);
    for (const auto& step : s.setup) {
      for (const auto& c : step.request.captures) filled[c.pool] = true;
    }
    for (const auto& spec : plan.mix) {
      for (const auto& c : spec.captures) filled[c.pool] = true;
    }
    for (const auto& [pool, where] : picks) {
      if (!filled[pool]) {
        return v.fail(where, "picks from pool \"" + s.pools.name(pool) +
                                 "\" but no setup step or request captures into it");
      }
    }
    return true;
  };
  if (!check()) return failure(v.error());
  result.ok = true;
  return result;
}

}  // namespace

scenario_load_result load_scenario(const std::string& path) {
  located_json json;
  if (auto error = read_located(path, json, 0); !error.empty()) return failure(error);
  return validate(json, path);
}

scenario_load_result parse_scenario(const std::string& text, const std::string& file_name) {
  located_json json;
  if (auto error = json.parse(text, file_name); !error.empty()) return failure(error);
  if (!json.document().IsObject())
    return failure(file_name + ":1: (top): a scenario is a JSON object");
  if (json.document().HasMember("extends")) {
    return failure(json.location_of("extends") +
                   ": extends: only files read with load_scenario may extend");
  }
  return validate(json, file_name);
}

}  // namespace loadgen
