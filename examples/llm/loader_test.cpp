// Tests of the model runner's file loader: the strict JSON parser (RFC 8259); every malformed
// input is an llm::load_error saying what is wrong.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "json.hpp"

namespace {

using llm::json;
using llm::load_error;

json parse(const std::string& text) { return json::parse(text, "test.json"); }

// The message of the load_error that f throws; fails the test when f returns normally.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const load_error& e) {
        return e.what();
    }
    FAIL("no llm::load_error thrown");
    return {};
}

}  // namespace

TEST_CASE("json: valid documents parse to their values", "[json]") {
    SECTION("literals and numbers") {
        CHECK(parse("null").is_null());
        CHECK(parse(" true ").as_bool());
        CHECK_FALSE(parse("\t\r\nfalse\n").as_bool());
        CHECK(parse("0").as_int64() == 0);
        CHECK(parse("-0").as_double() == 0.0);
        CHECK(parse("12.5").as_double() == 12.5);
        CHECK(parse("-2.5e-3").as_double() == -2.5e-3);
        CHECK(parse("1E+2").as_double() == 100.0);
        CHECK(parse("1e3").as_int64() == 1000);
        CHECK(parse("2.0").as_int64() == 2);
        CHECK(parse("1e-400").as_double() == 0.0);  // underflow: the nearest double
        CHECK(parse("1.7976931348623157e308").as_double() == 1.7976931348623157e308);
    }
    SECTION("big integers are read from their digits") {
        CHECK(parse("9223372036854775807").as_int64() == INT64_MAX);
        CHECK(parse("-9223372036854775808").as_int64() == INT64_MIN);
        CHECK(parse("9007199254740993").as_int64() == 9007199254740993LL);  // 2^53 + 1: no double holds it
        CHECK(parse("-1000000000000000001").as_int64() == -1000000000000000001LL);
    }
    SECTION("strings and escapes") {
        CHECK(parse(R"("")").as_string().empty());
        CHECK(parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
        CHECK(parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xc3\xa9\xe2\x82\xac");
        CHECK(parse(R"("\u0000")").as_string() == std::string(1, '\0'));
        CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");                             // U+1F600 as a surrogate pair
        CHECK(parse(R"("\uDBFF\uDFFF")").as_string() == "\xf4\x8f\xbf\xbf");                             // U+10FFFF
        CHECK(parse("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"").as_string() == "caf\xc3\xa9 \xf0\x9f\x98\x80");  // raw UTF-8
    }
    SECTION("nested arrays and objects keep file order") {
        const json doc = parse(R"( {"z": [1, [2, {"k": null}], "s"], "a": {"b": {"c": true}}, "e": [], "o": {}} )");
        REQUIRE(doc.is_object());
        REQUIRE(doc.size() == 4);
        CHECK(doc.members()[0].first == "z");
        CHECK(doc.members()[1].first == "a");
        CHECK(doc.members()[3].first == "o");
        const json& z = doc.at("z");
        REQUIRE(z.size() == 3);
        CHECK(z[0].as_int64() == 1);
        CHECK(z[1][0].as_int64() == 2);
        CHECK(z[1][1].at("k").is_null());
        CHECK(z[2].as_string() == "s");
        CHECK(doc.at("a").at("b").at("c").as_bool());
        CHECK(doc.at("e").elements().empty());
        CHECK(doc.at("o").members().empty());
        CHECK(doc.find("missing") == nullptr);
        CHECK(doc.find("e") != nullptr);
    }
    SECTION("nesting up to the limit") {
        const std::string deep = std::string(json::max_depth, '[') + std::string(json::max_depth, ']');
        json value = parse(deep);
        for (int i = 1; i < json::max_depth; ++i) value = json(value[0]);
        CHECK(value.elements().empty());
    }
}

TEST_CASE("json: invalid documents are rejected saying why", "[json]") {
    struct bad {
        std::string text;
        std::string expected;
    };
    const std::vector<bad> cases = {
        {"[1,2,]", "trailing comma in array"},
        {R"({"a":1,})", "trailing comma in object"},
        {"01", "leading zero"},
        {"[-012]", "leading zero"},
        {"+1", "unexpected character '+'"},
        {"NaN", "unexpected character 'N'"},
        {"[Infinity]", "unexpected character 'I'"},
        {"-Infinity", "expected a digit"},
        {"1.", "after the decimal point"},
        {".5", "unexpected character '.'"},
        {"1e", "exponent"},
        {"1e+", "exponent"},
        {"1e400", "out of double range"},
        {"-1e400", "out of double range"},
        {R"("\ud800")", "lone high surrogate"},
        {R"("\ud800\u0041")", "lone high surrogate"},
        {R"("\ud800x")", "lone high surrogate"},
        {R"("\udc00")", "lone low surrogate"},
        {"\"a\x01z\"", "control character"},
        {"\"line\nbreak\"", "control character"},
        {"\"tab\there\"", "control character"},
        {R"("\x41")", "invalid escape '\\x'"},
        {R"("\u12G4")", "invalid hex digit"},
        {"\"\xff\"", "invalid UTF-8"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},          // overlong '/'
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},      // an encoded surrogate
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},  // past U+10FFFF
        {"\"\xe2\x82\"", "invalid UTF-8"},
        {R"({"a":1,"a":2})", "duplicate key \"a\""},
        {R"({"x":{"b":1,"c":2,"b":3}})", "duplicate key \"b\""},
        {"1 2", "unexpected text after the JSON value"},
        {"{} x", "unexpected text after the JSON value"},
        {"[1]]", "unexpected text after the JSON value"},
        {"// comment\n1", "unexpected character '/'"},
        {"[1 /* c */]", "expected ','"},
        {"'a'", "unexpected character '''"},
        {"tru", "invalid literal"},
        {"nul", "invalid literal"},
        {"{1:2}", "expected a string key"},
        {R"({"a" 1})", "expected ':'"},
        {"[1 2]", "expected ','"},
        {"", "unexpected end of input"},
        {"   ", "unexpected end of input"},
        {"\xef\xbb\xbf{}", "unexpected character '\\xef'"},  // RFC 8259 section 8.1: no byte order mark
    };
    for (const bad& c : cases) {
        INFO("document: " << c.text);
        const std::string message = error_of([&] { parse(c.text); });
        CHECK_THAT(message, Catch::Contains(c.expected));
        CHECK_THAT(message, Catch::StartsWith("test.json: byte "));
    }
    CHECK(error_of([] { json::parse("[1,]", "cfg.json"); }) == "cfg.json: byte 3: trailing comma in array");
}

TEST_CASE("json: hostile nesting and every truncation are errors, not crashes", "[json]") {
    CHECK_THAT(error_of([] { parse(std::string(100000, '[')); }), Catch::Contains("nesting deeper than 128"));
    CHECK_THAT(error_of([] { parse(std::string(100000, '{')); }), Catch::Contains("expected a string key"));
    std::string objects;
    for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
    CHECK_THAT(error_of([&] { parse(objects); }), Catch::Contains("nesting deeper than 128"));
    const std::string just_over = std::string(json::max_depth + 1, '[') + std::string(json::max_depth + 1, ']');
    CHECK_THAT(error_of([&] { parse(just_over); }), Catch::Contains("byte 128: nesting deeper than 128"));

    // Every proper prefix of a document that ends with its closing brace is incomplete.
    const std::string doc =
        R"({"name": "m\u00e9\ud83d\ude00", "n": [-1.25e+3, 0, 17, true, false, null], "o": {"k": "v\n"}, "big": 9223372036854775807})";
    REQUIRE(parse(doc).at("big").as_int64() == INT64_MAX);
    for (std::size_t length = 0; length < doc.size(); ++length) {
        INFO("prefix length " << length);
        CHECK_THROWS_AS(parse(doc.substr(0, length)), load_error);
    }
}

TEST_CASE("json: accessors name the key path on a wrong kind", "[json]") {
    const json doc = json::parse(R"({"a": [1, 1.5, "s", 9223372036854775808, -9223372036854775809, 1e300]})", "config.json");
    CHECK(error_of([&] { doc.at("b"); }) == "config.json: $: missing key \"b\"");
    CHECK(error_of([&] { doc.at("a")[2].as_int64(); }) == "config.json: $[\"a\"][2]: expected number, found string");
    CHECK(error_of([&] { doc.at("a")[0].as_string(); }) == "config.json: $[\"a\"][0]: expected string, found number");
    CHECK_THAT(error_of([&] { doc.at("a")[1].as_int64(); }), Catch::Contains("$[\"a\"][1]: expected an integer, found 1.5"));
    CHECK_THAT(error_of([&] { doc.at("a")[3].as_int64(); }), Catch::Contains("out of int64 range"));
    CHECK_THAT(error_of([&] { doc.at("a")[4].as_int64(); }), Catch::Contains("out of int64 range"));
    CHECK_THAT(error_of([&] { doc.at("a")[5].as_int64(); }), Catch::Contains("expected an integer, found 1e300"));
    CHECK(doc.at("a")[3].as_double() == 9223372036854775808.0);
    CHECK_THAT(error_of([&] { doc.at("a")[6]; }), Catch::Contains("index 6 out of range (array of 6)"));
    CHECK_THAT(error_of([&] { doc.at("a").at("x"); }), Catch::Contains("$[\"a\"]: expected object, found array"));
    CHECK_THAT(error_of([&] { doc.at("a").members(); }), Catch::Contains("expected object, found array"));
    CHECK_THAT(error_of([&] { doc.elements(); }), Catch::Contains("$: expected array, found object"));
    CHECK_THAT(error_of([&] { doc.at("a")[0].size(); }), Catch::Contains("expected an array or an object, found number"));
    CHECK_THAT(error_of([&] { doc.as_bool(); }), Catch::Contains("expected bool, found object"));
    CHECK_THAT(error_of([&] { doc.as_double(); }), Catch::Contains("expected number, found object"));
}
