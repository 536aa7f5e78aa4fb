#include "suite/json_msgpack.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace suite {

struct json_schema::impl {
  // The parsed schema stays for the life of the process (thread copies, property_type).
  // RapidJSON's default pool takes 64 KB at a time; a schema is a few KB, and the gateway
  // keeps one per op, so small chunks keep the idle heap to what the schemas use.
  static constexpr std::size_t document_chunk_bytes = 1024;
  rapidjson::MemoryPoolAllocator<> document_allocator{document_chunk_bytes};
  rapidjson::Document document{&document_allocator};
  std::unique_ptr<rapidjson::SchemaDocument> schema;
  std::uint64_t serial = 0;  // unique per compiled schema, never reused
  std::vector<std::string> opaque_properties;

  // RapidJSON 1.1's regex (a schema's "pattern") keeps its match state inside the
  // compiled schema, so one SchemaDocument validating on two threads at once corrupts
  // it: spurious "must match" errors, and crashes in GenericRegex::SearchWithAnchoring
  // (the gateway validates on every io thread). Each thread validates with its own copy,
  // made on its first use and owned here; the thread's lookup of it takes no lock.
  const rapidjson::SchemaDocument& for_this_thread() const {
    thread_local std::unordered_map<std::uint64_t, const rapidjson::SchemaDocument*> mine;
    if (auto it = mine.find(serial); it != mine.end()) return *it->second;
    std::lock_guard lock(copies_mutex);
    copies.push_back(std::make_unique<rapidjson::SchemaDocument>(document));
    return *(mine[serial] = copies.back().get());
  }
  mutable std::mutex copies_mutex;
  mutable std::vector<std::unique_ptr<rapidjson::SchemaDocument>> copies;
};

namespace {

bool only_keywords(const rapidjson::Value& schema,
                   std::initializer_list<std::string_view> allowed) {
  for (const auto& member : schema.GetObject()) {
    std::string_view name(member.name.GetString(), member.name.GetStringLength());
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) return false;
  }
  return true;
}

// The top-level properties whose schema is only {"type": "array"} or {"type": "object"}
// (annotations aside), when nothing else in the root schema can reach into them.
std::vector<std::string> opaque_properties_of(const rapidjson::Value& root) {
  std::vector<std::string> opaque;
  if (!root.IsObject() || !root.HasMember("properties") || !root["properties"].IsObject())
    return opaque;
  // Not patternProperties, dependencies, allOf/anyOf/oneOf/not, $ref...: each could add
  // rules for a property's content.
  if (!only_keywords(root,
                     {"type", "properties", "required", "additionalProperties", "minProperties",
                      "maxProperties", "$schema", "$id", "id", "title", "description", "$comment"}))
    return opaque;
  for (const auto& property : root["properties"].GetObject()) {
    const auto& schema = property.value;
    if (!schema.IsObject() || !schema.HasMember("type") || !schema["type"].IsString()) continue;
    std::string_view type = schema["type"].GetString();
    if ((type == "array" || type == "object") &&
        only_keywords(schema, {"type", "title", "description", "$comment"}))
      opaque.emplace_back(property.name.GetString(), property.name.GetStringLength());
  }
  return opaque;
}

}  // namespace

