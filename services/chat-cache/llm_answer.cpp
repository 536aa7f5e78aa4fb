#include "llm_answer.hpp"

#include <ctime>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace suite::chat_cache {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string string_member(const rapidjson::Value& v, const char* name) {
  if (v.IsObject() && v.HasMember(name) && v[name].IsString())
    return {v[name].GetString(), v[name].GetStringLength()};
  return {};
}

std::int64_t int_member(const rapidjson::Value& v, const char* name) {
  if (v.IsObject() && v.HasMember(name) && v[name].IsInt64()) return v[name].GetInt64();
  return 0;
}

std::string rfc3339(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

error_info bad_upstream(std::string message) {
  return make_error(502, "bad_upstream_reply", std::move(message));
}

// One Ollama object (a stream line or a whole reply) folded into `answer`.
status fold_ollama(api_family api, const rapidjson::Value& line, llm_answer& answer) {
  if (!line.IsObject()) return bad_upstream("the LLM sent a line that is not a JSON object");
  if (line.HasMember("error"))
    return bad_upstream("the LLM reported: " + string_member(line, "error"));
  if (answer.model.empty()) answer.model = string_member(line, "model");
  std::string piece =
      api == api_family::ollama_chat
          ? (line.HasMember("message") ? string_member(line["message"], "content") : std::string{})
          : string_member(line, "response");
  if (!piece.empty()) answer.add_piece(piece);
  if (line.HasMember("done") && line["done"].IsBool() && line["done"].GetBool()) {
    if (auto reason = string_member(line, "done_reason"); !reason.empty())
      answer.finish_reason = reason;
    answer.prompt_tokens = int_member(line, "prompt_eval_count");
    answer.completion_tokens = int_member(line, "eval_count");
  }
  return ok();
}

status fold_openai(const rapidjson::Value& object, llm_answer& answer) {
  if (!object.IsObject()) return bad_upstream("the LLM sent an event that is not a JSON object");
  if (object.HasMember("error")) return bad_upstream("the LLM reported an error");
  if (answer.model.empty()) answer.model = string_member(object, "model");
  if (object.HasMember("choices") && object["choices"].IsArray() && !object["choices"].Empty()) {
    const auto& choice = object["choices"][0];
    const char* part = choice.HasMember("delta") ? "delta" : "message";
    if (choice.HasMember(part)) {
      if (auto piece = string_member(choice[part], "content"); !piece.empty())
        answer.add_piece(piece);
    }
    if (auto reason = string_member(choice, "finish_reason"); !reason.empty())
      answer.finish_reason = reason;
  }
  if (object.HasMember("usage") && object["usage"].IsObject()) {
    answer.prompt_tokens = int_member(object["usage"], "prompt_tokens");
    answer.completion_tokens = int_member(object["usage"], "completion_tokens");
  }
  return ok();
}

}  // namespace

std::string_view api_name(api_family api) {
  switch (api) {
    case api_family::ollama_chat:
      return "ollama.chat";
    case api_family::ollama_generate:
      return "ollama.generate";
    case api_family::openai_chat:
      return "openai.chat";
  }
  return "";
}

std::string_view upstream_path(api_family api) {
  switch (api) {
    case api_family::ollama_chat:
      return "/api/chat";
    case api_family::ollama_generate:
      return "/api/generate";
    case api_family::openai_chat:
      return "/v1/chat/completions";
  }
  return "";
}

bool streams_by_default(api_family api) { return api != api_family::openai_chat; }

void llm_answer::add_piece(std::string_view piece) {
  content_.append(piece);
  for (std::size_t n = piece.size();; n >>= 3) {
    unsigned bits = static_cast<unsigned>(n & 0x07) | (n > 0x07 ? 0x08 : 0);
    if (nibbles_++ % 2 == 0)
      piece_lengths_.push_back(static_cast<char>(bits));
    else
      piece_lengths_.back() = static_cast<char>(piece_lengths_.back() | (bits << 4));
    if (n <= 0x07) break;
  }
  ++piece_count_;
}

std::vector<std::string> llm_answer::pieces() const {
  std::vector<std::string> out;
  for_each_piece([&](std::string_view p) { out.emplace_back(p); });
  return out;
}

void llm_answer::shrink() {
  content_.shrink_to_fit();
  piece_lengths_.shrink_to_fit();
  model.shrink_to_fit();
  request_model.shrink_to_fit();
}

std::size_t llm_answer::weight() const {
  auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  // The answer, its shared_ptr control block, and the cache's list node and index slot.
  constexpr std::size_t bookkeeping = 32 + 128;
  return sizeof(llm_answer) + bookkeeping + heap(model) + heap(request_model) +
         heap(finish_reason) + heap(content_) + heap(piece_lengths_);
}

upstream_reader::upstream_reader(api_family api) : api_(api) {
  answer_.created_unix = static_cast<std::int64_t>(std::time(nullptr));
}

void upstream_reader::feed(std::string_view bytes) {
  while (!bytes.empty() && !error_) {
    auto end = bytes.find('\n');
    if (end == std::string_view::npos) {
      partial_line_.append(bytes);
      return;
    }
    if (partial_line_.empty()) {
      fold_line(bytes.substr(0, end));
    } else {
      partial_line_.append(bytes.substr(0, end));
      std::string line = std::move(partial_line_);
      partial_line_.clear();
      fold_line(line);
    }
    bytes.remove_prefix(end + 1);
  }
}

