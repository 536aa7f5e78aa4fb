// msgpack_value: a parsed msgpack object together with the zone that owns its storage.
// Copies share the zone (cheap, immutable), so a value can travel in CAF messages and
// across threads. Also the field accessors every service uses to read request bodies,
// and the suite's one extension type: an exact decimal (money), carried as ext type 1
// holding the number's decimal text, e.g. "1234.50". JSON numbers with a fraction or an
// exponent become decimals, so no amount is ever rounded through a double.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "suite/result.hpp"

namespace suite {

inline constexpr std::int8_t decimal_ext_type = 1;

using msgpack_packer = msgpack::packer<msgpack::sbuffer>;

// The first capacity of a buffer that packs one frame or body. Most are a few hundred
// bytes; msgpack's default of 8 KiB made every frame a large allocation (glibc then sorts
// its free lists on each one), and a buffer grows by doubling when a frame is bigger.
inline constexpr std::size_t frame_buffer_bytes = 512;

struct msgpack_value {
  std::shared_ptr<msgpack::zone> zone;
  msgpack::object object;  // nil in a default-constructed value

  bool is_map() const { return object.type == msgpack::type::MAP; }
};

// An empty map, the body of a request or reply that carries nothing.
msgpack_value empty_map();

// A zone to unpack `packed_size` bytes into. msgpack's default zone starts with an 8 KiB
// chunk whatever the object's size (a large allocation, on every frame); this one starts
// near what the unpacked objects and their copied strings need, and grows if it must.
std::unique_ptr<msgpack::zone> zone_for(std::size_t packed_size);
// Unpacks bytes this process wrote itself (a stored record), in a zone_for them. Throws
// msgpack's exceptions on malformed bytes; untrusted frames go through parse_msgpack.
msgpack::object_handle unpack_stored(const char* data, std::size_t size);

// Parses packed bytes (one object). Rejects trailing bytes, nesting deeper than 64 and
// containers or strings larger than the frame could hold.
result<msgpack_value> parse_msgpack(const char* data, std::size_t size);

// Packs with `fill(packer)` and parses the result back into a value.
template <class Fill>
msgpack_value pack_value(Fill&& fill) {
  msgpack::sbuffer buffer(frame_buffer_bytes);
  msgpack_packer packer(buffer);
  fill(packer);
  return parse_msgpack(buffer.data(), buffer.size()).value();
}

void pack_string(msgpack_packer& p, std::string_view s);
// Packs decimal text (already validated as a JSON number) as the decimal extension.
void pack_decimal(msgpack_packer& p, std::string_view text);

// Field access on a map object; all return nothing when the key is absent or the type
// does not match.
const msgpack::object* find_field(const msgpack::object& map, std::string_view key);
std::optional<std::string_view> string_field(const msgpack::object& map, std::string_view key);
std::optional<std::int64_t> int_field(const msgpack::object& map, std::string_view key);
std::optional<bool> bool_field(const msgpack::object& map, std::string_view key);
// A number as exact decimal text: an integer or a decimal extension.
std::optional<std::string> decimal_field(const msgpack::object& map, std::string_view key);

std::string_view as_string_view(const msgpack::object& o);

}  // namespace suite
