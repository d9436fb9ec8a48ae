// A downstream program: causal attention with grouped query heads through attune, checked against
// a naive double-precision loop. Exit status 0 when every output matches.
#include <attune/attune.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    const int B = 1, Hq = 4, Hkv = 2, L = 9, D = 16;
    std::vector<float> q(B * Hq * L * D), k(B * Hkv * L * D), v(B * Hkv * L * D), out(B * Hq * L * D);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * static_cast<float>(i));
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.21f * static_cast<float>(i));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.13f * static_cast<float>(i) + 1.0f);

    const auto qv = attune::view_bhld<const float>(q.data(), B, Hq, L, D);
    const auto kv = attune::view_bhld<const float>(k.data(), B, Hkv, L, D);
    const auto vv = attune::view_bhld<const float>(v.data(), B, Hkv, L, D);
    attune::attention(qv, kv, vv, attune::view_bhld(out.data(), B, Hq, L, D), attune::causal{});

    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    double worst = 0.0;
    for (int h = 0; h < Hq; ++h) {
        const int hk = h / (Hq / Hkv);
        for (int i = 0; i < L; ++i) {
            std::vector<double> s(i + 1);
            double mx = -1e300, sum = 0.0;
            for (int j = 0; j <= i; ++j) {  // causal: query i sees keys 0..i
                double dot = 0.0;
                for (int d = 0; d < D; ++d) dot += double(q[(h * L + i) * D + d]) * double(k[(hk * L + j) * D + d]);
                s[j] = dot * scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j <= i; ++j) sum += (s[j] = std::exp(s[j] - mx));
            for (int d = 0; d < D; ++d) {
                double o = 0.0;
                for (int j = 0; j <= i; ++j) o += s[j] / sum * double(v[(hk * L + j) * D + d]);
                const double err = std::fabs(o - double(out[(h * L + i) * D + d]));
                worst = err > worst ? err : worst;
            }
        }
    }
    std::printf("attune %s consumer: out[0,3,8,5] = %.6f, max |attune - naive| = %.3g\n", ATTUNE_VERSION_STRING,
                static_cast<double>(out[(3 * L + 8) * D + 5]), worst);
    if (!(worst < 1e-4)) {
        std::printf("FAILED: attune's causal attention differs from the naive loop\n");
        return 1;
    }
#ifdef ATTUNE_CONSUMER_DISPATCH
    // Built with attune_dispatch(): the call ran at the widest level this CPU has.
    const auto ran = attune::dispatch::last_run(), widest = attune::dispatch::cpu();
    std::printf("dispatch: ran at %s, CPU's widest %s\n", attune::dispatch::name(ran), attune::dispatch::name(widest));
    if (ran != widest) {
        std::printf("FAILED: attune_dispatch() did not route the call to the CPU's widest level\n");
        return 1;
    }
#endif
    return 0;
}
