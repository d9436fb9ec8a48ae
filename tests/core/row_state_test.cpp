// attune/core/row_state.hpp: the online-softmax state (m, l, a) and its merge ⊕ (SPEC.md §1).
// ⊕ must be associative and commutative with the empty state (−inf, 0, 0) as identity; merging two
// empty states stays empty without NaN; the prefix scan of leaves (s_k, 1, v_k) is softmax attention.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/core/row_state.hpp"

using attune::index_t;
using attune::row_state;

namespace {

constexpr index_t n_acc = 5;

// A state with its accumulator row.
struct state {
    row_state s;
    std::vector<float> a = std::vector<float>(n_acc, 0.0f);
};

state merged(state x, const state& y) {
    attune::merge_into(x.s, x.a.data(), y.s, y.a.data(), n_acc);
    return x;
}

// The state of a row after seeing `count` random scores (spread sigma) with random values.
state random_state(std::mt19937& rng, int count, float sigma, float shift) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    state st;
    for (int i = 0; i < count; ++i) {
        state leaf;
        leaf.s = row_state{shift + sigma * dist(rng), 1.0f};
        for (auto& x : leaf.a) x = dist(rng);
        st = merged(st, leaf);
    }
    return st;
}

// Two states are the same up to float rounding: compare the normalised output a/l and the LSE.
void check_same(const state& x, const state& y, double tol) {
    REQUIRE(x.s.m == y.s.m);  // max is exact, whatever the order
    CHECK(std::abs(x.s.lse() - y.s.lse()) <= tol * (1.0 + std::abs(y.s.lse())));
    for (index_t i = 0; i < n_acc; ++i) CHECK(std::abs(x.a[i] / x.s.l - y.a[i] / y.s.l) <= tol);
}

}  // namespace

TEST_CASE("the empty row_state is (-inf, 0) with LSE -inf", "[row_state]") {
    row_state e;
    CHECK(e.m == -std::numeric_limits<float>::infinity());
    CHECK(e.l == 0.0f);
    CHECK(e.empty());
    CHECK(e.lse() == -std::numeric_limits<float>::infinity());
    CHECK(row_state{2.0f, 1.0f}.lse() == 2.0f);
}

TEST_CASE("merge is commutative (exactly)", "[row_state]") {
    std::mt19937 rng(1);
    for (int trial = 0; trial < 200; ++trial) {
        const state a = random_state(rng, 1 + trial % 7, 1.0f + trial % 5, float(trial % 11) - 5.0f);
        const state b = random_state(rng, 1 + trial % 3, 3.0f, float(trial % 13) - 6.0f);
        const state ab = merged(a, b), ba = merged(b, a);
        REQUIRE(ab.s.m == ba.s.m);
        REQUIRE(ab.s.l == ba.s.l);
        for (index_t i = 0; i < n_acc; ++i) REQUIRE(ab.a[i] == ba.a[i]);
    }
}

TEST_CASE("merge is associative (up to float rounding)", "[row_state]") {
    std::mt19937 rng(2);
    for (int trial = 0; trial < 200; ++trial) {
        const state a = random_state(rng, 1 + trial % 5, 2.0f, 0.0f);
        const state b = random_state(rng, 1 + trial % 4, 2.0f, float(trial % 9) - 4.0f);
        const state c = random_state(rng, 1 + trial % 6, 2.0f, float(trial % 7) * 3.0f - 9.0f);
        check_same(merged(merged(a, b), c), merged(a, merged(b, c)), 1e-5);
    }
}

TEST_CASE("the empty state is the identity of merge (exactly)", "[row_state]") {
    std::mt19937 rng(3);
    const state e;
    for (int trial = 0; trial < 50; ++trial) {
        const state a = random_state(rng, 1 + trial % 5, 2.0f, float(trial) - 25.0f);
        for (const state& r : {merged(e, a), merged(a, e)}) {
            REQUIRE(r.s.m == a.s.m);
            REQUIRE(r.s.l == a.s.l);
            for (index_t i = 0; i < n_acc; ++i) REQUIRE(r.a[i] == a.a[i]);
        }
    }
}

TEST_CASE("empty merged with empty stays empty, without NaN", "[row_state]") {
    state a, b;
    const state r = merged(a, b);
    CHECK(r.s.empty());
    CHECK(r.s.m == -std::numeric_limits<float>::infinity());
    CHECK(r.s.l == 0.0f);
    CHECK(r.s.lse() == -std::numeric_limits<float>::infinity());
    for (float x : r.a) CHECK(x == 0.0f);
    const auto w = attune::merge_coefficients(row_state{}, row_state{});
    CHECK(w.wa == 0.0f);
    CHECK(w.wb == 0.0f);
    CHECK(!std::isnan(w.state.l));
}

TEST_CASE("merge coefficients are e^(m_side - m)", "[row_state]") {
    const auto w = attune::merge_coefficients(row_state{1.0f, 2.0f}, row_state{3.0f, 0.5f});
    CHECK(w.state.m == 3.0f);
    CHECK(w.wb == 1.0f);
    CHECK(w.wa == Approx(std::exp(-2.0f)).epsilon(1e-6));
    CHECK(w.state.l == Approx(2.0f * std::exp(-2.0f) + 0.5f).epsilon(1e-6));
}

TEST_CASE("merge does not overflow for far-apart maxima", "[row_state]") {
    state a, b;
    a.s = row_state{-80.0f, 1.0f};
    b.s = row_state{80.0f, 1.0f};
    std::fill(a.a.begin(), a.a.end(), 1.0f);
    std::fill(b.a.begin(), b.a.end(), 2.0f);
    const state r = merged(a, b);
    CHECK(r.s.m == 80.0f);
    CHECK(r.s.l == 1.0f);
    for (float x : r.a) CHECK(x == 2.0f);
}

TEST_CASE("prefix scan of leaves (s_k, 1, v_k) is softmax attention over keys 0..k (Aaren)", "[row_state]") {
    std::mt19937 rng(4);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    const int n = 64;
    std::vector<float> s(n);
    std::vector<std::vector<float>> v(n, std::vector<float>(n_acc));
    for (int j = 0; j < n; ++j) {
        s[j] = dist(rng);
        for (auto& x : v[j]) x = dist(rng);
    }
    state scan;
    for (int k = 0; k < n; ++k) {
        state leaf;
        leaf.s = row_state{s[k], 1.0f};
        leaf.a = v[k];
        scan = merged(scan, leaf);
        double mx = -1e300;
        for (int j = 0; j <= k; ++j) mx = std::max(mx, double(s[j]));
        double sum = 0.0;
        std::vector<double> o(n_acc, 0.0);
        for (int j = 0; j <= k; ++j) {
            const double p = std::exp(double(s[j]) - mx);
            sum += p;
            for (index_t i = 0; i < n_acc; ++i) o[i] += p * v[j][i];
        }
        CHECK(std::abs(scan.s.lse() - (mx + std::log(sum))) <= 1e-5 * (1.0 + std::abs(mx)));
        for (index_t i = 0; i < n_acc; ++i) CHECK(std::abs(scan.a[i] / scan.s.l - o[i] / sum) <= 1e-5);
    }
}
