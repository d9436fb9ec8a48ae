// ACT attention calibration on a prefill (SPEC.md §6), and the probes that find the sinks. Heads 2
// and 5 get a strong attention sink at token 3 (as trained models do); the probe's column means
// show it, ACT on those heads keeps β = 0.4 of the sink mass and gives the rest to the other keys,
// and the calibrated output is checked against the formula applied to a materialised P.
#include <attune/attune.hpp>
#include <attune/calibration.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const int H = 8, L = 512, D = 64;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(H) * L * D), k(q.size()), v(q.size()), out(q.size()), lse(std::size_t(H) * L);
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    for (int h : {2, 5}) {  // the sink: every query of heads 2 and 5 scores key 3 higher by +5
        for (int i = 0; i < L; ++i) q[(std::size_t(h) * L + i) * D] = 1.0f;
        k[(std::size_t(h) * L + 3) * D] = 5.0f * std::sqrt(float(D));
    }
    const auto Q = attune::view_bhld<const float>(q.data(), 1, H, L, D);
    const auto K = attune::view_bhld<const float>(k.data(), 1, H, L, D);
    const auto V = attune::view_bhld<const float>(v.data(), 1, H, L, D);
    const auto O = attune::view_bhld(out.data(), 1, H, L, D);
    const attune::variant<attune::causal> causal;

    // 1. Where are the sinks? A forward pass with an LSE, then the probe (no L×L matrix is stored).
    attune::options opt;
    opt.lse = attune::lse_view(lse.data(), 1, H, L);
    attune::attention(Q, K, V, O, causal, opt);
    const attune::attention_probe probe = attune::probe_attention(Q, K, attune::tensor_view<const float>(opt.lse), causal);
    std::printf("column mean of key 3 per head:");
    for (int h = 0; h < H; ++h) std::printf(" %.3f", probe.column_mean(0, h, 3));
    std::printf("\nSink_3^0.3 (fraction of heads): %.3f\n", attune::sink_fraction(probe, 0.3f)[3]);

    // 2. ACT on the heads with a sink: β = 0.4, θ = 0.1.
    const attune::act_calibration act{{2, 5}};
    const attune::act_report found = attune::act_attention(Q, K, V, O, act, causal);
    std::printf("ACT sinks found: head 2 {");
    for (auto j : found.sinks_of(0, 2)) std::printf(" %ld", long(j));
    std::printf(" }, head 0 (not calibrated) { %zu keys }\n", found.sinks_of(0, 0).size());

    // 3. Check head 2 against the formula on a materialised P: p' = β·p on S, p·(1 − β m)/(1 − m) elsewhere.
    double err = 0.0;
    const int h = 2;
    for (int i = 0; i < L; ++i) {
        std::vector<double> p(std::size_t(i) + 1);
        double mx = -1e300, sum = 0.0, m = 0.0;
        for (int j = 0; j <= i; ++j) {
            double s = 0.0;
            for (int d = 0; d < D; ++d) s += double(q[(std::size_t(h) * L + i) * D + d]) * k[(std::size_t(h) * L + j) * D + d];
            p[std::size_t(j)] = s / std::sqrt(double(D));
            mx = std::max(mx, p[std::size_t(j)]);
        }
        for (double& x : p) sum += (x = std::exp(x - mx));
        for (double& x : p) x /= sum;
        const auto& S = found.sinks_of(0, h);
        for (auto j : S) m += j <= i ? p[std::size_t(j)] : 0.0;
        const double c = m > 0.0 ? (1.0 - act.beta * m) / (1.0 - m) : 1.0;
        for (int d = 0; d < D; ++d) {
            double o = 0.0;
            for (int j = 0; j <= i; ++j) {
                const bool sink = std::find(S.begin(), S.end(), j) != S.end();
                o += p[std::size_t(j)] * (sink ? act.beta : c) * v[(std::size_t(h) * L + j) * D + d];
            }
            err = std::max(err, std::fabs(o - out[(std::size_t(h) * L + i) * D + d]));
        }
    }
    std::printf("head 2 against the formula: max |error| %.2e\n", err);
    const bool ok = err < 1e-3 &&  // float vs double; ACT scales rounding by up to 1/(1 − m)
                    found.sinks_of(0, 2) == std::vector<attune::index_t>{3} && found.sinks_of(0, 0).empty();
    std::printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
