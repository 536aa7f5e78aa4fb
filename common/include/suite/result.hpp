// result<T>: a value or an error_info, the way errors cross library boundaries in the
// suite (no exceptions across threads or actors). error_info is also what the bus
// carries back to callers and what the gateway renders as
// {"error": message, "code": code, "details": [{field, message}]}.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace suite {

struct error_detail {
  std::string field;
  std::string message;
};

struct error_info {
  int status = 500;  // HTTP-like status the error maps to
  std::string code;  // stable machine-readable code, e.g. "bad_request"
  std::string message;
  std::vector<error_detail> details;
};

inline error_info make_error(int status, std::string code, std::string message,
                             std::vector<error_detail> details = {}) {
  return error_info{status, std::move(code), std::move(message), std::move(details)};
}

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  result(error_info error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const error_info& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, error_info> state_;
};

struct ok_t {};
using status = result<ok_t>;
inline status ok() { return ok_t{}; }

}  // namespace suite
