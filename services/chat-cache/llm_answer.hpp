// llm_answer: what chat-cache stores for one request, and its two conversions.
//   parse_upstream(): an LLM's reply body (Ollama NDJSON stream, OpenAI SSE stream, or a
//     plain JSON reply) → llm_answer, keeping the content as the pieces the model
//     streamed, so a hit can be replayed with the same chunking.
//   render(): llm_answer → the body the client asked for: Ollama JSON or NDJSON,
//     OpenAI JSON or SSE ending with "data: [DONE]".
// Stateless functions; llm_answer is immutable once cached (shared as const).
#pragma once

#include <cstdint>
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
  std::vector<std::string> pieces;  // the content, as the model streamed it
  std::string finish_reason = "stop";
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t created_unix = 0;

  std::string content() const;
  // Bytes this answer holds in memory, for the cache's byte bound.
  std::size_t weight() const;
};

result<llm_answer> parse_upstream(api_family api, std::string_view body);

struct rendered_reply {
  std::string content_type;
  std::string body;
};

rendered_reply render(api_family api, const llm_answer& answer, bool stream);

}  // namespace suite::chat_cache
