// Fuzz target: JSON → msgpack with schema validation (common/json_msgpack). The first
// byte picks one of the catalogue's request schemas (or none); the rest is the JSON
// body. Any input must give a msgpack map or a 400 error naming what is wrong, never a
// crash, a hang or a sanitizer report; and an accepted body must survive the round
// trip msgpack → JSON → msgpack byte for byte (no number or string altered). And
// validate_msgpack, given the body's msgpack, must say what json_to_msgpack said.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "suite/embedded_schemas.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/op_catalogue.hpp"

namespace {

const std::vector<const suite::json_schema*>& schemas() {
  static const std::vector<const suite::json_schema*> all = [] {
    static auto catalogue = suite::op_catalogue::load(suite::embedded_schema_files());
    if (!catalogue) std::abort();
    std::vector<const suite::json_schema*> out{nullptr};
    for (const auto& op : catalogue->ops()) {
      if (op.schema) out.push_back(op.schema.get());
    }
    return out;
  }();
  return all;
}

std::string packed(const msgpack::object& o) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, o);
  return {buffer.data(), buffer.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& all = schemas();
  const suite::json_schema* schema = all[data[0] % all.size()];
  std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto converted = suite::json_to_msgpack(json, schema);
  // validate_msgpack on the body's normal form (converted without a schema) must give
  // the verdict and the message the JSON path gave.
  if (auto plain = schema ? suite::json_to_msgpack(json, nullptr) : converted; schema && plain) {
    auto fast = suite::validate_msgpack(plain->object, *schema);
    if (!fast || fast->ok() != converted.ok() ||
        (!converted && fast->error().message != converted.error().message)) {
      std::fprintf(stderr, "validate_msgpack disagrees with json_to_msgpack on: %.*s\n",
                   static_cast<int>(json.size()), json.data());
      std::abort();
    }
  }
  if (!converted) {
    if (converted.error().status != 400 || converted.error().message.empty()) std::abort();
    return 0;
  }
  if (!converted->is_map()) std::abort();
  std::string back;
  suite::msgpack_to_json(converted->object, back);
  auto again = suite::json_to_msgpack(back, schema);
  if (!again || packed(again->object) != packed(converted->object)) {
    std::fprintf(stderr, "round trip changed the body: %s\n", back.c_str());
    std::abort();
  }
  return 0;
}
