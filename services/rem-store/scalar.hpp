// scalar: the value a predicate, an index or an aggregate sees in a record field:
// null, boolean, number (a double: integers, floats and the suite's exact decimals) or
// text. Maps and arrays are not scalars and read as null, so `=` on them is never true
// in a scan and they are never indexed: scan and index agree. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <msgpack.hpp>

namespace rem {

struct scalar {
  std::variant<std::monostate, bool, double, std::string> value;

  bool is_null() const { return value.index() == 0; }
  bool is_bool() const { return value.index() == 1; }
  bool is_number() const { return value.index() == 2; }
  bool is_text() const { return value.index() == 3; }
  double number() const { return std::get<2>(value); }
  const std::string& text() const { return std::get<3>(value); }
};

scalar scalar_of(const msgpack::object& o);
// Index key fragment (tag + order-preserving bytes); nothing for null.
std::optional<std::string> index_encoding(const scalar& s);
// Three-way comparison of two scalars of the same kind; nothing when the kinds differ
// or either is null (such comparisons are false).
std::optional<int> compare(const scalar& a, const scalar& b);
std::string to_display(const scalar& s);

}  // namespace rem
