#include "suite/op_catalogue.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace suite {
namespace {

std::string member(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

error_info bad(const std::string& what) {
  return make_error(500, "bad_catalogue", "op catalogue: " + what);
}

}  // namespace

result<op_catalogue> op_catalogue::load(const std::vector<embedded_file>& files) {
  std::map<std::string_view, std::string_view> by_path;
  for (const auto& f : files) by_path[f.path] = f.content;
  auto ops_json = by_path.find("ops.json");
  if (ops_json == by_path.end()) return bad("ops.json is missing");

  rapidjson::Document doc;
  doc.Parse(ops_json->second.data(), ops_json->second.size());
  if (doc.HasParseError())
    return bad(std::string("ops.json is not valid JSON: ") +
               rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject() || !doc.HasMember("ops") || !doc["ops"].IsArray())
    return bad("ops.json has no \"ops\" array");

  op_catalogue catalogue;
  if (doc.HasMember("services") && doc["services"].IsArray()) {
    for (const auto& s : doc["services"].GetArray()) {
      if (s.IsString()) catalogue.services_.emplace_back(s.GetString());
    }
  }
  // Each service keeps its ops in ops/<service>.json; they are read after ops.json.
  std::vector<rapidjson::Document> service_docs;
  for (const auto& [path, content] : by_path) {
    if (!path.starts_with("ops/")) continue;
    service_docs.emplace_back();
    auto& extra = service_docs.back();
    extra.Parse(content.data(), content.size());
    if (extra.HasParseError() || !extra.IsObject() || !extra.HasMember("ops") ||
        !extra["ops"].IsArray()) {
      return bad(std::string(path) + " is not valid JSON with an \"ops\" array");
    }
  }
  std::vector<const rapidjson::Value*> entries;
  for (const auto& entry : doc["ops"].GetArray()) entries.push_back(&entry);
  for (const auto& extra : service_docs) {
    for (const auto& entry : extra["ops"].GetArray()) entries.push_back(&entry);
  }
  std::set<std::string> names, routes;
  std::map<std::string, std::shared_ptr<const json_schema>> compiled;
  static const std::set<std::string> methods{"GET", "POST", "PUT", "PATCH", "DELETE"};
  for (const auto* entry_ptr : entries) {
    const auto& entry = *entry_ptr;
    if (!entry.IsObject()) return bad("an entry of \"ops\" is not an object");
    op_spec spec;
    spec.op = member(entry, "op");
    spec.service = member(entry, "service");
    spec.method = member(entry, "method");
    spec.route = member(entry, "route");
    spec.kind = member(entry, "kind");
    spec.topic = member(entry, "topic");
    spec.summary = member(entry, "summary");
    if (auto h = entry.FindMember("headers"); h != entry.MemberEnd()) {
      if (!h->value.IsArray()) return bad("op '" + spec.op + "' has a non-array \"headers\"");
      for (const auto& name : h->value.GetArray()) {
        if (!name.IsString()) return bad("op '" + spec.op + "' has a non-string header name");
        spec.headers.emplace_back(name.GetString());
      }
    }
    if (auto a = entry.FindMember("anonymous_in_dev"); a != entry.MemberEnd()) {
      if (!a->value.IsBool()) return bad("op '" + spec.op + "' has a non-boolean anonymous_in_dev");
      spec.anonymous_in_dev = a->value.GetBool();
    }
    if (spec.kind.empty()) spec.kind = "call";
    const std::string who = "op '" + spec.op + "'";
    if (auto r = entry.FindMember("role"); r != entry.MemberEnd()) {
      if (r->value.IsString()) {
        spec.roles.emplace_back(r->value.GetString());
      } else if (r->value.IsArray()) {
        for (const auto& name : r->value.GetArray()) {
          if (!name.IsString()) return bad(who + " has a non-string role");
          spec.roles.emplace_back(name.GetString());
        }
      }
      if (spec.roles.empty() ||
          std::find(spec.roles.begin(), spec.roles.end(), "") != spec.roles.end())
        return bad(who + " has an empty \"role\" (a name or a non-empty list of names)");
    } else {
      spec.roles.emplace_back("admin");  // an op nobody classified fails closed
    }
    if (spec.op.empty()) return bad("an op has no name");
    if (!names.insert(spec.op).second) return bad(who + " is listed twice");
    if (spec.service.empty()) return bad(who + " has no service");
    if (spec.service != "*" && std::find(catalogue.services_.begin(), catalogue.services_.end(),
                                         spec.service) == catalogue.services_.end()) {
      return bad(who + " names unknown service '" + spec.service + "'");
    }
    if (!methods.count(spec.method)) return bad(who + " has no valid method");
    if (!spec.route.starts_with("/")) return bad(who + " has no route starting with /");
    if (!routes.insert(spec.method + " " + spec.route).second)
      return bad(who + " repeats route " + spec.route);
    if (spec.kind != "call" && spec.kind != "sse")
      return bad(who + " has kind '" + spec.kind + "'");
    if (spec.kind == "sse" && spec.topic.empty())
      return bad(who + " is an SSE route without a topic");
    if (spec.service == "*" && spec.route.find("{service}") == std::string::npos) {
      return bad(who + " is for every service but its route has no {service}");
    }
    spec.resume_op = member(entry, "resume_op");
    if (!spec.resume_op.empty() && spec.kind != "sse")
      return bad(who + " has a resume_op but is not an SSE route");
    spec.mark_op = member(entry, "mark_op");
    if (!spec.mark_op.empty() && spec.kind != "sse")
      return bad(who + " has a mark_op but is not an SSE route");
    std::string schema_path = member(entry, "request_schema");
    if (!schema_path.empty()) {
      auto cached = compiled.find(schema_path);
      if (cached == compiled.end()) {
        auto file = by_path.find(schema_path);
        if (file == by_path.end()) return bad(who + " refers to missing schema " + schema_path);
        auto schema = json_schema::compile(file->second);
        if (!schema) return bad(who + ": " + schema_path + ": " + schema.error().message);
        cached = compiled.emplace(schema_path, *schema).first;
      }
      spec.schema = cached->second;
    }
    catalogue.ops_.push_back(std::move(spec));
  }
  for (const auto& spec : catalogue.ops_) {
    for (const auto& [field, named] :
         {std::pair<const char*, const std::string*>{"resume_op", &spec.resume_op},
          {"mark_op", &spec.mark_op}}) {
      if (named->empty()) continue;
      const auto* target = catalogue.find(*named);
      if (!target || target->service != spec.service || target->kind != "call")
        return bad("op '" + spec.op + "' names " + field + " '" + *named +
                   "', which is not a call op of " + spec.service);
    }
  }
  return catalogue;
}

const op_spec* op_catalogue::find(std::string_view op) const {
  for (const auto& spec : ops_) {
    if (spec.op == op) return &spec;
  }
  return nullptr;
}

std::vector<const op_spec*> op_catalogue::ops_of(std::string_view service) const {
  std::vector<const op_spec*> out;
  for (const auto& spec : ops_) {
    if (spec.service == service || spec.service == "*") out.push_back(&spec);
  }
  return out;
}

}  // namespace suite
