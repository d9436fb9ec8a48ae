// options::int8_qk (kernel/int8_score_stage.hpp): int8 Q·Kᵀ for prefill, SageAttention's recipe
// (Zhang et al., ICLR 2025). Accuracy against the float64 reference (reference/softmax.hpp, written
// apart from the kernels) and against the golden cases (PyTorch float64, ../shared/golden): cosine
// similarity ≥ 0.999, max |Δ|, relative L2 and the LSE reported and bounded, over lengths 1, 7, 63,
// 65, 129, head dims 32, 64, 80, 128, GQA 1, 4, 8, no mask and causal, a sink logit, softcap,
// sigmoid, bf16 storage, quantized K and split keys. K with outlier channels (a large common offset
// on a few channels): smoothing must cut the error by a clear factor. The back-ends' integer sums
// (plain loops, VNNI, AMX-INT8 where the CPU has them) must be equal. Hostile: a head dim whose
// int32 sums could overflow is refused naming the option; off, the option changes nothing.
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/batch.hpp"
#include "attune/kernel/int8_score_stage.hpp"
#include "attune/quantized.hpp"
#include "attune/reference/softmax.hpp"
#include "npy.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif
#ifndef ATTUNE_GOLDEN_DEFAULT_DIR
#define ATTUNE_GOLDEN_DEFAULT_DIR "../shared/golden"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

struct accuracy {
    double cosine = 1.0, max_abs = 0.0, rel_l2 = 0.0, lse_max = 0.0;
};

// ours against the float64 reference, over every output element (and LSE row where given).
template <class T>
accuracy measure(const tensor<T>& out, const attune::reference::result& ref, const lse_buffer* lse = nullptr) {
    accuracy a;
    double dot = 0, n1 = 0, n2 = 0, err2 = 0;
    const auto& v = out.view;
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t d = 0; d < v.dim(); ++d) {
                    const double x = attune::to_float(v(b, h, t, d)), y = ref.at(b, h, t, d);
                    dot += x * y, n1 += x * x, n2 += y * y, err2 += (x - y) * (x - y);
                    a.max_abs = std::fabs(x - y) > a.max_abs || std::isnan(x) ? std::fabs(x - y) : a.max_abs;
                }
    a.cosine = n1 > 0 && n2 > 0 ? dot / std::sqrt(n1 * n2) : (n1 == n2 ? 1.0 : 0.0);
    a.rel_l2 = n2 > 0 ? std::sqrt(err2 / n2) : std::sqrt(err2);
    if (lse != nullptr)
        for (index_t b = 0; b < v.batch(); ++b)
            for (index_t h = 0; h < v.heads(); ++h)
                for (index_t t = 0; t < v.tokens(); ++t) {
                    const double x = lse->view(b, h, t, 0), y = ref.lse_at(b, h, t);
                    const double e = std::isinf(y) && x == y ? 0.0 : std::fabs(x - y);
                    a.lse_max = e > a.lse_max || std::isnan(e) ? e : a.lse_max;
                }
    return a;
}

void require_accurate(const accuracy& a, double lse_bound = 0.05) {
    INFO("cosine " << a.cosine << " max|Δ| " << a.max_abs << " rel L2 " << a.rel_l2 << " LSE max|Δ| " << a.lse_max);
    CHECK(a.cosine >= 0.999);
    CHECK(a.rel_l2 <= 0.03);
    CHECK(a.lse_max <= lse_bound);
}

attune::options int8_options() {
    attune::options o;
    o.int8_qk = true;
    return o;
}

// Two kv heads without GQA, one with it: the sweep stays short on the scalar arch.
index_t kv_heads(index_t group) { return group == 1 ? 2 : 1; }

template <class Var>
accuracy run_case(index_t group, index_t L, index_t D, const Var& var, std::mt19937& rng, index_t splits = 0) {
    const index_t Hkv = kv_heads(group), Hq = Hkv * group;
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    lse_buffer lse(1, Hq, L);
    attune::options opt = int8_options();
    opt.lse = lse.view;
    opt.kv_splits = splits;
    out.poison();
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, opt);
    return measure(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), var), &lse);
}

}  // namespace

