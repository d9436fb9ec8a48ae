// attune/variant.hpp and attune/core/policy.hpp: composing a variant from policies, defaults for
// missing extension points, lone policies passed where a variant is expected, and user-written
// policies (a mask and a score modifier) running through the tile engine like built-in ones.
#include <cmath>
#include <random>
#include <stdexcept>
#include <type_traits>

#include <catch2/catch.hpp>

#include "support.hpp"

using attune::index_t;
using namespace attune_test;

namespace {

// Keys with an even position, plus causal: a mask with holes (no single interval per row).
struct even_keys_causal {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;  // masks need not declare it (clang: unused)
    bool visible(const attune::index_context& c) const noexcept { return c.k_pos <= c.q_pos && c.k_pos % 2 == 0; }
    attune::tile_class classify(const attune::tile_context& t) const noexcept {
        return t.k_first > t.q_last ? attune::tile_class::empty : attune::tile_class::partial;
    }
};

// A linear distance penalty with a runtime slope: s' = s − slope·|q_pos − k_pos|.
struct distance_penalty {
    using policy_kind = attune::score_kind;
    static constexpr bool is_none = false;
    float slope = 0.0f;
    float operator()(float s, const attune::index_context& c) const noexcept {
        const index_t d = c.q_pos > c.k_pos ? c.q_pos - c.k_pos : c.k_pos - c.q_pos;
        return s - slope * static_cast<float>(d);
    }
};

// A mask with no default constructor: its window is a required parameter.
struct required_window {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;
    index_t window;
    explicit required_window(index_t w) : window(w) {}
    bool visible(const attune::index_context& c) const noexcept { return c.k_pos <= c.q_pos && c.q_pos - c.k_pos < window; }
    attune::tile_class classify(const attune::tile_context&) const noexcept { return attune::tile_class::partial; }
};

// A mask that differs per query head: even heads causal, odd heads a causal window of 5 keys.
// classify() sees the query heads of the tile and answers for their union.
struct per_head_window {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;
    bool visible(const attune::index_context& c) const noexcept {
        return c.k_pos <= c.q_pos && (c.q_head % 2 == 0 || c.q_pos - c.k_pos < 5);
    }
    attune::tile_class classify(const attune::tile_context& t) const {
        if (t.q_head_first < 0 || t.q_head_last < t.q_head_first || t.q_head_last >= 4)
            throw std::logic_error("tile_context lacks the query heads of the tile");
        if (t.k_first > t.q_last) return attune::tile_class::empty;
        const bool any_even = t.q_head_first % 2 == 0 || t.q_head_last > t.q_head_first;
        if (!any_even && t.k_last < t.q_first - 5) return attune::tile_class::empty;  // odd heads only: the window
        return attune::tile_class::partial;
    }
};

template <class Var>
void check_variant(const Var& var, std::uint32_t seed) {
    std::mt19937 rng(seed);
    const index_t B = 2, Hq = 4, Hkv = 2, Lq = 37, Lk = 70, D = 24;
    tensor<float> q(B, Hq, Lq, D), k(B, Hkv, Lk, D), v(B, Hkv, Lk, D), out(B, Hq, Lq, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    out.poison();
    lse_buffer lse(B, Hq, Lq);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention(q.cview(), k.cview(), v.cview(), out.view, var, opt, attune::serial_executor{});
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), var), fp32_tolerance(), &lse);
}

}  // namespace

TEST_CASE("variant fills missing extension points with the defaults", "[variant]") {
    // variant<> itself is exercised by tests/compile/default_variant.cpp (ctest compile.default_variant).
    using v0 = attune::variant<attune::softmax>;
    STATIC_REQUIRE(std::is_same_v<v0::family_type, attune::softmax>);
    STATIC_REQUIRE(std::is_same_v<v0::mask_type, attune::no_mask>);
    STATIC_REQUIRE(std::is_same_v<v0::score_type, attune::no_score>);
    STATIC_REQUIRE(std::is_same_v<v0::sink_type, attune::no_sink>);
    using v1 = attune::variant<attune::causal>;
    STATIC_REQUIRE(std::is_same_v<v1::mask_type, attune::causal>);
    STATIC_REQUIRE(std::is_same_v<v1::family_type, attune::softmax>);
    using v2 = attune::variant<distance_penalty, attune::softmax, attune::causal>;  // any order
    STATIC_REQUIRE(std::is_same_v<v2::mask_type, attune::causal>);
    STATIC_REQUIRE(std::is_same_v<v2::score_type, distance_penalty>);
    STATIC_REQUIRE(std::is_same_v<v2::family_type, attune::softmax>);
}

