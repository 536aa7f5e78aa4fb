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
  doc.Parse(whole.body.data(), whole.body.size());
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
  doc.Parse(json.body.data(), json.body.size());
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
  // Lengths at each nibble boundary (7/8, 63/64, 511/512), odd and even nibble counts.
  std::vector<std::string> pieces{"a",
                                  std::string(7, 'b'),
                                  std::string(8, 'c'),
                                  std::string(63, 'd'),
                                  std::string(64, 'e'),
                                  std::string(511, 'f'),
                                  std::string(512, 'g'),
                                  std::string(70000, 'h'),
                                  "i",
                                  "jk"};
  std::size_t total = 0;
  for (const auto& p : pieces) {
    answer.add_piece(p);
    total += p.size();
  }
  CHECK(answer.pieces() == pieces);
  CHECK(answer.piece_count() == pieces.size());
  CHECK(answer.content().size() == total);
  answer.shrink();
  CHECK(answer.weight() < answer.content().size() + 400);
}

TEST_CASE("upstream_reader: fed byte by byte, it yields the pieces live and the same answer") {
  std::string body =
      "data: "
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]})"
      "\n\ndata: "
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]})"
      "\n\ndata: "
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"
      "\n\ndata: [DONE]\n\n";
  upstream_reader reader(api_family::openai_chat);
  std::vector<std::string> live;
  std::vector<std::size_t> seen_at;  // byte offsets at which each piece became available
  for (std::size_t i = 0; i < body.size(); ++i) {
    reader.feed(std::string_view(body).substr(i, 1));
    for (auto& piece : reader.take_new_pieces()) {
      live.push_back(piece);
      seen_at.push_back(i);
    }
  }
  CHECK(live == std::vector<std::string>{"Hel", "lo"});
  REQUIRE(seen_at.size() == 2);
  CHECK(seen_at[0] < body.find("\"lo\""));  // the first piece before the second was sent
  auto answer = reader.finish();
  REQUIRE(answer.ok());
  auto whole = parse_upstream(api_family::openai_chat, body);
  REQUIRE(whole.ok());
  CHECK(answer->pieces() == whole->pieces());
  CHECK(answer->model == "m");

  // The streamed rendering is exactly the live chunks followed by the end.
  for (auto api : {api_family::openai_chat, api_family::ollama_chat, api_family::ollama_generate}) {
    auto full = render(api, *answer, true);
    CHECK(full.content_type == stream_content_type(api));
    CHECK(full.body == render_stream_pieces(api, *answer, {"Hel"}) +
                           render_stream_pieces(api, *answer, {"lo"}) +
                           render_stream_end(api, *answer));
  }
}

TEST_CASE("upstream_reader: a broken line is an error, an unfinished last line is still read") {
  upstream_reader broken(api_family::ollama_chat);
  broken.feed("{\"model\":\"m\",\"message\":{\"content\":\"a\"},\"done\":false}\nnot json\n");
  CHECK(broken.take_new_pieces() == std::vector<std::string>{"a"});
  CHECK(!broken.finish().ok());

  upstream_reader unfinished(api_family::ollama_generate);
  unfinished.feed(R"({"model":"m","response":"x","done":true})");
  CHECK(unfinished.take_new_pieces().empty());
  auto answer = unfinished.finish();
  REQUIRE(answer.ok());
  CHECK(answer->content() == "x");
}
