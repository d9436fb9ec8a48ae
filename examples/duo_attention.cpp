// DuoAttention: half the kv heads are retrieval heads (full history), half are streaming heads
// (64 sinks + 256 recent tokens). duo_cache keeps only what each head needs; a prompt is prefilled
// in chunks, then tokens are decoded one by one. Each output equals attention with the duo_heads mask
// over the whole history (checked), while the cache holds about half the memory of a full one.
#include <attune/attune.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const int Hq = 16, Hkv = 4, D = 64, prompt = 3072, chunk = 512, decode = 64, T = prompt + decode;
    // Gate values α per kv head, as DuoAttention's optimisation learns them; the lowest half stream.
    const std::vector<float> alpha = {0.91f, 0.07f, 0.64f, 0.12f};
    const std::vector<bool> streaming = attune::duo_heads::by_sparsity(alpha, 0.5);
    attune::duo_cache<float> cache(streaming, Hq, D, D, /*sinks*/ 64, /*recent*/ 256);
    for (int h = 0; h < Hkv; ++h) std::printf("kv head %d: alpha %.2f -> %s\n", h, alpha[h], streaming[h] ? "streaming" : "retrieval");

    // The model's Q/K/V for every token ([1, H, T, D]); the cache sees them chunk by chunk.
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(Hq) * T * D), k(std::size_t(Hkv) * T * D), v(k.size()), out(q.size()), direct(q.size());
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    auto tokens = [&](std::vector<float>& x, int heads, int first, int n) {  // tokens [first, first + n)
        return attune::tensor_view<float>(x.data() + std::size_t(first) * D, {1, heads, n, D}, {heads * T * D, T * D, D});
    };
    auto step = [&](int first, int n) {
        cache.step(attune::tensor_view<const float>(tokens(q, Hq, first, n)), attune::tensor_view<const float>(tokens(k, Hkv, first, n)),
                   attune::tensor_view<const float>(tokens(v, Hkv, first, n)), tokens(out, Hq, first, n));
    };
    for (int t = 0; t < prompt; t += chunk) step(t, std::min(chunk, prompt - t));  // chunked prefill
    for (int t = prompt; t < T; ++t) step(t, 1);                                   // decode

    // Check: one call over the whole sequence with the DuoAttention mask.
    attune::attention(attune::view_bhld<const float>(q.data(), 1, Hq, T, D), attune::view_bhld<const float>(k.data(), 1, Hkv, T, D),
                      attune::view_bhld<const float>(v.data(), 1, Hkv, T, D), attune::view_bhld(direct.data(), 1, Hq, T, D),
                      attune::duo_heads(streaming, 64, 256));
    double err = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) err = std::max(err, double(std::fabs(out[i] - direct[i])));

    const std::size_t full = std::size_t(T) * Hkv * 2 * D * sizeof(float);
    std::printf("after %d tokens: duo cache %zu bytes, full cache %zu bytes (%.1f%%)\n", T, cache.bytes(), full,
                100.0 * double(cache.bytes()) / double(full));
    std::printf("max |err| vs the duo_heads mask over the whole sequence = %.2e\n", err);
    return err < 1e-5 && cache.bytes() < full * 6 / 10 ? 0 : 1;
}
