// Hostile matrix: the entry points outside attention() — sparse gather / top-k / recycled, probes,
// ACT / VAR calibration, linear attention (every kernel, state, options), the pre-passes and merge
// (tests/hostile/matrix.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attune/calibration.hpp"
#include "attune/linear.hpp"
#include "attune/merge.hpp"
#include "attune/prepass/qk_norm.hpp"
#include "attune/sparse.hpp"
#include "hostile/matrix.hpp"

namespace {
namespace entry_cases {

using attune::index_t;
using attune_test::tensor;
using arch = ATTUNE_TEST_ARCH;
namespace lin = attune::linear;

const index_t big = std::numeric_limits<index_t>::max();
const index_t huge = big / 4;
const float nan = std::numeric_limits<float>::quiet_NaN();

template <class T = float>
tensor<T> rnd(index_t B, index_t H, index_t L, index_t D, unsigned seed) {
    tensor<T> t(B, H, L, D);
    std::mt19937 rng(seed);
    t.fill_random(rng);
    return t;
}

// The same buffer seen `rows` rows later: a view that partially overlaps t's.
inline attune::tensor_view<float> shifted(tensor<float>& t, index_t rows, index_t tokens) {
    return attune::tensor_view<float>(t.view.data() + rows * t.view.dim(), {1, 1, tokens, t.view.dim()}, {0, 0, t.view.dim()});
}
// A view whose heads all share one row block (head stride 0): it overlaps itself.
inline attune::tensor_view<float> self_overlapping(tensor<float>& t) {
    const auto& s = t.view.shape();
    return attune::tensor_view<float>(t.view.data(), s, {t.view.strides()[0], 0, t.view.strides()[2]});
}
template <class T>
attune::tensor_view<const T> null_like(const tensor<T>& t) {
    return attune::tensor_view<const T>(nullptr, t.view.shape(), t.view.strides());
}
template <class T>
bool all_nan(const attune::tensor_view<T>& v) {
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t d = 0; d < v.dim(); ++d)
                    if (!std::isnan(attune::to_float(v(b, h, t, d)))) return false;
    return true;
}
template <class T>
void check_close(const attune::tensor_view<T>& got, const attune::tensor_view<T>& want, double tol = 1e-5) {
    REQUIRE(got.shape() == want.shape());
    for (index_t b = 0; b < got.batch(); ++b)
        for (index_t h = 0; h < got.heads(); ++h)
            for (index_t t = 0; t < got.tokens(); ++t)
                for (index_t d = 0; d < got.dim(); ++d)
                    CHECK(std::abs(attune::to_float(got(b, h, t, d)) - attune::to_float(want(b, h, t, d))) <= tol);
}
inline void check_ref(const tensor<float>& out, const attune::reference::result& ref) {
    attune_test::check_against_reference(out, ref, attune_test::fp32_tolerance());
}

// ---- sparse::gather_attention ----
struct gather_problem {
    tensor<float> q = rnd(1, 4, 3, 16, 1), k = rnd(1, 2, 40, 16, 2), v = rnd(1, 2, 40, 16, 3), out{1, 4, 3, 16};
    std::vector<index_t> lists = [] {  // one list per kv head, shared by every query token
        std::vector<index_t> l;
        for (index_t h = 0; h < 2; ++h)
            for (index_t x : {0, 5, 9, 33, -1, 7}) l.push_back(x + (x >= 0 ? h : 0));
        return l;
    }();
    attune::index_view idx() { return {lists.data(), 1, 2, 1, 6}; }
    void run(const attune::options& opt = {}) {
        out.poison();
        attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), idx(), out.view, opt, attune::serial_executor{});
    }
    // The listed keys of kv head h as their own k and v.
    attune::reference::result reference() {
        auto ref = attune::reference::result::zeros(1, 4, 3, 16);
        for (index_t h = 0; h < 2; ++h) {
            std::vector<index_t> keys;
            for (index_t e = 0; e < 6; ++e)
                if (lists[static_cast<std::size_t>(h * 6 + e)] >= 0) keys.push_back(lists[static_cast<std::size_t>(h * 6 + e)]);
            tensor<float> kg(1, 1, static_cast<index_t>(keys.size()), 16), vg(1, 1, static_cast<index_t>(keys.size()), 16), qh(1, 2, 3, 16);
            for (std::size_t j = 0; j < keys.size(); ++j)
                for (index_t d = 0; d < 16; ++d) {
                    kg.view(0, 0, static_cast<index_t>(j), d) = k.view(0, h, keys[j], d);
                    vg.view(0, 0, static_cast<index_t>(j), d) = v.view(0, h, keys[j], d);
                }
            for (index_t g = 0; g < 2; ++g)
                for (index_t t = 0; t < 3; ++t)
                    for (index_t d = 0; d < 16; ++d) qh.view(0, g, t, d) = q.view(0, h * 2 + g, t, d);
            const auto r = attune::reference::attention(qh.cview(), kg.cview(), vg.cview());
            for (index_t g = 0; g < 2; ++g)
                for (index_t t = 0; t < 3; ++t) {
                    for (index_t d = 0; d < 16; ++d) ref.at(0, h * 2 + g, t, d) = r.at(0, g, t, d);
                    ref.lse[static_cast<std::size_t>((h * 2 + g) * 3 + t)] = r.lse_at(0, g, t);
                }
        }
        return ref;
    }
};

HOSTILE_THROWS("gather: null q", "q has null data") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(null_like(g.q), g.k.cview(), g.v.cview(), g.idx(), g.out.view);
};
HOSTILE_THROWS("gather: null k", "k has null data") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), null_like(g.k), g.v.cview(), g.idx(), g.out.view);
};
HOSTILE_THROWS("gather: null v", "v has null data") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), null_like(g.v), g.idx(), g.out.view);
};
HOSTILE_THROWS("gather: null out", "out has null data") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(),
                                           attune::tensor_view<float>(nullptr, g.out.view.shape(), g.out.view.strides()));
};
HOSTILE_THROWS("gather: null index data", "index list has null data") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), attune::index_view{nullptr, 1, 2, 1, 6}, g.out.view);
};
HOSTILE_THROWS("gather: index past the keys", "key index 40") {
    gather_problem g;
    g.lists[3] = 40;
    g.run();
};
HOSTILE_THROWS("gather: index far past the keys", "out of range") {
    gather_problem g;
    g.lists[11] = huge;
    g.run();
};
HOSTILE_THROWS("gather: negative count", "index count") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), attune::index_view{g.lists.data(), 1, 2, 1, -1},
                                           g.out.view);
};
HOSTILE_THROWS("gather: count × lists wraps", "index count") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), attune::index_view{g.lists.data(), 1, 2, 1, big / 2 + 1},
                                           g.out.view);
};
HOSTILE_THROWS("gather: index batch differs", "index batch") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), attune::index_view{g.lists.data(), 2, 2, 1, 3},
                                           g.out.view);
};
HOSTILE_THROWS("gather: index heads neither kv nor query heads", "index heads") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), attune::index_view{g.lists.data(), 1, 3, 1, 4},
                                           g.out.view);
};
HOSTILE_THROWS("gather: index tokens neither Lq nor 1", "index tokens") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), attune::index_view{g.lists.data(), 1, 2, 2, 3},
                                           g.out.view);
};
HOSTILE_THROWS("gather: negative kv_splits", "kv_splits") {
    gather_problem g;
    attune::options opt;
    opt.kv_splits = -2;
    g.run(opt);
};
HOSTILE_THROWS("gather: NaN scale", "scale") {
    gather_problem g;
    attune::options opt;
    opt.scale = nan;
    g.run(opt);
};
HOSTILE_THROWS("gather: out is q", "out overlaps q") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), g.q.view);
};
HOSTILE_THROWS("gather: out inside k", "out overlaps k") {
    gather_problem g;
    const attune::tensor_view<float> o(g.k.view.data(), {1, 4, 3, 16}, {0, 48, 16});
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), o);
};
HOSTILE_THROWS("gather: out inside v", "out overlaps v") {
    gather_problem g;
    const attune::tensor_view<float> o(g.v.view.data() + 16, {1, 4, 3, 16}, {0, 48, 16});
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), o);
};
HOSTILE_THROWS("gather: out overlaps itself", "out overlaps itself") {
    gather_problem g;
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), self_overlapping(g.out));
};
HOSTILE_THROWS("gather: lse over out", "options::lse overlaps out") {
    gather_problem g;
    attune::options opt;
    opt.lse = attune::lse_view(g.out.view.data(), 1, 4, 3);
    g.run(opt);
};
HOSTILE_THROWS("gather: lse over q", "options::lse overlaps q") {
    gather_problem g;
    attune::options opt;
    opt.lse = attune::lse_view(g.q.view.data(), 1, 4, 3);
    g.run(opt);
};
HOSTILE_THROWS("gather: lse of the wrong shape", "lse must be") {
    gather_problem g;
    attune_test::lse_buffer l(1, 4, 2);
    attune::options opt;
    opt.lse = l.view;
    g.run(opt);
};
HOSTILE_THROWS("gather: query heads not a multiple of kv heads", "multiple of kv heads") {
    gather_problem g;
    tensor<float> q(1, 3, 3, 16), o(1, 3, 3, 16);
    attune::sparse::gather_attention<arch>(q.cview(), g.k.cview(), g.v.cview(), g.idx(), o.view);
};
HOSTILE_THROWS("gather: k dim differs from q's", "k head dim") {
    gather_problem g;
    tensor<float> k(1, 2, 40, 8);
    attune::sparse::gather_attention<arch>(g.q.cview(), k.cview(), g.v.cview(), g.idx(), g.out.view);
};
HOSTILE_THROWS("gather: v tokens differ from k's", "v must have") {
    gather_problem g;
    tensor<float> v(1, 2, 39, 16);
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), v.cview(), g.idx(), g.out.view);
};
HOSTILE_THROWS("gather: head dim 0", "head dims") {
    tensor<float> q(1, 2, 3, 0), k(1, 2, 8, 0), v(1, 2, 8, 0), o(1, 2, 3, 0);
    std::vector<index_t> l{0, 1, 0, 1};
    attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), attune::index_view{l.data(), 1, 2, 1, 2}, o.view);
};
HOSTILE_OK("gather: a bad index in the second list writes nothing (validation before the region)") {
    gather_problem g;
    g.lists[10] = 41;
    g.out.poison();
    CHECK_THROWS_AS(
        attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), g.out.view, {}, attune::openmp_executor{2}),
        attune::error);
    CHECK(all_nan(g.out.view));
};
HOSTILE_OK("gather: padding and the listed keys against the reference") {
    gather_problem g;
    attune_test::lse_buffer l(1, 4, 3);
    attune::options opt;
    opt.lse = l.view;
    g.run(opt);
    const auto ref = g.reference();
    check_ref(g.out, ref);
    for (index_t h = 0; h < 4; ++h)
        for (index_t t = 0; t < 3; ++t) CHECK(std::abs(*l.view.row(0, h, t) - ref.lse_at(0, h, t)) < 1e-4);
};
HOSTILE_OK("gather: a key listed twice counts twice") {
    gather_problem g;
    g.lists[4] = 5;  // key 5 again in place of the padding
    g.run();
    check_ref(g.out, g.reference());
};
HOSTILE_OK("gather: forced key splits merge to the unsplit result") {
    gather_problem g;
    tensor<float> whole(1, 4, 3, 16);
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), whole.view, {}, attune::serial_executor{});
    attune::options opt;
    opt.kv_splits = 3;
    g.out.poison();
    attune::sparse::gather_attention<arch>(g.q.cview(), g.k.cview(), g.v.cview(), g.idx(), g.out.view, opt, attune::openmp_executor{2});
    check_close(g.out.cview(), whole.cview());
};
HOSTILE_OK("gather: all-padding lists give zeros and LSE -inf") {
    gather_problem g;
    for (auto& x : g.lists) x = -1;
    attune_test::lse_buffer l(1, 4, 3);
    attune::options opt;
    opt.lse = l.view;
    g.run(opt);
    for (index_t h = 0; h < 4; ++h)
        for (index_t t = 0; t < 3; ++t) {
            CHECK(*l.view.row(0, h, t) == -std::numeric_limits<float>::infinity());
            for (index_t d = 0; d < 16; ++d) CHECK(g.out.view(0, h, t, d) == 0.0f);
        }
};
HOSTILE_OK("gather: one query token, one key") {
    auto q = rnd(1, 1, 1, 8, 4), k = rnd(1, 1, 5, 8, 5), v = rnd(1, 1, 5, 8, 6);
    tensor<float> o(1, 1, 1, 8);
    std::vector<index_t> l{3};
    attune::sparse::gather_attention<arch>(q.cview(), k.cview(), v.cview(), attune::index_view{l.data(), 1, 1, 1, 1}, o.view);
    for (index_t d = 0; d < 8; ++d) CHECK(std::abs(o.view(0, 0, 0, d) - v.view(0, 0, 3, d)) < 1e-6f);
};

