#include "query_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <unordered_set>

#include "key_codec.hpp"
#include "query_parser.hpp"
#include "suite/envelope.hpp"

namespace rem {
namespace {

using packer = suite::msgpack_packer;

struct query_failure {
  suite::error_info error;
};

[[noreturn]] void fail(int status, std::string code, std::string message) {
  throw query_failure{suite::make_error(status, std::move(code), std::move(message))};
}

scalar field_scalar(const msgpack::object& record, std::string_view field) {
  const auto* value = record_field(record, field);
  return value ? scalar_of(*value) : scalar{};
}

bool is_null_field(const msgpack::object& record, std::string_view field) {
  const auto* value = record_field(record, field);
  return !value || value->type == msgpack::type::NIL;
}

void pack_scalar(packer& p, const scalar& s) {
  if (s.is_null())
    p.pack_nil();
  else if (s.is_bool())
    p.pack(std::get<1>(s.value));
  else if (s.is_text())
    suite::pack_string(p, s.text());
  else {
    double d = s.number();
    if (std::nearbyint(d) == d && std::fabs(d) < 9.0e15)
      p.pack_int64(static_cast<std::int64_t>(d));
    else
      p.pack_double(d);
  }
}

// Total order for sorting: nulls first, then booleans, numbers, texts.
int order_compare(const scalar& a, const scalar& b) {
  if (a.value.index() != b.value.index()) return a.value.index() < b.value.index() ? -1 : 1;
  if (a.is_null()) return 0;
  return *compare(a, b);
}

class deadline_clock {
 public:
  deadline_clock(std::int64_t timeout_ms, std::int64_t envelope_deadline_ms) {
    deadline_ms_ = suite::unix_ms_now() + timeout_ms;
    if (envelope_deadline_ms > 0) deadline_ms_ = std::min(deadline_ms_, envelope_deadline_ms);
  }
  // Cheap enough per row: reads the clock every 256 calls.
  void tick() {
    if ((++ticks_ & 255) == 0) check();
  }
  void check() const {
    if (suite::unix_ms_now() > deadline_ms_)
      fail(504, "query_timeout", "query ran past its time limit");
  }

