#include "loadgen/request_template.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>

namespace loadgen {

namespace {

bool parse_int(std::string_view text, std::int64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

bool parse_double(std::string_view text, double& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

void append_number(std::string& out, std::int64_t n) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

// Cumulative probabilities of ranks 1..n under Zipf(s), for sampling by bisection.
std::shared_ptr<const std::vector<double>> zipf_cdf(std::int64_t n, double s) {
  auto cdf = std::make_shared<std::vector<double>>(static_cast<std::size_t>(n));
  double total = 0;
  for (std::int64_t k = 1; k <= n; ++k) {
    total += 1.0 / std::pow(static_cast<double>(k), s);
    (*cdf)[static_cast<std::size_t>(k - 1)] = total;
  }
  for (double& c : *cdf) c /= total;
  return cdf;
}

constexpr std::string_view letters = "abcdefghijklmnopqrstuvwxyz";

}  // namespace

bool request_template::is_constant() const {
  return pieces_.empty() || (pieces_.size() == 1 && pieces_[0].kind_ == kind::literal);
}

void request_template::add_literal(std::string_view text) {
  if (text.empty()) return;
  if (!pieces_.empty() && pieces_.back().kind_ == kind::literal) {
    pieces_.back().literal.append(text);
  } else {
    piece p;
    p.literal.assign(text);
    pieces_.push_back(std::move(p));
  }
}

std::string request_template::compile_text(std::string_view text, value_pools& pools,
                                           request_template& out) {
  out.pieces_.clear();
  return out.compile_string_into(text, false, pools);
}

std::string request_template::compile_json(const rapidjson::Value& body, value_pools& pools,
                                           request_template& out) {
  out.pieces_.clear();
  return out.compile_value(body, pools);
}

// Compiles one string. With `json_string` the string is a JSON string value: it is
// quoted and escaped, unless it is exactly one placeholder, whose piece then decides
// how to quote itself (as_json_value).
std::string request_template::compile_string_into(std::string_view text, bool json_string,
                                                  value_pools& pools) {
  const bool single = text.starts_with("${") && text.find('}') == text.size() - 1;
  if (json_string && !single) add_literal("\"");
  std::size_t cursor = 0;
  while (cursor < text.size()) {
    const std::size_t open = text.find("${", cursor);
    if (open == std::string_view::npos) {
      if (json_string) {
        rapidjson::StringBuffer escaped;
        rapidjson::Writer<rapidjson::StringBuffer> writer(escaped);
        const auto rest = text.substr(cursor);
        writer.String(rest.data(), static_cast<rapidjson::SizeType>(rest.size()));
        std::string_view quoted(escaped.GetString(), escaped.GetSize());
        add_literal(quoted.substr(1, quoted.size() - 2));
      } else {
        add_literal(text.substr(cursor));
      }
      break;
    }
    add_literal(text.substr(cursor, open - cursor));
    const std::size_t close = text.find('}', open);
    if (close == std::string_view::npos) return "unterminated placeholder \"${\"";
    const std::string_view spec = text.substr(open + 2, close - open - 2);
    cursor = close + 1;

    const std::size_t colon = spec.find(':');
    const std::string_view name = spec.substr(0, colon);
    const std::string_view args = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
    const auto arg_list = split(args, ':');
    piece p;
    p.as_json_value = json_string && single;
    if (name == "seq" && args.empty()) {
      p.kind_ = kind::sequence;
    } else if (name == "uuid" && args.empty()) {
      p.kind_ = kind::uuid;
    } else if (name == "now_ms" && args.empty()) {
      p.kind_ = kind::now_ms;
    } else if (name == "uniform") {
      p.kind_ = kind::uniform;
      if (arg_list.size() != 2 || !parse_int(arg_list[0], p.low) ||
          !parse_int(arg_list[1], p.high) || p.low > p.high) {
        return "${uniform:LO:HI} needs two integers with LO <= HI, got \"" + std::string(spec) +
               "\"";
      }
    } else if (name == "zipf") {
      p.kind_ = kind::zipf;
      double exponent = 1.0;
      if (arg_list.empty() || arg_list.size() > 2 || !parse_int(arg_list[0], p.high) ||
          p.high < 1 || p.high > 10'000'000 ||
          (arg_list.size() == 2 && (!parse_double(arg_list[1], exponent) || exponent <= 0))) {
        return "${zipf:N[:S]} needs 1 <= N <= 10000000 and S > 0, got \"" + std::string(spec) +
               "\"";
      }
      p.zipf_cdf = zipf_cdf(p.high, exponent);
    } else if (name == "text") {
      p.kind_ = kind::text;
      if (arg_list.size() != 1 || !parse_int(arg_list[0], p.low) || p.low < 0 ||
          p.low > 1'000'000) {
        return "${text:N} needs 0 <= N <= 1000000, got \"" + std::string(spec) + "\"";
      }
    } else if (name == "choice") {
      p.kind_ = kind::choice;
      for (const auto word : split(args, '|')) p.words.emplace_back(word);
      if (args.empty()) return "${choice:A|B|...} needs at least one word";
    } else if (name == "pick") {
      p.kind_ = kind::pick;
      if (args.empty()) return "${pick:POOL} needs a pool name";
      const std::size_t at = args.find('@');
      if (at != std::string_view::npos) {
        // ${pick:POOL@BASE}: the partner of the value just picked from BASE.
        if (at == 0 || at + 1 == args.size())
          return "${pick:POOL@BASE} needs two pool names, got \"" + std::string(spec) + "\"";
        p.pool = pools.pool_index(args.substr(0, at));
        p.paired_with = pools.pool_index(args.substr(at + 1));
      } else {
        p.pool = pools.pool_index(args);
      }
    } else {
      return "unknown placeholder \"${" + std::string(spec) +
             "}\" (known: seq, uniform, zipf, text, choice, uuid, now_ms, pick)";
    }
    pieces_.push_back(std::move(p));
  }
  if (json_string && !single) add_literal("\"");
  return {};
}

std::string request_template::compile_value(const rapidjson::Value& value, value_pools& pools) {
  if (value.IsString()) {
    return compile_string_into({value.GetString(), value.GetStringLength()}, true, pools);
  }
  if (value.IsArray()) {
    add_literal("[");
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      if (i > 0) add_literal(",");
      if (auto error = compile_value(value[i], pools); !error.empty()) return error;
    }
    add_literal("]");
    return {};
  }
  if (value.IsObject()) {
    if (value.HasMember("$repeat")) {
      const auto& count = value["$repeat"];
      if (!count.IsInt64() || count.GetInt64() < 0 || !value.HasMember("item") ||
          value.MemberCount() != 2) {
        return "{\"$repeat\": N, \"item\": ...} needs a count N >= 0 and an item, nothing else";
      }
      add_literal("[");
      piece p;
      p.kind_ = kind::repeat;
      p.low = count.GetInt64();
      const std::size_t at = pieces_.size();
      pieces_.push_back(std::move(p));
      if (auto error = compile_value(value["item"], pools); !error.empty()) return error;
      pieces_[at].repeat_end = pieces_.size();
      // A literal right after the repeat must not merge into the repeated range.
      piece end_marker;
      pieces_.push_back(std::move(end_marker));
      add_literal("]");
      return {};
    }
    add_literal("{");
    bool first = true;
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      if (!first) add_literal(",");
      first = false;
      rapidjson::StringBuffer key;
      rapidjson::Writer<rapidjson::StringBuffer> writer(key);
      writer.String(it->name.GetString(), it->name.GetStringLength());
      add_literal({key.GetString(), key.GetSize()});
      add_literal(":");
      if (auto error = compile_value(it->value, pools); !error.empty()) return error;
    }
    add_literal("}");
    return {};
  }
  rapidjson::StringBuffer scalar;
  rapidjson::Writer<rapidjson::StringBuffer> writer(scalar);
  value.Accept(writer);
  add_literal({scalar.GetString(), scalar.GetSize()});
  return {};
}

std::vector<std::size_t> request_template::picked_pools() const {
  std::vector<std::size_t> pools;
  for (const auto& p : pieces_) {
    if (p.kind_ == kind::pick) pools.push_back(p.pool);
  }
  return pools;
}

bool request_template::render(render_context& context, std::string& out) const {
  return render_range(0, pieces_.size(), context, out);
}

bool request_template::render_range(std::size_t begin, std::size_t end, render_context& context,
                                    std::string& out) const {
  auto& rng = context.rng;
  for (std::size_t i = begin; i < end; ++i) {
    const piece& p = pieces_[i];
    switch (p.kind_) {
      case kind::literal:
        out.append(p.literal);
        break;
      case kind::sequence:
        append_number(out, context.next_sequence);
        context.next_sequence += context.sequence_stride;
        break;
      case kind::uniform:
        append_number(out, std::uniform_int_distribution<std::int64_t>(p.low, p.high)(rng));
        break;
      case kind::zipf: {
        const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        const auto& cdf = *p.zipf_cdf;
        const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
        append_number(out, static_cast<std::int64_t>(std::min<std::ptrdiff_t>(
                               rank + 1, static_cast<std::ptrdiff_t>(cdf.size()))));
        break;
      }
      case kind::text: {
        if (p.as_json_value) out.push_back('"');
        // Words of 2-9 letters separated by spaces: compressible like real text.
        std::int64_t left = p.low;
        while (left > 0) {
          std::int64_t word = std::uniform_int_distribution<std::int64_t>(2, 9)(rng);
          word = std::min(word, left);
          for (std::int64_t k = 0; k < word; ++k) {
            out.push_back(letters[std::uniform_int_distribution<std::size_t>(0, 25)(rng)]);
          }
          left -= word;
          if (left > 0) {
            out.push_back(' ');
            --left;
          }
        }
        if (p.as_json_value) out.push_back('"');
        break;
      }
      case kind::choice:
        if (p.as_json_value) out.push_back('"');
        out.append(p.words[std::uniform_int_distribution<std::size_t>(0, p.words.size() - 1)(rng)]);
        if (p.as_json_value) out.push_back('"');
        break;
      case kind::uuid: {
        static constexpr char hex[] = "0123456789abcdef";
        const std::uint64_t high = rng(), low = rng();
        if (p.as_json_value) out.push_back('"');
        for (int k = 0; k < 32; ++k) {
          if (k == 8 || k == 12 || k == 16 || k == 20) out.push_back('-');
          std::uint64_t nibble = ((k < 16 ? high : low) >> (4 * (15 - k % 16))) & 0xf;
          if (k == 12) nibble = 4;                   // version 4
          if (k == 16) nibble = 8 | (nibble & 0x3);  // RFC 4122 variant
          out.push_back(hex[nibble]);
        }
        if (p.as_json_value) out.push_back('"');
        break;
      }
      case kind::now_ms:
        append_number(
            out, static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()));
        break;
      case kind::pick: {
        const captured_value* value = p.paired_with == no_pool
                                          ? context.pools.pick(p.pool, rng)
                                          : context.pools.pick_paired(p.pool, p.paired_with, rng);
        if (value == nullptr) return false;
        const bool quote = p.as_json_value && value->is_string;
        if (quote) out.push_back('"');
        out.append(value->text);
        if (quote) out.push_back('"');
        break;
      }
      case kind::repeat:
        for (std::int64_t k = 0; k < p.low; ++k) {
          if (k > 0) out.push_back(',');
          if (!render_range(i + 1, p.repeat_end, context, out)) return false;
        }
        i = p.repeat_end - 1;  // the loop goes on with the end marker
        break;
    }
  }
  return true;
}

