// Mixture-of-Head attention (MoH): 2 shared heads always run, and a router picks the top 2 of the 6
// routed heads per token, with gates weighting each head's output. Rows a token did not pick are
// never computed (zeros). Checked against attune's float64 reference, which applies the same gates.
#include <attune/attune.hpp>
#include <attune/reference/softmax.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
    const int Hq = 8, Hkv = 2, L = 256, D = 64, shared = 2, routed = Hq - shared, top_k = 2;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(Hq) * L * D), k(std::size_t(Hkv) * L * D), v(k.size()), out(q.size());
    for (auto* x : {&q, &k, &v})
        for (float& e : *x) e = normal(rng);
    const auto Q = attune::view_bhld<const float>(q.data(), 1, Hq, L, D);
    const auto K = attune::view_bhld<const float>(k.data(), 1, Hkv, L, D);
    const auto V = attune::view_bhld<const float>(v.data(), 1, Hkv, L, D);

    // Router logits per token, as your model's router layers produce them: routed heads W_r x,
    // shared heads W_s x and the shared/routed split W_h x ([1][L][n] each, row-major).
    std::vector<float> routed_logits(std::size_t(L) * routed), shared_logits(std::size_t(L) * shared), split_logits(std::size_t(L) * 2);
    for (auto* x : {&routed_logits, &shared_logits, &split_logits})
        for (float& e : *x) e = normal(rng);
    const attune::token_gates gates = attune::moh_gates(1, L, shared, routed, top_k, routed_logits, shared_logits, split_logits);
    std::printf("MoH: %d shared + top-%d of %d routed heads: %.0f%% of the (token, head) rows run\n", shared, top_k, routed,
                100.0 * gates.active_fraction());

    // A variant object (not a lone policy) so the gate table is not copied per call.
    const attune::variant<attune::causal, attune::token_gates> var(attune::causal{}, gates);
    attune::attention(Q, K, V, attune::view_bhld(out.data(), 1, Hq, L, D), var);

    const auto ref = attune::reference::attention(Q, K, V, var);
    double err = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) err = std::max(err, std::fabs(double(out[i]) - ref.out[i]));
    // Token 5 picked 2 routed heads: the other 4 routed heads' outputs for it are zeros.
    int zero_rows = 0;
    for (int h = shared; h < Hq; ++h) zero_rows += gates.at(0, 5, h) == 0.0f && out[(std::size_t(h) * L + 5) * D] == 0.0f;
    std::printf("token 5: %d routed heads skipped; max |err| vs float64 reference = %.2e\n", zero_rows, err);
    return err < 1e-4 && zero_rows == routed - top_k ? 0 : 1;
}
