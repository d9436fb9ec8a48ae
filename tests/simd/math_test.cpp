// attune/simd/math.hpp and attune/simd/vec.hpp for ATTUNE_TEST_ARCH: exp accuracy in ULP over a
// dense sweep of its documented range, its special values, and the bf16/half loads, stores and
// conversions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/simd/math.hpp"
#include "attune/simd/vec.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif

using attune::index_t;
using arch = ATTUNE_TEST_ARCH;
constexpr std::size_t W = attune::simd::width<arch>;

namespace {

// Which vector exp: exp (full range) or exp_nonpositive (the softmax kernels' one, x ≤ 88.376).
enum class which { exp, exp_nonpositive };

// exp<arch> of each element, a vector at a time.
std::vector<float> vexp(const std::vector<float>& x, which w = which::exp) {
    std::vector<float> in(x), out(x.size() + W);
    in.resize((x.size() + W - 1) / W * W, 0.0f);
    out.resize(in.size());
    for (std::size_t i = 0; i < in.size(); i += W)
        attune::simd::store<arch>(out.data() + i, w == which::exp ? attune::simd::exp(attune::simd::load<arch>(in.data() + i))
                                                                  : attune::simd::exp_nonpositive(attune::simd::load<arch>(in.data() + i)));
    out.resize(x.size());
    return out;
}

// |y − e^x| in units of the float spacing at e^x (e^x computed in double).
double ulp_error(float x, float y) {
    const double exact = std::exp(static_cast<double>(x));
    int e = 0;
    std::frexp(exact, &e);
    const double ulp = std::ldexp(1.0, std::max(e - 24, -149));
    return std::abs(static_cast<double>(y) - exact) / ulp;
}

double max_ulp_over(float lo, float hi, std::size_t n, float& worst_x, which w = which::exp) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * static_cast<float>(static_cast<double>(i) / static_cast<double>(n - 1));
    x.back() = hi;
    const auto y = vexp(x, w);
    double worst = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double u = ulp_error(x[i], y[i]);
        if (!(u <= worst)) {
            worst = u;
            worst_x = x[i];
        }
    }
    return worst;
}

}  // namespace

TEST_CASE("simd::exp is within 2 ULP over [-87.33, 88.376]", "[simd][exp]") {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    float worst_x = 0.0f;
    const double wide = max_ulp_over(-87.33f, 88.376f, std::size_t(1) << 22, worst_x);
    INFO("dense sweep of [-87.33, 88.376]: max " << wide << " ULP at x = " << worst_x);
    CHECK(wide <= 2.0);
    // Where softmax lives (s − m ≤ 0, mostly small): every float of [-1, 0] at step 2^-20 … and more.
    const double narrow = max_ulp_over(-16.0f, 1.0f, std::size_t(1) << 21, worst_x);
    INFO("sweep of [-16, 1]: max " << narrow << " ULP at x = " << worst_x);
    CHECK(narrow <= 2.0);
    // Every float bit pattern in [-1, -0.5): the reduction's interior.
    std::vector<float> x;
    for (std::uint32_t b = 0xBF000000u; b < 0xBF800000u; b += 7) {
        float f;
        std::memcpy(&f, &b, 4);
        x.push_back(f);
    }
    const auto y = vexp(x);
    double dense = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) dense = std::max(dense, ulp_error(x[i], y[i]));
    INFO("every 7th float of [-1, -0.5): max " << dense << " ULP");
    CHECK(dense <= 2.0);
}

TEST_CASE("simd::exp special values: -inf and very negative give exactly 0, NaN propagates, overflow is +inf", "[simd][exp]") {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    const float inf = std::numeric_limits<float>::infinity();
    const auto y = vexp({-inf, -1000.0f, -200.0f, -104.0f, std::numeric_limits<float>::quiet_NaN(),
                         -std::numeric_limits<float>::quiet_NaN(), 89.0f, 200.0f, inf, 0.0f});
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == 0.0f);
    CHECK(y[2] == 0.0f);
    CHECK(y[3] == 0.0f);
    CHECK(std::isnan(y[4]));
    CHECK(std::isnan(y[5]));
    CHECK(y[6] == inf);
    CHECK(y[7] == inf);
    CHECK(y[8] == inf);
    CHECK(y[9] == 1.0f);
}