 private:
  std::int64_t deadline_ms_ = 0;
  std::uint64_t ticks_ = 0;
};

void collect_conjuncts(const expr* e, std::vector<const expr*>& out) {
  if (!e) return;
  if (e->what == expr::kind::and_) {
    for (const auto& child : e->children) collect_conjuncts(child.get(), out);
  } else {
    out.push_back(e);
  }
}

std::string tag_start(const scalar& s) { return std::string(1, index_encoding(s)->front()); }
std::string tag_end(const scalar& s) {
  return std::string(1, static_cast<char>(index_encoding(s)->front() + 1));
}

}  // namespace

const char* access_plan::name() const {
  switch (how) {
    case access::index_eq:
      return "index_eq";
    case access::index_in:
      return "index_in";
    case access::index_range:
      return "index_range";
    default:
      return "scan";
  }
}

access_plan plan_access(const type_schema& schema, const expr* where) {
  std::vector<const expr*> conjuncts;
  collect_conjuncts(where, conjuncts);
  access_plan plan;
  for (const auto* c : conjuncts) {
    if (c->what == expr::kind::compare && c->op == compare_op::eq && schema.is_indexed(c->field)) {
      auto encoded = *index_encoding(c->values[0]);
      plan.how = access_plan::access::index_eq;
      plan.field = c->field;
      plan.ranges = {{encoded + std::string(1, '\0'), encoded + "\x01"}};
      plan.reason = "equality on indexed field " + c->field;
      return plan;
    }
  }
  for (const auto* c : conjuncts) {
    if (c->what == expr::kind::in && !c->negated && schema.is_indexed(c->field)) {
      plan.how = access_plan::access::index_in;
      plan.field = c->field;
      std::vector<std::string> seen;
      for (const auto& v : c->values) {
        auto encoded = *index_encoding(v);
        if (std::find(seen.begin(), seen.end(), encoded) != seen.end()) continue;
        seen.push_back(encoded);
        plan.ranges.emplace_back(encoded + std::string(1, '\0'), encoded + "\x01");
      }
      plan.reason = "IN on indexed field " + c->field;
      return plan;
    }
  }
  for (const auto* c : conjuncts) {
    if (c->what != expr::kind::compare || c->op == compare_op::eq || c->op == compare_op::ne ||
        !schema.is_indexed(c->field) || c->values[0].is_bool()) {
      continue;
    }
    // Merge every range predicate on this field whose literal has the same kind.
    const auto& kind_of = c->values[0];
    std::string lower = tag_start(kind_of), upper = tag_end(kind_of);
    for (const auto* other : conjuncts) {
      if (other->what != expr::kind::compare || other->field != c->field ||
          other->values[0].value.index() != kind_of.value.index()) {
        continue;
      }
      auto encoded = *index_encoding(other->values[0]);
      if (other->op == compare_op::gt || other->op == compare_op::ge)
        lower = std::max(lower, encoded);
      if (other->op == compare_op::lt || other->op == compare_op::le)
        upper = std::min(upper, encoded + "\x01");
    }
    plan.how = access_plan::access::index_range;
    plan.field = c->field;
    if (lower < upper) plan.ranges = {{lower, upper}};
    plan.reason = "range on indexed field " + c->field;
    return plan;
  }
  plan.reason = "no equality, IN or range predicate on an indexed field";
  if (!schema.indexed_fields.empty()) {
    plan.reason += " (indexed:";
    for (const auto& f : schema.indexed_fields) plan.reason += " " + f;
    plan.reason += ")";
  }
  return plan;
}

bool matches(const expr& e, const msgpack::object& record) {
  switch (e.what) {
    case expr::kind::and_:
      return std::all_of(e.children.begin(), e.children.end(),
                         [&](const expr_ptr& c) { return matches(*c, record); });
    case expr::kind::or_:
      return std::any_of(e.children.begin(), e.children.end(),
                         [&](const expr_ptr& c) { return matches(*c, record); });
    case expr::kind::not_:
      return !matches(*e.children[0], record);
    case expr::kind::is_null:
      return is_null_field(record, e.field) != e.negated;
    case expr::kind::in: {
      auto v = field_scalar(record, e.field);
      if (v.is_null()) return false;
      bool found = std::any_of(e.values.begin(), e.values.end(),
                               [&](const scalar& s) { return compare(v, s) == 0; });
      return found != e.negated;
    }
    case expr::kind::compare: {
      auto v = field_scalar(record, e.field);
      auto c = compare(v, e.values[0]);
      if (!c) return e.op == compare_op::ne && !v.is_null();
      switch (e.op) {
        case compare_op::eq:
          return *c == 0;
        case compare_op::ne:
          return *c != 0;
        case compare_op::lt:
          return *c < 0;
        case compare_op::gt:
          return *c > 0;
        case compare_op::le:
          return *c <= 0;
        case compare_op::ge:
          return *c >= 0;
      }
    }
  }
  return false;
}

namespace {

struct row {
  std::string id;
  msgpack::object_handle handle;  // owns the record
  // Read through the handle every time: the object lives inside it and moves with it.
  const msgpack::object& record() const { return handle.get(); }
};

class runner {
 public:
  runner(const record_store& store, const query_limits& limits, const std::string& tenant,
         deadline_clock& clock)
      : store_(store), limits_(limits), tenant_(tenant), clock_(clock) {}