TEST_CASE("variant keeps the runtime parameters of its policies", "[variant]") {
    const attune::variant<attune::causal, distance_penalty> v(attune::causal{}, distance_penalty{0.25f});
    CHECK(v.score().slope == 0.25f);
    const attune::variant<attune::softmax> d;
    CHECK(d.mask().visible(attune::index_context{0, 0, 0, 0, 5}));
    const auto deduced = attune::variant(distance_penalty{0.5f});
    STATIC_REQUIRE(std::is_same_v<std::decay_t<decltype(deduced)>, attune::variant<distance_penalty>>);
    CHECK(deduced.score().slope == 0.5f);
}

TEST_CASE("to_variant wraps a lone policy and passes a variant through", "[variant]") {
    STATIC_REQUIRE(std::is_same_v<decltype(attune::to_variant(attune::causal{})), attune::variant<attune::causal>>);
    STATIC_REQUIRE(std::is_same_v<decltype(attune::to_variant(attune::variant<attune::causal>{})), attune::variant<attune::causal>>);
    CHECK(attune::to_variant(distance_penalty{3.0f}).score().slope == 3.0f);
}

TEST_CASE("causal as a lone policy, in a variant, and with an explicit softmax give identical results", "[variant]") {
    std::mt19937 rng(5);
    const index_t Lq = 20, Lk = 33, D = 16;
    tensor<float> q(1, 2, Lq, D), k(1, 2, Lk, D), v(1, 2, Lk, D), o1(1, 2, Lq, D), o2(1, 2, Lq, D), o3(1, 2, Lq, D), o4(1, 2, Lq, D);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    const attune::serial_executor ex;
    attune::attention(q.cview(), k.cview(), v.cview(), o1.view, attune::causal{}, {}, ex);
    attune::attention(q.cview(), k.cview(), v.cview(), o2.view, attune::variant<attune::causal>{}, {}, ex);
    attune::attention(q.cview(), k.cview(), v.cview(), o3.view, attune::variant<attune::softmax, attune::causal>{}, {}, ex);
    CHECK(max_difference(o1, o2) == 0.0);
    CHECK(max_difference(o1, o3) == 0.0);
    // softmax alone is softmax without a mask.
    attune::attention(q.cview(), k.cview(), v.cview(), o4.view, attune::softmax{});
    attune::attention(q.cview(), k.cview(), v.cview(), o2.view, attune::variant<attune::no_mask>{}, {}, ex);
    CHECK(max_difference(o4, o2) <= 1e-6);
    CHECK(max_difference(o4, o1) > 1e-3);  // and causal really masks
}

TEST_CASE("a user-written mask policy runs through the engine and matches the reference", "[variant]") {
    check_variant(even_keys_causal{}, 6);
}

TEST_CASE("a user-written score modifier runs through the engine and matches the reference", "[variant]") {
    check_variant(attune::variant<distance_penalty>(distance_penalty{0.125f}), 7);
    check_variant(attune::variant<attune::causal, distance_penalty>(attune::causal{}, distance_penalty{0.5f}), 8);
}

TEST_CASE("policies without a default constructor compose into a variant and run", "[variant]") {
    static_assert(!std::is_default_constructible_v<required_window>);
    static_assert(!std::is_default_constructible_v<attune::variant<required_window>>);
    const attune::variant<required_window, distance_penalty> var(required_window{5}, distance_penalty{0.25f});
    CHECK(var.mask().window == 5);
    CHECK(var.score().slope == 0.25f);
    check_variant(var, 9);
    check_variant(required_window{3}, 10);  // a lone policy is wrapped into a variant
}

TEST_CASE("tile_context carries the query heads of the tile: a per-head mask", "[variant]") {
    check_variant(per_head_window{}, 11);  // Hq 4, Hkv 2: groups of heads {0, 1} and {2, 3}
    // One query head per kv head: tiles of odd heads skip everything outside the window.
    std::mt19937 rng(12);
    tensor<float> q(1, 4, 150, 16), k(1, 4, 150, 16), v(1, 4, 150, 16), out(1, 4, 150, 16);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    out.poison();
    attune::attention(q.cview(), k.cview(), v.cview(), out.view, per_head_window{}, {}, attune::serial_executor{});
    check_against_reference(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), per_head_window{}), fp32_tolerance());
}
