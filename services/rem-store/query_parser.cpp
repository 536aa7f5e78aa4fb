#include "query_parser.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace rem {
namespace {

enum class token_kind { word, text, number, symbol, end };

struct token {
  token_kind kind = token_kind::end;
  std::string value;  // word: as written; text: unescaped; symbol: the symbol
  std::size_t position = 0;
};

struct parse_failure {
  parse_error error;
};

std::string describe(const token& t) {
  switch (t.kind) {
    case token_kind::end:
      return "end of query";
    case token_kind::text:
      return "'" + t.value + "'";
    default:
      return "'" + t.value + "'";
  }
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<token> tokenize(std::string_view text) {
  std::vector<token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (std::isspace(c)) {
      ++i;
      continue;
    }
    token t;
    t.position = i;
    if (std::isalpha(c) || c == '_') {
      auto start = i;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                                 text[i] == '_' || text[i] == '.'))
        ++i;
      t.kind = token_kind::word;
      t.value = std::string(text.substr(start, i - start));
    } else if (std::isdigit(c) ||
               ((c == '-' || c == '+') && i + 1 < text.size() &&
                (std::isdigit(static_cast<unsigned char>(text[i + 1])) || text[i + 1] == '.'))) {
      auto start = i++;
      while (i < text.size() &&
             (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' ||
              text[i] == 'e' || text[i] == 'E' ||
              ((text[i] == '-' || text[i] == '+') && (text[i - 1] == 'e' || text[i - 1] == 'E')))) {
        ++i;
      }
      t.kind = token_kind::number;
      t.value = std::string(text.substr(start, i - start));
    } else if (c == '\'') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '\'') {
          if (i + 1 < text.size() && text[i + 1] == '\'') {
            t.value.push_back('\'');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        t.value.push_back(text[i++]);
      }
      if (!closed) throw parse_failure{{"unterminated string (missing closing ')", t.position}};
      t.kind = token_kind::text;
    } else {
      static const char* two_char[] = {"!=", "<>", "<=", ">="};
      t.kind = token_kind::symbol;
      for (const char* sym : two_char) {
        if (text.substr(i, 2) == sym) t.value = sym;
      }
      if (t.value.empty()) {
        if (std::string_view("=<>(),*;").find(static_cast<char>(c)) == std::string_view::npos) {
          throw parse_failure{
              {std::string("unexpected character '") + static_cast<char>(c) + "'", i}};
        }
        t.value = std::string(1, static_cast<char>(c));
      }
      i += t.value.size();
    }
    tokens.push_back(std::move(t));
  }
  token end;
  end.position = text.size();
  tokens.push_back(end);
  return tokens;
}

const char* reserved[] = {"SELECT", "FROM",    "WHERE",  "GROUP",    "BY",     "ORDER", "LIMIT",
                          "AND",    "OR",      "NOT",    "IN",       "IS",     "NULL",  "ASC",
                          "DESC",   "AS",      "LOOKUP", "TRAVERSE", "SEARCH", "DEPTH", "DIRECTION",
                          "TYPE",   "EXPLAIN", "TRUE",   "FALSE"};

bool is_reserved(const std::string& word) {
  auto u = upper(word);
  for (const char* r : reserved) {
    if (u == r) return true;
  }
  return false;
}

class parser {
 public:
  explicit parser(std::vector<token> tokens) : tokens_(std::move(tokens)) {}

  query parse() {
    query q;
    if (accept_keyword("EXPLAIN")) q.explain = true;
    const auto& t = peek();
    auto word = t.kind == token_kind::word ? upper(t.value) : std::string();
    if (word == "LOOKUP")
      q.statement = parse_lookup();
    else if (word == "TRAVERSE")
      q.statement = parse_traverse();
    else if (word == "SEARCH")
      q.statement = parse_search();
    else if (word == "SELECT")
      q.statement = parse_select();
    else
      fail("expected LOOKUP, TRAVERSE, SEARCH or SELECT");
    accept_symbol(";");
    if (peek().kind != token_kind::end) fail("expected end of query");
    return q;
  }

 private:
  const token& peek() const { return tokens_[index_]; }
  const token& next() { return tokens_[index_ < tokens_.size() - 1 ? index_++ : index_]; }

  [[noreturn]] void fail(const std::string& expected) const {
    throw parse_failure{{expected + ", found " + describe(peek()), peek().position}};
  }

