// detail::append_items (cache/rows.hpp), the append plan of quant_kv_cache and paged_kv_cache: every
// (K or V, head, token) of a chunk in exactly one item, items of at most `tokens` tokens, each item
// with a row buffer of its own over an executor, and a decode step's few rows on the caller with
// one buffer. The caches' own tests check the bytes their appends write through it.
#include <vector>

#include <catch2/catch.hpp>

#include "attune/cache/rows.hpp"
#include "support.hpp"

using attune::index_t;
using attune::detail::append_items;

TEST_CASE("append_items covers a chunk's K and V rows once, in items of at most 128 tokens", "[core]") {
    for (const index_t heads : {1, 3, 8, 200})
        for (const index_t n : {1, 7, 15, 63, 127, 128, 129, 300}) {
            CAPTURE(heads, n);
            const append_items items(n, heads);
            const bool on_caller = n * heads < append_items::tokens;
            CHECK(items.buffers() == (on_caller ? 1 : items.count()));
            std::vector<int> seen(static_cast<std::size_t>(2 * heads * n), 0);
            std::vector<int> buffer_used(static_cast<std::size_t>(items.buffers()), 0);
            std::vector<float> rows(static_cast<std::size_t>(items.buffers() * 4));
            index_t reported = -1;
            items.run(attune_test::reversed_executor{4, &reported}, rows.data(), 4, [&](const append_items::item& it, float* row) {
                REQUIRE(it.head >= 0);
                REQUIRE(it.head < heads);
                REQUIRE(0 <= it.t0);
                REQUIRE(it.t0 < it.t1);
                REQUIRE(it.t1 <= n);
                REQUIRE(it.t1 - it.t0 <= append_items::tokens);
                const index_t b = (row - rows.data()) / 4;
                REQUIRE(row == rows.data() + b * 4);
                REQUIRE(b < items.buffers());
                ++buffer_used[static_cast<std::size_t>(b)];
                for (index_t t = it.t0; t < it.t1; ++t) ++seen[static_cast<std::size_t>(((it.key ? 0 : 1) * heads + it.head) * n + t)];
            });
            CHECK(reported == (on_caller ? -1 : items.count()));  // the executor only for a prompt's many rows
            for (const int s : seen) REQUIRE(s == 1);
            for (const int u : buffer_used) CHECK(u == (on_caller ? items.count() : 1));  // a buffer per item in flight
        }
}

TEST_CASE("append_items without row buffers passes null rows", "[core]") {
    const append_items items(300, 2);
    index_t calls = 0;
    items.run(attune_test::reversed_executor{2, nullptr}, nullptr, 64, [&](const append_items::item&, float* row) {
        CHECK(row == nullptr);
        ++calls;
    });
    CHECK(calls == items.count());
    CHECK(items.count() == 2 * 2 * 3);  // 300 tokens: ranges of 128, 128 and 44 per head's K and V
}