json_schema::json_schema(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
json_schema::~json_schema() = default;

result<std::shared_ptr<const json_schema>> json_schema::compile(std::string_view schema_json) {
  auto i = std::make_unique<impl>();
  i->document.Parse(schema_json.data(), schema_json.size());
  if (i->document.HasParseError()) {
    return make_error(500, "bad_schema",
                      std::string("schema is not valid JSON: ") +
                          rapidjson::GetParseError_En(i->document.GetParseError()));
  }
  i->schema = std::make_unique<rapidjson::SchemaDocument>(i->document);
  i->opaque_properties = opaque_properties_of(i->document);
  static std::atomic<std::uint64_t> next_serial{1};
  i->serial = next_serial.fetch_add(1);
  return std::shared_ptr<const json_schema>(new json_schema(std::move(i)));
}

bool json_schema::opaque_property(std::string_view property) const {
  return std::find(impl_->opaque_properties.begin(), impl_->opaque_properties.end(), property) !=
         impl_->opaque_properties.end();
}

std::string json_schema::property_type(std::string_view property) const {
  const auto& doc = impl_->document;
  if (!doc.IsObject() || !doc.HasMember("properties")) return "";
  const auto& props = doc["properties"];
  if (!props.IsObject()) return "";
  auto it = props.FindMember(
      rapidjson::Value(property.data(), static_cast<rapidjson::SizeType>(property.size())));
  if (it == props.MemberEnd() || !it->value.IsObject() || !it->value.HasMember("type")) return "";
  const auto& type = it->value["type"];
  return type.IsString() ? type.GetString() : "";
}

namespace {

using validator_t = rapidjson::GenericSchemaValidator<rapidjson::SchemaDocument>;

// A validator for one document, on the caller's stack. Its stacks start smaller than
// RapidJSON's defaults (1 KiB of schema contexts, a large allocation on every request)
// and grow when a document nests deeper.
struct stack_validator : validator_t {
  explicit stack_validator(const rapidjson::SchemaDocument& document)
      : validator_t(document, nullptr, 512, 256) {}
};

// Writes msgpack with container headers patched in at the end (map32/array32), so the
// SAX stream needs no look-ahead.
class msgpack_writer {
 public:
  // `expected`: about the size of the result (packed JSON is rarely larger than its text).
  explicit msgpack_writer(std::size_t expected) : buffer_(expected) {}

  // A container's size is known only at its end, so its header is written 32-bit wide
  // and filled in then; packed() writes each in its shortest form.
  void begin_container(bool is_map) {
    open_.push_back(headers_.size());
    headers_.push_back({buffer_.size(), 0, is_map});
    char header[5] = {static_cast<char>(is_map ? 0xdf : 0xdd), 0, 0, 0, 0};
    buffer_.write(header, sizeof header);
  }
  void end_container(std::uint32_t count) {
    headers_[open_.back()].count = count;
    open_.pop_back();
  }
  msgpack_packer& packer() { return packer_; }

  // The packed bytes, as msgpack's own packer would have written them.
  std::string packed() const {
    std::string out;
    out.reserve(buffer_.size());
    std::size_t from = 0;
    for (const auto& h : headers_) {
      out.append(buffer_.data() + from, h.offset - from);
      append_header(out, h);
      from = h.offset + 5;
    }
    out.append(buffer_.data() + from, buffer_.size() - from);
    return out;
  }

 private:
  struct header {
    std::size_t offset;
    std::uint32_t count;
    bool is_map;
  };

  static void append_header(std::string& out, const header& h) {
    auto byte = [&](unsigned v) { out.push_back(static_cast<char>(v & 0xff)); };
    if (h.count < 16) {
      byte((h.is_map ? 0x80u : 0x90u) | h.count);
    } else if (h.count <= 0xffff) {
      byte(h.is_map ? 0xde : 0xdc);
      byte(h.count >> 8);
      byte(h.count);
    } else {
      byte(h.is_map ? 0xdf : 0xdd);
      byte(h.count >> 24);
      byte(h.count >> 16);
      byte(h.count >> 8);
      byte(h.count);
    }
  }

  msgpack::sbuffer buffer_;
  msgpack_packer packer_{buffer_};
  std::vector<header> headers_;    // every container, in the order they begin
  std::vector<std::size_t> open_;  // indexes in headers_ of the containers still open
};

struct number_kind {
  enum { int64, uint64, decimal } kind;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
};

// Well-formed UTF-8 as RFC 3629 defines it (no overlong forms, surrogates or code points
// past U+10FFFF): what the JSON reader's encoding check accepts.
bool valid_utf8(const char* text, std::size_t size) {
  const auto* p = reinterpret_cast<const unsigned char*>(text);
  const auto* end = p + size;
  while (p < end) {
    // Runs of ASCII, eight bytes at a time: most text is nothing else.
    for (std::uint64_t word; end - p >= 8; p += 8) {
      std::memcpy(&word, p, 8);
      if (word & 0x8080808080808080ull) break;
    }
    if (p == end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t tail;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      tail = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      tail = 2;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      tail = 3;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= tail || p[1] < low || p[1] > high) return false;
    for (std::size_t i = 2; i <= tail; ++i)
      if ((p[i] & 0xC0) != 0x80) return false;
    p += tail + 1;
  }
  return true;
}

// True when `text` holds the UTF-8 form of a UTF-16 surrogate (U+D800..U+DFFF: ED A0..BF).
// The parser validates the input's own UTF-8, so such bytes can only come from a lone
// surrogate escape such as "\uDDDD", which RapidJSON decodes without complaint into
// bytes that are not UTF-8 and that no JSON writer or reader downstream accepts.
bool holds_surrogate(const char* text, std::size_t len) {
  if (len == 0) return false;  // msgpack gives an empty string a null pointer
  for (const char* p = text; (p = static_cast<const char*>(std::memchr(p, '\xED', text + len - p)));
       ++p) {
    if (p + 1 < text + len && (static_cast<unsigned char>(p[1]) & 0xE0) == 0xA0) return true;
  }
  return false;
}

number_kind classify_number(std::string_view text) {
  number_kind n{number_kind::decimal};
  bool integral = text.find_first_of(".eE") == std::string_view::npos;
  if (integral) {
    if (text[0] == '-') {
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n.i);
      if (ec == std::errc{}) {
        n.kind = number_kind::int64;
        return n;
      }
    } else {
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n.u);
      if (ec == std::errc{}) {
        n.kind = number_kind::uint64;
        return n;
      }
    }
  }
  n.d = std::strtod(std::string(text).c_str(), nullptr);
  return n;
}

