// The linear family beside softmax attention: InLine (Han et al. 2024), Flowformer non-causal and
// causal (Wu et al. 2022, as the authors' Flow_Attention / Flow_Attention_Causal compute it) and
// Aaren (Feng et al. 2024, one query over a stream of keys), each checked against its formula
// computed directly here in double.
#include <attune/linear.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

const int H = 2, L = 96, D = 32;  // heads, tokens, head dim (dv = D)
using vec = std::vector<double>;

double dot(const float* a, const float* b) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += double(a[d]) * b[d];
    return s;
}
double sigm(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Flowformer for one head, n queries over m keys (causal: n == m, sums over j ≤ i).
std::vector<vec> flow(const float* q, const float* k, const float* v, int n, int m, bool causal) {
    std::vector<vec> Q(n, vec(D)), K(m, vec(D));
    for (int i = 0; i < n; ++i)
        for (int d = 0; d < D; ++d) Q[i][d] = sigm(q[i * D + d]);
    for (int j = 0; j < m; ++j)
        for (int d = 0; d < D; ++d) K[j][d] = sigm(k[j * D + d]);
    const double eps = 1e-6, clamp = causal ? 10.0 : 1.0;
    auto edot = [&](const vec& x, const vec& y) {
        double s = 0;
        for (int d = 0; d < D; ++d) s += (x[d] + eps) * (y[d] + eps);
        return s;
    };
    auto sum_rows = [&](const std::vector<vec>& X, const vec& w, int upto) {  // Σ_{t<upto} w_t X_t
        vec s(D, 0.0);
        for (int t = 0; t < upto; ++t)
            for (int d = 0; d < D; ++d) s[d] += w[t] * X[t][d];
        return s;
    };
    const vec ones(std::max(n, m), 1.0);
    vec I(n), O(m), A(n), C(m), Oh(m);
    // Incoming / outgoing flow; the causal form scales both by the count t + 1 for the refinement.
    for (int i = 0; i < n; ++i) I[i] = (causal ? i + 1 : 1) / edot(Q[i], sum_rows(K, ones, causal ? i + 1 : m));
    for (int j = 0; j < m; ++j) O[j] = (causal ? j + 1 : 1) / edot(K[j], sum_rows(Q, ones, causal ? j + 1 : n));
    for (int i = 0; i < n; ++i) {  // conserved sink → allocation
        const double s = edot(Q[i], sum_rows(K, O, causal ? i + 1 : m));
        A[i] = causal ? sigm(s / (i + 1)) : sigm(s * n / m);
    }
    for (int j = 0; j < m; ++j) {  // conserved source → competition
        const double s = edot(K[j], sum_rows(Q, I, causal ? j + 1 : n)) / (causal ? j + 1 : 1);
        Oh[j] = std::min(clamp, std::max(-clamp, s));
    }
    for (int j = 0; j < m; ++j) {
        double z = 0;
        for (int l = 0; l < (causal ? j + 1 : m); ++l) z += std::exp(Oh[l]);
        C[j] = (causal ? j + 1 : m) * std::exp(Oh[j]) / z;
    }
    std::vector<vec> out(n, vec(D, 0.0));
    for (int i = 0; i < n; ++i) {
        const double Iout = causal ? I[i] / (i + 1) : I[i];  // the causal form divides the count back out
        for (int j = 0; j < (causal ? i + 1 : m); ++j) {
            double qk = 0;
            for (int d = 0; d < D; ++d) qk += Q[i][d] * K[j][d];
            for (int d = 0; d < D; ++d) out[i][d] += A[i] * Iout * qk * C[j] * v[j * D + d];
        }
    }
    return out;
}

}  // namespace

int main() {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(H) * L * D), k(q.size()), v(q.size()), out(q.size()), q1(std::size_t(H) * D);
    for (auto* x : {&q, &k, &v, &q1})
        for (float& e : *x) e = normal(rng);
    const auto Q = attune::view_bhld<const float>(q.data(), 1, H, L, D), K = attune::view_bhld<const float>(k.data(), 1, H, L, D),
               V = attune::view_bhld<const float>(v.data(), 1, H, L, D);
    const auto O = attune::view_bhld(out.data(), 1, H, L, D);
    const auto at = [&](const std::vector<float>& x, int h, int t) { return x.data() + (std::size_t(h) * L + t) * D; };
    bool ok = true;
    const auto report = [&](const char* name, double err) {
        std::printf("%-22s max |attune − formula| %.2e\n", name, err);
        ok = ok && err < 1e-4;
    };

    // InLine: w_ij = c·(q_i·k_j − q_i·k̄) + 1/N with c = (1/√d)/N; each row of weights sums to 1.
    attune::linear::inline_attention(Q, K, V, O);
    double err = 0;
    for (int h = 0; h < H; ++h)
        for (int i = 0; i < L; ++i) {
            const double c = 1.0 / std::sqrt(double(D)) / L;
            double qkbar = 0;
            for (int j = 0; j < L; ++j) qkbar += dot(at(q, h, i), at(k, h, j)) / L;
            for (int d = 0; d < D; ++d) {
                double o = 0;
                for (int j = 0; j < L; ++j) o += (c * (dot(at(q, h, i), at(k, h, j)) - qkbar) + 1.0 / L) * at(v, h, j)[d];
                err = std::max(err, std::fabs(o - at(out, h, i)[d]));
            }
        }
    report("InLine", err);

    // Flowformer, non-causal and causal.
    for (bool causal : {false, true}) {
        if (causal) attune::linear::flow_causal(Q, K, V, O);
        else attune::linear::flow_attention(Q, K, V, O);
        err = 0;
        for (int h = 0; h < H; ++h) {
            const auto ref = flow(at(q, h, 0), at(k, h, 0), at(v, h, 0), L, L, causal);
            for (int i = 0; i < L; ++i)
                for (int d = 0; d < D; ++d) err = std::max(err, std::fabs(ref[i][d] - at(out, h, i)[d]));
        }
        report(causal ? "Flowformer (causal)" : "Flowformer", err);
    }

    // Aaren: one query per head over the stream; o_t = softmax over keys j ≤ t of q·k_j/√d, all t.
    attune::linear::aaren_scan(attune::view_bhld<const float>(q1.data(), 1, H, 1, D), K, V, O);
    err = 0;
    for (int h = 0; h < H; ++h) {
        double mx = -1e300, z = 0;
        vec acc(D, 0.0);
        for (int t = 0; t < L; ++t) {  // running softmax in double, rescaled when the max grows
            const double s = dot(q1.data() + h * D, at(k, h, t)) / std::sqrt(double(D));
            const double nm = std::max(mx, s), a = std::exp(mx - nm), w = std::exp(s - nm);
            z = z * a + w;
            for (int d = 0; d < D; ++d) acc[d] = acc[d] * a + w * at(v, h, t)[d];
            mx = nm;
            for (int d = 0; d < D; ++d) err = std::max(err, std::fabs(acc[d] / z - at(out, h, t)[d]));
        }
    }
    report("Aaren (prefix scan)", err);
    std::printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