TEST_CASE("int8_qk: accuracy against the float64 reference over odd sizes", "[int8_qk]") {
    INFO("back-end " << attune::kernel::backend_name(attune::kernel::int8_qk_backend<arch>()));
    std::mt19937 rng(2201);
    accuracy worst;
    for (const index_t group : {1, 4, 8})
        for (const index_t L : {1, 7, 63, 65, 129})
            for (const index_t D : {32, 64, 80, 128}) {
                INFO("GQA " << group << " L " << L << " D " << D);
                const accuracy none = run_case(group, L, D, attune::variant<>{}, rng);
                const accuracy causal = run_case(group, L, D, attune::causal{}, rng);
                require_accurate(none);
                require_accurate(causal);
                for (const accuracy& a : {none, causal})
                    if (a.rel_l2 > worst.rel_l2) worst = a;
            }
    WARN("int8_qk (" << attune::kernel::backend_name(attune::kernel::int8_qk_backend<arch>()) << "), worst of 120 cases: cosine "
                     << worst.cosine << ", max|Δ| " << worst.max_abs << ", rel L2 " << worst.rel_l2);
}

TEST_CASE("int8_qk: sink logit, softcap, sigmoid, split keys, bf16 and quantized storage", "[int8_qk]") {
    std::mt19937 rng(2202);
    const index_t Hkv = 2;
    for (const index_t group : {1, 4}) {
        INFO("GQA " << group);
        const index_t Hq = kv_heads(group) * group;
        std::vector<float> z(static_cast<std::size_t>(Hq));
        for (index_t h = 0; h < Hq; ++h) z[static_cast<std::size_t>(h)] = 0.5f * static_cast<float>(h) - 1.0f;
        require_accurate(run_case(group, 129, 64, attune::variant(attune::causal{}, attune::sink_logit{z}), rng));
        require_accurate(run_case(group, 65, 80, attune::variant(attune::causal{}, attune::softcap{5.0f}), rng));
        require_accurate(run_case(group, 129, 128, attune::causal{}, rng, 3));  // three key ranges, merged with ⊕
        {
            // sigmoid (no LSE): the weights are not normalised, so compare the outputs alone.
            const index_t L = 65, D = 64;
            tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
            q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
            const auto var = attune::variant(attune::sigmoid{-std::log(static_cast<float>(L))}, attune::causal{});
            attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, var, int8_options());
            require_accurate(measure(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), var)));
        }
    }
    {
        // bf16 Q, K, V and output (the AMX P·V where the CPU has it).
        const index_t Hq = 8, L = 129, D = 128;
        tensor<attune::bf16> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
        q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, int8_options());
        require_accurate(measure(out, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{})));
    }
    {
        // int8 K and V storage (attune/quantized.hpp): the scores start from the dequantized keys.
        namespace quant = attune::quant;
        const index_t Hq = 8, L = 65, D = 64;
        tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D), kd(1, Hkv, L, D), vd(1, Hkv, L, D);
        q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
        const auto kq = quant::quantize(k.cview(), quant::int8{});
        const auto vq = quant::quantize(v.cview(), quant::int8{});
        quant::dequantize(kq.view(), kd.view);
        quant::dequantize(vq.view(), vd.view);
        attune::attention<arch>(q.cview(), kq.view(), vq.view(), out.view, attune::causal{}, int8_options());
        require_accurate(measure(out, attune::reference::attention(q.cview(), kd.cview(), vd.cview(), attune::causal{})));
    }
}

TEST_CASE("int8_qk: smoothing K cuts the error on keys with outlier channels", "[int8_qk]") {
    // Real keys carry a large offset common to all tokens on a few channels (SageAttention, §4.2,
    // Fig. 4): without smoothing, each key's int8 step is set by the offset and its other channels
    // round to a few levels.
    std::mt19937 rng(2203);
    const index_t group = 4, Hkv = 2, Hq = Hkv * group, L = 129, D = 128;
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t t = 0; t < L; ++t)
            for (const index_t c : {3, 40, 77, 101}) k.view(0, h, t, c) += (c == 40 ? -30.0f : 25.0f);
    const auto ref = attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{});
    lse_buffer lse(1, Hq, L);
    attune::options opt = int8_options();
    opt.lse = lse.view;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, opt);
    const accuracy smoothed = measure(out, ref, &lse);
    const bool was = attune::kernel::set_int8_qk_smoothing(false);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, opt);
    attune::kernel::set_int8_qk_smoothing(was);
    const accuracy plain = measure(out, ref, &lse);
    WARN("outlier channels: rel L2 " << smoothed.rel_l2 << " smoothed, " << plain.rel_l2 << " not (" << plain.rel_l2 / smoothed.rel_l2
                                     << "×); cosine " << smoothed.cosine << " / " << plain.cosine);
    require_accurate(smoothed);
    CHECK(plain.rel_l2 >= 4.0 * smoothed.rel_l2);
}

