// A user-written attention variant in a few lines: a mask and a score modifier of your own,
// composed with built-ins into one kernel, checked against the float64 reference.
#include <attune/attune.hpp>
#include <attune/reference/softmax.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

// Mask: each query sees the keys at even distance behind it (a strided "dilated" causal pattern).
struct even_distance {
    using policy_kind = attune::mask_kind;
    bool visible(const attune::index_context& c) const { return c.k_pos <= c.q_pos && (c.q_pos - c.k_pos) % 2 == 0; }
    attune::tile_class classify(const attune::tile_context& t) const {
        if (t.k_first > t.q_last) return attune::tile_class::empty;  // all keys in the future
        return attune::tile_class::partial;                          // else test each element
    }
};

// Score modifier: a learned-free recency bonus, +0.5 for the 8 most recent keys.
struct recency_bonus {
    using policy_kind = attune::score_kind;
    template <class T>
    T operator()(T s, const attune::index_context& c) const {
        return c.q_pos - c.k_pos < 8 ? s + T(0.5) : s;
    }
};

int main() {
    const int B = 1, Hq = 4, Hkv = 2, L = 97, D = 64;
    std::vector<float> q(B * Hq * L * D), k(B * Hkv * L * D), v(B * Hkv * L * D), out(B * Hq * L * D);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.013f * float(i));
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.029f * float(i));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.007f * float(i) + 0.3f);
    const auto Q = attune::view_bhld<const float>(q.data(), B, Hq, L, D);
    const auto K = attune::view_bhld<const float>(k.data(), B, Hkv, L, D);
    const auto V = attune::view_bhld<const float>(v.data(), B, Hkv, L, D);

    // Your policies next to built-ins: softcap composed after your modifier.
    const attune::variant<even_distance, attune::compose<recency_bonus, attune::softcap>> var(
        even_distance{}, attune::compose<recency_bonus, attune::softcap>(recency_bonus{}, attune::softcap(30.0f)));
    attune::attention(Q, K, V, attune::view_bhld(out.data(), B, Hq, L, D), var);

    const auto ref = attune::reference::attention(Q, K, V, var);
    double err = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) err = std::fmax(err, std::fabs(out[i] - ref.out[i]));
    std::printf("custom variant (even-distance mask, recency bonus + softcap): max |err| vs float64 = %.2e\n", err);
    return err < 1e-4 ? 0 : 1;
}
