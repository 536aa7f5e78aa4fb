#include "event_model.hpp"

#include <array>
#include <atomic>
#include <ctime>
#include <random>
#include <span>

#include "money.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/msgpack_value.hpp"

namespace event_ingest {
namespace {

using suite::error_detail;

constexpr std::array<std::string_view, 7> event_types{
    "tool_use", "session_start", "session_end", "response", "error", "llm_request", "llm_response"};
constexpr std::array<std::string_view, 3> statuses{"success", "error", "timeout"};
constexpr std::size_t max_name_bytes = 512;

bool is_nil(const msgpack::object* o) { return !o || o->type == msgpack::type::NIL; }
bool is_decimal(const msgpack::object& o) {
  return o.type == msgpack::type::EXT && o.via.ext.type() == suite::decimal_ext_type;
}

// Generated ids: a per-process random prefix and a counter, unique without a lock.
std::string generate_id() {
  static const std::uint64_t prefix =
      std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32);
  static std::atomic<std::uint64_t> counter{0};
  char out[40];
  std::snprintf(out, sizeof out, "evt_%012llx%08llx",
                static_cast<unsigned long long>(prefix & 0xffffffffffffULL),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffffffULL));
  return out;
}

class event_checker {
 public:
  event_checker(const msgpack::object& body, const std::string& prefix)
      : body_(body), prefix_(prefix) {}

  std::optional<std::string> required_name(std::string_view key) {
    const auto* o = suite::find_field(body_, key);
    if (is_nil(o)) return fail(key, "is required");
    if (o->type != msgpack::type::STR) return fail(key, "must be a string");
    return name(key, *o);
  }
  std::optional<std::string> optional_name(std::string_view key) {
    const auto* o = suite::find_field(body_, key);
    if (is_nil(o)) return std::nullopt;
    if (o->type != msgpack::type::STR) return fail(key, "must be a string or null");
    return name(key, *o);
  }
  std::optional<std::string> one_of(std::string_view key, bool required,
                                    std::span<const std::string_view> allowed) {
    auto value = required ? required_name(key) : optional_name(key);
    if (!value) return std::nullopt;
    for (auto a : allowed) {
      if (*value == a) return value;
    }
    std::string list;
    for (auto a : allowed) list.append(list.empty() ? "" : ", ").append(a);
    return fail(key, "must be one of: " + list);
  }
  std::optional<std::int64_t> count(std::string_view key) {
    const auto* o = suite::find_field(body_, key);
    if (is_nil(o)) return std::nullopt;
    if (o->type == msgpack::type::POSITIVE_INTEGER &&
        o->via.u64 <= static_cast<std::uint64_t>(INT32_MAX) * 1000) {
      return static_cast<std::int64_t>(o->via.u64);
    }
    if (o->type == msgpack::type::NEGATIVE_INTEGER) return fail(key, "must be >= 0");
    if (o->type == msgpack::type::POSITIVE_INTEGER) return fail(key, "is too large");
    return fail(key, "must be an integer");
  }
  // A non-negative number, returned as the object itself (kept as sent).
  const msgpack::object* number(std::string_view key, std::optional<std::int64_t>* nano = nullptr) {
    const auto* o = suite::find_field(body_, key);
    if (is_nil(o)) return nullptr;
    std::string text;
    if (o->type == msgpack::type::POSITIVE_INTEGER)
      text = std::to_string(o->via.u64);
    else if (o->type == msgpack::type::NEGATIVE_INTEGER)
      text = std::to_string(o->via.i64);
    else if (o->type == msgpack::type::FLOAT32 || o->type == msgpack::type::FLOAT64)
      text = std::to_string(o->via.f64);
    else if (is_decimal(*o))
      text.assign(o->via.ext.data(), o->via.ext.size);
    else
      return fail(key, "must be a number"), nullptr;
    auto parsed = parse_nano_usd(text);
    if (!parsed) {
      bool negative =
          text.find('-') != std::string::npos && text.find('-') < text.find_first_of("eE");
      return fail(key, negative ? "must be >= 0" : "is not a valid amount"), nullptr;
    }
    if (nano) *nano = parsed;
    return o;
  }