  bool is_keyword(const char* keyword) const {
    return peek().kind == token_kind::word && upper(peek().value) == keyword;
  }
  bool accept_keyword(const char* keyword) {
    if (!is_keyword(keyword)) return false;
    next();
    return true;
  }
  void expect_keyword(const char* keyword) {
    if (!accept_keyword(keyword)) fail(std::string("expected ") + keyword);
  }
  bool accept_symbol(const char* symbol) {
    if (peek().kind != token_kind::symbol || peek().value != symbol) return false;
    next();
    return true;
  }
  void expect_symbol(const char* symbol) {
    if (!accept_symbol(symbol)) fail(std::string("expected '") + symbol + "'");
  }
  std::string expect_text(const char* what) {
    if (peek().kind != token_kind::text)
      fail(std::string("expected ") + what + " (a quoted string)");
    return next().value;
  }
  std::string expect_identifier(const char* what) {
    if (peek().kind != token_kind::word || is_reserved(peek().value))
      fail(std::string("expected ") + what);
    return next().value;
  }
  std::int64_t expect_integer(const char* what, std::int64_t min) {
    const auto& t = peek();
    std::int64_t value = 0;
    if (t.kind == token_kind::number) {
      auto [end, ec] = std::from_chars(t.value.data(), t.value.data() + t.value.size(), value);
      if (ec == std::errc() && end == t.value.data() + t.value.size() && value >= min) {
        next();
        return value;
      }
    }
    fail(std::string("expected ") + what + " (an integer >= " + std::to_string(min) + ")");
  }

  lookup_query parse_lookup() {
    next();
    lookup_query q;
    do q.keys.push_back(expect_text("a key"));
    while (accept_symbol(","));
    return q;
  }

  traverse_query parse_traverse() {
    next();
    traverse_query q;
    expect_keyword("FROM");
    q.from = expect_text("a record id");
    while (peek().kind == token_kind::word) {
      if (accept_keyword("DEPTH")) {
        q.depth = static_cast<int>(std::min<std::int64_t>(expect_integer("a depth", 1), 1 << 20));
      } else if (accept_keyword("DIRECTION")) {
        auto where = peek();
        auto d = where.kind == token_kind::word ? upper(where.value) : std::string();
        if (d == "OUT")
          q.direction = traverse_direction::out;
        else if (d == "IN")
          q.direction = traverse_direction::in;
        else if (d == "BOTH")
          q.direction = traverse_direction::both;
        else
          fail("expected out, in or both");
        next();
      } else if (accept_keyword("TYPE")) {
        q.rel = expect_text("an edge type");
      } else {
        fail("expected DEPTH, DIRECTION, TYPE or end of query");
      }
    }
    return q;
  }

  search_query parse_search() {
    next();
    search_query q;
    q.text = expect_text("the search text");
    expect_keyword("IN");
    q.type = expect_identifier("a type name");
    if (accept_keyword("WHERE")) q.where = parse_or();
    if (accept_keyword("LIMIT")) q.limit = expect_integer("a limit", 1);
    return q;
  }

  select_query parse_select() {
    next();
    select_query q;
    if (accept_symbol("*")) {
      q.star = true;
    } else {
      do q.items.push_back(parse_item());
      while (accept_symbol(","));
    }
    expect_keyword("FROM");
    q.type = expect_identifier("a type name");
    if (accept_keyword("WHERE")) q.where = parse_or();
    if (accept_keyword("GROUP")) {
      expect_keyword("BY");
      do q.group_by.push_back(expect_identifier("a field to group by"));
      while (accept_symbol(","));
    }
    if (accept_keyword("ORDER")) {
      expect_keyword("BY");
      do {
        order_item item;
        auto position = index_;
        auto fn = aggregate_of(peek());
        if (fn != aggregate_fn::none && tokens_[index_ + 1].kind == token_kind::symbol &&
            tokens_[index_ + 1].value == "(") {
          index_ = position;
          item.column = parse_item().alias;
        } else {
          item.column = expect_identifier("a field to order by");
        }
        if (accept_keyword("DESC"))
          item.descending = true;
        else
          accept_keyword("ASC");
        q.order_by.push_back(std::move(item));
      } while (accept_symbol(","));
    }
    if (accept_keyword("LIMIT")) q.limit = expect_integer("a limit", 1);
    return q;
  }