// Feeds every SAX event to the schema validator (when there is one) and the msgpack
// writer, tracks the path for error messages, and appends the extra fields at the end
// of the top-level object.
class tee_handler {
 public:
  // `writer` may be null: validate only. `escapes` false: the text being read has no
  // backslash-u escape, so no string can decode to a surrogate and none is searched.
  tee_handler(validator_t* validator, msgpack_writer* writer, const json_schema* schema,
              const std::vector<extra_field>& extra, json_limits limits, bool escapes = true)
      : validator_(validator),
        writer_(writer),
        schema_(schema),
        extra_(extra),
        limits_(limits),
        check_surrogates_(escapes) {}

  bool Null() {
    return scalar([&] { return !validating() || validator_->Null(); },
                  [&] { writer_->packer().pack_nil(); });
  }
  bool Bool(bool b) {
    return scalar([&] { return !validating() || validator_->Bool(b); },
                  [&] { writer_->packer().pack(b); });
  }
  bool Int(int i) { return Int64(i); }
  bool Uint(unsigned u) { return Uint64(u); }
  bool Int64(std::int64_t i) {
    return scalar([&] { return !validating() || validator_->Int64(i); },
                  [&] { writer_->packer().pack_int64(i); });
  }
  bool Uint64(std::uint64_t u) {
    return scalar([&] { return !validating() || validator_->Uint64(u); },
                  [&] { writer_->packer().pack_uint64(u); });
  }
  bool Double(double d) {
    return scalar([&] { return !validating() || validator_->Double(d); },
                  [&] { writer_->packer().pack_double(d); });
  }
  bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
    std::string_view text(str, len);
    auto n = classify_number(text);
    switch (n.kind) {
      case number_kind::int64:
        return Int64(n.i);
      case number_kind::uint64:
        return Uint64(n.u);
      case number_kind::decimal:
        return scalar([&] { return !validating() || validator_->Double(n.d); },
                      [&] { pack_decimal(writer_->packer(), text); });
    }
    return false;
  }
  bool String(const char* str, rapidjson::SizeType len, bool copy) {
    if (check_surrogates_ && holds_surrogate(str, len)) return lone_surrogate();
    return scalar([&] { return !validating() || validator_->String(str, len, copy); },
                  [&] {
                    pack_string(writer_->packer(), {str, len});
                  });
  }
  bool StartObject() {
    if (!enter(true)) return false;
    if (validating() && !validator_->StartObject()) return false;
    enter_opaque();
    if (writer_) writer_->begin_container(true);
    return true;
  }
  bool Key(const char* str, rapidjson::SizeType len, bool copy) {
    if (check_surrogates_ && holds_surrogate(str, len)) return lone_surrogate();
    top().key.assign(str, len);
    top().keys.emplace_back(str, len);
    if (depth_ == 1 && !in_extras_) {
      next_opaque_ = schema_ && schema_->opaque_property({str, len});
      for (const auto& field : extra_) {
        if (field.name == std::string_view(str, len)) {
          conflict_ = field.name;
          return false;
        }
      }
    }
    if (validating() && !validator_->Key(str, len, copy)) return false;
    if (writer_) pack_string(writer_->packer(), {str, len});
    return true;
  }
  bool EndObject(rapidjson::SizeType count) {
    if (depth_ == 1) {
      in_extras_ = true;
      for (const auto& field : extra_) {
        if (!Key(field.name.data(), static_cast<rapidjson::SizeType>(field.name.size()), true))
          return false;
        if (!typed_extra(field)) return false;
        ++count;
      }
    }
    top().key.clear();
    bool closes_opaque = leave_opaque();
    if (validating() && !validator_->EndObject(closes_opaque ? 0 : count)) return false;
    if (writer_) writer_->end_container(count);
    leave();
    return true;
  }
  bool StartArray() {
    if (!enter(false)) return false;
    if (validating() && !validator_->StartArray()) return false;
    enter_opaque();
    if (writer_) writer_->begin_container(false);
    return true;
  }
  bool EndArray(rapidjson::SizeType count) {
    bool closes_opaque = leave_opaque();
    if (validating() && !validator_->EndArray(closes_opaque ? 0 : count)) return false;
    if (writer_) writer_->end_container(count);
    leave();
    return true;
  }

  // The path of the value being read when parsing stopped, e.g. "items[0].code".
  std::string current_path() const {
    std::string out;
    for (std::size_t d = 0; d < depth_; ++d) {
      const auto& level = levels_[d];
      if (level.is_object) {
        if (level.key.empty()) continue;
        if (!out.empty()) out.push_back('.');
        out += level.key;
      } else if (level.index > 0) {
        out += "[" + std::to_string(level.index - 1) + "]";
      }
    }
    return out;
  }
  // The keys seen so far in the innermost open object.
  const std::vector<std::string>& current_keys() const {
    static const std::vector<std::string> none;
    return depth_ == 0 ? none : levels_[depth_ - 1].keys;
  }
  bool too_deep() const { return too_deep_; }
  // A body field that is also given in the path or query string.
  const std::string& conflict() const { return conflict_; }
  // A path or query parameter whose text is not UTF-8.
  const std::string& not_utf8() const { return not_utf8_; }
  bool root_not_object() const { return root_not_object_; }
  bool lone_surrogate_found() const { return lone_surrogate_; }

 private:
  struct level {
    bool is_object = false;
    std::string key;
    std::size_t index = 0;  // arrays: 1 + index of the current element
    std::vector<std::string> keys;
  };

  level& top() { return levels_[depth_ - 1]; }

  // Inside a top-level property the schema declares opaque (json_schema::opaque_property),
  // the validator sees the container open and close, empty, and nothing in between: the
  // same verdict, without walking every value of a large batch.
  bool validating() const { return validator_ && opaque_depth_ == 0; }
  void enter_opaque() {
    if (depth_ == 2 && next_opaque_ && opaque_depth_ == 0) opaque_depth_ = depth_;
  }
  // True when the container being closed is the opaque one.
  bool leave_opaque() {
    if (opaque_depth_ == 0 || opaque_depth_ != depth_) return false;
    opaque_depth_ = 0;
    return true;
  }

  // A level left is kept for the next container at its depth, so that its strings and
  // key list are reused rather than allocated again for every object of a batch.
  bool enter(bool is_object) {
    if (depth_ == 0 && !is_object) {
      root_not_object_ = true;
      return false;
    }
    if (depth_ > 0 && !top().is_object) ++top().index;
    if (depth_ >= limits_.max_depth) {
      too_deep_ = true;
      return false;
    }
    if (levels_.size() == depth_) levels_.emplace_back();
    auto& entered = levels_[depth_++];
    entered.is_object = is_object;
    entered.key.clear();
    entered.index = 0;
    entered.keys.clear();
    return true;
  }
  void leave() { --depth_; }

  template <class Validate, class Write>
  bool scalar(Validate validate, Write write) {
    if (depth_ == 0) {
      root_not_object_ = true;
      return false;
    }
    if (!top().is_object) ++top().index;
    if (!validate()) return false;
    if (writer_) write();
    return true;
  }

  bool typed_extra(const extra_field& field) {
    // URL text is not checked by the JSON reader; the validator reads past the end of a
    // truncated UTF-8 sequence (minLength/maxLength count code points).
    if (!valid_utf8(field.text.data(), field.text.size())) {
      not_utf8_ = field.name;
      return false;
    }
    std::string type = schema_ ? schema_->property_type(field.name) : "";
    bool numeric =
        !field.text.empty() && field.text.find_first_not_of("0123456789+-.eE") == std::string::npos;
    if ((type == "integer" || type == "number") && numeric) {
      return RawNumber(field.text.data(), static_cast<rapidjson::SizeType>(field.text.size()),
                       true);
    } else if (type == "boolean" && (field.text == "true" || field.text == "false")) {
      return Bool(field.text == "true");
    }
    return String(field.text.data(), static_cast<rapidjson::SizeType>(field.text.size()), true);
  }

  validator_t* validator_;
  msgpack_writer* writer_;
  const json_schema* schema_;
  const std::vector<extra_field>& extra_;
  json_limits limits_;
  std::vector<level> levels_;  // the open containers are the first depth_
  std::size_t depth_ = 0;
  bool check_surrogates_;
  bool next_opaque_ = false;      // the top-level key just read names an opaque property
  std::size_t opaque_depth_ = 0;  // the depth of the opaque container being read; 0: none
  bool too_deep_ = false;
  bool in_extras_ = false;
  std::string conflict_;
  std::string not_utf8_;
  bool root_not_object_ = false;
  bool lone_surrogate_ = false;

  bool lone_surrogate() {
    lone_surrogate_ = true;
    return false;
  }
};