// ---- sparse::topk_decode, recycled_attention ----
struct decode_problem {
    tensor<float> q = rnd(1, 4, 1, 16, 11), k = rnd(1, 2, 30, 16, 12), v = rnd(1, 2, 30, 16, 13), out{1, 4, 1, 16};
};
HOSTILE_THROWS("topk_decode: top_k 0", "top_k") {
    decode_problem p;
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, 0, sel);
};
HOSTILE_THROWS("topk_decode: batch × heads × top_k wraps", "top_k") {
    decode_problem p;
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, big, sel);
};
HOSTILE_THROWS("topk_decode: two query tokens", "one query token") {
    decode_problem p;
    tensor<float> q(1, 4, 2, 16), o(1, 4, 2, 16);
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(q.cview(), p.k.cview(), p.v.cview(), o.view, 4, sel);
};
HOSTILE_THROWS("topk_decode: k with 0 heads", "k has 0 heads") {
    decode_problem p;
    tensor<float> k(1, 0, 30, 16), v(1, 0, 30, 16);
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view, 4, sel);
};
HOSTILE_THROWS("topk_decode: out is q", "out overlaps q") {
    decode_problem p;
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, 4, sel);
};
HOSTILE_OK("topk_decode: a throwing call leaves the selection as it was") {
    decode_problem p;
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, 4, sel);
    const auto before = sel.positions;
    CHECK_THROWS_AS(attune::sparse::topk_decode<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, big, sel), attune::error);
    CHECK(sel.positions == before);
    CHECK(sel.count == 4);
};
HOSTILE_OK("topk_decode: top_k above the key count selects every key, then padding") {
    decode_problem p;
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, 33, sel);
    REQUIRE(sel.positions.size() == 2u * 33u);
    for (index_t h = 0; h < 2; ++h)
        for (index_t i = 0; i < 33; ++i) CHECK(sel.row(0, h)[i] == (i < 30 ? i : -1));
};
HOSTILE_OK("topk_decode: the keys aligned with q are selected, in position order") {
    tensor<float> q(1, 1, 1, 4), k(1, 1, 10, 4), v = rnd(1, 1, 10, 4, 14), o(1, 1, 1, 4);
    q.view(0, 0, 0, 0) = 4.0f;
    k.view(0, 0, 7, 0) = 3.0f;
    k.view(0, 0, 2, 0) = 2.0f;
    attune::key_selection sel;
    attune::sparse::topk_decode<arch>(q.cview(), k.cview(), v.cview(), o.view, 2, sel);
    CHECK(sel.row(0, 0)[0] == 2);
    CHECK(sel.row(0, 0)[1] == 7);
};
HOSTILE_THROWS("recycled_attention: top_k 0", "top_k") { attune::sparse::recycled_attention r(0); };
HOSTILE_THROWS("recycled_attention: first step not a full one", "first step must be a full one") {
    decode_problem p;
    attune::sparse::recycled_attention r(4);
    r.step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, false);
};
HOSTILE_THROWS("recycled_attention: the cache shrank", "fewer than at the last full step") {
    decode_problem p;
    attune::sparse::recycled_attention r(4);
    r.step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, true);
    tensor<float> k(1, 2, 20, 16), v(1, 2, 20, 16);
    r.step<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view, false);
};
HOSTILE_THROWS("recycled_attention: kv heads differ from the full step's", "differ from the full step") {
    decode_problem p;
    attune::sparse::recycled_attention r(4);
    r.step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, true);
    tensor<float> k(1, 4, 31, 16), v(1, 4, 31, 16);
    r.step<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view, false);
};
HOSTILE_THROWS("recycled_attention: a bad full step keeps no selection", "first step must be a full one") {
    decode_problem p;
    attune::sparse::recycled_attention r(4);
    try {
        r.step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, true);  // out is q
    } catch (const attune::error&) {
    }
    r.step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, false);
};
HOSTILE_OK("recycled_attention: a step between full ones is gather over the selection plus the new tokens") {
    decode_problem p;
    auto k = rnd(1, 2, 32, 16, 15), v = rnd(1, 2, 32, 16, 16);
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 30; ++t)
            for (index_t d = 0; d < 16; ++d) k.view(0, h, t, d) = p.k.view(0, h, t, d), v.view(0, h, t, d) = p.v.view(0, h, t, d);
    attune::sparse::recycled_attention r(5);
    r.step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, true);
    r.step<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view, false);
    std::vector<index_t> l;
    for (index_t h = 0; h < 2; ++h) {
        for (index_t i = 0; i < 5; ++i) l.push_back(r.selection().row(0, h)[i]);
        l.push_back(30), l.push_back(31);
    }
    tensor<float> want(1, 4, 1, 16);
    attune::sparse::gather_attention<arch>(p.q.cview(), k.cview(), v.cview(), attune::index_view{l.data(), 1, 2, 1, 7}, want.view);
    check_close(p.out.cview(), want.cview(), 0.0);
};

