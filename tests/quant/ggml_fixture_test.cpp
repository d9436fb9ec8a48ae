// attune's quantized K/V formats (attune/quant/) against independent implementations, from the
// fixtures in tests/quant/quant_fixtures (written by tests/quant/make_quant_fixtures.py, which says
// what the rows are):
//   q8_0, q4_0, q4_1   quantize_row bytes equal ggml's quantize_row_*_ref bytes exactly, row by row,
//                      and attune's values of ggml's bytes (row_scale · value, and dequantize_row on
//                      the default arch) equal ggml's dequantize_row_* floats exactly (NaN equals NaN;
//                      +0 equals −0)
//   fp8 e4m3 / e5m2    encode and quantize_row bytes equal ml_dtypes' float8_e4m3fn / float8_e5m2
//                      casts (inside the finite range), and the values of those bytes equal ml_dtypes'
// plus hand-written checks of what the fixtures leave out: fp8 saturation and NaN, the int8 and
// int4_group<64>/<128> round trips (their layouts are attune's own).
// The q4_0 / q4_1 bytes match under any -ffp-contract: the quantizers round their products before
// the add (quant/format.hpp's unfused_product), as ggml's reference build does.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/quant/blocks.hpp"
#include "attune/quant/fp8.hpp"
#include "attune/quant/int8.hpp"
#include "attune/simd/arch.hpp"
#include "npy.hpp"

#ifndef ATTUNE_QUANT_FIXTURE_DIR
#error "ATTUNE_QUANT_FIXTURE_DIR must name tests/quant/quant_fixtures"
#endif