  // Each function packs its results array into `p` and returns the count.
  void lookup(const lookup_query& q, bool explain, packer& p, std::size_t& count) {
    auto schemas = store_.schemas(tenant_);
    if (explain) {
      count = 1;
      p.pack_array(1);
      p.pack_map(2);
      suite::pack_string(p, "access");
      suite::pack_string(p, "key_lookup");
      suite::pack_string(p, "point_reads");
      p.pack_uint64(q.keys.size() * schemas.size());
      return;
    }
    std::vector<record> found;
    for (const auto& key : q.keys) {
      for (const auto& schema : schemas) {
        auto r = store_.get_by_key(tenant_, schema->name, key);
        if (r) found.push_back(std::move(*r));
      }
    }
    check_rows(found.size());
    count = found.size();
    p.pack_array(static_cast<std::uint32_t>(found.size()));
    for (const auto& r : found) p.pack(r.object());
  }

  void traverse(const traverse_query& q, bool explain, packer& p, std::size_t& count) {
    if (q.depth > limits_.max_depth) {
      fail(400, "depth_limit",
           "DEPTH " + std::to_string(q.depth) + " is above the limit of " +
               std::to_string(limits_.max_depth));
    }
    if (explain) {
      count = 1;
      p.pack_array(1);
      p.pack_map(3);
      suite::pack_string(p, "access");
      suite::pack_string(p, "edge_prefix_scan (breadth first)");
      suite::pack_string(p, "depth");
      p.pack_int64(q.depth);
      suite::pack_string(p, "direction");
      suite::pack_string(p, q.direction == traverse_direction::out  ? "out"
                            : q.direction == traverse_direction::in ? "in"
                                                                    : "both");
      return;
    }
    auto start = store_.get(tenant_, q.from);
    if (!start) throw query_failure{start.error()};
    struct reached {
      record node;
      int depth;
      std::string from, rel, to;
    };
    std::vector<reached> out;
    std::unordered_set<std::string> visited{q.from};
    std::vector<std::string> frontier{q.from};
    for (int depth = 1; depth <= q.depth && !frontier.empty(); ++depth) {
      std::vector<std::string> next;
      for (const auto& node : frontier) {
        auto visit = [&](const msgpack::object& edge, bool outgoing) {
          clock_.tick();
          auto neighbour =
              std::string(suite::string_field(edge, outgoing ? "to" : "from").value_or(""));
          if (!visited.insert(neighbour).second) return true;
          auto r = store_.get(tenant_, neighbour);
          if (!r) return true;  // deleted or gone: the walk does not pass through it
          out.push_back({std::move(*r), depth,
                         std::string(suite::string_field(edge, "from").value_or("")),
                         std::string(suite::string_field(edge, "rel").value_or("")),
                         std::string(suite::string_field(edge, "to").value_or(""))});
          check_rows(out.size());
          next.push_back(neighbour);
          return true;
        };
        if (q.direction != traverse_direction::in) {
          store_.edges(tenant_, node, edge_direction::out, q.rel,
                       [&](const msgpack::object& e) { return visit(e, true); });
        }
        if (q.direction != traverse_direction::out) {
          store_.edges(tenant_, node, edge_direction::in, q.rel,
                       [&](const msgpack::object& e) { return visit(e, false); });
        }
      }
      frontier = std::move(next);
    }
    count = out.size();
    p.pack_array(static_cast<std::uint32_t>(out.size()));
    for (const auto& r : out) {
      p.pack_map(3);
      suite::pack_string(p, "depth");
      p.pack_int64(r.depth);
      suite::pack_string(p, "edge");
      p.pack_map(3);
      suite::pack_string(p, "from");
      suite::pack_string(p, r.from);
      suite::pack_string(p, "rel");
      suite::pack_string(p, r.rel);
      suite::pack_string(p, "to");
      suite::pack_string(p, r.to);
      suite::pack_string(p, "record");
      p.pack(r.node.object());
    }
  }