  std::vector<error_detail> errors;

 private:
  std::optional<std::string> name(std::string_view key, const msgpack::object& o) {
    auto text = suite::as_string_view(o);
    if (text.size() > max_name_bytes)
      return fail(key, "is longer than " + std::to_string(max_name_bytes) + " bytes");
    if (text.find('\0') != std::string_view::npos)
      return fail(key, "must not contain NUL characters");
    return std::string(text);
  }
  std::nullopt_t fail(std::string_view key, std::string message) {
    errors.push_back({prefix_ + std::string(key), std::move(message)});
    return std::nullopt;
  }

  const msgpack::object& body_;
  const std::string& prefix_;
};

// An upper bound of the length of `o` as JSON text, computed without writing it, so the
// common small metadata skips the conversion. Stops counting once past `limit`.
std::size_t json_length_bound(const msgpack::object& o, std::size_t limit) {
  switch (o.type) {
    case msgpack::type::STR:
      return 2 + 6 * static_cast<std::size_t>(o.via.str.size);  // every byte escaped as \u00XX
    case msgpack::type::BIN:
      return 2 + 6 * static_cast<std::size_t>(o.via.bin.size);
    case msgpack::type::EXT:
      return 8 + 6 * static_cast<std::size_t>(o.via.ext.size);
    case msgpack::type::ARRAY: {
      std::size_t total = 2;
      for (std::uint32_t i = 0; i < o.via.array.size && total <= limit; ++i) {
        total += 1 + json_length_bound(o.via.array.ptr[i], limit);
      }
      return total;
    }
    case msgpack::type::MAP: {
      std::size_t total = 2;
      for (std::uint32_t i = 0; i < o.via.map.size && total <= limit; ++i) {
        total += 2 + json_length_bound(o.via.map.ptr[i].key, limit) +
                 json_length_bound(o.via.map.ptr[i].val, limit);
      }
      return total;
    }
    default:
      return 32;  // numbers, booleans, null
  }
}

void pack_optional(suite::msgpack_packer& p, const std::optional<std::string>& value) {
  if (value)
    suite::pack_string(p, *value);
  else
    p.pack_nil();
}

}  // namespace

std::string_view cut_utf8(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  // Back off continuation bytes (10xxxxxx) so the cut lands before a lead byte.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string iso8601_utc(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return out;
}