namespace {
namespace ggml_fx {

using attune::index_t;
using arch = attune::default_arch;

struct float_rows {
    index_t rows = 0, dim = 0;
    std::vector<float> v;
    const float* row(index_t r) const { return v.data() + r * dim; }
};
struct byte_rows {
    index_t rows = 0, width = 0;
    std::vector<std::uint8_t> v;
    const std::uint8_t* row(index_t r) const { return v.data() + r * width; }
};

npy::array load_npy(const std::string& name, const char* descr) {
    const npy::array a = npy::load(std::string(ATTUNE_QUANT_FIXTURE_DIR) + "/" + name + ".npy");
    INFO(name);
    REQUIRE(a.descr == descr);
    REQUIRE(a.shape.size() == 2);
    return a;
}
float_rows load_floats(const std::string& name) {
    const npy::array a = load_npy(name, "<f4");
    float_rows r{static_cast<index_t>(a.shape[0]), static_cast<index_t>(a.shape[1]), {}};
    r.v.assign(a.data.begin(), a.data.end());  // float32 → double → float is exact (NaN stays NaN)
    return r;
}
byte_rows load_bytes(const std::string& name) {
    const npy::array a = load_npy(name, "|u1");
    byte_rows r{static_cast<index_t>(a.shape[0]), static_cast<index_t>(a.shape[1]), {}};
    r.v.reserve(a.data.size());
    for (double d : a.data) r.v.push_back(static_cast<std::uint8_t>(d));
    return r;
}

bool same_value(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

std::string hex(unsigned v, int digits) {
    static const char* x = "0123456789abcdef";
    std::string s = "0x";
    for (int i = digits - 1; i >= 0; --i) s += x[(v >> (4 * i)) & 0xf];
    return s;
}
std::string num(double v) {
    std::ostringstream s;
    s.precision(9);
    s << v;
    return s.str();
}

// Counts mismatches and keeps the first few, for one CHECK per fixture with a readable message.
struct mismatches {
    std::size_t count = 0, checked = 0;
    std::string first;
    void add(const std::string& what) {
        if (count++ < 10) first += "\n  " + what;
    }
    std::string report(const std::string& what) const {
        return what + ": " + std::to_string(count) + " of " + std::to_string(checked) + " differ" + first;
    }
};

// The fp16 scale (and q4_1's minimum) of the block holding element e, for messages.
template <class F>
std::string block_header(const std::uint8_t* row, index_t e) {
    const std::uint8_t* b = row + e / F::group * F::block_bytes;
    std::string s = "block " + std::to_string(e / F::group) + " d=" + hex(static_cast<unsigned>(b[0] | (b[1] << 8)), 4) + " (" +
                    num(attune::quant::half_value(b)) + ")";
    if (F::block_bytes == 4 + F::group / 2)
        s += " m=" + hex(static_cast<unsigned>(b[2] | (b[3] << 8)), 4) + " (" + num(attune::quant::half_value(b + 2)) + ")";
    return s;
}

// Which elements check_values compares: all, or those of blocks whose fp16 scale (and minimum) are
// finite, or those of blocks where one is inf or NaN (ggml writes an inf scale for a block whose
// scale overflows fp16: q4_0 past |x| = 8 · 65504, q8_0 past 127 · 65504).
enum class blocks { all, finite_scale, nonfinite_scale };

template <class F>
bool selected(const std::uint8_t* row, index_t e, blocks which) {
    if constexpr (F::group == 1) {
        return which != blocks::nonfinite_scale;
    } else {
        if (which == blocks::all) return true;
        const std::uint8_t* b = row + e / F::group * F::block_bytes;
        bool finite = std::isfinite(attune::quant::half_value(b));
        if (F::block_bytes == 4 + F::group / 2) finite = finite && std::isfinite(attune::quant::half_value(b + 2));
        return finite == (which == blocks::finite_scale);
    }
}

// attune's values of the rows q (F's bytes): row_scale · value and dequantize_row<arch>, both against
// ref where given (else against each other). Returns how many elements it compared.
template <class F>
std::size_t check_values(const F& f, const std::string& what, const byte_rows& q, index_t dim, const float_rows* ref,
                         blocks which = blocks::all, index_t head = 0, float ref_factor = 1.0f) {
    REQUIRE(q.width == F::row_bytes(dim));
    if (ref != nullptr) REQUIRE((ref->rows == q.rows && ref->dim == dim));
    mismatches scalar, vector;
    std::vector<float> out(static_cast<std::size_t>(dim));
    const auto hp = f.head(head);
    for (index_t r = 0; r < q.rows; ++r) {
        const std::uint8_t* row = q.row(r);
        attune::quant::dequantize_row<arch>(f, head, row, out.data(), dim);
        for (index_t e = 0; e < dim; ++e) {
            if (!selected<F>(row, e, which)) continue;
            const float s = F::row_scale(hp, row) * F::value(hp, row, e), v = out[static_cast<std::size_t>(e)];
            const float want = ref != nullptr ? ref->row(r)[e] * ref_factor : s;
            const auto where = [&] {
                std::string w = "row " + std::to_string(r) + " element " + std::to_string(e);
                if constexpr (F::group > 1) w += " (" + block_header<F>(row, e) + ")";
                else w += " (byte " + hex(row[e], 2) + ")";
                return w;
            };
            ++scalar.checked, ++vector.checked;
            if (!same_value(s, want)) scalar.add(where() + ": row_scale·value " + num(s) + ", expected " + num(want));
            if (!same_value(v, want)) vector.add(where() + ": dequantize_row " + num(v) + ", expected " + num(want));
        }
    }
    const std::string against = ref != nullptr ? " (against the reference's floats)" : " (against row_scale·value)";
    INFO(scalar.report(what + ": row_scale·value" + against));
    CHECK(scalar.count == 0);
    INFO(vector.report(what + ": dequantize_row<default_arch>" + against));
    CHECK(vector.count == 0);
    return vector.checked;
}

// quantize_row<A> of every input row against ggml's bytes.
template <class F, class A>
void check_block_bytes(const char* fmt, index_t dim) {
    const std::string set = "blocks_d" + std::to_string(dim);
    const float_rows x = load_floats(set + "_in");
    const byte_rows want = load_bytes(set + "_" + fmt);
    REQUIRE(x.dim == dim);
    REQUIRE(x.rows >= 40);
    REQUIRE(want.rows == x.rows);
    REQUIRE(want.width == F::row_bytes(dim));
    dim = x.dim;  // from the file, not a constant (see check_block_values)

    const F f{};
    mismatches bytes;
    std::vector<std::uint8_t> got(static_cast<std::size_t>(want.width));
    for (index_t r = 0; r < x.rows; ++r) {
        f.template quantize_row<A>(0, x.row(r), got.data(), dim);
        for (index_t j = 0; j < want.width; ++j) {
            ++bytes.checked;
            const std::uint8_t a = got[static_cast<std::size_t>(j)], b = want.row(r)[j];
            if (a == b) continue;
            constexpr bool bytewise = F::block_bytes == 2 + F::group;  // q8_0: one byte per element, else two nibbles
            constexpr index_t hdr = F::block_bytes - (bytewise ? F::group : F::group / 2);
            const index_t blk = j / F::block_bytes, at = j % F::block_bytes;
            std::string what = std::string(fmt) + " d" + std::to_string(dim) + " row " + std::to_string(r) + " block " +
                               std::to_string(blk) + " byte " + std::to_string(at);
            if (at < hdr) {
                what += " (header)";
            } else if (bytewise) {
                what += " (element " + std::to_string(blk * 32 + at - hdr) + ", x=" + num(x.row(r)[blk * 32 + at - hdr]) + ")";
            } else {
                const index_t e = blk * F::group + at - hdr;
                what += " (elements " + std::to_string(e) + ", " + std::to_string(e + F::group / 2) + ": x=" + num(x.row(r)[e]) + ", " +
                        num(x.row(r)[e + F::group / 2]) + ")";
            }
            bytes.add(what + ": attune " + hex(a, 2) + ", ggml " + hex(b, 2));
        }
    }
    INFO(bytes.report(std::string(fmt) + " d" + std::to_string(dim) + " quantize_row<" + attune::simd::arch_name<A>() +
                      "> bytes against ggml's quantize_row_" + fmt + "_ref"));
    CHECK(bytes.count == 0);
}

// attune's values of ggml's bytes: of its quantized rows (against ggml's dequantize_row_* floats for
// d32 and d64; row_scale·value against dequantize_row for d128, whose floats are not kept) and of the
// raw block bytes. Returns how many elements it compared.
template <class F>
std::size_t check_block_values(const char* fmt, blocks which) {
    std::size_t n = 0;
    for (const char* set : {"blocks_d128", "blocks_d64", "blocks_d32", "rawbytes_d128"}) {
        const std::string name = std::string(set) + "_" + fmt;
        const byte_rows q = load_bytes(name);
        REQUIRE(q.rows >= 8);
        // the dim from the file, not a constant: GCC 12 warns (-Waggressive-loop-optimizations, an
        // error under -Werror) in dequantize_row's dead tail loop when it sees a constant multiple of 32
        const index_t dim = q.width / F::block_bytes * F::group;
        if (name.rfind("blocks_d128", 0) == 0) {
            n += check_values(F{}, name, q, dim, nullptr, which);
        } else {
            const float_rows deq = load_floats(name + "_deq");
            REQUIRE(deq.dim == dim);
            n += check_values(F{}, name, q, dim, &deq, which);
        }
    }
    return n;
}

template <bool E4M3>
void check_fp8_fixture(const char* name) {
    using F = attune::quant::fp8<E4M3>;
    const std::string base = std::string("fp8_") + name;
    const float_rows x = load_floats(base + "_in"), val = load_floats(base + "_val");
    const byte_rows want = load_bytes(base);
    REQUIRE(x.rows >= 8);
    REQUIRE((want.rows == x.rows && want.width == x.dim && val.rows == x.rows && val.dim == x.dim));
    const index_t dim = x.dim;

    // encode, and quantize_row with scale 1, and with scale 2 (one head's) of 2x: the same bytes
    const float head_scales[2] = {1.0f, 2.0f};
    F one{}, two{};
    two.head_scales = head_scales;
    mismatches enc;
    std::vector<std::uint8_t> q1(static_cast<std::size_t>(dim)), q2(static_cast<std::size_t>(dim));
    std::vector<float> x2(static_cast<std::size_t>(dim));
    for (index_t r = 0; r < x.rows; ++r) {
        for (index_t e = 0; e < dim; ++e) x2[static_cast<std::size_t>(e)] = 2.0f * x.row(r)[e];
        one.quantize_row(0, x.row(r), q1.data(), dim);
        two.quantize_row(1, x2.data(), q2.data(), dim);
        for (index_t e = 0; e < dim; ++e) {
            const std::uint8_t b = want.row(r)[e], a = F::encode(x.row(r)[e]);
            const std::size_t i = static_cast<std::size_t>(e);
            ++enc.checked;
            if (a != b || q1[i] != b || q2[i] != b)
                enc.add("row " + std::to_string(r) + " element " + std::to_string(e) + " x=" + num(x.row(r)[e]) + ": encode " + hex(a, 2) +
                        ", quantize_row " + hex(q1[i], 2) + ", quantize_row (scale 2) " + hex(q2[i], 2) + ", ml_dtypes " + hex(b, 2));
        }
    }
    INFO(enc.report(base + " encode / quantize_row against ml_dtypes"));
    CHECK(enc.count == 0);

    // the values of ml_dtypes' bytes: scale 1, scale 2 (head 1), and a dim that leaves a tail
    check_values(one, base + " values", want, dim, &val);
    check_values(two, base + " values, scale 2", want, dim, &val, blocks::all, 1, 2.0f);
    byte_rows cut{want.rows, dim - 3, {}};
    float_rows cut_val{val.rows, dim - 3, {}};
    for (index_t r = 0; r < want.rows; ++r) {
        cut.v.insert(cut.v.end(), want.row(r), want.row(r) + dim - 3);
        cut_val.v.insert(cut_val.v.end(), val.row(r), val.row(r) + dim - 3);
    }
    check_values(one, base + " values, dim " + std::to_string(dim - 3), cut, dim - 3, &cut_val);
}

// A row of n values: normal, with a few outlier channels, or heavy-tailed; offset added.
std::vector<float> random_row(std::mt19937& gen, index_t n, int kind, float offset) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::student_t_distribution<float> heavy(2.0f);
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = (kind == 2 ? heavy(gen) : normal(gen)) + offset;
    if (kind == 1)
        for (index_t c = 3; c < n; c += 37) x[static_cast<std::size_t>(c)] *= 300.0f;
    return x;
}

template <int G>
void check_int4_group_round_trip() {
    using F = attune::quant::int4_group<G>;
    const F f{};
    std::mt19937 gen(1234u + G);
    std::size_t values = 0;
    for (index_t dim : {index_t{G}, index_t{2 * G}, index_t{4 * G}})
        for (int kind = 0; kind < 3; ++kind)
            for (float offset : {0.0f, 100.0f, -7.5f})
                for (int rep = 0; rep < 3; ++rep) {
                    const std::vector<float> x = random_row(gen, dim, kind, offset);
                    std::vector<std::uint8_t> row(static_cast<std::size_t>(F::row_bytes(dim)));
                    f.quantize_row(0, x.data(), row.data(), dim);
                    std::vector<float> out(static_cast<std::size_t>(dim));
                    attune::quant::dequantize_row<arch>(f, 0, row.data(), out.data(), dim);
                    for (index_t g = 0; g < dim / G; ++g) {
                        const float* xg = x.data() + g * G;
                        const std::uint8_t* b = row.data() + g * F::block_bytes;
                        const float lo = *std::min_element(xg, xg + G), hi = *std::max_element(xg, xg + G);
                        const float d = (hi - lo) / 15.0f;
                        const float dh = attune::quant::half_value(b), mh = attune::quant::half_value(b + 2);
                        INFO("G " << G << " dim " << dim << " kind " << kind << " offset " << offset << " group " << g << " d " << d
                                  << " lo " << lo);
                        REQUIRE(dh == static_cast<float>(attune::half(d)));  // the fp16 scale and minimum of the group
                        REQUIRE(mh == static_cast<float>(attune::half(lo)));
                        for (index_t j = 0; j < G; ++j) {
                            const index_t e = g * G + j;
                            const int n =
                                (b[4 + j % (G / 2)] >> (j >= G / 2 ? 4 : 0)) & 0xf;  // element j: byte j % (G/2), high nibble past G/2
                            const double err = std::fabs(static_cast<double>(xg[j]) - (lo + static_cast<double>(n) * d));
                            // within d/2 of the grid lo + n·d (float slack: x·id rounds before the + 1/2)
                            if (!(err <= 0.5 * d * (1 + 1e-5) + std::fabs(lo) * 1e-7)) {
                                INFO("element " << j << " x " << xg[j] << " n " << n << " err " << err);
                                CHECK(err <= 0.5 * d * (1 + 1e-5));
                            }
                            // the stored value is d_h·n + m_h; it is within d/2 plus the fp16 roundings
                            const float v = F::value({}, row.data(), e);
                            REQUIRE(v == dh * static_cast<float>(n) + mh);
                            REQUIRE(same_value(out[static_cast<std::size_t>(e)], v));
                            const double bound = 0.5 * d * (1 + 1e-5) + 15.0 * std::fabs(static_cast<double>(d) - dh) +
                                                 std::fabs(static_cast<double>(lo) - mh) + std::fabs(lo) * 1e-6;
                            if (!(std::fabs(static_cast<double>(xg[j]) - v) <= bound))
                                CHECK(std::fabs(static_cast<double>(xg[j]) - v) <= bound);
                            ++values;
                        }
                    }
                }
    CHECK(values == 27u * 7u * G);
}

}  // namespace ggml_fx
}  // namespace

