// rem-bench: the in-process benchmark of rem-store's library (issue #7). Prints figures;
// asserts nothing. One thread, on a fresh RocksDB directory:
//   insert   batched upserts (validated, indexed) of N entities, batches of --batch
//   get      random get by id
//   scan     SELECT COUNT(*) over every entity (full scan, each record decoded)
//   query    indexed equality SELECT (10 matching rows of N) latency p50/p99
//   hnsw     10,000 texts of a clustered synthetic corpus embedded by the built-in
//            (offline, lexical) embedder: top-10 search latency and recall@10 against
//            brute force; then uniform random unit vectors as the stress case
// Usage: rem-bench [--n=100000] [--batch=1000] [--dir=/tmp/rem-bench] [--sync=false]
//                  [--vectors=10000] [--ef=64] [--m=16]
//                  [--core-only=true]  (insert, get and scan only, then get again after a
//                                       flush: for profiling and 1M runs)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>

#include "key_codec.hpp"
#include "query_engine.hpp"
#include "record_store.hpp"
#include "suite/json_msgpack.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// CPU time of the calling thread: on a shared, loaded machine a rate per CPU-second is
// steadier than one per wall second (RocksDB's background flushes are not in it).
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--" + name + "=", 0) == 0) return a.substr(name.size() + 3);
  }
  return fallback;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

long rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// Resident set now (not the peak), from /proc/self/statm.
long rss_now_mb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE) / (1 << 20);
}