TEST_CASE("simd::exp is exactly 0 below -87.33 as documented in math.hpp", "[simd][exp]") {
    // math.hpp: "Range: exact 0 for x < -87.33". The kernels rely on masked scores giving exact 0;
    // the documented cut must hold on every arch, including the scalar path.
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    const std::vector<float> x{-87.34f, -87.5f, -88.0f, -90.0f, -95.0f, -100.0f, -103.0f};
    const auto y = vexp(x);
    for (std::size_t i = 0; i < x.size(); ++i) {
        INFO("exp(" << x[i] << ") = " << y[i]);
        CHECK(y[i] == 0.0f);
    }
}

TEST_CASE("loads convert bf16 and half to float exactly, lane by lane", "[simd][convert]") {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    std::mt19937 rng(77);
    std::uniform_int_distribution<std::uint32_t> bits(0, 0xffff);
    // Random bit patterns cover normals, subnormals, zeros of both signs, infinities and NaNs.
    for (int trial = 0; trial < 2000; ++trial) {
        std::vector<attune::bf16> b(W);
        std::vector<attune::half> h(W);
        for (std::size_t i = 0; i < W; ++i) {
            const auto u = static_cast<std::uint16_t>(bits(rng));
            b[i] = Eigen::numext::bit_cast<attune::bf16>(u);
            h[i] = Eigen::numext::bit_cast<attune::half>(u);
        }
        std::vector<float> fb(W), fh(W);
        attune::simd::store<arch>(fb.data(), attune::simd::load<arch>(b.data()));
        attune::simd::store<arch>(fh.data(), attune::simd::load<arch>(h.data()));
        for (std::size_t i = 0; i < W; ++i) {
            const float eb = static_cast<float>(b[i]), eh = static_cast<float>(h[i]);
            if (std::isnan(eb)) REQUIRE(std::isnan(fb[i]));
            else REQUIRE(std::memcmp(&fb[i], &eb, 4) == 0);
            if (std::isnan(eh)) REQUIRE(std::isnan(fh[i]));
            else REQUIRE(std::memcmp(&fh[i], &eh, 4) == 0);
        }
    }
}

TEST_CASE("stores round floats to bf16 and half as from_float does, lane by lane", "[simd][convert]") {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    std::mt19937 rng(79);
    std::uniform_int_distribution<std::uint32_t> bits;
    // Random bit patterns (normals, subnormals, zeros, infinities, NaNs of both signs), then the
    // rounding's edges: ties to even both ways, the largest values that round to bf16's and half's
    // max or overflow, half's subnormal range.
    std::vector<float> x;
    for (int i = 0; i < 4000; ++i) x.push_back(Eigen::numext::bit_cast<float>(bits(rng)));
    for (std::uint32_t u : {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7f8000u, 0x7f7f7fffu, 0xff7fffffu, 0x00008000u, 0x80018000u,
                            0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff812345u, 0x7f800000u, 0xff800000u})
        x.push_back(Eigen::numext::bit_cast<float>(u));
    for (float f : {65504.0f, 65519.9f, 65520.0f, -65536.0f, 6.0e-8f, 2.9e-8f, 3.0e-8f, -1.0e-5f, 0.0f, -0.0f}) x.push_back(f);
    while (x.size() % W != 0) x.push_back(1.0f);
    std::vector<attune::bf16> b(x.size() + 1, attune::bf16(7.0f));
    std::vector<attune::half> h(x.size() + 1, attune::half(7.0f));
    for (std::size_t i = 0; i < x.size(); i += W) {
        const auto v = attune::simd::load<arch>(x.data() + i);
        attune::simd::store<arch>(b.data() + i, v);
        attune::simd::store<arch>(h.data() + i, v);
    }
    CHECK(float(b.back()) == 7.0f);  // nothing written past the last vector
    CHECK(float(h.back()) == 7.0f);
    int wrong = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto want_b = Eigen::numext::bit_cast<std::uint16_t>(attune::from_float<attune::bf16>(x[i]));
        const auto want_h = Eigen::numext::bit_cast<std::uint16_t>(attune::from_float<attune::half>(x[i]));
        const auto got_b = Eigen::numext::bit_cast<std::uint16_t>(b[i]), got_h = Eigen::numext::bit_cast<std::uint16_t>(h[i]);
        if (got_b != want_b) ++wrong;  // bf16: every bit, NaNs included (the quiet NaN with its sign)
        // half: NaN payloads differ between the instruction and Eigen's loop: NaN and its sign.
        const bool nan_h = (want_h & 0x7c00u) == 0x7c00u && (want_h & 0x3ffu) != 0;
        if (nan_h ? !((got_h & 0x7c00u) == 0x7c00u && (got_h & 0x3ffu) != 0 && (got_h & 0x8000u) == (want_h & 0x8000u)) : got_h != want_h)
            ++wrong;
    }
    CHECK(wrong == 0);
}