TEST_CASE("q8_0, q4_0 and q4_1 rows are ggml's bytes and values", "[quant_fixtures]") {
    using namespace attune::quant;
    using namespace ggml_fx;
    static_assert(std::is_same_v<q4_1, int4_group<32>>, "q4_1 is int4_group<32>");
    CHECK(q8_0::row_bytes(128) == 136);  // sizeof(block_q8_0) = 34, block_q4_0 18, block_q4_1 20
    CHECK(q4_0::row_bytes(128) == 72);
    CHECK(q4_1::row_bytes(128) == 80);
    for (index_t dim : {index_t{128}, index_t{64}, index_t{32}}) {
        SECTION("q8_0 d" + std::to_string(dim)) {
            check_block_bytes<q8_0, attune::simd::scalar>("q8_0", dim);
            check_block_bytes<q8_0, arch>("q8_0", dim);
        }
        SECTION("q4_0 d" + std::to_string(dim)) {
            check_block_bytes<q4_0, attune::simd::scalar>("q4_0", dim);
            check_block_bytes<q4_0, arch>("q4_0", dim);
        }
        SECTION("q4_1 d" + std::to_string(dim)) {
            check_block_bytes<q4_1, attune::simd::scalar>("q4_1", dim);
            check_block_bytes<q4_1, arch>("q4_1", dim);
        }
    }
}

