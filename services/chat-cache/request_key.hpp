// request_key: the cache key of an LLM request. The key is the XXH3-128 hash of a
// canonical form of the request: the caller's tenant (from the envelope, so one tenant
// never gets, nor learns through X-Cache, another tenant's answers), the API family ("ollama.chat",
// "ollama.generate", "openai.chat") and every field of the body that changes the answer (model,
// messages, prompt, system, options, format, tools, ...), with map keys sorted at every level, so
// two requests that differ only in key order or JSON whitespace share one entry.
// Fields that only change how the answer is delivered (stream, keep_alive,
// stream_options) and the HTTP headers the gateway passes (http_*) are left out.
// Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "suite/msgpack_value.hpp"

namespace suite::chat_cache {

struct cache_key {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  bool operator==(const cache_key&) const = default;
  // 32 lower-case hex digits (the form used by the API and the X-Cache-Key header).
  std::string hex() const;
  static std::optional<cache_key> from_hex(std::string_view text);
};

struct cache_key_hash {
  std::size_t operator()(const cache_key& k) const {
    return static_cast<std::size_t>(k.low ^ (k.high * 0x9e3779b97f4a7c15ULL));
  }
};

// True for a top-level body field that takes part in the key.
bool is_semantic_field(std::string_view name);

// Appends the canonical bytes of `value` (maps sorted by key, types tagged).
void append_canonical(const msgpack::object& value, std::string& out);

cache_key request_key(std::string_view tenant, std::string_view api, const msgpack::object& body);

}  // namespace suite::chat_cache
