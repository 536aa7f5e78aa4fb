// money: exact USD amounts as integer nano-dollars (1e-9 USD), parsed from and written
// as decimal text, so costs summed over millions of events never drift as doubles do.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace event_ingest {

// Parses a non-negative JSON number text ("0.0123", "12", "1.5e-3") into nano-USD,
// truncating digits beyond the ninth decimal. Nothing for negative, malformed or
// too-large (> 9e9 USD) numbers.
std::optional<std::int64_t> parse_nano_usd(std::string_view text);

// Decimal text with the trailing zeros trimmed: 1234500 -> "0.0012345", 2e9 -> "2".
std::string format_nano_usd(std::int64_t nano);

}  // namespace event_ingest