// ---- probe_attention ----
struct probe_problem {
    tensor<float> q = rnd(1, 4, 6, 16, 21), k = rnd(1, 2, 9, 16, 22), v = rnd(1, 2, 9, 16, 23), out{1, 4, 6, 16};
    attune_test::lse_buffer lse{1, 4, 6};
    probe_problem() {
        attune::options opt;
        opt.lse = lse.view;
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::variant<>{}, opt);
    }
    attune::attention_probe run(const attune::probe_options& po = {}) {
        return attune::probe_attention<arch>(q.cview(), k.cview(), attune::tensor_view<const float>(lse.view), attune::variant<>{}, po);
    }
};
HOSTILE_THROWS("probe: head past the query heads", "probe_options::heads: head 4") {
    probe_problem p;
    attune::probe_options po;
    po.heads = {1, 4};
    p.run(po);
};
HOSTILE_THROWS("probe: negative head", "probe_options::heads: head -1") {
    probe_problem p;
    attune::probe_options po;
    po.heads = {-1};
    p.run(po);
};
HOSTILE_THROWS("probe: head listed twice", "listed twice") {
    probe_problem p;
    attune::probe_options po;
    po.heads = {2, 0, 2};
    p.run(po);
};
HOSTILE_THROWS("probe: lse of the wrong shape", "lse must be") {
    probe_problem p;
    attune_test::lse_buffer l(1, 4, 5);
    attune::probe_attention<arch>(p.q.cview(), p.k.cview(), attune::tensor_view<const float>(l.view));
};
HOSTILE_THROWS("probe: null q", "q has null data") {
    probe_problem p;
    attune::probe_attention<arch>(null_like(p.q), p.k.cview(), attune::tensor_view<const float>(p.lse.view));
};
HOSTILE_THROWS("probe: null lse", "lse has null data") {
    probe_problem p;
    attune::probe_attention<arch>(p.q.cview(), p.k.cview(), attune::tensor_view<const float>(nullptr, {1, 4, 6, 1}, {24, 6, 1}));
};
HOSTILE_THROWS("probe: NaN scale", "scale") {
    probe_problem p;
    attune::probe_options po;
    po.scale = nan;
    p.run(po);
};
HOSTILE_THROWS("probe: k dim differs", "k head dim") {
    probe_problem p;
    tensor<float> k(1, 2, 9, 8);
    attune::probe_attention<arch>(p.q.cview(), k.cview(), attune::tensor_view<const float>(p.lse.view));
};
HOSTILE_THROWS("probe: column statistics of broadcast views wrap", "column statistics") {
    float x[4] = {1, 2, 3, 4}, l = 0.0f;
    const attune::tensor_view<const float> q(x, {1, index_t(1) << 40, 1, 4}, {0, 0, 0});
    const attune::tensor_view<const float> k(x, {1, 1, index_t(1) << 23, 4}, {0, 0, 0});
    const attune::tensor_view<const float> lse(&l, {1, index_t(1) << 40, 1, 1}, {0, 0, 0});
    attune::probe_attention<arch>(q, k, lse);
};
HOSTILE_OK("probe: one query row: column means are its probabilities, entropy and top-1 direct") {
    auto q = rnd(1, 1, 1, 8, 24), k = rnd(1, 1, 5, 8, 25), v = rnd(1, 1, 5, 8, 26);
    tensor<float> o(1, 1, 1, 8);
    attune_test::lse_buffer l(1, 1, 1);
    attune::options opt;
    opt.lse = l.view;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), o.view, attune::variant<>{}, opt);
    const auto pr = attune::probe_attention<arch>(q.cview(), k.cview(), attune::tensor_view<const float>(l.view));
    double s[5], m = -1e30, z = 0, ent = 0;
    index_t best = 0;
    for (index_t j = 0; j < 5; ++j) {
        s[j] = 0;
        for (index_t d = 0; d < 8; ++d) s[j] += double(q.view(0, 0, 0, d)) * k.view(0, 0, j, d) / std::sqrt(8.0);
        if (s[j] > m) m = s[j], best = j;
    }
    for (double x : s) z += std::exp(x - m);
    for (index_t j = 0; j < 5; ++j) {
        const double p = std::exp(s[j] - m) / z;
        CHECK(std::abs(pr.column_mean(0, 0, j) - p) < 1e-5);
        ent -= p * std::log(p);
    }
    CHECK(std::abs(pr.entropy(0, 0, 0) - ent) < 1e-4);
    CHECK(pr.top1(0, 0, 0) == best);
    CHECK(std::abs(pr.mass(0, 0, 0) - 1.0) < 1e-5);
};
HOSTILE_OK("probe: chosen heads only, others untouched") {
    probe_problem p;
    attune::probe_options po;
    po.heads = {3, 1};
    const auto pr = p.run(po);
    CHECK(pr.heads == std::vector<index_t>{3, 1});
    for (index_t i = 0; i < 6; ++i) {
        CHECK(std::abs(pr.mass(0, 1, i) - 1.0f) < 1e-5f);
        CHECK(pr.mass(0, 0, i) == 0.0f);
    }
};
HOSTILE_THROWS("sink_fraction: a probe without columns", "without columns") {
    probe_problem p;
    attune::probe_options po;
    po.columns = false;
    attune::sink_fraction(p.run(po));
};

HOSTILE_THROWS("attention_probe: entropy of a probe run without rows", "without rows") {
    probe_problem p;
    attune::probe_options po;
    po.rows = false;
    (void)p.run(po).entropy(0, 0, 0);
};
HOSTILE_THROWS("attention_probe: column mean past the keys", "attention_probe: column (0, 1, 9)") {
    probe_problem p;
    (void)p.run().column_mean(0, 1, 9);
};
HOSTILE_THROWS("attention_probe: negative row", "attention_probe: row (0, 0, -1)") {
    probe_problem p;
    (void)p.run().top1(0, 0, -1);
};
HOSTILE_THROWS("attention_probe: batch past the probe", "attention_probe: row (1, 0, 0)") {
    probe_problem p;
    (void)p.run().mass(1, 0, 0);
};

// A mask that runs a larger attention call once per row, mid-tile, from inside the pass's item:
// shared per-thread scratch would be regrown (use after free) or overwritten under the item.
struct nested_call {
    tensor<float> q = rnd(1, 4, 40, 48, 27), k = rnd(1, 2, 130, 48, 28), v = rnd(1, 2, 130, 40, 29);  // larger than the outer call
    void run() const {
        tensor<float> out(1, 4, 40, 40);
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, {}, attune::serial_executor{});
    }
    static const nested_call& get() {
        static const nested_call c;
        return c;
    }
};
struct nesting_causal_mask {
    using policy_kind = attune::mask_kind;
    [[maybe_unused]] static constexpr bool is_none = false;  // masks need not declare it (clang: unused)
    bool visible(const attune::index_context& c) const {
        if (c.k_pos == c.q_pos) nested_call::get().run();
        return c.k_pos <= c.q_pos;
    }
    attune::tile_class classify(const attune::tile_context&) const { return attune::tile_class::partial; }
};
template <class Exec>
void probe_with_nested_attention(const Exec& exec) {
    (void)nested_call::get();
    auto q = rnd(1, 2, 24, 16, 30), k = rnd(1, 1, 36, 16, 31);
    tensor<float> out(1, 2, 24, 16);
    attune_test::lse_buffer lse(1, 2, 24);
    attune::options opt;
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), k.cview(), k.cview(), out.view, attune::causal{}, opt, attune::serial_executor{});
    const attune::tensor_view<const float> l(lse.view);
    const auto with = attune::probe_attention<arch>(q.cview(), k.cview(), l, attune::variant<nesting_causal_mask>{}, {}, exec);
    const auto plain = attune::probe_attention<arch>(q.cview(), k.cview(), l, attune::causal{}, {}, exec);
    for (index_t h = 0; h < 2; ++h) {
        for (index_t i = 0; i < 24; ++i) {
            CHECK(std::abs(with.entropy(0, h, i) - plain.entropy(0, h, i)) < 1e-5f);
            CHECK(with.top1(0, h, i) == plain.top1(0, h, i));
        }
        for (index_t j = 0; j < 36; ++j) CHECK(std::abs(with.column_sum(0, h, j) - plain.column_sum(0, h, j)) < 1e-5f);
    }
}
HOSTILE_OK("probe: a mask running attention inside a probe item, serial") { probe_with_nested_attention(attune::serial_executor{}); };
HOSTILE_OK("probe: a mask running attention inside a probe item, OpenMP") { probe_with_nested_attention(attune::openmp_executor{2}); };

