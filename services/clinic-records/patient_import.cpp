#include "patient_import.hpp"

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_set>

#include "suite/json_msgpack.hpp"
#include "suite/msgpack_value.hpp"

namespace clinic {

namespace {

struct column {
  const char* name;
  std::size_t max_length;
  bool required;
};

// The COPY columns, in order (row_index comes first).
constexpr std::array<column, 11> columns{{
    {"clinic_number", 32, true},
    {"first_name", 100, true},
    {"last_name", 100, true},
    {"date_of_birth", 10, false},
    {"gender", 10, false},
    {"phone", 20, false},
    {"area", 100, false},
    {"next_of_kin_name", 200, false},
    {"next_of_kin_phone", 20, false},
    {"insurance_type", 10, false},
    {"insurance_number", 50, false},
}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!is_digit(s[i])) return false;
  }
  int year = std::stoi(std::string(s.substr(0, 4)));
  int month = std::stoi(std::string(s.substr(5, 2)));
  int day = std::stoi(std::string(s.substr(8, 2)));
  if (year < 1850 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= days[month - 1] + (month == 2 && leap ? 1 : 0);
}

// ^\+?[0-9][0-9 -]{5,19}$, as the create schema says.
bool valid_phone(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.size() < 6 || s.size() > 20 || !is_digit(s.front())) return false;
  for (char c : s) {
    if (!is_digit(c) && c != ' ' && c != '-') return false;
  }
  return true;
}

std::optional<std::string> check_value(std::string_view field, std::string_view value) {
  if (field == "date_of_birth" && !valid_date(value)) return "must be a date YYYY-MM-DD";
  if (field == "gender" && value != "male" && value != "female" && value != "other") {
    return "must be one of male, female, other";
  }
  if ((field == "phone" || field == "next_of_kin_phone") && !valid_phone(value))
    return "is not a phone number";
  if (field == "insurance_type" && value != "sha" && value != "private" && value != "cash") {
    return "must be one of sha, private, cash";
  }
  return std::nullopt;
}

const msgpack::object* rows_of(const msgpack::object& body) {
  const auto* rows = suite::find_field(body, "patients");
  return rows && rows->type == msgpack::type::ARRAY ? rows : nullptr;
}

constexpr std::size_t analyze_after_rows = 1000;

std::string row_field(std::size_t index, std::string_view field) {
  return "patients[" + std::to_string(index) + "]" +
         (field.empty() ? "" : "." + std::string(field));
}

}  // namespace

std::vector<suite::error_detail> check_patient_rows(const msgpack::object& body) {
  std::vector<suite::error_detail> problems;
  const auto* rows = rows_of(body);
  if (!rows) return {{"patients", "is required: an array of patients"}};
  if (rows->via.array.size == 0) return {{"patients", "must not be empty"}};
  if (rows->via.array.size > max_import_rows) {
    return {{"patients", "at most " + std::to_string(max_import_rows) + " rows per import"}};
  }
  std::unordered_set<std::string_view> clinic_numbers;
  for (std::size_t i = 0; i < rows->via.array.size; ++i) {
    const auto& row = rows->via.array.ptr[i];
    if (row.type != msgpack::type::MAP) {
      problems.push_back({row_field(i, ""), "must be an object"});
      continue;
    }
    for (std::uint32_t k = 0; k < row.via.map.size; ++k) {
      const auto& key = row.via.map.ptr[k].key;
      auto name = key.type == msgpack::type::STR ? suite::as_string_view(key) : std::string_view{};
      bool known = false;
      for (const auto& c : columns) known = known || name == c.name;
      if (!known) problems.push_back({row_field(i, name), "is not a patient field"});
    }
    for (const auto& c : columns) {
      const auto* value = suite::find_field(row, c.name);
      if (!value || value->type == msgpack::type::NIL) {
        if (c.required) problems.push_back({row_field(i, c.name), "is required"});
        continue;
      }
      if (value->type != msgpack::type::STR) {
        problems.push_back({row_field(i, c.name), "must be a string"});
        continue;
      }
      auto text = suite::as_string_view(*value);
      if (c.required && text.empty()) {
        problems.push_back({row_field(i, c.name), "must not be empty"});
      } else if (text.size() > c.max_length) {
        problems.push_back(
            {row_field(i, c.name), "is longer than " + std::to_string(c.max_length)});
      } else if (auto bad = check_value(c.name, text)) {
        problems.push_back({row_field(i, c.name), *bad});
      } else if (std::string_view(c.name) == "clinic_number" &&
                 !clinic_numbers.insert(text).second) {
        problems.push_back({row_field(i, c.name), "repeats an earlier row's clinic number"});
      }
    }
  }
  return problems;
}

