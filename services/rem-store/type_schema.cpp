#include "type_schema.hpp"

#include <algorithm>

#include "key_codec.hpp"

namespace rem {
namespace {

suite::error_info bad(std::string field, std::string message) {
  return suite::make_error(400, "invalid_schema", field + " " + message,
                           {{std::move(field), std::move(message)}});
}

suite::result<std::vector<std::string>> string_list(const msgpack::object& map, const char* field) {
  std::vector<std::string> out;
  const auto* list = suite::find_field(map, field);
  if (!list || list->type == msgpack::type::NIL) return out;
  if (list->type != msgpack::type::ARRAY) return bad(field, "must be an array of property names");
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    const auto& item = list->via.array.ptr[i];
    if (item.type != msgpack::type::STR || item.via.str.size == 0 || item.via.str.size > 128) {
      return bad(field, "must hold non-empty property names");
    }
    std::string name(item.via.str.ptr, item.via.str.size);
    if (name.find('\0') != std::string::npos) return bad(field, "names must not contain NUL");
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

}  // namespace

bool type_schema::is_indexed(std::string_view field) const {
  return std::find(indexed_fields.begin(), indexed_fields.end(), field) != indexed_fields.end();
}

bool valid_type_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto first = name.front();
  if (!(std::isalpha(static_cast<unsigned char>(first)) || first == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

suite::result<type_schema_ptr> parse_type_schema(const msgpack::object& registration) {
  if (registration.type != msgpack::type::MAP) return bad("body", "must be an object");
  auto schema = std::make_shared<type_schema>();
  auto name = suite::string_field(registration, "name");
  if (!name || !valid_type_name(*name))
    return bad("name", "must match [A-Za-z_][A-Za-z0-9_]* (at most 64)");
  schema->name = std::string(*name);
  schema->id_tag = type_tag(schema->name);
  schema->category = std::string(suite::string_field(registration, "category").value_or("entity"));
  if (schema->category != "resource" && schema->category != "entity" &&
      schema->category != "moment") {
    return bad("category", "must be resource, entity or moment");
  }
  auto key_field = suite::string_field(registration, "key_field");
  if (!key_field || key_field->empty()) return bad("key_field", "is required");
  schema->key_field = std::string(*key_field);
  auto indexed = string_list(registration, "indexed_fields");
  if (!indexed) return indexed.error();
  schema->indexed_fields = std::move(*indexed);
  auto embedded = string_list(registration, "embedding_fields");
  if (!embedded) return embedded.error();
  schema->embedding_fields = std::move(*embedded);

  const auto* json_schema = suite::find_field(registration, "schema");
  if (!json_schema || json_schema->type != msgpack::type::MAP)
    return bad("schema", "must be a JSON Schema object");
  std::string schema_text;
  suite::msgpack_to_json(*json_schema, schema_text);
  auto compiled = suite::json_schema::compile(schema_text);
  if (!compiled) return bad("schema", "is not a valid JSON Schema: " + compiled.error().message);
  schema->compiled = std::move(*compiled);

  msgpack::sbuffer packed;
  msgpack::pack(packed, registration);
  schema->registration.assign(packed.data(), packed.size());
  return type_schema_ptr(std::move(schema));
}

suite::result<validated_record> validate_record(const type_schema& schema,
                                                const msgpack::object& properties) {
  if (properties.type != msgpack::type::MAP) {
    return suite::make_error(400, "invalid_record", "record must be an object",
                             {{"record", "must be an object"}});
  }
  auto refused = [](suite::error_info error) {
    error.code = "invalid_record";
    for (auto& detail : error.details) detail.field = "record." + detail.field;
    return error;
  };
  validated_record out;
  if (auto verdict = suite::validate_msgpack(properties, *schema.compiled)) {
    if (!*verdict) return refused(verdict->error());
    out.properties = {nullptr, properties};  // already in normal form: borrowed as it is
  } else {
    // Floats, binaries and the like: normalized through JSON text, as the gateway would.
    std::string json;
    suite::msgpack_to_json(properties, json);
    auto checked = suite::json_to_msgpack(json, schema.compiled.get());
    if (!checked) return refused(checked.error());
    out.properties = std::move(*checked);
  }
  const auto* key = suite::find_field(out.properties.object, schema.key_field);
  if (key && key->type == msgpack::type::STR && key->via.str.size > 0) {
    out.key.assign(key->via.str.ptr, key->via.str.size);
  } else if (key && key->type == msgpack::type::POSITIVE_INTEGER) {
    out.key = std::to_string(key->via.u64);
  } else if (key && key->type == msgpack::type::NEGATIVE_INTEGER) {
    out.key = std::to_string(key->via.i64);
  } else {
    return suite::make_error(400, "invalid_record", "record has no key",
                             {{"record." + schema.key_field,
                               "is required (the key field: a non-empty string or an integer)"}});
  }
  if (schema.category == "moment") {
    auto starts = suite::string_field(out.properties.object, "starts_at");
    auto ends = suite::string_field(out.properties.object, "ends_at");
    if (!starts) {
      return suite::make_error(400, "invalid_record", "a moment needs starts_at",
                               {{"record.starts_at", "is required for a moment (ISO 8601 text)"}});
    }
    if (ends && *ends < *starts) {
      return suite::make_error(400, "invalid_record", "a moment cannot end before it starts",
                               {{"record.ends_at", "must not be before starts_at"}});
    }
  }
  return out;
}

}  // namespace rem
