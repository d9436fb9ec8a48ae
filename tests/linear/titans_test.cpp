// Titans' neural memory (Behrouz, Zhong & Mirrokni, 2024), linear and 2-layer MLP, against a
// token-by-token recurrence in double written here from the paper's equations: the loss of Eq. 12
// differentiated by hand, S_t = η_t S_{t−1} − θ_t ∇ℓ (Eq. 14), M_t = (1 − α_t) M_{t−1} + S_t (Eq. 13),
// y_t = M_t(q_t) (Eq. 15); for chunks of b tokens the gradient is taken at the memory of the chunk's
// start (§3.2), so b = 1 is the plain recurrence. No closed form, no cumulative products here.
#include <cmath>
#include <random>
#include <vector>

#include "linear/helpers.hpp"

using namespace linear_test;
using arch = ATTUNE_TEST_ARCH;
namespace lin = attune::linear;
using Catch::Matchers::Contains;

namespace {

double gelu_d(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_prime(double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }
double silu_d(double x) { return x / (1.0 + std::exp(-x)); }
double silu_prime(double x) {
    const double s = 1.0 / (1.0 + std::exp(-x));
    return s + x * s * (1.0 - s);
}

// Per-token gates θ, η, α for [B, Hkv, L].
struct titans_gates {
    std::vector<float> theta, eta, alpha;
    titans_gates(index_t n, unsigned seed, float tmax = 0.3f) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> ut(0.01f, tmax), ue(0.3f, 0.95f), ua(0.0f, 0.2f);
        for (index_t i = 0; i < n; ++i) theta.push_back(ut(rng)), eta.push_back(ue(rng)), alpha.push_back(ua(rng));
    }
};

std::vector<double> unit(std::vector<double> x, bool normalize) {
    if (!normalize) return x;
    const double n = std::sqrt(linear_ref::dot(x, x));
    for (auto& e : x) e = n > 0 ? e / n : 0.0;
    return x;
}

// The dynamics stay in range for these gates (no test passes by comparing two overflowed runs).
double max_abs(const attune::reference::result& r) {
    double m = 0;
    for (double x : r.out) m = std::max(m, std::abs(x));
    return m;
}

// The memory of one head in double: W1 [H][dk] (or W [dv][dk] when H == 0), W2 [dv][H].
struct memory_ref {
    index_t dk, dv, H;
    bool silu;
    std::vector<double> W1, W2;
    double act(double x) const { return silu ? silu_d(x) : gelu_d(x); }
    double act_prime(double x) const { return silu ? silu_prime(x) : gelu_prime(x); }
    std::vector<double> apply(const std::vector<double>& W, index_t rows, index_t cols, const std::vector<double>& x) const {
        std::vector<double> r(static_cast<std::size_t>(rows), 0.0);
        for (index_t o = 0; o < rows; ++o)
            for (index_t j = 0; j < cols; ++j) r[std::size_t(o)] += W[std::size_t(o * cols + j)] * x[std::size_t(j)];
        return r;
    }
    std::vector<double> forward(const std::vector<double>& x) const {
        if (H == 0) return apply(W1, dv, dk, x);
        auto h = apply(W1, H, dk, x);
        for (auto& e : h) e = act(e);
        return apply(W2, dv, H, h);
    }
    // ∇ of ‖M(k) − v‖² with respect to W1 and W2 (chain rule by hand).
    void gradient(const std::vector<double>& k, const std::vector<double>& v, std::vector<double>& G1, std::vector<double>& G2) const {
        if (H == 0) {
            const auto p = apply(W1, dv, dk, k);
            G1.assign(W1.size(), 0.0);
            for (index_t o = 0; o < dv; ++o)
                for (index_t j = 0; j < dk; ++j)
                    G1[std::size_t(o * dk + j)] = 2.0 * (p[std::size_t(o)] - v[std::size_t(o)]) * k[std::size_t(j)];
            return;
        }
        const auto a = apply(W1, H, dk, k);
        std::vector<double> z(a.size());
        for (std::size_t j = 0; j < a.size(); ++j) z[j] = act(a[j]);
        const auto p = apply(W2, dv, H, z);
        G1.assign(W1.size(), 0.0);
        G2.assign(W2.size(), 0.0);
        std::vector<double> dz(static_cast<std::size_t>(H), 0.0);
        for (index_t o = 0; o < dv; ++o) {
            const double e = 2.0 * (p[std::size_t(o)] - v[std::size_t(o)]);
            for (index_t j = 0; j < H; ++j) {
                G2[std::size_t(o * H + j)] = e * z[std::size_t(j)];
                dz[std::size_t(j)] += W2[std::size_t(o * H + j)] * e;
            }
        }
        for (index_t j = 0; j < H; ++j)
            for (index_t i = 0; i < dk; ++i)
                G1[std::size_t(j * dk + i)] = dz[std::size_t(j)] * act_prime(a[std::size_t(j)]) * k[std::size_t(i)];
    }
};

// Titans over [B, Hq, L] with the gradient of token t at the memory of its chunk's start; M_0 from
// `init` ([b][kv head]{W1, W2} as titans_state::weights), momentum 0.
template <class T>
attune::reference::result titans_ref(const attune::tensor_view<T>& q, const attune::tensor_view<T>& k, const attune::tensor_view<T>& v,
                                     const titans_gates& gt, index_t H, bool silu, index_t chunk, bool normalize,
                                     const std::vector<float>& init, bool read_before = false) {
    const index_t B = q.batch(), Hq = q.heads(), Hk = k.heads(), group = Hq / Hk, L = q.tokens(), dk = q.dim(), dv = v.dim();
    auto r = attune::reference::result::zeros(B, Hq, L, dv);
    const index_t n1 = H == 0 ? dv * dk : H * dk, n2 = H == 0 ? 0 : dv * H;
    for (index_t b = 0; b < B; ++b)
        for (index_t hk = 0; hk < Hk; ++hk) {
            memory_ref m{dk, dv, H, silu, {}, {}};
            const float* w = init.empty() ? nullptr : init.data() + (b * Hk + hk) * (n1 + n2);
            for (index_t i = 0; i < n1; ++i) m.W1.push_back(w ? w[i] : 0.0);
            for (index_t i = 0; i < n2; ++i) m.W2.push_back(w[n1 + i]);
            std::vector<double> S1(m.W1.size(), 0.0), S2(m.W2.size(), 0.0), G1, G2;
            memory_ref start = m;
            for (index_t t = 0; t < L; ++t) {
                if (t % chunk == 0) start = m;
                const memory_ref before = m;
                const std::size_t g = std::size_t((b * Hk + hk) * L + t);
                const double th = gt.theta[g], eta = gt.eta[g], al = gt.alpha[g];
                start.gradient(unit(linear_ref::row(k, b, hk, t), normalize), linear_ref::row(v, b, hk, t), G1, G2);
                for (std::size_t i = 0; i < S1.size(); ++i) S1[i] = eta * S1[i] - th * G1[i], m.W1[i] = (1.0 - al) * m.W1[i] + S1[i];
                for (std::size_t i = 0; i < S2.size(); ++i) S2[i] = eta * S2[i] - th * G2[i], m.W2[i] = (1.0 - al) * m.W2[i] + S2[i];
                for (index_t gq = 0; gq < group; ++gq) {
                    const index_t h = hk * group + gq;
                    const auto y = (read_before ? before : m).forward(unit(linear_ref::row(q, b, h, t), normalize));
                    for (index_t d = 0; d < dv; ++d) r.at(b, h, t, d) = y[std::size_t(d)];
                }
            }
        }
    CHECK(max_abs(r) < 100.0);
    return r;
}

// M_0: entries N(0, 1/fan-in) per layer, the usual initialisation of a learned MLP.
std::vector<float> init_weights(lin::titans_state& st, unsigned seed) {
    std::mt19937 rng(seed);
    const index_t dk = st.dk(), dv = st.dv(), H = st.hidden();
    std::normal_distribution<float> n1(0.0f, 1.0f / std::sqrt(float(dk))), n2(0.0f, H ? 1.0f / std::sqrt(float(H)) : 0.0f);
    for (index_t b = 0; b < st.batch(); ++b)
        for (index_t h = 0; h < st.heads(); ++h) {
            float* w = st.weights(b, h);
            const index_t first = H == 0 ? dv * dk : H * dk;
            for (index_t i = 0; i < st.params(); ++i) w[i] = i < first ? n1(rng) : n2(rng);
        }
    std::vector<float> all;
    for (index_t b = 0; b < st.batch(); ++b)
        for (index_t h = 0; h < st.heads(); ++h) all.insert(all.end(), st.weights(b, h), st.weights(b, h) + st.params());
    return all;
}

template <class F>
double max_diff(const F& a, const F& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a[i]) - double(b[i])));
    return d;
}

}  // namespace

