// Exact conversion between JSON (HTTP bodies) and msgpack (bus bodies).
//   - Integers stay integers; a number with a fraction or an exponent becomes the
//     decimal extension holding its original text (msgpack_value.hpp), so an amount
//     like 1234.50 crosses the bus and comes back byte for byte.
//   - JSON → msgpack validates against a JSON Schema (RapidJSON's validator) in the
//     same single pass, and can append extra top-level fields (path and query
//     parameters), which are validated too. Failures come back as a 400 error_info
//     whose details name the field: {field: "items[0].code", message: "is required"}.
// Stateless and thread-safe; a schema is compiled once and shared read-only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suite/msgpack_value.hpp"
#include "suite/result.hpp"

namespace suite {

// A compiled JSON Schema. Immutable after construction; share it between threads (each
// thread validates with its own copy, since RapidJSON 1.1 keeps regex match state inside).
class json_schema {
 public:
  static result<std::shared_ptr<const json_schema>> compile(std::string_view schema_json);
  ~json_schema();
  struct impl;
  const impl& internals() const { return *impl_; }
  // The declared "type" of a top-level property ("" when not declared).
  std::string property_type(std::string_view property) const;
  // True when the schema checks only that this top-level property is an array (or an
  // object), never what it holds: {"type": "array"} and annotations, with no root keyword
  // (patternProperties, allOf, ...) that could add rules. The converter then does not walk
  // its content through the validator.
  bool opaque_property(std::string_view property) const;

 private:
  explicit json_schema(std::unique_ptr<impl> impl);
  std::unique_ptr<impl> impl_;
};

// A field added to the top-level object, as text; it is typed by the schema's declared
// type for that property (integer, number, boolean, otherwise string).
struct extra_field {
  std::string name;
  std::string text;
};

struct json_limits {
  std::size_t max_depth = 64;
};

// `json` may be empty: the body is then an empty object (plus the extra fields).
result<msgpack_value> json_to_msgpack(std::string_view json, const json_schema* schema,
                                      const std::vector<extra_field>& extra = {},
                                      json_limits limits = {});
// The same conversion and verdict, giving the packed bytes without parsing them back:
// for a sender that only passes the body on (request::packed_body). The bytes are those
// msgpack's packer writes for the value (shortest headers).
result<std::string> json_to_packed(std::string_view json, const json_schema* schema,
                                   const std::vector<extra_field>& extra = {},
                                   json_limits limits = {});

// Validates a msgpack map against `schema` without converting it, when it is already in
// the form json_to_msgpack gives (UTF-8 text, string keys, integers, decimals holding a
// JSON number with a fraction or exponent or beyond 64 bits; no floats, binaries or other
// extensions):
// then the same verdict and 400 as json_to_msgpack(msgpack_to_json(value), &schema).
// Nothing when `value` is not in that form: convert it that way instead.
std::optional<status> validate_msgpack(const msgpack::object& value, const json_schema& schema,
                                       json_limits limits = {});

// Appends the JSON text of `value` to `out`.
void msgpack_to_json(const msgpack::object& value, std::string& out);

}  // namespace suite
