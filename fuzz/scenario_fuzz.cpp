// Fuzz target: the load generator's scenario loader (loadtest scenario.hpp). Any text
// must load or give one "<file>:<line>: <field>: <what>" error, never a crash, a hang
// or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loadgen/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto loaded = loadgen::parse_scenario(text, "fuzz.json");
  if (loaded.ok == !loaded.error.empty()) std::abort();
  if (!loaded.ok && loaded.error.rfind("fuzz.json:", 0) != 0) std::abort();
  return 0;
}