TEST_CASE("q8_0, q4_0 and q4_1 values of ggml's blocks are ggml's dequantize_row floats", "[quant_fixtures]") {
    using namespace attune::quant;
    using namespace ggml_fx;
    SECTION("q8_0") { CHECK(check_block_values<q8_0>("q8_0", blocks::all) > 0u); }
    SECTION("q4_1") { CHECK(check_block_values<q4_1>("q4_1", blocks::all) > 0u); }
    // q4_0's blocks with an inf scale: the next test case
    SECTION("q4_0, finite scales") { CHECK(check_block_values<q4_0>("q4_0", blocks::finite_scale) > 0u); }
}

// A block whose fp16 scale is ±inf (ggml stores one when max|x| / 8 overflows fp16, e.g. a row
// holding 6e5): ggml's dequantize_row_q4_0 gives (n − 8) · d = ±inf (NaN for n = 8), and so must
// q4_0::load (an fma(n, d, −8 · d) would give inf − inf = NaN for every n).
TEST_CASE("q4_0 values of ggml's blocks with an infinite fp16 scale are ggml's ±inf", "[quant_fixtures]") {
    using namespace ggml_fx;
    CHECK(check_block_values<attune::quant::q4_0>("q4_0", blocks::nonfinite_scale) > 0u);
}