TEST_CASE("titans: linear memory, token by token and chunked, against the recurrence in double", "[titans]") {
    // {dk, dv, query heads per kv head}: GQA 1 and 4 alternate over the dims (CI time).
    const index_t dims[][3] = {{32, 32, 4}, {64, 80, 1}, {80, 64, 4}, {128, 128, 1}};
    for (index_t L : {1, 7, 63, 65, 129})
        for (const auto& dd : dims) {
            const index_t dk = dd[0], dv = dd[1], G = dd[2], B = 1, Hk = 2, Hq = Hk * G;
            if (dk == 128 && L > 65) continue;  // the largest dims once at a shorter length: CI time
            CAPTURE(L, dk, dv, G);
            const auto q = random_tensor(B, Hq, L, dk, 11), k = random_tensor(B, Hk, L, dk, 12), v = random_tensor(B, Hk, L, dv, 13);
            const titans_gates gt(B * Hk * L, 14);
            const auto th = lin::token_scalars(gt.theta.data(), B, Hk, L), et = lin::token_scalars(gt.eta.data(), B, Hk, L),
                       al = lin::token_scalars(gt.alpha.data(), B, Hk, L);
            for (index_t chunk : {1, 16}) {
                CAPTURE(chunk);
                lin::titans_state st(B, Hk, dk, dv);
                const auto w0 = init_weights(st, 15);
                auto out = poisoned(B, Hq, L, dv);
                lin::titans_options opt;
                opt.chunk = chunk;
                lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, st, opt);
                expect_close(out, titans_ref(q.cview(), k.cview(), v.cview(), gt, 0, false, chunk, true, w0), 1e-4);
                CHECK(st.tokens() == L);
            }
        }
}