  static aggregate_fn aggregate_of(const token& t) {
    if (t.kind != token_kind::word) return aggregate_fn::none;
    auto u = upper(t.value);
    if (u == "COUNT") return aggregate_fn::count;
    if (u == "SUM") return aggregate_fn::sum;
    if (u == "AVG") return aggregate_fn::avg;
    if (u == "MIN") return aggregate_fn::min;
    if (u == "MAX") return aggregate_fn::max;
    return aggregate_fn::none;
  }

  select_item parse_item() {
    select_item item;
    auto fn = aggregate_of(peek());
    if (fn != aggregate_fn::none && tokens_[index_ + 1].kind == token_kind::symbol &&
        tokens_[index_ + 1].value == "(") {
      auto name = next().value;
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      next();  // (
      item.fn = fn;
      if (fn == aggregate_fn::count && accept_symbol("*"))
        item.field = "*";
      else
        item.field = expect_identifier("a field");
      expect_symbol(")");
      item.alias = name + "(" + item.field + ")";
    } else {
      item.field = expect_identifier("a field or an aggregate");
      item.alias = item.field;
    }
    if (accept_keyword("AS")) item.alias = expect_identifier("a column name");
    return item;
  }

  expr_ptr parse_or() {
    auto left = parse_and();
    if (!is_keyword("OR")) return left;
    auto node = std::make_unique<expr>();
    node->what = expr::kind::or_;
    node->children.push_back(std::move(left));
    while (accept_keyword("OR")) node->children.push_back(parse_and());
    return node;
  }

  expr_ptr parse_and() {
    auto left = parse_not();
    if (!is_keyword("AND")) return left;
    auto node = std::make_unique<expr>();
    node->what = expr::kind::and_;
    node->children.push_back(std::move(left));
    while (accept_keyword("AND")) node->children.push_back(parse_not());
    return node;
  }

  expr_ptr parse_not() {
    if (accept_keyword("NOT")) {
      auto node = std::make_unique<expr>();
      node->what = expr::kind::not_;
      node->children.push_back(parse_not());
      return node;
    }
    return parse_primary();
  }

  scalar parse_literal() {
    const auto& t = peek();
    if (t.kind == token_kind::text) return {next().value};
    if (t.kind == token_kind::number) {
      char* end = nullptr;
      double d = std::strtod(t.value.c_str(), &end);
      if (end != t.value.c_str() + t.value.size()) fail("expected a number");
      next();
      return {d};
    }
    if (accept_keyword("TRUE")) return {true};
    if (accept_keyword("FALSE")) return {false};
    if (is_keyword("NULL")) fail("expected a value (use IS NULL to test for null)");
    fail("expected a value ('text', a number, TRUE or FALSE)");
  }

  expr_ptr parse_primary() {
    if (accept_symbol("(")) {
      auto inner = parse_or();
      expect_symbol(")");
      return inner;
    }
    auto node = std::make_unique<expr>();
    node->field = expect_identifier("a field name");
    if (accept_keyword("IS")) {
      node->what = expr::kind::is_null;
      node->negated = accept_keyword("NOT");
      expect_keyword("NULL");
      return node;
    }
    bool negated_in = false;
    if (is_keyword("NOT")) {
      next();
      negated_in = true;
      if (!is_keyword("IN")) fail("expected IN after NOT");
    }
    if (accept_keyword("IN")) {
      node->what = expr::kind::in;
      node->negated = negated_in;
      expect_symbol("(");
      do node->values.push_back(parse_literal());
      while (accept_symbol(","));
      expect_symbol(")");
      return node;
    }
    const auto& t = peek();
    node->what = expr::kind::compare;
    if (t.kind != token_kind::symbol) fail("expected a comparison (= != < > <= >=), IN or IS");
    if (t.value == "=")
      node->op = compare_op::eq;
    else if (t.value == "!=" || t.value == "<>")
      node->op = compare_op::ne;
    else if (t.value == "<")
      node->op = compare_op::lt;
    else if (t.value == ">")
      node->op = compare_op::gt;
    else if (t.value == "<=")
      node->op = compare_op::le;
    else if (t.value == ">=")
      node->op = compare_op::ge;
    else
      fail("expected a comparison (= != < > <= >=), IN or IS");
    next();
    node->values.push_back(parse_literal());
    return node;
  }

  std::vector<token> tokens_;
  std::size_t index_ = 0;
};

}  // namespace

std::variant<query, parse_error> parse_query(std::string_view text) {
  try {
    parser p(tokenize(text));
    return p.parse();
  } catch (const parse_failure& failure) {
    return failure.error;
  }
}

}  // namespace rem