  void search(const search_query& q, bool explain, packer& p, std::size_t& count) {
    auto schema = require_schema(q.type);
    if (schema->embedding_fields.empty()) {
      fail(400, "not_searchable",
           "type " + q.type + " has no embedding_fields, so it cannot be searched");
    }
    auto k = static_cast<std::size_t>(q.limit.value_or(10));
    check_limit(q.limit);
    if (explain) {
      count = 1;
      p.pack_array(1);
      p.pack_map(4);
      suite::pack_string(p, "access");
      suite::pack_string(p, "hnsw");
      suite::pack_string(p, "k");
      p.pack_uint64(k);
      suite::pack_string(p, "filter");
      suite::pack_string(p, q.where ? "after search, over-fetching until k rows pass" : "none");
      suite::pack_string(p, "embedder");
      suite::pack_string(p, store_.text_embedder().name());
      return;
    }
    auto available = store_.vectors().size(tenant_, q.type);
    std::size_t fetch = q.where ? k * 4 : k;
    struct hit {
      record r;
      float distance;
    };
    std::vector<hit> kept;
    while (true) {
      kept.clear();
      auto hits = store_.nearest(tenant_, q.type, q.text, fetch);
      if (!hits) throw query_failure{hits.error()};
      for (const auto& h : *hits) {
        clock_.tick();
        auto r = store_.get_of_type(tenant_, q.type, id_from_number(h.label));
        if (!r) continue;
        if (q.where && !matches(*q.where, r->object())) continue;
        kept.push_back({std::move(*r), h.distance});
        if (kept.size() == k) break;
      }
      if (kept.size() >= k || fetch >= available) break;
      fetch = std::min(available, fetch * 4);
    }
    count = kept.size();
    p.pack_array(static_cast<std::uint32_t>(kept.size()));
    for (const auto& h : kept) {
      p.pack_map(3);
      suite::pack_string(p, "id");
      suite::pack_string(p, h.r.id);
      suite::pack_string(p, "distance");
      p.pack_float(h.distance);
      suite::pack_string(p, "record");
      p.pack(h.r.object());
    }
  }

  void select(const select_query& q, bool explain, packer& p, std::size_t& count,
              std::string& plan_text) {
    auto schema = require_schema(q.type);
    check_limit(q.limit);
    auto plan = plan_access(*schema, q.where.get());
    plan_text = std::string(plan.name()) + (plan.field.empty() ? "" : " on " + plan.field);
    bool aggregate = !q.group_by.empty() ||
                     std::any_of(q.items.begin(), q.items.end(),
                                 [](const select_item& i) { return i.fn != aggregate_fn::none; });
    if (aggregate) validate_aggregate(q);
    if (explain) {
      count = 1;
      p.pack_array(1);
      p.pack_map(5);
      suite::pack_string(p, "access");
      suite::pack_string(p, plan.name());
      suite::pack_string(p, "field");
      if (plan.field.empty())
        p.pack_nil();
      else
        suite::pack_string(p, plan.field);
      suite::pack_string(p, "ranges");
      p.pack_uint64(plan.ranges.size());
      suite::pack_string(p, "reason");
      suite::pack_string(p, plan.reason);
      suite::pack_string(p, "aggregate");
      p.pack(aggregate);
      return;
    }
    bool early_stop = !aggregate && q.order_by.empty() && q.limit.has_value();
    // Aggregates fold each matching row in as it comes and keep none of them.
    std::optional<aggregation> folded;
    if (aggregate) folded.emplace(q);
    std::vector<row> rows;
    auto consider = [&](std::string_view id, const msgpack::object& record,
                        msgpack::object_handle* owner) {
      clock_.tick();
      if (q.where && !matches(*q.where, record)) return true;
      if (folded) {
        folded->add(record);
        return true;
      }
      row r;
      r.id = std::string(id);
      if (owner) {
        r.handle = std::move(*owner);
      } else {
        // Scan callbacks lend the record: keep a copy that owns its memory.
        // A small first chunk: the default 8 KiB per kept row dwarfs the row itself.
        auto zone = std::make_unique<msgpack::zone>(512);
        msgpack::object copy(record, *zone);
        r.handle = msgpack::object_handle(copy, std::move(zone));
      }
      rows.push_back(std::move(r));
      if (!q.limit) {
        check_rows(rows.size());  // every row is in the answer: fail as soon as it is too big
      } else if (!q.order_by.empty() && rows.size() >= 2 * static_cast<std::size_t>(*q.limit)) {
        // ORDER BY ... LIMIT n keeps the n first rows so far (a stable sort keeps ties in
        // the order they came, as the final sort does), so memory stays within 2n rows.
        sort_rows(q, rows);
        rows.resize(static_cast<std::size_t>(*q.limit));
      }
      return !(early_stop && rows.size() >= static_cast<std::size_t>(*q.limit));
    };
    if (plan.how == access_plan::access::scan) {
      store_.scan(tenant_, q.type, [&](std::string_view id, const msgpack::object& record) {
        return consider(id, record, nullptr);
      });
    } else {
      bool go_on = true;
      for (const auto& [lower, upper] : plan.ranges) {
        if (!go_on) break;
        store_.index_ids(tenant_, q.type, plan.field, lower, upper, [&](std::string_view id) {
          auto r = store_.get_of_type(tenant_, q.type, id);
          if (!r) return true;
          auto handle = std::move(r->handle);
          go_on = consider(id, handle.get(), &handle);
          return go_on;
        });
      }
    }
    if (folded) {
      emit_groups(q, folded->groups(), p, count);
      return;
    }
    sort_rows(q, rows);
    if (q.limit && rows.size() > static_cast<std::size_t>(*q.limit))
      rows.resize(static_cast<std::size_t>(*q.limit));
    check_rows(rows.size());
    count = rows.size();
    p.pack_array(static_cast<std::uint32_t>(rows.size()));
    for (const auto& r : rows) {
      if (q.star) {
        p.pack(r.record());
        continue;
      }
      p.pack_map(static_cast<std::uint32_t>(q.items.size()));
      for (const auto& item : q.items) {
        suite::pack_string(p, item.alias);
        const auto* value = record_field(r.record(), item.field);
        if (value)
          p.pack(*value);
        else
          p.pack_nil();
      }
    }
  }

