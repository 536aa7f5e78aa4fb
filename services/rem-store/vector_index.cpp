#include "vector_index.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <hnswlib/hnswlib.h>
#include <xxhash.h>

#include "key_codec.hpp"
#include "suite/log.hpp"

namespace rem {
namespace {

std::string graph_key(const std::string& tenant, const std::string& type) {
  return tenant + '\0' + type;
}

std::optional<std::uint64_t> file_checksum(const std::string& path, std::uint64_t& size_out) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) return std::nullopt;
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state(XXH3_createState(),
                                                                        &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  std::vector<char> buffer(1 << 16);
  size_out = 0;
  while (auto got = std::fread(buffer.data(), 1, buffer.size(), in.get())) {
    XXH3_64bits_update(state.get(), buffer.data(), got);
    size_out += got;
  }
  if (std::ferror(in.get())) return std::nullopt;
  return XXH3_64bits_digest(state.get());
}

}  // namespace

struct vector_catalog::graph {
  mutable std::shared_mutex mutex;
  std::unique_ptr<hnswlib::InnerProductSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;

  std::size_t live() const { return index ? index->cur_element_count - index->num_deleted_ : 0; }
};

vector_catalog::vector_catalog(hnsw_settings settings) : settings_(std::move(settings)) {
  if (!settings_.dir.empty()) std::filesystem::create_directories(settings_.dir);
}

vector_catalog::~vector_catalog() = default;

std::string vector_catalog::file_stem(const std::string& tenant, const std::string& type) const {
  auto key = graph_key(tenant, type);
  return settings_.dir + "/" + id_from_number(XXH3_64bits(key.data(), key.size()));
}

std::shared_ptr<vector_catalog::graph> vector_catalog::find(const std::string& tenant,
                                                            const std::string& type) const {
  std::shared_lock lock(graphs_mutex_);
  auto it = graphs_.find(graph_key(tenant, type));
  return it == graphs_.end() ? nullptr : it->second;
}

std::shared_ptr<vector_catalog::graph> vector_catalog::find_or_create(const std::string& tenant,
                                                                      const std::string& type) {
  if (auto existing = find(tenant, type)) return existing;
  std::unique_lock lock(graphs_mutex_);
  auto& slot = graphs_[graph_key(tenant, type)];
  if (!slot) {
    slot = std::make_shared<graph>();
    slot->space = std::make_unique<hnswlib::InnerProductSpace>(settings_.dimension);
    slot->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        slot->space.get(), 1024, settings_.m, settings_.ef_construction);
    slot->index->setEf(settings_.ef_search);
  }
  return slot;
}

std::string vector_catalog::open_graph(const std::string& tenant, const std::string& type,
                                       std::size_t expected_count, const embedding_source& source,
                                       bool trust_files) {
  auto g = find_or_create(tenant, type);
  std::unique_lock lock(g->mutex);
  if (trust_files && !settings_.dir.empty()) {
    auto stem = file_stem(tenant, type);
    std::ifstream sum_file(stem + ".sum");
    std::uint64_t want_size = 0, want_sum = 0, size = 0;
    if (sum_file >> want_size >> want_sum) {
      auto sum = file_checksum(stem + ".hnsw", size);
      if (sum && *sum == want_sum && size == want_size) {
        // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialized before
        // loadIndex counts into it, so load through the bare constructor instead.
        auto loaded = std::make_unique<hnswlib::HierarchicalNSW<float>>(g->space.get());
        loaded->num_deleted_ = 0;
        try {
          loaded->loadIndex(stem + ".hnsw", g->space.get(),
                            std::max<std::size_t>(1024, expected_count * 2));
          loaded->setEf(settings_.ef_search);
          if (loaded->cur_element_count - loaded->num_deleted_ == expected_count) {
            g->index = std::move(loaded);
            return "loaded";
          }
        } catch (const std::exception&) {
          // A half-loaded graph cannot be destroyed safely (its destructor frees members
          // loadIndex never set): leak it once and rebuild; RocksDB is the truth.
          (void)loaded.release();
        }
      }
    }
  }
  g->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      g->space.get(), std::max<std::size_t>(1024, expected_count + expected_count / 4), settings_.m,
      settings_.ef_construction);
  g->index->setEf(settings_.ef_search);
  source([&](std::uint64_t label, const float* vector) {
    if (g->index->cur_element_count >= g->index->max_elements_)
      g->index->resizeIndex(g->index->max_elements_ * 2);
    g->index->addPoint(vector, label);
  });
  return "rebuilt";
}

