// embedder: turns texts into vectors for vector search, behind one interface so the
// provider is configuration (setting `embedder`):
//   hashing  the built-in OFFLINE STAND-IN and the default: a deterministic
//            feature-hashing embedder (384 dimensions; word unigrams and character
//            trigrams hashed with a sign into buckets, L2-normalized). It is lexical,
//            not semantic: texts sharing words and word pieces land close; synonyms do
//            not. No network, no model, so tests and benchmarks reproduce anywhere.
//   ollama   POST <url>/api/embed {model, input:[...]} -> {embeddings:[[...]...]}
//   openai   POST <url>/v1/embeddings {model, input:[...]} -> {data:[{index, embedding}]}
//            (Authorization: Bearer <key> when a key is set)
// The HTTP providers send texts in batches (batch_size per request), plain http://
// only (no TLS in this build), check the returned dimension and L2-normalize, since
// the HNSW graph uses inner product. Implementations are immutable after construction
// and thread-safe (the HTTP ones open one connection per call).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "suite/result.hpp"

namespace rem {

class embedder {
 public:
  virtual ~embedder() = default;
  virtual std::string name() const = 0;
  virtual std::size_t dimension() const = 0;
  // Writes texts.size() * dimension() floats to `out`, each vector unit length (all
  // zeros for a text with no features). On error (provider down, bad answer) writes
  // nothing usable and returns 503 "embedder_unavailable".
  virtual suite::status embed(const std::vector<std::string_view>& texts, float* out) const = 0;
  suite::status embed_one(std::string_view text, float* out) const { return embed({text}, out); }
};

class hashing_embedder final : public embedder {
 public:
  explicit hashing_embedder(std::size_t dimension = 384) : dimension_(dimension) {}
  std::string name() const override {
    return "hashing-" + std::to_string(dimension_) + " (offline, lexical)";
  }
  std::size_t dimension() const override { return dimension_; }
  suite::status embed(const std::vector<std::string_view>& texts, float* out) const override;

 private:
  void hash_one(std::string_view text, float* out) const;
  std::size_t dimension_;
};

struct http_embedder_settings {
  std::string provider;  // "ollama" | "openai"
  std::string url;       // http://host:port (a path prefix is allowed)
  std::string model;
  std::string api_key;  // openai only; may be empty
  std::size_t dimension = 384;
  std::size_t batch_size = 32;
  int timeout_ms = 30000;
};

std::unique_ptr<embedder> make_http_embedder(http_embedder_settings settings);

}  // namespace rem