TEST_CASE("titans: MLP memory with the paper's mini-batch update against the recurrence in double", "[titans]") {
    struct shape {
        index_t dk, dv, H, L, G;
    };
    const shape shapes[] = {{32, 32, 64, 129, 1},  {64, 64, 128, 65, 4}, {80, 80, 160, 63, 8},
                            {128, 128, 256, 7, 1}, {32, 64, 48, 1, 4},   {64, 32, 40, 65, 1}};
    for (const auto& s : shapes)
        for (index_t chunk : {1, 5, 64}) {
            const index_t B = 1, Hk = 1, Hq = Hk * s.G;
            CAPTURE(s.dk, s.dv, s.H, s.L, s.G, chunk);
            const auto q = random_tensor(B, Hq, s.L, s.dk, 21), k = random_tensor(B, Hk, s.L, s.dk, 22),
                       v = random_tensor(B, Hk, s.L, s.dv, 23, 0.5f);
            const titans_gates gt(B * Hk * s.L, 24, 0.1f);
            const auto th = lin::token_scalars(gt.theta.data(), B, Hk, s.L), et = lin::token_scalars(gt.eta.data(), B, Hk, s.L),
                       al = lin::token_scalars(gt.alpha.data(), B, Hk, s.L);
            lin::titans_state st(B, Hk, s.dk, s.dv, s.H);
            const auto w0 = init_weights(st, 25);
            lin::titans_options opt;
            opt.chunk = chunk;
            auto out = poisoned(B, Hq, s.L, s.dv);
            lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, st, lin::gelu{}, opt);
            expect_close(out, titans_ref(q.cview(), k.cview(), v.cview(), gt, s.H, false, chunk, true, w0), 1e-4);
        }
}

