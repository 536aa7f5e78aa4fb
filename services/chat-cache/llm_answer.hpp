// llm_answer: what chat-cache stores for one request, and its two conversions.
//   parse_upstream(): an LLM's reply body (Ollama NDJSON stream, OpenAI SSE stream, or a
//     plain JSON reply) → llm_answer, keeping the content as the pieces the model
//     streamed, so a hit can be replayed with the same chunking.
//   upstream_reader: the same, incrementally, as the LLM's body arrives: each complete
//     line is folded at once and the pieces it added can be taken and passed on live.
//   render(): llm_answer → the body the client asked for: Ollama JSON or NDJSON,
//     OpenAI JSON or SSE ending with "data: [DONE]". A streamed body is exactly
//     render_stream_pieces() of every piece followed by render_stream_end(), so an
//     answer passed on live and the same answer replayed from the cache are identical.
// Stateless functions; llm_answer is immutable once cached (shared as const).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "suite/result.hpp"

namespace suite::chat_cache {

enum class api_family { ollama_chat, ollama_generate, openai_chat };

// "ollama.chat", "ollama.generate", "openai.chat": part of the cache key.
std::string_view api_name(api_family api);
// The path the request is forwarded to on the LLM server.
std::string_view upstream_path(api_family api);
// Whether the API streams when the request does not say ("stream" absent).
bool streams_by_default(api_family api);

struct llm_answer {
  std::string model;          // as the LLM named it
  std::string request_model;  // as the client asked for it (what DELETE ?model= matches)
  std::string finish_reason = "stop";
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t created_unix = 0;

  // The content is kept as one string plus the length of each piece the model
  // streamed, not as a string per piece: a token is a few bytes, and a std::string per
  // token would weigh several times the text itself. A length is a varint of 4-bit
  // nibbles (3 bits of length, 1 of "more"), two to a byte: a token of up to 7 bytes,
  // most of them, costs half a byte (memory_bench.sh, 300-token answers: RSS 1.48 x
  // the payload with one byte a token).
  void add_piece(std::string_view piece);
  const std::string& content() const { return content_; }
  std::size_t piece_count() const { return piece_count_; }
  template <class Visit>
  void for_each_piece(Visit&& visit) const {
    std::size_t offset = 0, nibble = 0;
    for (std::size_t piece = 0; piece < piece_count_; ++piece) {
      std::size_t length = 0;
      for (int shift = 0;; shift += 3) {
        auto byte = static_cast<unsigned char>(piece_lengths_[nibble / 2]);
        unsigned bits = nibble++ % 2 == 0 ? byte & 0x0F : byte >> 4;
        length |= static_cast<std::size_t>(bits & 0x07) << shift;
        if (!(bits & 0x08)) break;
      }
      visit(std::string_view(content_).substr(offset, length));
      offset += length;
    }
  }
  std::vector<std::string> pieces() const;  // a copy, for tests and tools
  // Bytes this answer holds in memory, for the cache's byte bound.
  std::size_t weight() const;
  // Releases spare capacity once the answer is complete (it is immutable afterwards).
  void shrink();

 private:
  std::string content_;
  std::string piece_lengths_;  // nibbles, the first of each byte in its low half
  std::size_t nibbles_ = 0;
  std::size_t piece_count_ = 0;
};

result<llm_answer> parse_upstream(api_family api, std::string_view body);

class upstream_reader {
 public:
  explicit upstream_reader(api_family api);
  // Folds every complete line of `bytes` (with what an earlier call left unfinished).
  // After an error nothing more is folded and finish() returns that error.
  void feed(std::string_view bytes);
  // The pieces folded since the last call, in order.
  std::vector<std::string> take_new_pieces();
  // What is known so far (model, created time, pieces).
  const llm_answer& so_far() const { return answer_; }
  // Folds a last line without a newline; the answer, or why the body is not one.
  result<llm_answer> finish();

 private:
  void fold_line(std::string_view line);

  api_family api_;
  llm_answer answer_;
  std::string partial_line_;
  std::size_t taken_bytes_ = 0;  // content already handed out by take_new_pieces
  std::vector<std::size_t> new_piece_ends_;
  std::optional<error_info> error_;
  bool any_ = false;
};

struct rendered_reply {
  std::string content_type;
  std::string body;
};

rendered_reply render(api_family api, const llm_answer& answer, bool stream);

// The streamed form piece by piece: the content type, the chunks of `pieces` (model and
// created time taken from `answer`), and the closing chunk(s) of a complete answer.
std::string_view stream_content_type(api_family api);
std::string render_stream_pieces(api_family api, const llm_answer& answer,
                                 const std::vector<std::string_view>& pieces);
std::string render_stream_end(api_family api, const llm_answer& answer);

}  // namespace suite::chat_cache
