// attune_demo: a tour of the kernels on realistic shapes. For each it prints the error against the
// double-precision reference and the speed, as a share of this machine's peak measured in the same
// run (an FMA loop for compute, a streaming read for bandwidth).
#include <attune/attune.hpp>
#include <attune/calibration.hpp>
#include <attune/linear.hpp>
#include <attune/reference/softmax.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "peak.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<T> x(n);
    for (auto& e : x) e = static_cast<T>(dist(gen));
    return x;
}

// Median wall time of `reps` runs of f, in seconds.
template <class F>
double time_median(F&& f, int reps) {
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = clock_type::now();
        f();
        t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double max_error(const std::vector<float>& got, const attune::reference::result& ref) {
    double e = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) e = std::max(e, std::abs(static_cast<double>(got[i]) - ref.out[i]));
    return e;
}

struct row {
    std::string name, shape;
    double error, seconds, rate, peak;
    const char* unit;
};

void print(const row& r) {
    std::printf("%-28s %-30s %10.2e %9.2f ms %9.1f %-7s %6.1f%%\n", r.name.c_str(), r.shape.c_str(), r.error, r.seconds * 1e3, r.rate,
                r.unit, 100.0 * r.rate / r.peak);
}

void progress(const char* what) { std::fprintf(stderr, "  … %s\n", what); }

// Prefill: Lq = Lk = L, flops counted over the visible (query, key) pairs.
template <class T, class Mask>
row prefill(const char* name, int hq, int hkv, int L, int D, Mask mask, int threads, double peak_gflops) {
    progress(name);
    const auto q = random_vector<T>(std::size_t(hq) * L * D, 1), k = random_vector<T>(std::size_t(hkv) * L * D, 2),
               v = random_vector<T>(std::size_t(hkv) * L * D, 3);
    std::vector<float> out(std::size_t(hq) * L * D);
    const auto Q = attune::view_bhld(q.data(), 1, hq, L, D), K = attune::view_bhld(k.data(), 1, hkv, L, D),
               V = attune::view_bhld(v.data(), 1, hkv, L, D);
    const auto O = attune::view_bhld(out.data(), 1, hq, L, D);
    const attune::openmp_executor exec(threads);
    const double s = time_median([&] { attune::attention(Q, K, V, O, mask, {}, exec); }, 5);
    const double pairs = std::is_same_v<Mask, attune::causal> ? 0.5 * L * (L + 1.0) : double(L) * L;
    const double gflops = 4.0 * hq * pairs * D / s / 1e9;
    const auto ref = attune::reference::attention(Q, K, V, mask);
    char shape[64];
    std::snprintf(shape, sizeof shape, "Hq %d Hkv %d L %d D %d", hq, hkv, L, D);
    return {name, shape, max_error(out, ref), s, gflops, peak_gflops, "GFLOP/s"};
}

// Any variant (mask, score modifier, family, sink, router) on one prefill shape. FLOPs are counted
// over the pairs the variant computes: visible to its mask, in rows its router keeps.
template <class Var>
row variant_row(const char* name, const Var& var, int hq, int hkv, int L, int D, int threads, double peak_gflops) {
    progress(name);
    const auto q = random_vector<float>(std::size_t(hq) * L * D, 11), k = random_vector<float>(std::size_t(hkv) * L * D, 12),
               v = random_vector<float>(std::size_t(hkv) * L * D, 13);
    std::vector<float> out(std::size_t(hq) * L * D);
    const auto Q = attune::view_bhld(q.data(), 1, hq, L, D), K = attune::view_bhld(k.data(), 1, hkv, L, D),
               V = attune::view_bhld(v.data(), 1, hkv, L, D);
    const auto O = attune::view_bhld(out.data(), 1, hq, L, D);
    const attune::openmp_executor exec(threads);
    const double s = time_median([&] { attune::attention(Q, K, V, O, var, {}, exec); }, 5);
    double pairs = 0.0;
    for (int h = 0; h < hq; ++h)
        for (int i = 0; i < L; ++i) {
            if (var.router().gate(attune::row_context{0, h, i, i}) == 0.0f) continue;
            for (int j = 0; j <= L - 1; ++j) pairs += var.mask().visible(attune::index_context{0, h, h / (hq / hkv), i, j}) ? 1.0 : 0.0;
        }
    const auto ref = attune::reference::attention(Q, K, V, var);
    char shape[64];
    std::snprintf(shape, sizeof shape, "Hq %d Hkv %d L %d D %d", hq, hkv, L, D);
    return {name, shape, max_error(out, ref), s, 4.0 * pairs * D / s / 1e9, peak_gflops, "GFLOP/s"};
}

