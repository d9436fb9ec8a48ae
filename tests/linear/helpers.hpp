#pragma once
// Shared pieces of the linear family's tests: random tensors, slices of one token, and a
// scale-aware comparison with the double references of reference.hpp.
#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "attune/linear.hpp"
#include "linear/reference.hpp"
#include "support.hpp"

namespace linear_test {

using attune::index_t;
using attune_test::layout;
using attune_test::tensor;

template <class T = float>
tensor<T> random_tensor(index_t B, index_t H, index_t L, index_t D, unsigned seed, float sigma = 1.0f, layout lay = layout::bhld,
                        index_t pad = 0) {
    tensor<T> t(B, H, L, D, lay, pad);
    std::mt19937 rng(seed);
    t.fill_random(rng, sigma);
    return t;
}

template <class T = float>
tensor<T> poisoned(index_t B, index_t H, index_t L, index_t D, layout lay = layout::bhld, index_t pad = 0) {
    tensor<T> t(B, H, L, D, lay, pad);
    t.poison();
    return t;
}

// Tokens [t0, t0 + n) of a view, same strides.
template <class T>
attune::tensor_view<T> tokens(const attune::tensor_view<T>& x, index_t t0, index_t n) {
    return attune::tensor_view<T>(x.data() + t0 * x.strides()[2], {x.batch(), x.heads(), n, x.dim()}, x.strides());
}

// Every element written (no NaN), nothing outside the view touched, and
// max |ours − ref| ≤ rel · max(1, max |ref|).
template <class T>
void expect_close(const tensor<T>& out, const attune::reference::result& ref, double rel) {
    const auto& v = out.view;
    REQUIRE(ref.batch == v.batch());
    REQUIRE(ref.heads == v.heads());
    REQUIRE(ref.tokens == v.tokens());
    REQUIRE(ref.dim == v.dim());
    double err = 0.0, mag = 1.0;
    index_t nan = 0;
    std::string where;
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t d = 0; d < v.dim(); ++d) {
                    const double o = static_cast<double>(attune::to_float(v(b, h, t, d))), r = ref.at(b, h, t, d);
                    if (std::isnan(o)) {
                        ++nan;
                        continue;
                    }
                    mag = std::max(mag, std::abs(r));
                    if (std::abs(o - r) > err) {
                        err = std::abs(o - r);
                        std::ostringstream os;
                        os << "[" << b << "," << h << "," << t << "," << d << "] ours " << o << " ref " << r;
                        where = os.str();
                    }
                }
    INFO("max abs error " << err << " (max |ref| " << mag << ") at " << where);
    CHECK(nan == 0);
    CHECK(out.clobbered_padding() == 0);
    CHECK(err <= rel * mag);
}

}  // namespace linear_test