// ---- ACT ----
struct calib_problem {
    tensor<float> q = rnd(1, 4, 12, 16, 31), k = rnd(1, 2, 12, 16, 32), v = rnd(1, 2, 12, 16, 33), out{1, 4, 12, 16};
    calib_problem() {
        for (index_t h = 0; h < 2; ++h)  // key 3 a strong sink
            for (index_t d = 0; d < 16; ++d) k.view(0, h, 3, d) = 0.0f;
        for (index_t h = 0; h < 4; ++h)
            for (index_t t = 0; t < 12; ++t) q.view(0, h, t, 0) = 3.0f;
        for (index_t h = 0; h < 2; ++h) k.view(0, h, 3, 0) = 4.0f;
    }
};
HOSTILE_THROWS("act: NaN beta", "beta") {
    calib_problem p;
    attune::act_calibration a{{0}, nan, 0.1f};
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, a);
};
HOSTILE_THROWS("act: beta above 1", "beta") {
    calib_problem p;
    attune::act_calibration a{{0}, 1.5f, 0.1f};
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, a);
};
HOSTILE_THROWS("act: negative theta", "theta") {
    calib_problem p;
    attune::act_calibration a{{0}, 0.4f, -0.1f};
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, a);
};
HOSTILE_THROWS("act: head past the query heads", "act_calibration: head 4") {
    calib_problem p;
    attune::act_calibration a{{4}};
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, a);
};
HOSTILE_THROWS("act: a head listed twice", "act_calibration: head 2 is listed twice") {
    calib_problem p;
    attune::act_calibration a{{2, 1, 2}};
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, a, attune::causal{}, {}, attune::openmp_executor{2});
};
HOSTILE_THROWS("act: out is q", "out overlaps q") {
    calib_problem p;
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, attune::act_calibration{{0}});
};
HOSTILE_THROWS("act: out overlaps itself", "out overlaps itself") {
    calib_problem p;
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), self_overlapping(p.out), attune::act_calibration{{0}});
};
HOSTILE_THROWS("act: lse over out", "options::lse overlaps out") {
    calib_problem p;
    attune::options opt;
    opt.lse = attune::lse_view(p.out.view.data(), 1, 4, 12);
    attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::act_calibration{{0}}, attune::variant<>{}, opt);
};
HOSTILE_OK("act: a bad head list writes nothing") {
    calib_problem p;
    p.out.poison();
    CHECK_THROWS_AS(attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::act_calibration{{0, 0}}),
                    attune::error);
    CHECK(all_nan(p.out.view));
};
HOSTILE_OK("act: beta 1 keeps every row (p' = p)") {
    calib_problem p;
    tensor<float> plain(1, 4, 12, 16);
    attune::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), plain.view, attune::causal{});
    const auto rep = attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view,
                                                 attune::act_calibration{{0, 1, 2, 3}, 1.0f, 0.1f}, attune::causal{});
    CHECK(!rep.sinks_of(0, 0).empty());
    check_close(p.out.cview(), plain.cview(), 1e-5);
};
HOSTILE_OK("act: the sinks' share becomes beta times their probability") {
    calib_problem p;
    const auto rep =
        attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::act_calibration{{0}, 0.5f, 0.1f});
    const auto& sinks = rep.sinks_of(0, 0);
    REQUIRE(std::find(sinks.begin(), sinks.end(), index_t(3)) != sinks.end());
    CHECK(rep.sinks_of(0, 1).empty());
    // Row 0, head 0 by hand: o' = β·Σ_S p_j v_j + (1 − β·m)/(1 − m)·Σ_{j∉S} p_j v_j, m = Σ_S p_j.
    double s[12], mx = -1e30, z = 0, m = 0;
    for (index_t j = 0; j < 12; ++j) {
        s[j] = 0;
        for (index_t d = 0; d < 16; ++d) s[j] += double(p.q.view(0, 0, 0, d)) * p.k.view(0, 0, j, d) / 4.0;
        mx = std::max(mx, s[j]);
    }
    for (double x : s) z += std::exp(x - mx);
    auto is_sink = [&](index_t j) { return std::find(sinks.begin(), sinks.end(), j) != sinks.end(); };
    for (index_t j = 0; j < 12; ++j)
        if (is_sink(j)) m += std::exp(s[j] - mx) / z;
    for (index_t d = 0; d < 16; ++d) {
        double u = 0, rest = 0;
        for (index_t j = 0; j < 12; ++j) (is_sink(j) ? u : rest) += std::exp(s[j] - mx) / z * p.v.view(0, 0, j, d);
        const double want = 0.5 * u + (1 - 0.5 * m) / (1 - m) * rest;
        CHECK(std::abs(p.out.view(0, 0, 0, d) - want) < 1e-4);
    }
};

HOSTILE_THROWS("act_report: sinks of a head past the report", "act_report::sinks_of") {
    calib_problem p;
    const auto rep = attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::act_calibration{{0}});
    (void)rep.sinks_of(0, 4);
};
HOSTILE_THROWS("act_report: sinks of a batch past the report", "act_report::sinks_of") {
    calib_problem p;
    const auto rep = attune::act_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::act_calibration{{0}});
    (void)rep.sinks_of(1, 0);
};
HOSTILE_OK("act: one query token (decode) with GQA, beta 1 keeps the output") {
    auto q = rnd(1, 4, 1, 16, 36), k = rnd(1, 2, 9, 16, 37), v = rnd(1, 2, 9, 16, 38);
    tensor<float> o(1, 4, 1, 16), plain(1, 4, 1, 16);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), plain.view);
    attune::act_attention<arch>(q.cview(), k.cview(), v.cview(), o.view, attune::act_calibration{{3, 0}, 1.0f, 0.0f});
    check_close(o.cview(), plain.cview(), 1e-5);
};

// ---- VAR ----
inline attune::var_calibration var_config() {
    attune::var_calibration vc;
    vc.sinks = {0, 6};
    vc.image_first = 4;
    vc.image_last = 9;
    return vc;
}
HOSTILE_THROWS("var: out is q", "out overlaps q") {
    calib_problem p;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, var_config());
};
HOSTILE_THROWS("var: out inside k", "out overlaps k") {
    calib_problem p;
    tensor<float> buf = rnd(1, 1, 60, 16, 34);  // k in rows 0..11, out from row 6 on
    const attune::tensor_view<const float> k(buf.view.data(), {1, 2, 12, 16}, {0, 0, 16});
    const attune::tensor_view<float> o(buf.view.data() + 100, {1, 4, 12, 16}, {0, 192, 16});
    attune::var_attention<arch>(p.q.cview(), k, p.v.cview(), o, var_config());
};
HOSTILE_THROWS("var: out inside v", "out overlaps v") {
    calib_problem p;
    tensor<float> buf = rnd(1, 1, 60, 16, 35);
    const attune::tensor_view<const float> v(buf.view.data() + 760, {1, 2, 12, 16}, {0, 0, 16});
    const attune::tensor_view<float> o(buf.view.data(), {1, 4, 12, 16}, {0, 192, 16});
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), v, o, var_config());
};
HOSTILE_THROWS("var: out overlaps itself", "out overlaps itself") {
    calib_problem p;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), self_overlapping(p.out), var_config());
};
HOSTILE_THROWS("var: lse over q", "options::lse overlaps q") {
    calib_problem p;
    attune::options opt;
    opt.lse = attune::lse_view(p.q.view.data(), 1, 4, 12);
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, var_config(), attune::variant<>{}, opt);
};
HOSTILE_THROWS("var: lse over out", "options::lse overlaps out") {
    calib_problem p;
    attune::options opt;
    opt.lse = attune::lse_view(p.out.view.data() + 3, 1, 4, 12);
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, var_config(), attune::variant<>{}, opt);
};
HOSTILE_THROWS("var: lse of the wrong shape", "lse shape") {
    calib_problem p;
    attune_test::lse_buffer l(1, 4, 11);
    attune::options opt;
    opt.lse = l.view;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, var_config(), attune::variant<>{}, opt);
};
HOSTILE_THROWS("var: out of the wrong shape", "out shape") {
    calib_problem p;
    tensor<float> o(1, 4, 11, 16);
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), o.view, var_config());
};
HOSTILE_THROWS("var: empty image span", "image span") {
    calib_problem p;
    auto vc = var_config();
    vc.image_last = 3;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: image span past the keys", "image span ends") {
    calib_problem p;
    auto vc = var_config();
    vc.image_last = 12;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: sink past the keys", "sink position 12") {
    calib_problem p;
    auto vc = var_config();
    vc.sinks.push_back(12);
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: negative sink", "sink position -3") {
    calib_problem p;
    auto vc = var_config();
    vc.sinks.push_back(-3);
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: head past the query heads", "var_calibration: head 7") {
    calib_problem p;
    auto vc = var_config();
    vc.heads = {7};
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: head listed twice", "var_calibration: head 1 is listed twice") {
    calib_problem p;
    auto vc = var_config();
    vc.heads = {1, 1};
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: NaN p", "p must be") {
    calib_problem p;
    auto vc = var_config();
    vc.p = nan;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: rho 1", "rho") {
    calib_problem p;
    auto vc = var_config();
    vc.rho = 1.0f;
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_THROWS("var: infinite image_mass", "image_mass") {
    calib_problem p;
    auto vc = var_config();
    vc.image_mass = std::numeric_limits<float>::infinity();
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc);
};
HOSTILE_OK("var: a bad sink writes nothing") {
    calib_problem p;
    auto vc = var_config();
    vc.sinks.push_back(99);
    p.out.poison();
    CHECK_THROWS_AS(attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc), attune::error);
    CHECK(all_nan(p.out.view));
};
HOSTILE_OK("var: p 1 is plain attention (outside ⊕ image = all keys)") {
    calib_problem p;
    auto vc = var_config();
    vc.p = 1.0f;
    attune_test::lse_buffer l(1, 4, 12), lp(1, 4, 12);
    attune::options opt, optp;
    opt.lse = l.view, optp.lse = lp.view;
    tensor<float> plain(1, 4, 12, 16);
    attune::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), plain.view, attune::causal{}, optp);
    attune::var_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, vc, attune::causal{}, opt);
    check_close(p.out.cview(), plain.cview(), 1e-5);
    for (index_t h = 0; h < 4; ++h)
        for (index_t t = 0; t < 12; ++t) CHECK(std::abs(*l.view.row(0, h, t) - *lp.view.row(0, h, t)) < 1e-5f);
};

