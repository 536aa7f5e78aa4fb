// response_head: the status line and headers of an HTTP/1.1 response, written by hand
// into one string. Beast's serializer walks its field list and buffer views per write;
// on a small reply that was a third of the gateway's user-space time per request.
//
// A head is begun, given headers, and ended:
//   begin_head(out, 200, "application/json", keep_alive);
//   add_header(out, "Content-Length", "2");
//   end_head(out);
// Headers the writer owns (Content-Type, Content-Length, Transfer-Encoding, Connection)
// are set by the caller alone: a service's copy of one is left out (service_headers),
// as is any name or value that could split the head (CR, LF; a colon in a name).
#pragma once

#include <string>
#include <string_view>

#include <msgpack.hpp>

namespace suite::gateway {

// "HTTP/1.1 <status> <reason>", then Content-Type (unless empty) and, unless keep_alive,
// Connection: close.
void begin_head(std::string& out, int status, std::string_view content_type, bool keep_alive);

// Appends "name: value"; false (and nothing appended) when either could split the head.
bool add_header(std::string& out, std::string_view name, std::string_view value);

// Appends the str -> str entries of a service-made reply's "$http".headers map (nullptr,
// or anything but a map: none), except those the writer owns and those add_header refuses.
void add_service_headers(std::string& out, const msgpack::object* headers);

// The blank line that ends the head.
inline void end_head(std::string& out) { out += "\r\n"; }

}  // namespace suite::gateway
