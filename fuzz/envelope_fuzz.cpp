// Fuzz target: bus envelope decoding (common/envelope). Any frame must decode to a
// request / reply or to a "bad_frame"-style error, never a crash or a sanitizer report.
// A frame that decodes must reach a fixed point: encode(decode(x)) decodes and
// re-encodes to the same bytes, so nothing a service reads is lost or altered by a hop.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "suite/envelope.hpp"

namespace {

template <class Message>
std::string encoded(const Message& m) {
  msgpack::sbuffer buffer;
  suite::encode(m, buffer);
  return {buffer.data(), buffer.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* frame = reinterpret_cast<const char*>(data);
  std::uint64_t id = 0;
  if (auto request = suite::decode_request(frame, size, &id)) {
    if (id != request->id || request->op.empty()) std::abort();
    auto once = encoded(*request);
    auto again = suite::decode_request(once.data(), once.size());
    if (!again || encoded(*again) != once) std::abort();
  } else if (request.error().message.empty()) {
    std::abort();
  }
  if (auto reply = suite::decode_reply(frame, size)) {
    if (reply->status < 100 || reply->status > 599) std::abort();
    if (reply->error && reply->error->status != reply->status) std::abort();
    auto once = encoded(*reply);
    auto again = suite::decode_reply(once.data(), once.size());
    if (!again || encoded(*again) != once) std::abort();
  } else if (reply.error().message.empty()) {
    std::abort();
  }
  return 0;
}
