#include "scalar.hpp"

#include <cstdlib>

#include "key_codec.hpp"
#include "suite/msgpack_value.hpp"

namespace rem {

scalar scalar_of(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::BOOLEAN:
      return {o.via.boolean};
    case msgpack::type::POSITIVE_INTEGER:
      return {static_cast<double>(o.via.u64)};
    case msgpack::type::NEGATIVE_INTEGER:
      return {static_cast<double>(o.via.i64)};
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return {o.via.f64};
    case msgpack::type::STR:
      return {std::string(o.via.str.ptr, o.via.str.size)};
    case msgpack::type::EXT:
      if (o.via.ext.type() == suite::decimal_ext_type) {
        std::string text(o.via.ext.data(), o.via.ext.size);
        return {std::strtod(text.c_str(), nullptr)};
      }
      return {};
    default:
      return {};
  }
}

std::optional<std::string> index_encoding(const scalar& s) {
  if (s.is_bool()) return encode_bool(std::get<1>(s.value));
  if (s.is_number()) return encode_number(s.number());
  if (s.is_text()) return encode_text(s.text());
  return std::nullopt;
}

std::optional<int> compare(const scalar& a, const scalar& b) {
  if (a.is_null() || b.is_null() || a.value.index() != b.value.index()) return std::nullopt;
  if (a.is_bool())
    return static_cast<int>(std::get<1>(a.value)) - static_cast<int>(std::get<1>(b.value));
  if (a.is_number()) return a.number() < b.number() ? -1 : (a.number() > b.number() ? 1 : 0);
  int c = a.text().compare(b.text());
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string to_display(const scalar& s) {
  if (s.is_null()) return "null";
  if (s.is_bool()) return std::get<1>(s.value) ? "true" : "false";
  if (s.is_number()) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.17g", s.number());
    return buffer;
  }
  return "'" + s.text() + "'";
}

}  // namespace rem