TEST_CASE("int8_qk: golden cases", "[int8_qk]") {
    const std::string dir = [] {
        const char* env = std::getenv("ATTUNE_GOLDEN_DIR");
        return env != nullptr && *env != '\0' ? std::string(env) : std::string(ATTUNE_GOLDEN_DEFAULT_DIR);
    }();
    std::ifstream mf(dir + "/manifest.json");
    REQUIRE(mf.good());
    std::stringstream ss;
    ss << mf.rdbuf();
    const std::string manifest = ss.str();
    const auto load = [&](const std::string& name, const char* what) {
        npy::array a = npy::load(dir + "/" + name + "/" + what + ".npy");
        REQUIRE(a.shape.size() == 4);
        tensor<float> t(static_cast<index_t>(a.shape[0]), static_cast<index_t>(a.shape[1]), static_cast<index_t>(a.shape[2]),
                        static_cast<index_t>(a.shape[3]));
        std::size_t i = 0;
        for (index_t b = 0; b < t.view.batch(); ++b)
            for (index_t h = 0; h < t.view.heads(); ++h)
                for (index_t s = 0; s < t.view.tokens(); ++s)
                    for (index_t d = 0; d < t.view.dim(); ++d) t.view(b, h, s, d) = static_cast<float>(a.data[i++]);
        return t;
    };
    const auto field = [&](const std::string& name, const std::string& key) {
        std::smatch m;
        const std::regex re("\"" + name + "\"\\s*:\\s*\\{[^}]*?\"" + key + "\"\\s*:\\s*([-+0-9.eE]+)");
        REQUIRE(std::regex_search(manifest, m, re));
        return std::stod(m[1].str());
    };
    for (const char* name :
         {"softmax_plain", "softmax_causal", "softmax_causal_gqa_chunk", "softmax_decode_gqa", "softmax_d80_scale", "softmax_softcap"}) {
        INFO("golden " << name);
        const std::string n = name;
        const tensor<float> q = load(n, "q"), k = load(n, "k"), v = load(n, "v"), ref = load(n, "out");
        tensor<float> out(q.view.batch(), q.view.heads(), q.view.tokens(), v.view.dim());
        attune::options opt = int8_options();
        opt.scale = static_cast<float>(field(n, "scale"));
        if (n == "softmax_plain" || n == "softmax_decode_gqa")
            attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::variant<>{}, opt);
        else if (n == "softmax_softcap")
            attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view,
                                    attune::variant(attune::causal{}, attune::softcap{static_cast<float>(field(n, "softcap"))}), opt);
        else attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, opt);
        attune::reference::result r;
        r.batch = ref.view.batch(), r.heads = ref.view.heads(), r.tokens = ref.view.tokens(), r.dim = ref.view.dim();
        for (index_t b = 0; b < r.batch; ++b)
            for (index_t h = 0; h < r.heads; ++h)
                for (index_t t = 0; t < r.tokens; ++t)
                    for (index_t d = 0; d < r.dim; ++d) r.out.push_back(ref.view(b, h, t, d));
        const accuracy a = measure(out, r);
        WARN("golden " << name << ": cosine " << a.cosine << ", max|Δ| " << a.max_abs << ", rel L2 " << a.rel_l2);
        require_accurate(a);
    }
}

TEST_CASE("int8_qk: off changes nothing, on changes the scores", "[int8_qk]") {
    std::mt19937 rng(2204);
    const index_t Hq = 8, Hkv = 2, L = 65, D = 64;
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), a(1, Hq, L, D), b(1, Hq, L, D), c(1, Hq, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    attune::options off;
    off.int8_qk = false;
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), a.view, attune::causal{});
    b.poison();
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), b.view, attune::causal{}, off);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), c.view, attune::causal{}, int8_options());
    CHECK(max_difference(a, b) == 0.0);
    check_against_reference(b, attune::reference::attention(q.cview(), k.cview(), v.cview(), attune::causal{}), fp32_tolerance());
    CHECK(max_difference(a, c) > 1e-5);  // the option took effect: int8 rounding shows
}

