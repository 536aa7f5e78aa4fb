// http_response_parser: an incremental parser for one HTTP/1.1 response at a time.
//
// The caller keeps every byte of the current response in one buffer, from its first
// byte on, and calls parse() each time more bytes arrive; the parser remembers how far
// it got, so each byte is looked at about once. The buffer may move between calls (a
// vector that grows): the parser keeps offsets, never pointers, and body() refers to
// the buffer of the latest parse() call. It understands Content-Length and
// chunked bodies (joined in place, so body() is contiguous), 1xx/204/304 and HEAD
// responses without a body, and Connection: close / HTTP/1.0. Trailers are skipped.
// A response with neither a length nor chunking (read-until-close) is refused as an
// error: the load generator needs keep-alive. It allocates nothing.
//
// One parser per connection; not thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace loadgen {

class http_response_parser {
 public:
  enum class result { incomplete, complete, error };

  // Forget the previous response; `head_only` is set for a HEAD request.
  void reset(bool head_only = false) noexcept;

  // `buffer` holds `size` bytes starting with this response's first byte; bytes seen
  // before must not have changed (except by the parser itself).
  result parse(char* buffer, std::size_t size) noexcept;

  int status() const noexcept { return status_; }
  bool keep_alive() const noexcept { return keep_alive_; }
  std::string_view body() const noexcept { return {buffer_ + body_offset_, body_size_}; }
  // Bytes of the buffer this response occupied; what follows belongs to the next one.
  std::size_t consumed() const noexcept { return consumed_; }
  const char* error() const noexcept { return error_; }
  // After an error: the head was read, but the body has no length (a stream such as
  // server-sent events, read until close); status() is valid.
  bool length_unknown() const noexcept { return length_unknown_; }

 private:
  enum class stage { head, sized_body, chunk_size, chunk_data, chunk_data_end, trailer, done };

  result parse_head(char* buffer, std::size_t size) noexcept;
  result fail(const char* why) noexcept;

  stage stage_ = stage::head;
  bool head_only_ = false;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool length_unknown_ = false;
  int status_ = 0;
  std::size_t pos_ = 0;  // next byte to scan
  std::size_t content_length_ = 0;
  std::size_t chunk_left_ = 0;
  char* buffer_ = nullptr;  // the latest parse() call's buffer
  std::size_t body_offset_ = 0;
  std::size_t body_size_ = 0;
  std::size_t consumed_ = 0;
  const char* error_ = "";
};

}  // namespace loadgen
