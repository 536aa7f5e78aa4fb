// A deterministic stand-in for libFuzzer's driver where the compiler has none (GCC):
// mutates a seed corpus of valid queries (byte flips, inserts of query tokens, cuts,
// splices) with a fixed seed for a fixed number of runs and feeds each input to
// LLVMFuzzerTestOneInput. Usage: <binary> [runs] (default 200000).
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  long runs = argc > 1 ? std::atol(argv[1]) : 200000;
  std::vector<std::string> corpus{
      "LOOKUP 'a', 'b'",
      "TRAVERSE FROM '0011223344556677' DEPTH 3 DIRECTION both TYPE 'knows'",
      "SEARCH 'rust db' IN docs WHERE lang = 'en' AND n > 3 LIMIT 5",
      "EXPLAIN SELECT city, COUNT(*), AVG(age) AS m FROM person WHERE (age >= 18 AND age < 65.5) "
      "OR NOT city IN "
      "('a','b') OR x IS NOT NULL GROUP BY city ORDER BY m DESC, city LIMIT 10;",
  };
  const char* tokens[] = {"SELECT", "FROM",     "WHERE",    "(",    ")",     "'",  "''",
                          ",",      "*",        "=",        "!=",   "<=",    "IN", "IS",
                          "NOT",    "NULL",     "AND",      "OR",   "1e308", "-",  ".",
                          "COUNT(", "GROUP BY", "ORDER BY", "LIMIT"};
  std::mt19937 rng(12345);
  for (long i = 0; i < runs; ++i) {
    std::string input = corpus[rng() % corpus.size()];
    int mutations = 1 + static_cast<int>(rng() % 6);
    for (int m = 0; m < mutations; ++m) {
      auto at = input.empty() ? 0 : rng() % (input.size() + 1);
      switch (rng() % 5) {
        case 0:
          if (!input.empty()) input[rng() % input.size()] = static_cast<char>(rng() % 256);
          break;
        case 1:
          input.insert(at, tokens[rng() % (sizeof tokens / sizeof *tokens)]);
          break;
        case 2:
          if (at < input.size()) input.erase(at, 1 + rng() % 8);
          break;
        case 3:
          input = input.substr(0, at);
          break;
        default:
          input.insert(at, corpus[rng() % corpus.size()].substr(0, rng() % 20));
          break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  }
  std::printf("fuzz_driver: %ld inputs, no crash\n", runs);
  return 0;
}
