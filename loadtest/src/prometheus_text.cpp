#include "loadgen/prometheus_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace loadgen {

const std::string& prometheus_sample::label(const std::string& key) const {
  static const std::string none;
  const auto it = labels.find(key);
  return it == labels.end() ? none : it->second;
}

namespace {

double parse_value(std::string_view text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  const std::string copy(text);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() ? std::numeric_limits<double>::quiet_NaN() : v;
}

}  // namespace

std::vector<prometheus_sample> parse_prometheus_text(std::string_view text) {
  std::vector<prometheus_sample> samples;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#') continue;
    prometheus_sample sample;
    const std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    sample.name.assign(line.substr(0, name_end));
    std::size_t i = name_end;
    if (line[i] == '{') {
      ++i;
      bool ok = true;
      while (i < line.size() && line[i] != '}') {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          ok = false;
          break;
        }
        std::string key(line.substr(i, eq - i));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            value.push_back(line[j]);
          }
        }
        sample.labels.emplace(std::move(key), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size()) continue;
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t value_end = line.find(' ', i);
    sample.value = parse_value(line.substr(i, value_end - i));
    if (std::isnan(sample.value)) continue;
    samples.push_back(std::move(sample));
  }
  return samples;
}

void add_buckets(histogram_buckets& into, const histogram_buckets& from, double sign) {
  if (into.empty()) {
    into = from;
    for (auto& b : into) b.second *= sign;
    return;
  }
  for (const auto& [le, count] : from) {
    const auto it =
        std::find_if(into.begin(), into.end(), [le = le](const auto& b) { return b.first == le; });
    if (it != into.end()) {
      it->second += sign * count;
    } else {
      into.insert(std::upper_bound(into.begin(), into.end(), std::make_pair(le, -1e300)),
                  {le, sign * count});
    }
  }
}

double histogram_quantile(double q, const histogram_buckets& buckets) {
  if (buckets.empty()) return 0;
  const double total = buckets.back().second;
  if (total <= 0) return 0;
  const double rank = q * total;
  double lower_bound = 0, lower_count = 0;
  for (const auto& [le, count] : buckets) {
    if (count >= rank) {
      // In the +Inf bucket there is no upper bound: answer the highest finite one.
      if (std::isinf(le)) return lower_bound;
      const double in_bucket = count - lower_count;
      if (in_bucket <= 0) return le;
      return lower_bound + (le - lower_bound) * (rank - lower_count) / in_bucket;
    }
    lower_bound = le;
    lower_count = count;
  }
  return lower_bound;
}

}  // namespace loadgen
