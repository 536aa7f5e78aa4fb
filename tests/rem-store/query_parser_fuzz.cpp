// Fuzz target for the REM query parser: any bytes must give a query or a parse error
// whose position lies within the input, never a crash, a hang or a sanitizer report.
// Built as a libFuzzer binary with Clang (-fsanitize=fuzzer), or with any compiler
// against fuzz_driver.cpp, a deterministic mutation loop that ctest runs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "query_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = rem::parse_query(text);
  if (auto* error = std::get_if<rem::parse_error>(&parsed)) {
    if (error->position > size || error->message.empty()) std::abort();
  }
  return 0;
}
