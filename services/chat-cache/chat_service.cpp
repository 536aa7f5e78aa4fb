#include "chat_service.hpp"

#include <algorithm>
#include <cctype>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "llm_answer.hpp"
#include "request_key.hpp"
#include "single_flight.hpp"
#include "suite/bus_server.hpp"
#include "suite/json_msgpack.hpp"
#include "suite/log.hpp"

namespace suite::chat_cache {

using answer_ptr = std::shared_ptr<const llm_answer>;
using shard_cache = wtinylfu_cache<cache_key, answer_ptr, cache_key_hash>;
using steady = std::chrono::steady_clock;

// A chat request on its way to the shard that owns its key.
struct shard_lookup {
  bus_job job;
  cache_key key;
  api_family api = api_family::ollama_chat;
  bool stream = false;
  cache_control control;
  std::string model;
};

// Pieces of a running load as the LLM streams them, sent by the LLM client's thread to
// the shard (before the load's outcome, in order).
struct load_progress {
  cache_key key;
  std::string model;
  std::int64_t created_unix = 0;
  std::vector<std::string> pieces;
};

// The end of one load, sent by the LLM client's thread to the shard.
struct load_outcome {
  cache_key key;
  api_family api = api_family::ollama_chat;
  bool store = true;
  entry_expiry expiry;
  answer_ptr answer;  // null on failure
  error_info error;
};

}  // namespace suite::chat_cache

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(suite::chat_cache::shard_lookup)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(suite::chat_cache::load_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(suite::chat_cache::load_progress)

namespace suite::chat_cache {

using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using clear_atom = caf::atom_constant<caf::atom("clear")>;

struct chat_service::context {
  chat_service_settings settings;
  std::unique_ptr<llm_client> llm;
  std::vector<caf::actor> shards;

  prometheus::Counter* hits = nullptr;
  prometheus::Counter* misses = nullptr;
  prometheus::Gauge* hit_ratio = nullptr;
  prometheus::Gauge* bytes = nullptr;
  prometheus::Gauge* entries = nullptr;
  prometheus::Gauge* loads_in_flight = nullptr;
  prometheus::Counter* evictions[4] = {};
  prometheus::Histogram* upstream_latency = nullptr;
  prometheus::Family<prometheus::Counter>* upstream_errors = nullptr;

  const caf::actor& shard_of(const cache_key& key) const { return shards[key.low % shards.size()]; }
  double ratio() const {
    double h = hits->Value(), m = misses->Value();
    return h + m > 0 ? h / (h + m) : 0.0;
  }
};

namespace {

std::optional<api_family> api_of(std::string_view op) {
  if (op == "chat.chat") return api_family::ollama_chat;
  if (op == "chat.generate") return api_family::ollama_generate;
  if (op == "chat.completions") return api_family::openai_chat;
  return std::nullopt;
}

struct waiter {
  bus_job job;
  bool stream = false;
  bool head_sent = false;  // a streaming waiter that has had the pieces so far
};

// What a running load has streamed so far: late joiners get it first.
struct live_load {
  llm_answer so_far;  // model, created time and the pieces received
};

struct shard_state {
  std::unique_ptr<shard_cache> cache;
  single_flight<cache_key, waiter, cache_key_hash> flights;
  std::unordered_map<cache_key, live_load, cache_key_hash> live;
  double reported_bytes = 0, reported_entries = 0;
};

msgpack_value raw_chunk(const std::string& chunk, const char* content_type, const cache_key* key) {
  return pack_value([&](msgpack_packer& p) {
    p.pack_map(1);
    pack_string(p, "$http");
    p.pack_map(key ? 3 : 1);
    if (key) {
      pack_string(p, "content_type");
      pack_string(p, content_type);
      pack_string(p, "headers");
      p.pack_map(2);
      pack_string(p, "X-Cache");
      pack_string(p, "MISS");
      pack_string(p, "X-Cache-Key");
      pack_string(p, key->hex());
    }
    pack_string(p, "body");
    pack_string(p, chunk);
  });
}

// Sends a streaming waiter its first part: the head and every piece so far.
void start_live_stream(waiter& w, api_family api, const llm_answer& so_far, const cache_key& key) {
  std::vector<std::string_view> pieces;
  so_far.for_each_piece([&](std::string_view piece) { pieces.push_back(piece); });
  auto content_type = std::string(stream_content_type(api));
  respond_part_ok(w.job,
                  raw_chunk(render_stream_pieces(api, so_far, pieces), content_type.c_str(), &key));
  w.head_sent = true;
}

void respond_answer(const bus_job& job, api_family api, const llm_answer& answer, bool stream,
                    const char* cache_status, const cache_key& key) {
  auto out = render(api, answer, stream);
  respond_ok(job, pack_value([&](msgpack_packer& p) {
               p.pack_map(1);
               pack_string(p, "$http");
               p.pack_map(3);
               pack_string(p, "content_type");
               pack_string(p, out.content_type);
               pack_string(p, "body");
               pack_string(p, out.body);
               pack_string(p, "headers");
               p.pack_map(2);
               pack_string(p, "X-Cache");
               pack_string(p, cache_status);
               pack_string(p, "X-Cache-Key");
               pack_string(p, key.hex());
             }));
}

// The body the LLM gets: the client's fields minus the gateway's http_* ones, always
// streamed, so the pieces can be kept and replayed with the same chunking.
std::string upstream_json(const msgpack::object& body) {
  std::string out = "{";
  if (body.type == msgpack::type::MAP) {
    for (std::uint32_t i = 0; i < body.via.map.size; ++i) {
      const auto& kv = body.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR) {
        auto name = as_string_view(kv.key);
        if (name == "stream" || name.starts_with("http_")) continue;
      }
      if (out.size() > 1) out.push_back(',');
      msgpack_to_json(kv.key, out);
      out.push_back(':');
      msgpack_to_json(kv.val, out);
    }
  }
  if (out.size() > 1) out.push_back(',');
  out += "\"stream\":true}";
  return out;
}

// What an LLM reply means: an answer, or an error that is passed on and never cached.
load_outcome outcome_of(const shard_lookup& lookup, result<llm_response> response,
                        upstream_reader& reader) {
  load_outcome out;
  out.key = lookup.key;
  out.api = lookup.api;
  out.store = !lookup.control.no_store;
  if (lookup.control.max_age) out.expiry.ttl = *lookup.control.max_age;
  if (!response) {
    out.error = response.error();
    return out;
  }
  if (response->status != 200) {
    std::string snippet = response->body.substr(0, 300);
    bool client_error = response->status >= 400 && response->status < 500;
    out.error = make_error(client_error ? response->status : 502,
                           client_error ? "upstream_rejected" : "upstream_error",
                           "the LLM answered " + std::to_string(response->status) + ": " + snippet);
    return out;
  }
  auto parsed = reader.finish();  // it has read the whole body as it came
  if (!parsed) {
    out.error = parsed.error();
    return out;
  }
  parsed->request_model = lookup.model;
  if (parsed->model.empty()) parsed->model = lookup.model;
  parsed->shrink();
  out.answer = std::make_shared<const llm_answer>(std::move(*parsed));
  return out;
}

// Brings the shared gauges up to date with this shard's contribution.
void report_size(shard_state& state, chat_service::context& ctx) {
  double bytes = static_cast<double>(state.cache->bytes()),
         entries = static_cast<double>(state.cache->size());
  ctx.bytes->Increment(bytes - state.reported_bytes);
  ctx.entries->Increment(entries - state.reported_entries);
  state.reported_bytes = bytes;
  state.reported_entries = entries;
}

caf::behavior cache_shard(caf::stateful_actor<shard_state>* self,
                          std::shared_ptr<chat_service::context> ctx, cache_limits limits,
                          bool reports_ratio) {
  self->state.cache = std::make_unique<shard_cache>(
      limits, [ctx](const cache_key&, const answer_ptr&, std::size_t, removal_cause cause) {
        ctx->evictions[static_cast<int>(cause)]->Increment();
      });
  self->delayed_send(self, std::chrono::seconds(1), sweep_atom::value);
  return {
      [self, ctx](shard_lookup& lookup) {
        auto& state = self->state;
        auto now = steady::now();
        if (!lookup.control.no_cache) {
          if (auto hit = state.cache->get(lookup.key, now, lookup.control.max_age)) {
            ctx->hits->Increment();
            respond_answer(lookup.job, lookup.api, **hit, lookup.stream, "HIT", lookup.key);
            return;
          }
          report_size(state, *ctx);  // the lookup may have dropped an expired entry
        } else {
          state.cache->note_access(lookup.key);
        }
        ctx->misses->Increment();
        if (!state.flights.join(lookup.key, waiter{lookup.job, lookup.stream})) {
          // A load is running: a streaming late joiner gets what has arrived so far.
          auto live = state.live.find(lookup.key);
          if (lookup.stream && live != state.live.end() && live->second.so_far.piece_count() > 0)
            start_live_stream(state.flights.waiters(lookup.key)->back(), lookup.api,
                              live->second.so_far, lookup.key);
          return;
        }
        ctx->loads_in_flight->Increment();
        auto me = caf::actor_cast<caf::actor>(self);
        auto path = std::string(upstream_path(lookup.api));
        auto body = upstream_json(lookup.job.req.body.object);  // built on a miss only
        lookup.job = {};  // the waiter holds the job; the load needs only the key and options
        // The reader lives on the LLM client's thread: it parses the stream as it arrives
        // and sends the new pieces to this shard; the outcome comes from the same reader.
        auto reader = std::make_shared<upstream_reader>(lookup.api);
        auto key = lookup.key;
        ctx->llm->post(
            std::move(path), std::move(body),
            [me, reader, lookup = std::move(lookup)](result<llm_response> response) {
              caf::anon_send(me, outcome_of(lookup, std::move(response), *reader));
            },
            [me, reader, key](int status, std::string_view bytes) {
              if (status != 200) return;
              reader->feed(bytes);
              auto pieces = reader->take_new_pieces();
              if (pieces.empty()) return;
              caf::anon_send(me, load_progress{key, reader->so_far().model,
                                               reader->so_far().created_unix, std::move(pieces)});
            });
      },
      [self](load_progress& progress) {
        auto& state = self->state;
        auto* waiters = state.flights.waiters(progress.key);
        if (!waiters) return;
        auto& live = state.live[progress.key];
        if (live.so_far.model.empty()) live.so_far.model = progress.model;
        live.so_far.created_unix = progress.created_unix;
        for (const auto& piece : progress.pieces) live.so_far.add_piece(piece);
        std::optional<std::string> chunk;  // the same bytes for every waiter
        for (auto& w : *waiters) {
          if (!w.stream || cancelled(w.job)) continue;
          auto api = *api_of(w.job.req.op);
          if (!w.head_sent) {
            start_live_stream(w, api, live.so_far, progress.key);
            continue;
          }
          if (!chunk) {
            std::vector<std::string_view> pieces(progress.pieces.begin(), progress.pieces.end());
            chunk = render_stream_pieces(api, live.so_far, pieces);
          }
          respond_part_ok(w.job, raw_chunk(*chunk, "", nullptr));
        }
      },
      [self, ctx](const load_outcome& outcome) {
        auto& state = self->state;
        ctx->loads_in_flight->Decrement();
        auto waiters = state.flights.complete(outcome.key);
        std::size_t streamed_pieces = 0;
        if (auto live = state.live.find(outcome.key); live != state.live.end()) {
          streamed_pieces = live->second.so_far.piece_count();
          state.live.erase(live);
        }
        if (!outcome.answer) {
          ctx->upstream_errors->Add({{"code", outcome.error.code}}).Increment();
          // A stream already under way ends with the error in its own format.
          for (const auto& w : waiters) respond_error(w.job, outcome.error);
          return;
        }
        if (outcome.store) {
          state.cache->put(outcome.key, outcome.answer, outcome.answer->weight(), steady::now(),
                           outcome.expiry);
          report_size(state, *ctx);
        }
        std::optional<std::string> tail;  // pieces not streamed yet, then the end
        for (const auto& w : waiters) {
          if (!w.head_sent) {
            respond_answer(w.job, outcome.api, *outcome.answer, w.stream, "MISS", outcome.key);
            continue;
          }
          if (!tail) {
            std::vector<std::string_view> rest;
            std::size_t index = 0;
            outcome.answer->for_each_piece([&](std::string_view piece) {
              if (index++ >= streamed_pieces) rest.push_back(piece);
            });
            tail = render_stream_pieces(outcome.api, *outcome.answer, rest) +
                   render_stream_end(outcome.api, *outcome.answer);
          }
          respond_ok(w.job, raw_chunk(*tail, "", nullptr));
        }
      },
      [self, ctx](clear_atom, const std::string& mode,
                  const std::string& argument) -> std::uint64_t {
        auto& state = self->state;
        std::uint64_t removed = 0;
        if (mode == "key") {
          if (auto key = cache_key::from_hex(argument)) removed = state.cache->erase(*key) ? 1 : 0;
        } else if (mode == "model") {
          removed = state.cache->erase_if(
              [&](const cache_key&, const answer_ptr& a) { return a->request_model == argument; });
        } else {
          removed = state.cache->erase_if([](const cache_key&, const answer_ptr&) { return true; });
        }
        report_size(state, *ctx);
        return removed;
      },
      [self, ctx, reports_ratio](sweep_atom) {
        self->state.cache->expire(steady::now());
        report_size(self->state, *ctx);
        if (reports_ratio) ctx->hit_ratio->Set(ctx->ratio());
        self->delayed_send(self, std::chrono::seconds(1), sweep_atom::value);
      },
  };
}

msgpack_value stats_body(const chat_service::context& ctx) {
  return pack_value([&](msgpack_packer& p) {
    p.pack_map(10);
    pack_string(p, "entries");
    p.pack_int64(static_cast<std::int64_t>(ctx.entries->Value()));
    pack_string(p, "bytes");
    p.pack_int64(static_cast<std::int64_t>(ctx.bytes->Value()));
    pack_string(p, "hits");
    p.pack_int64(static_cast<std::int64_t>(ctx.hits->Value()));
    pack_string(p, "misses");
    p.pack_int64(static_cast<std::int64_t>(ctx.misses->Value()));
    pack_string(p, "hit_ratio");
    // JSON numbers with a fraction travel as exact decimal text (msgpack_value.hpp).
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.4f", ctx.ratio());
    pack_decimal(p, ratio);
    pack_string(p, "evictions");
    p.pack_map(4);
    for (int c = 0; c < 4; ++c) {
      pack_string(p, removal_cause_names[c]);
      p.pack_int64(static_cast<std::int64_t>(ctx.evictions[c]->Value()));
    }
    pack_string(p, "loads_in_flight");
    p.pack_int64(static_cast<std::int64_t>(ctx.loads_in_flight->Value()));
    pack_string(p, "upstream_circuit_open");
    p.pack(ctx.llm->circuit_open());
    pack_string(p, "shards");
    p.pack_uint64(ctx.shards.size());
    pack_string(p, "limits");
    p.pack_map(4);
    pack_string(p, "max_bytes");
    p.pack_uint64(ctx.settings.limits.max_bytes);
    pack_string(p, "max_entries");
    p.pack_uint64(ctx.settings.limits.max_entries);
    pack_string(p, "ttl_ms");
    p.pack_int64(ctx.settings.limits.ttl.count());
    pack_string(p, "tti_ms");
    p.pack_int64(ctx.settings.limits.tti.count());
  });
}

void clear_cache(caf::event_based_actor* self, const std::shared_ptr<chat_service::context>& ctx,
                 const bus_job& job) {
  const auto& body = job.req.body.object;
  std::vector<caf::actor> targets;
  std::string mode = "all", argument;
  if (auto key_text = string_field(body, "key")) {
    auto key = cache_key::from_hex(*key_text);
    if (!key) {
      respond_error(job, make_error(400, "bad_request", "invalid key",
                                    {{"key", "must be 32 hexadecimal digits"}}));
      return;
    }
    mode = "key";
    argument = key->hex();
    targets.push_back(ctx->shard_of(*key));
  } else {
    if (auto model = string_field(body, "model")) {
      mode = "model";
      argument = std::string(*model);
    }
    targets = ctx->shards;
  }
  struct tally {
    std::size_t remaining;
    std::uint64_t removed = 0;
    bool failed = false;
  };
  auto count = std::make_shared<tally>(tally{targets.size()});
  auto finish = [job, count] {
    if (--count->remaining > 0) return;
    if (count->failed) {
      respond_error(job, make_error(503, "shard_unavailable", "a cache shard did not answer"));
      return;
    }
    respond_ok(job, pack_value([&](msgpack_packer& p) {
                 p.pack_map(1);
                 pack_string(p, "removed");
                 p.pack_uint64(count->removed);
               }));
  };
  for (const auto& shard : targets) {
    self->request(shard, std::chrono::seconds(5), clear_atom::value, mode, argument)
        .then(
            [count, finish](std::uint64_t removed) {
              count->removed += removed;
              finish();
            },
            [count, finish](caf::error&) {
              count->failed = true;
              finish();
            });
  }
}

// Stateless: reads the request and hands it to the shard that owns its key.
caf::behavior front_worker(caf::event_based_actor* self,
                           std::shared_ptr<chat_service::context> ctx) {
  return {[self, ctx](const bus_job& job) {
    if (!start_unless_expired(job)) return;
    const auto& op = job.req.op;
    if (op == "chat.cache_stats") {
      respond_ok(job, stats_body(*ctx));
      return;
    }
    if (op == "chat.cache_clear") {
      clear_cache(self, ctx, job);
      return;
    }
    auto api = api_of(op);
    if (!api) {
      respond_error(job, make_error(404, "unknown_op", "chat-cache does not serve " + op));
      return;
    }
    const auto& body = job.req.body.object;
    auto model = string_field(body, "model");
    if (!model || model->empty()) {
      respond_error(
          job, make_error(400, "bad_request", "model is required", {{"model", "is required"}}));
      return;
    }
    shard_lookup lookup;
    lookup.api = *api;
    lookup.key = request_key(job.req.tenant, api_name(*api), body);
    lookup.stream = bool_field(body, "stream").value_or(streams_by_default(*api));
    if (auto header = string_field(body, "http_cache_control"))
      lookup.control = parse_cache_control(*header);
    lookup.model = std::string(*model);
    lookup.job = job;
    self->send(ctx->shard_of(lookup.key), std::move(lookup));
  }};
}

}  // namespace

cache_control parse_cache_control(std::string_view header) {
  cache_control control;
  std::size_t start = 0;
  while (start <= header.size()) {
    auto end = header.find(',', start);
    if (end == std::string_view::npos) end = header.size();
    std::string directive;
    for (char c : header.substr(start, end - start)) {
      if (c != ' ' && c != '\t')
        directive.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (directive == "no-cache") control.no_cache = true;
    if (directive == "no-store") control.no_store = true;
    if (directive.starts_with("max-age=")) {
      auto digits = directive.substr(8);
      if (!digits.empty() && digits.size() <= 9 &&
          std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        // max-age=0 accepts nothing stored: that is no-cache, not an entry without a TTL.
        auto seconds = std::stoll(digits);
        if (seconds == 0)
          control.no_cache = true;
        else
          control.max_age = std::chrono::seconds(seconds);
      }
    }
    start = end + 1;
  }
  return control;
}

chat_service::chat_service(caf::actor_system& system, metrics& metrics,
                           chat_service_settings settings)
    : system_(system), context_(std::make_shared<context>()) {
  auto& ctx = *context_;
  ctx.settings = std::move(settings);
  auto& registry = metrics.registry();
  ctx.hits = &prometheus::BuildCounter()
                  .Name("suite_chat_cache_hits_total")
                  .Help("Lookups answered from the cache")
                  .Register(registry)
                  .Add({});
  ctx.misses = &prometheus::BuildCounter()
                    .Name("suite_chat_cache_misses_total")
                    .Help("Lookups that needed the LLM (including no-cache)")
                    .Register(registry)
                    .Add({});
  ctx.hit_ratio = &prometheus::BuildGauge()
                       .Name("suite_chat_cache_hit_ratio")
                       .Help("hits / (hits + misses) since start, updated every second")
                       .Register(registry)
                       .Add({});
  ctx.bytes = &prometheus::BuildGauge()
                   .Name("suite_chat_cache_bytes")
                   .Help("Weighed bytes of the cached answers")
                   .Register(registry)
                   .Add({});
  ctx.entries = &prometheus::BuildGauge()
                     .Name("suite_chat_cache_entries")
                     .Help("Cached answers")
                     .Register(registry)
                     .Add({});
  ctx.loads_in_flight = &prometheus::BuildGauge()
                             .Name("suite_chat_cache_loads_in_flight")
                             .Help("LLM loads running (each shared by all identical requests)")
                             .Register(registry)
                             .Add({});
  auto& evictions = prometheus::BuildCounter()
                        .Name("suite_chat_cache_evictions_total")
                        .Help("Entries removed, by cause")
                        .Register(registry);
  for (int c = 0; c < 4; ++c)
    ctx.evictions[c] = &evictions.Add({{"cause", removal_cause_names[c]}});
  ctx.upstream_latency = &prometheus::BuildHistogram()
                              .Name("suite_chat_cache_upstream_duration_seconds")
                              .Help("Time of LLM calls, connect to last byte")
                              .Register(registry)
                              .Add({}, latency_buckets());
  ctx.upstream_errors = &prometheus::BuildCounter()
                             .Name("suite_chat_cache_upstream_errors_total")
                             .Help("Failed LLM loads, by error code")
                             .Register(registry);
}

chat_service::~chat_service() {
  // The actors hold the context: tell them to stop, so the actor system can end.
  if (front_) caf::anon_send_exit(front_, caf::exit_reason::user_shutdown);
  for (auto& shard : context_->shards) caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
  context_->shards.clear();
  context_->llm.reset();
}

status chat_service::start() {
  auto& ctx = *context_;
  auto client = llm_client::create(ctx.settings.llm, ctx.upstream_latency);
  if (!client) return client.error();
  ctx.llm = std::move(*client);
  auto shard_limits = ctx.settings.limits;
  auto shards = std::max<std::size_t>(1, ctx.settings.shards);
  shard_limits.max_bytes = std::max<std::size_t>(1, shard_limits.max_bytes / shards);
  shard_limits.max_entries = std::max<std::size_t>(1, shard_limits.max_entries / shards);
  for (std::size_t i = 0; i < shards; ++i)
    ctx.shards.push_back(system_.spawn(cache_shard, context_, shard_limits, i == 0));
  auto shared = context_;
  auto& system = system_;
  front_ = caf::actor_pool::make(
      system.dummy_execution_unit(), std::max<std::size_t>(1, ctx.settings.front_workers),
      [&system, shared] { return system.spawn(front_worker, shared); },
      caf::actor_pool::round_robin());
  return ok();
}

bool chat_service::upstream_circuit_open() const {
  return context_->llm && context_->llm->circuit_open();
}

}  // namespace suite::chat_cache
