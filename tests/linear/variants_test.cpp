// The rest of the linear family, built once per SIMD arch, each against its double reference
// (tests/linear/reference.hpp): InLine and its local 3×3 depthwise conv, Flowformer (non-causal and
// causal), the gated delta rule (recurrent and chunked, per-token α and β) and Aaren (incremental
// update and the parallel prefix scan, against softmax attention over each prefix).
#include <vector>

#include "linear/helpers.hpp"

using namespace linear_test;
using arch = ATTUNE_TEST_ARCH;
namespace lin = attune::linear;
using Catch::Matchers::Contains;

// ---------------------------------------------------------------------------------------------
TEST_CASE("inline: against the reference, code's scale and SPEC's plain form", "[inline]") {
    for (index_t N : {1, 7, 65, 129})
        for (index_t d : {32, 80}) {
            CAPTURE(N, d);
            const auto q = random_tensor(2, 4, N, d, 1), k = random_tensor(2, 2, N, d, 2), v = random_tensor(2, 2, N, d, 3);
            auto out = poisoned(2, 4, N, d);
            lin::inline_attention<arch>(q.cview(), k.cview(), v.cview(), out.view);
            expect_close(out, linear_ref::inline_attn(q.cview(), k.cview(), v.cview(), linear_ref::ident, 1.0 / std::sqrt(double(d)), true),
                         2e-5);
            lin::inline_options plain;
            plain.scale = 1.0f;
            plain.divide_by_tokens = false;
            auto out2 = poisoned(2, 4, N, d);
            lin::inline_attention<arch>(q.cview(), k.cview(), v.cview(), out2.view, lin::elu_plus_one{}, plain);
            // Without the 1/N the two big terms φq·φk_j and φq·k̄ cancel: float keeps ~1e-7 of their size.
            double big = 0;
            for (index_t h = 0; h < 4; ++h)
                for (index_t i = 0; i < N; ++i) {
                    double s = 0;
                    const auto qi = linear_ref::row(q.cview(), 1, h, i, linear_ref::elu1);
                    for (index_t j = 0; j < N; ++j) s += linear_ref::dot(qi, linear_ref::row(k.cview(), 1, h / 2, j, linear_ref::elu1));
                    big = std::max(big, s);
                }
            expect_close(out2, linear_ref::inline_attn(q.cview(), k.cview(), v.cview(), linear_ref::elu1, 1.0, false), 2e-5 + 1e-6 * big);
        }
}

TEST_CASE("inline: weights sum to 1 per row (constant values pass through)", "[inline]") {
    const auto q = random_tensor(1, 2, 50, 16, 4, 3.0f), k = random_tensor(1, 2, 50, 16, 5, 3.0f);
    tensor<float> v(1, 2, 50, 8);
    for (auto& x : v.buf) x = 2.5f;
    auto out = poisoned(1, 2, 50, 8);
    lin::inline_attention<arch>(q.cview(), k.cview(), v.cview(), out.view);
    for (index_t h = 0; h < 2; ++h)
        for (index_t t = 0; t < 50; ++t)
            for (index_t c = 0; c < 8; ++c) CHECK(out.view(0, h, t, c) == Approx(2.5f).epsilon(1e-5));
}

