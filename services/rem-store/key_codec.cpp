#include "key_codec.hpp"

#include <bit>
#include <cstring>

#include <xxhash.h>

namespace rem {
namespace {

void append_part(std::string& out, std::string_view part) {
  out.append(part);
  out.push_back('\0');
}

}  // namespace

std::string id_from_number(std::uint64_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(id_length, '0');
  for (std::size_t i = 0; i < id_length; ++i) out[id_length - 1 - i] = digits[(n >> (4 * i)) & 0xf];
  return out;
}

std::uint8_t type_tag(std::string_view type) {
  return static_cast<std::uint8_t>(XXH3_64bits(type.data(), type.size()) >> 56);
}

std::uint8_t id_type_tag(std::uint64_t id) { return static_cast<std::uint8_t>(id >> 56); }

std::string record_id(std::string_view tenant, std::string_view type, std::string_view key) {
  std::string material;
  material.reserve(tenant.size() + type.size() + key.size() + 2);
  append_part(material, tenant);
  append_part(material, type);
  material.append(key);
  return id_from_number(std::uint64_t{type_tag(type)} << 56 |
                        XXH3_64bits(material.data(), material.size()) >> 8);
}

std::optional<std::uint64_t> id_number(std::string_view id) {
  if (id.size() != id_length) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : id) {
    n <<= 4;
    if (c >= '0' && c <= '9')
      n |= static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      n |= static_cast<std::uint64_t>(c - 'a' + 10);
    else
      return std::nullopt;
  }
  return n;
}

bool valid_id(std::string_view id) { return id_number(id).has_value(); }

std::string tenant_prefix(std::string_view tenant) {
  std::string out;
  append_part(out, tenant);
  return out;
}

std::string type_prefix(std::string_view tenant, std::string_view type) {
  std::string out = tenant_prefix(tenant);
  append_part(out, type);
  return out;
}

std::string record_key(std::string_view tenant, std::string_view type, std::string_view id) {
  std::string out = type_prefix(tenant, type);
  out.append(id);
  return out;
}

std::string index_field_prefix(std::string_view tenant, std::string_view type,
                               std::string_view field) {
  std::string out = type_prefix(tenant, type);
  append_part(out, field);
  return out;
}

std::string edge_node_prefix(std::string_view tenant, std::string_view node) {
  std::string out = tenant_prefix(tenant);
  append_part(out, node);
  return out;
}

std::string edge_key(std::string_view tenant, std::string_view a, std::string_view rel,
                     std::string_view b) {
  std::string out = edge_node_prefix(tenant, a);
  append_part(out, rel);
  out.append(b);
  return out;
}

std::string schema_key(std::string_view tenant, std::string_view type) {
  std::string out = tenant_prefix(tenant);
  append_part(out, "schema");
  out.append(type);
  return out;
}

std::string encode_bool(bool b) {
  std::string out(1, static_cast<char>(value_tag::boolean));
  out.push_back(b ? '\1' : '\0');
  return out;
}

std::string encode_number(double d) {
  if (d == 0.0) d = 0.0;  // -0.0 and 0.0 are one value
  auto bits = std::bit_cast<std::uint64_t>(d);
  // Flip so that unsigned byte order equals numeric order: negatives reversed.
  bits = (bits & 0x8000000000000000ULL) ? ~bits : (bits | 0x8000000000000000ULL);
  std::string out(1, static_cast<char>(value_tag::number));
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((bits >> shift) & 0xff));
  return out;
}

std::string encode_text(std::string_view s) {
  std::string out(1, static_cast<char>(value_tag::text));
  out.append(s);
  return out;
}

}  // namespace rem
