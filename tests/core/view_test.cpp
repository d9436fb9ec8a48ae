// attune/core/view.hpp: strided 4-D views, the B,H,L,D / B,L,H,D helpers, Eigen views, extents.
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/attune.hpp"

using attune::index_t;

TEST_CASE("view_bhld addresses data[b][h][t][d]", "[view]") {
    const index_t B = 2, H = 3, L = 5, D = 7;
    std::vector<float> x(static_cast<std::size_t>(B * H * L * D));
    std::iota(x.begin(), x.end(), 0.0f);
    const auto v = attune::view_bhld(x.data(), B, H, L, D);
    CHECK(v.batch() == B);
    CHECK(v.heads() == H);
    CHECK(v.tokens() == L);
    CHECK(v.dim() == D);
    CHECK(v.size() == B * H * L * D);
    CHECK(v.strides() == std::array<index_t, 3>{H * L * D, L * D, D});
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < H; ++h)
            for (index_t t = 0; t < L; ++t)
                for (index_t d = 0; d < D; ++d) REQUIRE(v(b, h, t, d) == static_cast<float>(((b * H + h) * L + t) * D + d));
    CHECK(v.row(1, 2, 3) == x.data() + ((1 * H + 2) * L + 3) * D);
}

TEST_CASE("view_blhd addresses data[b][t][h][d] and reads as [batch, heads, tokens, dim]", "[view]") {
    const index_t B = 2, L = 5, H = 3, D = 4;
    std::vector<float> x(static_cast<std::size_t>(B * L * H * D));
    std::iota(x.begin(), x.end(), 0.0f);
    const auto v = attune::view_blhd(x.data(), B, L, H, D);
    CHECK(v.shape() == std::array<index_t, 4>{B, H, L, D});
    CHECK(v.strides() == std::array<index_t, 3>{L * H * D, D, H * D});
    for (index_t b = 0; b < B; ++b)
        for (index_t h = 0; h < H; ++h)
            for (index_t t = 0; t < L; ++t)
                for (index_t d = 0; d < D; ++d) REQUIRE(v(b, h, t, d) == static_cast<float>(((b * L + t) * H + h) * D + d));
}

TEST_CASE("a view converts to a view of const and keeps shape and strides", "[view]") {
    std::vector<attune::bf16> x(24);
    attune::tensor_view<attune::bf16> v(x.data(), {1, 2, 3, 4}, {24, 12, 4});
    attune::tensor_view<const attune::bf16> c = v;
    CHECK(c.data() == x.data());
    CHECK(c.shape() == v.shape());
    CHECK(c.strides() == v.strides());
    STATIC_REQUIRE(std::is_same_v<decltype(c)::value_type, attune::bf16>);
    STATIC_REQUIRE(!std::is_convertible_v<attune::tensor_view<const float>, attune::tensor_view<float>>);
}

TEST_CASE("a negative dimension is refused", "[view][errors]") {
    float x = 0.0f;
    REQUIRE_THROWS_AS((attune::tensor_view<float>(&x, {1, -1, 1, 1}, {1, 1, 1})), attune::error);
    REQUIRE_THROWS_WITH((attune::tensor_view<float>(&x, {1, 1, 1, -3}, {1, 1, 1})), Catch::Contains("negative"));
}

TEST_CASE("default view is empty", "[view]") {
    attune::tensor_view<float> v;
    CHECK(v.empty());
    CHECK(v.size() == 0);
    CHECK(v.extent().first == nullptr);
}

TEST_CASE("extent covers exactly the elements a strided view can touch", "[view]") {
    std::vector<float> x(1000);
    // Padded rows: row stride 10 for dim 7, 4 tokens, 3 heads with stride 45, 2 batches with stride 200.
    attune::tensor_view<float> v(x.data() + 5, {2, 3, 4, 7}, {200, 45, 10});
    const auto e = v.extent();
    CHECK(e.first == x.data() + 5);
    CHECK(e.second == x.data() + 5 + 200 + 2 * 45 + 3 * 10 + 7);
}