void upstream_reader::fold_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return;
  if (api_ == api_family::openai_chat) {
    if (line.starts_with(":")) return;  // SSE comment
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    } else if (line.front() != '{') {
      return;  // other SSE fields (event:, id:) carry nothing we keep
    }
    if (line == "[DONE]") return;
  }
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError()) {
    error_ = bad_upstream("the LLM sent a body that is not JSON");
    return;
  }
  auto pieces_before = answer_.piece_count();
  auto st =
      api_ == api_family::openai_chat ? fold_openai(doc, answer_) : fold_ollama(api_, doc, answer_);
  if (!st) {
    error_ = st.error();
    return;
  }
  if (answer_.piece_count() > pieces_before) new_piece_ends_.push_back(answer_.content().size());
  any_ = true;
}

std::vector<std::string> upstream_reader::take_new_pieces() {
  std::vector<std::string> out;
  out.reserve(new_piece_ends_.size());
  for (auto end : new_piece_ends_) {
    out.emplace_back(answer_.content().substr(taken_bytes_, end - taken_bytes_));
    taken_bytes_ = end;
  }
  new_piece_ends_.clear();
  return out;
}

result<llm_answer> upstream_reader::finish() {
  if (!partial_line_.empty() && !error_) {
    std::string line = std::move(partial_line_);
    partial_line_.clear();
    fold_line(line);
  }
  if (error_) return *error_;
  if (!any_) return bad_upstream("the LLM sent an empty reply");
  if (answer_.completion_tokens == 0)
    answer_.completion_tokens = static_cast<std::int64_t>(answer_.piece_count());
  return std::move(answer_);
}

result<llm_answer> parse_upstream(api_family api, std::string_view body) {
  upstream_reader reader(api);
  reader.feed(body);
  return reader.finish();
}

namespace {

void ollama_line(api_family api, const llm_answer& answer, const std::string& created,
                 std::string_view content, bool done, std::string& out) {
  rapidjson::StringBuffer sb;
  json_writer w(sb);
  w.StartObject();
  w.Key("model");
  put_string(w, answer.model);
  w.Key("created_at");
  put_string(w, created);
  if (api == api_family::ollama_chat) {
    w.Key("message");
    w.StartObject();
    w.Key("role");
    w.String("assistant");
    w.Key("content");
    put_string(w, content);
    w.EndObject();
  } else {
    w.Key("response");
    put_string(w, content);
  }
  w.Key("done");
  w.Bool(done);
  if (done) {
    w.Key("done_reason");
    put_string(w, answer.finish_reason);
    w.Key("prompt_eval_count");
    w.Int64(answer.prompt_tokens);
    w.Key("eval_count");
    w.Int64(answer.completion_tokens);
  }
  w.EndObject();
  out.append(sb.GetString(), sb.GetSize());
}

void openai_object(const llm_answer& answer, std::string_view content, bool delta, bool last,
                   std::string& out) {
  std::string id =
      "chatcmpl-" + std::to_string(static_cast<unsigned long long>(answer.created_unix));
  rapidjson::StringBuffer sb;
  json_writer w(sb);
  w.StartObject();
  w.Key("id");
  put_string(w, id);
  w.Key("object");
  w.String(delta ? "chat.completion.chunk" : "chat.completion");
  w.Key("created");
  w.Int64(answer.created_unix);
  w.Key("model");
  put_string(w, answer.model);
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Int(0);
  w.Key(delta ? "delta" : "message");
  w.StartObject();
  if (!delta || !last) {
    if (!delta) {
      w.Key("role");
      w.String("assistant");
    }
    w.Key("content");
    put_string(w, content);
  }
  w.EndObject();
  w.Key("finish_reason");
  if (last)
    put_string(w, answer.finish_reason);
  else
    w.Null();
  w.EndObject();
  w.EndArray();
  if (!delta) {
    w.Key("usage");
    w.StartObject();
    w.Key("prompt_tokens");
    w.Int64(answer.prompt_tokens);
    w.Key("completion_tokens");
    w.Int64(answer.completion_tokens);
    w.Key("total_tokens");
    w.Int64(answer.prompt_tokens + answer.completion_tokens);
    w.EndObject();
  }
  w.EndObject();
  out.append(sb.GetString(), sb.GetSize());
}

}  // namespace

std::string_view stream_content_type(api_family api) {
  return api == api_family::openai_chat ? "text/event-stream" : "application/x-ndjson";
}

std::string render_stream_pieces(api_family api, const llm_answer& answer,
                                 const std::vector<std::string_view>& pieces) {
  std::string out;
  if (api == api_family::openai_chat) {
    for (auto piece : pieces) {
      out += "data: ";
      openai_object(answer, piece, true, false, out);
      out += "\n\n";
    }
    return out;
  }
  std::string created = rfc3339(answer.created_unix);
  for (auto piece : pieces) {
    ollama_line(api, answer, created, piece, false, out);
    out.push_back('\n');
  }
  return out;
}

std::string render_stream_end(api_family api, const llm_answer& answer) {
  std::string out;
  if (api == api_family::openai_chat) {
    out += "data: ";
    openai_object(answer, "", true, true, out);
    out += "\n\ndata: [DONE]\n\n";
    return out;
  }
  ollama_line(api, answer, rfc3339(answer.created_unix), "", true, out);
  out.push_back('\n');
  return out;
}

rendered_reply render(api_family api, const llm_answer& answer, bool stream) {
  rendered_reply r;
  if (stream) {
    r.content_type = std::string(stream_content_type(api));
    std::vector<std::string_view> pieces;
    pieces.reserve(answer.piece_count());
    answer.for_each_piece([&](std::string_view piece) { pieces.push_back(piece); });
    r.body = render_stream_pieces(api, answer, pieces) + render_stream_end(api, answer);
    return r;
  }
  r.content_type = "application/json";
  if (api == api_family::openai_chat)
    openai_object(answer, answer.content(), false, true, r.body);
  else
    ollama_line(api, answer, rfc3339(answer.created_unix), answer.content(), true, r.body);
  return r;
}

}  // namespace suite::chat_cache