TEST_CASE("fp8 e4m3 and e5m2 bytes and values are ml_dtypes' float8_e4m3fn and float8_e5m2", "[quant_fixtures]") {
    SECTION("e4m3") { ggml_fx::check_fp8_fixture<true>("e4m3"); }
    SECTION("e5m2") { ggml_fx::check_fp8_fixture<false>("e5m2"); }
}

TEST_CASE("fp8 saturates at the largest finite value, and NaN stays NaN", "[quant_fixtures]") {
    using attune::quant::fp8_e4m3;
    using attune::quant::fp8_e5m2;
    using ggml_fx::arch;
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const auto decoded = [](auto f, std::uint8_t b) {
        using F = decltype(f);
        return F::row_scale(f.head(0), &b) * F::value(f.head(0), &b, 0);
    };
    SECTION("saturation") {
        CHECK(fp8_e4m3::encode(448.0f) == 0x7e);
        CHECK(fp8_e4m3::encode(500.0f) == 0x7e);
        CHECK(fp8_e4m3::encode(-1e9f) == 0xfe);
        CHECK(fp8_e4m3::encode(inf) == 0x7e);
        CHECK(fp8_e4m3::encode(-inf) == 0xfe);
        CHECK(decoded(fp8_e4m3{}, 0x7e) == 448.0f);
        CHECK(decoded(fp8_e4m3{}, 0xfe) == -448.0f);
        CHECK(fp8_e5m2::encode(57344.0f) == 0x7b);
        CHECK(fp8_e5m2::encode(61440.0f) == 0x7b);  // ml_dtypes: inf; attune saturates
        CHECK(fp8_e5m2::encode(1e6f) == 0x7b);
        CHECK(fp8_e5m2::encode(-1e9f) == 0xfb);
        CHECK(fp8_e5m2::encode(inf) == 0x7b);
        CHECK(fp8_e5m2::encode(-inf) == 0xfb);
        CHECK(decoded(fp8_e5m2{}, 0x7b) == 57344.0f);
        CHECK(decoded(fp8_e5m2{}, 0xfb) == -57344.0f);
        // through quantize_row and a scale: 300 / 0.5 = 600 saturates to 448, i.e. 224; 48 / 0.5 = 96 is exact
        fp8_e4m3 f;
        f.scale = 0.5f;
        const float x[3] = {300.0f, -1e30f, 48.0f};
        std::uint8_t row[3];
        f.quantize_row(0, x, row, 3);
        CHECK(row[0] == 0x7e);
        CHECK(row[1] == 0xfe);
        float out[3];
        attune::quant::dequantize_row<arch>(f, 0, row, out, 3);
        CHECK(out[0] == 224.0f);
        CHECK(out[1] == -224.0f);
        CHECK(out[2] == 48.0f);
    }
    SECTION("NaN is encoded as a NaN byte") {
        const std::uint8_t a = fp8_e4m3::encode(nan), b = fp8_e4m3::encode(-nan);
        CHECK((a & 0x7f) == 0x7f);  // e4m3fn's NaN: S.1111.111 only
        CHECK((b & 0x7f) == 0x7f);
        const std::uint8_t c = fp8_e5m2::encode(nan);
        CHECK((c & 0x7c) == 0x7c);  // e5m2's NaN: exponent 11111, mantissa ≠ 0
        CHECK((c & 0x03) != 0);
    }
    SECTION("a NaN byte decodes to NaN (e5m2)") {
        fp8_e5m2 f;
        const float x[2] = {nan, 1.0f};
        std::uint8_t row[2];
        f.quantize_row(0, x, row, 2);
        float out[2];
        attune::quant::dequantize_row<arch>(f, 0, row, out, 2);
        CHECK(std::isnan(decoded(f, row[0])));
        CHECK(std::isnan(out[0]));
        CHECK(out[1] == 1.0f);
    }
}

