#include "pricing_table.hpp"

#include <rapidjson/document.h>

#include "money.hpp"

namespace event_ingest {

// Token counts times prices per million can pass 2^63 before the division.
__extension__ using wide_int = __int128;

suite::result<pricing_table> pricing_table::parse(std::string_view json) {
  auto bad = [](std::string message) {
    return suite::make_error(500, "bad_pricing", std::move(message));
  };
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("pricing file is not a JSON object");
  auto models = doc.FindMember("models");
  if (models == doc.MemberEnd() || !models->value.IsObject())
    return bad("pricing file has no \"models\" object");
  pricing_table table;
  for (const auto& m : models->value.GetObject()) {
    std::string name = m.name.GetString();
    if (!m.value.IsObject()) return bad("model " + name + " is not an object");
    price p;
    for (auto [key, out] : {std::pair{"input_per_mtok", &p.input_nano_per_mtok},
                            std::pair{"output_per_mtok", &p.output_nano_per_mtok}}) {
      auto v = m.value.FindMember(key);
      if (v == m.value.MemberEnd() || !v->value.IsString()) {
        return bad("model " + name + ": \"" + key + "\" must be decimal text");
      }
      auto nano = parse_nano_usd(v->value.GetString());
      if (!nano) return bad("model " + name + ": \"" + key + "\" is not a non-negative number");
      *out = *nano;
    }
    table.prices_.emplace(std::move(name), p);
  }
  return table;
}

std::optional<std::int64_t> pricing_table::cost_nano(std::string_view model, std::int64_t tokens_in,
                                                     std::int64_t tokens_out) const {
  auto it = prices_.find(model);
  if (it == prices_.end()) {
    // Longest listed prefix: walk back from where `model` would sort.
    for (auto candidate = prices_.upper_bound(model); candidate != prices_.begin();) {
      --candidate;
      if (model.starts_with(candidate->first)) {
        if (it == prices_.end() || candidate->first.size() > it->first.size()) it = candidate;
      } else if (!candidate->first.empty() && candidate->first[0] != model[0]) {
        break;
      }
    }
  }
  if (it == prices_.end()) return std::nullopt;
  wide_int nano = static_cast<wide_int>(tokens_in) * it->second.input_nano_per_mtok +
                  static_cast<wide_int>(tokens_out) * it->second.output_nano_per_mtok;
  nano /= 1'000'000;
  if (nano > INT64_MAX) return std::nullopt;
  return static_cast<std::int64_t>(nano);
}

}  // namespace event_ingest