// Decode: one query token per head against a long cache; K/V bytes read once → GB/s.
template <class T>
row decode(const char* name, int hq, int hkv, int Lk, int D, int threads, double peak_gbs) {
    progress(name);
    const auto q = random_vector<float>(std::size_t(hq) * D, 4);
    const auto k = random_vector<T>(std::size_t(hkv) * Lk * D, 5), v = random_vector<T>(std::size_t(hkv) * Lk * D, 6);
    std::vector<float> out(std::size_t(hq) * D);
    const auto Q = attune::view_bhld(q.data(), 1, hq, 1, D);
    const auto K = attune::view_bhld(k.data(), 1, hkv, Lk, D), V = attune::view_bhld(v.data(), 1, hkv, Lk, D);
    const auto O = attune::view_bhld(out.data(), 1, hq, 1, D);
    const attune::openmp_executor exec(threads);
    const double s = time_median([&] { attune::attention(Q, K, V, O, attune::causal{}, {}, exec); }, 21);
    const double gbs = 2.0 * hkv * double(Lk) * D * sizeof(T) / s / 1e9;
    const auto ref = attune::reference::attention(Q, K, V, attune::causal{});
    char shape[64];
    std::snprintf(shape, sizeof shape, "Hq %d Hkv %d Lk %d D %d", hq, hkv, Lk, D);
    return {name, shape, max_error(out, ref), s, gbs, peak_gbs, "GB/s"};
}

// Cascade: attention over a shared prefix merged with attention over each request's suffix
// equals attention over prefix + suffix.
row cascade(int hq, int hkv, int prefix, int suffix, int D, double peak_gflops) {
    progress("cascade merge");
    const int L = prefix + suffix;
    const auto q = random_vector<float>(std::size_t(hq) * D, 7);
    const auto k = random_vector<float>(std::size_t(hkv) * L * D, 8), v = random_vector<float>(std::size_t(hkv) * L * D, 9);
    std::vector<float> o1(std::size_t(hq) * D), o2(o1.size()), l1(hq), l2(hq);
    const auto kv = [&](const std::vector<float>& x, int first, int n) {
        return attune::tensor_view<const float>(x.data() + std::size_t(first) * D, {1, hkv, n, D}, {hkv * L * D, L * D, D});
    };
    const auto Q = attune::view_bhld(q.data(), 1, hq, 1, D);
    const auto t0 = clock_type::now();
    attune::options a, b;
    a.lse = attune::lse_view(l1.data(), 1, hq, 1);
    b.lse = attune::lse_view(l2.data(), 1, hq, 1);
    attune::attention(Q, kv(k, 0, prefix), kv(v, 0, prefix), attune::view_bhld(o1.data(), 1, hq, 1, D), attune::no_mask{}, a);
    attune::attention(Q, kv(k, prefix, suffix), kv(v, prefix, suffix), attune::view_bhld(o2.data(), 1, hq, 1, D), attune::no_mask{}, b);
    attune::merge(attune::view_bhld<const float>(o1.data(), 1, hq, 1, D), attune::lse_view(l1.data(), 1, hq, 1),
                  attune::view_bhld<const float>(o2.data(), 1, hq, 1, D), attune::lse_view(l2.data(), 1, hq, 1),
                  attune::view_bhld(o1.data(), 1, hq, 1, D));
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    const auto ref = attune::reference::attention(Q, kv(k, 0, L), kv(v, 0, L), attune::no_mask{});
    char shape[64];
    std::snprintf(shape, sizeof shape, "prefix %d + suffix %d", prefix, suffix);
    return {"cascade (prefix ⊕ suffix)", shape, max_error(o1, ref), s, 4.0 * hq * double(L) * D / s / 1e9, peak_gflops, "GFLOP/s"};
}