// ---- merge ----
struct merge_problem {
    tensor<float> a = rnd(1, 1, 4, 8, 41), b = rnd(1, 1, 4, 8, 42), out{1, 1, 4, 8};
    attune_test::lse_buffer la{1, 1, 4}, lb{1, 1, 4}, lo{1, 1, 4};
    merge_problem() {
        for (index_t t = 0; t < 4; ++t) *la.view.row(0, 0, t) = 0.5f * float(t), *lb.view.row(0, 0, t) = 1.0f - 0.25f * float(t);
    }
    attune::tensor_view<const float> ca() const { return la.view; }
    attune::tensor_view<const float> cb() const { return lb.view; }
    // The ⊕ of row t in double.
    double expect(index_t t, index_t d) const {
        const double x = *la.view.row(0, 0, t), y = *lb.view.row(0, 0, t), m = std::max(x, y);
        const double wa = std::exp(x - m), wb = std::exp(y - m);
        return (wa * a.view(0, 0, t, d) + wb * b.view(0, 0, t, d)) / (wa + wb);
    }
};
HOSTILE_OK("merge: a NaN LSE gives a NaN row and LSE, not zeros") {
    merge_problem m;
    *m.la.view.row(0, 0, 2) = nan;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.out.view, m.lo.view);
    for (index_t d = 0; d < 8; ++d) CHECK(std::isnan(m.out.view(0, 0, 2, d)));
    CHECK(std::isnan(*m.lo.view.row(0, 0, 2)));
    for (index_t d = 0; d < 8; ++d) CHECK(std::abs(m.out.view(0, 0, 1, d) - m.expect(1, d)) < 1e-5);
};
HOSTILE_OK("merge: a NaN LSE on the empty side is still NaN") {
    merge_problem m;
    *m.la.view.row(0, 0, 0) = -std::numeric_limits<float>::infinity();
    *m.lb.view.row(0, 0, 0) = nan;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.out.view, m.lo.view);
    for (index_t d = 0; d < 8; ++d) CHECK(std::isnan(m.out.view(0, 0, 0, d)));
    CHECK(std::isnan(*m.lo.view.row(0, 0, 0)));
};
HOSTILE_OK("merge: both sides empty give zeros and LSE -inf") {
    merge_problem m;
    const float ninf = -std::numeric_limits<float>::infinity();
    *m.la.view.row(0, 0, 3) = ninf, *m.lb.view.row(0, 0, 3) = ninf;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.out.view, m.lo.view);
    for (index_t d = 0; d < 8; ++d) CHECK(m.out.view(0, 0, 3, d) == 0.0f);
    CHECK(*m.lo.view.row(0, 0, 3) == ninf);
};
HOSTILE_OK("merge: out is out_a exactly and lse_out is lse_a exactly (in place)") {
    merge_problem m;
    std::vector<double> want;
    for (index_t t = 0; t < 4; ++t)
        for (index_t d = 0; d < 8; ++d) want.push_back(m.expect(t, d));
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.a.view, m.la.view);
    for (index_t t = 0; t < 4; ++t)
        for (index_t d = 0; d < 8; ++d) CHECK(std::abs(m.a.view(0, 0, t, d) - want[static_cast<std::size_t>(t * 8 + d)]) < 1e-5);
};
HOSTILE_OK("merge: out interleaved with out_a in one buffer, no shared element") {
    merge_problem m;
    std::vector<float> fused(4 * 16);
    for (index_t t = 0; t < 4; ++t)
        for (index_t d = 0; d < 8; ++d) fused[static_cast<std::size_t>(t * 16 + d)] = m.a.view(0, 0, t, d);
    const attune::tensor_view<const float> a(fused.data(), {1, 1, 4, 8}, {0, 0, 16});
    const attune::tensor_view<float> o(fused.data() + 8, {1, 1, 4, 8}, {0, 0, 16});
    attune::merge(a, m.ca(), m.b.cview(), m.cb(), o);
    for (index_t t = 0; t < 4; ++t)
        for (index_t d = 0; d < 8; ++d) CHECK(std::abs(o(0, 0, t, d) - m.expect(t, d)) < 1e-5);
};
HOSTILE_THROWS("merge: out one row into out_a", "out overlaps out_a") {
    tensor<float> buf = rnd(1, 1, 5, 8, 43), b = rnd(1, 1, 4, 8, 44);
    attune_test::lse_buffer la(1, 1, 4), lb(1, 1, 4);
    attune::merge(attune::tensor_view<const float>(shifted(buf, 0, 4)), la.view, b.cview(), lb.view, shifted(buf, 1, 4));
};
HOSTILE_THROWS("merge: out one row into out_b", "out overlaps out_b") {
    tensor<float> buf = rnd(1, 1, 5, 8, 45), a = rnd(1, 1, 4, 8, 46);
    attune_test::lse_buffer la(1, 1, 4), lb(1, 1, 4);
    attune::merge(a.cview(), la.view, attune::tensor_view<const float>(shifted(buf, 1, 4)), lb.view, shifted(buf, 0, 4));
};
HOSTILE_THROWS("merge: out on out_a's data with other strides", "out overlaps out_a") {
    std::vector<float> buf(32, 1.0f), other(32, 2.0f);
    attune_test::lse_buffer la(1, 2, 2), lb(1, 2, 2);
    const attune::tensor_view<const float> a(buf.data(), {1, 2, 2, 8}, {0, 16, 8}), b(other.data(), {1, 2, 2, 8}, {0, 16, 8});
    attune::merge(a, la.view, b, lb.view, attune::tensor_view<float>(buf.data(), {1, 2, 2, 8}, {0, 8, 16}));
};
HOSTILE_THROWS("merge: out over lse_a", "out overlaps lse_a") {
    merge_problem m;
    std::vector<float> shared(64);
    const attune::tensor_view<const float> l(shared.data(), {1, 1, 4, 1}, {0, 0, 1});
    attune::merge(m.a.cview(), l, m.b.cview(), m.cb(), attune::tensor_view<float>(shared.data(), {1, 1, 4, 8}, {0, 0, 8}));
};
HOSTILE_THROWS("merge: out over lse_b", "out overlaps lse_b") {
    merge_problem m;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), attune::tensor_view<const float>(m.out.view.data() + 9, {1, 1, 4, 1}, {0, 0, 1}),
                  m.out.view);
};
HOSTILE_THROWS("merge: lse_out over out", "lse_out overlaps out") {
    merge_problem m;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.out.view, attune::lse_view(m.out.view.data() + 4, 1, 1, 4));
};
HOSTILE_THROWS("merge: lse_out over out_a", "lse_out overlaps out_a") {
    merge_problem m;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.out.view, attune::lse_view(m.a.view.data(), 1, 1, 4));
};
HOSTILE_THROWS("merge: lse_out one entry into lse_a", "lse_out overlaps lse_a") {
    merge_problem m;
    std::vector<float> l(5, 0.0f);
    attune::merge(m.a.cview(), attune::tensor_view<const float>(attune::lse_view(l.data(), 1, 1, 4)), m.b.cview(), m.cb(), m.out.view,
                  attune::lse_view(l.data() + 1, 1, 1, 4));
};
HOSTILE_THROWS("merge: out overlaps itself", "out overlaps itself") {
    merge_problem m;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), attune::tensor_view<float>(m.out.view.data(), {1, 1, 4, 8}, {0, 0, 4}));
};
HOSTILE_THROWS("merge: lse_out overlaps itself", "lse_out overlaps itself") {
    merge_problem m;
    float one = 0.0f;
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), m.out.view, attune::tensor_view<float>(&one, {1, 1, 4, 1}, {0, 0, 0}));
};
HOSTILE_THROWS("merge: shapes differ", "same shape") {
    merge_problem m;
    tensor<float> o(1, 1, 3, 8);
    attune::merge(m.a.cview(), m.ca(), m.b.cview(), m.cb(), o.view);
};
HOSTILE_THROWS("merge: LSE of the wrong shape", "LSE views") {
    merge_problem m;
    attune_test::lse_buffer l(1, 1, 3);
    attune::merge(m.a.cview(), l.view, m.b.cview(), m.cb(), m.out.view);
};
HOSTILE_THROWS("merge: null LSE", "null data") {
    merge_problem m;
    attune::merge(m.a.cview(), attune::tensor_view<const float>(nullptr, {1, 1, 4, 1}, {0, 0, 1}), m.b.cview(), m.cb(), m.out.view);
};

