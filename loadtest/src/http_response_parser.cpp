#include "loadgen/http_response_parser.hpp"

#include <cstring>

namespace loadgen {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) noexcept {
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Finds "\r\n" at or after `from`; returns npos when absent.
std::size_t find_crlf(const char* buffer, std::size_t size, std::size_t from) noexcept {
  for (std::size_t i = from; i + 1 < size; ++i) {
    if (buffer[i] == '\r' && buffer[i + 1] == '\n') return i;
  }
  return std::string_view::npos;
}

}  // namespace

void http_response_parser::reset(bool head_only) noexcept {
  *this = http_response_parser{};
  head_only_ = head_only;
}

http_response_parser::result http_response_parser::fail(const char* why) noexcept {
  error_ = why;
  return result::error;
}

http_response_parser::result http_response_parser::parse_head(char* buffer,
                                                              std::size_t size) noexcept {
  // Resume the search for the blank line a few bytes back, in case it straddles reads.
  const std::size_t from = pos_ > 3 ? pos_ - 3 : 0;
  const std::string_view all(buffer, size);
  const std::size_t end = all.find("\r\n\r\n", from);
  if (end == std::string_view::npos) {
    pos_ = size;
    return size > std::size_t{64} * 1024 ? fail("response head over 64 KiB") : result::incomplete;
  }
  const std::string_view head = all.substr(0, end);
  const std::size_t line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1.") {
    return fail("malformed status line");
  }
  keep_alive_ = status_line[7] == '1';
  const char* digits = status_line.data() + 9;
  if (digits[0] < '1' || digits[0] > '5' || digits[1] < '0' || digits[1] > '9' || digits[2] < '0' ||
      digits[2] > '9') {
    return fail("malformed status code");
  }
  status_ = (digits[0] - '0') * 100 + (digits[1] - '0') * 10 + (digits[2] - '0');

  bool has_length = false;
  std::size_t line_begin = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (line_begin < head.size()) {
    std::size_t next = head.find("\r\n", line_begin);
    if (next == std::string_view::npos) next = head.size();
    const std::string_view line = head.substr(line_begin, next - line_begin);
    line_begin = next + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::size_t n = 0;
      if (value.empty()) return fail("empty Content-Length");
      for (const char c : value) {
        if (c < '0' || c > '9') return fail("malformed Content-Length");
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      content_length_ = n;
      has_length = true;
    } else if (iequals(name, "transfer-encoding")) {
      chunked_ = icontains(value, "chunked");
    } else if (iequals(name, "connection")) {
      if (icontains(value, "close")) keep_alive_ = false;
      if (icontains(value, "keep-alive")) keep_alive_ = true;
    }
  }

  pos_ = end + 4;
  body_offset_ = pos_;
  const bool bodiless = head_only_ || status_ < 200 || status_ == 204 || status_ == 304;
  if (bodiless) {
    content_length_ = 0;
    stage_ = stage::sized_body;
  } else if (chunked_) {
    stage_ = stage::chunk_size;
  } else if (has_length) {
    stage_ = stage::sized_body;
  } else {
    length_unknown_ = true;
    return fail("response has neither Content-Length nor chunked encoding");
  }
  return result::incomplete;
}

http_response_parser::result http_response_parser::parse(char* buffer, std::size_t size) noexcept {
  buffer_ = buffer;
  for (;;) {
    switch (stage_) {
      case stage::head: {
        const result r = parse_head(buffer, size);
        if (r == result::error || stage_ == stage::head) return r;
        break;
      }
      case stage::sized_body:
        if (size - pos_ < content_length_) return result::incomplete;
        body_size_ = content_length_;
        consumed_ = pos_ + content_length_;
        stage_ = stage::done;
        return result::complete;
      case stage::chunk_size: {
        const std::size_t eol = find_crlf(buffer, size, pos_);
        if (eol == std::string_view::npos) return result::incomplete;
        std::size_t n = 0;
        std::size_t i = pos_;
        for (; i < eol; ++i) {
          const char c = buffer[i];
          int digit;
          if (c >= '0' && c <= '9')
            digit = c - '0';
          else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
          else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
          else
            break;  // a chunk extension (";...") follows
          n = n * 16 + static_cast<std::size_t>(digit);
        }
        if (i == pos_) return fail("malformed chunk size");
        pos_ = eol + 2;
        chunk_left_ = n;
        stage_ = n == 0 ? stage::trailer : stage::chunk_data;
        break;
      }
      case stage::chunk_data: {
        const std::size_t available = size - pos_ < chunk_left_ ? size - pos_ : chunk_left_;
        // Join the chunk onto the body so far; the destination is never ahead of pos_.
        std::memmove(buffer + body_offset_ + body_size_, buffer + pos_, available);
        body_size_ += available;
        pos_ += available;
        chunk_left_ -= available;
        if (chunk_left_ > 0) return result::incomplete;
        stage_ = stage::chunk_data_end;
        break;
      }
      case stage::chunk_data_end:
        if (size - pos_ < 2) return result::incomplete;
        if (buffer[pos_] != '\r' || buffer[pos_ + 1] != '\n')
          return fail("chunk not ended by CRLF");
        pos_ += 2;
        stage_ = stage::chunk_size;
        break;
      case stage::trailer: {
        const std::size_t eol = find_crlf(buffer, size, pos_);
        if (eol == std::string_view::npos) return result::incomplete;
        const bool last = eol == pos_;
        pos_ = eol + 2;
        if (last) {
          consumed_ = pos_;
          stage_ = stage::done;
          return result::complete;
        }
        break;
      }
      case stage::done:
        return result::complete;
    }
  }
}

}  // namespace loadgen
