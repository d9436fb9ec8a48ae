// Runs every case of the hostile-input matrix (tests/hostile/matrix.hpp) and prints the count.
#include <cstdio>
#include <exception>
#include <set>

#include "hostile/matrix.hpp"

using namespace attune_test::hostile;

TEST_CASE("hostile matrix: every case has the promised outcome", "[hostile_matrix]") {
    const auto& cases = registry();
    std::set<std::string> names;
    attune::index_t errors = 0;
    for (const auto& c : cases) {
        INFO(c.file << ":" << c.line << ": " << c.name);
        CHECK(names.insert(c.name).second);  // names identify cases in reports: unique
        if (c.expect_error) {
            ++errors;
            try {
                c.body();
                FAIL_CHECK("no attune::error was thrown; expected one naming '" << c.needle << "'");
            } catch (const attune::error& e) {
                INFO("message: " << e.what());
                CHECK(std::string(e.what()).find(c.needle) != std::string::npos);
            } catch (const std::exception& e) {
                FAIL_CHECK("an exception other than attune::error: " << e.what());
            } catch (...) {
                FAIL_CHECK("a failed REQUIRE or a non-std exception");
            }
        } else {
            try {
                c.body();
            } catch (const std::exception& e) {
                FAIL_CHECK("unexpected exception: " << e.what());
            } catch (...) {
                FAIL_CHECK("a failed REQUIRE or a non-std exception");
            }
        }
    }
    std::printf("hostile matrix: %zu cases (%td must throw attune::error, %td must give a correct result)\n", cases.size(), errors,
                static_cast<attune::index_t>(cases.size()) - errors);
    CHECK(cases.size() >= 300);
}
