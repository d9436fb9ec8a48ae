// Hostile matrix: the KV caches (kv_cache, streaming_cache, h2o_cache, duo_cache, landmark_cache,
// landmark_attention_cache):
// sizes that wrap, out-of-range accessors, bad chunks and steps, every invalid option, outputs and
// inputs overlapping the cache's own storage, and correct results at the edges (tests/hostile/matrix.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "attune/cache.hpp"
#include "attune/cache/duo_cache.hpp"
#include "hostile/matrix.hpp"

namespace {
namespace cache_cases {

using attune::index_t;
using attune_test::tensor;
using arch = ATTUNE_TEST_ARCH;
using serial = attune::serial_executor;

const index_t big = attune::unbounded;
const index_t huge = std::numeric_limits<index_t>::max() / 4;
constexpr index_t H = 2, HQ = 4, DK = 16, DV = 8;

// Inputs of one call: q [1, HQ, n, DK], the chunk k [1, H, n, DK], v [1, H, n, DV], out, lse.
struct io {
    tensor<float> q, k, v, out;
    attune_test::lse_buffer lse;
    explicit io(index_t n, std::uint32_t seed = 3) : q(1, HQ, n, DK), k(1, H, n, DK), v(1, H, n, DV), out(1, HQ, n, DV), lse(1, HQ, n) {
        std::mt19937 rng(seed);
        q.fill_random(rng);
        k.fill_random(rng);
        v.fill_random(rng);
        out.poison();
    }
};

// A view over the first elements of a cache's storage, as a hostile caller could make it.
template <class V>
float* writable(const V& view) {
    return const_cast<float*>(view.data());
}

template <class C>
void step(C& c, io& x, const attune::options& opt = {}) {
    c.template step<arch>(x.q.cview(), x.k.cview(), x.v.cview(), x.out.view, opt, serial{});
}
template <class C>
void step_out(C& c, io& x, const attune::tensor_view<float>& out, const attune::options& opt = {}) {
    c.template step<arch>(x.q.cview(), x.k.cview(), x.v.cview(), out, opt, serial{});
}
// A streaming cache with 9 tokens seen (the ring has wrapped).
inline attune::streaming_cache<float> warm_streaming() {
    attune::streaming_cache<float> c(H, DK, DV, 2, 5);
    io x(9, 1);
    c.append(x.k.cview(), x.v.cview());
    return c;
}
inline attune::h2o_cache<float> warm_h2o() {
    attune::h2o_cache<float> c(H, DK, DV, 2, 3);
    io x(6, 1);
    step(c, x);
    return c;
}
inline attune::duo_cache<float> warm_duo() {
    attune::duo_cache<float> c({true, false}, HQ, DK, DV, 2, 5);
    io x(6, 1);
    c.append(x.k.cview(), x.v.cview());
    return c;
}
inline attune::landmark_cache<float> warm_landmark(index_t max_tokens = big) {
    attune::landmark_cache<float> c(H, DK, DV, 4, max_tokens);
    io x(10, 1);
    c.append(x.k.cview(), x.v.cview());
    return c;
}
// A chunk of `n` tokens (stride 0, one element of storage): sizes without memory.
inline attune::tensor_view<const float> phantom(index_t heads, index_t n, index_t dim) {
    static const float x = 0.0f;
    return attune::tensor_view<const float>(&x, {1, heads, n, dim}, {0, 0, 0});
}
// [1, H, L, D] rows [first, first + n).
inline attune::tensor_view<const float> tokens(const tensor<float>& t, index_t first, index_t n) {
    return attune::tensor_view<const float>(t.view.row(0, 0, first), {1, t.view.heads(), n, t.view.dim()}, t.view.strides());
}

// ---- constructors: sizes that wrap or cannot be allocated ----
HOSTILE_THROWS("streaming_cache: sinks + recent wraps", "sinks + recent") { attune::streaming_cache<float> c(1, 8, 8, 4, big); };
HOSTILE_THROWS("streaming_cache<bf16>: sinks + recent wraps", "sinks + recent") {
    attune::streaming_cache<attune::bf16> c(1, 8, 8, big, 1);
};
HOSTILE_THROWS("streaming_cache: heads × slots × dk wraps", "heads × (sinks + recent) × dk") {
    attune::streaming_cache<float> c(huge, 8, 8, 0, huge);
};
HOSTILE_THROWS("streaming_cache: slots × dv wraps", "heads × (sinks + recent) × dv") {
    attune::streaming_cache<float> c(1, 1, huge, 0, 64);
};
HOSTILE_THROWS("streaming_cache: 0 heads", "heads (0)") { attune::streaming_cache<float> c(0, 8, 8, 1, 1); };
HOSTILE_THROWS("streaming_cache: negative dk", "dk (-1)") { attune::streaming_cache<float> c(1, -1, 8, 1, 1); };
HOSTILE_THROWS("streaming_cache: recent 0", "recent (0)") { attune::streaming_cache<float> c(1, 8, 8, 1, 0); };
HOSTILE_THROWS("streaming_cache: negative sinks", "sinks (-1)") { attune::streaming_cache<float> c(1, 8, 8, -1, 4); };
HOSTILE_THROWS("kv_cache: reserve near 2^62", "kv_cache: reserve") { attune::kv_cache<float> c(8, 128, 128, big, index_t(1) << 62); };
HOSTILE_THROWS("kv_cache<half>: reserve × dim wraps", "kv_cache: reserve") { attune::kv_cache<attune::half> c(1, huge, 1, big, 8); };
HOSTILE_THROWS("kv_cache: negative reserve", "reserve (-1)") { attune::kv_cache<float> c(1, 8, 8, big, -1); };
HOSTILE_THROWS("kv_cache: negative max_tokens", "max_tokens (-1)") { attune::kv_cache<float> c(1, 8, 8, -1); };
HOSTILE_THROWS("kv_cache: heads × dk wraps", "heads × dk") { attune::kv_cache<float> c(huge, huge, 1); };
HOSTILE_THROWS("kv_cache: dv 0", "dv (0)") { attune::kv_cache<float> c(1, 8, 0); };
HOSTILE_THROWS("h2o_cache: heavy + recent wraps", "heavy + recent") { attune::h2o_cache<float> c(1, 8, 8, big, big); };
HOSTILE_THROWS("h2o_cache: heavy + recent + 1 wraps", "heavy + recent") { attune::h2o_cache<float> c(1, 8, 8, big, 0); };
HOSTILE_THROWS("h2o_cache: heads × budget × dim wraps", "heads × (heavy + recent + 1)") {
    attune::h2o_cache<float> c(huge, 8, 8, 1, huge);
};
HOSTILE_THROWS("h2o_cache: empty budget", "heavy + recent ≥ 1") { attune::h2o_cache<float> c(1, 8, 8, 0, 0); };
HOSTILE_THROWS("h2o_cache: negative heavy", "heavy (-1)") { attune::h2o_cache<float> c(1, 8, 8, -1, 4); };
HOSTILE_THROWS("duo_cache: no kv heads", "at least one kv head") { attune::duo_cache<float> c({}, 4, 8, 8); };
HOSTILE_THROWS("duo_cache: q heads not a multiple", "multiple of the kv heads") { attune::duo_cache<float> c({true, false}, 3, 8, 8); };
HOSTILE_THROWS("duo_cache: streaming sinks + recent wraps", "sinks + recent") { attune::duo_cache<float> c({true}, 1, 8, 8, 4, big); };
HOSTILE_THROWS("duo_cache: retrieval reserve near 2^62", "kv_cache: reserve") {
    attune::duo_cache<float> c({false, true}, 2, 8, 8, 4, 4, index_t(1) << 62);
};
HOSTILE_THROWS("landmark_cache: block 0", "block (0)") { attune::landmark_cache<float> c(1, 8, 8, 0); };
HOSTILE_THROWS("landmark_cache: heads × dk wraps", "heads × dk") { attune::landmark_cache<float> c(huge, huge, 8, 4); };

// ---- accessors out of range ----
HOSTILE_THROWS("kv_cache::keys(1, unbounded)", "kv_cache::keys") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(3);
    c.append(x.k.cview(), x.v.cview());
    (void)c.keys(1, big);
};
HOSTILE_THROWS("kv_cache::values: negative first", "kv_cache::values") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(3);
    c.append(x.k.cview(), x.v.cview());
    (void)c.values(-1, 2);
};
HOSTILE_THROWS("kv_cache::keys: negative count", "kv_cache::keys") {
    attune::kv_cache<float> c(H, DK, DV);
    (void)c.keys(0, -1);
};
HOSTILE_THROWS("kv_cache::keys: first past the end", "kv_cache::keys") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(3);
    c.append(x.k.cview(), x.v.cview());
    (void)c.keys(4, 0);
};
HOSTILE_THROWS("kv_cache::key_row: token past capacity", "kv_cache::key_row") {
    attune::kv_cache<float> c(H, DK, DV, big, 16);
    (void)c.key_row(0, 16);
};
HOSTILE_THROWS("kv_cache::value_row: negative head", "kv_cache::value_row") {
    attune::kv_cache<float> c(H, DK, DV, big, 16);
    (void)c.value_row(-1, 0);
};
HOSTILE_THROWS("streaming_cache::position: negative slot", "streaming_cache::position") { (void)warm_streaming().position(-1); };
HOSTILE_THROWS("streaming_cache::position: slot past size", "streaming_cache::position") { (void)warm_streaming().position(7); };
HOSTILE_THROWS("streaming_cache::cache_position: slot past size", "streaming_cache::position") {
    (void)warm_streaming().cache_position(7);
};
HOSTILE_THROWS("h2o_cache::position: slot past size", "h2o_cache::position") { (void)warm_h2o().position(0, 5); };
HOSTILE_THROWS("h2o_cache::score: head past heads", "h2o_cache::score") { (void)warm_h2o().score(H, 0); };
HOSTILE_THROWS("h2o_cache::held_positions: negative head", "held_positions") { (void)warm_h2o().held_positions(-1); };
HOSTILE_THROWS("duo_cache::streaming: head past kv heads", "duo_cache::streaming") { (void)warm_duo().streaming(2); };
HOSTILE_THROWS("duo_cache::retrieval_cache of a streaming head", "retrieval_cache") { (void)warm_duo().retrieval_cache(0); };
HOSTILE_THROWS("duo_cache::streaming_cache_of a retrieval head", "streaming_cache_of") { (void)warm_duo().streaming_cache_of(1); };
HOSTILE_THROWS("landmark_cache::landmark: block past the complete ones", "landmark_cache::landmark") {
    (void)warm_landmark().landmark(0, 2);
};