TEST_CASE("titans: chunk 1 is the plain recurrence; larger chunks differ from it (the paper's approximation)", "[titans]") {
    const index_t B = 1, H = 2, L = 40, dk = 32, dv = 32, hidden = 64;
    const auto q = random_tensor(B, H, L, dk, 31), k = random_tensor(B, H, L, dk, 32), v = random_tensor(B, H, L, dv, 33);
    const titans_gates gt(B * H * L, 34, 0.1f);
    const auto th = lin::token_scalars(gt.theta.data(), B, H, L), et = lin::token_scalars(gt.eta.data(), B, H, L),
               al = lin::token_scalars(gt.alpha.data(), B, H, L);
    lin::titans_state st(B, H, dk, dv, hidden);
    const auto w0 = init_weights(st, 35);
    const auto plain = titans_ref(q.cview(), k.cview(), v.cview(), gt, hidden, false, 1, true, w0);
    const auto batched = titans_ref(q.cview(), k.cview(), v.cview(), gt, hidden, false, 8, true, w0);
    CHECK(max_diff(plain.out, batched.out) > 1e-3);  // the reference itself tells the two forms apart
    auto o1 = poisoned(B, H, L, dv), o8 = poisoned(B, H, L, dv);
    lin::titans_state st8 = st;
    lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, o1.view, st, lin::gelu{}, {true, 1});
    lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, o8.view, st8, lin::gelu{}, {true, 8});
    expect_close(o1, plain, 1e-4);
    expect_close(o8, batched, 1e-4);
}

TEST_CASE("titans: SiLU memory, no normalisation, prefill then decode steps continue the state", "[titans]") {
    const index_t B = 2, Hk = 2, G = 2, Hq = Hk * G, L = 70, P = 48, dk = 32, dv = 24, hidden = 40, chunk = 16;
    const auto q = random_tensor(B, Hq, L, dk, 41, 0.2f), k = random_tensor(B, Hk, L, dk, 42, 0.2f), v = random_tensor(B, Hk, L, dv, 43);
    const titans_gates gt(B * Hk * L, 44, 0.1f);
    const auto th = lin::token_scalars(gt.theta.data(), B, Hk, L), et = lin::token_scalars(gt.eta.data(), B, Hk, L),
               al = lin::token_scalars(gt.alpha.data(), B, Hk, L);
    lin::titans_options opt{false, chunk};
    // MLP: a prefill of P tokens (a multiple of the chunk), then one call over the rest: chunks line up.
    {
        lin::titans_state st(B, Hk, dk, dv, hidden);
        const auto w0 = init_weights(st, 45);
        auto out = poisoned(B, Hq, L, dv);
        lin::titans_mlp<arch>(tokens(q.cview(), 0, P), tokens(k.cview(), 0, P), tokens(v.cview(), 0, P), tokens(th, 0, P), tokens(et, 0, P),
                              tokens(al, 0, P), tokens(out.view, 0, P), st, lin::silu{}, opt);
        lin::titans_mlp<arch>(tokens(q.cview(), P, L - P), tokens(k.cview(), P, L - P), tokens(v.cview(), P, L - P), tokens(th, P, L - P),
                              tokens(et, P, L - P), tokens(al, P, L - P), tokens(out.view, P, L - P), st, lin::silu{}, opt);
        expect_close(out, titans_ref(q.cview(), k.cview(), v.cview(), gt, hidden, true, chunk, false, w0), 1e-4);
        CHECK(st.tokens() == L);
    }
    // Linear: chunk-1 prefill, then decode steps of one token each: the exact recurrence throughout.
    {
        lin::titans_state st(B, Hk, dk, dv);
        const auto w0 = init_weights(st, 46);
        auto out = poisoned(B, Hq, L, dv);
        lin::titans_options exact{false, 1};
        lin::titans_linear<arch>(tokens(q.cview(), 0, P), tokens(k.cview(), 0, P), tokens(v.cview(), 0, P), tokens(th, 0, P),
                                 tokens(et, 0, P), tokens(al, 0, P), tokens(out.view, 0, P), st, exact);
        for (index_t t = P; t < L; ++t)
            lin::titans_linear<arch>(tokens(q.cview(), t, 1), tokens(k.cview(), t, 1), tokens(v.cview(), t, 1), tokens(th, t, 1),
                                     tokens(et, t, 1), tokens(al, t, 1), tokens(out.view, t, 1), st, exact);
        expect_close(out, titans_ref(q.cview(), k.cview(), v.cview(), gt, 0, false, 1, false, w0), 1e-4);
    }
}

