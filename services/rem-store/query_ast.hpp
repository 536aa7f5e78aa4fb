// query_ast: the parsed form of a REM query (query_parser.hpp builds it, query_engine
// runs it). Plain values; no behaviour.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "scalar.hpp"

namespace rem {

enum class compare_op { eq, ne, lt, gt, le, ge };

struct expr;
using expr_ptr = std::unique_ptr<expr>;

struct expr {
  enum class kind { and_, or_, not_, compare, in, is_null } what;
  std::vector<expr_ptr> children;  // and_/or_ (2+), not_ (1)
  std::string field;               // compare, in, is_null
  compare_op op = compare_op::eq;  // compare
  std::vector<scalar> values;      // compare (1), in (1+)
  bool negated = false;            // in: NOT IN; is_null: IS NOT NULL
};

enum class aggregate_fn { none, count, sum, avg, min, max };

struct select_item {
  aggregate_fn fn = aggregate_fn::none;
  std::string field;  // "*" for COUNT(*)
  std::string alias;  // output column name: alias, or field, or e.g. "count(*)"
};

struct order_item {
  std::string column;  // a field, or an output column name of an aggregate query
  bool descending = false;
};

struct lookup_query {
  std::vector<std::string> keys;
};

enum class traverse_direction { out, in, both };

struct traverse_query {
  std::string from;
  int depth = 1;
  traverse_direction direction = traverse_direction::out;
  std::string rel;  // empty: any
};

struct search_query {
  std::string text;
  std::string type;
  expr_ptr where;
  std::optional<std::int64_t> limit;
};

struct select_query {
  bool star = false;
  std::vector<select_item> items;
  std::string type;
  expr_ptr where;
  std::vector<std::string> group_by;
  std::vector<order_item> order_by;
  std::optional<std::int64_t> limit;
};

struct query {
  bool explain = false;
  std::variant<lookup_query, traverse_query, search_query, select_query> statement;
};

}  // namespace rem