std::uintmax_t dir_bytes(const std::filesystem::path& dir) {
  std::uintmax_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const auto n = std::stoul(arg(argc, argv, "n", "100000"));
  const auto batch_size = std::stoul(arg(argc, argv, "batch", "1000"));
  const auto vectors = std::stoul(arg(argc, argv, "vectors", "10000"));
  const std::filesystem::path dir = arg(argc, argv, "dir", "/tmp/rem-bench");
  std::filesystem::remove_all(dir);

  rem::store_options options;
  options.path = dir.string();
  options.sync_writes = arg(argc, argv, "sync", "false") == "true";
  options.hnsw.ef_search = std::stoul(arg(argc, argv, "ef", "64"));
  options.hnsw.m = std::stoul(arg(argc, argv, "m", "16"));
  auto opened = rem::record_store::open(options);
  if (!opened) {
    std::fprintf(stderr, "open failed: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& store = **opened;
  rem::query_engine engine(store, rem::query_limits{});
  auto schema_body = suite::json_to_msgpack(
      R"({"name":"person","key_field":"handle","indexed_fields":["code","age"],
          "schema":{"type":"object","required":["handle"],
                    "properties":{"handle":{"type":"string"},"code":{"type":"string"},"age":{"type":"integer"},"bio":{"type":"string"}}}})",
      nullptr);
  if (!store.register_schema("bench", *rem::parse_type_schema(schema_body->object))) return 1;
  std::printf("rem-bench: n=%lu batch=%lu sync_writes=%s dir=%s\n", n, batch_size,
              options.sync_writes ? "true" : "false", dir.c_str());

  // Insert: ~120-byte entities, `code` has n/10 distinct values (10 rows each).
  std::mt19937_64 rng(42);
  auto start = clock_type::now();
  auto cpu = thread_cpu_seconds();
  for (std::size_t first = 0; first < n; first += batch_size) {
    std::vector<suite::msgpack_value> bodies;
    std::vector<const msgpack::object*> records;
    for (std::size_t i = first; i < std::min(n, first + batch_size); ++i) {
      bodies.push_back(suite::pack_value([&](suite::msgpack_packer& p) {
        p.pack_map(4);
        suite::pack_string(p, "handle");
        suite::pack_string(p, "user" + std::to_string(i));
        suite::pack_string(p, "code");
        suite::pack_string(p, "code" + std::to_string(i % (n / 10 + 1)));
        suite::pack_string(p, "age");
        p.pack_int64(static_cast<std::int64_t>(rng() % 100));
        suite::pack_string(p, "bio");
        suite::pack_string(
            p, "a person who likes benchmarks, number " + std::to_string(i) + " of the series");
      }));
    }
    for (auto& b : bodies) records.push_back(&b.object);
    auto done = store.upsert("bench", "person", records);
    if (!done) {
      std::fprintf(stderr, "insert failed: %s\n", done.error().message.c_str());
      return 1;
    }
  }
  auto insert_s = seconds_since(start);
  auto insert_cpu = thread_cpu_seconds() - cpu;
  std::printf(
      "insert    %10.0f entities/s  (%lu in %.2f s, batches of %lu, validated + 2 indexed "
      "fields; %.0f per CPU-second)\n",
      static_cast<double>(n) / insert_s, n, insert_s, batch_size,
      static_cast<double>(n) / insert_cpu);

  // Get by id.
  const std::size_t gets = std::min<std::size_t>(n * 2, 500000);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < gets; ++i)
    ids.push_back(rem::record_id("bench", "person", "user" + std::to_string(rng() % n)));
  // A figure over reads that missed or rows not seen measures nothing: the bench then
  // exits 1 (its smoke test in tests/rem-store relies on that).
  bool complete = true;
  auto get_all = [&](const char* label, const char* where) {
    auto begin = clock_type::now();
    auto begin_cpu = thread_cpu_seconds();
    std::size_t found = 0;
    for (const auto& id : ids) found += store.get("bench", id).ok();
    auto wall = seconds_since(begin);
    auto used = thread_cpu_seconds() - begin_cpu;
    std::printf("%-9s %10.0f reads/s     (%lu random ids, %lu found, %s; %.0f per CPU-second)\n",
                label, static_cast<double>(gets) / wall, gets, found, where,
                static_cast<double>(gets) / used);
    if (found != gets) {
      std::fprintf(stderr, "%s: %lu of %lu ids not found\n", label, gets - found, gets);
      complete = false;
    }
  };
  get_all("get", "as inserted: mostly memtables");
  std::printf("rss       %ld MB now, after insert and get (the store, memtables, ids)\n",
              rss_now_mb());

  // Scan.
  start = clock_type::now();
  cpu = thread_cpu_seconds();
  std::size_t scanned = 0;
  store.scan("bench", "person", [&](std::string_view, const msgpack::object&) {
    ++scanned;
    return true;
  });
  auto scan_s = seconds_since(start);
  auto scan_cpu = thread_cpu_seconds() - cpu;
  std::printf("scan      %10.0f entities/s  (%lu entities, store.scan; %.0f per CPU-second)\n",
              static_cast<double>(scanned) / scan_s, scanned,
              static_cast<double>(scanned) / scan_cpu);
  if (scanned != n) {
    std::fprintf(stderr, "scan: saw %lu of %lu entities\n", scanned, n);
    complete = false;
  }
  start = clock_type::now();
  auto counted = engine.run("bench", "SELECT COUNT(*) FROM person WHERE age >= 0 OR age IS NULL");
  auto count_s = seconds_since(start);
  std::printf("scan+eval %10.0f entities/s  (SELECT COUNT(*) with a WHERE on every row: %.1f ms)\n",
              static_cast<double>(n) / count_s, count_s * 1000);
  // The one result row's one column: {"results": [{"count(*)": N}], ...}.
  auto count_of = [](const suite::msgpack_value& reply) -> std::uint64_t {
    const auto* rows = suite::find_field(reply.object, "results");
    if (!rows || rows->type != msgpack::type::ARRAY || rows->via.array.size != 1) return 0;
    const auto& row = rows->via.array.ptr[0];
    if (row.type != msgpack::type::MAP || row.via.map.size != 1) return 0;
    const auto& value = row.via.map.ptr[0].val;
    return value.type == msgpack::type::POSITIVE_INTEGER ? value.via.u64 : 0;
  };
  if (!counted.ok() || count_of(*counted) != n) {
    std::fprintf(stderr, "SELECT COUNT(*) did not count %lu entities\n", n);
    complete = false;
  }
  if (arg(argc, argv, "core-only", "false") == "true") {
    if (!store.close()) return 1;  // flushes the memtables: reads now go to table files
    get_all("get-sst", "after a flush: table files via the block cache");
    std::printf("disk      %.1f MB for %lu entities (after flush)\n",
                static_cast<double>(dir_bytes(dir)) / 1e6, n);
    auto stats = store.stats();
    std::printf("rocksdb   %.1f MB block cache, %.1f MB table indexes and filters\n",
                static_cast<double>(stats.block_cache_bytes) / 1e6,
                static_cast<double>(stats.table_reader_bytes) / 1e6);
    std::printf("rss       %ld MB peak\n", rss_mb());
    return complete ? 0 : 1;
  }

  // Indexed equality latency.
  std::vector<double> latencies;
  for (int i = 0; i < 2000; ++i) {
    auto code = "code" + std::to_string(rng() % (n / 10));
    auto t = clock_type::now();
    auto r = engine.run("bench", "SELECT * FROM person WHERE code = '" + code + "'");
    latencies.push_back(seconds_since(t) * 1000);
    if (!r) return 1;
  }
  std::printf(
      "query     p50 %.3f ms  p99 %.3f ms  (indexed equality, 10 rows of %lu, "
      "parse+plan+fetch+pack)\n",
      percentile(latencies, 0.5), percentile(latencies, 0.99), n);

  // HNSW on a clustered text corpus.
  auto notes = suite::json_to_msgpack(
      R"({"name":"note","key_field":"uri","embedding_fields":["text"],
          "schema":{"type":"object","required":["uri","text"],"properties":{"uri":{"type":"string"},"text":{"type":"string"}}}})",
      nullptr);
  if (!store.register_schema("bench", *rem::parse_type_schema(notes->object))) return 1;
  std::mt19937 text_rng(7);
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < vectors; ++i) {
    auto topic = text_rng() % 50;
    std::string text;
    for (int w = 0; w < 12; ++w)
      text += "t" + std::to_string(topic) + "w" + std::to_string(text_rng() % 40) + " ";
    texts.push_back(text + "common" + std::to_string(text_rng() % 1000));
  }
  start = clock_type::now();
  for (std::size_t first = 0; first < vectors; first += 1000) {
    std::vector<suite::msgpack_value> bodies;
    std::vector<const msgpack::object*> records;
    for (std::size_t i = first; i < std::min(vectors, first + 1000); ++i) {
      bodies.push_back(suite::pack_value([&](suite::msgpack_packer& p) {
        p.pack_map(2);
        suite::pack_string(p, "uri");
        suite::pack_string(p, "doc" + std::to_string(i));
        suite::pack_string(p, "text");
        suite::pack_string(p, texts[i]);
      }));
    }
    for (auto& b : bodies) records.push_back(&b.object);
    if (!store.upsert("bench", "note", records)) return 1;
  }
  std::printf(
      "hnsw      build %.2f s for %lu x 384 (embed + RocksDB + graph, M=%lu ef_construction=%lu)\n",
      seconds_since(start), vectors, options.hnsw.m, options.hnsw.ef_construction);
  const auto& embedder = store.text_embedder();
  const auto dim = embedder.dimension();
  std::vector<float> matrix(vectors * dim);
  for (std::size_t i = 0; i < vectors; ++i) (void)embedder.embed_one(texts[i], &matrix[i * dim]);
  auto recall_of = [&](const std::vector<float>& data, std::size_t count,
                       const std::function<std::vector<std::uint64_t>(const float*)>& search,
                       const std::function<std::uint64_t(std::size_t)>& label_of,
                       std::size_t queries, std::vector<double>& lat) {
    double hits = 0;
    std::mt19937 qrng(11);
    for (std::size_t q = 0; q < queries; ++q) {
      std::vector<float> query(dim);
      const float* base = &data[(qrng() % count) * dim];
      for (std::size_t d = 0; d < dim; ++d)
        query[d] =
            base[d] + 0.02f * static_cast<float>(static_cast<int>(qrng() % 200) - 100) / 100.0f;
      std::vector<std::pair<float, std::size_t>> scored(count);
      for (std::size_t i = 0; i < count; ++i) {
        float dot = 0;
        for (std::size_t d = 0; d < dim; ++d) dot += query[d] * data[i * dim + d];
        scored[i] = {1.0f - dot, i};
      }
      std::partial_sort(scored.begin(), scored.begin() + 10, scored.end());
      auto t = clock_type::now();
      auto got = search(query.data());
      lat.push_back(seconds_since(t) * 1000);
      float tenth = scored[9].first;
      for (auto label : got) {
        for (const auto& [dist, i] : scored) {
          if (dist > tenth + 1e-6f) continue;
          if (label_of(i) == label) {
            ++hits;
            break;
          }
        }
      }
    }
    return hits / static_cast<double>(queries * 10);
  };
  std::vector<double> lat;
  auto recall = recall_of(
      matrix, vectors,
      [&](const float* q) {
        std::vector<std::uint64_t> out;
        for (const auto& h : store.vectors().search("bench", "note", q, 10)) out.push_back(h.label);
        return out;
      },
      [&](std::size_t i) {
        return *rem::id_number(rem::record_id("bench", "note", "doc" + std::to_string(i)));
      },
      500, lat);
  std::printf(
      "hnsw      clustered texts: top-10 p50 %.3f ms p99 %.3f ms, recall@10 %.3f (ef_search=%lu)\n",
      percentile(lat, 0.5), percentile(lat, 0.99), recall, options.hnsw.ef_search);
  lat.clear();
  start = clock_type::now();
  auto searched = engine.run("bench", "SEARCH '" + texts[0].substr(0, 30) + "' IN note LIMIT 10");
  std::printf("hnsw      SEARCH through the engine (embed + search + fetch 10): %.3f ms\n",
              seconds_since(start) * 1000);
  (void)searched;

  // Stress case: uniform random unit vectors.
  rem::hnsw_settings stress_settings = options.hnsw;
  stress_settings.dir.clear();
  rem::vector_catalog stress(stress_settings);
  std::vector<float> uniform(vectors * dim);
  std::normal_distribution<float> normal;
  for (std::size_t i = 0; i < vectors; ++i) {
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) norm += std::pow(uniform[i * dim + d] = normal(rng), 2);
    for (std::size_t d = 0; d < dim; ++d)
      uniform[i * dim + d] /= static_cast<float>(std::sqrt(norm));
  }
  start = clock_type::now();
  for (std::size_t i = 0; i < vectors; ++i) stress.upsert("s", "u", i, &uniform[i * dim]);
  auto stress_build = seconds_since(start);
  auto stress_recall = recall_of(
      uniform, vectors,
      [&](const float* q) {
        std::vector<std::uint64_t> out;
        for (const auto& h : stress.search("s", "u", q, 10)) out.push_back(h.label);
        return out;
      },
      [](std::size_t i) { return static_cast<std::uint64_t>(i); }, 500, lat);
  std::printf(
      "hnsw      uniform random (stress): build %.2f s, top-10 p50 %.3f ms, recall@10 %.3f\n",
      stress_build, percentile(lat, 0.5), stress_recall);

  if (!store.close()) return 1;
  std::printf("disk      %.1f MB for %lu entities + %lu notes (after flush)\n",
              static_cast<double>(dir_bytes(dir)) / 1e6, n, vectors);
  std::printf("rss       %ld MB peak\n", rss_mb());
  return complete ? 0 : 1;
}