TEST_CASE("titans: read before the write, y_t = M_{t-1}(q_t), linear and MLP, chunked", "[titans]") {
    for (index_t L : {1, 7, 65})
        for (index_t hidden : {0, 48})
            for (index_t chunk : {1, 7}) {
                const index_t B = 1, Hk = 2, G = 4, Hq = Hk * G, dk = 32, dv = 80;
                CAPTURE(L, hidden, chunk);
                const auto q = random_tensor(B, Hq, L, dk, 61), k = random_tensor(B, Hk, L, dk, 62), v = random_tensor(B, Hk, L, dv, 63);
                const titans_gates gt(B * Hk * L, 64, 0.1f);
                const auto th = lin::token_scalars(gt.theta.data(), B, Hk, L), et = lin::token_scalars(gt.eta.data(), B, Hk, L),
                           al = lin::token_scalars(gt.alpha.data(), B, Hk, L);
                lin::titans_state st(B, Hk, dk, dv, hidden);
                const auto w0 = init_weights(st, 65);
                lin::titans_options opt;
                opt.chunk = chunk;
                opt.read = lin::titans_read::before_update;
                auto out = poisoned(B, Hq, L, dv);
                if (hidden == 0) lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, st, opt);
                else lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, st, lin::gelu{}, opt);
                expect_close(out, titans_ref(q.cview(), k.cview(), v.cview(), gt, hidden, false, chunk, true, w0, true), 1e-4);
            }
}

TEST_CASE("titans: with no momentum and no decay the linear memory is the delta rule (θ = β/2, g = 0)", "[titans]") {
    // Eq. 13-14 with η = 0, α = 0: W_t = W_{t−1} − 2θ_t (W_{t−1}k_t − v_t)k_tᵀ, DeltaNet's update with β = 2θ.
    const index_t B = 2, Hk = 2, Hq = 8, L = 65, dk = 64, dv = 80;
    const auto q = random_tensor(B, Hq, L, dk, 71), k = random_tensor(B, Hk, L, dk, 72), v = random_tensor(B, Hk, L, dv, 73);
    titans_gates gt(B * Hk * L, 74);
    std::vector<float> zero(gt.theta.size(), 0.0f), beta(gt.theta.size());
    for (std::size_t i = 0; i < beta.size(); ++i) beta[i] = 2.0f * gt.theta[i];
    const auto th = lin::token_scalars(gt.theta.data(), B, Hk, L), z = lin::token_scalars(zero.data(), B, Hk, L);
    lin::titans_state st(B, Hk, dk, dv);
    auto out = poisoned(B, Hq, L, dv);
    lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, z, z, out.view, st);
    expect_close(out, linear_ref::gated_delta(q.cview(), k.cview(), v.cview(), zero, beta, 1.0, true), 1e-4);
}

