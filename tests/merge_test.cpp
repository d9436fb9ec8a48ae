// attune/merge.hpp: cascade / shared-prefix attention. Attention over a prefix of the keys merged
// with attention over the suffix equals attention over all keys (also in place, also when one side
// or both sides of a row saw nothing).
#include <cmath>
#include <limits>
#include <random>

#include <catch2/catch.hpp>

#include "support.hpp"

using attune::index_t;
using namespace attune_test;

namespace {

// The tokens [first, first + count) of a view.
template <class T>
attune::tensor_view<T> token_slice(const attune::tensor_view<T>& x, index_t first, index_t count) {
    return attune::tensor_view<T>(x.row(0, 0, first), {x.batch(), x.heads(), count, x.dim()}, x.strides());
}

// Causal over the prefix of a longer key range: query position p (within the prefix call) sees key
// j iff j ≤ p + offset, offset = the suffix length, so that positions match the whole-range call.
struct causal_offset {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;  // masks need not declare it (clang: unused)
    index_t offset = 0;
    bool visible(const attune::index_context& c) const noexcept { return c.k_pos <= c.q_pos + offset; }
    attune::tile_class classify(const attune::tile_context& t) const noexcept {
        if (t.k_first > t.q_last + offset) return attune::tile_class::empty;
        if (t.k_last <= t.q_first + offset) return attune::tile_class::full;
        return attune::tile_class::partial;
    }
};

struct cascade_case {
    index_t B, Hq, Hkv, Lq, Lk, split, D;
    bool causal;  // causal over the whole key range; the prefix side then runs without a mask
};

void check_cascade(const cascade_case& c, int in_place, std::uint32_t seed) {
    CAPTURE(c.B, c.Hq, c.Hkv, c.Lq, c.Lk, c.split, c.D, c.causal, in_place);  // in_place: 0 no, 1 into a, 2 into b
    std::mt19937 rng(seed);
    tensor<float> q(c.B, c.Hq, c.Lq, c.D), k(c.B, c.Hkv, c.Lk, c.D, layout::blhd), v(c.B, c.Hkv, c.Lk, c.D, layout::blhd);
    q.fill_random(rng);
    k.fill_random(rng);
    v.fill_random(rng);
    tensor<float> oa(c.B, c.Hq, c.Lq, c.D), ob(c.B, c.Hq, c.Lq, c.D), om(c.B, c.Hq, c.Lq, c.D);
    lse_buffer la(c.B, c.Hq, c.Lq), lb(c.B, c.Hq, c.Lq), lm(c.B, c.Hq, c.Lq);
    oa.poison();
    ob.poison();
    om.poison();
    const attune::serial_executor ex;
    attune::options opt;
    const auto kp = token_slice(k.cview(), 0, c.split), vp = token_slice(v.cview(), 0, c.split);
    const auto ks = token_slice(k.cview(), c.split, c.Lk - c.split), vs = token_slice(v.cview(), c.split, c.Lk - c.split);
    // Bottom-right causal over all keys = causal shifted by the suffix length over the prefix (all
    // visible when Lq ≤ Lk − split) ⊕ bottom-right causal over the suffix.
    opt.lse = la.view;
    if (c.causal) attune::attention(q.cview(), kp, vp, oa.view, causal_offset{c.Lk - c.split}, opt, ex);
    else attune::attention(q.cview(), kp, vp, oa.view, attune::no_mask{}, opt, ex);
    opt.lse = lb.view;
    if (c.causal) attune::attention(q.cview(), ks, vs, ob.view, attune::causal{}, opt, ex);
    else attune::attention(q.cview(), ks, vs, ob.view, attune::no_mask{}, opt, ex);

    const auto ref = c.causal ? attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{})
                              : attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::no_mask{});
    if (in_place == 1) {  // into out_a / lse_a
        attune::merge(oa.view, la.view, ob.view, lb.view, oa.view, la.view);
        check_against_reference(oa, ref, fp32_tolerance(), &la);
    } else if (in_place == 2) {  // into out_b / lse_b
        attune::merge(oa.view, la.view, ob.view, lb.view, ob.view, lb.view);
        check_against_reference(ob, ref, fp32_tolerance(), &lb);
    } else {
        attune::merge(oa.view, la.view, ob.view, lb.view, om.view, lm.view);
        check_against_reference(om, ref, fp32_tolerance(), &lm);
    }
}

}  // namespace

