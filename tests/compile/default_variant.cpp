// Compile test (ctest compile.default_variant): the documented default forms must compile —
// attune::attention(q, k, v, out) with no policy (attention.hpp's first usage line), an explicit
// attune::variant<>, and attune::reference::attention without a variant — and run.
#include <cmath>
#include <cstdio>
#include <vector>

#include "attune/attune.hpp"
#include "attune/reference/softmax.hpp"

int main() {
    const attune::index_t L = 5, D = 8;
    std::vector<float> q(L * D), k(L * D), v(L * D), o(L * D, -1.0f);
    for (std::size_t i = 0; i < q.size(); ++i) {
        q[i] = std::sin(0.3f * float(i));
        k[i] = std::cos(0.7f * float(i));
        v[i] = float(i % 7) - 3.0f;
    }
    const auto qv = attune::view_bhld(static_cast<const float*>(q.data()), 1, 1, L, D);
    const auto kv = attune::view_bhld(static_cast<const float*>(k.data()), 1, 1, L, D);
    const auto vv = attune::view_bhld(static_cast<const float*>(v.data()), 1, 1, L, D);
    attune::attention(qv, kv, vv, attune::view_bhld(o.data(), 1, 1, L, D));
    const attune::variant<> none;
    attune::attention(qv, kv, vv, attune::view_bhld(o.data(), 1, 1, L, D), none);
    const auto ref = attune::reference::attention(qv, kv, vv);
    double err = 0.0;
    for (std::size_t i = 0; i < o.size(); ++i) err = std::fmax(err, std::fabs(o[i] - ref.out[i]));
    std::printf("max error %g\n", err);
    return err <= 1e-4 ? 0 : 1;
}