std::string join_values(const rapidjson::Value& array) {
  std::string out;
  for (const auto& v : array.GetArray()) {
    if (!out.empty()) out += ", ";
    if (v.IsString())
      out += v.GetString();
    else {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      v.Accept(w);
      out += sb.GetString();
    }
  }
  return out;
}

std::string number_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

// A human sentence for the failing keyword, with the limit it broke.
std::string keyword_message(const std::string& keyword, const rapidjson::Value* rule) {
  auto has = [&](const char* name) { return rule && rule->IsObject() && rule->HasMember(name); };
  if (keyword == "type" && has("type")) {
    const auto& t = (*rule)["type"];
    return "must be of type " + (t.IsString() ? std::string(t.GetString()) : join_values(t));
  }
  if (keyword == "enum" && has("enum")) return "must be one of: " + join_values((*rule)["enum"]);
  if (keyword == "minLength" && has("minLength"))
    return "must be at least " + number_text((*rule)["minLength"]) + " characters";
  if (keyword == "maxLength" && has("maxLength"))
    return "must be at most " + number_text((*rule)["maxLength"]) + " characters";
  if (keyword == "minimum" && has("minimum"))
    return "must be >= " + number_text((*rule)["minimum"]);
  if (keyword == "maximum" && has("maximum"))
    return "must be <= " + number_text((*rule)["maximum"]);
  if (keyword == "pattern" && has("pattern"))
    return std::string("must match ") + (*rule)["pattern"].GetString();
  if (keyword == "minItems" && has("minItems"))
    return "must have at least " + number_text((*rule)["minItems"]) + " items";
  if (keyword == "maxItems" && has("maxItems"))
    return "must have at most " + number_text((*rule)["maxItems"]) + " items";
  if (keyword == "additionalProperties") return "is not an allowed field";
  if (keyword == "required") return "is required";
  return "fails the schema rule '" + keyword + "'";
}