bool find_json_field(std::string_view json, std::string_view key, std::string_view& value,
                     bool& is_string) {
  std::size_t from = 0;
  for (;;) {
    const std::size_t at = json.find(key, from);
    if (at == std::string_view::npos) return false;
    from = at + 1;
    if (at == 0 || json[at - 1] != '"' || at + key.size() >= json.size() ||
        json[at + key.size()] != '"') {
      continue;
    }
    std::size_t i = at + key.size() + 1;
    auto skip_space = [&] {
      while (i < json.size() &&
             (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r')) {
        ++i;
      }
    };
    skip_space();
    if (i >= json.size() || json[i] != ':') continue;  // a string value equal to the key
    ++i;
    skip_space();
    if (i < json.size() && json[i] == '[') {
      ++i;
      skip_space();
    }
    if (i >= json.size()) return false;
    if (json[i] == '"') {
      const std::size_t begin = i + 1;
      std::size_t end = begin;
      while (end < json.size() && json[end] != '"') end += json[end] == '\\' ? 2 : 1;
      if (end >= json.size()) return false;
      value = json.substr(begin, end - begin);
      is_string = true;
      return true;
    }
    std::size_t end = i;
    while (end < json.size() && json[end] != ',' && json[end] != '}' && json[end] != ']' &&
           json[end] != ' ' && json[end] != '\n') {
      ++end;
    }
    if (end == i) return false;
    value = json.substr(i, end - i);
    is_string = false;
    return true;
  }
}

}  // namespace loadgen