TEST_CASE("inline: local 3x3 depthwise conv on the token grid", "[inline]") {
    const index_t grids[][2] = {{1, 1}, {3, 5}, {7, 4}, {8, 8}};
    for (const auto& g : grids)
        for (index_t dv : {5, 32}) {
            const index_t gh = g[0], gw = g[1], N = gh * gw;
            CAPTURE(gh, gw, dv);
            const auto v = random_tensor(2, 3, N, dv, 6), w = random_tensor(2, 3, dv, 9, 7);
            auto out = random_tensor(2, 3, N, dv, 8);
            const auto before = out.buf;
            lin::inline_local_conv<arch>(v.cview(), w.cview(), out.view, gh, gw);
            auto ref = linear_ref::local_conv(v.cview(), w.cview(), gh, gw);
            for (index_t b = 0; b < 2; ++b)  // the operator adds to out
                for (index_t h = 0; h < 3; ++h)
                    for (index_t t = 0; t < N; ++t)
                        for (index_t c = 0; c < dv; ++c)
                            ref.at(b, h, t, c) += before[static_cast<std::size_t>(&out.view(b, h, t, c) - out.buf.data())];
            expect_close(out, ref, 1e-5);
        }
    const auto v = random_tensor(1, 1, 12, 4, 9), w = random_tensor(1, 1, 4, 9, 10);
    auto out = poisoned(1, 1, 12, 4);
    CHECK_THROWS_WITH(lin::inline_local_conv<arch>(v.cview(), w.cview(), out.view, 3, 5), Contains("grid needs 15"));
    const auto w8 = random_tensor(1, 1, 4, 8, 11);
    CHECK_THROWS_WITH(lin::inline_local_conv<arch>(v.cview(), w8.cview(), out.view, 3, 4), Contains("3×3 kernel"));
    CHECK_THROWS_WITH(lin::inline_local_conv<arch>(v.cview(), w.cview(), out.view, 0, 4), Contains("positive"));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("flow: non-causal (n ≠ m) and causal against the reference", "[flow]") {
    for (index_t L : {1, 7, 65, 129})
        for (index_t d : {32, 64}) {
            CAPTURE(L, d);
            const auto q = random_tensor(1, 3, L, d, 21), k = random_tensor(1, 3, L, d, 22), v = random_tensor(1, 3, L, 48, 23);
            for (index_t chunk : {64, 10}) {
                CAPTURE(chunk);
                lin::flow_options fo;
                fo.chunk = chunk;
                auto out = poisoned(1, 3, L, 48);
                lin::flow_causal<arch>(q.cview(), k.cview(), v.cview(), out.view, fo);
                expect_close(out, linear_ref::flow(q.cview(), k.cview(), v.cview(), true), 5e-5);
            }
            const auto k2 = random_tensor(1, 3, L + 9, d, 24), v2 = random_tensor(1, 3, L + 9, 48, 25);
            auto out = poisoned(1, 3, L, 48);
            lin::flow_attention<arch>(q.cview(), k2.cview(), v2.cview(), out.view);
            expect_close(out, linear_ref::flow(q.cview(), k2.cview(), v2.cview(), false), 5e-5);
        }
    const auto q = random_tensor(1, 2, 8, 16, 1), k = random_tensor(1, 1, 8, 16, 2), v = random_tensor(1, 1, 8, 16, 3);
    auto out = poisoned(1, 2, 8, 16);
    CHECK_THROWS_WITH(lin::flow_causal<arch>(q.cview(), k.cview(), v.cview(), out.view), Contains("no GQA"));
}

// ---------------------------------------------------------------------------------------------
namespace {
struct gates {
    std::vector<float> g, beta;
    gates(index_t B, index_t H, index_t L, unsigned seed, float gmin = -0.5f) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> ug(gmin, 0.0f), ub(0.05f, 0.95f);
        for (index_t i = 0; i < B * H * L; ++i) g.push_back(ug(rng)), beta.push_back(ub(rng));
    }
};
}  // namespace

TEST_CASE("gated delta: recurrent and chunked against the recurrence in double", "[gated_delta]") {
    const index_t dims[][2] = {{32, 32}, {64, 80}, {128, 64}};
    for (index_t L : {1, 7, 65, 129})
        for (const auto& dd : dims) {
            const index_t dk = dd[0], dv = dd[1], B = 1, Hq = 4, Hk = 2;
            CAPTURE(L, dk, dv);
            const auto q = random_tensor(B, Hq, L, dk, 31), k = random_tensor(B, Hk, L, dk, 32), v = random_tensor(B, Hk, L, dv, 33);
            const gates gt(B, Hk, L, 34);
            const auto gv = lin::token_scalars(gt.g.data(), B, Hk, L), bv = lin::token_scalars(gt.beta.data(), B, Hk, L);
            const double tau = 1.0 / std::sqrt(double(dk));
            const auto ref = linear_ref::gated_delta(q.cview(), k.cview(), v.cview(), gt.g, gt.beta, tau, true);
            {
                lin::state st(B, Hk, dk, dv);
                auto out = poisoned(B, Hq, L, dv);
                lin::gated_delta_step<arch>(q.cview(), k.cview(), v.cview(), gv, bv, out.view, st);
                expect_close(out, ref, 5e-5);
            }
            for (index_t chunk : {1, 5, 16, 64}) {
                CAPTURE(chunk);
                lin::gated_delta_options opt;
                opt.chunk = chunk;
                lin::state st(B, Hk, dk, dv);
                auto out = poisoned(B, Hq, L, dv);
                lin::gated_delta_chunked<arch>(q.cview(), k.cview(), v.cview(), gv, bv, out.view, st, opt);
                expect_close(out, ref, 5e-5);
            }
        }
}