// Linear attention (elu+1 features, causal, chunked): checked against the definition in double,
// o_i = Σ_{j≤i} (φ(q_i)·φ(k_j)) v_j / Σ_{j≤i} φ(q_i)·φ(k_j). FLOPs: the chunked form's 4·L·d·dv
// per head (state updates and reads) — the family's point is that it grows linearly in L.
row linear_causal(int H, int L, int D, int threads, double peak_gflops) {
    progress("linear attention, causal chunked");
    const auto q = random_vector<float>(std::size_t(H) * L * D, 21), k = random_vector<float>(std::size_t(H) * L * D, 22),
               v = random_vector<float>(std::size_t(H) * L * D, 23);
    std::vector<float> out(q.size());
    const auto Q = attune::view_bhld(q.data(), 1, H, L, D), K = attune::view_bhld(k.data(), 1, H, L, D),
               V = attune::view_bhld(v.data(), 1, H, L, D);
    const attune::openmp_executor exec(threads);
    const double s = time_median(
        [&] { attune::linear::causal(Q, K, V, attune::view_bhld(out.data(), 1, H, L, D), attune::linear::elu_plus_one{}, {}, exec); }, 5);
    const auto phi = [](double x) { return x > 0.0 ? x + 1.0 : std::exp(x); };
    double err = 0.0;
    for (int h = 0; h < H; h += 3)  // a few heads: the check is O(L²·d)
        for (int i = 0; i < L; i += 7) {
            std::vector<double> num(std::size_t(D), 0.0);
            double den = 0.0;
            for (int j = 0; j <= i; ++j) {
                double w = 0.0;
                for (int d = 0; d < D; ++d) w += phi(q[(std::size_t(h) * L + i) * D + d]) * phi(k[(std::size_t(h) * L + j) * D + d]);
                den += w;
                for (int d = 0; d < D; ++d) num[std::size_t(d)] += w * v[(std::size_t(h) * L + j) * D + d];
            }
            for (int d = 0; d < D; ++d)
                err = std::max(err, std::abs(num[std::size_t(d)] / (den + 1e-6) - out[(std::size_t(h) * L + i) * D + d]));
        }
    char shape[64];
    std::snprintf(shape, sizeof shape, "H %d L %d D %d", H, L, D);
    return {"linear causal (elu+1)", shape, err, s, 4.0 * H * double(L) * D * D / s / 1e9, peak_gflops, "GFLOP/s"};
}

// Causal softmax probabilities of one head in double, P[i][j] (j ≤ i), for the checks below.
std::vector<double> head_probs(const std::vector<float>& q, const std::vector<float>& k, int h, int L, int D) {
    std::vector<double> P(std::size_t(L) * L, 0.0);
    for (int i = 0; i < L; ++i) {
        double mx = -1e300, sum = 0.0;
        for (int j = 0; j <= i; ++j) {
            double s = 0.0;
            for (int d = 0; d < D; ++d) s += double(q[(std::size_t(h) * L + i) * D + d]) * k[(std::size_t(h) * L + j) * D + d];
            P[std::size_t(i) * L + j] = s / std::sqrt(double(D));
            mx = std::max(mx, P[std::size_t(i) * L + j]);
        }
        for (int j = 0; j <= i; ++j) sum += (P[std::size_t(i) * L + j] = std::exp(P[std::size_t(i) * L + j] - mx));
        for (int j = 0; j <= i; ++j) P[std::size_t(i) * L + j] /= sum;
    }
    return P;
}

