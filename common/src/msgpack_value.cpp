#include "suite/msgpack_value.hpp"

namespace suite {
namespace {

// Limits for untrusted frames: no single container or string may claim more elements
// than a 16 MiB frame could hold, and nesting stops at 64 levels.
const msgpack::unpack_limit frame_limits{1u << 20, 1u << 20, 16u << 20, 16u << 20, 16u << 20, 64};

}  // namespace

msgpack_value empty_map() {
  static const msgpack_value value = pack_value([](msgpack_packer& p) { p.pack_map(0); });
  return value;
}

std::unique_ptr<msgpack::zone> zone_for(std::size_t packed_size) {
  return std::make_unique<msgpack::zone>(2 * packed_size + 256);
}

msgpack::object_handle unpack_stored(const char* data, std::size_t size) {
  auto zone = zone_for(size);
  auto object = msgpack::unpack(*zone, data, size);
  return msgpack::object_handle(object, std::move(zone));
}

result<msgpack_value> parse_msgpack(const char* data, std::size_t size) {
  try {
    std::size_t offset = 0;
    msgpack_value value;
    value.zone = zone_for(size);
    value.object = msgpack::unpack(*value.zone, data, size, offset, nullptr, nullptr, frame_limits);
    if (offset != size) return make_error(400, "bad_frame", "trailing bytes after msgpack object");
    return value;
  } catch (const std::exception& e) {
    return make_error(400, "bad_frame", std::string("malformed msgpack: ") + e.what());
  }
}

void pack_string(msgpack_packer& p, std::string_view s) {
  p.pack_str(static_cast<std::uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

void pack_decimal(msgpack_packer& p, std::string_view text) {
  p.pack_ext(text.size(), decimal_ext_type);
  p.pack_ext_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

std::string_view as_string_view(const msgpack::object& o) {
  if (o.type != msgpack::type::STR) return {};
  return {o.via.str.ptr, o.via.str.size};
}

const msgpack::object* find_field(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && as_string_view(kv.key) == key) return &kv.val;
  }
  return nullptr;
}

std::optional<std::string_view> string_field(const msgpack::object& map, std::string_view key) {
  const auto* o = find_field(map, key);
  if (!o || o->type != msgpack::type::STR) return std::nullopt;
  return as_string_view(*o);
}

std::optional<std::int64_t> int_field(const msgpack::object& map, std::string_view key) {
  const auto* o = find_field(map, key);
  if (!o) return std::nullopt;
  if (o->type == msgpack::type::POSITIVE_INTEGER) {
    if (o->via.u64 > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(o->via.u64);
  }
  if (o->type == msgpack::type::NEGATIVE_INTEGER) return o->via.i64;
  return std::nullopt;
}

std::optional<bool> bool_field(const msgpack::object& map, std::string_view key) {
  const auto* o = find_field(map, key);
  if (!o || o->type != msgpack::type::BOOLEAN) return std::nullopt;
  return o->via.boolean;
}

std::optional<std::string> decimal_field(const msgpack::object& map, std::string_view key) {
  const auto* o = find_field(map, key);
  if (!o) return std::nullopt;
  if (o->type == msgpack::type::POSITIVE_INTEGER) return std::to_string(o->via.u64);
  if (o->type == msgpack::type::NEGATIVE_INTEGER) return std::to_string(o->via.i64);
  if (o->type == msgpack::type::EXT && o->via.ext.type() == decimal_ext_type) {
    return std::string(o->via.ext.data(), o->via.ext.size);
  }
  return std::nullopt;
}

}  // namespace suite