TEST_CASE("int8_qk: the back-ends' integer sums are equal", "[int8_qk]") {
    namespace i8 = attune::simd::int8;
    std::mt19937 rng(2205);
    std::uniform_int_distribution<int> byte(-127, 127);
    for (const index_t rp : {16, 48, 64, 80})
        for (const index_t nk : {1, 5, 16, 33, 64}) {
            const index_t dp = 192;  // a multiple of 64: every back-end's padding
            std::vector<std::uint8_t> ks(static_cast<std::size_t>(64 * dp), 0), ku(ks.size(), 0x80);
            std::vector<std::uint32_t> qp(static_cast<std::size_t>(dp / 4 * rp));
            std::vector<std::int32_t> qsum(static_cast<std::size_t>(rp), 0);
            for (index_t n = 0; n < nk; ++n)
                for (index_t d = 0; d < dp; ++d) {
                    const int x = byte(rng);
                    ks[static_cast<std::size_t>(n * dp + d)] = static_cast<std::uint8_t>(x);
                    ku[static_cast<std::size_t>(n * dp + d)] = static_cast<std::uint8_t>(x ^ 0x80);
                }
            std::vector<std::int8_t> qb(static_cast<std::size_t>(rp * dp));
            for (index_t r = 0; r < rp; ++r)
                for (index_t d = 0; d < dp; ++d) {
                    qb[static_cast<std::size_t>(r * dp + d)] = static_cast<std::int8_t>(byte(rng));
                    qsum[static_cast<std::size_t>(r)] += qb[static_cast<std::size_t>(r * dp + d)];
                }
            for (index_t d4 = 0; d4 < dp / 4; ++d4)
                for (index_t r = 0; r < rp; ++r) {
                    std::uint32_t w = 0;
                    for (int j = 0; j < 4; ++j)
                        w |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(qb[static_cast<std::size_t>(r * dp + 4 * d4 + j)]))
                             << (8 * j);
                    qp[static_cast<std::size_t>(d4 * rp + r)] = w;
                }
            // The direct sums, in 64-bit.
            std::vector<std::int32_t> direct(static_cast<std::size_t>(nk * rp)), sums(static_cast<std::size_t>(64 * rp), 0);
            for (index_t n = 0; n < nk; ++n)
                for (index_t r = 0; r < rp; ++r) {
                    long long s = 0;
                    for (index_t d = 0; d < dp; ++d)
                        s += static_cast<long long>(static_cast<std::int8_t>(ks[static_cast<std::size_t>(n * dp + d)])) *
                             qb[static_cast<std::size_t>(r * dp + d)];
                    direct[static_cast<std::size_t>(n * rp + r)] = static_cast<std::int32_t>(s);
                }
            const auto same = [&](std::int32_t offset_unit) {
                for (index_t n = 0; n < nk; ++n)
                    for (index_t r = 0; r < rp; ++r)
                        if (sums[static_cast<std::size_t>(n * rp + r)] - offset_unit * qsum[static_cast<std::size_t>(r)] !=
                            direct[static_cast<std::size_t>(n * rp + r)])
                            return false;
                return true;
            };
            INFO("rp " << rp << " nk " << nk);
            i8::int8_scores_portable(ks.data(), dp, nk, qp.data(), rp, sums.data());
            CHECK(same(0));
            if constexpr (i8::vnni_compiled) {
                i8::int8_scores_vnni(ku.data(), dp, nk, qp.data(), rp, sums.data());
                CHECK(same(128));
            }
            if constexpr (attune::simd::caps<arch>::amx && attune::simd::amx_int8_compiled) {
                if (attune::simd::amx_int8_active()) {
                    attune::simd::amx::session s;
                    s.start();
                    attune::simd::amx::int8_score_tile(ks.data(), dp, nk, qp.data(), rp, sums.data());
                    s.stop();
                    CHECK(same(0));
                }
            }
        }
    if (!(attune::simd::caps<arch>::amx && attune::simd::amx_int8_compiled && attune::simd::amx_int8_active()))
        WARN("AMX-INT8 sums: SKIPPED: no AMX (compiled in: " << (attune::simd::amx_int8_compiled ? "yes" : "no")
                                                             << ", CPU: " << (attune::simd::amx_int8_supported() ? "yes" : "no") << ")");
    if (!i8::vnni_compiled) WARN("VNNI sums: SKIPPED: this build has no AVX-512 VNNI (the vnni test binary has)");
}