TEST_CASE("convert_row converts n elements (vector body and tail) and touches nothing after", "[simd][convert]") {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    std::mt19937 rng(78);
    std::normal_distribution<float> dist(0.0f, 10.0f);
    auto check = [&](auto tag, float scale) {
        using T = decltype(tag);
        for (index_t n = 0; n <= static_cast<index_t>(3 * W + 1); ++n) {
            std::vector<T> src(static_cast<std::size_t>(n) + W);
            for (auto& x : src) x = attune::from_float<T>(dist(rng));
            std::vector<float> dst(static_cast<std::size_t>(n) + 2, -12345.0f);
            attune::simd::convert_row<arch>(src.data(), dst.data(), n, scale);
            for (index_t i = 0; i < n; ++i) REQUIRE(dst[i] == attune::to_float(src[i]) * scale);
            REQUIRE(dst[n] == -12345.0f);
            REQUIRE(dst[n + 1] == -12345.0f);
        }
    };
    for (float scale : {1.0f, 0.125f, -3.0f}) {
        CAPTURE(scale);
        check(float{}, scale);
        check(attune::bf16{}, scale);
        check(attune::half{}, scale);
    }
}

TEST_CASE("simd::fma and simd::fnma round once where the arch fuses them", "[simd]") {
    // a·a = 1 + 2^-11 + 2^-24 exactly; rounded on its own it is 1 + 2^-11 (a tie, to even), so with
    // c = ∓(1 + 2^-11) one rounding leaves ±2^-24 and two leave 0. Lanes differ (scaled by powers of
    // two) so that a lane mix-up shows too. From memory, so nothing is folded at compile time.
    std::vector<float> a(W), c(W), mc(W), out(W);
    for (std::size_t i = 0; i < W; ++i) {
        const float scale = std::ldexp(1.0f, static_cast<int>(i % 5));
        a[i] = (1.0f + 0x1p-12f) * scale;
        c[i] = -(1.0f + 0x1p-11f) * scale * scale;
        mc[i] = -c[i];
    }
    const auto va = attune::simd::load<arch>(a.data());
    attune::simd::store<arch>(out.data(), attune::simd::fma(va, va, attune::simd::load<arch>(c.data())));
    std::vector<float> fnma_out(W);
    attune::simd::store<arch>(fnma_out.data(), attune::simd::fnma(va, va, attune::simd::load<arch>(mc.data())));
    for (std::size_t i = 0; i < W; ++i) {
        INFO("lane " << i);
        const float exact = std::ldexp(0x1p-24f, 2 * static_cast<int>(i % 5));
        if constexpr (attune::simd::caps<arch>::fused_multiply_add) {
            CHECK(out[i] == exact);
            CHECK(fnma_out[i] == -exact);
        } else {  // SSE2: a product, then a sum
            CHECK(out[i] == 0.0f);
            CHECK(fnma_out[i] == 0.0f);
        }
    }
}

