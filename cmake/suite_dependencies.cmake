# Every third-party library the suite uses, found once, as Debian bookworm ships them.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(cppzmq REQUIRED)
find_package(msgpack CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(doctest REQUIRED)
find_package(RapidJSON REQUIRED)
# RapidJSON's SSE2 paths (RAPIDJSON_SSE2) stay off: in Debian's RapidJSON 1.1.0 the
# Writer's SSE2 scan compares against 0x19 where it means 0x1F, so the control bytes
# 0x1A-0x1F inside a 16-byte block went out unescaped, i.e. invalid JSON (the
# json_msgpack fuzzer found it; fuzz/corpus/json_msgpack/control-char-0x1e-in-simd-block,
# and json_msgpack_test). Fixed upstream after 1.1.0; stop 22 had turned it on for ~3.5 %
# of the gateway's and chat-cache's CPU.
find_package(Boost 1.74 REQUIRED)
find_package(RocksDB CONFIG REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
# libsodium: SHA-256, HMAC-SHA256, random bytes and constant-time compares for the
# gateway's credentials. Debian's libzmq links it, so every process has it loaded already;
# OpenSSL's libcrypto, used for this before, cost the gateway 1.4 MB of resident code.
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)

# CAF 0.17 ships no CMake config.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
add_library(caf::core INTERFACE IMPORTED)
target_include_directories(caf::core INTERFACE ${CAF_INCLUDE_DIR})
target_link_libraries(caf::core INTERFACE ${CAF_CORE_LIBRARY} Threads::Threads)

# xxHash (libxxhash-dev) ships no CMake config: XXH3-128 keys of chat-cache.
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
