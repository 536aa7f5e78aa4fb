#include "loadgen/located_json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <vector>

namespace loadgen {

namespace {

// NOLINTBEGIN(readability-identifier-naming): rapidjson's Stream and Handler
// concepts fix these member names.

// A rapidjson input stream that counts lines as the reader takes characters.
class line_counting_stream {
 public:
  using Ch = char;
  explicit line_counting_stream(std::string_view text) : text_(text) {}
  Ch Peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }
  Ch Take() {
    const Ch c = Peek();
    if (c == '\n') {
      ++line_;
      line_start_ = position_ + 1;
    }
    if (position_ < text_.size()) ++position_;
    return c;
  }
  std::size_t Tell() const { return position_; }
  int line() const { return line_; }
  std::size_t column() const { return position_ - line_start_ + 1; }
  // Unused by a reading stream, but part of the concept.
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

 private:
  std::string_view text_;
  std::size_t position_ = 0;
  std::size_t line_start_ = 0;
  int line_ = 1;
};

// Forwards SAX events to the document while recording where each path begins.
template <class Handler>
class locating_handler {
 public:
  locating_handler(Handler& inner, const line_counting_stream& stream,
                   std::map<std::string, int, std::less<>>& lines)
      : inner_(inner), stream_(stream), lines_(lines) {}

  bool Null() { return value() && inner_.Null(); }
  bool Bool(bool b) { return value() && inner_.Bool(b); }
  bool Int(int i) { return value() && inner_.Int(i); }
  bool Uint(unsigned u) { return value() && inner_.Uint(u); }
  bool Int64(std::int64_t i) { return value() && inner_.Int64(i); }
  bool Uint64(std::uint64_t u) { return value() && inner_.Uint64(u); }
  bool Double(double d) { return value() && inner_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return value() && inner_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return value() && inner_.String(s, n, copy);
  }
  bool StartObject() {
    value();
    frames_.push_back({path(), false, 0});
    return inner_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    key_.assign(s, n);
    lines_[frames_.back().path + (frames_.back().path.empty() ? "" : ".") + key_] = stream_.line();
    return inner_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) {
    frames_.pop_back();
    return inner_.EndObject(n);
  }
  bool StartArray() {
    value();
    frames_.push_back({path(), true, 0});
    return inner_.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    frames_.pop_back();
    return inner_.EndArray(n);
  }

 private:
  struct frame {
    std::string path;
    bool array = false;
    std::size_t next_index = 0;
  };

  // The path of the value about to start (called before nesting changes).
  std::string path() const {
    if (frames_.empty()) return "";
    const frame& top = frames_.back();
    if (top.array) return top.path + "[" + std::to_string(top.next_index - 1) + "]";
    return top.path + (top.path.empty() ? "" : ".") + key_;
  }

  // A value begins: inside an array, it is the next element and gets its own line.
  bool value() {
    if (!frames_.empty() && frames_.back().array) {
      ++frames_.back().next_index;
      lines_[path()] = stream_.line();
    }
    return true;
  }

  Handler& inner_;
  const line_counting_stream& stream_;
  std::map<std::string, int, std::less<>>& lines_;
  std::vector<frame> frames_;
  std::string key_;
};

// NOLINTEND(readability-identifier-naming)

}  // namespace

std::string located_json::parse(std::string_view text, const std::string& file_name) {
  file_ = file_name;
  locations_.clear();
  std::map<std::string, int, std::less<>> lines;
  line_counting_stream stream(text);
  rapidjson::Reader reader;
  auto generator = [&](rapidjson::Document& doc) {
    locating_handler<rapidjson::Document> handler(doc, stream, lines);
    return !reader
                .Parse<rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag>(stream,
                                                                                            handler)
                .IsError();
  };
  document_.Populate(generator);
  if (reader.HasParseError()) {
    return file_name + ":" + std::to_string(stream.line()) + ":" + std::to_string(stream.column()) +
           ": " + rapidjson::GetParseError_En(reader.GetParseErrorCode());
  }
  for (const auto& [path, line] : lines) locations_[path] = {file_name, line};
  return {};
}

void located_json::overlay(const located_json& derived) {
  auto& allocator = document_.GetAllocator();
  const auto& from = derived.document_;
  for (auto it = from.MemberBegin(); it != from.MemberEnd(); ++it) {
    const std::string name(it->name.GetString(), it->name.GetStringLength());
    // Drop the base's locations under this member: they describe replaced values.
    for (auto loc = locations_.lower_bound(name);
         loc != locations_.end() && loc->first.starts_with(name);) {
      const char next = loc->first.size() > name.size() ? loc->first[name.size()] : '\0';
      loc = next == '\0' || next == '.' || next == '[' ? locations_.erase(loc) : std::next(loc);
    }
    document_.RemoveMember(it->name);
    if (it->value.IsNull()) continue;
    rapidjson::Value key(it->name, allocator);
    rapidjson::Value value(it->value, allocator);
    document_.AddMember(key, value, allocator);
  }
  for (const auto& [path, where] : derived.locations_) {
    if (from.HasMember(path.substr(0, path.find_first_of(".[")).c_str())) locations_[path] = where;
  }
  file_ = derived.file_;
}

std::string located_json::location_of(std::string_view path) const {
  std::string probe(path);
  for (;;) {
    if (const auto it = locations_.find(probe); it != locations_.end()) {
      return it->second.file + ":" + std::to_string(it->second.line);
    }
    const auto cut = probe.find_last_of(".[");
    if (cut == std::string::npos) return file_ + ":1";
    probe.resize(cut);
  }
}

}  // namespace loadgen
