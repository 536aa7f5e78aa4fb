#include "embedder.hpp"

#include <cctype>
#include <cmath>
#include <string>

#include <xxhash.h>

namespace rem {

void hashing_embedder::embed(std::string_view text, float* out) const {
  std::fill(out, out + dimension_, 0.0f);
  auto add = [&](std::string_view feature, float weight, std::uint64_t seed) {
    auto h = XXH3_64bits_withSeed(feature.data(), feature.size(), seed);
    out[h % dimension_] += (h >> 63) ? -weight : weight;
  };
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    add(word, 1.0f, 1);
    std::string padded = "^" + word + "$";
    for (std::size_t i = 0; i + 3 <= padded.size(); ++i) add(std::string_view(padded).substr(i, 3), 0.5f, 2);
    word.clear();
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    // Bytes >= 0x80 (UTF-8 of non-ASCII letters) count as word characters.
    if (std::isalnum(u) || u >= 0x80) word.push_back(static_cast<char>(std::tolower(u)));
    else flush();
  }
  flush();
  double norm = 0;
  for (std::size_t i = 0; i < dimension_; ++i) norm += static_cast<double>(out[i]) * out[i];
  if (norm <= 0) return;
  auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (std::size_t i = 0; i < dimension_; ++i) out[i] *= scale;
}

}  // namespace rem
