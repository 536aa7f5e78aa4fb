// embedder: turns texts into vectors for vector search, behind one interface so the
// provider is configuration. The built-in one, hashing_embedder, is the OFFLINE
// STAND-IN: a deterministic feature-hashing embedder (384 dimensions; word unigrams and
// character trigrams hashed with a sign into buckets, L2-normalized). It is lexical, not
// semantic: texts sharing words and word pieces land close; synonyms do not. It needs
// no network and no model, so tests and benchmarks are reproducible anywhere.
// Implementations are stateless after construction and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rem {

class embedder {
 public:
  virtual ~embedder() = default;
  virtual std::string name() const = 0;
  virtual std::size_t dimension() const = 0;
  // Writes dimension() floats, unit length (all zeros for a text with no features).
  virtual void embed(std::string_view text, float* out) const = 0;
};

class hashing_embedder final : public embedder {
 public:
  explicit hashing_embedder(std::size_t dimension = 384) : dimension_(dimension) {}
  std::string name() const override { return "hashing-384 (offline, lexical)"; }
  std::size_t dimension() const override { return dimension_; }
  void embed(std::string_view text, float* out) const override;

 private:
  std::size_t dimension_;
};

}  // namespace rem
