// SEARCH on the HNSW graph: recall@10 against brute force on a clustered text corpus
// embedded by the built-in (offline, lexical) embedder, WHERE with over-fetch, and the
// graph's life cycle: loaded after a clean stop, rebuilt from RocksDB after its files
// are deleted (same results), rebuilt after a stop without the CLEAN marker.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "key_codec.hpp"
#include "query_engine.hpp"
#include "record_store.hpp"
#include "rem_test_support.hpp"

using namespace rem;
using rem::test::json;

namespace {

const char* note_schema =
    R"({"name":"note","category":"resource","key_field":"uri","embedding_fields":["text"],
  "indexed_fields":["lang"],
  "schema":{"type":"object","required":["uri","text"],"properties":{"uri":{"type":"string"},"text":{"type":"string"},"lang":{"type":"string"}}}})";

// Sentences drawn from 20 topics of 30 words each: texts of one topic share words.
std::vector<std::string> corpus(std::size_t n) {
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < n; ++i) {
    auto topic = rng() % 20;
    std::string text;
    for (int w = 0; w < 12; ++w)
      text += "t" + std::to_string(topic) + "w" + std::to_string(rng() % 30) + " ";
    text += "common" + std::to_string(rng() % 500);
    texts.push_back(text);
  }
  return texts;
}

std::unique_ptr<record_store> open_store(const std::filesystem::path& dir) {
  store_options options;
  options.path = dir.string();
  options.sync_writes = false;
  auto store = record_store::open(options);
  REQUIRE(store.ok());
  return std::move(*store);
}

std::vector<std::string> search_ids(record_store& store, const std::string& text) {
  std::vector<std::string> ids;
  auto hits = store.nearest("t", "note", text, 10);
  REQUIRE(hits.ok());
  for (const auto& hit : *hits) ids.push_back(id_from_number(hit.label));
  return ids;
}

}  // namespace

