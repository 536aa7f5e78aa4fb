// config: a process's settings, declared once with a default, a help line and a check,
// then read once at start from `--key=value` flags and `SUITE_KEY` environment variables
// (key upper-cased, '-' and '.' become '_'; a flag wins over the environment, the
// environment over the default). load() validates every value and rejects unknown
// flags, so a typo fails the start instead of being ignored. Not thread-safe to modify;
// read-only after load().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "suite/result.hpp"

namespace suite {

// A check returns an error message for a bad value, nothing for a good one.
using config_check = std::function<std::optional<std::string>(std::string_view)>;

config_check any_value();
config_check integer_in(std::int64_t min, std::int64_t max);
config_check one_of(std::vector<std::string> allowed);
// tcp://host:port, ipc://path or inproc://name.
config_check bus_endpoint();
// A comma-separated list of bus endpoints (at least one).
config_check bus_endpoint_list();
// host:port with a port in 1..65535 (host may be empty or 0.0.0.0).
config_check host_port();

// Splits "host:port" for binding: an empty host is 0.0.0.0. Nothing unless the port is a
// number in 0..65535 (0: any free port).
std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view bind);

class config {
 public:
  struct option {
    std::string key;
    std::string value;
    std::string help;
    config_check check;
    bool secret = false;
    std::string source = "default";
  };

  // Declares a setting. A secret one is printed as "***" by describe().
  config& add(std::string key, std::string default_value, std::string help,
              config_check check = any_value(), bool secret = false);

  // Reads flags and environment; returns the first bad or unknown setting as an error.
  // `--help` sets help_requested() and returns ok.
  status load(int argc, const char* const* argv, const char* const* envp);

  bool help_requested() const { return help_requested_; }
  std::string usage(std::string_view program) const;
  // "key=value (source)" for every setting, one per line, secrets masked.
  std::string describe() const;

  const std::string& str(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  bool has(std::string_view key) const;
  const std::vector<option>& options() const { return options_; }

  static std::string env_name(std::string_view key);

 private:
  option* find(std::string_view key);
  const option* find(std::string_view key) const;
  std::vector<option> options_;
  bool help_requested_ = false;
};

}  // namespace suite
