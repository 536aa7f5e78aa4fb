#include "fake_llm.hpp"

#include <utility>  // Asio 1.18 uses std::exchange without including <utility> (C++20)

#include <atomic>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <xxhash.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace suite::fake_llm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

constexpr const char* words[] = {
    "the",     "cache",    "answers", "quickly", "while",  "models",  "think",   "slowly",
    "every",   "token",    "counts",  "and",     "memory", "stays",   "small",   "because",
    "hot",     "keys",     "remain",  "warm",    "in",     "a",       "window",  "of",
    "recent",  "requests", "so",      "scans",   "pass",   "through", "without", "harm",
    "clinic",  "records",  "events",  "flow",    "into",   "stores",  "where",   "vectors",
    "meet",    "graphs",   "under",   "load",    "tests",  "show",    "tails",   "not",
    "means",   "only",     "p99",     "matters", "when",   "users",   "wait",    "for",
    "replies", "from",     "busy",    "servers", "at",     "night",   "again",   "done"};
constexpr std::size_t word_count = sizeof(words) / sizeof(words[0]);

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

void put_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// What a parsed generation request asks for.
struct prompt_request {
  std::string model = "fake";
  std::string prompt_text;  // everything the content depends on
  bool stream = false;
  int tokens = 0;
};

}  // namespace

std::string token_for(std::uint64_t seed, int index) {
  std::string t = words[splitmix(seed + static_cast<std::uint64_t>(index)) % word_count];
  t.push_back(' ');
  return t;
}

struct server::impl {
  explicit impl(settings s) : config(std::move(s)) {}

  void accept_next();
  void count(const std::string& path) {
    total.fetch_add(1);
    std::lock_guard lock(counts_mutex);  // cold enough: a fake server's bookkeeping
    ++by_path[path];
  }
  std::string stats_json() {
    rapidjson::StringBuffer sb;
    json_writer w(sb);
    w.StartObject();
    w.Key("requests");
    w.Uint64(total.load());
    std::lock_guard lock(counts_mutex);
    for (const auto& [path, n] : by_path) {
      put_string(w, path);
      w.Uint64(n);
    }
    w.EndObject();
    return sb.GetString();
  }

  settings config;
  asio::io_context io;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> total{0};
  std::mutex counts_mutex;
  std::map<std::string, std::uint64_t> by_path;
  std::uint16_t port = 0;
};

