#include "suite/config.hpp"

#include <charconv>
#include <stdexcept>

namespace suite {
namespace {

std::optional<std::int64_t> to_integer(std::string_view s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> check_host_port(std::string_view v) {
  if (v.rfind(':') == std::string_view::npos) return "expected host:port";
  auto split = split_host_port(v);
  if (!split || split->second < 1) return "port must be 1..65535";
  return std::nullopt;
}

std::optional<std::string> check_endpoint(std::string_view v) {
  if (v.starts_with("tcp://")) return check_host_port(v.substr(6));
  if ((v.starts_with("ipc://") && v.size() > 6) || (v.starts_with("inproc://") && v.size() > 9)) {
    return std::nullopt;
  }
  return "expected tcp://host:port, ipc://path or inproc://name";
}

}  // namespace

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view bind) {
  auto colon = bind.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = to_integer(bind.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) return std::nullopt;
  std::string host(bind.substr(0, colon));
  if (host.empty()) host = "0.0.0.0";
  return std::pair{std::move(host), static_cast<std::uint16_t>(*port)};
}

config_check any_value() {
  return [](std::string_view) { return std::optional<std::string>{}; };
}

config_check integer_in(std::int64_t min, std::int64_t max) {
  return [min, max](std::string_view v) -> std::optional<std::string> {
    auto n = to_integer(v);
    if (!n || *n < min || *n > max) {
      return "expected an integer in " + std::to_string(min) + ".." + std::to_string(max);
    }
    return std::nullopt;
  };
}

config_check one_of(std::vector<std::string> allowed) {
  return [allowed = std::move(allowed)](std::string_view v) -> std::optional<std::string> {
    for (const auto& a : allowed) {
      if (a == v) return std::nullopt;
    }
    std::string msg = "expected one of:";
    for (const auto& a : allowed) msg += " " + a;
    return msg;
  };
}

config_check bus_endpoint() { return check_endpoint; }

config_check bus_endpoint_list() {
  return [](std::string_view v) -> std::optional<std::string> {
    if (v.empty()) return "expected at least one endpoint";
    while (true) {
      auto comma = v.find(',');
      if (auto err = check_endpoint(v.substr(0, comma))) return err;
      if (comma == std::string_view::npos) return std::nullopt;
      v.remove_prefix(comma + 1);
    }
  };
}

config_check host_port() { return check_host_port; }

config& config::add(std::string key, std::string default_value, std::string help,
                    config_check check, bool secret) {
  options_.push_back(
      option{std::move(key), std::move(default_value), std::move(help), std::move(check), secret});
  return *this;
}

std::string config::env_name(std::string_view key) {
  std::string name = "SUITE_";
  for (char c : key) {
    if (c == '-' || c == '.')
      name.push_back('_');
    else if (c >= 'a' && c <= 'z')
      name.push_back(static_cast<char>(c - 'a' + 'A'));
    else
      name.push_back(c);
  }
  return name;
}

status config::load(int argc, const char* const* argv, const char* const* envp) {
  for (const char* const* e = envp; e && *e; ++e) {
    std::string_view entry{*e};
    if (!entry.starts_with("SUITE_")) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    for (auto& opt : options_) {
      if (env_name(opt.key) == entry.substr(0, eq)) {
        opt.value = std::string(entry.substr(eq + 1));
        opt.source = "env";
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return ok();
    }
    if (!arg.starts_with("--")) {
      return make_error(400, "bad_flag", "unexpected argument '" + std::string(arg) + "'");
    }
    arg.remove_prefix(2);
    auto eq = arg.find('=');
    if (eq == std::string_view::npos) {
      return make_error(400, "bad_flag", "flag --" + std::string(arg) + " needs =value");
    }
    option* opt = find(arg.substr(0, eq));
    if (!opt) {
      return make_error(400, "unknown_flag", "unknown flag --" + std::string(arg.substr(0, eq)));
    }
    opt->value = std::string(arg.substr(eq + 1));
    opt->source = "flag";
  }
  for (const auto& opt : options_) {
    if (auto err = opt.check(opt.value)) {
      return make_error(400, "bad_setting",
                        opt.key + " (" + env_name(opt.key) + ") = '" +
                            (opt.secret ? std::string("***") : opt.value) + "': " + *err);
    }
  }
  return ok();
}

std::string config::usage(std::string_view program) const {
  std::string out = "usage: " + std::string(program) + " [--key=value ...]\n";
  for (const auto& opt : options_) {
    out += "  --" + opt.key + " (" + env_name(opt.key) + ", default '" +
           (opt.secret ? "***" : opt.value) + "'): " + opt.help + "\n";
  }
  return out;
}

std::string config::describe() const {
  std::string out;
  for (const auto& opt : options_) {
    out +=
        opt.key + "=" + (opt.secret ? std::string("***") : opt.value) + " (" + opt.source + ")\n";
  }
  return out;
}

config::option* config::find(std::string_view key) {
  for (auto& opt : options_) {
    if (opt.key == key) return &opt;
  }
  return nullptr;
}

const config::option* config::find(std::string_view key) const {
  return const_cast<config*>(this)->find(key);
}

bool config::has(std::string_view key) const { return find(key) != nullptr; }

const std::string& config::str(std::string_view key) const {
  const option* opt = find(key);
  if (!opt) throw std::logic_error("config key not declared: " + std::string(key));
  return opt->value;
}

std::int64_t config::integer(std::string_view key) const {
  auto v = to_integer(str(key));
  if (!v) throw std::logic_error("config key is not an integer: " + std::string(key));
  return *v;
}

}  // namespace suite
