// request_template: a request path or JSON body with generated parts, compiled once
// from a scenario and rendered per request into a reused buffer.
//
// Placeholders, inside any string of the path or body:
//   ${seq}            a number unique in the run (1, 2, 3 ...)
//   ${uniform:LO:HI}  a uniform integer in [LO, HI]
//   ${zipf:N[:S]}     a key in [1, N], Zipf-distributed with exponent S (default 1)
//   ${text:N}         N characters of random lowercase words
//   ${choice:A|B|C}   one of the listed words, uniformly
//   ${uuid}           a random version-4 UUID
//   ${now_ms}         the Unix time in milliseconds
//   ${pick:POOL}      a value captured earlier into POOL (see value_pools)
//   ${pick:POOL@BASE} the value of POOL captured together with the one just picked
//                     from BASE (earlier in the same request): a visit and its patient
// In a body, a string that is exactly one numeric placeholder (seq, uniform, zipf,
// now_ms, or a pick of a captured number) renders as a JSON number, not a string.
// An object {"$repeat": N, "item": X} in a body renders as an array of N items X.
//
// Rendering allocates nothing once the output buffer has grown to its working size.
// A compiled template is immutable and may be rendered from several threads, each
// with its own render_context.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/value_pools.hpp"

namespace loadgen {

// What rendering draws from; one per worker thread.
struct render_context {
  std::mt19937_64& rng;
  value_pools& pools;
  std::uint64_t next_sequence;  // advanced by `sequence_stride` per use
  std::uint64_t sequence_stride;
};

class request_template {
 public:
  // Compile errors are returned as text (empty = success); `pools` learns pool names.
  static std::string compile_text(std::string_view text, value_pools& pools, request_template& out);
  static std::string compile_json(const rapidjson::Value& body, value_pools& pools,
                                  request_template& out);

  // Appends the rendering to `out`. Returns false when a picked pool is empty.
  bool render(render_context& context, std::string& out) const;
  bool is_constant() const;
  // Pools this template picks from, to check that something fills them.
  std::vector<std::size_t> picked_pools() const;

 private:
  static constexpr std::size_t no_pool = static_cast<std::size_t>(-1);
  enum class kind { literal, sequence, uniform, zipf, text, choice, uuid, now_ms, pick, repeat };
  struct piece {
    kind kind_ = kind::literal;
    std::string literal;             // literal text
    std::int64_t low = 0, high = 0;  // uniform bounds; text length; repeat count
    bool as_json_value = false;      // a whole JSON string value: quote it as its type needs
    std::size_t pool = 0;
    std::size_t paired_with = no_pool;  // pick: draw the partner of this pool's last pick
    std::shared_ptr<const std::vector<double>> zipf_cdf;
    std::vector<std::string> words;  // choice words
    std::size_t repeat_end = 0;      // for repeat: index one past its last piece
  };

  std::string compile_string_into(std::string_view text, bool json_string, value_pools& pools);
  std::string compile_value(const rapidjson::Value& value, value_pools& pools);
  void add_literal(std::string_view text);
  bool render_range(std::size_t begin, std::size_t end, render_context& context,
                    std::string& out) const;

  std::vector<piece> pieces_;
};

// The value of the first `"key":` in a JSON text: a string's contents (without
// quotes), a number or literal, or the first element of an array. A fast scan, not a
// parser: it finds the first occurrence of the key at any depth, which is what a
// capture of an id from a small reply needs. Returns false when absent.
bool find_json_field(std::string_view json, std::string_view key, std::string_view& value,
                     bool& is_string);

}  // namespace loadgen
