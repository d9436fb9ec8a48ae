// shifted_mask / at_positions (attune/mask/shifted.hpp): a block of queries [q0, q0 + lq) against a
// block of keys [k0, k0 + lk) of a sequence of `length` tokens sees exactly the pairs the whole
// sequence's rule allows, written here directly on global positions (not through the masks); its
// tile rules and intervals agree with its own visible() (attune::testing::check_mask); and bad
// blocks or calls outside the sequence throw attune::error naming the argument.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/core/error.hpp"
#include "attune/mask/masks.hpp"
#include "attune/mask/shifted.hpp"
#include "attune/testing.hpp"

using attune::index_t;

namespace {

struct call_shape {
    index_t batch, lq, lk;
};

// Every (query, key) pair of the block against `rule(global query, global key)`.
template <class Mask>
void check_block(const Mask& mask, index_t q0, index_t lq, index_t k0, index_t lk, index_t length,
                 const std::function<bool(index_t, index_t)>& rule) {
    const auto m = attune::at_positions(mask, q0, lq, k0, lk, length);
    m.validate(call_shape{1, lq, lk});
    for (index_t i = 0; i < lq; ++i)
        for (index_t j = 0; j < lk; ++j) {
            const attune::index_context c{0, 0, 0, lk - lq + i, j};
            INFO("q0 " << q0 << " lq " << lq << " k0 " << k0 << " lk " << lk << " i " << i << " j " << j);
            REQUIRE(m.visible(c) == rule(q0 + i, k0 + j));
        }
    if (lq > 0 && lk > 0) attune::testing::check_mask(m, {lq, lk}, {60, 7});
}

// Blocks of odd sizes at every kind of offset: before, after, overlapping the diagonal.
template <class Mask>
void check_all_blocks(const Mask& mask, const std::function<bool(index_t, index_t)>& rule) {
    const index_t length = 129;
    const index_t sizes[] = {1, 7, 63, 65};
    std::mt19937 rng(3);
    for (index_t lq : sizes)
        for (index_t lk : sizes)
            for (int rep = 0; rep < 3; ++rep) {
                const index_t q0 = std::uniform_int_distribution<index_t>(0, length - lq)(rng);
                const index_t k0 = std::uniform_int_distribution<index_t>(0, length - lk)(rng);
                check_block(mask, q0, lq, k0, lk, length, rule);
            }
}

}  // namespace

TEST_CASE("shifted_mask: blocks see the whole sequence's rule at their global positions", "[mask][shifted]") {
    check_all_blocks(attune::causal{}, [](index_t q, index_t k) { return k <= q; });
    check_all_blocks(attune::sliding_window(5, 2), [](index_t q, index_t k) { return q - 5 <= k && k <= q + 2; });
    check_all_blocks(attune::sinks_window(3, 6), [](index_t q, index_t k) { return k <= q && (k < 3 || q - k < 6); });
    std::vector<std::int32_t> ids(129);
    for (index_t t = 0; t < 129; ++t)
        ids[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(t < 40 ? 0 : t < 41 ? 1 : t < 100 ? 2 : 3);
    check_all_blocks(attune::document_mask(ids),
                     [&](index_t q, index_t k) { return k <= q && ids[static_cast<std::size_t>(k)] == ids[static_cast<std::size_t>(q)]; });
    check_all_blocks(attune::no_mask{}, [](index_t, index_t) { return true; });
}

TEST_CASE("shifted_mask: blocks outside the sequence and calls of another shape are refused", "[mask][shifted]") {
    auto message = [](const std::function<void()>& f) {
        try {
            f();
        } catch (const attune::error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    using Catch::Matchers::Contains;
    CHECK_THAT(message([] { (void)attune::at_positions(attune::causal{}, 100, 30, 0, 10, 129); }), Contains("queries"));
    CHECK_THAT(message([] { (void)attune::at_positions(attune::causal{}, 0, 10, -1, 10, 129); }), Contains("keys"));
    CHECK_THAT(message([] { (void)attune::at_positions(attune::causal{}, 0, -1, 0, 10, 129); }), Contains("lq"));
    CHECK_THAT(message([] { (void)attune::at_positions(attune::causal{}, 0, 1, 0, 1, -5); }), Contains("length"));
    CHECK_THAT(message([] { (void)attune::shifted_mask<attune::causal>(attune::causal{}, 0, -3, 10); }), Contains("k_shift"));
    CHECK_THAT(message([] { (void)attune::at_positions(attune::causal{}, 0, 1, 0, 1, INT64_MAX); }), Contains("no error"));
    const auto m = attune::at_positions(attune::causal{}, 10, 5, 0, 20, 40);
    CHECK_THAT(message([&] { m.validate(call_shape{1, 5, 20}); }), Contains("no error"));
    CHECK_THAT(message([&] { m.validate(call_shape{1, 5, 45}); }), Contains("key positions"));
    CHECK_THAT(message([&] { m.validate(call_shape{1, 40, 20}); }), Contains("query positions"));
    // The inner mask is validated against the whole sequence: ids for 40 positions, not the block's 20.
    const auto d = attune::at_positions(attune::document_mask(std::vector<std::int32_t>(41, 0)), 10, 5, 0, 20, 40);
    CHECK_THAT(message([&] { d.validate(call_shape{1, 5, 20}); }), Contains("document_mask"));
}
