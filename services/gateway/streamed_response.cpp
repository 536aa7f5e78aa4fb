#include "streamed_response.hpp"

#include <cstdio>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio.hpp>

#include "response_head.hpp"
#include "suite/json_msgpack.hpp"

namespace suite::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// The gateway's error shape {error, code, details} (gateway.hpp), for an error part.
std::string error_object(const error_info& e) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto put = [&w](const std::string& s) {
    w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("error");
  put(e.message);
  w.Key("code");
  put(e.code);
  w.Key("status");
  w.Int(e.status);
  w.Key("details");
  w.StartArray();
  for (const auto& d : e.details) {
    w.StartObject();
    w.Key("field");
    put(d.field);
    w.Key("message");
    put(d.message);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::string chunk(std::string_view payload) {
  char size[24];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
  std::string out(size, static_cast<std::size_t>(n));
  out.append(payload).append("\r\n");
  return out;
}

std::string body_of(const msgpack::object& raw) {
  if (const auto* b = find_field(raw, "body")) {
    if (b->type == msgpack::type::STR) return {b->via.str.ptr, b->via.str.size};
    if (b->type == msgpack::type::BIN) return {b->via.bin.ptr, b->via.bin.size};
  }
  return {};
}

}  // namespace

streamed_response::streamed_response(beast::tcp_stream& stream, beast::flat_buffer& read_buffer,
                                     limits limits, bool keep_alive, bool chunked,
                                     std::function<void()> on_abandoned, finished done,
                                     std::shared_ptr<void> owner)
    : stream_(stream),
      read_buffer_(read_buffer),
      limits_(limits),
      keep_alive_(keep_alive && chunked),
      chunked_(chunked),
      on_abandoned_(std::move(on_abandoned)),
      done_(std::move(done)),
      owner_(std::move(owner)) {}

void streamed_response::add_part(const reply& part) {
  if (over_ || last_queued_) return;
  const msgpack::object* raw = part.is_error() ? nullptr : find_field(part.body.object, "$http");
  std::string out;
  if (!head_sent_) {
    head_sent_ = true;
    status_ = part.status;
    std::string content_type = "application/x-ndjson";
    if (raw) {
      content_type = std::string(string_field(*raw, "content_type").value_or(content_type));
    }
    format_ = content_type.starts_with("text/event-stream") ? "sse"
              : content_type.starts_with("application/x-ndjson") ||
                      content_type.starts_with("application/json")
                  ? "ndjson"
                  : "raw";
    begin_head(out, status_, content_type, keep_alive_);
    add_header(out, "Cache-Control", "no-cache");
    add_header(out, "X-Accel-Buffering", "no");
    // An HTTP/1.0 client knows no chunks: its body ends when the connection closes.
    if (chunked_) add_header(out, "Transfer-Encoding", "chunked");
    add_service_headers(out, raw ? find_field(*raw, "headers") : nullptr);
    end_head(out);
    watch_for_hangup();
  }
  std::string payload;
  if (part.is_error()) {
    payload = format_ == "sse" ? "event: error\ndata: " + error_object(*part.error) + "\n\n"
                               : error_object(*part.error) + "\n";
  } else if (raw) {
    payload = body_of(*raw);
  } else {
    msgpack_to_json(part.body.object, payload);
    payload.push_back('\n');
  }
  if (!payload.empty()) out += chunked_ ? chunk(payload) : payload;
  if (!part.more) {
    if (chunked_) out += "0\r\n\r\n";
    last_queued_ = true;
  }
  queue(std::move(out));
}

void streamed_response::queue(std::string bytes) {
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
  if (queued_bytes_ > limits_.max_buffered_bytes) {
    // The client reads slower than the service produces: holding more would let one
    // client take the gateway's memory.
    abandon();
    return;
  }
  if (!writing_) write_next();
}

void streamed_response::write_next() {
  writing_ = true;
  stream_.expires_after(limits_.write_timeout);
  asio::async_write(stream_, asio::buffer(queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->writing_ = false;
                      if (self->over_) return;
                      if (ec) return self->abandon();
                      self->queued_bytes_ -= self->queue_.front().size();
                      self->queue_.pop_front();
                      if (!self->queue_.empty()) return self->write_next();
                      if (self->last_queued_) self->end(true);
                    });
}

void streamed_response::watch_for_hangup() {
  constexpr std::size_t step = 4096, most = 64 << 10;
  if (read_buffer_.size() >= most) return;  // a client this eager: writes will notice a hang-up
  reading_ = true;
  stream_.socket().async_read_some(
      read_buffer_.prepare(step), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        self->reading_ = false;
        if (!ec) self->read_buffer_.commit(n);
        if (self->over_) return self->end(self->reusable_);
        if (ec) return self->abandon();
        self->watch_for_hangup();
      });
}

void streamed_response::abandon() {
  if (over_) return;
  bool ended_early = !last_queued_ || !queue_.empty();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  if (ended_early && on_abandoned_) on_abandoned_();
  end(false);
}

void streamed_response::end(bool reusable) {
  if (!over_) {
    over_ = true;
    reusable_ = reusable;
  }
  if (reading_) {
    // The hang-up watch still owns a read: let it finish before the session reads.
    beast::error_code ec;
    stream_.socket().cancel(ec);
    return;
  }
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  done(reusable_ && keep_alive_, status_);
  owner_.reset();
}

}  // namespace suite::gateway
