// Helpers shared by rem-store's tests: a temporary RocksDB directory, JSON -> msgpack
// bodies, and reading fields out of query results.
#pragma once

#include <filesystem>
#include <random>
#include <string>

#include "record_store.hpp"
#include "suite/json_msgpack.hpp"

namespace rem::test {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("rem-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

inline suite::msgpack_value json(const std::string& text) {
  return suite::json_to_msgpack(text, nullptr).value();
}

inline std::string to_json(const msgpack::object& o) {
  std::string out;
  suite::msgpack_to_json(o, out);
  return out;
}

}  // namespace rem::test