// ---- linear attention: every kernel ----
struct lin_problem {
    tensor<float> q, k, v, out;
    explicit lin_problem(index_t L = 7, index_t Hq = 2, index_t Hkv = 1)
        : q(rnd(1, Hq, L, 8, 51)), k(rnd(1, Hkv, L, 8, 52)), v(rnd(1, Hkv, L, 8, 53)), out(1, Hq, L, 8) {}
};
// Direct causal / full linear attention of one head in double: φ = elu + 1, normalised, ε 1e-6.
inline double lin_direct(const lin_problem& p, index_t h, index_t i, index_t d, bool causal) {
    auto phi = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
    double num = 0, den = 0;
    const index_t hk = h * p.k.view.heads() / p.q.view.heads();
    for (index_t j = 0; j < (causal ? i + 1 : p.k.view.tokens()); ++j) {
        double w = 0;
        for (index_t e = 0; e < 8; ++e) w += phi(p.q.view(0, h, i, e)) * phi(p.k.view(0, hk, j, e));
        num += w * p.v.view(0, hk, j, d), den += w;
    }
    return num / (den + 1e-6);
}
inline void check_lin(const lin_problem& p, bool causal) {
    for (index_t h = 0; h < p.q.view.heads(); ++h)
        for (index_t i = 0; i < p.q.view.tokens(); ++i)
            for (index_t d = 0; d < 8; ++d) CHECK(std::abs(p.out.view(0, h, i, d) - lin_direct(p, h, i, d, causal)) < 2e-5);
}

HOSTILE_THROWS("linear::attention: out is q", "linear::attention: out overlaps q") {
    lin_problem p;
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view);
};
HOSTILE_THROWS("linear::attention: out inside k", "out overlaps k") {
    lin_problem p(7, 1, 1);
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), shifted(p.k, 0, 7));
};
HOSTILE_THROWS("linear::attention: out overlaps itself", "out overlaps itself") {
    lin_problem p;
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), self_overlapping(p.out));
};
HOSTILE_THROWS("linear::causal: out is v", "linear::causal: out overlaps v") {
    lin_problem p(7, 1, 1);
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.v.view);
};
HOSTILE_THROWS("linear::causal: out one row into q", "out overlaps q") {
    lin_problem p(6, 1, 1);
    tensor<float> buf = rnd(1, 1, 7, 8, 54);
    lin::causal<arch>(attune::tensor_view<const float>(shifted(buf, 0, 6)), p.k.cview(), p.v.cview(), shifted(buf, 1, 6));
};
HOSTILE_THROWS("linear::attention: null q", "q has null data") {
    lin_problem p;
    lin::attention<arch>(null_like(p.q), p.k.cview(), p.v.cview(), p.out.view);
};
HOSTILE_THROWS("linear::attention: out of the wrong shape", "out shape") {
    lin_problem p;
    tensor<float> o(1, 2, 6, 8);
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), o.view);
};
HOSTILE_THROWS("linear::causal: q and k token counts differ", "one query per key") {
    lin_problem p;
    tensor<float> k(1, 1, 6, 8), v(1, 1, 6, 8);
    lin::causal<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view);
};
HOSTILE_THROWS("linear::causal: chunk 0", "options::chunk") {
    lin_problem p;
    lin::options opt;
    opt.chunk = 0;
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, lin::elu_plus_one{}, opt);
};
HOSTILE_THROWS("linear::attention: NaN eps", "options::eps") {
    lin_problem p;
    lin::options opt;
    opt.eps = nan;
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, lin::elu_plus_one{}, opt);
};
HOSTILE_THROWS("linear::attention: head dims whose state wraps (no tokens, null data)", "head dims") {
    const attune::tensor_view<const float> q(nullptr, {1, 1, 0, huge}, {0, 0, 0}), v(nullptr, {1, 1, 0, huge}, {0, 0, 0});
    const attune::tensor_view<float> o(nullptr, {1, 1, 0, huge}, {0, 0, 0});
    lin::attention<arch>(q, q, v, o);
};
HOSTILE_OK("linear::causal: chunk far above the length") {
    lin_problem p;
    lin::options opt;
    opt.chunk = huge;
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, lin::elu_plus_one{}, opt);
    check_lin(p, true);
};
HOSTILE_OK("linear::attention: GQA against the direct sum") {
    lin_problem p(5, 4, 2);
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view);
    check_lin(p, false);
};
HOSTILE_OK("linear::causal: one token gives (almost) its value") {
    lin_problem p(1, 1, 1);
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view);
    check_lin(p, true);
};
HOSTILE_OK("linear::causal: out interleaved with q in one buffer, no shared element") {
    lin_problem p(6, 1, 1);
    std::vector<float> fused(6 * 16);
    for (index_t t = 0; t < 6; ++t)
        for (index_t d = 0; d < 8; ++d) fused[static_cast<std::size_t>(t * 16 + d)] = p.q.view(0, 0, t, d);
    const attune::tensor_view<const float> q(fused.data(), {1, 1, 6, 8}, {0, 0, 16});
    const attune::tensor_view<float> o(fused.data() + 8, {1, 1, 6, 8}, {0, 0, 16});
    lin::causal<arch>(q, p.k.cview(), p.v.cview(), o);
    for (index_t t = 0; t < 6; ++t)
        for (index_t d = 0; d < 8; ++d) CHECK(std::abs(o(0, 0, t, d) - lin_direct(p, 0, t, d, true)) < 2e-5);
};
HOSTILE_OK("linear::relu: rows with all features zero give zeros") {
    lin_problem p(3, 1, 1);
    for (index_t t = 0; t < 3; ++t)
        for (index_t d = 0; d < 8; ++d) p.q.view(0, 0, t, d) = -1.0f;
    lin::options opt;
    opt.eps = 0.0f;
    lin::attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, lin::relu{}, opt);
    for (index_t t = 0; t < 3; ++t)
        for (index_t d = 0; d < 8; ++d) CHECK(p.out.view(0, 0, t, d) == 0.0f);
};
HOSTILE_OK("linear: a user's scalar-only feature map equals the built-in one") {
    struct elu1_scalar {
        float operator()(float x) const { return x > 0.0f ? x + 1.0f : std::exp(x); }
    };
    lin_problem p(9, 2, 1);
    tensor<float> o2(1, 2, 9, 8);
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view);
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), o2.view, elu1_scalar{});
    check_close(p.out.cview(), o2.cview(), 1e-5);
};
HOSTILE_THROWS("linear::state: batch × heads × state wraps", "linear::state: batch × kv heads") { lin::state st(huge, huge, 8, 8); };
HOSTILE_THROWS("linear::state: dk × dv wraps", "size overflows (dk") { lin::state st(1, 1, huge, huge); };
HOSTILE_THROWS("linear::state: zero heads", "must all be > 0") { lin::state st(1, 0, 8, 8); };
HOSTILE_THROWS("linear::state::restore: wrong size", "floats given") {
    lin::state st(1, 1, 8, 8);
    st.restore(std::vector<float>(10));
};
HOSTILE_THROWS("linear::state::restore: negative tokens", "tokens must be") {
    lin::state st(1, 1, 2, 2);
    st.restore(std::vector<float>(6), -1);
};
HOSTILE_THROWS("linear::state::restore: default-constructed state", "has no shape") {
    lin::state st;
    st.restore({});
};
HOSTILE_THROWS("linear::prefill: state of another shape", "state shape") {
    lin_problem p;
    lin::state st(1, 1, 8, 4);
    lin::prefill<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, st);
};
HOSTILE_THROWS("linear::step: default-constructed state", "no shape") {
    lin_problem p;
    lin::state st;
    lin::step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, st);
};
HOSTILE_THROWS("linear::prefill: out is k", "linear::prefill: out overlaps k") {
    lin_problem p(7, 1, 1);
    lin::state st(1, 1, 8, 8);
    lin::prefill<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.k.view, st);
};
HOSTILE_THROWS("linear::step: out is q", "linear::step: out overlaps q") {
    lin_problem p(1, 1, 1);
    lin::state st(1, 1, 8, 8);
    lin::step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, st);
};
HOSTILE_OK("linear: a rejected step leaves the state as it was") {
    lin_problem p(7, 2, 1);
    lin::state st(1, 1, 8, 8);
    lin::prefill<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, st);
    const auto saved = st.save();
    CHECK_THROWS_AS(lin::step<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, st), attune::error);
    CHECK(st.save() == saved);
    CHECK(st.tokens() == 7);
};
HOSTILE_OK("linear: prefill then steps equal causal over all tokens") {
    lin_problem p(9, 2, 1);
    lin::causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view);
    lin::state st(1, 1, 8, 8);
    tensor<float> o(1, 2, 9, 8);
    auto part = [](auto& t, index_t t0, index_t n) {
        const auto& s = t.view.strides();
        return attune::tensor_view<float>(t.view.row(0, 0, t0), {1, t.view.heads(), n, 8}, {s[0], s[1], s[2]});
    };
    lin::prefill<arch>(attune::tensor_view<const float>(part(p.q, 0, 6)), attune::tensor_view<const float>(part(p.k, 0, 6)),
                       attune::tensor_view<const float>(part(p.v, 0, 6)), part(o, 0, 6), st);
    for (index_t t = 6; t < 9; ++t)
        lin::step<arch>(attune::tensor_view<const float>(part(p.q, t, 1)), attune::tensor_view<const float>(part(p.k, t, 1)),
                        attune::tensor_view<const float>(part(p.v, t, 1)), part(o, t, 1), st);
    check_close(o.cview(), p.out.cview(), 1e-4);
    CHECK(st.tokens() == 9);
};
HOSTILE_THROWS("linear::token_scalars: heads × tokens wraps", "token_scalars") {
    float x = 0;
    (void)lin::token_scalars(&x, 1, huge, 8);
};

