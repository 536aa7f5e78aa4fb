// event_model: one AI-agent event as anchors.md defines it, validated and normalised
// from a request body into the exact record that is stored, returned and streamed.
//
//   required: session_id, agent_type (non-empty strings), event_type (tool_use,
//             session_start, session_end, response, error, llm_request, llm_response)
//   optional: event_id (string; null or absent never deduplicates), tool_name, model,
//             branch, project (strings), status (success | error | timeout),
//             tokens_in, tokens_out (integers >= 0), cost_usd, duration_ms
//             (numbers >= 0), metadata (any JSON; over 10 KB of JSON text it is cut on
//             a UTF-8 boundary, kept as that text, and payload_truncated is set),
//             client_timestamp (string or number)
//   set here: id (the event_id, else a generated one), created_at (ISO-8601 UTC),
//             created_at_ms, and cost_usd from the pricing table when model and tokens
//             are given without it (an explicit cost_usd is kept as sent).
// Every problem is reported, each naming its field. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "pricing_table.hpp"
#include "suite/result.hpp"

namespace event_ingest {

inline constexpr std::size_t metadata_limit_bytes = 10 * 1024;

// What the writer needs to know of an event, plus its stored form.
struct prepared_event {
  std::string id;             // event_id when given, else generated
  bool deduplicates = false;  // it carries an event_id
  std::string session_id, agent_type, event_type;
  std::optional<std::string> project, branch;
  std::int64_t tokens_in = 0, tokens_out = 0;
  std::int64_t cost_nano = 0;  // 0 when the event has no cost
  std::int64_t created_at_ms = 0;
  std::string packed;  // the msgpack map that is stored and published
};

using prepare_result = std::variant<prepared_event, std::vector<suite::error_detail>>;

// Validates `body` (any msgpack object; a non-map is one error on field "body").
// `field_prefix` prefixes field names in errors (e.g. "events[3]." in a batch).
prepare_result prepare_event(const msgpack::object& body, const pricing_table& prices,
                             std::int64_t now_ms, const std::string& field_prefix = {});

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 sequence.
std::string_view cut_utf8(std::string_view text, std::size_t limit);

}  // namespace event_ingest