 private:
  type_schema_ptr require_schema(const std::string& type) {
    auto schema = store_.schema(tenant_, type);
    if (!schema) fail(404, "unknown_type", "type " + type + " is not registered");
    return schema;
  }
  void check_limit(const std::optional<std::int64_t>& limit) {
    if (limit && *limit > limits_.max_rows) {
      fail(400, "limit_too_large",
           "LIMIT " + std::to_string(*limit) + " is above the limit of " +
               std::to_string(limits_.max_rows) + " rows");
    }
  }
  void check_rows(std::size_t rows) {
    if (static_cast<std::int64_t>(rows) > limits_.max_rows) {
      fail(400, "too_many_rows",
           "the query returns more than " + std::to_string(limits_.max_rows) +
               " rows; add a LIMIT or narrow the WHERE");
    }
  }

  static void validate_aggregate(const select_query& q) {
    if (q.star)
      fail(400, "bad_aggregate", "SELECT * cannot be combined with aggregates or GROUP BY");
    for (const auto& item : q.items) {
      if (item.fn == aggregate_fn::none &&
          std::find(q.group_by.begin(), q.group_by.end(), item.field) == q.group_by.end()) {
        fail(400, "bad_aggregate",
             "field " + item.field + " must appear in GROUP BY or inside an aggregate");
      }
    }
    for (const auto& o : q.order_by) {
      bool known = std::any_of(q.items.begin(), q.items.end(),
                               [&](const select_item& i) { return i.alias == o.column; });
      if (!known)
        fail(400, "bad_aggregate",
             "ORDER BY " + o.column + " must name a selected column of the aggregate query");
    }
  }

  struct accumulator {
    std::int64_t count = 0;
    double sum = 0;
    std::int64_t numbers = 0;
    scalar min, max;
  };

