#include "suite/envelope.hpp"

namespace suite {
namespace {

void pack_error(msgpack_packer& p, const error_info& e) {
  p.pack_map(3);
  pack_string(p, "code");
  pack_string(p, e.code);
  pack_string(p, "message");
  pack_string(p, e.message);
  pack_string(p, "details");
  p.pack_array(static_cast<std::uint32_t>(e.details.size()));
  for (const auto& d : e.details) {
    p.pack_map(2);
    pack_string(p, "field");
    pack_string(p, d.field);
    pack_string(p, "message");
    pack_string(p, d.message);
  }
}

std::optional<std::uint64_t> u64_of(const msgpack::object& o) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) return o.via.u64;
  return std::nullopt;
}

error_info bad_frame(std::string message) {
  return make_error(400, "bad_frame", std::move(message));
}

}  // namespace

reply ok_reply(std::uint64_t id, msgpack_value body, int status) {
  reply r;
  r.id = id;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply error_reply(std::uint64_t id, error_info error) {
  reply r;
  r.id = id;
  r.status = error.status;
  r.error = std::move(error);
  return r;
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool past_deadline(const request& r, std::int64_t now_ms) {
  return r.deadline_ms != 0 && now_ms > r.deadline_ms;
}

void encode(const request& r, msgpack::sbuffer& out) {
  msgpack_packer p(out);
  p.pack_map(8);
  pack_string(p, "id");
  p.pack_uint64(r.id);
  pack_string(p, "op");
  pack_string(p, r.op);
  pack_string(p, "tenant");
  pack_string(p, r.tenant);
  pack_string(p, "principal");
  pack_string(p, r.principal);
  pack_string(p, "roles");
  p.pack_array(static_cast<std::uint32_t>(r.roles.size()));
  for (const auto& role : r.roles) pack_string(p, role);
  pack_string(p, "deadline_ms");
  p.pack_int64(r.deadline_ms);
  pack_string(p, "trace_id");
  pack_string(p, r.trace_id);
  pack_string(p, "body");
  if (r.packed_body.empty()) {
    p.pack(r.body.object);
  } else {
    out.write(r.packed_body.data(), r.packed_body.size());
  }
}

void encode(const reply& r, msgpack::sbuffer& out) {
  msgpack_packer p(out);
  p.pack_map(r.more ? 4 : 3);
  pack_string(p, "id");
  p.pack_uint64(r.id);
  if (r.more) {
    pack_string(p, "more");
    p.pack_true();
  }
  pack_string(p, "status");
  p.pack_int(r.status);
  if (r.error) {
    pack_string(p, "error");
    pack_error(p, *r.error);
  } else {
    pack_string(p, "body");
    p.pack(r.body.object);
  }
}

result<request> decode_request(const char* data, std::size_t size, std::uint64_t* id_out) {
  auto parsed = parse_msgpack(data, size);
  if (!parsed) return parsed.error();
  const msgpack::object& map = parsed->object;
  if (!parsed->is_map()) return bad_frame("request frame is not a msgpack map");
  request r;
  const auto* id = find_field(map, "id");
  if (!id || !u64_of(*id)) return bad_frame("request has no unsigned integer 'id'");
  r.id = *u64_of(*id);
  if (id_out) *id_out = r.id;
  auto op = string_field(map, "op");
  if (!op || op->empty()) return bad_frame("request has no string 'op'");
  r.op = std::string(*op);
  r.tenant = std::string(string_field(map, "tenant").value_or(""));
  r.principal = std::string(string_field(map, "principal").value_or(""));
  r.trace_id = std::string(string_field(map, "trace_id").value_or(""));
  r.deadline_ms = int_field(map, "deadline_ms").value_or(0);
  if (const auto* roles = find_field(map, "roles")) {
    if (roles->type != msgpack::type::ARRAY) return bad_frame("'roles' is not an array");
    for (std::uint32_t i = 0; i < roles->via.array.size; ++i) {
      const auto& role = roles->via.array.ptr[i];
      if (role.type != msgpack::type::STR) return bad_frame("'roles' holds a non-string");
      r.roles.emplace_back(as_string_view(role));
    }
  }
  if (const auto* body = find_field(map, "body")) {
    if (body->type != msgpack::type::MAP) return bad_frame("'body' is not a map");
    r.body = msgpack_value{parsed->zone, *body};
  }
  return r;
}

result<reply> decode_reply(const char* data, std::size_t size) {
  auto parsed = parse_msgpack(data, size);
  if (!parsed) return parsed.error();
  const msgpack::object& map = parsed->object;
  if (!parsed->is_map()) return bad_frame("reply frame is not a msgpack map");
  reply r;
  const auto* id = find_field(map, "id");
  if (!id || !u64_of(*id)) return bad_frame("reply has no unsigned integer 'id'");
  r.id = *u64_of(*id);
  auto status = int_field(map, "status");
  if (!status || *status < 100 || *status > 599) return bad_frame("reply has no valid 'status'");
  r.status = static_cast<int>(*status);
  if (const auto* more = find_field(map, "more")) {
    if (more->type != msgpack::type::BOOLEAN) return bad_frame("'more' is not a boolean");
    r.more = more->via.boolean;
  }
  if (const auto* err = find_field(map, "error")) {
    if (err->type != msgpack::type::MAP) return bad_frame("'error' is not a map");
    error_info e;
    e.status = r.status;
    e.code = std::string(string_field(*err, "code").value_or("error"));
    e.message = std::string(string_field(*err, "message").value_or(""));
    if (const auto* details = find_field(*err, "details");
        details && details->type == msgpack::type::ARRAY) {
      for (std::uint32_t i = 0; i < details->via.array.size; ++i) {
        const auto& d = details->via.array.ptr[i];
        e.details.push_back({std::string(string_field(d, "field").value_or("")),
                             std::string(string_field(d, "message").value_or(""))});
      }
    }
    r.error = std::move(e);
  } else if (const auto* body = find_field(map, "body")) {
    r.body = msgpack_value{parsed->zone, *body};
  }
  return r;
}

}  // namespace suite
