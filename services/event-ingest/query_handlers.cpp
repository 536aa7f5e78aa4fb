#include "query_handlers.hpp"

#include <algorithm>
#include <charconv>

namespace event_ingest {
namespace {

using suite::reply;
using suite::request;

suite::msgpack_value finish(const msgpack::sbuffer& buffer) {
  return suite::parse_msgpack(buffer.data(), buffer.size()).value();
}

std::optional<std::string> text(const msgpack::object& body, std::string_view key) {
  auto v = suite::string_field(body, key);
  if (!v) return std::nullopt;
  return std::string(*v);
}

suite::result<std::optional<std::uint64_t>> cursor_field(const msgpack::object& body) {
  auto cursor = suite::string_field(body, "cursor");
  if (!cursor || cursor->empty()) return std::optional<std::uint64_t>();
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(cursor->data(), cursor->data() + cursor->size(), value);
  if (ec != std::errc() || end != cursor->data() + cursor->size()) {
    return suite::make_error(400, "validation_failed", "invalid cursor",
                             {{"cursor", "is not a cursor this API returned"}});
  }
  return std::optional<std::uint64_t>(value);
}

void pack_events(suite::msgpack_packer& p, msgpack::sbuffer& buffer,
                 const std::vector<std::string>& events) {
  p.pack_array(static_cast<std::uint32_t>(events.size()));
  for (const auto& e : events) buffer.write(e.data(), e.size());
}

reply stats(const std::shared_ptr<const event_store>& store, const request& req) {
  auto s = store->read_stats();
  if (!s) return suite::error_reply(req.id, s.error());
  return suite::ok_reply(req.id,
                         suite::pack_value([&](suite::msgpack_packer& p) { pack_stats(p, *s); }));
}

reply list_events(const std::shared_ptr<const event_store>& store, const request& req) {
  const auto& body = req.body.object;
  event_query q;
  q.session_id = text(body, "session_id");
  q.agent_type = text(body, "agent_type");
  q.event_type = text(body, "event_type");
  q.since_ms = suite::int_field(body, "since");
  q.until_ms = suite::int_field(body, "until");
  q.limit = static_cast<std::size_t>(
      std::clamp<std::int64_t>(suite::int_field(body, "limit").value_or(100), 1, 1000));
  auto cursor = cursor_field(body);
  if (!cursor) return suite::error_reply(req.id, cursor.error());
  q.before_seq = *cursor;
  auto page = store->query_events(q);
  if (!page) return suite::error_reply(req.id, page.error());
  msgpack::sbuffer buffer;
  suite::msgpack_packer p(buffer);
  p.pack_map(2);
  suite::pack_string(p, "events");
  pack_events(p, buffer, page->events);
  suite::pack_string(p, "next_cursor");
  if (page->next_cursor)
    suite::pack_string(p, std::to_string(*page->next_cursor));
  else
    p.pack_nil();
  return suite::ok_reply(req.id, finish(buffer));
}

reply list_sessions(const std::shared_ptr<const event_store>& store, const request& req) {
  const auto& body = req.body.object;
  auto limit = static_cast<std::size_t>(
      std::clamp<std::int64_t>(suite::int_field(body, "limit").value_or(100), 1, 1000));
  auto after = text(body, "cursor");
  if (after && after->empty()) after.reset();
  auto page = store->list_sessions(after, limit);
  if (!page) return suite::error_reply(req.id, page.error());
  msgpack::sbuffer buffer;
  suite::msgpack_packer p(buffer);
  p.pack_map(2);
  suite::pack_string(p, "sessions");
  p.pack_array(static_cast<std::uint32_t>(page->sessions.size()));
  for (const auto& s : page->sessions) pack_session(p, s);
  suite::pack_string(p, "next_cursor");
  if (page->next_cursor)
    suite::pack_string(p, *page->next_cursor);
  else
    p.pack_nil();
  return suite::ok_reply(req.id, finish(buffer));
}

reply get_session(const std::shared_ptr<const event_store>& store, const request& req) {
  const auto& body = req.body.object;
  auto id = text(body, "id").value_or("");
  auto session = store->read_session(id);
  if (!session) return suite::error_reply(req.id, session.error());
  if (!*session)
    return suite::error_reply(req.id, suite::make_error(404, "not_found", "no session " + id));
  event_query q;
  q.session_id = id;
  q.limit = static_cast<std::size_t>(
      std::clamp<std::int64_t>(suite::int_field(body, "limit").value_or(100), 0, 1000));
  std::vector<std::string> events;
  if (q.limit > 0) {
    auto page = store->query_events(q);
    if (!page) return suite::error_reply(req.id, page.error());
    events = std::move(page->events);
    std::reverse(events.begin(), events.end());
  }
  msgpack::sbuffer buffer;
  suite::msgpack_packer p(buffer);
  pack_session(p, **session, 1);
  suite::pack_string(p, "events");
  pack_events(p, buffer, events);
  return suite::ok_reply(req.id, finish(buffer));
}

}  // namespace

suite::sync_handlers make_query_handlers(std::shared_ptr<const event_store> store,
                                         std::chrono::steady_clock::time_point started) {
  suite::sync_handlers handlers;
  handlers["events.stats"] = [store](const request& req) { return stats(store, req); };
  handlers["events.list"] = [store](const request& req) { return list_events(store, req); };
  handlers["sessions.list"] = [store](const request& req) { return list_sessions(store, req); };
  handlers["sessions.get"] = [store](const request& req) { return get_session(store, req); };
  handlers["events.health"] = [started](const request& req) {
    auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto sse_clients = suite::int_field(req.body.object, "gateway_sse_clients").value_or(0);
    return suite::ok_reply(req.id, suite::pack_value([&](suite::msgpack_packer& p) {
                             p.pack_map(3);
                             suite::pack_string(p, "status");
                             suite::pack_string(p, "ok");
                             suite::pack_string(p, "uptime");
                             p.pack_double(uptime);
                             suite::pack_string(p, "sse_clients");
                             p.pack_int64(sse_clients);
                           }));
  };
  return handlers;
}

namespace {

constexpr std::size_t replay_page = 256;

void replay(const event_store& store, const suite::bus_job& job) {
  suite::mark_started(job);
  const auto& body = job.req.body.object;
  auto after = suite::int_field(body, "after");
  if (!after || *after < 0) {
    suite::respond_error(job, suite::make_error(400, "validation_failed", "invalid after",
                                                {{"after", "must be a seq (an integer >= 0)"}}));
    return;
  }
  auto limit = suite::int_field(body, "limit").value_or(100000);
  if (limit < 1 || limit > 100000) {
    suite::respond_error(job, suite::make_error(400, "validation_failed", "invalid limit",
                                                {{"limit", "must be 1 to 100000"}}));
    return;
  }
  msgpack::sbuffer page;
  std::size_t in_page = 0;
  bool stopped = false;
  // A page is packed as the array's elements first; the header is added when it is sent.
  auto send_page = [&](bool last, const event_store::scan_outcome* outcome) {
    msgpack::sbuffer out;
    suite::msgpack_packer p(out);
    p.pack_map(last ? 3 : 1);
    suite::pack_string(p, "events");
    p.pack_array(static_cast<std::uint32_t>(in_page));
    out.write(page.data(), page.size());
    if (last) {
      suite::pack_string(p, "last_seq");
      p.pack_uint64(outcome->last_seq);
      suite::pack_string(p, "truncated");
      p.pack(outcome->truncated);
    }
    auto value = suite::parse_msgpack(out.data(), out.size()).value();
    if (last)
      suite::respond_ok(job, std::move(value));
    else
      suite::respond_part_ok(job, std::move(value));
    page.clear();
    in_page = 0;
  };
  auto outcome =
      store.scan_after(static_cast<std::uint64_t>(*after), static_cast<std::size_t>(limit),
                       [&](std::uint64_t seq, std::string_view packed) {
                         if (stopped) return;
                         suite::msgpack_packer p(page);
                         p.pack_map(2);
                         suite::pack_string(p, "seq");
                         p.pack_uint64(seq);
                         suite::pack_string(p, "event");
                         page.write(packed.data(), packed.size());
                         if (++in_page == replay_page) {
                           send_page(false, nullptr);
                           stopped = suite::cancelled(job);  // nobody reads on
                         }
                       });
  if (stopped) return;
  if (!outcome) {
    suite::respond_error(job, outcome.error());
    return;
  }
  send_page(true, &*outcome);
}

}  // namespace

caf::actor spawn_replay_workers(caf::actor_system& system, std::shared_ptr<const event_store> store,
                                std::size_t workers) {
  return caf::actor_pool::make(
      system.dummy_execution_unit(), std::max<std::size_t>(1, workers),
      [&system, store] {
        return system.spawn(
            [](caf::event_based_actor*, std::shared_ptr<const event_store> s) -> caf::behavior {
              return {[s](const suite::bus_job& job) { replay(*s, job); }};
            },
            store);
      },
      caf::actor_pool::round_robin());
}

}  // namespace event_ingest