void write_json(const msgpack::object& o, rapidjson::Writer<rapidjson::StringBuffer>& w) {
  switch (o.type) {
    case msgpack::type::NIL:
      w.Null();
      break;
    case msgpack::type::BOOLEAN:
      w.Bool(o.via.boolean);
      break;
    case msgpack::type::POSITIVE_INTEGER:
      w.Uint64(o.via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      w.Int64(o.via.i64);
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      if (std::isfinite(o.via.f64))
        w.Double(o.via.f64);
      else
        w.Null();
      break;
    case msgpack::type::STR:
      w.String(o.via.str.ptr, o.via.str.size);
      break;
    case msgpack::type::BIN:
      w.Null();
      break;
    case msgpack::type::EXT:
      if (o.via.ext.type() == decimal_ext_type)
        w.RawValue(o.via.ext.data(), o.via.ext.size, rapidjson::kNumberType);
      else
        w.Null();
      break;
    case msgpack::type::ARRAY:
      w.StartArray();
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) write_json(o.via.array.ptr[i], w);
      w.EndArray();
      break;
    case msgpack::type::MAP:
      w.StartObject();
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type == msgpack::type::STR) {
          w.Key(kv.key.via.str.ptr, kv.key.via.str.size);
        } else {
          std::string key;
          msgpack_to_json(kv.key, key);
          w.Key(key.c_str(), static_cast<rapidjson::SizeType>(key.size()));
        }
        write_json(kv.val, w);
      }
      w.EndObject();
      break;
  }
}