TEST_CASE("int8_qk: hostile input", "[int8_qk]") {
    // A head dim whose int32 sums could overflow (255 · 127 · dims ≥ 2^31): refused, naming the option.
    const index_t D = attune::simd::int8::max_dims + 4;
    tensor<float> q(1, 1, 2, D), k(1, 1, 2, D), v(1, 1, 2, 4), out(1, 1, 2, 4);
    out.poison();
    REQUIRE_THROWS_WITH(attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, int8_options()),
                        Catch::Contains("options::int8_qk"));
    CHECK(out.nan_count() == 2 * 4);  // nothing written
    std::vector<std::int32_t> qo{0, 2}, ko{0, 2};
    REQUIRE_THROWS_WITH(attune::ragged_attention<arch>(q.cview(), attune::seq_offsets{qo.data(), 1}, k.cview(), v.cview(),
                                                       attune::seq_offsets{ko.data(), 1}, out.view, attune::causal{}, int8_options()),
                        Catch::Contains("options::int8_qk"));
    // Empty rows (a causal query before every key cannot happen bottom-right; a window can): zeros.
    std::mt19937 rng(2206);
    const index_t L = 65, Dk = 64;
    tensor<float> q2(1, 4, L, Dk), k2(1, 2, 0, Dk), v2(1, 2, 0, Dk), out2(1, 4, L, Dk);
    q2.fill_random(rng);
    out2.poison();
    attune::attention<arch>(q2.cview(), k2.cview(), v2.cview(), out2.view, attune::variant<>{}, int8_options());
    CHECK(out2.nan_count() == 0);
    CHECK(max_difference(out2, tensor<float>(1, 4, L, Dk)) == 0.0);
}

TEST_CASE("int8_qk: the AVX-512 quantizers give the portable ones' bytes and scales", "[int8_qk]") {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    namespace i8 = attune::simd::int8;
    std::mt19937 rng(2207);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    for (const index_t dk : {1, 7, 32, 80, 128, 131}) {
        INFO("dk " << dk);
        const index_t rp = 48, dp = (dk + 63) / 64 * 64;
        std::vector<float> qt(static_cast<std::size_t>(dk * rp)), c(static_cast<std::size_t>(dk));
        for (auto& x : qt) x = nd(rng);
        for (auto& x : c) x = nd(rng);
        for (index_t d = 0; d < dk; ++d) qt[static_cast<std::size_t>(d * rp + 5)] = 0.0f;  // a zero row
        qt[static_cast<std::size_t>(7)] = 0.5f;
        std::vector<std::uint32_t> qa(static_cast<std::size_t>(dp / 4 * rp)), qb(qa.size());
        std::vector<float> sa(static_cast<std::size_t>(rp)), sb(sa.size());
        std::vector<std::int32_t> oa(static_cast<std::size_t>(rp)), ob(oa.size());
        i8::quantize_q(qt.data(), rp, dk, dp, qa.data(), sa.data(), oa.data());
        i8::quantize_q_avx512(qt.data(), rp, dk, dp, qb.data(), sb.data(), ob.data());
        CHECK(qa == qb);
        CHECK(sa == sb);
        CHECK(oa == ob);
        for (const std::uint8_t flip : {std::uint8_t(0), std::uint8_t(0x80)})
            for (const bool smooth : {false, true}) {
                std::vector<std::uint8_t> ka(static_cast<std::size_t>(dp)), kb(ka.size());
                const float* cc = smooth ? c.data() : nullptr;
                const float a = i8::quantize_k_row(qt.data(), cc, dk, dp, flip, ka.data());
                const float b = i8::quantize_k_row_avx512(qt.data(), cc, dk, dp, flip, kb.data());
                CHECK(a == b);
                CHECK(ka == kb);
            }
    }
#else
    WARN("AVX-512 quantizers: SKIPPED: not compiled for AVX-512");
#endif
}

