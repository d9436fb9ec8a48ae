#pragma once
// The hostile-input matrix: each case is a call a careless or hostile user could make and the exact
// outcome attune promises for it — an attune::error whose message names the argument, or a correct
// result the case checks itself. Cases register at static-initialisation time from the
// tests/hostile/matrix_*.cpp files; one Catch2 test runs them all (each in its own section) and
// prints the count. Any other outcome fails the case: no exception where one is due, an exception
// of another type, a message that does not name the argument, or (under ASan/UBSan in CI) a memory
// error or undefined behaviour.
//
//   HOSTILE_THROWS("streaming_cache: sinks + recent wraps", "recent") { attune::streaming_cache<float> c(1, 8, 8, 4, big); };
//   HOSTILE_OK("document_mask: ids for every key") { ...; CHECK(out == expected); };
#include <functional>
#include <string>
#include <vector>

#include "support.hpp"

namespace attune_test::hostile {

struct matrix_case {
    std::string name;
    std::string needle;  // empty: the call must succeed (and check its own result)
    bool expect_error;
    const char* file;
    int line;
    std::function<void()> body;
};

// A value the optimiser cannot see through. GCC 12 at -O3 follows a constant huge size past the
// library's (noreturn) size check into code that check rules out and reports -Warray-bounds /
// -Wstringop-overflow there; cases whose argument is such a size pass it through this.
inline attune::index_t opaque(attune::index_t v) {
    volatile attune::index_t x = v;
    return x;
}

inline std::vector<matrix_case>& registry() {
    static std::vector<matrix_case> cases;
    return cases;
}

struct registrar {
    std::string name, needle;
    bool expect_error;
    const char* file;
    int line;
    template <class F>
    int operator+(F&& body) const {
        registry().push_back({name, needle, expect_error, file, line, std::function<void()>(std::forward<F>(body))});
        return 0;
    }
};

}  // namespace attune_test::hostile

#define ATTUNE_HOSTILE_CAT2(a, b) a##b
#define ATTUNE_HOSTILE_CAT(a, b) ATTUNE_HOSTILE_CAT2(a, b)
/// A case that must throw attune::error whose message contains `needle` (the argument's name).
#define HOSTILE_THROWS(name, needle)                                  \
    static const int ATTUNE_HOSTILE_CAT(hostile_case_, __COUNTER__) = \
        ::attune_test::hostile::registrar{name, needle, true, __FILE__, __LINE__} + []()
/// A case that must succeed; its body checks the result with Catch2's CHECK / REQUIRE.
#define HOSTILE_OK(name)                                              \
    static const int ATTUNE_HOSTILE_CAT(hostile_case_, __COUNTER__) = \
        ::attune_test::hostile::registrar{name, "", false, __FILE__, __LINE__} + []()