prepare_result prepare_event(const msgpack::object& body, const pricing_table& prices,
                             std::int64_t now_ms, const std::string& field_prefix) {
  if (body.type != msgpack::type::MAP) {
    return std::vector<error_detail>{
        {field_prefix.empty() ? "body" : field_prefix.substr(0, field_prefix.size() - 1),
         "must be a JSON object"}};
  }
  event_checker check(body, field_prefix);
  prepared_event event;
  auto session_id = check.required_name("session_id");
  auto agent_type = check.required_name("agent_type");
  auto event_type = check.one_of("event_type", true, event_types);
  auto event_id = check.optional_name("event_id");
  auto tool_name = check.optional_name("tool_name");
  auto status = check.one_of("status", false, statuses);
  auto model = check.optional_name("model");
  auto branch = check.optional_name("branch");
  auto project = check.optional_name("project");
  auto tokens_in = check.count("tokens_in");
  auto tokens_out = check.count("tokens_out");
  std::optional<std::int64_t> explicit_cost;
  const auto* cost = check.number("cost_usd", &explicit_cost);
  const auto* duration = check.number("duration_ms");
  const auto* client_timestamp = suite::find_field(body, "client_timestamp");
  if (!is_nil(client_timestamp) && client_timestamp->type != msgpack::type::STR &&
      client_timestamp->type != msgpack::type::POSITIVE_INTEGER && !is_decimal(*client_timestamp)) {
    check.errors.push_back({field_prefix + "client_timestamp", "must be a string or a number"});
  }
  if (session_id && session_id->empty())
    check.errors.push_back({field_prefix + "session_id", "must not be empty"});
  if (agent_type && agent_type->empty())
    check.errors.push_back({field_prefix + "agent_type", "must not be empty"});
  if (event_id && event_id->empty())
    check.errors.push_back({field_prefix + "event_id", "must not be empty"});
  if (!check.errors.empty()) return std::move(check.errors);

  event.deduplicates = event_id.has_value();
  event.id = event_id ? *event_id : generate_id();
  event.session_id = std::move(*session_id);
  event.agent_type = std::move(*agent_type);
  event.event_type = std::move(*event_type);
  event.project = project;
  event.branch = branch;
  event.tokens_in = tokens_in.value_or(0);
  event.tokens_out = tokens_out.value_or(0);
  event.created_at_ms = now_ms;
  std::optional<std::int64_t> priced;
  if (explicit_cost) {
    event.cost_nano = *explicit_cost;
  } else if (model && (tokens_in || tokens_out)) {
    priced = prices.cost_nano(*model, event.tokens_in, event.tokens_out);
    if (priced) event.cost_nano = *priced;
  }

  // Metadata over the cap is kept as the head of its JSON text (or of the string).
  const auto* metadata = suite::find_field(body, "metadata");
  std::string cut_metadata;
  bool truncated = false;
  if (!is_nil(metadata)) {
    if (metadata->type == msgpack::type::STR) {
      auto text = suite::as_string_view(*metadata);
      if (text.size() > metadata_limit_bytes) {
        cut_metadata = cut_utf8(text, metadata_limit_bytes);
        truncated = true;
      }
    } else if ((metadata->type == msgpack::type::MAP || metadata->type == msgpack::type::ARRAY) &&
               json_length_bound(*metadata, metadata_limit_bytes) > metadata_limit_bytes) {
      std::string json;
      suite::msgpack_to_json(*metadata, json);
      if (json.size() > metadata_limit_bytes) {
        cut_metadata = cut_utf8(json, metadata_limit_bytes);
        truncated = true;
      }
    }
  }

  msgpack::sbuffer buffer(512);
  suite::msgpack_packer p(buffer);
  p.pack_map(19);
  suite::pack_string(p, "id");
  suite::pack_string(p, event.id);
  suite::pack_string(p, "event_id");
  pack_optional(p, event_id);
  suite::pack_string(p, "session_id");
  suite::pack_string(p, event.session_id);
  suite::pack_string(p, "agent_type");
  suite::pack_string(p, event.agent_type);
  suite::pack_string(p, "event_type");
  suite::pack_string(p, event.event_type);
  suite::pack_string(p, "tool_name");
  pack_optional(p, tool_name);
  suite::pack_string(p, "status");
  pack_optional(p, status);
  suite::pack_string(p, "tokens_in");
  if (tokens_in)
    p.pack_int64(*tokens_in);
  else
    p.pack_nil();
  suite::pack_string(p, "tokens_out");
  if (tokens_out)
    p.pack_int64(*tokens_out);
  else
    p.pack_nil();
  suite::pack_string(p, "cost_usd");
  if (cost)
    p.pack(*cost);
  else if (priced)
    suite::pack_decimal(p, format_nano_usd(*priced));
  else
    p.pack_nil();
  suite::pack_string(p, "model");
  pack_optional(p, model);
  suite::pack_string(p, "branch");
  pack_optional(p, branch);
  suite::pack_string(p, "project");
  pack_optional(p, project);
  suite::pack_string(p, "duration_ms");
  if (duration)
    p.pack(*duration);
  else
    p.pack_nil();
  suite::pack_string(p, "metadata");
  if (truncated)
    suite::pack_string(p, cut_metadata);
  else if (!is_nil(metadata))
    p.pack(*metadata);
  else
    p.pack_nil();
  suite::pack_string(p, "payload_truncated");
  p.pack(truncated);
  suite::pack_string(p, "client_timestamp");
  if (!is_nil(client_timestamp))
    p.pack(*client_timestamp);
  else
    p.pack_nil();
  suite::pack_string(p, "created_at");
  suite::pack_string(p, iso8601_utc(now_ms));
  suite::pack_string(p, "created_at_ms");
  p.pack_int64(now_ms);
  event.packed.assign(buffer.data(), buffer.size());
  return event;
}

}  // namespace event_ingest