// Why the handler stopped or the validator said no, as the 400 the caller returns
// (checked in this order); ok when neither did.
status refusal(const tee_handler& handler, const validator_t* validator, const json_schema* schema,
               const json_limits& limits) {
  if (handler.root_not_object()) {
    return make_error(400, "bad_request", "body must be a JSON object",
                      {{"", "must be a JSON object"}});
  }
  if (handler.too_deep()) {
    return make_error(400, "bad_request",
                      "body nests deeper than " + std::to_string(limits.max_depth) + " levels",
                      {{handler.current_path(), "nests too deep"}});
  }
  if (handler.lone_surrogate_found()) {
    return make_error(400, "bad_json",
                      "malformed JSON: a \\u escape is a lone UTF-16 surrogate (not a character)",
                      {{handler.current_path(), "holds a lone UTF-16 surrogate escape"}});
  }
  if (!handler.not_utf8().empty()) {
    return make_error(400, "bad_request", "field '" + handler.not_utf8() + "' is not UTF-8 text",
                      {{handler.not_utf8(), "is not UTF-8 text"}});
  }
  if (!handler.conflict().empty()) {
    return make_error(400, "bad_request",
                      "field '" + handler.conflict() + "' is given both in the URL and in the body",
                      {{handler.conflict(), "is given both in the URL and in the body"}});
  }
  if (validator && !validator->IsValid()) {
    std::string keyword = validator->GetInvalidSchemaKeyword();
    const rapidjson::Value* rule =
        validator->GetInvalidSchemaPointer().Get(schema->internals().document);
    std::vector<error_detail> details;
    if (keyword == "required" && rule && rule->IsObject() && rule->HasMember("required")) {
      std::string prefix = handler.current_path();
      for (const auto& name : (*rule)["required"].GetArray()) {
        std::string field = name.GetString();
        bool present = false;
        for (const auto& k : handler.current_keys()) present = present || k == field;
        if (!present)
          details.push_back({prefix.empty() ? field : prefix + "." + field, "is required"});
      }
    }
    if (details.empty())
      details.push_back({handler.current_path(), keyword_message(keyword, rule)});
    std::string message =
        "invalid request body: " + details.front().field + " " + details.front().message;
    return make_error(400, "validation_failed", message, std::move(details));
  }
  return ok();
}

// Text that json_to_msgpack puts in a decimal: a JSON number that is not an integer in
// the int64/uint64 range (those become integers), i.e. one with a fraction or an
// exponent, or an integer too large for 64 bits.
bool json_decimal_text(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i - from;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0')
    ++i;
  else if (digits() == 0)
    return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == t.size() && classify_number(t).kind == number_kind::decimal;
}