TEST_CASE("reduce_max and reduce_add over the lanes", "[simd]") {
    std::vector<float> x(W);
    for (std::size_t i = 0; i < W; ++i) x[i] = static_cast<float>((i * 7) % W) - 3.0f;
    const auto v = attune::simd::load<arch>(x.data());
    float mx = x[0], sum = 0.0f;
    for (float e : x) {
        mx = std::max(mx, e);
        sum += e;
    }
    CHECK(attune::simd::reduce_max(v) == mx);
    CHECK(attune::simd::reduce_add(v) == sum);
    const auto ni = attune::simd::broadcast<arch>(-std::numeric_limits<float>::infinity());
    CHECK(attune::simd::reduce_max(ni) == -std::numeric_limits<float>::infinity());
}

TEST_CASE("reduce_add_many: lane j of the result is the sum of vector j's lanes", "[simd]") {
    // Distinct small integers: every partial sum is exact, so any lane mix-up shows.
    std::vector<attune::simd::vec<arch>> rows(W);
    std::vector<float> expect(W, 0.0f), x(W);
    for (std::size_t j = 0; j < W; ++j) {
        for (std::size_t i = 0; i < W; ++i) {
            x[i] = static_cast<float>(j * 37 + i * i + 1);
            expect[j] += x[i];
        }
        rows[j] = attune::simd::load<arch>(x.data());
    }
    std::vector<float> got(W);
    attune::simd::store<arch>(got.data(), attune::simd::reduce_add_many(rows.data()));
    for (std::size_t j = 0; j < W; ++j) {
        INFO("lane " << j);
        CHECK(got[j] == expect[j]);
    }
}

#if XSIMD_WITH_AVX512F
TEST_CASE("quads: four vectors' first lanes as one vector and back, repeated and summed", "[simd]") {
    if constexpr (attune::simd::has_quads<arch>) {
        alignas(64) float rows[4][16];
        for (int j = 0; j < 4; ++j)
            for (int i = 0; i < 16; ++i) rows[j][i] = static_cast<float>(100 * j + i);
        const auto q = attune::simd::load_quads<arch>(&rows[0][0], 16);
        alignas(64) float got[16];
        attune::simd::store_aligned<arch>(got, q);
        for (int i = 0; i < 16; ++i) CHECK(got[i] == rows[i / 4][i % 4]);
        alignas(64) float out[4][16] = {};
        attune::simd::store_quads<arch>(&out[0][0], 16, q);
        for (int j = 0; j < 4; ++j)
            for (int i = 0; i < 16; ++i) CHECK(out[j][i] == (i < 4 ? rows[j][i] : 0.0f));  // only the first four lanes
        attune::simd::store_aligned<arch>(got, attune::simd::repeat_quad<arch>(q));
        for (int i = 0; i < 16; ++i) CHECK(got[i] == rows[0][i % 4]);
        attune::simd::store_aligned<arch>(got, attune::simd::sum_quads<arch>(q));
        for (int i = 0; i < 16; ++i) CHECK(got[i] == rows[0][i % 4] + rows[1][i % 4] + rows[2][i % 4] + rows[3][i % 4]);
    } else {
        CHECK(!attune::simd::has_quads<arch>);  // an AVX-512 build of a narrower arch
    }
}
#endif

TEST_CASE("simd::exp_nonpositive (softmax weights) is within 2 ULP, 0 for -inf and very negative, NaN propagates", "[simd][exp]") {
    INFO("arch " << ATTUNE_TEST_ARCH_NAME);
    float worst_x = 0.0f;
    const double wide = max_ulp_over(-87.33f, 88.376f, std::size_t(1) << 22, worst_x, which::exp_nonpositive);
    INFO("dense sweep of [-87.33, 88.376]: max " << wide << " ULP at x = " << worst_x);
    CHECK(wide <= 2.0);
    const double softmax_range = max_ulp_over(-30.0f, 8.0f, std::size_t(1) << 21, worst_x, which::exp_nonpositive);
    INFO("sweep of [-30, 8] (s - m up to the rescale threshold): max " << softmax_range << " ULP at x = " << worst_x);
    CHECK(softmax_range <= 2.0);
    const float inf = std::numeric_limits<float>::infinity();
    const auto y = vexp({-inf, -1000.0f, -104.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f}, which::exp_nonpositive);
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == 0.0f);
    CHECK(y[2] == 0.0f);
    CHECK(std::isnan(y[3]));
    CHECK(y[4] == 1.0f);
}