namespace {

// One keep-alive connection. Replies are a list of frames sent after delays: one frame
// for a plain reply, one per token (plus the closing ones) for a stream, each sent as an
// HTTP chunk so a client sees tokens as they are "generated".
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, server::impl& server)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), server_(server) {}

  void start() { read(); }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(120));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) {
                         beast::error_code ignored;
                         self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                         return;
                       }
                       self->route();
                     });
  }

  void route() {
    std::string path(request_.target());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    keep_alive_ = request_.keep_alive();
    auto method = request_.method();
    if (method == http::verb::get && path == "/fake/stats")
      return send_plain(200, "application/json", server_.stats_json());
    if (method == http::verb::post && path == "/fake/reset") {
      server_.total = 0;
      {
        std::lock_guard lock(server_.counts_mutex);
        server_.by_path.clear();
      }
      return send_plain(200, "application/json", "{}");
    }
    server_.count(path);
    if (method == http::verb::get && path == "/api/tags")
      return send_plain(200, "application/json", tags_json());
    if (method != http::verb::post)
      return send_plain(404, "application/json", R"({"error":"not found"})");
    rapidjson::Document doc;
    doc.Parse(request_.body().data(), request_.body().size());
    if (doc.HasParseError() || !doc.IsObject())
      return send_plain(400, "application/json", R"({"error":"invalid JSON body"})");
    if (path == "/api/embed" || path == "/v1/embeddings")
      return send_plain(200, "application/json", embeddings_json(doc, path == "/v1/embeddings"));
    if (path != "/api/chat" && path != "/api/generate" && path != "/v1/chat/completions") {
      return send_plain(404, "application/json", R"({"error":"not found"})");
    }
    auto prompt = read_prompt(doc, path);
    if (prompt.prompt_text.find("FAIL500") != std::string::npos) {
      return send_plain(500, "application/json", R"({"error":"the fake model was asked to fail"})");
    }
    generate(path, prompt);
  }

  static prompt_request read_prompt(const rapidjson::Document& doc, const std::string& path) {
    prompt_request p;
    bool openai = path.starts_with("/v1/");
    p.stream = !openai;  // Ollama streams unless told not to; OpenAI does not unless told to
    if (doc.HasMember("stream") && doc["stream"].IsBool()) p.stream = doc["stream"].GetBool();
    if (doc.HasMember("model") && doc["model"].IsString()) p.model = doc["model"].GetString();
    p.prompt_text = p.model + "\n";
    if (doc.HasMember("system") && doc["system"].IsString())
      p.prompt_text += std::string(doc["system"].GetString()) + "\n";
    if (doc.HasMember("prompt") && doc["prompt"].IsString())
      p.prompt_text += doc["prompt"].GetString();
    if (doc.HasMember("messages") && doc["messages"].IsArray()) {
      for (const auto& m : doc["messages"].GetArray()) {
        if (m.IsObject() && m.HasMember("content") && m["content"].IsString()) {
          if (m.HasMember("role") && m["role"].IsString())
            p.prompt_text += std::string(m["role"].GetString()) + ": ";
          p.prompt_text += std::string(m["content"].GetString()) + "\n";
        }
      }
    }
    if (doc.HasMember("options") && doc["options"].IsObject() &&
        doc["options"].HasMember("num_predict") && doc["options"]["num_predict"].IsInt()) {
      p.tokens = doc["options"]["num_predict"].GetInt();
    }
    if (doc.HasMember("max_tokens") && doc["max_tokens"].IsInt())
      p.tokens = doc["max_tokens"].GetInt();
    return p;
  }

  void generate(const std::string& path, const prompt_request& p) {
    int n = p.tokens > 0 ? p.tokens : server_.config.tokens;
    std::uint64_t seed = XXH3_64bits(p.prompt_text.data(), p.prompt_text.size());
    std::vector<std::string> tokens;
    tokens.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) tokens.push_back(token_for(seed, i));
    std::string created = now_rfc3339();
    bool openai = path == "/v1/chat/completions";
    bool chat = path != "/api/generate";
    auto ollama_chunk = [&](std::string_view content, bool done) {
      rapidjson::StringBuffer sb;
      json_writer w(sb);
      w.StartObject();
      w.Key("model");
      put_string(w, p.model);
      w.Key("created_at");
      put_string(w, created);
      if (chat) {
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
        w.String("stop");
        w.Key("prompt_eval_count");
        w.Int(static_cast<int>(p.prompt_text.size() / 4 + 1));
        w.Key("eval_count");
        w.Int(n);
      }
      w.EndObject();
      return std::string(sb.GetString()) + (p.stream ? "\n" : "");
    };
    auto openai_object = [&](std::string_view content, bool delta, bool last) {
      rapidjson::StringBuffer sb;
      json_writer w(sb);
      w.StartObject();
      w.Key("id");
      w.String(("chatcmpl-" + std::to_string(seed % 1000000007ULL)).c_str());
      w.Key("object");
      w.String(delta ? "chat.completion.chunk" : "chat.completion");
      w.Key("created");
      w.Int64(static_cast<std::int64_t>(std::time(nullptr)));
      w.Key("model");
      put_string(w, p.model);
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
        w.String("stop");
      else
        w.Null();
      w.EndObject();
      w.EndArray();
      if (!delta) {
        w.Key("usage");
        w.StartObject();
        w.Key("prompt_tokens");
        w.Int(static_cast<int>(p.prompt_text.size() / 4 + 1));
        w.Key("completion_tokens");
        w.Int(n);
        w.Key("total_tokens");
        w.Int(static_cast<int>(p.prompt_text.size() / 4 + 1) + n);
        w.EndObject();
      }
      w.EndObject();
      return std::string(sb.GetString());
    };

    frames_.clear();
    std::string whole;
    for (const auto& t : tokens) whole += t;
    if (!p.stream) {
      content_type_ = "application/json";
      frames_.push_back(openai ? openai_object(whole, false, true) : ollama_chunk(whole, true));
    } else if (openai) {
      content_type_ = "text/event-stream";
      for (const auto& t : tokens)
        frames_.push_back("data: " + openai_object(t, true, false) + "\n\n");
      frames_.push_back("data: " + openai_object("", true, true) + "\n\ndata: [DONE]\n\n");
    } else {
      content_type_ = "application/x-ndjson";
      for (const auto& t : tokens) frames_.push_back(ollama_chunk(t, false));
      frames_.push_back(ollama_chunk("", true));
    }
    // A plain reply arrives when the whole generation would have finished.
    auto per_token = server_.config.tokens_per_second > 0
                         ? std::chrono::microseconds(1000000 / server_.config.tokens_per_second)
                         : std::chrono::microseconds(0);
    first_delay_ = std::chrono::milliseconds(server_.config.ttft_ms);
    if (!p.stream) first_delay_ += per_token * n;
    between_delay_ = p.stream ? per_token : std::chrono::microseconds(0);
    next_frame_ = 0;
    chunked_ = p.stream;
    if (chunked_) {
      head_ = "HTTP/1.1 200 OK\r\nContent-Type: " + content_type_ +
              "\r\nTransfer-Encoding: chunked\r\nConnection: " +
              (keep_alive_ ? "keep-alive" : "close") + "\r\n\r\n";
    }
    wait_then_send(first_delay_);
  }

  void wait_then_send(std::chrono::microseconds delay) {
    if (delay.count() == 0) return send_frame();
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->send_frame();
    });
  }

  void send_frame() {
    if (!chunked_) return send_plain(200, content_type_, std::move(frames_.front()));
    std::string out;
    if (next_frame_ == 0) out = std::move(head_);
    const auto& frame = frames_[next_frame_];
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", frame.size());
    out += size;
    out += frame;
    out += "\r\n";
    bool last = ++next_frame_ == frames_.size();
    if (last) out += "0\r\n\r\n";
    auto shared = std::make_shared<std::string>(std::move(out));
    asio::async_write(stream_, asio::buffer(*shared),
                      [self = shared_from_this(), shared, last](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!last) return self->wait_then_send(self->between_delay_);
                        self->after_reply();
                      });
  }

  void send_plain(int status, const std::string& content_type, std::string body) {
    response_ = {};
    response_.result(static_cast<unsigned>(status));
    response_.version(11);
    response_.keep_alive(keep_alive_);
    response_.set(http::field::content_type, content_type);
    response_.body() = std::move(body);
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        self->after_reply();
                      });
  }

  void after_reply() {
    if (!keep_alive_) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    read();
  }

  static std::string tags_json() {
    return R"({"models":[{"name":"fake:latest","model":"fake:latest","size":1,"digest":"fake","details":{"family":"fake","parameter_size":"0B"}},)"
           R"({"name":"fake-large:latest","model":"fake-large:latest","size":1,"digest":"fake-large","details":{"family":"fake","parameter_size":"0B"}}]})";
  }

  static std::string embeddings_json(const rapidjson::Document& doc, bool openai) {
    std::vector<std::string> inputs;
    const char* field = doc.HasMember("input") ? "input" : "prompt";
    if (doc.HasMember(field)) {
      const auto& v = doc[field];
      if (v.IsString()) inputs.emplace_back(v.GetString());
      if (v.IsArray()) {
        for (const auto& x : v.GetArray()) {
          if (x.IsString()) inputs.emplace_back(x.GetString());
        }
      }
    }
    std::string model =
        doc.HasMember("model") && doc["model"].IsString() ? doc["model"].GetString() : "fake";
    rapidjson::StringBuffer sb;
    json_writer w(sb);
    w.StartObject();
    w.Key("model");
    put_string(w, model);
    auto vector = [&](const std::string& text) {
      std::uint64_t seed = XXH3_64bits(text.data(), text.size());
      w.StartArray();
      for (int i = 0; i < 8; ++i)
        w.Double(static_cast<double>(splitmix(seed + static_cast<std::uint64_t>(i)) % 2001) /
                     1000.0 -
                 1.0);
      w.EndArray();
    };
    if (openai) {
      w.Key("object");
      w.String("list");
      w.Key("data");
      w.StartArray();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        w.StartObject();
        w.Key("object");
        w.String("embedding");
        w.Key("index");
        w.Uint64(i);
        w.Key("embedding");
        vector(inputs[i]);
        w.EndObject();
      }
      w.EndArray();
    } else {
      w.Key("embeddings");
      w.StartArray();
      for (const auto& text : inputs) vector(text);
      w.EndArray();
    }
    w.EndObject();
    return sb.GetString();
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  server::impl& server_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  bool keep_alive_ = true;
  bool chunked_ = false;
  std::string content_type_;
  std::string head_;
  std::vector<std::string> frames_;
  std::size_t next_frame_ = 0;
  std::chrono::microseconds first_delay_{0}, between_delay_{0};
};

}  // namespace

