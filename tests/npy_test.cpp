// tests/npy.hpp: the tests' own .npy reader accepts version 1.0 '<f4'/'<f8'/'|u1' C-order arrays and
// refuses anything else with a message naming the problem.
#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "npy.hpp"

using Catch::Contains;

namespace {
template <class T>
std::string payload(std::initializer_list<T> xs) {
    std::string s;
    for (T x : xs) {
        char b[sizeof(T)];
        std::memcpy(b, &x, sizeof(T));
        s.append(b, sizeof(T));
    }
    return s;
}
}  // namespace

TEST_CASE("npy reads a float32 C-order array", "[npy]") {
    const auto img = npy::make_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", payload<float>({1, 2, 3, 4, 5, 6.5f}));
    REQUIRE(img.size() % 64 == 6 * 4 % 64);  // header padded to 64 bytes as NumPy does
    const auto a = npy::parse(img);
    CHECK(a.descr == "<f4");
    CHECK(a.shape == std::vector<std::size_t>{2, 3});
    CHECK(a.data == std::vector<double>{1, 2, 3, 4, 5, 6.5});
}

TEST_CASE("npy reads float64, 1-d and 0-d shapes", "[npy]") {
    auto a = npy::parse(npy::make_image("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", payload<double>({0.1, -2.0, 1e300})));
    CHECK(a.shape == std::vector<std::size_t>{3});
    CHECK(a.data == std::vector<double>{0.1, -2.0, 1e300});
    a = npy::parse(npy::make_image("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", payload<double>({7.0})));
    CHECK(a.shape.empty());
    CHECK(a.data == std::vector<double>{7.0});
    a = npy::parse(npy::make_image("{'shape': (1, 0, 4), 'fortran_order': False, 'descr': '<f4'}", ""));
    CHECK(a.shape == std::vector<std::size_t>{1, 0, 4});
    CHECK(a.data.empty());
}

TEST_CASE("npy reads uint8 ('|u1', as NumPy writes it) into the same doubles", "[npy]") {
    const auto a = npy::parse(
        npy::make_image("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", std::string("\x00\x01\x7f\x80\xfe\xff", 6)));
    CHECK(a.descr == "|u1");
    CHECK(a.shape == std::vector<std::size_t>{2, 3});
    CHECK(a.data == std::vector<double>{0, 1, 127, 128, 254, 255});
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", std::string(5, '\0'))),
                      Contains("does not match shape"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", std::string(2, '\0'))),
                      Contains("dtype '|i1'"));
}

TEST_CASE("npy refuses what it does not support, with a clear message", "[npy]") {
    const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    const std::string two = payload<float>({1, 2});
    CHECK_NOTHROW(npy::parse(npy::make_image(ok_dict, two)));
    CHECK_THROWS_WITH(npy::parse("hello world, not numpy"), Contains("bad magic"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image(ok_dict, two, 2, 0)), Contains("version 2.0"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", two)),
                      Contains("dtype '>f4'"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", two)),
                      Contains("dtype '<i4'"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", two)), Contains("Fortran"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image(ok_dict, two.substr(0, 6))), Contains("does not match shape"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image(ok_dict, two + two)), Contains("does not match shape"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '<f4', 'fortran_order': False}", two)), Contains("'shape'"));
    CHECK_THROWS_WITH(npy::parse(npy::make_image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", two)),
                      Contains("non-integer"));
    CHECK_THROWS_WITH(npy::load("/nonexistent/attune/file.npy"), Contains("cannot open"));
    CHECK_THROWS_AS(npy::load("/nonexistent/attune/file.npy"), npy::npy_error);
}
