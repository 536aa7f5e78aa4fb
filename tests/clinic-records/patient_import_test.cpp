// The row checks of the bulk import: every bad row is found, each named by index and field.
#include "patient_import.hpp"

#include <doctest/doctest.h>

#include "suite/json_msgpack.hpp"

namespace {
std::vector<suite::error_detail> problems_of(const std::string& json) {
  auto body = suite::json_to_msgpack(json, nullptr);
  REQUIRE(body.ok());
  return clinic::check_patient_rows(body->object);
}
}  // namespace

TEST_CASE("good rows pass") {
  CHECK(
      problems_of(
          R"({"patients":[{"clinic_number":"A1","first_name":"A","last_name":"B","date_of_birth":"2000-02-29",)"
          R"("gender":"female","phone":"+254 712-345678","insurance_type":"sha","area":null}]})")
          .empty());
}

TEST_CASE("every bad row is reported by index and field") {
  auto problems = problems_of(
      R"({"patients":[{"clinic_number":"A1","first_name":"A","last_name":"B"},)"
      R"({"clinic_number":"A2","last_name":"B","date_of_birth":"2001-02-29"},)"
      R"({"clinic_number":"A1","first_name":"A","last_name":"B","gender":"x","shoe_size":"9"},)"
      R"({"clinic_number":"A4","first_name":7,"last_name":"B","phone":"call me"}, 5]})");
  std::vector<std::string> fields;
  for (const auto& p : problems) fields.push_back(p.field);
  CHECK(fields == std::vector<std::string>{"patients[1].first_name", "patients[1].date_of_birth",
                                           "patients[2].shoe_size", "patients[2].clinic_number",
                                           "patients[2].gender", "patients[3].first_name",
                                           "patients[3].phone", "patients[4]"});
}

TEST_CASE("the rows array itself") {
  CHECK(problems_of(R"({})").at(0).field == "patients");
  CHECK(problems_of(R"({"patients":[]})").at(0).message == "must not be empty");
}