TEST_CASE("merge(prefix, suffix) equals attention over all keys", "[merge]") {
    std::uint32_t seed = 100;
    for (const cascade_case& c : {cascade_case{1, 4, 1, 7, 300, 256, 64, false}, cascade_case{2, 8, 2, 1, 129, 64, 32, false},
                                  cascade_case{1, 4, 4, 5, 200, 150, 80, true}, cascade_case{2, 2, 1, 63, 130, 67, 16, true}})
        for (int in_place : {0, 1, 2}) check_cascade(c, in_place, seed++);
}

TEST_CASE("merge where one side of a row saw nothing returns the other side", "[merge]") {
    // Causal with Lq > Lk: the first rows see no key at all (LSE −inf on both sides), the next rows
    // see only prefix keys (suffix side empty).
    check_cascade(cascade_case{1, 2, 1, 20, 12, 6, 16, true}, 0, 7);
    check_cascade(cascade_case{1, 2, 1, 20, 12, 6, 16, true}, 1, 8);
    check_cascade(cascade_case{1, 2, 1, 20, 12, 6, 16, true}, 2, 9);
}

TEST_CASE("merge of two empty rows is zeros with LSE -inf, never NaN", "[merge]") {
    const index_t D = 8;
    std::vector<float> a(D, 0.0f), b(D, 0.0f), o(D, std::numeric_limits<float>::quiet_NaN());
    float la = -std::numeric_limits<float>::infinity(), lb = la, lo = 0.0f;
    attune::merge(attune::view_bhld(a.data(), 1, 1, 1, D), attune::lse_view(&la, 1, 1, 1), attune::view_bhld(b.data(), 1, 1, 1, D),
                  attune::lse_view(&lb, 1, 1, 1), attune::view_bhld(o.data(), 1, 1, 1, D), attune::lse_view(&lo, 1, 1, 1));
    for (float x : o) CHECK(x == 0.0f);
    CHECK(lo == -std::numeric_limits<float>::infinity());
}

TEST_CASE("merge is exact for equal LSEs and writes bf16 outputs", "[merge]") {
    const index_t D = 4;
    std::vector<float> a{1, 2, 3, 4}, b{3, 2, 1, 0};
    std::vector<attune::bf16> o(D);
    float la = 0.5f, lb = 0.5f, lo = 0.0f;
    attune::merge(attune::view_bhld(a.data(), 1, 1, 1, D), attune::lse_view(&la, 1, 1, 1), attune::view_bhld(b.data(), 1, 1, 1, D),
                  attune::lse_view(&lb, 1, 1, 1), attune::view_bhld(o.data(), 1, 1, 1, D), attune::lse_view(&lo, 1, 1, 1));
    for (float x : o) CHECK(static_cast<float>(x) == 2.0f);
    CHECK(lo == Approx(0.5 + std::log(2.0)).epsilon(1e-6));
}

TEST_CASE("merge propagates NaN from a side that contributes", "[merge]") {
    std::vector<float> a{1, std::numeric_limits<float>::quiet_NaN()}, b{1, 1}, o(2);
    float la = 0.0f, lb = 0.0f;
    attune::merge(attune::view_bhld(a.data(), 1, 1, 1, 2), attune::lse_view(&la, 1, 1, 1), attune::view_bhld(b.data(), 1, 1, 1, 2),
                  attune::lse_view(&lb, 1, 1, 1), attune::view_bhld(o.data(), 1, 1, 1, 2));
    CHECK(o[0] == 1.0f);
    CHECK(std::isnan(o[1]));
}
