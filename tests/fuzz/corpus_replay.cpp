// Replays every file of a fuzz target's corpus folder (fuzz/corpus/<target>/) through
// the target's LLVMFuzzerTestOneInput in the ordinary build, so the seeds, and every
// reproducer of a crash once fixed (saved into that folder), are regression tests that
// ctest runs with any compiler. A target signals a bug by aborting.
// Usage: <binary> <corpus folder>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_FOLDER\n", argv[0]);
    return 2;
  }
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay %s\n", entry.path().filename().c_str());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ++replayed;
  }
  std::printf("%d inputs replayed from %s\n", replayed, argv[1]);
  return replayed > 0 ? 0 : 1;  // an empty or missing corpus is a mistake, not a pass
}