// ---- appends ----
HOSTILE_THROWS("kv_cache::append: past max_tokens", "capacity exceeded") {
    attune::kv_cache<float> c(H, DK, DV, 5);
    io x(6);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("kv_cache::append: wrong heads", "heads (the cache's)") {
    attune::kv_cache<float> c(H + 1, DK, DV);
    io x(2);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("kv_cache::append: wrong k dim", "k head dim") {
    attune::kv_cache<float> c(H, DK + 1, DV);
    io x(2);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("kv_cache<bf16>::append: wrong v dim", "v head dim") {
    attune::kv_cache<attune::bf16> c(H, DK, DV + 1);
    io x(2);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("kv_cache::append: k and v token counts differ", "tokens but v has") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(3);
    c.append(x.k.cview(), tokens(x.v, 0, 2));
};
HOSTILE_THROWS("kv_cache::append: null k", "null data") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(2);
    c.append(attune::tensor_view<const float>(nullptr, {1, H, 2, DK}, x.k.view.strides()), x.v.cview());
};
HOSTILE_THROWS("kv_cache::append: batch 2", "batch 1") {
    attune::kv_cache<float> c(H, DK, DV);
    tensor<float> k(2, H, 2, DK), v(2, H, 2, DV);
    c.append(k.cview(), v.cview());
};
HOSTILE_THROWS("kv_cache::append: a chunk whose growth wraps", "kv_cache::append: heads × capacity × dim") {
    attune::kv_cache<float> c(H, DK, DV);  // 2^57 + 1 tokens fit a view; their doubled capacity × H × DK does not
    c.append(phantom(H, (index_t(1) << 57) + 1, DK), phantom(H, (index_t(1) << 57) + 1, DV));
};
HOSTILE_THROWS("streaming_cache::append: k from the cache's own storage", "k overlaps the cache's own storage") {
    auto c = warm_streaming();
    io x(2);
    c.append(attune::tensor_view<const float>(c.keys().data(), {1, H, 2, DK}, c.keys().strides()), x.v.cview());
};
HOSTILE_THROWS("streaming_cache::append: wrong v dim", "v head dim") {
    attune::streaming_cache<float> c(H, DK, DV + 2, 1, 4);
    io x(2);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("duo_cache::append: wrong heads", "duo_cache::append") {
    attune::duo_cache<float> c({true, false, false}, 6, DK, DV);
    io x(2);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("landmark_cache::append: past max_tokens", "capacity exceeded") {
    auto c = warm_landmark(12);
    io x(3);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("landmark_cache::append: landmarks too many to allocate", "landmark_cache::append: blocks × heads × dk") {
    attune::landmark_cache<float> c(H, DK, DV, 1);
    c.append(phantom(H, (index_t(1) << 57) + 1, DK), phantom(H, (index_t(1) << 57) + 1, DV));
};

// ---- steps: shapes, options, overlap ----
HOSTILE_THROWS("streaming_cache::step: kv_splits -1", "kv_splits") {
    auto c = warm_streaming();
    io x(1);
    attune::options o;
    o.kv_splits = -1;
    step(c, x, o);
};
HOSTILE_THROWS("streaming_cache::step: NaN scale", "scale") {
    auto c = warm_streaming();
    io x(3);
    attune::options o;
    o.scale = std::numeric_limits<float>::quiet_NaN();
    step(c, x, o);
};
HOSTILE_THROWS("streaming_cache::step: lse of the wrong shape", "lse shape") {
    auto c = warm_streaming();
    io x(1);
    attune_test::lse_buffer l(1, HQ, 2);
    attune::options o;
    o.lse = l.view;
    step(c, x, o);
};
HOSTILE_THROWS("streaming_cache::step: lse overlapping out", "options::lse overlaps out") {
    auto c = warm_streaming();
    io x(1);
    attune::options o;
    o.lse = attune::lse_view(x.out.buf.data(), 1, HQ, 1);
    step(c, x, o);
};
HOSTILE_THROWS("streaming_cache::step: out overlapping q", "out overlaps q") {
    auto c = warm_streaming();
    io x(1);
    step_out(c, x, attune::tensor_view<float>(x.q.buf.data(), {1, HQ, 1, DV}, x.q.view.strides()));
};
HOSTILE_THROWS("streaming_cache::step: out overlapping itself", "out overlaps itself") {
    auto c = warm_streaming();
    io x(3);
    step_out(c, x, attune::tensor_view<float>(x.out.buf.data(), {1, HQ, 3, DV}, {0, 0, DV}));
};
HOSTILE_THROWS("streaming_cache::step: out overlapping the cache", "out overlaps the cache's own storage") {
    auto c = warm_streaming();
    io x(1);
    step_out(c, x, attune::tensor_view<float>(writable(c.keys()), {1, HQ, 1, DV}, {0, DV, DV}));
};
HOSTILE_THROWS("streaming_cache::step: q overlapping the cache", "q overlaps the cache's own storage") {
    auto c = warm_streaming();
    io x(1);
    c.step<arch>(attune::tensor_view<const float>(c.keys().data(), {1, HQ, 1, DK}, {0, 0, DK}), x.k.cview(), x.v.cview(), x.out.view, {},
                 serial{});
};
HOSTILE_THROWS("streaming_cache::step: q tokens differ from the chunk's", "q has 3 tokens but the chunk has 1") {
    auto c = warm_streaming();
    io x(3);
    c.step<arch>(x.q.cview(), tokens(x.k, 0, 1), tokens(x.v, 0, 1), x.out.view, {}, serial{});
};
HOSTILE_THROWS("streaming_cache::step: q of the wrong dim", "q head dim") {
    attune::streaming_cache<float> c(H, DK + 1, DV, 1, 4);
    io x(1);
    tensor<float> k(1, H, 1, DK + 1);
    c.step<arch>(x.q.cview(), k.cview(), x.v.cview(), x.out.view, {}, serial{});
};
HOSTILE_THROWS("h2o_cache::step: kv_splits -1", "kv_splits") {
    auto c = warm_h2o();
    io x(1);
    attune::options o;
    o.kv_splits = -7;
    step(c, x, o);
};
HOSTILE_THROWS("h2o_cache::step: negative scale", "scale") {
    auto c = warm_h2o();
    io x(2);
    attune::options o;
    o.scale = -0.5f;
    step(c, x, o);
};
HOSTILE_THROWS("h2o_cache::step: infinite scale", "scale") {
    auto c = warm_h2o();
    io x(1);
    attune::options o;
    o.scale = std::numeric_limits<float>::infinity();
    step(c, x, o);
};
HOSTILE_THROWS("h2o_cache::step: out overlapping k", "out overlaps k") {
    auto c = warm_h2o();
    io x(1);
    step_out(c, x, attune::tensor_view<float>(x.k.buf.data(), {1, HQ, 1, DV}, {0, DV, DV}));
};
HOSTILE_THROWS("h2o_cache::step: out of the wrong shape", "out must be") {
    auto c = warm_h2o();
    io x(1);
    tensor<float> o(1, HQ, 1, DV + 1);
    step_out(c, x, o.view);
};
HOSTILE_THROWS("h2o_cache::step: k from the cache's own storage", "k overlaps the cache's own storage") {
    auto c = warm_h2o();
    io x(1);
    c.step<arch>(x.q.cview(), attune::tensor_view<const float>(c.keys().data(), {1, H, 1, DK}, c.keys().strides()), x.v.cview(), x.out.view,
                 {}, serial{});
};
HOSTILE_THROWS("h2o_cache::step: lse overlapping the cache", "options::lse overlaps the cache's own storage") {
    auto c = warm_h2o();
    io x(1);
    attune::options o;
    o.lse = attune::lse_view(writable(c.keys()), 1, HQ, 1);
    step(c, x, o);
};
HOSTILE_THROWS("duo_cache::step: an lse", "options::lse is not supported") {
    auto c = warm_duo();
    io x(1);
    attune::options o;
    o.lse = x.lse.view;
    step(c, x, o);
};
HOSTILE_THROWS("duo_cache::step: kv_splits -1", "kv_splits") {
    auto c = warm_duo();
    io x(1);
    attune::options o;
    o.kv_splits = -1;
    step(c, x, o);
};
HOSTILE_THROWS("duo_cache::step: NaN scale", "scale") {
    auto c = warm_duo();
    io x(3);
    attune::options o;
    o.scale = std::numeric_limits<float>::quiet_NaN();
    step(c, x, o);
};
HOSTILE_THROWS("duo_cache::step: q heads differ from the cache's", "the cache was made for") {
    attune::duo_cache<float> c({true, false}, 2 * HQ, DK, DV);
    io x(1);
    step(c, x);
};
HOSTILE_THROWS("duo_cache::step: out overlapping a retrieval head's cache", "out overlaps the cache's own storage") {
    auto c = warm_duo();
    io x(1);
    step_out(c, x, attune::tensor_view<float>(writable(c.retrieval_cache(1).keys()), {1, HQ, 1, DV}, {0, DV, DV}));
};
HOSTILE_THROWS("duo_cache::step: out overlapping q", "out overlaps q") {
    auto c = warm_duo();
    io x(2);
    step_out(c, x, attune::tensor_view<float>(x.q.buf.data(), {1, HQ, 2, DV}, x.q.view.strides()));
};
HOSTILE_THROWS("landmark_cache::attend: negative top_k", "top_k (-1)") {
    auto c = warm_landmark();
    io x(1);
    c.attend<arch>(x.q.cview(), x.out.view, -1, 4, {}, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: window 0", "window (0)") {
    auto c = warm_landmark();
    io x(1);
    c.attend<arch>(x.q.cview(), x.out.view, 1, 0, {}, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: kv_splits -1", "kv_splits") {
    auto c = warm_landmark();
    io x(1);
    attune::options o;
    o.kv_splits = -1;
    c.attend<arch>(x.q.cview(), x.out.view, 1, 4, o, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: out overlapping q", "out overlaps q") {
    auto c = warm_landmark();
    io x(2);
    c.attend<arch>(x.q.cview(), attune::tensor_view<float>(x.q.buf.data(), {1, HQ, 2, DV}, x.q.view.strides()), 1, 4, {}, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: out overlapping the cache", "out overlaps k") {
    auto c = warm_landmark();
    io x(1);
    c.attend<arch>(x.q.cview(), attune::tensor_view<float>(writable(c.kv().keys()), {1, HQ, 1, DV}, {0, DV, DV}), 1, 4, {}, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: lse of the wrong shape", "lse shape") {
    auto c = warm_landmark();
    io x(1);
    attune_test::lse_buffer l(1, H, 1);
    attune::options o;
    o.lse = l.view;
    c.attend<arch>(x.q.cview(), x.out.view, 1, 4, o, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: more queries than tokens", "append first") {
    auto c = warm_landmark();
    io x(11);
    c.attend<arch>(x.q.cview(), x.out.view, 1, 4, {}, serial{});
};
HOSTILE_THROWS("landmark_cache::attend: top_k too large for selected()", "landmark_cache::attend: top_k") {
    auto c = warm_landmark();
    io x(1);
    c.attend<arch>(x.q.cview(), x.out.view, big, 4, {}, serial{});
};

// Tokens [first, first + n) of a [1, H, L, D] tensor.
inline attune::tensor_view<const float> rows(const tensor<float>& x, index_t first, index_t n) {
    return attune::tensor_view<const float>(x.view.row(0, 0, first), {1, x.view.heads(), n, x.view.dim()}, x.view.strides());
}
// landmark_attention_cache: blocks of 4, 10 tokens, landmarks of blocks 0 and 1 (queries in block 2).
inline attune::landmark_attention_cache<float> warm_landmark_attention(index_t max_tokens = big) {
    attune::rope r;
    r.head_dim = DK;
    attune::landmark_attention_cache<float> c(H, DK, DV, 4, r, max_tokens);
    io x(10, 1);
    tensor<float> lk(1, H, 2, DK);
    c.append(rows(x.k, 0, 4), rows(x.v, 0, 4));
    c.append_landmark(rows(lk, 0, 1));
    c.append(rows(x.k, 4, 4), rows(x.v, 4, 4));
    c.append_landmark(rows(lk, 1, 1));
    c.append(rows(x.k, 8, 2), rows(x.v, 8, 2));
    return c;
}
inline attune::rope rope_dk() {
    attune::rope r;
    r.head_dim = DK;
    return r;
}
HOSTILE_THROWS("landmark_attention_cache: block 0", "block (0)") { attune::landmark_attention_cache<float> c(H, DK, DV, 0, rope_dk()); };
HOSTILE_THROWS("landmark_attention_cache: heads × dk wraps", "heads × dk") {
    attune::rope r;
    r.head_dim = huge;
    attune::landmark_attention_cache<float> c(huge, huge, 8, 4, r);
};
HOSTILE_THROWS("landmark_attention_cache: dynamic NTK rope", "ntk") {
    attune::rope r = rope_dk();
    r.scaling = attune::rope_scaling::ntk;
    r.original_max_position_embeddings = 64;
    attune::landmark_attention_cache<float> c(H, DK, DV, 4, r);
};
HOSTILE_THROWS("landmark_attention_cache: rope theta 0", "theta") {
    attune::rope r = rope_dk();
    r.theta = 0;
    attune::landmark_attention_cache<float> c(H, DK, DV, 4, r);
};
HOSTILE_THROWS("landmark_attention_cache::landmark: block past the held ones", "landmark_attention_cache::landmark") {
    (void)warm_landmark_attention().landmark(0, 2);
};
HOSTILE_THROWS("landmark_attention_cache::append: past max_tokens", "capacity exceeded") {
    auto c = warm_landmark_attention(11);
    io x(2);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("landmark_attention_cache::append: into a block whose predecessor has no landmark", "append_landmark first") {
    auto c = warm_landmark_attention();
    io x(3);
    c.append(x.k.cview(), x.v.cview());
};
HOSTILE_THROWS("landmark_attention_cache::append_landmark: more landmarks than complete blocks", "landmark count mismatch") {
    auto c = warm_landmark_attention();
    tensor<float> lk(1, H, 1, DK);
    c.append_landmark(lk.cview());
};
HOSTILE_THROWS("landmark_attention_cache::append_landmark: wrong head dim", "landmark keys must be") {
    auto c = warm_landmark_attention();
    tensor<float> lk(1, H, 1, DK + 1);
    c.append_landmark(lk.cview());
};
HOSTILE_THROWS("landmark_attention_cache::append_landmark: null data", "null data") {
    auto c = warm_landmark_attention();
    c.append_landmark(attune::tensor_view<const float>(nullptr, {1, H, 1, DK}, {H * DK, DK, DK}));
};
HOSTILE_THROWS("landmark_attention_cache::append_landmark: lk inside the cache's landmarks", "overlaps the cache's own storage") {
    attune::landmark_attention_cache<float> c(H, DK, DV, 4, rope_dk());
    io x(8, 1);
    c.append(rows(x.k, 0, 4), rows(x.v, 0, 4));
    c.append_landmark(rows(x.k, 0, 1));
    c.append(rows(x.k, 4, 4), rows(x.v, 4, 4));  // block 1 complete: its landmark is due
    c.append_landmark(attune::tensor_view<const float>(c.landmark(0, 0), {1, H, 1, DK}, {H * DK, DK, DK}));
};
HOSTILE_THROWS("landmark_attention_cache::attend: negative top_k", "top_k (-1)") {
    auto c = warm_landmark_attention();
    io x(1);
    c.attend<arch>(x.q.cview(), x.out.view, -1, 0.0f, serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: infinite scale", "scale") {
    auto c = warm_landmark_attention();
    io x(1);
    c.attend<arch>(x.q.cview(), x.out.view, 1, std::numeric_limits<float>::infinity(), serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: queries spanning blocks", "span blocks 1 to 2") {
    auto c = warm_landmark_attention();
    io x(3);
    c.attend<arch>(x.q.cview(), x.out.view, 1, 0.0f, serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: more queries than tokens", "append first") {
    auto c = warm_landmark_attention();
    io x(11);
    c.attend<arch>(x.q.cview(), x.out.view, 1, 0.0f, serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: out overlapping q", "out overlaps q") {
    auto c = warm_landmark_attention();
    io x(1);
    c.attend<arch>(x.q.cview(), attune::tensor_view<float>(x.q.buf.data(), {1, HQ, 1, DV}, x.q.view.strides()), 1, 0.0f, serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: out overlapping the cache", "out overlaps k") {
    auto c = warm_landmark_attention();
    io x(1);
    c.attend<arch>(x.q.cview(), attune::tensor_view<float>(writable(c.kv().keys()), {1, HQ, 1, DV}, {0, DV, DV}), 1, 0.0f, serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: out overlapping the landmarks", "out overlaps the cache's landmarks") {
    auto c = warm_landmark_attention();
    io x(1);
    c.attend<arch>(x.q.cview(), attune::tensor_view<float>(const_cast<float*>(c.landmark(0, 0)), {1, HQ, 1, DV}, {0, DV, DV}), 1, 0.0f,
                   serial{});
};
HOSTILE_THROWS("landmark_attention_cache::attend: top_k too large for selected()", "landmark_attention_cache::attend: top_k") {
    auto c = warm_landmark_attention();
    io x(1);
    c.attend<arch>(x.q.cview(), x.out.view, big, 0.0f, serial{});
};
HOSTILE_OK("landmark_attention_cache::attend: a throwing executor leaves selected() and the cache as they were") {
    auto c = warm_landmark_attention();
    io x(2, 4);
    c.attend<arch>(x.q.cview(), x.out.view, 1, 0.0f, serial{});
    const auto before = c.selected();
    attune::pool_executor fails(2, [](index_t, const attune::pool_executor::body_type&) { throw attune::error("attune: user pool"); });
    CHECK_THROWS_AS(c.attend<arch>(x.q.cview(), x.out.view, 2, 0.0f, fails), attune::error);
    CHECK(c.selected() == before);
    CHECK(c.tokens() == 10);
    CHECK(c.landmarks() == 2);
};
HOSTILE_OK("landmark_attention_cache::attend: no queries, and no blocks before the query's") {
    auto c = warm_landmark_attention();
    io x(0);
    c.attend<arch>(x.q.cview(), x.out.view, 3, 0.0f, serial{});
    CHECK(c.selected().empty());
    attune::landmark_attention_cache<float> one(H, DK, DV, 4, rope_dk());
    io y(1, 2);
    one.append(y.k.cview(), y.v.cview());
    one.attend<arch>(y.q.cview(), y.out.view, 3, 0.0f, serial{});  // one token: its own value
    for (index_t h = 0; h < HQ; ++h)
        for (index_t d = 0; d < DV; ++d) CHECK(y.out.view(0, h, 0, d) == y.v.view(0, h / 2, 0, d));
    CHECK(one.selected() == std::vector<index_t>(HQ * 3, -1));
};

// ---- correct results at the edges ----
// Softmax attention of q [1, HQ, n, DK] over full-history k, v under `var`, by the double reference.
template <class Var>
void check_ref(const io& x, const tensor<float>& k, const tensor<float>& v, const Var& var) {
    attune_test::check_against_reference(x.out, attune::reference::attention(x.q.cview(), k.cview(), v.cview(), var),
                                         attune_test::fp32_tolerance());
}

HOSTILE_OK("kv_cache: one token, attention equals the reference") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(1);
    c.append(x.k.cview(), x.v.cview());
    attune::attention<arch>(x.q.cview(), c.keys(), c.values(), x.out.view, attune::causal{}, {}, serial{});
    check_ref(x, x.k, x.v, attune::causal{});
};
HOSTILE_OK("kv_cache: filled to exactly max_tokens") {
    attune::kv_cache<float> c(H, DK, DV, 7);
    io x(7);
    c.append(tokens(x.k, 0, 4), tokens(x.v, 0, 4));
    c.append(tokens(x.k, 4, 3), tokens(x.v, 4, 3));
    CHECK(c.tokens() == 7);
    CHECK(c.capacity() == 7);
    CHECK(c.keys(6, 1)(0, 1, 0, 3) == x.k.view(0, 1, 6, 3));
};
HOSTILE_OK("kv_cache: appending its own tokens across a growth") {
    attune::kv_cache<float> c(H, DK, DV, big, 16);
    io x(16);
    c.append(x.k.cview(), x.v.cview());
    c.append(c.keys(), c.values());  // grows: the chunk is read before the old storage goes
    REQUIRE(c.tokens() == 32);
    index_t diff = 0;
    for (index_t h = 0; h < H; ++h)
        for (index_t t = 0; t < 32; ++t)
            for (index_t d = 0; d < DK; ++d) diff += c.keys()(0, h, t, d) != x.k.view(0, h, t % 16, d);
    CHECK(diff == 0);
};
HOSTILE_OK("kv_cache<bf16>: rows read back rounded to bf16") {
    attune::kv_cache<attune::bf16> c(H, DK, DV);
    io x(3);
    c.append(x.k.cview(), x.v.cview());
    CHECK(attune::to_float(c.values()(0, 1, 2, 5)) == attune::to_float(attune::from_float<attune::bf16>(x.v.view(0, 1, 2, 5))));
};
HOSTILE_OK("kv_cache: keys(tokens, 0) is an empty view") {
    attune::kv_cache<float> c(H, DK, DV);
    io x(3);
    c.append(x.k.cview(), x.v.cview());
    CHECK(c.keys(3, 0).tokens() == 0);
};
HOSTILE_OK("streaming_cache: decode past the ring's wrap equals sinks + window over the history") {
    attune::streaming_cache<float> c(H, DK, DV, 2, 5);
    io all(12, 5);
    for (index_t t = 0; t < 12; ++t) {
        io x(1, 100 + static_cast<std::uint32_t>(t));
        c.step<arch>(x.q.cview(), tokens(all.k, t, 1), tokens(all.v, t, 1), x.out.view, {}, serial{});
        if (t == 11) {
            tensor<float> k(1, H, 12, DK), v(1, H, 12, DV);
            k.buf = all.k.buf, v.buf = all.v.buf;
            check_ref(x, k, v, attune::sinks_window(2, 5));
        }
    }
    CHECK(c.size() == 7);
    CHECK(c.position(2) == 7);  // ring slot 2 holds the newest t with (t − 2) mod 5 = 0
    CHECK(c.position(5) == 10);
};
HOSTILE_OK("streaming_cache: capacity exactly full after one chunk") {
    attune::streaming_cache<float> c(H, DK, DV, 2, 5);
    io x(7);
    step(c, x);
    check_ref(x, x.k, x.v, attune::sinks_window(2, 5));
    CHECK(c.size() == 7);
    CHECK(c.seen() == 7);
};
HOSTILE_OK("streaming_cache<half>: one token") {
    attune::streaming_cache<attune::half> c(H, DK, DV, 0, 1);
    io x(1);
    step(c, x);
    attune_test::check_against_reference(x.out, attune::reference::attention(x.q.cview(), x.k.cview(), x.v.cview()),
                                         attune_test::half_out_tolerance());
};
HOSTILE_OK("h2o_cache: one token equals the reference") {
    attune::h2o_cache<float> c(H, DK, DV, 1, 1);
    io x(1);
    step(c, x);
    check_ref(x, x.k, x.v, attune::causal{});
    CHECK(c.size() == 1);
};
HOSTILE_OK("h2o_cache: a prompt of exactly the budget keeps every token") {
    attune::h2o_cache<float> c(H, DK, DV, 2, 3);
    io x(5);
    step(c, x);
    check_ref(x, x.k, x.v, attune::causal{});
    CHECK(c.size() == 5);
    CHECK(c.held_positions(1) == std::vector<index_t>{0, 1, 2, 3, 4});
};
HOSTILE_OK("duo_cache: a chunk equals causal and sinks + window per head") {
    attune::duo_cache<float> c({true, false}, HQ, DK, DV, 1, 2);
    io x(6);
    step(c, x);
    const auto full = attune::reference::attention(x.q.cview(), x.k.cview(), x.v.cview(), attune::causal{});
    const auto stream = attune::reference::attention(x.q.cview(), x.k.cview(), x.v.cview(), attune::sinks_window(1, 2));
    double worst = 0;
    for (index_t h = 0; h < HQ; ++h)  // q heads 0, 1 read streaming kv head 0; 2, 3 the retrieval head
        for (index_t t = 0; t < 6; ++t)
            for (index_t d = 0; d < DV; ++d) {
                const double want = (h < 2 ? stream : full).out[static_cast<std::size_t>(((h * 6) + t) * DV + d)];
                worst = std::max(worst, std::abs(want - x.out.view(0, h, t, d)));
            }
    CHECK(worst < 1e-4);
};
HOSTILE_OK("landmark_cache: every block retrieved equals causal attention") {
    attune::landmark_cache<float> c(H, DK, DV, 4);
    io all(12, 8);
    c.append(all.k.cview(), all.v.cview());
    io x(1, 9);
    c.attend<arch>(x.q.cview(), x.out.view, 8, 1, {}, serial{});
    check_ref(x, all.k, all.v, attune::causal{});
    std::vector<index_t> want;  // per query head: blocks 0 and 1 (all before the window's block 2), then none
    for (index_t h = 0; h < HQ; ++h)
        for (index_t b : {0, 1, -1, -1, -1, -1, -1, -1}) want.push_back(b);
    CHECK(c.selected() == want);
};
HOSTILE_OK("landmark_cache: one token, no block") {
    attune::landmark_cache<float> c(H, DK, DV, 4);
    io x(1);
    c.append(x.k.cview(), x.v.cview());
    c.attend<arch>(x.q.cview(), x.out.view, 2, 1, {}, serial{});
    check_ref(x, x.k, x.v, attune::causal{});
    CHECK(c.blocks() == 0);
};
HOSTILE_OK("streaming_cache: a throwing executor leaves the next step exact") {
    attune::streaming_cache<float> a(H, DK, DV, 2, 3), b(H, DK, DV, 2, 3);
    io p(6, 2);
    a.append(p.k.cview(), p.v.cview());
    b.append(p.k.cview(), p.v.cview());
    io x(1, 4);
    attune::pool_executor fails(2, [](index_t, const attune::pool_executor::body_type&) { throw attune::error("attune: user pool"); });
    bool threw = false;
    try {
        a.step<arch>(x.q.cview(), x.k.cview(), x.v.cview(), x.out.view, {}, fails);
    } catch (const attune::error&) {
        threw = true;
    }
    CHECK(threw);
    io y(1, 6), z(1, 6);
    step(a, y);
    step(b, z);
    CHECK(std::memcmp(y.out.buf.data(), z.out.buf.data(), y.out.buf.size() * sizeof(float)) == 0);
    CHECK(a.seen() == b.seen());
};

}  // namespace cache_cases
}  // namespace