// Sink calibration and probes on a prefill whose heads attend to a sink at key 3: the probe pass
// (column means from the forward LSE; error: against the column means of P in double, head 0)
// and ACT on every head (error: against p' = β·p on the sinks, p·(1 − β m)/(1 − m) elsewhere,
// applied to P in double, head 0). Speed over the plain pass's FLOPs, so the rate ratio to the
// "mask: causal" row is the inverse time ratio.
std::vector<row> calibration(int H, int L, int D, int threads, double peak_gflops) {
    progress("probes and ACT calibration");
    auto q = random_vector<float>(std::size_t(H) * L * D, 31);
    auto k = random_vector<float>(std::size_t(H) * L * D, 32);
    const auto v = random_vector<float>(std::size_t(H) * L * D, 33);
    for (int h = 0; h < H; ++h) {
        for (int i = 0; i < L; ++i) q[(std::size_t(h) * L + i) * D] = 1.0f;
        k[(std::size_t(h) * L + 3) * D] = 5.0f * std::sqrt(float(D));
    }
    std::vector<float> out(q.size()), lse(std::size_t(H) * L);
    const auto Q = attune::view_bhld<const float>(q.data(), 1, H, L, D), K = attune::view_bhld<const float>(k.data(), 1, H, L, D),
               V = attune::view_bhld<const float>(v.data(), 1, H, L, D);
    const attune::openmp_executor exec(threads);
    const attune::variant<attune::causal> causal;
    attune::options opt;
    opt.lse = attune::lse_view(lse.data(), 1, H, L);
    attune::attention(Q, K, V, attune::view_bhld(out.data(), 1, H, L, D), causal, opt, exec);
    std::vector<attune::index_t> heads;
    for (int h = 0; h < H; ++h) heads.push_back(h);
    attune::attention_probe pr;
    const double sp =
        time_median([&] { pr = attune::probe_attention(Q, K, attune::tensor_view<const float>(opt.lse), causal, {}, exec); }, 5);
    const attune::act_calibration act{heads};
    attune::act_report found;
    const double sa =
        time_median([&] { found = attune::act_attention(Q, K, V, attune::view_bhld(out.data(), 1, H, L, D), act, causal, {}, exec); }, 5);

    const std::vector<double> P = head_probs(q, k, 0, L, D);
    double probe_err = 0.0, act_err = 0.0;
    for (int j = 0; j < L; ++j) {
        double col = 0.0;
        for (int i = j; i < L; ++i) col += P[std::size_t(i) * L + j];
        probe_err = std::max(probe_err, std::abs(col / (L - j) - pr.column_mean(0, 0, j)));
    }
    const auto& S = found.sinks_of(0, 0);
    for (int i = 0; i < L; ++i) {
        double m = 0.0;
        for (auto j : S) m += j <= i ? P[std::size_t(i) * L + std::size_t(j)] : 0.0;
        const bool patch = m > 0.0 && 1.0 - m >= attune::act_mass_guard;
        const double c = patch ? (1.0 - act.beta * m) / (1.0 - m) : 1.0;
        for (int d = 0; d < D; ++d) {
            double o = 0.0;
            for (int j = 0; j <= i; ++j) {
                const bool sink = patch && std::find(S.begin(), S.end(), j) != S.end();
                o += P[std::size_t(i) * L + j] * (sink ? act.beta : c) * v[std::size_t(j) * D + d];
            }
            act_err = std::max(act_err, std::abs(o - out[std::size_t(i) * D + d]));
        }
    }
    const double flops = 4.0 * H * 0.5 * L * (L + 1.0) * D;
    char shape[64];
    std::snprintf(shape, sizeof shape, "H %d L %d D %d, %zu sinks", H, L, D, S.size());
    return {{"probe: column means + rows", shape, probe_err, sp, flops / sp / 1e9, peak_gflops, "GFLOP/s"},
            {"ACT on all heads, beta 0.4", shape, act_err, sa, flops / sa / 1e9, peak_gflops, "GFLOP/s"}};
}

}  // namespace