suite::reply import_patients(pqxx::connection& connection, const suite::request& req) {
  auto problems = check_patient_rows(req.body.object);
  if (!problems.empty()) {
    auto message =
        std::to_string(problems.size()) + " problem(s) in the rows; nothing was imported";
    return suite::error_reply(req.id,
                              suite::make_error(400, "bad_rows", message, std::move(problems)));
  }
  const auto& rows = *rows_of(req.body.object);

  pqxx::work txn(connection);
  txn.exec0(
      "CREATE TEMP TABLE patient_import (row_index integer, clinic_number text, first_name text, "
      "last_name text,"
      " date_of_birth date, gender text, phone text, area text, next_of_kin_name text, "
      "next_of_kin_phone text,"
      " insurance_type text, insurance_number text) ON COMMIT DROP");
  {
    pqxx::stream_to copy(txn, "patient_import");
    std::array<std::string, columns.size()> texts;
    std::array<const char*, columns.size()> values{};
    for (std::size_t i = 0; i < rows.via.array.size; ++i) {
      const auto& row = rows.via.array.ptr[i];
      for (std::size_t c = 0; c < columns.size(); ++c) {
        auto text = suite::string_field(row, columns[c].name);
        texts[c] = text ? std::string(*text) : std::string();
        values[c] = text ? texts[c].c_str() : nullptr;  // nullptr is written as NULL
      }
      copy << std::make_tuple(static_cast<int>(i), values[0], values[1], values[2], values[3],
                              values[4], values[5], values[6], values[7], values[8], values[9],
                              values[10]);
    }
    copy.complete();
  }
  auto taken = txn.exec(
      "SELECT i.row_index, i.clinic_number FROM patient_import i JOIN patients p USING "
      "(clinic_number)"
      " ORDER BY i.row_index");
  if (!taken.empty()) {
    std::vector<suite::error_detail> details;
    for (const auto& row : taken) {
      details.push_back({row_field(row[0].as<std::size_t>(), "clinic_number"),
                         "clinic number " + row[1].as<std::string>() + " is already taken"});
    }
    auto message =
        std::to_string(details.size()) + " clinic number(s) already taken; nothing was imported";
    return suite::error_reply(req.id,
                              suite::make_error(409, "conflict", message, std::move(details)));
  }
  auto inserted = txn.exec_params1(
      "WITH ins AS ("
      "  INSERT INTO patients (clinic_number, first_name, last_name, date_of_birth, gender, phone, "
      "area,"
      "                        next_of_kin_name, next_of_kin_phone, insurance_type, "
      "insurance_number)"
      "  SELECT clinic_number, first_name, last_name, date_of_birth, gender, phone, area, "
      "next_of_kin_name,"
      "         next_of_kin_phone, coalesce(insurance_type, 'cash'), insurance_number"
      "    FROM patient_import ORDER BY row_index"
      "  RETURNING id, clinic_number),"
      " audited AS (INSERT INTO audit_log (tenant, principal, action, entity, entity_id, "
      "patient_id)"
      "             SELECT $1, $2, 'patients.bulk', 'patient', id, id FROM ins)"
      " SELECT json_build_object('imported', count(*), 'ids', coalesce(json_agg(ins.id ORDER BY "
      "i.row_index), '[]'))"
      "   FROM ins JOIN patient_import i USING (clinic_number)",
      req.tenant, req.principal);
  txn.commit();
  // A large import changes the table's shape at once; fresh statistics keep the
  // planner on the indexes without waiting for autovacuum.
  if (rows.via.array.size >= analyze_after_rows) {
    pqxx::nontransaction analyze(connection);
    analyze.exec0("ANALYZE patients");
  }
  auto field = inserted[0];
  auto body = suite::json_to_msgpack(std::string_view(field.c_str(), field.size()), nullptr);
  if (!body) return suite::error_reply(req.id, body.error());
  return suite::ok_reply(req.id, std::move(*body), 201);
}

}  // namespace clinic
