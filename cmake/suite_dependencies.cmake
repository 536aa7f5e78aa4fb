# Every third-party library the suite uses, found once, as Debian bookworm ships them.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(cppzmq REQUIRED)
find_package(msgpack CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(doctest REQUIRED)
find_package(RapidJSON REQUIRED)
# RapidJSON's SSE2 paths (x86-64's baseline, so no -m flag is needed): its Writer copies
# runs of characters that need no escaping 16 bytes at a time instead of one by one.
# Defined for every target, never for some: the SIMD path is a specialisation of a
# Writer member, and two definitions of it in one program would break the ODR.
# It also turns on SIMD in the Reader: a parse of a bare NUL-terminated string
# (Parse(const char*)) then reads aligned 16-byte blocks past the terminator, which
# never leave the page but which ASan reports (Tencent/rapidjson#998, #1367). Every
# parse here passes the length (Parse(data, size)), which takes the bounded path; the
# sanitizer build catches one that does not.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  add_compile_definitions(RAPIDJSON_SSE2)
endif()
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
