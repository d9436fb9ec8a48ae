// Quickstart: causal attention over raw pointers, then over Eigen matrices, in a few lines.
#include <attune/attune.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
    // 1 sequence, 8 query heads sharing 2 kv heads (GQA), 100 tokens, head dim 64.
    const int B = 1, Hq = 8, Hkv = 2, L = 100, D = 64;
    std::vector<float> q(B * Hq * L * D), k(B * Hkv * L * D), v(B * Hkv * L * D), out(B * Hq * L * D);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.01f * static_cast<float>(i));
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.02f * static_cast<float>(i));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.03f * static_cast<float>(i) + 1.0f);

    // Views say how the memory is laid out; nothing is copied. B,L,H,D layouts use view_blhd.
    attune::attention(attune::view_bhld<const float>(q.data(), B, Hq, L, D), attune::view_bhld<const float>(k.data(), B, Hkv, L, D),
                      attune::view_bhld<const float>(v.data(), B, Hkv, L, D), attune::view_bhld(out.data(), B, Hq, L, D), attune::causal{});
    std::printf("out[head 0, token 0, 0..3] = %.4f %.4f %.4f %.4f\n", out[0], out[1], out[2], out[3]);

    // One head held in Eigen matrices (tokens × dim, row-major); the output lands in an Eigen matrix.
    attune::matrix<float> Q = attune::matrix<float>::Random(L, D), K = attune::matrix<float>::Random(L, D),
                          V = attune::matrix<float>::Random(L, D), O(L, D);
    attune::attention(attune::view_of(std::as_const(Q)), attune::view_of(std::as_const(K)), attune::view_of(std::as_const(V)),
                      attune::view_of(O), attune::causal{});
    // The first token sees only itself: its output is V's first row.
    const float err = (O.row(0) - V.row(0)).cwiseAbs().maxCoeff();
    std::printf("token 0 attends only to itself: |O[0] - V[0]| = %.2e\n", err);
    return err < 1e-5f ? 0 : 1;
}