  // SELECT's ORDER BY on the rows themselves (no aggregate); stable, so ties keep the
  // order the rows came in.
  static void sort_rows(const select_query& q, std::vector<row>& rows) {
    if (q.order_by.empty()) return;
    std::stable_sort(rows.begin(), rows.end(), [&](const row& a, const row& b) {
      for (const auto& o : q.order_by) {
        int c =
            order_compare(field_scalar(a.record(), o.column), field_scalar(b.record(), o.column));
        if (c != 0) return o.descending ? c > 0 : c < 0;
      }
      return false;
    });
  }

  struct group {
    std::vector<scalar> keys;
    std::vector<accumulator> acc;
  };

  // The groups of an aggregate query, folded one row at a time (in the order groups
  // first appear).
  class aggregation {
   public:
    explicit aggregation(const select_query& q) : q_(q) {}
    void add(const msgpack::object& record) {
      std::vector<scalar> keys;
      std::string key_text;
      for (const auto& g : q_.group_by) {
        keys.push_back(field_scalar(record, g));
        key_text += std::to_string(keys.back().value.index()) + to_display(keys.back()) + '\x1f';
      }
      auto [it, inserted] = index_.emplace(key_text, groups_.size());
      if (inserted) groups_.push_back({std::move(keys), std::vector<accumulator>(q_.items.size())});
      auto& grp = groups_[it->second];
      for (std::size_t i = 0; i < q_.items.size(); ++i) {
        const auto& item = q_.items[i];
        if (item.fn == aggregate_fn::none) continue;
        auto& a = grp.acc[i];
        if (item.field == "*") {
          ++a.count;
          continue;
        }
        auto v = field_scalar(record, item.field);
        if (v.is_null()) continue;
        ++a.count;
        if (v.is_number()) {
          a.sum += v.number();
          ++a.numbers;
        }
        // MIN/MAX keep the first kind seen; values of another kind are not comparable.
        if (a.min.is_null())
          a.min = v;
        else if (auto c = compare(v, a.min); c && *c < 0)
          a.min = v;
        if (a.max.is_null())
          a.max = v;
        else if (auto c = compare(v, a.max); c && *c > 0)
          a.max = v;
      }
    }
    std::vector<group>& groups() { return groups_; }

   private:
    const select_query& q_;
    std::map<std::string, std::size_t> index_;
    std::vector<group> groups_;
  };

  void emit_groups(const select_query& q, std::vector<group>& groups, packer& p,
                   std::size_t& count) {
    // An aggregate over no rows without GROUP BY still gives one row (COUNT = 0).
    if (groups.empty() && q.group_by.empty())
      groups.push_back({{}, std::vector<accumulator>(q.items.size())});
    auto value_of = [&](const group& g, std::size_t i) -> scalar {
      const auto& item = q.items[i];
      const auto& a = g.acc[i];
      switch (item.fn) {
        case aggregate_fn::none: {
          auto pos =
              std::find(q.group_by.begin(), q.group_by.end(), item.field) - q.group_by.begin();
          return g.keys[static_cast<std::size_t>(pos)];
        }
        case aggregate_fn::count:
          return {static_cast<double>(a.count)};
        case aggregate_fn::sum:
          return a.numbers ? scalar{a.sum} : scalar{};
        case aggregate_fn::avg:
          return a.numbers ? scalar{a.sum / static_cast<double>(a.numbers)} : scalar{};
        case aggregate_fn::min:
          return a.min;
        case aggregate_fn::max:
          return a.max;
      }
      return {};
    };
    std::vector<std::vector<scalar>> table;
    for (const auto& g : groups) {
      std::vector<scalar> out;
      for (std::size_t i = 0; i < q.items.size(); ++i) out.push_back(value_of(g, i));
      table.push_back(std::move(out));
    }
    if (!q.order_by.empty()) {
      std::vector<std::size_t> columns;
      for (const auto& o : q.order_by) {
        columns.push_back(static_cast<std::size_t>(
            std::find_if(q.items.begin(), q.items.end(),
                         [&](const select_item& i) { return i.alias == o.column; }) -
            q.items.begin()));
      }
      std::stable_sort(table.begin(), table.end(), [&](const auto& a, const auto& b) {
        for (std::size_t j = 0; j < columns.size(); ++j) {
          int c = order_compare(a[columns[j]], b[columns[j]]);
          if (c != 0) return q.order_by[j].descending ? c > 0 : c < 0;
        }
        return false;
      });
    }
    if (q.limit && table.size() > static_cast<std::size_t>(*q.limit))
      table.resize(static_cast<std::size_t>(*q.limit));
    check_rows(table.size());
    count = table.size();
    p.pack_array(static_cast<std::uint32_t>(table.size()));
    for (const auto& out : table) {
      p.pack_map(static_cast<std::uint32_t>(q.items.size()));
      for (std::size_t i = 0; i < q.items.size(); ++i) {
        suite::pack_string(p, q.items[i].alias);
        pack_scalar(p, out[i]);
      }
    }
  }