TEST_CASE("HNSW recall against brute force, filters, and rebuild from RocksDB") {
  rem::test::temp_dir dir;
  const std::size_t n = 2000;
  auto texts = corpus(n);
  std::vector<std::string> queries;
  for (std::size_t i = 0; i < 50; ++i) queries.push_back(texts[i * 37 % n].substr(0, 40));
  std::vector<std::vector<std::string>> before;
  {
    auto store = open_store(dir.path);
    auto registration = json(note_schema);
    REQUIRE(store->register_schema("t", *parse_type_schema(registration.object)).ok());
    std::vector<suite::msgpack_value> bodies;
    for (std::size_t i = 0; i < n; ++i) {
      bodies.push_back(json(R"({"uri":"doc)" + std::to_string(i) + R"(","lang":")" +
                            (i % 10 == 0 ? "en" : "fr") + R"(","text":")" + texts[i] + "\"}"));
    }
    std::vector<const msgpack::object*> records;
    for (auto& b : bodies) records.push_back(&b.object);
    REQUIRE(store->upsert("t", "note", records).ok());
    CHECK(store->vectors().size("t", "note") == n);

    // Brute force with the same embedder.
    const auto& embedder = store->text_embedder();
    std::vector<std::vector<float>> vectors(n, std::vector<float>(embedder.dimension()));
    for (std::size_t i = 0; i < n; ++i)
      REQUIRE(embedder.embed_one(texts[i], vectors[i].data()).ok());
    double found = 0, wanted = 0;
    for (const auto& q : queries) {
      std::vector<float> qv(embedder.dimension());
      REQUIRE(embedder.embed_one(q, qv.data()).ok());
      std::vector<std::pair<float, std::size_t>> scored;
      for (std::size_t i = 0; i < n; ++i) {
        float dot = 0;
        for (std::size_t d = 0; d < qv.size(); ++d) dot += qv[d] * vectors[i][d];
        scored.emplace_back(1.0f - dot, i);
      }
      std::partial_sort(scored.begin(), scored.begin() + 10, scored.end());
      // Ties at the 10th distance make any of the tied records a correct answer.
      float tenth = scored[9].first;
      std::set<std::string> truth;
      for (const auto& [dist, i] : scored) {
        if (dist <= tenth + 1e-6f) truth.insert(record_id("t", "note", "doc" + std::to_string(i)));
      }
      auto ids = search_ids(*store, q);
      before.push_back(ids);
      for (const auto& id : ids) found += truth.count(id);
      wanted += 10;
    }
    double recall = found / wanted;
    MESSAGE("recall@10 on " << n << " clustered texts: " << recall);
    CHECK(recall >= 0.95);

    query_engine engine(*store, query_limits{});
    auto filtered =
        engine.run("t", "SEARCH '" + queries[0] + "' IN note WHERE lang = 'en' LIMIT 10");
    REQUIRE(filtered.ok());
    const auto& results = *suite::find_field(filtered->object, "results");
    CHECK(results.via.array.size == 10);
    for (std::uint32_t i = 0; i < results.via.array.size; ++i) {
      const auto* rec = suite::find_field(results.via.array.ptr[i], "record");
      CHECK(*suite::string_field(*record_field(*rec, "properties"), "lang") == "en");
    }
    CHECK(!engine.run("t", "SEARCH 'x' IN nope").ok());
    REQUIRE(store->close().ok());
  }
  {
    auto store = open_store(dir.path);
    REQUIRE(store->startup_report().size() == 1);
    CHECK(store->startup_report()[0].find("loaded") != std::string::npos);
    for (std::size_t i = 0; i < queries.size(); ++i)
      CHECK(search_ids(*store, queries[i]) == before[i]);
    REQUIRE(store->close().ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path / "hnsw")) {
    if (entry.path().extension() == ".hnsw") std::filesystem::remove(entry.path());
  }
  {
    auto store = open_store(dir.path);
    CHECK(store->startup_report()[0].find("rebuilt") != std::string::npos);
    std::size_t same = 0;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      auto ids = search_ids(*store, queries[i]);
      for (const auto& id : ids) same += std::count(before[i].begin(), before[i].end(), id);
    }
    MESSAGE("results shared with the original graph after rebuild: " << same << " of "
                                                                     << queries.size() * 10);
    CHECK(same >= queries.size() * 10 * 95 / 100);
    // No close(): like a crash, no CLEAN marker, so the next start rebuilds.
  }
  {
    auto store = open_store(dir.path);
    CHECK(store->startup_report()[0].find("rebuilt") != std::string::npos);
    CHECK(store->vectors().size("t", "note") == n);
  }
}

TEST_CASE("a type gets a graph only while its schema has embedding fields") {
  rem::test::temp_dir dir;
  const char* plain_note =
      R"({"name":"note","category":"resource","key_field":"uri","indexed_fields":["lang"],
  "schema":{"type":"object","required":["uri","text"],"properties":{"uri":{"type":"string"},"text":{"type":"string"},"lang":{"type":"string"}}}})";
  auto register_as = [](record_store& store, const char* schema_json) {
    auto registration = json(schema_json);
    REQUIRE(store.register_schema("t", *parse_type_schema(registration.object)).ok());
  };
  auto store = open_store(dir.path);
  register_as(*store, plain_note);
  auto record = json(R"({"uri":"doc1","lang":"en","text":"t1w1 t1w2 t1w3"})");
  REQUIRE(store->upsert("t", "note", {&record.object}).ok());
  CHECK(store->vectors().total_size() == 0);
  CHECK(search_ids(*store, "t1w1").empty());

  register_as(*store, note_schema);  // embeddings added: the stored record is embedded
  CHECK(store->vectors().size("t", "note") == 1);
  CHECK(search_ids(*store, "t1w1") == std::vector<std::string>{record_id("t", "note", "doc1")});

  register_as(*store, plain_note);  // and removed again: no graph, nothing found
  CHECK(store->vectors().total_size() == 0);
  CHECK(search_ids(*store, "t1w1").empty());
  REQUIRE(store->close().ok());
  store.reset();
  // No graph was kept for it, so a clean stop saved none.
  std::size_t graph_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path / "hnsw"))
    graph_files += entry.path().extension() == ".hnsw";
  CHECK(graph_files == 0);
  auto reopened = open_store(dir.path);
  CHECK(reopened->startup_report().empty());
  CHECK(search_ids(*reopened, "t1w1").empty());
}
