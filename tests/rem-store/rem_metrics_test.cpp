// rem-store's own metrics, read the way Prometheus reads them (metrics::render): query
// latency by query_type from the engine, and the store's sizes and RocksDB memory read
// at scrape time from a real store.
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "key_codec.hpp"
#include "query_engine.hpp"
#include "record_store.hpp"
#include "rem_metrics.hpp"
#include "rem_test_support.hpp"
#include "suite/metrics.hpp"

using namespace rem;
using rem::test::json;

namespace {

// The value of one sample line `name{labels} value` (labels as rendered), or -1.
double sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

void register_type(record_store& store, const char* schema_json) {
  auto body = json(schema_json);
  auto schema = parse_type_schema(body.object);
  REQUIRE(schema.ok());
  REQUIRE(store.register_schema("acme", *schema).ok());
}

}  // namespace

TEST_CASE("query latency by type, index sizes, HNSW size and RocksDB memory") {
  rem::test::temp_dir dir;
  store_options options;
  options.path = dir.path.string();
  options.sync_writes = false;
  auto opened = record_store::open(options);
  REQUIRE(opened.ok());
  auto& store = **opened;
  suite::metrics metrics("rem-store");
  auto observer = std::make_unique<rem_metrics>(metrics, store);
  query_engine engine(store, query_limits{}, observer.get());

  auto before = metrics.render();
  // Every type's series exists before the first query, at zero.
  for (const char* type : {"lookup", "traverse", "search", "select", "explain"}) {
    CHECK(sample(before, std::string("suite_rem_store_query_duration_seconds_count{type=\"") +
                             type + "\"}") == 0);
  }
  CHECK(sample(before, "suite_rem_store_hnsw_elements") == 0);
  CHECK(sample(before, "suite_rem_store_index_entries{index=\"records\"}") == 0);

  register_type(store, R"({"name":"person","key_field":"handle","indexed_fields":["city"],
    "schema":{"type":"object","required":["handle"],
              "properties":{"handle":{"type":"string"},"city":{"type":"string"}}}})");
  register_type(store, R"({"name":"note","key_field":"uri","embedding_fields":["text"],
    "schema":{"type":"object","required":["uri","text"],
              "properties":{"uri":{"type":"string"},"text":{"type":"string"}}}})");
  std::vector<suite::msgpack_value> people, notes;
  for (int i = 0; i < 40; ++i) {
    people.push_back(json(R"({"handle":"p)" + std::to_string(i) + R"(","city":"c)" +
                          std::to_string(i % 4) + "\"}"));
  }
  for (int i = 0; i < 7; ++i) {
    notes.push_back(json(R"({"uri":"n)" + std::to_string(i) + R"(","text":"words about topic )" +
                         std::to_string(i) + "\"}"));
  }
  std::vector<const msgpack::object*> rows;
  for (auto& p : people) rows.push_back(&p.object);
  REQUIRE(store.upsert("acme", "person", rows).ok());
  rows.clear();
  for (auto& n : notes) rows.push_back(&n.object);
  REQUIRE(store.upsert("acme", "note", rows).ok());

  REQUIRE(engine.run("acme", "SELECT * FROM person WHERE city = 'c1'").ok());
  REQUIRE(engine.run("acme", "SELECT COUNT(*) FROM person").ok());
  REQUIRE(engine.run("acme", "LOOKUP 'p1', 'p2'").ok());
  REQUIRE(engine.run("acme", "SEARCH 'topic' IN note LIMIT 3").ok());
  REQUIRE(engine.run("acme", "EXPLAIN SELECT * FROM person WHERE city = 'c1'").ok());
  // A query that fails at run time is timed too; one that does not parse is not.
  CHECK_FALSE(engine.run("acme", "SELECT * FROM person LIMIT 99999999").ok());
  CHECK_FALSE(engine.run("acme", "SELEKT nothing").ok());

  auto text = metrics.render();
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_count{type=\"select\"}") == 3);
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_count{type=\"lookup\"}") == 1);
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_count{type=\"search\"}") == 1);
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_count{type=\"explain\"}") == 1);
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_count{type=\"traverse\"}") == 0);
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_count{type=\"other\"}") == 0);
  CHECK(sample(text, "suite_rem_store_query_duration_seconds_sum{type=\"select\"}") > 0);

  CHECK(sample(text, "suite_rem_store_hnsw_elements") == 7);
  // 47 records; the person index holds one entry per person; notes have no indexed field.
  CHECK(sample(text, "suite_rem_store_index_entries{index=\"records\"}") == 47);
  CHECK(sample(text, "suite_rem_store_index_entries{index=\"indexes\"}") == 40);
  CHECK(sample(text, "suite_rem_store_index_entries{index=\"embeddings\"}") == 7);
  CHECK(sample(text, "suite_rem_store_index_entries{index=\"edges_out\"}") == 0);
  CHECK(sample(text, "suite_rem_store_rocksdb_bytes{part=\"memtables\"}") > 0);

  // Flushed to files and read back: the blocks read sit in the block cache.
  CHECK(sample(text, "suite_rem_store_rocksdb_bytes{part=\"block_cache\"}") >= 0);
  REQUIRE(store.close().ok());
  REQUIRE(store.get("acme", rem::record_id("acme", "person", "p3")).ok());
  text = metrics.render();
  CHECK(sample(text, "suite_rem_store_rocksdb_bytes{part=\"block_cache\"}") > 0);
  CHECK(sample(text, "suite_rem_store_rocksdb_bytes{part=\"table_readers\"}") > 0);

  // Once the metrics object is gone, scrapes stop reading the store.
  observer.reset();
  CHECK(sample(metrics.render(), "suite_rem_store_hnsw_elements") == -1);
}