// fp8<E4M3>::quantize_row stores a NaN input as e4m3fn's NaN byte 0x7f; the e4m3 → half shift alone
// would read it as 480 (0x7f << 7 is a finite half): the loads map 0x7f / 0xff to NaN.
TEST_CASE("fp8 e4m3: a NaN byte decodes to NaN", "[quant_fixtures]") {
    using attune::quant::fp8_e4m3;
    fp8_e4m3 f;
    const float x[2] = {std::numeric_limits<float>::quiet_NaN(), 1.0f};
    std::uint8_t row[2];
    f.quantize_row(0, x, row, 2);
    float out[2];
    attune::quant::dequantize_row<ggml_fx::arch>(f, 0, row, out, 2);
    const float one = fp8_e4m3::row_scale(f.head(0), row) * fp8_e4m3::value(f.head(0), row, 0);
    INFO("e4m3 byte " << ggml_fx::hex(row[0], 2) << " decodes to " << one << " (dequantize_row " << out[0] << ")");
    CHECK(std::isnan(one));
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 1.0f);
}

TEST_CASE("int8 rows round-trip within scale/2", "[quant_fixtures]") {
    using attune::quant::int8;
    using namespace ggml_fx;
    const int8 f{};
    std::mt19937 gen(99u);
    std::size_t values = 0;
    for (index_t dim : {index_t{1}, index_t{7}, index_t{64}, index_t{128}})
        for (int kind = 0; kind < 3; ++kind)
            for (int rep = 0; rep < 4; ++rep) {
                const std::vector<float> x = random_row(gen, dim, kind, rep == 3 ? 5.0f : 0.0f);
                std::vector<std::uint8_t> row(static_cast<std::size_t>(int8::row_bytes(dim)));
                REQUIRE(row.size() == static_cast<std::size_t>(4 + dim));
                f.quantize_row(0, x.data(), row.data(), dim);
                const float scale = int8::row_scale({}, row.data());
                float amax = 0.0f;
                for (float v : x) amax = std::max(amax, std::fabs(v));
                INFO("dim " << dim << " kind " << kind << " rep " << rep << " scale " << scale);
                CHECK(scale == amax / 127.0f);
                std::vector<float> out(static_cast<std::size_t>(dim));
                attune::quant::dequantize_row<arch>(f, 0, row.data(), out.data(), dim);
                bool has_max = false;
                for (index_t e = 0; e < dim; ++e) {
                    const float q = int8::value({}, row.data(), e), xe = x[static_cast<std::size_t>(e)];
                    REQUIRE(std::fabs(q) <= 127.0f);
                    has_max = has_max || std::fabs(q) == 127.0f;
                    const double err = std::fabs(static_cast<double>(xe) - static_cast<double>(scale) * q);
                    // scale/2, with float slack: x · (127 / amax) rounds before the rounding to an integer
                    if (!(err <= 0.5 * scale * (1 + 1e-4))) CHECK(err <= 0.5 * scale * (1 + 1e-4));
                    REQUIRE(out[static_cast<std::size_t>(e)] == scale * q);
                    ++values;
                }
                CHECK(has_max);  // the largest |x| is ±127
            }
    CHECK(values == 3u * 4u * (1 + 7 + 64 + 128));

    // a zero row: scale 0 and values 0; inf or NaN: a NaN scale, so every value is NaN
    const float zero[4] = {0.0f, -0.0f, 0.0f, 0.0f}, bad[4] = {1.0f, std::numeric_limits<float>::infinity(), 2.0f, 3.0f},
                nan[4] = {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f};
    std::uint8_t row[8];
    float out[4];
    f.quantize_row(0, zero, row, 4);
    attune::quant::dequantize_row<arch>(f, 0, row, out, 4);
    CHECK(int8::row_scale({}, row) == 0.0f);
    for (float v : out) CHECK(v == 0.0f);
    for (const float* x : {bad, nan}) {
        f.quantize_row(0, x, row, 4);
        attune::quant::dequantize_row<arch>(f, 0, row, out, 4);
        CHECK(std::isnan(int8::row_scale({}, row)));
        for (float v : out) CHECK(std::isnan(v));
    }
}

