#include "rem_ops.hpp"

#include "key_codec.hpp"

namespace rem {
namespace {

using suite::msgpack_packer;
using suite::pack_string;

suite::reply error_of(const suite::request& r, suite::error_info e) {
  return suite::error_reply(r.id, std::move(e));
}

// The record's own zone becomes the reply body's: no pack and parse round trip.
suite::reply record_reply(const suite::request& r, record rec) {
  std::shared_ptr<msgpack::zone> zone(std::move(rec.handle.zone()));
  return suite::ok_reply(r.id, suite::msgpack_value{std::move(zone), rec.handle.get()});
}

suite::reply missing_field(const suite::request& r, const char* field) {
  return error_of(r, suite::make_error(400, "bad_request", std::string(field) + " is required",
                                       {{field, "is required"}}));
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    out.push_back(c);
    if (c == '\'') out.push_back('\'');
  }
  return out + "'";
}

}  // namespace

suite::sync_handlers make_rem_handlers(record_store& store, const query_engine& engine) {
  suite::sync_handlers h;

  h["rem.schemas.register"] = [&store](const suite::request& r) {
    auto schema = parse_type_schema(r.body.object);
    if (!schema) return error_of(r, schema.error());
    bool replaced = store.schema(r.tenant, (*schema)->name) != nullptr;
    if (auto s = store.register_schema(r.tenant, *schema); !s) return error_of(r, s.error());
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) {
                             p.pack_map(2);
                             pack_string(p, "name");
                             pack_string(p, (*schema)->name);
                             pack_string(p, "replaced");
                             p.pack(replaced);
                           }),
                           replaced ? 200 : 201);
  };

  h["rem.schemas.list"] = [&store](const suite::request& r) {
    auto schemas = store.schemas(r.tenant);
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) {
                             p.pack_map(1);
                             pack_string(p, "schemas");
                             p.pack_array(static_cast<std::uint32_t>(schemas.size()));
                             for (const auto& s : schemas) {
                               auto handle = suite::unpack_stored(s->registration.data(),
                                                                  s->registration.size());
                               p.pack(handle.get());
                             }
                           }));
  };

  h["rem.schemas.get"] = [&store](const suite::request& r) {
    auto name = suite::string_field(r.body.object, "name");
    if (!name) return missing_field(r, "name");
    auto schema = store.schema(r.tenant, *name);
    if (!schema)
      return error_of(r, suite::make_error(404, "unknown_type",
                                           "type " + std::string(*name) + " is not registered"));
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) {
                             auto handle = suite::unpack_stored(schema->registration.data(),
                                                                schema->registration.size());
                             p.pack(handle.get());
                           }));
  };

  auto pack_outcome = [](msgpack_packer& p, const upsert_outcome& o) {
    p.pack_map(3);
    pack_string(p, "id");
    pack_string(p, o.id);
    pack_string(p, "key");
    pack_string(p, o.key);
    pack_string(p, "created");
    p.pack(o.created);
  };

  h["rem.records.upsert"] = [&store, pack_outcome](const suite::request& r) {
    auto type = suite::string_field(r.body.object, "type");
    const auto* rec = suite::find_field(r.body.object, "record");
    if (!type) return missing_field(r, "type");
    if (!rec) return missing_field(r, "record");
    auto outcome = store.upsert(r.tenant, std::string(*type), {rec});
    if (!outcome) return error_of(r, outcome.error());
    const auto& o = outcome->front();
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) { pack_outcome(p, o); }),
                           o.created ? 201 : 200);
  };

  h["rem.records.upsert_batch"] = [&store, pack_outcome](const suite::request& r) {
    auto type = suite::string_field(r.body.object, "type");
    const auto* list = suite::find_field(r.body.object, "records");
    if (!type) return missing_field(r, "type");
    if (!list || list->type != msgpack::type::ARRAY) return missing_field(r, "records");
    std::vector<const msgpack::object*> records;
    for (std::uint32_t i = 0; i < list->via.array.size; ++i)
      records.push_back(&list->via.array.ptr[i]);
    auto outcomes = store.upsert(r.tenant, std::string(*type), records);
    if (!outcomes) return error_of(r, outcomes.error());
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) {
                             p.pack_map(2);
                             pack_string(p, "upserted");
                             p.pack_array(static_cast<std::uint32_t>(outcomes->size()));
                             for (const auto& o : *outcomes) pack_outcome(p, o);
                             pack_string(p, "count");
                             p.pack_uint64(outcomes->size());
                           }),
                           201);
  };

  h["rem.records.lookup"] = [&store](const suite::request& r) {
    auto type = suite::string_field(r.body.object, "type");
    auto key = suite::string_field(r.body.object, "key");
    if (!type) return missing_field(r, "type");
    if (!key) return missing_field(r, "key");
    auto rec = store.get_by_key(r.tenant, *type, *key);
    return rec ? record_reply(r, std::move(*rec)) : error_of(r, rec.error());
  };

  h["rem.records.get"] = [&store](const suite::request& r) {
    auto id = suite::string_field(r.body.object, "id");
    if (!id) return missing_field(r, "id");
    auto rec = store.get(r.tenant, *id);
    return rec ? record_reply(r, std::move(*rec)) : error_of(r, rec.error());
  };

  h["rem.records.delete"] = [&store](const suite::request& r) {
    auto id = suite::string_field(r.body.object, "id");
    if (!id) return missing_field(r, "id");
    if (auto s = store.remove(r.tenant, *id); !s) return error_of(r, s.error());
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) {
                             p.pack_map(2);
                             pack_string(p, "id");
                             pack_string(p, *id);
                             pack_string(p, "deleted");
                             p.pack(true);
                           }));
  };

  h["rem.edges.add"] = [&store](const suite::request& r) {
    auto from = suite::string_field(r.body.object, "from");
    auto to = suite::string_field(r.body.object, "to");
    auto rel = suite::string_field(r.body.object, "rel");
    if (!from) return missing_field(r, "from");
    if (!to) return missing_field(r, "to");
    if (!rel) return missing_field(r, "rel");
    if (auto s = store.add_edge(r.tenant, *from, *to, *rel,
                                suite::find_field(r.body.object, "properties"));
        !s) {
      return error_of(r, s.error());
    }
    return suite::ok_reply(r.id, suite::pack_value([&](msgpack_packer& p) {
                             p.pack_map(3);
                             pack_string(p, "from");
                             pack_string(p, *from);
                             pack_string(p, "to");
                             pack_string(p, *to);
                             pack_string(p, "rel");
                             pack_string(p, *rel);
                           }),
                           201);
  };

  h["rem.records.traverse"] = [&engine](const suite::request& r) {
    auto id = suite::string_field(r.body.object, "id");
    if (!id || !valid_id(*id)) return missing_field(r, "id");
    std::string text = "TRAVERSE FROM " + quoted(*id) + " DEPTH " +
                       std::to_string(suite::int_field(r.body.object, "depth").value_or(1)) +
                       " DIRECTION " +
                       std::string(suite::string_field(r.body.object, "direction").value_or("out"));
    if (auto rel = suite::string_field(r.body.object, "rel")) text += " TYPE " + quoted(*rel);
    auto out = engine.run(r.tenant, text, r.deadline_ms);
    return out ? suite::ok_reply(r.id, *out) : error_of(r, out.error());
  };

  h["rem.query"] = [&engine](const suite::request& r) {
    auto text = suite::string_field(r.body.object, "query");
    if (!text) return missing_field(r, "query");
    auto out = engine.run(r.tenant, *text, r.deadline_ms);
    return out ? suite::ok_reply(r.id, *out) : error_of(r, out.error());
  };

  return h;
}

}  // namespace rem
