// The one way threads hand frames to a socket-owning thread (design.md: never a shared
// socket behind a mutex): the owner binds a PULL socket on an inproc endpoint, and any
// thread sends to it through a PUSH socket of its own, kept thread-locally, so each
// socket is only ever used by the thread that created it.
//
// bus_context() is the process's one ZeroMQ context. It is deliberately never
// destroyed: per-thread sockets close at thread exit, which may come after main returns,
// and zmq_ctx_term would wait for them.
#pragma once

#include <string>

#include <zmq.hpp>

namespace suite {

zmq::context_t& bus_context();

// A fresh, process-unique inproc endpoint name with the given prefix.
std::string unique_inproc_endpoint(const std::string& prefix);

// Binds the receiving end: a PULL socket without a queue limit (senders never block).
zmq::socket_t bind_mailbox(const std::string& endpoint);

// Sends `count` frames as one message to the mailbox at `endpoint` from the calling
// thread's own PUSH socket. Never blocks. Thread-safe.
void post_to_mailbox(const std::string& endpoint, zmq::message_t* frames, std::size_t count);

}  // namespace suite