TEST_CASE("int4_group<64> and <128> rows round-trip within d/2 per group", "[quant_fixtures]") {
    using namespace attune::quant;
    SECTION("layout: element j in the low nibble of byte j, element j + G/2 in its high nibble") {
        int4_group<64> f;
        std::vector<float> x(64);
        for (int j = 0; j < 64; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>((j * 7) % 16);  // 0..15: d = 1, m = 0
        std::vector<std::uint8_t> row(static_cast<std::size_t>(int4_group<64>::row_bytes(64)));
        REQUIRE(row.size() == 36u);
        f.quantize_row(0, x.data(), row.data(), 64);
        CHECK(half_value(row.data()) == 1.0f);
        CHECK(half_value(row.data() + 2) == 0.0f);
        for (int j = 0; j < 32; ++j) {
            CHECK((row[static_cast<std::size_t>(4 + j)] & 0xf) == (j * 7) % 16);
            CHECK((row[static_cast<std::size_t>(4 + j)] >> 4) == ((j + 32) * 7) % 16);
        }
        CHECK(int4_group<128>::row_bytes(256) == 2 * 68);
    }
    SECTION("G = 64") { ggml_fx::check_int4_group_round_trip<64>(); }
    SECTION("G = 128") { ggml_fx::check_int4_group_round_trip<128>(); }
}
