// The Ollama and OpenAI embedding clients against a fake embedding server on loopback
// (the model is the one part the suite may fake): batching, normalisation, search
// through the store with a remote embedder, and a down embedder rejecting the write
// with 503 while changing nothing.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include <rapidjson/document.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "embedder.hpp"
#include "key_codec.hpp"
#include "record_store.hpp"
#include "rem_test_support.hpp"
#include "test_process.hpp"

using namespace rem;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// Answers each POST with one 8-dim vector per input: 1 in the slot of the text's first
// letter (a..h), so texts starting with the same letter are identical vectors.
class fake_embedding_server {
 public:
  explicit fake_embedding_server(bool openai) : openai_(openai), acceptor_(io_, {tcp::v4(), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_embedding_server() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    beast::error_code ignored;
    tcp::socket poke(io_);
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
                 ignored);
    thread_.join();
    acceptor_.close(ignored);
  }
  int port() const { return port_; }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      ++requests_;
      rapidjson::Document doc;
      doc.Parse(req.body().data(), req.body().size());
      std::string vectors;
      const auto& input = doc["input"];
      for (rapidjson::SizeType i = 0; i < input.Size(); ++i) {
        std::string text = input[i].GetString();
        int slot = text.empty() ? 0 : (text[0] - 'a') % 8;
        std::string v = "[";
        for (int d = 0; d < 8; ++d) v += std::string(d ? "," : "") + (d == slot ? "2.0" : "0");
        v += "]";
        if (i) vectors += ",";
        vectors += openai_ ? R"({"index":)" + std::to_string(i) + R"(,"embedding":)" + v + "}" : v;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      res.body() =
          openai_ ? R"({"data":[)" + vectors + "]}" : R"({"embeddings":[)" + vectors + "]}";
      res.prepare_payload();
      http::write(socket, res, ec);
    }
  }

  bool openai_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

http_embedder_settings settings_for(const std::string& provider, int port) {
  http_embedder_settings s;
  s.provider = provider;
  s.url = "http://127.0.0.1:" + std::to_string(port);
  s.model = "fake";
  s.dimension = 8;
  s.batch_size = 2;
  s.timeout_ms = 2000;
  return s;
}

}  // namespace

TEST_CASE("ollama and openai clients batch, normalise and check dimensions") {
  for (const std::string provider : {"ollama", "openai"}) {
    fake_embedding_server server(provider == "openai");
    auto embedder = make_http_embedder(settings_for(provider, server.port()));
    std::vector<float> out(5 * 8);
    REQUIRE(embedder->embed({"apple", "banana", "cherry", "avocado", "date"}, out.data()).ok());
    CHECK(server.requests() == 3);  // batches of 2
    CHECK(out[0] == doctest::Approx(1.0));
    CHECK(out[8 + 1] == doctest::Approx(1.0));
    CHECK(out[3 * 8 + 0] == doctest::Approx(1.0));
    auto wrong = settings_for(provider, server.port());
    wrong.dimension = 4;
    CHECK(make_http_embedder(wrong)->embed_one("apple", out.data()).error().status == 503);
  }
}

TEST_CASE(
    "a store with a remote embedder searches by it; a down embedder rejects writes with 503") {
  rem::test::temp_dir dir;
  auto server = std::make_unique<fake_embedding_server>(false);
  store_options options;
  options.path = dir.path.string();
  options.sync_writes = false;
  options.text_embedder = make_http_embedder(settings_for("ollama", server->port()));
  auto store = record_store::open(options);
  REQUIRE(store.ok());
  auto registration = rem::test::json(R"({"name":"doc","key_field":"k","embedding_fields":["text"],
      "schema":{"type":"object","properties":{"k":{"type":"string"},"text":{"type":"string"}}}})");
  REQUIRE((*store)->register_schema("t", *parse_type_schema(registration.object)).ok());
  auto a = rem::test::json(R"({"k":"1","text":"alpha"})");
  auto b = rem::test::json(R"({"k":"2","text":"beta"})");
  REQUIRE((*store)->upsert("t", "doc", {&a.object, &b.object}).ok());
  auto hits = (*store)->nearest("t", "doc", "bravo", 1);
  REQUIRE(hits.ok());
  REQUIRE(hits->size() == 1);
  CHECK(id_from_number(hits->front().label) == record_id("t", "doc", "2"));

  server->stop();
  auto c = rem::test::json(R"({"k":"3","text":"charlie"})");
  auto refused = (*store)->upsert("t", "doc", {&c.object});
  REQUIRE(!refused.ok());
  CHECK(refused.error().status == 503);
  CHECK(!(*store)->get_by_key("t", "doc", "3").ok());
  CHECK((*store)->nearest("t", "doc", "x", 1).error().status == 503);
}
