#include "money.hpp"

#include <cctype>

namespace event_ingest {

std::optional<std::int64_t> parse_nano_usd(std::string_view text) {
  // Split into digits (with the decimal point's position) and a decimal exponent.
  std::string digits;
  int point_shift = 0;  // digits after the decimal point
  std::size_t i = 0;
  if (i < text.size() && text[i] == '+') ++i;
  if (i < text.size() && text[i] == '-') {
    // "-0" and "-0.0" are zero; any other negative amount is refused.
    for (std::size_t j = i + 1; j < text.size(); ++j) {
      if (text[j] == 'e' || text[j] == 'E') break;
      if (text[j] >= '1' && text[j] <= '9') return std::nullopt;
    }
    ++i;
  }
  bool seen_point = false, any_digit = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      any_digit = true;
      if (digits.empty() && c == '0' && !seen_point) continue;  // leading zeros
      digits.push_back(c);
      if (seen_point) ++point_shift;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!any_digit) return std::nullopt;
  long exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
    if (i >= text.size()) return std::nullopt;
    for (; i < text.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
      if (exponent < 100000) exponent = exponent * 10 + (text[i] - '0');
    }
    if (negative) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;
  // value = digits * 10^(exponent - point_shift); nano = value * 10^9.
  long scale = exponent - point_shift + 9;
  // Strip leading zeros left by fractions like 0.000123.
  std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  digits.erase(0, first);
  if (scale < 0) {
    if (static_cast<long>(digits.size()) <= -scale) return 0;
    digits.resize(digits.size() - static_cast<std::size_t>(-scale));
    scale = 0;
  }
  if (static_cast<long>(digits.size()) + scale > 19) return std::nullopt;
  std::int64_t nano = 0;
  constexpr std::int64_t limit = 9'000'000'000'000'000'000;
  for (char c : digits) {
    if (nano > (limit - (c - '0')) / 10) return std::nullopt;
    nano = nano * 10 + (c - '0');
  }
  for (long s = 0; s < scale; ++s) {
    if (nano > limit / 10) return std::nullopt;
    nano *= 10;
  }
  return nano;
}

std::string format_nano_usd(std::int64_t nano) {
  std::string whole = std::to_string(nano / 1'000'000'000);
  std::string fraction = std::to_string(nano % 1'000'000'000);
  fraction.insert(0, 9 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  return fraction.empty() ? whole : whole + "." + fraction;
}

}  // namespace event_ingest