  const record_store& store_;
  const query_limits& limits_;
  const std::string& tenant_;
  deadline_clock& clock_;
};

}  // namespace

suite::result<suite::msgpack_value> query_engine::run(const std::string& tenant,
                                                      std::string_view text,
                                                      std::int64_t deadline_ms) const {
  auto started = std::chrono::steady_clock::now();
  auto parsed = parse_query(text);
  if (auto* error = std::get_if<parse_error>(&parsed)) {
    auto message = error->message + " at position " + std::to_string(error->position);
    return suite::make_error(400, "query_syntax", message, {{"query", message}});
  }
  const auto& q = std::get<query>(parsed);
  deadline_clock clock(limits_.timeout_ms, deadline_ms);
  msgpack::sbuffer results_buffer;
  packer results(results_buffer);
  std::size_t count = 0;
  std::string query_type, plan_text;
  // Every parsed query is timed, the failed ones too: a timeout is the tail to see.
  struct finish_notice {
    const query_observer* observer;
    const std::string& type;
    std::chrono::steady_clock::time_point started;
    ~finish_notice() {
      if (observer && !type.empty())
        observer->query_finished(
            type,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  } notice{observer_, query_type, started};
  if (q.explain) query_type = "explain";
  try {
    runner r(store_, limits_, tenant, clock);
    std::visit(
        [&](const auto& statement) {
          using T = std::decay_t<decltype(statement)>;
          if constexpr (std::is_same_v<T, lookup_query>) {
            if (!q.explain) query_type = "lookup";
            r.lookup(statement, q.explain, results, count);
          } else if constexpr (std::is_same_v<T, traverse_query>) {
            if (!q.explain) query_type = "traverse";
            r.traverse(statement, q.explain, results, count);
          } else if constexpr (std::is_same_v<T, search_query>) {
            if (!q.explain) query_type = "search";
            r.search(statement, q.explain, results, count);
          } else {
            if (!q.explain) query_type = "select";
            r.select(statement, q.explain, results, count, plan_text);
          }
        },
        q.statement);
    clock.check();
  } catch (const query_failure& failure) {
    return failure.error;
  }
  auto elapsed =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  auto results_value = suite::parse_msgpack(results_buffer.data(), results_buffer.size());
  if (!results_value) return results_value.error();
  return suite::pack_value([&](packer& p) {
    p.pack_map(plan_text.empty() ? 5 : 6);
    suite::pack_string(p, "results");
    p.pack(results_value->object);
    suite::pack_string(p, "query");
    suite::pack_string(p, text);
    suite::pack_string(p, "query_type");
    suite::pack_string(p, query_type);
    suite::pack_string(p, "execution_time_ms");
    p.pack_double(elapsed);
    suite::pack_string(p, "count");
    p.pack_uint64(count);
    if (!plan_text.empty()) {
      suite::pack_string(p, "plan");
      suite::pack_string(p, plan_text);
    }
  });
}

}  // namespace rem