TEST_CASE("gated delta: strong decay, no normalisation, chunked prefill then recurrent steps", "[gated_delta]") {
    const index_t B = 2, H = 2, L = 90, P = 61, dk = 32, dv = 24;
    const auto q = random_tensor(B, H, L, dk, 41, 0.3f), k = random_tensor(B, H, L, dk, 42, 0.3f), v = random_tensor(B, H, L, dv, 43);
    const gates gt(B, H, L, 44, -6.0f);  // α down to e^-6: products over a chunk underflow
    const auto gv = lin::token_scalars(gt.g.data(), B, H, L), bv = lin::token_scalars(gt.beta.data(), B, H, L);
    lin::gated_delta_options opt;
    opt.normalize_qk = false;
    opt.scale = 0.5f;
    opt.chunk = 16;
    const auto ref = linear_ref::gated_delta(q.cview(), k.cview(), v.cview(), gt.g, gt.beta, 0.5, false);
    lin::state st(B, H, dk, dv);
    auto out = poisoned(B, H, L, dv);
    lin::gated_delta_chunked<arch>(tokens(q.cview(), 0, P), tokens(k.cview(), 0, P), tokens(v.cview(), 0, P), tokens(gv, 0, P),
                                   tokens(bv, 0, P), tokens(out.view, 0, P), st, opt);
    for (index_t t = P; t < L; ++t)
        lin::gated_delta_step<arch>(tokens(q.cview(), t, 1), tokens(k.cview(), t, 1), tokens(v.cview(), t, 1), tokens(gv, t, 1),
                                    tokens(bv, t, 1), tokens(out.view, t, 1), st, opt);
    expect_close(out, ref, 5e-5);
    CHECK(st.tokens() == L);

    lin::state bad(B, H, dk, dv + 1);
    CHECK_THROWS_WITH(lin::gated_delta_step<arch>(q.cview(), k.cview(), v.cview(), gv, bv, out.view, bad), Contains("state shape"));
    const auto short_g = lin::token_scalars(gt.g.data(), B, H, L - 1);
    CHECK_THROWS_WITH(lin::gated_delta_chunked<arch>(q.cview(), k.cview(), v.cview(), short_g, bv, out.view, st), Contains("g shape"));
    lin::gated_delta_options zero;
    zero.chunk = 0;
    CHECK_THROWS_WITH(lin::gated_delta_chunked<arch>(q.cview(), k.cview(), v.cview(), gv, bv, out.view, st, zero), Contains("chunk"));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("aaren: scan and incremental update equal softmax attention over each prefix", "[aaren]") {
    for (index_t L : {1, 7, 63, 65, 300})
        for (index_t d : {32, 80}) {
            CAPTURE(L, d);
            const index_t B = 2, Hq = 4, Hk = 2;
            const auto q = random_tensor(B, Hq, 1, d, 51, 2.0f), k = random_tensor(B, Hk, L, d, 52), v = random_tensor(B, Hk, L, d, 53);
            const auto ref = linear_ref::prefix_softmax(q.cview(), k.cview(), v.cview(), 1.0 / std::sqrt(double(d)));
            for (index_t block : {1, 16, 256}) {
                CAPTURE(block);
                lin::aaren_options opt;
                opt.block = block;
                auto out = poisoned(B, Hq, L, d);
                lin::aaren_scan<arch>(q.cview(), k.cview(), v.cview(), out.view, opt, attune::openmp_executor{3});
                expect_close(out, ref, 2e-5);
                auto out_serial = poisoned(B, Hq, L, d);
                lin::aaren_scan<arch>(q.cview(), k.cview(), v.cview(), out_serial.view, opt, attune::serial_executor{});
                expect_close(out_serial, ref, 2e-5);
            }
            // Incremental: in two pieces, the second token by token.
            lin::aaren_state st(B, Hq, d);
            auto out = poisoned(B, Hq, L, d);
            const index_t half = L / 2;
            lin::aaren_update<arch>(q.cview(), tokens(k.cview(), 0, half), tokens(v.cview(), 0, half), tokens(out.view, 0, half), st);
            for (index_t t = half; t < L; ++t)
                lin::aaren_update<arch>(q.cview(), tokens(k.cview(), t, 1), tokens(v.cview(), t, 1), tokens(out.view, t, 1), st);
            expect_close(out, ref, 2e-5);
            // The state is the ⊕-sum of every leaf: its LSE is the log-sum-exp of all scores.
            double mx = -INFINITY, z = 0;
            std::vector<double> s;
            for (index_t j = 0; j < L; ++j) {
                double x = 0;
                for (index_t i = 0; i < d; ++i) x += double(q.view(1, 3, 0, i)) * double(k.view(1, 1, j, i));
                s.push_back(x / std::sqrt(double(d)));
                mx = std::max(mx, s.back());
            }
            for (double x : s) z += std::exp(x - mx);
            CHECK(st.row(1, 3).lse() == Approx(mx + std::log(z)).epsilon(1e-5));
        }
}

TEST_CASE("aaren: bad input", "[errors]") {
    const auto q = random_tensor(1, 2, 2, 16, 1), k = random_tensor(1, 2, 8, 16, 2), v = random_tensor(1, 2, 8, 16, 3);
    auto out = poisoned(1, 2, 8, 16);
    CHECK_THROWS_WITH(lin::aaren_scan<arch>(q.cview(), k.cview(), v.cview(), out.view), Contains("one query per head"));
    const auto q1 = random_tensor(1, 2, 1, 16, 4);
    lin::aaren_options opt;
    opt.block = 0;
    CHECK_THROWS_WITH(lin::aaren_scan<arch>(q1.cview(), k.cview(), v.cview(), out.view, opt), Contains("block"));
    lin::aaren_state st(1, 2, 8);
    CHECK_THROWS_WITH(lin::aaren_update<arch>(q1.cview(), k.cview(), v.cview(), out.view, st), Contains("state shape"));
    CHECK_THROWS_WITH(lin::aaren_scan<arch>(q1.cview(), k.cview(), v.cview(), poisoned(1, 2, 7, 16).view), Contains("one output per key"));
}