int main() {
    const int threads = attune::openmp_executor{}.workers() > 0 ? static_cast<int>(attune::openmp_executor{}.workers()) : 1;
    std::printf("attune %s demo — arch %s, %d threads\n", ATTUNE_VERSION_STRING, attune::simd::arch_name<attune::default_arch>(), threads);
    std::fprintf(stderr, "measuring this machine's peak…\n");
    const double fma1 = attune_demo::fma_peak_gflops(1), fman = attune_demo::fma_peak_gflops(threads);
    const double readn = attune_demo::read_bandwidth_gbs(threads);
    std::printf("measured peak: %.1f GFLOP/s (1 thread), %.1f GFLOP/s (%d threads), read %.1f GB/s\n\n", fma1, fman, threads, readn);

    std::vector<row> rows;
    rows.push_back(prefill<float>("prefill causal fp32, 1 thr", 8, 8, 1024, 128, attune::causal{}, 1, fma1));
    rows.push_back(prefill<float>("prefill causal fp32", 8, 8, 1024, 128, attune::causal{}, threads, fman));
    rows.push_back(prefill<float>("prefill GQA 4:1 fp32", 32, 8, 512, 128, attune::no_mask{}, threads, fman));
    rows.push_back(prefill<attune::bf16>("prefill causal bf16 in", 8, 8, 1024, 128, attune::causal{}, threads, fman));
    rows.push_back(prefill<float>("prefill head dim 80", 8, 8, 512, 80, attune::causal{}, threads, fman));
    rows.push_back(decode<float>("decode GQA fp32 K/V", 32, 8, 8192, 128, threads, readn));
    rows.push_back(decode<attune::bf16>("decode GQA bf16 K/V", 32, 8, 8192, 128, threads, readn));
    rows.push_back(cascade(32, 8, 4096, 100, 128, fman));

    // Every policy kind on the same causal prefill shape: masks, score modifiers, the sigmoid
    // family, a sink, routers.
    std::vector<row> variants;
    {
        const int H = 8, L = 1024, D = 64;
        using namespace attune;
        variants.push_back(variant_row("mask: causal", variant<causal>{}, H, H, L, D, threads, fman));
        variants.push_back(
            variant_row("mask: sliding window 256", variant<sliding_window>(causal_window_of(256)), H, H, L, D, threads, fman));
        variants.push_back(
            variant_row("mask: sinks 4 + window 256", variant<sinks_window>(sinks_window(4, 256)), H, H, L, D, threads, fman));
        variants.push_back(variant_row("score: softcap 30", variant<causal, softcap>(causal{}, softcap(30.0f)), H, H, L, D, threads, fman));
        variants.push_back(
            variant_row("score: ALiBi", variant<causal, alibi>(causal{}, alibi{alibi_slopes(H)}), H, H, L, D, threads, fman));
        variants.push_back(variant_row("family: sigmoid", variant<sigmoid, causal>(sigmoid{sigmoid_bias_for_length(L)}, causal{}), H, H, L,
                                       D, threads, fman));
        variants.push_back(variant_row("sink: logit (gpt-oss)",
                                       variant<causal, sink_logit>(causal{}, sink_logit(std::vector<float>(H, 0.5f))), H, H, L, D, threads,
                                       fman));
        const std::vector<float> q_route = random_vector<float>(std::size_t(H) * L * D, 11);  // same queries as variant_row's
        variants.push_back(
            variant_row("router: MoH 2 + top-2 of 6",
                        variant<causal, token_gates>(causal{}, moh_query_norm_gates(view_bhld(q_route.data(), 1, H, L, D), 2, 2)), H, H, L,
                        D, threads, fman));
        variants.push_back(variant_row("router: Duo, half streaming",
                                       variant<duo_heads>(duo_heads({false, true, false, true, false, true, false, true}, 64, 256)), H, H,
                                       L, D, threads, fman));
        for (const row& r : calibration(H, L, D, threads, fman)) variants.push_back(r);
        variants.push_back(linear_causal(H, L, D, threads, fman));
    }

    std::printf("%-28s %-30s %10s %12s %17s %7s\n", "kernel", "shape", "max |err|", "time", "speed", "% peak");
    for (const auto& r : rows) print(r);
    std::printf("\nvariants (%d threads; GFLOP/s over the pairs each computes: visible to its mask, in rows its router keeps)\n", threads);
    std::printf("%-28s %-30s %10s %12s %17s %7s\n", "policy", "shape", "max |err|", "time", "speed", "% peak");
    for (const auto& r : variants) print(r);
    std::printf(
        "\nerror: against attune::reference (float64, materialised scores); bf16 rows compare with the\n"
        "reference on the same bf16 inputs. %% peak: of the FMA peak (GFLOP/s) or the read bandwidth (GB/s).\n");
    return 0;
}
