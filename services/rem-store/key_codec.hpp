// key_codec: the byte layout of every RocksDB key rem-store writes, and the
// order-preserving encoding of indexed values. Every key starts with the tenant and a
// NUL, so one tenant's keys form one contiguous range that no other tenant's prefix
// scan can reach (tenant names are checked to hold no NUL).
//   records    tenant \0 type \0 id             -> record (msgpack map)
//   indexes    tenant \0 type \0 field \0 tag value \0 id  -> ""
//   edges_out  tenant \0 from \0 rel \0 to      -> edge (msgpack map)
//   edges_in   tenant \0 to \0 rel \0 from      -> edge (msgpack map)
//   embeddings tenant \0 type \0 id             -> float32[dim]
//   metadata   tenant \0 'schema' \0 type       -> type registration (msgpack map)
// Ids are 16 lowercase hex digits of a 64-bit number: the type's tag (the top byte of
// XXH3-64 over the type name) in the top byte, then the top 56 bits of XXH3-64 over
// tenant \0 type \0 key. The same key of the same type in the same tenant always gives
// the same id (so a re-insert is an upsert); the tag lets a get by id go straight to the
// record, trying only the tenant's types with that tag (no id -> type lookup); and the id
// doubles as the HNSW label. Two keys of one type share an id with probability about
// n^2 / 2^57 (7e-6 at a million records): the store refuses the second (id_collision)
// rather than overwrite the first. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rem {

inline constexpr std::size_t id_length = 16;

std::string record_id(std::string_view tenant, std::string_view type, std::string_view key);
// The tag a type's ids carry in their top byte, and the tag of an id (as a number).
std::uint8_t type_tag(std::string_view type);
std::uint8_t id_type_tag(std::uint64_t id);
// The id as the 64-bit number it encodes (the HNSW label); nothing when malformed.
std::optional<std::uint64_t> id_number(std::string_view id);
std::string id_from_number(std::uint64_t n);
bool valid_id(std::string_view id);

// tenant \0 a \0 b ... built by appending parts each followed by NUL (the last one too
// when `terminated`).
std::string tenant_prefix(std::string_view tenant);
std::string record_key(std::string_view tenant, std::string_view type, std::string_view id);
std::string type_prefix(std::string_view tenant, std::string_view type);
std::string index_field_prefix(std::string_view tenant, std::string_view type,
                               std::string_view field);
std::string edge_key(std::string_view tenant, std::string_view a, std::string_view rel,
                     std::string_view b);
std::string edge_node_prefix(std::string_view tenant, std::string_view node);
std::string schema_key(std::string_view tenant, std::string_view type);

// An indexable scalar. Numbers are compared as doubles (integers beyond 2^53 lose
// precision in the index only; the record keeps them exact and predicates are
// re-checked on the record).
enum class value_tag : unsigned char { boolean = 0x01, number = 0x02, text = 0x03 };
std::string encode_bool(bool b);
std::string encode_number(double d);
std::string encode_text(std::string_view s);

}  // namespace rem
