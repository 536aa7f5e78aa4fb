#include "request_key.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <xxhash.h>

namespace suite::chat_cache {

namespace {

void append_length(std::size_t n, std::string& out) {
  out += std::to_string(n);
  out.push_back(':');
}

void append_bytes(char tag, const char* data, std::size_t size, std::string& out) {
  out.push_back(tag);
  append_length(size, out);
  out.append(data, size);
}

}  // namespace

std::string cache_key::hex() const {
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return text;
}

std::optional<cache_key> cache_key::from_hex(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  cache_key k;
  for (std::size_t i = 0; i < 32; ++i) {
    char c = text[i];
    std::uint64_t digit;
    if (c >= '0' && c <= '9')
      digit = static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      digit = static_cast<std::uint64_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      digit = static_cast<std::uint64_t>(c - 'A' + 10);
    else
      return std::nullopt;
    auto& half = i < 16 ? k.high : k.low;
    half = (half << 4) | digit;
  }
  return k;
}

bool is_semantic_field(std::string_view name) {
  return name != "stream" && name != "keep_alive" && name != "stream_options" &&
         !name.starts_with("http_");
}

void append_canonical(const msgpack::object& value, std::string& out) {
  switch (value.type) {
    case msgpack::type::NIL:
      out.push_back('n');
      break;
    case msgpack::type::BOOLEAN:
      out.push_back(value.via.boolean ? 't' : 'f');
      break;
    case msgpack::type::POSITIVE_INTEGER:
      out.push_back('i');
      out += std::to_string(value.via.u64);
      out.push_back(';');
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      out.push_back('i');
      out += std::to_string(value.via.i64);
      out.push_back(';');
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      char bits[sizeof(double)];
      std::memcpy(bits, &value.via.f64, sizeof bits);
      append_bytes('d', bits, sizeof bits, out);
      break;
    }
    case msgpack::type::STR:
      append_bytes('s', value.via.str.ptr, value.via.str.size, out);
      break;
    case msgpack::type::BIN:
      append_bytes('b', value.via.bin.ptr, value.via.bin.size, out);
      break;
    case msgpack::type::EXT:
      out.push_back('e');
      out += std::to_string(static_cast<int>(value.via.ext.type()));
      append_bytes(':', value.via.ext.data(), value.via.ext.size, out);
      break;
    case msgpack::type::ARRAY:
      out.push_back('[');
      append_length(value.via.array.size, out);
      for (std::uint32_t i = 0; i < value.via.array.size; ++i)
        append_canonical(value.via.array.ptr[i], out);
      out.push_back(']');
      break;
    case msgpack::type::MAP: {
      // Sort by the canonical bytes of each key, so key order never matters.
      std::vector<std::pair<std::string, const msgpack::object*>> entries;
      entries.reserve(value.via.map.size);
      for (std::uint32_t i = 0; i < value.via.map.size; ++i) {
        std::string key;
        append_canonical(value.via.map.ptr[i].key, key);
        entries.emplace_back(std::move(key), &value.via.map.ptr[i].val);
      }
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      append_length(entries.size(), out);
      for (const auto& [key, val] : entries) {
        out += key;
        append_canonical(*val, out);
      }
      out.push_back('}');
      break;
    }
  }
}

cache_key request_key(std::string_view tenant, std::string_view api, const msgpack::object& body) {
  std::string canonical;
  canonical.reserve(256);
  append_bytes('t', tenant.data(), tenant.size(), canonical);
  append_bytes('a', api.data(), api.size(), canonical);
  if (body.type == msgpack::type::MAP) {
    std::vector<std::pair<std::string, const msgpack::object*>> fields;
    for (std::uint32_t i = 0; i < body.via.map.size; ++i) {
      const auto& kv = body.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && !is_semantic_field(as_string_view(kv.key))) continue;
      std::string key;
      append_canonical(kv.key, key);
      fields.emplace_back(std::move(key), &kv.val);
    }
    std::sort(fields.begin(), fields.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [key, val] : fields) {
      canonical += key;
      append_canonical(*val, canonical);
    }
  }
  XXH128_hash_t h = XXH3_128bits(canonical.data(), canonical.size());
  return cache_key{h.high64, h.low64};
}

}  // namespace suite::chat_cache
