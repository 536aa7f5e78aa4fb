// rem_ops: the adapter between the bus and the store: one sync handler per rem.* op of
// schemas/ops/rem-store.json. It reads the tenant from the envelope only (a body field
// named "tenant" is never looked at) and maps store errors to error replies unchanged.
// The handlers share the store and the engine, both thread-safe, so they run on any
// number of workers.
#pragma once

#include "query_engine.hpp"
#include "record_store.hpp"
#include "suite/bus_server.hpp"

namespace rem {

suite::sync_handlers make_rem_handlers(record_store& store, const query_engine& engine);

}  // namespace rem
