// pricing_table: USD per million tokens by model, read once from a JSON data file
// (data/pricing.json is embedded as the default), used to price an event that gives
// `model` and tokens but no `cost_usd`. Immutable after load; thread-safe to share.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "suite/result.hpp"

namespace event_ingest {

class pricing_table {
 public:
  // {"models": {"<name>": {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}}}
  static suite::result<pricing_table> parse(std::string_view json);
  // The embedded data/pricing.json.
  static const char* embedded_json();

  // Cost in nano-USD, or nothing when the model is unknown. A model matches its exact
  // name, else the longest listed name that prefixes it.
  std::optional<std::int64_t> cost_nano(std::string_view model, std::int64_t tokens_in,
                                        std::int64_t tokens_out) const;
  std::size_t size() const { return prices_.size(); }

 private:
  struct price {
    std::int64_t input_nano_per_mtok = 0;
    std::int64_t output_nano_per_mtok = 0;
  };
  std::map<std::string, price, std::less<>> prices_;
};

}  // namespace event_ingest