void vector_catalog::drop_graph(const std::string& tenant, const std::string& type) {
  {
    std::unique_lock lock(graphs_mutex_);
    graphs_.erase(graph_key(tenant, type));
  }
  if (settings_.dir.empty()) return;
  std::error_code ignored;
  auto stem = file_stem(tenant, type);
  std::filesystem::remove(stem + ".hnsw", ignored);
  std::filesystem::remove(stem + ".sum", ignored);
}

void vector_catalog::upsert(const std::string& tenant, const std::string& type, std::uint64_t label,
                            const float* vector) {
  auto g = find_or_create(tenant, type);
  std::unique_lock lock(g->mutex);
  if (g->index->cur_element_count >= g->index->max_elements_)
    g->index->resizeIndex(g->index->max_elements_ * 2);
  g->index->addPoint(vector, label);  // an existing label is updated (and undeleted) by hnswlib
}

void vector_catalog::remove(const std::string& tenant, const std::string& type,
                            std::uint64_t label) {
  auto g = find(tenant, type);
  if (!g) return;
  std::unique_lock lock(g->mutex);
  try {
    g->index->markDelete(label);
  } catch (const std::exception&) {
    // Unknown or already deleted label: nothing to remove.
  }
}

std::vector<vector_hit> vector_catalog::search(const std::string& tenant, const std::string& type,
                                               const float* query, std::size_t k) const {
  std::vector<vector_hit> hits;
  auto g = find(tenant, type);
  if (!g || k == 0) return hits;
  std::shared_lock lock(g->mutex);
  if (g->live() == 0) return hits;
  auto queue = g->index->searchKnn(query, k);
  hits.resize(queue.size());
  for (auto i = hits.size(); i-- > 0; queue.pop())
    hits[i] = {queue.top().second, queue.top().first};
  return hits;
}

std::size_t vector_catalog::size(const std::string& tenant, const std::string& type) const {
  auto g = find(tenant, type);
  if (!g) return 0;
  std::shared_lock lock(g->mutex);
  return g->live();
}

std::size_t vector_catalog::total_size() const {
  std::vector<std::shared_ptr<graph>> all;
  {
    std::shared_lock lock(graphs_mutex_);
    for (const auto& [name, g] : graphs_) all.push_back(g);
  }
  std::size_t total = 0;
  for (const auto& g : all) {
    std::shared_lock lock(g->mutex);
    total += g->live();
  }
  return total;
}

bool vector_catalog::consume_clean_marker() {
  if (settings_.dir.empty()) return false;
  std::error_code ignored;
  return std::filesystem::remove(settings_.dir + "/CLEAN", ignored);
}

suite::status vector_catalog::save_all() {
  if (settings_.dir.empty()) return suite::ok();
  std::vector<std::pair<std::string, std::shared_ptr<graph>>> all;
  {
    std::shared_lock lock(graphs_mutex_);
    all.assign(graphs_.begin(), graphs_.end());
  }
  for (auto& [key, g] : all) {
    auto zero = key.find('\0');
    auto stem = file_stem(key.substr(0, zero), key.substr(zero + 1));
    std::unique_lock lock(g->mutex);
    g->index->saveIndex(stem + ".hnsw");
    std::uint64_t size = 0;
    auto sum = file_checksum(stem + ".hnsw", size);
    if (!sum) return suite::make_error(500, "hnsw_save", "cannot read back " + stem + ".hnsw");
    std::ofstream(stem + ".sum") << size << ' ' << *sum << '\n';
  }
  std::ofstream marker(settings_.dir + "/CLEAN");
  marker << "clean\n";
  return marker ? suite::ok()
                : suite::status(suite::make_error(500, "hnsw_save", "cannot write CLEAN marker"));
}

}  // namespace rem
