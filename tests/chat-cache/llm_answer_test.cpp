// Upstream bodies → llm_answer → client bodies (services/chat-cache/llm_answer.hpp).
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "llm_answer.hpp"

using namespace suite::chat_cache;

TEST_CASE("an Ollama NDJSON stream keeps its pieces and replays with the same chunking") {
  std::string body =
      R"({"model":"m","created_at":"x","message":{"role":"assistant","content":"Hel"},"done":false})"
      "\n"
      R"({"model":"m","created_at":"x","message":{"role":"assistant","content":"lo \"you\""},"done":false})"
      "\n"
      R"({"model":"m","created_at":"x","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2})"
      "\n";
  auto answer = parse_upstream(api_family::ollama_chat, body);
  REQUIRE(answer.ok());
  CHECK(answer->pieces() == std::vector<std::string>{"Hel", "lo \"you\""});
  CHECK(answer->completion_tokens == 2);
  CHECK(answer->prompt_tokens == 3);

  auto streamed = render(api_family::ollama_chat, *answer, true);
  CHECK(streamed.content_type == "application/x-ndjson");
  auto again = parse_upstream(api_family::ollama_chat, streamed.body);
  REQUIRE(again.ok());
  CHECK(again->pieces() == answer->pieces());

  auto whole = render(api_family::ollama_chat, *answer, false);
  rapidjson::Document doc;
  doc.Parse(whole.body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["message"]["content"].GetString()) == "Hello \"you\"");
  CHECK(doc["done"].GetBool());
}

TEST_CASE("an OpenAI SSE stream parses, renders as SSE ending with [DONE], and as one JSON") {
  std::string body =
      "data: "
      "{\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
      "\"A\"},\"finish_reason\":null}]}\n\n"
      ": keep-alive\n\n"
      "data: "
      "{\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"B\"},\"finish_"
      "reason\":null}]}\n\n"
      "data: "
      "{\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}"
      "\n\n"
      "data: [DONE]\n\n";
  auto answer = parse_upstream(api_family::openai_chat, body);
  REQUIRE(answer.ok());
  CHECK(answer->pieces() == std::vector<std::string>{"A", "B"});
  CHECK(answer->finish_reason == "length");
  auto sse = render(api_family::openai_chat, *answer, true);
  CHECK(sse.content_type == "text/event-stream");
  CHECK(sse.body.ends_with("data: [DONE]\n\n"));
  CHECK(parse_upstream(api_family::openai_chat, sse.body)->pieces() == answer->pieces());
  auto json = render(api_family::openai_chat, *answer, false);
  rapidjson::Document doc;
  doc.Parse(json.body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["choices"][0]["message"]["content"].GetString()) == "AB");
  CHECK(std::string(doc["object"].GetString()) == "chat.completion");
}

TEST_CASE("a generate reply, and broken replies are errors") {
  auto g =
      parse_upstream(api_family::ollama_generate, R"({"model":"m","response":"xyz","done":true})");
  REQUIRE(g.ok());
  CHECK(g->content() == "xyz");
  CHECK_FALSE(parse_upstream(api_family::ollama_chat, "").ok());
  CHECK_FALSE(parse_upstream(api_family::ollama_chat, "not json").ok());
  auto reported = parse_upstream(api_family::ollama_chat, R"({"error":"model not found"})");
  REQUIRE_FALSE(reported.ok());
  CHECK(reported.error().status == 502);
}

TEST_CASE("pieces of any length survive the compact storage") {
  llm_answer answer;
  std::vector<std::string> pieces{"a", std::string(127, 'b'), std::string(128, 'c'),
                                  std::string(70000, 'd'), "e"};
  for (const auto& p : pieces) answer.add_piece(p);
  CHECK(answer.pieces() == pieces);
  CHECK(answer.piece_count() == 5);
  CHECK(answer.content().size() == 1 + 127 + 128 + 70000 + 1);
  answer.shrink();
  CHECK(answer.weight() < answer.content().size() + 400);
}