// Feeds `o` to the handler as the SAX events its JSON text would give. Sets `canonical`
// false and stops at anything that text would not give back unchanged (a float, a
// binary, another extension, a non-string key, text that is not UTF-8, a decimal that
// JSON text would turn into an integer or cannot hold); otherwise returns what the
// handler returned.
bool feed(const msgpack::object& o, tee_handler& h, bool& canonical) {
  auto refuse = [&] { return canonical = false; };
  switch (o.type) {
    case msgpack::type::NIL:
      return h.Null();
    case msgpack::type::BOOLEAN:
      return h.Bool(o.via.boolean);
    case msgpack::type::POSITIVE_INTEGER:
      return h.Uint64(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return h.Int64(o.via.i64);
    case msgpack::type::STR:
      if (!valid_utf8(o.via.str.ptr, o.via.str.size)) return refuse();
      return h.String(o.via.str.ptr, o.via.str.size, true);
    case msgpack::type::EXT: {
      std::string_view text(o.via.ext.data(), o.via.ext.size);
      if (o.via.ext.type() != decimal_ext_type || !json_decimal_text(text)) return refuse();
      return h.RawNumber(text.data(), static_cast<rapidjson::SizeType>(text.size()), true);
    }
    case msgpack::type::ARRAY:
      if (!h.StartArray()) return false;
      for (std::uint32_t i = 0; i < o.via.array.size; ++i)
        if (!feed(o.via.array.ptr[i], h, canonical)) return false;
      return h.EndArray(o.via.array.size);
    case msgpack::type::MAP:
      if (!h.StartObject()) return false;
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR ||
            !valid_utf8(kv.key.via.str.ptr, kv.key.via.str.size))
          return refuse();
        if (!h.Key(kv.key.via.str.ptr, kv.key.via.str.size, true)) return false;
        if (!feed(kv.val, h, canonical)) return false;
      }
      return h.EndObject(o.via.map.size);
    default:  // FLOAT32, FLOAT64, BIN
      return refuse();
  }
}

}  // namespace

result<std::string> json_to_packed(std::string_view json, const json_schema* schema,
                                   const std::vector<extra_field>& extra, json_limits limits) {
  std::optional<stack_validator> validator;
  if (schema) validator.emplace(schema->internals().for_this_thread());
  msgpack_writer writer(std::max(frame_buffer_bytes, json.size() + 64));
  tee_handler handler(validator ? &*validator : nullptr, &writer, schema, extra, limits,
                      json.find("\\u") != std::string_view::npos);

  std::size_t first = json.find_first_not_of(" \t\r\n");
  bool empty = first == std::string_view::npos;
  bool parsed = true;
  rapidjson::ParseResult parse_result;
  std::size_t consumed = 0;
  if (empty) {
    parsed = handler.StartObject() && handler.EndObject(0);
  } else {
    rapidjson::Reader reader;
    rapidjson::MemoryStream stream(json.data(), json.size());
    constexpr unsigned flags =
        rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseStopWhenDoneFlag;
    // RapidJSON's own check decodes every character of every string one at a time, about
    // half its parse. A body that is valid UTF-8 as a whole skips it; any other body is
    // parsed with it, so the error names where the bad bytes are.
    parse_result =
        valid_utf8(json.data(), json.size())
            ? reader.Parse<flags>(stream, handler)
            : reader.Parse<flags | rapidjson::kParseValidateEncodingFlag>(stream, handler);
    parsed = !parse_result.IsError();
    consumed = stream.Tell();
  }
  if (auto refused = refusal(handler, validator ? &*validator : nullptr, schema, limits); !refused)
    return refused.error();
  if (!parsed) {
    std::string message = std::string("malformed JSON: ") +
                          rapidjson::GetParseError_En(parse_result.Code()) + " at offset " +
                          std::to_string(parse_result.Offset());
    return make_error(400, "bad_json", message, {{handler.current_path(), message}});
  }
  if (!empty) {
    auto rest = json.substr(consumed);
    if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      return make_error(400, "bad_json", "malformed JSON: trailing characters after the body",
                        {{"", "trailing characters"}});
    }
  }
  return writer.packed();
}

result<msgpack_value> json_to_msgpack(std::string_view json, const json_schema* schema,
                                      const std::vector<extra_field>& extra, json_limits limits) {
  auto packed = json_to_packed(json, schema, extra, limits);
  if (!packed) return packed.error();
  return parse_msgpack(packed->data(), packed->size());
}

std::optional<status> validate_msgpack(const msgpack::object& value, const json_schema& schema,
                                       json_limits limits) {
  stack_validator validator(schema.internals().for_this_thread());
  static const std::vector<extra_field> no_extra;
  tee_handler handler(&validator, nullptr, &schema, no_extra, limits);
  bool canonical = true;
  feed(value, handler, canonical);
  if (!canonical) return std::nullopt;
  return refusal(handler, &validator, &schema, limits);
}

void msgpack_to_json(const msgpack::object& value, std::string& out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  write_json(value, w);
  out.append(sb.GetString(), sb.GetSize());
}

}  // namespace suite