TEST_CASE("titans: hostile input is an error naming the argument, and leaves the state alone", "[titans][errors]") {
    const index_t B = 1, H = 2, L = 9, dk = 32, dv = 32;
    const auto q = random_tensor(B, H, L, dk, 51), k = random_tensor(B, H, L, dk, 52), v = random_tensor(B, H, L, dv, 53);
    titans_gates gt(B * H * L, 54);
    const auto th = lin::token_scalars(gt.theta.data(), B, H, L), et = lin::token_scalars(gt.eta.data(), B, H, L),
               al = lin::token_scalars(gt.alpha.data(), B, H, L);
    auto out = poisoned(B, H, L, dv);
    lin::titans_state st(B, H, dk, dv), mst(B, H, dk, dv, 16);
    init_weights(st, 55);
    const lin::titans_state saved = st;
    const auto unchanged = [&] { return st.tokens() == 0 && max_diff(st.data(), saved.data()) == 0.0; };

    const auto short_theta = lin::token_scalars(gt.theta.data(), B, H, L - 1);
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), short_theta, et, al, out.view, st),
                      Contains("theta shape"));
    const auto long_eta = lin::token_scalars(gt.eta.data(), B, H - 1, L);
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, long_eta, al, out.view, st), Contains("eta shape"));
    CHECK_THROWS_WITH(lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, short_theta, out.view, mst), Contains("alpha shape"));
    lin::titans_options zero;
    zero.chunk = 0;
    CHECK_THROWS_WITH(lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, mst, lin::gelu{}, zero),
                      Contains("chunk"));
    lin::titans_state bad(B, H, dk, dv + 1);
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, bad), Contains("state shape"));
    lin::titans_state shapeless;
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, shapeless), Contains("state shape"));
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, mst), Contains("MLP memory"));
    CHECK_THROWS_WITH(lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, out.view, st), Contains("linear memory"));
    auto wrong = poisoned(B, H, L, dv + 1);
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), th, et, al, wrong.view, st), Contains("out shape"));
    const auto q_short = random_tensor(B, H, L - 1, dk, 56);
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q_short.cview(), k.cview(), v.cview(), th, et, al, out.view, st), Contains("q tokens"));
    // Outputs overlapping a gate, an input, or the state itself.
    std::vector<float> buf(std::size_t(B * H * L * dv), 0.0f);
    const auto ov = attune::view_bhld(buf.data(), B, H, L, dv);
    const auto gate_in_out = lin::token_scalars<const float>(buf.data() + 5, B, H, L);
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), v.cview(), gate_in_out, et, al, ov, st),
                      Contains("out overlaps theta"));
    CHECK_THROWS_WITH(lin::titans_linear<arch>(q.cview(), k.cview(), out.cview(), th, et, al, out.view, st), Contains("out overlaps v"));
    lin::titans_state big(B, H, dk, dv, 64);
    const auto in_state = attune::view_bhld(big.weights(0, 0), B, H, L, dv);
    CHECK_THROWS_WITH(lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, et, al, in_state, big),
                      Contains("out overlaps the state"));
    const auto gate_in_state = lin::token_scalars<const float>(big.momentum(0, 0), B, H, L);
    CHECK_THROWS_WITH(lin::titans_mlp<arch>(q.cview(), k.cview(), v.cview(), th, gate_in_state, al, out.view, big),
                      Contains("overlaps the state"));
    CHECK(unchanged());
    // States too large to allocate, or of nonsense shape.
    CHECK_THROWS_WITH(lin::titans_state(1, 1, 0, 8), Contains("dk"));
    CHECK_THROWS_WITH(lin::titans_state(1, 1, 8, 8, -1), Contains("hidden"));
    CHECK_THROWS_WITH(lin::titans_state(1 << 20, 1 << 20, 1 << 20, 8, 1 << 20), Contains("overflows"));
    // No tokens: nothing written, the state keeps its values.
    const auto q0 = random_tensor(B, H, 0, dk, 57), k0 = random_tensor(B, H, 0, dk, 58), v0 = random_tensor(B, H, 0, dv, 59);
    auto o0 = poisoned(B, H, 0, dv);
    const auto g0 = lin::token_scalars(gt.theta.data(), B, H, 0);
    lin::titans_linear<arch>(q0.cview(), k0.cview(), v0.cview(), g0, g0, g0, o0.view, st);
    CHECK(unchanged());
}
