// type_schema: one tenant's declaration of a record type: its category (resource,
// entity or moment), a JSON Schema its records must satisfy, the property that is its
// key (so the id is deterministic and re-inserting a key is an upsert), the properties
// kept in a secondary index and the text properties embedded for vector search.
// Immutable once parsed; shared read-only between threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "suite/json_msgpack.hpp"
#include "suite/msgpack_value.hpp"
#include "suite/result.hpp"

namespace rem {

struct type_schema {
  std::string name;
  std::uint8_t id_tag = 0;  // type_tag(name): the top byte of this type's ids (key_codec)
  std::string category;     // "resource" | "entity" | "moment"
  std::string key_field;
  std::vector<std::string> indexed_fields;
  std::vector<std::string> embedding_fields;
  std::shared_ptr<const suite::json_schema> compiled;
  std::string registration;  // the registration map, packed, as given back by list/show

  bool is_indexed(std::string_view field) const;
};

using type_schema_ptr = std::shared_ptr<const type_schema>;

// A type name (and so a SELECT/SEARCH target): [A-Za-z_][A-Za-z0-9_]{0,63}.
bool valid_type_name(std::string_view name);

// Parses a registration {name, category?, schema, key_field, indexed_fields?,
// embedding_fields?}; every problem is a 400 naming the field.
suite::result<type_schema_ptr> parse_type_schema(const msgpack::object& registration);

// A record's properties after validation: the normalized map and its key as text. The
// map may borrow the input's storage (a null zone) when the input was already in normal
// form, so it must not outlive the object given to validate_record.
struct validated_record {
  suite::msgpack_value properties;
  std::string key;
};

// Checks `properties` against the schema (JSON Schema, the key field present as a
// non-empty string or an integer, moments' starts_at <= ends_at). 400 on failure.
suite::result<validated_record> validate_record(const type_schema& schema,
                                                const msgpack::object& properties);

}  // namespace rem
