// The bus envelope (design.md, "The bus"): one request and one reply shape for every
// service, each a msgpack map in one ZeroMQ frame.
//   request: {id, op, tenant, principal, roles, deadline_ms, trace_id, body}
//   reply:   {id, status, body}  or  {id, status, error: {code, message, details}}
//            plus `more: true` on every part of a streamed reply but the last (absent,
//            i.e. false, on a one-part reply, so plain replies are unchanged on the wire).
// A streamed reply is a sequence of replies with the request's id: zero or more parts
// with more = true, then exactly one with more = false (a success or an error) that
// ends it. The status of the first part is the status of the whole answer.
// Decoding never throws: a malformed frame gives an error_info that the receiver turns
// into an error reply (status 400, code "bad_frame").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "suite/msgpack_value.hpp"
#include "suite/result.hpp"

namespace suite {

struct request {
  std::uint64_t id = 0;  // correlation id, chosen by the caller's bus client
  std::string op;        // from the op catalogue, e.g. "patients.get"
  std::string tenant;
  std::string principal;           // set by the gateway after auth, never by the client
  std::vector<std::string> roles;  // the principal's roles, set by the gateway
  std::int64_t deadline_ms = 0;    // absolute, unix epoch milliseconds; 0 = none
  std::string trace_id;
  msgpack_value body = empty_map();
  // Set instead of `body` by a sender that already holds the body packed (the gateway
  // converts JSON straight to msgpack): encode() copies these bytes and ignores `body`,
  // which saves parsing them and packing them again. decode_request never sets it.
  std::string packed_body;
};

struct reply {
  std::uint64_t id = 0;
  int status = 200;                  // HTTP-like
  msgpack_value body = empty_map();  // meaningful when !error
  std::optional<error_info> error;   // set for an error reply; its status equals `status`
  bool more = false;                 // a part of a streamed reply that is not its last

  bool is_error() const { return error.has_value(); }
};

reply ok_reply(std::uint64_t id, msgpack_value body, int status = 200);
reply error_reply(std::uint64_t id, error_info error);

std::int64_t unix_ms_now();
// True when the request carries a deadline that has already passed.
bool past_deadline(const request& r, std::int64_t now_ms = unix_ms_now());

void encode(const request& r, msgpack::sbuffer& out);
void encode(const reply& r, msgpack::sbuffer& out);

// On failure, *id_out (when given) holds the request's id if the frame revealed one,
// so the error reply still reaches its caller.
result<request> decode_request(const char* data, std::size_t size, std::uint64_t* id_out = nullptr);
result<reply> decode_reply(const char* data, std::size_t size);

}  // namespace suite
