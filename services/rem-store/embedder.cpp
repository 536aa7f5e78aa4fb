#include "embedder.hpp"

#include <cctype>
#include <cmath>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <xxhash.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace rem {
namespace {

void normalize(float* v, std::size_t n) {
  double norm = 0;
  for (std::size_t i = 0; i < n; ++i) norm += static_cast<double>(v[i]) * v[i];
  if (norm <= 0) return;
  auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (std::size_t i = 0; i < n; ++i) v[i] *= scale;
}

suite::error_info unavailable(std::string message) {
  return suite::make_error(503, "embedder_unavailable", std::move(message));
}

}  // namespace

void hashing_embedder::hash_one(std::string_view text, float* out) const {
  std::fill(out, out + dimension_, 0.0f);
  auto add = [&](std::string_view feature, float weight, std::uint64_t seed) {
    auto h = XXH3_64bits_withSeed(feature.data(), feature.size(), seed);
    out[h % dimension_] += (h >> 63) ? -weight : weight;
  };
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    add(word, 1.0f, 1);
    std::string padded = "^" + word + "$";
    for (std::size_t i = 0; i + 3 <= padded.size(); ++i)
      add(std::string_view(padded).substr(i, 3), 0.5f, 2);
    word.clear();
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    // Bytes >= 0x80 (UTF-8 of non-ASCII letters) count as word characters.
    if (std::isalnum(u) || u >= 0x80)
      word.push_back(static_cast<char>(std::tolower(u)));
    else
      flush();
  }
  flush();
  normalize(out, dimension_);
}

suite::status hashing_embedder::embed(const std::vector<std::string_view>& texts,
                                      float* out) const {
  for (std::size_t i = 0; i < texts.size(); ++i) hash_one(texts[i], out + i * dimension_);
  return suite::ok();
}

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

class http_embedder final : public embedder {
 public:
  explicit http_embedder(http_embedder_settings s) : settings_(std::move(s)) {
    std::string rest = settings_.url;
    if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
    auto slash = rest.find('/');
    prefix_ = slash == std::string::npos ? "" : rest.substr(slash);
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    auto hostport = rest.substr(0, slash);
    auto colon = hostport.rfind(':');
    host_ = hostport.substr(0, colon);
    port_ = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  }
  std::string name() const override {
    return settings_.provider + ":" + settings_.model + " at " + settings_.url;
  }
  std::size_t dimension() const override { return settings_.dimension; }

  suite::status embed(const std::vector<std::string_view>& texts, float* out) const override {
    for (std::size_t first = 0; first < texts.size(); first += settings_.batch_size) {
      auto last = std::min(texts.size(), first + settings_.batch_size);
      auto done = embed_batch(texts, first, last, out + first * settings_.dimension);
      if (!done) return done;
    }
    return suite::ok();
  }

 private:
  suite::status embed_batch(const std::vector<std::string_view>& texts, std::size_t first,
                            std::size_t last, float* out) const {
    bool ollama = settings_.provider == "ollama";
    rapidjson::StringBuffer body;
    rapidjson::Writer<rapidjson::StringBuffer> w(body);
    w.StartObject();
    w.Key("model");
    w.String(settings_.model.c_str(), static_cast<rapidjson::SizeType>(settings_.model.size()));
    w.Key("input");
    w.StartArray();
    for (auto i = first; i < last; ++i)
      w.String(texts[i].data(), static_cast<rapidjson::SizeType>(texts[i].size()));
    w.EndArray();
    w.EndObject();

    std::string answer;
    try {
      boost::asio::io_context io;
      beast::tcp_stream stream(io);
      stream.expires_after(std::chrono::milliseconds(settings_.timeout_ms));
      tcp::resolver resolver(io);
      stream.connect(resolver.resolve(host_, port_));
      http::request<http::string_body> req{
          http::verb::post, prefix_ + (ollama ? "/api/embed" : "/v1/embeddings"), 11};
      req.set(http::field::host, host_);
      req.set(http::field::content_type, "application/json");
      if (!ollama && !settings_.api_key.empty())
        req.set(http::field::authorization, "Bearer " + settings_.api_key);
      req.body() = body.GetString();
      req.prepare_payload();
      http::write(stream, req);
      beast::flat_buffer buffer;
      http::response<http::string_body> res;
      http::read(stream, buffer, res);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      if (res.result_int() != 200) {
        return unavailable("embedder answered " + std::to_string(res.result_int()) + ": " +
                           res.body().substr(0, 200));
      }
      answer = std::move(res.body());
    } catch (const std::exception& e) {
      return unavailable(std::string("embedder unreachable: ") + e.what());
    }

    rapidjson::Document doc;
    doc.Parse(answer.data(), answer.size());
    if (doc.HasParseError() || !doc.IsObject()) return unavailable("embedder answer is not JSON");
    auto count = last - first;
    auto take = [&](const rapidjson::Value& vector, std::size_t slot) -> suite::status {
      if (!vector.IsArray() || vector.Size() != settings_.dimension) {
        return unavailable("embedder returned a vector of " +
                           std::to_string(vector.IsArray() ? vector.Size() : 0) +
                           " dimensions, expected " + std::to_string(settings_.dimension));
      }
      float* target = out + slot * settings_.dimension;
      for (rapidjson::SizeType d = 0; d < vector.Size(); ++d) {
        if (!vector[d].IsNumber()) return unavailable("embedder returned a non-number");
        target[d] = static_cast<float>(vector[d].GetDouble());
      }
      normalize(target, settings_.dimension);
      return suite::ok();
    };
    if (ollama) {
      if (!doc.HasMember("embeddings") || !doc["embeddings"].IsArray() ||
          doc["embeddings"].Size() != count) {
        return unavailable("embedder answer lacks one embedding per input");
      }
      for (rapidjson::SizeType i = 0; i < count; ++i) {
        if (auto s = take(doc["embeddings"][i], i); !s) return s;
      }
    } else {
      if (!doc.HasMember("data") || !doc["data"].IsArray() || doc["data"].Size() != count) {
        return unavailable("embedder answer lacks one embedding per input");
      }
      for (const auto& item : doc["data"].GetArray()) {
        if (!item.IsObject() || !item.HasMember("index") || !item["index"].IsUint() ||
            item["index"].GetUint() >= count || !item.HasMember("embedding")) {
          return unavailable("embedder answer has a malformed data item");
        }
        if (auto s = take(item["embedding"], item["index"].GetUint()); !s) return s;
      }
    }
    return suite::ok();
  }

  http_embedder_settings settings_;
  std::string host_, port_, prefix_;
};

}  // namespace

std::unique_ptr<embedder> make_http_embedder(http_embedder_settings settings) {
  return std::make_unique<http_embedder>(std::move(settings));
}

}  // namespace rem