// gated delta
struct gd_problem {
    lin_problem p{6, 2, 1};
    tensor<float> g{1, 1, 6, 1}, beta{1, 1, 6, 1};
    lin::state st{1, 1, 8, 8};
    gd_problem() {
        for (index_t t = 0; t < 6; ++t) g.view(0, 0, t, 0) = -0.1f * float(t), beta.view(0, 0, t, 0) = 0.5f;
    }
};
HOSTILE_THROWS("gated_delta: out over g", "out overlaps g") {
    gd_problem s;
    std::vector<float> buf(2 * 6 * 8);
    const attune::tensor_view<float> o(buf.data(), {1, 2, 6, 8}, {0, 48, 8});
    const attune::tensor_view<const float> g(buf.data() + 5, {1, 1, 6, 1}, {0, 6, 1});
    lin::gated_delta_step<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), g, s.beta.cview(), o, s.st);
};
HOSTILE_THROWS("gated_delta: out over beta", "out overlaps beta") {
    gd_problem s;
    const attune::tensor_view<const float> b(s.p.out.view.data() + 50, {1, 1, 6, 1}, {0, 6, 1});
    lin::gated_delta_chunked<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), b, s.p.out.view, s.st);
};
HOSTILE_THROWS("gated_delta: out is q", "out overlaps q") {
    gd_problem s;
    lin::gated_delta_chunked<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), s.beta.cview(), s.p.q.view, s.st);
};
HOSTILE_THROWS("gated_delta: g of the wrong shape", "g shape") {
    gd_problem s;
    tensor<float> g(1, 1, 5, 1);
    lin::gated_delta_step<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), g.cview(), s.beta.cview(), s.p.out.view, s.st);
};
HOSTILE_THROWS("gated_delta: null beta", "beta has null data") {
    gd_problem s;
    lin::gated_delta_step<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), null_like(s.beta), s.p.out.view, s.st);
};
HOSTILE_THROWS("gated_delta: chunk 0", "chunk") {
    gd_problem s;
    lin::gated_delta_options opt;
    opt.chunk = 0;
    lin::gated_delta_chunked<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), s.beta.cview(), s.p.out.view, s.st, opt);
};
HOSTILE_THROWS("gated_delta: infinite scale", "scale") {
    gd_problem s;
    lin::gated_delta_options opt;
    opt.scale = std::numeric_limits<float>::infinity();
    lin::gated_delta_step<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), s.beta.cview(), s.p.out.view, s.st, opt);
};
HOSTILE_THROWS("gated_delta: state of another shape", "state shape") {
    gd_problem s;
    lin::state st(1, 2, 8, 8);
    lin::gated_delta_step<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), s.beta.cview(), s.p.out.view, st);
};
HOSTILE_OK("gated_delta: chunked equals step by step") {
    gd_problem s, t;
    lin::gated_delta_step<arch>(s.p.q.cview(), s.p.k.cview(), s.p.v.cview(), s.g.cview(), s.beta.cview(), s.p.out.view, s.st);
    lin::gated_delta_options opt;
    opt.chunk = 4;
    lin::gated_delta_chunked<arch>(t.p.q.cview(), t.p.k.cview(), t.p.v.cview(), t.g.cview(), t.beta.cview(), t.p.out.view, t.st, opt);
    check_close(s.p.out.cview(), t.p.out.cview(), 1e-4);
};

// flow, inline, aaren
HOSTILE_THROWS("flow_attention: eps 0", "flow_options::eps") {
    lin_problem p(5, 1, 1);
    lin::flow_options fo;
    fo.eps = 0.0f;
    lin::flow_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, fo);
};
HOSTILE_THROWS("flow_attention: GQA", "no GQA") {
    lin_problem p(5, 2, 1);
    lin::flow_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view);
};
HOSTILE_THROWS("flow_attention: no keys", "no keys") {
    lin_problem p(5, 1, 1);
    tensor<float> k(1, 1, 0, 8), v(1, 1, 0, 8);
    lin::flow_attention<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view);
};
HOSTILE_THROWS("flow_causal: chunk 0", "flow_options::chunk") {
    lin_problem p(5, 1, 1);
    lin::flow_options fo;
    fo.chunk = 0;
    lin::flow_causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, fo);
};
HOSTILE_THROWS("flow_causal: out is k", "out overlaps k") {
    lin_problem p(5, 1, 1);
    lin::flow_causal<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.k.view);
};
HOSTILE_THROWS("inline_attention: NaN scale", "inline_options::scale") {
    lin_problem p;
    lin::inline_options io;
    io.scale = nan;
    lin::inline_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, lin::identity{}, io);
};
HOSTILE_THROWS("inline_attention: no keys", "no keys") {
    lin_problem p;
    tensor<float> k(1, 1, 0, 8), v(1, 1, 0, 8);
    lin::inline_attention<arch>(p.q.cview(), k.cview(), v.cview(), p.out.view);
};
HOSTILE_THROWS("inline_attention: out inside v", "out overlaps v") {
    lin_problem p(7, 1, 1);
    lin::inline_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), shifted(p.v, 0, 7));
};
struct conv_problem {
    tensor<float> v = rnd(1, 1, 6, 8, 61), w = rnd(1, 1, 8, 9, 62), out{1, 1, 6, 8};
};
HOSTILE_THROWS("inline_local_conv: grid_h × grid_w wraps", "grid_h × grid_w") {
    conv_problem c;
    lin::inline_local_conv<arch>(c.v.cview(), c.w.cview(), c.out.view, huge, 16);
};
HOSTILE_THROWS("inline_local_conv: grid does not match the tokens", "grid needs") {
    conv_problem c;
    lin::inline_local_conv<arch>(c.v.cview(), c.w.cview(), c.out.view, 2, 2);
};
HOSTILE_THROWS("inline_local_conv: a grid side of 0", "positive sides") {
    conv_problem c;
    lin::inline_local_conv<arch>(c.v.cview(), c.w.cview(), c.out.view, 0, 6);
};
HOSTILE_THROWS("inline_local_conv: out is v", "out overlaps v") {
    conv_problem c;
    lin::inline_local_conv<arch>(c.v.cview(), c.w.cview(), c.v.view, 2, 3);
};
HOSTILE_THROWS("inline_local_conv: out over the kernels", "out overlaps kernels") {
    conv_problem c;
    lin::inline_local_conv<arch>(c.v.cview(), c.w.cview(), attune::tensor_view<float>(c.w.view.data() + 3, {1, 1, 6, 8}, {0, 0, 8}), 2, 3);
};
HOSTILE_THROWS("inline_local_conv: kernels of the wrong shape", "kernels shape") {
    conv_problem c;
    tensor<float> w(1, 1, 8, 4);
    lin::inline_local_conv<arch>(c.v.cview(), w.cview(), c.out.view, 2, 3);
};
HOSTILE_OK("inline_local_conv: a 1×1 grid adds the centre tap") {
    tensor<float> v = rnd(1, 1, 1, 8, 63), w = rnd(1, 1, 8, 9, 64), o(1, 1, 1, 8);
    for (index_t d = 0; d < 8; ++d) o.view(0, 0, 0, d) = 1.0f;
    lin::inline_local_conv<arch>(v.cview(), w.cview(), o.view, 1, 1);
    for (index_t d = 0; d < 8; ++d) CHECK(std::abs(o.view(0, 0, 0, d) - (1.0f + w.view(0, 0, d, 4) * v.view(0, 0, 0, d))) < 1e-6f);
};
struct aaren_problem {
    tensor<float> q = rnd(1, 2, 1, 8, 71), k = rnd(1, 1, 9, 8, 72), v = rnd(1, 1, 9, 8, 73), out{1, 2, 9, 8};
};
HOSTILE_THROWS("aaren_scan: two query tokens", "tokens 1") {
    aaren_problem a;
    tensor<float> q(1, 2, 2, 8);
    lin::aaren_scan<arch>(q.cview(), a.k.cview(), a.v.cview(), a.out.view);
};
HOSTILE_THROWS("aaren_scan: block 0", "block") {
    aaren_problem a;
    lin::aaren_options opt;
    opt.block = 0;
    lin::aaren_scan<arch>(a.q.cview(), a.k.cview(), a.v.cview(), a.out.view, opt);
};
HOSTILE_THROWS("aaren_scan: NaN scale", "scale") {
    aaren_problem a;
    lin::aaren_options opt;
    opt.scale = nan;
    lin::aaren_scan<arch>(a.q.cview(), a.k.cview(), a.v.cview(), a.out.view, opt);
};
HOSTILE_THROWS("aaren_scan: out over k", "out overlaps k") {
    aaren_problem a;
    tensor<float> buf = rnd(1, 1, 30, 8, 74);
    const attune::tensor_view<const float> k(buf.view.data(), {1, 1, 9, 8}, {0, 0, 8});
    lin::aaren_scan<arch>(a.q.cview(), k, a.v.cview(), attune::tensor_view<float>(buf.view.data() + 64, {1, 2, 9, 8}, {0, 72, 8}));
};
HOSTILE_THROWS("aaren_update: state of another shape", "state shape") {
    aaren_problem a;
    lin::aaren_state st(1, 1, 8);
    lin::aaren_update<arch>(a.q.cview(), a.k.cview(), a.v.cview(), a.out.view, st);
};
HOSTILE_THROWS("aaren_state: batch × heads × dv wraps", "aaren_state: batch × heads") { lin::aaren_state st(huge, huge, 8); };
HOSTILE_THROWS("aaren_state: zero dv", "must all be > 0") { lin::aaren_state st(1, 1, 0); };
HOSTILE_OK("aaren_scan: a block far above the length equals the default blocks") {
    aaren_problem a;
    tensor<float> o2(1, 2, 9, 8);
    lin::aaren_options opt, blocks;
    opt.block = big;
    blocks.block = 2;
    lin::aaren_scan<arch>(a.q.cview(), a.k.cview(), a.v.cview(), a.out.view, blocks, attune::openmp_executor{2});
    lin::aaren_scan<arch>(a.q.cview(), a.k.cview(), a.v.cview(), o2.view, opt, attune::openmp_executor{2});
    check_close(a.out.cview(), o2.cview(), 1e-5);
};
HOSTILE_OK("aaren_scan: the last token is softmax attention over all keys") {
    aaren_problem a;
    lin::aaren_options opt;
    opt.block = 2;
    lin::aaren_scan<arch>(a.q.cview(), a.k.cview(), a.v.cview(), a.out.view, opt, attune::openmp_executor{2});
    tensor<float> o(1, 2, 1, 8);
    attune::attention<arch>(a.q.cview(), a.k.cview(), a.v.cview(), o.view);
    for (index_t h = 0; h < 2; ++h)
        for (index_t d = 0; d < 8; ++d) CHECK(std::abs(a.out.view(0, h, 8, d) - o.view(0, h, 0, d)) < 1e-5f);
};