void server::impl::accept_next() {
  acceptor->async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<session>(std::move(socket), *this)->start();
    }
    accept_next();
  });
}

server::server(settings s) : impl_(std::make_unique<impl>(std::move(s))) {}

server::~server() { stop(); }

bool server::start() {
  auto& i = *impl_;
  auto colon = i.config.listen.rfind(':');
  std::string host = i.config.listen.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    std::cerr << "fake-llm: bad listen address " << i.config.listen << "\n";
    return false;
  }
  tcp::endpoint endpoint(address,
                         static_cast<std::uint16_t>(std::stoi(i.config.listen.substr(colon + 1))));
  i.acceptor.emplace(i.io);
  i.acceptor->open(endpoint.protocol(), ec);
  if (!ec) i.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor->bind(endpoint, ec);
  if (!ec) i.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "fake-llm: cannot listen on " << i.config.listen << ": " << ec.message() << "\n";
    return false;
  }
  i.port = i.acceptor->local_endpoint().port();
  i.accept_next();
  for (int t = 0; t < i.config.threads; ++t) i.threads.emplace_back([&i] { i.io.run(); });
  return true;
}

void server::stop() {
  if (!impl_) return;
  impl_->io.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

std::uint16_t server::port() const { return impl_->port; }

}  // namespace suite::fake_llm
