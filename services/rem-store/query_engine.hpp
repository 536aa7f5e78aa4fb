// query_engine: runs REM queries (query_parser.hpp) against a record_store for one
// tenant, and the planner that picks an access path for SELECT and SEARCH filters.
//
// Planner: among the top-level AND-ed predicates of WHERE, an equality on an indexed
// field is used first (index_eq), then IN on an indexed field (index_in), then range
// predicates (< <= > >=) on one indexed field, merged into one range (index_range);
// anything else scans the type. An index only narrows the candidates: every candidate
// record is re-checked against the whole WHERE, so index and scan plans return the same
// rows. Comparisons between different kinds (text vs number) or with null are false;
// != and NOT IN are true for any non-null value that differs.
//
// Results: {results, query, query_type, execution_time_ms, count, plan?}; EXPLAIN gives
// the plan as the only result without running the query. Limits give clear errors:
// more than max_rows rows (400 too_many_rows), LIMIT above max_rows (400), DEPTH above
// max_depth (400 depth_limit), running past the time limit or the request deadline
// (504 query_timeout). Stateless beyond its settings; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "query_ast.hpp"
#include "record_store.hpp"
#include "suite/msgpack_value.hpp"
#include "suite/result.hpp"

namespace rem {

struct query_limits {
  std::int64_t max_rows = 10000;
  int max_depth = 10;
  std::int64_t timeout_ms = 5000;
};

struct access_plan {
  enum class access { scan, index_eq, index_in, index_range } how = access::scan;
  std::string field;
  // Index key ranges [lower, upper) of fragments, as record_store::index_ids takes them.
  std::vector<std::pair<std::string, std::string>> ranges;
  std::string reason;

  const char* name() const;
};

access_plan plan_access(const type_schema& schema, const expr* where);
bool matches(const expr& e, const msgpack::object& record);

// Told of every query that parsed, once it ends (answered or failed at run time), with
// its query_type (lookup, traverse, search, select, explain) and wall time. Called
// from the engine's callers' threads: it must be thread-safe and should not block.
class query_observer {
 public:
  virtual ~query_observer() = default;
  virtual void query_finished(std::string_view query_type, double seconds) const = 0;
};

class query_engine {
 public:
  // `observer` (optional) must outlive the engine.
  query_engine(const record_store& store, query_limits limits,
               const query_observer* observer = nullptr)
      : store_(store), limits_(limits), observer_(observer) {}

  // deadline_ms: absolute unix ms from the envelope (0 = none); the earlier of it and
  // now + timeout_ms applies.
  suite::result<suite::msgpack_value> run(const std::string& tenant, std::string_view text,
                                          std::int64_t deadline_ms = 0) const;

 private:
  const record_store& store_;
  query_limits limits_;
  const query_observer* observer_;
};

}  // namespace rem