TEST_CASE("int8_qk: NaN in q or k reaches the rows that see it", "[int8_qk]") {
    std::mt19937 rng(2208);
    const index_t Hq = 4, Hkv = 1, L = 129, D = 64;
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), out(1, Hq, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    k.view(0, 0, 100, 3) = std::numeric_limits<float>::quiet_NaN();  // key 100: in the tile of keys 64–127
    q.view(0, 2, 10, 7) = std::numeric_limits<float>::quiet_NaN();   // head 2, query 10
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), out.view, attune::causal{}, int8_options());
    const auto row_has_nan = [&](index_t h, index_t t) {
        bool any = false;
        for (index_t d = 0; d < D; ++d) any = any || std::isnan(out.view(0, h, t, d));
        return any;
    };
    for (index_t h = 0; h < Hq; ++h) {
        INFO("head " << h);
        for (index_t t = 0; t < 64; ++t) CHECK(row_has_nan(h, t) == (h == 2 && t == 10));  // their tiles hold no NaN key
        for (index_t t = 100; t < L; ++t) CHECK(row_has_nan(h, t));                        // they see key 100
    }
}

TEST_CASE("int8_qk: AMX-INT8 and the vector or portable sums give the same attention", "[int8_qk]") {
    // The back-ends differ only in how they sum the same int8 products (exactly): with float V and
    // output (P·V in fp32 either way) the outputs must be bit-identical.
    if (!attune::simd::caps<arch>::amx || !attune::simd::amx_int8_active()) {
        WARN("AMX-INT8 against the other back-ends: SKIPPED: no AMX (compiled in: "
             << (attune::simd::amx_int8_compiled ? "yes" : "no") << ", CPU: " << (attune::simd::amx_int8_supported() ? "yes" : "no")
             << ")");
        return;
    }
    std::mt19937 rng(2209);
    for (const index_t D : {32, 80, 128}) {
        INFO("D " << D);
        const index_t Hq = 8, Hkv = 2, L = 129;
        tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), a(1, Hq, L, D), b(1, Hq, L, D);
        q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), a.view, attune::causal{}, int8_options());
        const bool was = attune::simd::set_amx_allowed(false);
        INFO("without AMX: " << attune::kernel::backend_name(attune::kernel::int8_qk_backend<arch>()));
        attune::attention<arch>(q.cview(), k.cview(), v.cview(), b.view, attune::causal{}, int8_options());
        attune::simd::set_amx_allowed(was);
        CHECK(max_difference(a, b) == 0.0);
    }
}

TEST_CASE("int8_qk: keys reused across a call's items, never across calls", "[int8_qk]") {
    // A thread keeps the int8 keys of the head its items read (kernel/int8_score_stage.hpp): one
    // thread reuses them across every query tile, several threads each their own share. Either way
    // each tile's bytes are those a fresh quantization gives, so the outputs are bit-identical.
    std::mt19937 rng(2210);
    const index_t Hq = 4, Hkv = 2, L = 150, D = 80;
    tensor<float> q(1, Hq, L, D), k(1, Hkv, L, D), v(1, Hkv, L, D), a(1, Hq, L, D), b(1, Hq, L, D), c(1, Hq, L, D);
    q.fill_random(rng), k.fill_random(rng), v.fill_random(rng);
    attune::options opt = int8_options();
    opt.kv_splits = 1;  // the same items (and sums) on one thread and on three
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), a.view, attune::causal{}, opt, attune::serial_executor{});
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), b.view, attune::causal{}, opt, attune::openmp_executor(3));
    CHECK(max_difference(a, b) == 0.0);
    // K changed in place between two calls: the second call sees the new keys.
    for (index_t t = 0; t < L; ++t) k.view(0, 1, t, 4) += 3.0f;
    tensor<float> k2(1, Hkv, L, D);
    for (index_t h = 0; h < Hkv; ++h)
        for (index_t t = 0; t < L; ++t)
            for (index_t d = 0; d < D; ++d) k2.view(0, h, t, d) = k.view(0, h, t, d);
    attune::attention<arch>(q.cview(), k.cview(), v.cview(), b.view, attune::causal{}, opt, attune::serial_executor{});
    attune::attention<arch>(q.cview(), k2.cview(), v.cview(), c.view, attune::causal{}, opt, attune::serial_executor{});
    CHECK(max_difference(b, c) == 0.0);
    CHECK(max_difference(a, b) > 0.0);
}