TEST_CASE("view_of a row-major Eigen matrix aliases its storage", "[view][eigen]") {
    attune::matrix<float> m(5, 3);
    m.setZero();
    auto v = attune::view_of(m);
    STATIC_REQUIRE(std::is_same_v<decltype(v), attune::tensor_view<float>>);
    CHECK(v.shape() == std::array<index_t, 4>{1, 1, 5, 3});
    CHECK(v.data() == m.data());
    m(4, 2) = 42.0f;
    CHECK(v(0, 0, 4, 2) == 42.0f);
    v(0, 0, 1, 0) = 7.0f;
    CHECK(m(1, 0) == 7.0f);

    const attune::matrix<attune::half>& cm = attune::matrix<attune::half>::Constant(2, 4, attune::half(1.5f));
    const auto cv = attune::view_of(cm);
    STATIC_REQUIRE(std::is_same_v<std::decay_t<decltype(cv)>, attune::tensor_view<const attune::half>>);
    CHECK(static_cast<float>(cv(0, 0, 1, 3)) == 1.5f);
}

TEST_CASE("view_of an Eigen Map with padded rows uses the outer stride", "[view][eigen]") {
    std::vector<float> x(4 * 9);
    std::iota(x.begin(), x.end(), 0.0f);
    Eigen::Map<attune::matrix<float>, 0, Eigen::OuterStride<>> m(x.data(), 4, 6, Eigen::OuterStride<>(9));
    const auto v = attune::view_of(m);
    CHECK(v.shape() == std::array<index_t, 4>{1, 1, 4, 6});
    CHECK(v.strides()[2] == 9);
    CHECK(v(0, 0, 3, 5) == x[3 * 9 + 5]);
    CHECK(v(0, 0, 3, 5) == m(3, 5));
}

TEST_CASE("view_of an Eigen Ref to a column block has padded rows", "[view][eigen]") {
    attune::matrix<float> m(6, 10);
    for (index_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(i);
    Eigen::Ref<attune::matrix<float>, 0, Eigen::OuterStride<>> r = m.block(1, 2, 4, 5);
    const auto v = attune::view_of(r);
    CHECK(v.shape() == std::array<index_t, 4>{1, 1, 4, 5});
    CHECK(v.strides()[2] == 10);
    CHECK(&v(0, 0, 0, 0) == &m(1, 2));
    CHECK(&v(0, 0, 3, 4) == &m(4, 6));
    const Eigen::Ref<const attune::matrix<float>, 0, Eigen::OuterStride<>> cr = m.block(0, 0, 2, 3);
    const auto cv = attune::view_of(cr);
    STATIC_REQUIRE(std::is_same_v<std::decay_t<decltype(cv)>, attune::tensor_view<const float>>);
    CHECK(&cv(0, 0, 1, 2) == &m(1, 2));
}

TEST_CASE("view_of a column vector is one head of dim 1 with consecutive tokens", "[view][eigen]") {
    // view.hpp accepts ColsAtCompileTime == 1 (a column vector: tokens × 1). Token t is element t.
    Eigen::VectorXf x(5);
    for (index_t i = 0; i < 5; ++i) x(i) = static_cast<float>(i);
    const auto v = attune::view_of(x);
    CHECK(v.shape() == std::array<index_t, 4>{1, 1, 5, 1});
    CHECK(v.strides()[2] == 1);
    CHECK(v.row(0, 0, 1) == &x(1));  // compared as addresses: never dereferenced
}

TEST_CASE("attention on views of Eigen matrices equals attention on the same data as bhld", "[view][eigen]") {
    std::mt19937 rng(11);
    std::normal_distribution<float> dist;
    attune::matrix<float> q(9, 16), k(13, 16), v(13, 8), out(9, 8);
    for (auto* m : {&q, &k, &v})
        for (index_t i = 0; i < m->size(); ++i) m->data()[i] = dist(rng);
    attune::attention(attune::view_of(std::as_const(q)), attune::view_of(std::as_const(k)), attune::view_of(std::as_const(v)),
                      attune::view_of(out), attune::causal{}, {}, attune::serial_executor{});
    attune::matrix<float> out2(9, 8);
    attune::attention(attune::view_bhld(q.data(), 1, 1, 9, 16), attune::view_bhld(k.data(), 1, 1, 13, 16),
                      attune::view_bhld(v.data(), 1, 1, 13, 8), attune::view_bhld(out2.data(), 1, 1, 9, 8), attune::causal{}, {},
                      attune::serial_executor{});
    CHECK((out - out2).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("lse_view is [batch, heads, tokens, 1] over contiguous floats", "[view]") {
    std::vector<float> x(2 * 3 * 5);
    const auto l = attune::lse_view(x.data(), 2, 3, 5);
    CHECK(l.shape() == std::array<index_t, 4>{2, 3, 5, 1});
    CHECK(l.row(1, 2, 4) == x.data() + (1 * 3 + 2) * 5 + 4);
}
