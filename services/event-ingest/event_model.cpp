#include "event_model.hpp"

#include <array>
#include <atomic>
#include <ctime>
#include <random>
#include <span>

#include "money.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/log.hpp"
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

// The body's known fields, found in ONE pass over its keys (a batch of 50 events would
// otherwise scan each event's map once per field).
enum field : std::size_t {
  f_event_id,
  f_session_id,
  f_agent_type,
  f_event_type,
  f_tool_name,
  f_status,
  f_model,
  f_branch,
  f_project,
  f_tokens_in,
  f_tokens_out,
  f_cost_usd,
  f_duration_ms,
  f_metadata,
  f_client_timestamp,
  field_count
};

std::optional<field> field_of(std::string_view key) {
  switch (key.size()) {
    case 5:
      if (key == "model") return f_model;
      break;
    case 6:
      if (key == "status") return f_status;
      if (key == "branch") return f_branch;
      break;
    case 7:
      if (key == "project") return f_project;
      break;
    case 8:
      if (key == "event_id") return f_event_id;
      if (key == "cost_usd") return f_cost_usd;
      if (key == "metadata") return f_metadata;
      break;
    case 9:
      if (key == "tool_name") return f_tool_name;
      if (key == "tokens_in") return f_tokens_in;
      break;
    case 10:
      if (key == "session_id") return f_session_id;
      if (key == "agent_type") return f_agent_type;
      if (key == "event_type") return f_event_type;
      if (key == "tokens_out") return f_tokens_out;
      break;
    case 11:
      if (key == "duration_ms") return f_duration_ms;
      break;
    case 16:
      if (key == "client_timestamp") return f_client_timestamp;
      break;
    default:
      break;
  }
  return std::nullopt;
}

// The first occurrence of each known key wins, as find_field's linear search did.
struct body_fields {
  explicit body_fields(const msgpack::object& map) {
    for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
      const auto& kv = map.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) continue;
      auto f = field_of(suite::as_string_view(kv.key));
      if (f && !slots[*f]) slots[*f] = &kv.val;
    }
  }
  const msgpack::object* operator[](field f) const { return slots[f]; }
  std::array<const msgpack::object*, field_count> slots{};
};

class event_checker {
 public:
  event_checker(const body_fields& body, const std::string& prefix)
      : body_(body), prefix_(prefix) {}

  std::optional<std::string> required_name(field f, std::string_view key) {
    const auto* o = body_[f];
    if (is_nil(o)) return fail(key, "is required");
    if (o->type != msgpack::type::STR) return fail(key, "must be a string");
    return name(key, *o);
  }
  std::optional<std::string> optional_name(field f, std::string_view key) {
    const auto* o = body_[f];
    if (is_nil(o)) return std::nullopt;
    if (o->type != msgpack::type::STR) return fail(key, "must be a string or null");
    return name(key, *o);
  }
  std::optional<std::string> one_of(field f, std::string_view key, bool required,
                                    std::span<const std::string_view> allowed) {
    auto value = required ? required_name(f, key) : optional_name(f, key);
    if (!value) return std::nullopt;
    for (auto a : allowed) {
      if (*value == a) return value;
    }
    std::string list;
    for (auto a : allowed) list.append(list.empty() ? "" : ", ").append(a);
    return fail(key, "must be one of: " + list);
  }
  std::optional<std::int64_t> count(field f, std::string_view key) {
    const auto* o = body_[f];
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
  const msgpack::object* number(field f, std::string_view key,
                                std::optional<std::int64_t>* nano = nullptr) {
    const auto* o = body_[f];
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

  const body_fields& body_;
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

prepare_result prepare_event(const msgpack::object& body, const pricing_table& prices,
                             std::int64_t now_ms, const std::string& field_prefix) {
  if (body.type != msgpack::type::MAP) {
    return std::vector<error_detail>{
        {field_prefix.empty() ? "body" : field_prefix.substr(0, field_prefix.size() - 1),
         "must be a JSON object"}};
  }
  body_fields fields(body);
  event_checker check(fields, field_prefix);
  prepared_event event;
  auto session_id = check.required_name(f_session_id, "session_id");
  auto agent_type = check.required_name(f_agent_type, "agent_type");
  auto event_type = check.one_of(f_event_type, "event_type", true, event_types);
  auto event_id = check.optional_name(f_event_id, "event_id");
  auto tool_name = check.optional_name(f_tool_name, "tool_name");
  auto status = check.one_of(f_status, "status", false, statuses);
  auto model = check.optional_name(f_model, "model");
  auto branch = check.optional_name(f_branch, "branch");
  auto project = check.optional_name(f_project, "project");
  auto tokens_in = check.count(f_tokens_in, "tokens_in");
  auto tokens_out = check.count(f_tokens_out, "tokens_out");
  std::optional<std::int64_t> explicit_cost;
  const auto* cost = check.number(f_cost_usd, "cost_usd", &explicit_cost);
  const auto* duration = check.number(f_duration_ms, "duration_ms");
  const auto* client_timestamp = fields[f_client_timestamp];
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
  const auto* metadata = fields[f_metadata];
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
  // A batch shares one now_ms: format it once per millisecond and thread.
  thread_local std::int64_t formatted_ms = -1;
  thread_local std::string formatted;
  if (formatted_ms != now_ms) {
    formatted = suite::iso8601_utc(now_ms);
    formatted_ms = now_ms;
  }
  suite::pack_string(p, formatted);
  suite::pack_string(p, "created_at_ms");
  p.pack_int64(now_ms);
  event.packed.assign(buffer.data(), buffer.size());
  return event;
}

}  // namespace event_ingest