// ---- pre-passes: layer_norm_heads, qk_norm_attention ----
HOSTILE_OK("layer_norm_heads: exactly in place equals out of place") {
    auto x = rnd(2, 2, 3, 12, 81);
    tensor<float> y(2, 2, 3, 12);
    attune::layer_norm_heads<arch>(x.cview(), y.view);
    attune::layer_norm_heads<arch>(x.cview(), x.view);
    check_close(x.cview(), y.cview(), 0.0);
};
HOSTILE_OK("layer_norm_heads: one token of dim 1 gives beta") {
    tensor<float> x(1, 1, 1, 1), y(1, 1, 1, 1);
    x.view(0, 0, 0, 0) = 7.0f;
    const float w = 3.0f, b = 0.25f;
    attune::layer_norm ln;
    ln.weight = &w, ln.bias = &b;
    attune::layer_norm_heads<arch>(x.cview(), y.view, ln);
    CHECK(y.view(0, 0, 0, 0) == 0.25f);
};
HOSTILE_OK("layer_norm_heads: out interleaved with in, no shared element") {
    std::vector<float> fused(4 * 32);
    std::mt19937 rng(82);
    std::normal_distribution<float> n01;
    for (auto& v : fused) v = n01(rng);
    const attune::tensor_view<const float> in(fused.data(), {1, 1, 4, 16}, {0, 0, 32});
    const attune::tensor_view<float> out(fused.data() + 16, {1, 1, 4, 16}, {0, 0, 32});
    tensor<float> want(1, 1, 4, 16);
    attune::layer_norm_heads<arch>(in, want.view);
    attune::layer_norm_heads<arch>(in, out);
    check_close(attune::tensor_view<const float>(out), want.cview(), 0.0);
};
HOSTILE_THROWS("layer_norm_heads: out one row into in", "out overlaps in") {
    tensor<float> buf = rnd(1, 1, 5, 8, 83);
    attune::layer_norm_heads<arch>(attune::tensor_view<const float>(shifted(buf, 0, 4)), shifted(buf, 1, 4));
};
HOSTILE_THROWS("layer_norm_heads: in place with other strides", "out overlaps in") {
    tensor<float> x = rnd(1, 2, 2, 8, 84);
    attune::layer_norm_heads<arch>(attune::tensor_view<const float>(x.view.data(), {1, 2, 2, 8}, {0, 16, 8}),
                                   attune::tensor_view<float>(x.view.data(), {1, 2, 2, 8}, {0, 8, 16}));
};
HOSTILE_THROWS("layer_norm_heads: out overlaps itself", "out overlaps itself") {
    tensor<float> x = rnd(1, 2, 3, 8, 85), y(1, 2, 3, 8);
    attune::layer_norm_heads<arch>(x.cview(), self_overlapping(y));
};
HOSTILE_THROWS("layer_norm_heads: out over the weights", "layer_norm::weight") {
    tensor<float> x = rnd(1, 1, 3, 8, 86), y(1, 1, 3, 8);
    attune::layer_norm ln;
    ln.weight = y.view.data() + 16;
    attune::layer_norm_heads<arch>(x.cview(), y.view, ln);
};
HOSTILE_THROWS("layer_norm_heads: out over the bias", "layer_norm::bias") {
    tensor<float> x = rnd(1, 1, 3, 8, 87), y(1, 1, 3, 8);
    attune::layer_norm ln;
    ln.bias = y.view.data() + 3;
    attune::layer_norm_heads<arch>(x.cview(), y.view, ln);
};
HOSTILE_THROWS("layer_norm_heads: eps 0", "eps") {
    tensor<float> x = rnd(1, 1, 3, 8, 88), y(1, 1, 3, 8);
    attune::layer_norm ln;
    ln.eps = 0.0f;
    attune::layer_norm_heads<arch>(x.cview(), y.view, ln);
};
HOSTILE_THROWS("layer_norm_heads: NaN eps", "eps") {
    tensor<float> x = rnd(1, 1, 3, 8, 89), y(1, 1, 3, 8);
    attune::layer_norm ln;
    ln.eps = nan;
    attune::layer_norm_heads<arch>(x.cview(), y.view, ln);
};
HOSTILE_THROWS("layer_norm_heads: shapes differ", "differs from in shape") {
    tensor<float> x = rnd(1, 1, 3, 8, 90), y(1, 1, 4, 8);
    attune::layer_norm_heads<arch>(x.cview(), y.view);
};
HOSTILE_THROWS("layer_norm_heads: head dim 0", "head dim is 0") {
    tensor<float> x(1, 1, 3, 0), y(1, 1, 3, 0);
    attune::layer_norm_heads<arch>(x.cview(), y.view);
};
HOSTILE_THROWS("layer_norm_heads: null in", "in has null data") {
    tensor<float> y(1, 1, 3, 8);
    attune::layer_norm_heads<arch>(attune::tensor_view<const float>(nullptr, {1, 1, 3, 8}, {0, 0, 8}), y.view);
};
struct qkn_problem {
    tensor<float> q = rnd(1, 2, 5, 16, 91), k = rnd(1, 1, 5, 16, 92), v = rnd(1, 1, 5, 16, 93), out{1, 2, 5, 16};
};
HOSTILE_THROWS("qk_norm_attention: out is q (attention sees only the normalised copy)", "out overlaps q") {
    qkn_problem p;
    attune::qk_norm_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.q.view, attune::qk_layernorm{});
};
HOSTILE_THROWS("qk_norm_attention: out inside k", "out overlaps k") {
    qkn_problem p;
    tensor<float> buf = rnd(1, 1, 16, 16, 94);
    const attune::tensor_view<const float> k(buf.view.data(), {1, 1, 5, 16}, {0, 0, 16});
    attune::qk_norm_attention<arch>(p.q.cview(), k, p.v.cview(),
                                    attune::tensor_view<float>(buf.view.data() + 64, {1, 2, 5, 16}, {0, 80, 16}), attune::qk_layernorm{});
};
HOSTILE_THROWS("qk_norm_attention: lse over k", "options::lse overlaps k") {
    qkn_problem p;
    attune::options opt;
    opt.lse = attune::lse_view(p.k.view.data(), 1, 2, 5);
    attune::qk_norm_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::qk_layernorm{}, attune::variant<>{}, opt);
};
HOSTILE_THROWS("qk_norm_attention: null out", "out has null data") {
    qkn_problem p;
    attune::qk_norm_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(),
                                    attune::tensor_view<float>(nullptr, {1, 2, 5, 16}, {160, 80, 16}), attune::qk_layernorm{});
};
HOSTILE_OK("qk_norm_attention: a rejected call writes nothing") {
    qkn_problem p;
    p.out.poison();
    attune::qk_layernorm n;
    n.q.eps = -1.0f;
    CHECK_THROWS_AS(attune::qk_norm_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, n), attune::error);
    CHECK(all_nan(p.out.view));
};
HOSTILE_OK("qk_norm_attention: equals attention on normalised q and k") {
    qkn_problem p;
    tensor<float> qn(1, 2, 5, 16), kn(1, 1, 5, 16), want(1, 2, 5, 16);
    attune::layer_norm_heads<arch>(p.q.cview(), qn.view);
    attune::layer_norm_heads<arch>(p.k.cview(), kn.view);
    attune::attention<arch>(qn.cview(), kn.cview(), p.v.cview(), want.view, attune::causal{});
    attune::qk_norm_attention<arch>(p.q.cview(), p.k.cview(), p.v.cview(), p.out.view, attune::qk_layernorm{}, attune::causal{});
    check_close(p.out.cview(), want.cview(), 0.0);
};

}  // namespace entry_cases
}  // namespace
