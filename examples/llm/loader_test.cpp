// Tests of the model runner's file loader: the strict JSON parser and the safetensors reader/writer.
// Files written by Python's own safetensors package (testdata/make_testdata.py) are read back to the
// values the script's formula gives; every malformed input is an llm::load_error saying what is wrong.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "json.hpp"
#include "safetensors.hpp"

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

// testdata/make_testdata.py's pattern(i, salt) = ((i * 37 + salt) % 101 - 50) / 8 and ints(i, salt).
std::int64_t pattern_int(std::int64_t i, std::int64_t salt) { return (i * 37 + salt) % 101 - 50; }
std::vector<float> pattern(std::int64_t n, std::int64_t salt) {
    std::vector<float> out;
    for (std::int64_t i = 0; i < n; ++i) out.push_back(static_cast<float>(static_cast<double>(pattern_int(i, salt)) / 8.0));
    return out;
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
        CHECK(parse("-7").is_integer_literal());
        CHECK_FALSE(parse("7.0").is_integer_literal());
        CHECK_FALSE(parse("7e0").is_integer_literal());
        CHECK_FALSE(parse("\"7\"").is_integer_literal());
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

namespace {

std::string testdata(const char* name) { return std::string(LLM_TESTDATA_DIR) + "/" + name; }

std::string metadata_value(const llm::safetensors& file, const std::string& key) {
    for (const auto& [k, v] : file.metadata())
        if (k == key) return v;
    FAIL("no metadata key " << key);
    return {};
}

}  // namespace

TEST_CASE("safetensors: files written by Python's safetensors read back to the script's values", "[safetensors]") {
    SECTION("numpy writer: F32, F16, I32, I64, a zero-element tensor, an F64 scalar, metadata") {
        const llm::safetensors file = llm::safetensors::open(testdata("numpy.safetensors"));
        CHECK(file.tensors().size() == 6);
        CHECK(file.metadata().size() == 2);
        CHECK(metadata_value(file, "format") == "np");
        CHECK(metadata_value(file, "note") == "attune \xc3\xa9\xe2\x82\xac");

        CHECK(file.floats("f32", {3, 5}) == pattern(15, 1));
        CHECK(file.at("f32").dtype == "F32");
        CHECK(file.floats("f16", {7}) == pattern(7, 2));
        CHECK(file.at("f16").dtype == "F16");

        std::vector<std::int64_t> i32, i64;
        for (std::int64_t i = 0; i < 6; ++i) i32.push_back(pattern_int(i, 3) * 40000000);
        for (std::int64_t i = 0; i < 4; ++i) i64.push_back(pattern_int(i, 4) * 1000000000000000LL + i);
        CHECK(file.ints("i32", {2, 3}) == i32);
        CHECK(file.ints("i64", {4}) == i64);

        CHECK(file.at("empty").shape == std::vector<std::int64_t>{0, 3});
        CHECK(file.at("empty").elements == 0);
        CHECK(file.floats("empty", {0, 3}).empty());

        const llm::tensor_entry& scalar = file.at("scalar");
        CHECK(scalar.shape.empty());
        CHECK(scalar.elements == 1);
        REQUIRE(scalar.end - scalar.begin == 8);
        double value = 0;
        std::memcpy(&value, file.bytes(scalar), sizeof value);  // a little-endian host, as CI's
        CHECK(value == static_cast<double>(pattern_int(0, 5)) / 8.0);

        CHECK(file.contains("f16"));
        CHECK_FALSE(file.contains("__metadata__"));
        CHECK_FALSE(file.contains("F16"));
    }
    SECTION("torch writer: BF16") {
        const llm::safetensors file = llm::safetensors::open(testdata("torch_bf16.safetensors"));
        CHECK(file.at("bf16").dtype == "BF16");
        CHECK(file.floats("bf16", {2, 9}) == pattern(18, 6));
        CHECK(file.floats("f32", {5}) == pattern(5, 7));
        CHECK(file.metadata().size() <= 1);  // torch's writer may add {"format": "pt"}
    }
    SECTION("queries that do not match the file throw naming the tensor") {
        const std::string path = testdata("numpy.safetensors");
        const llm::safetensors file = llm::safetensors::open(path);
        CHECK(error_of([&] { file.floats("f32", {5, 3}); }) == path + ": tensor f32 has shape [3, 5], expected [5, 3]");
        CHECK(error_of([&] { file.ints("i64", {2, 2}); }) == path + ": tensor i64 has shape [4], expected [2, 2]");
        CHECK(error_of([&] { file.floats("scalar"); }) == path + ": tensor \"scalar\" has dtype F64, expected F32, F16 or BF16");
        CHECK(error_of([&] { file.ints("f16"); }) == path + ": tensor \"f16\" has dtype F16, expected I32 or I64");
        CHECK(error_of([&] { file.at("missing.weight"); }) == path + ": no tensor \"missing.weight\"");
        CHECK(error_of([&] { file.floats("missing.weight", {1}); }) == path + ": no tensor \"missing.weight\"");
    }
    SECTION("a missing file, a directory") {
        CHECK(error_of([] { llm::safetensors::open(testdata("no_such_file.safetensors")); }) ==
              testdata("no_such_file.safetensors") + ": cannot open file");
        const std::string empty = "attune_llm_loader_test_empty.safetensors";
        { std::ofstream create(empty, std::ios::binary); }
        CHECK(error_of([&] { llm::safetensors::open(empty); }) == empty + ": file of 0 bytes, shorter than the 8-byte header length");
        std::remove(empty.c_str());
        CHECK_THAT(error_of([] { llm::safetensors::open(LLM_TESTDATA_DIR); }),
                   Catch::StartsWith(std::string(LLM_TESTDATA_DIR) + ": cannot"));
    }
}

namespace {

template <class T>
std::vector<unsigned char> little_endian(const std::vector<T>& values) {
    std::vector<unsigned char> out;
    for (const T value : values) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, &value, sizeof(T));
        for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<unsigned char>(bits >> (8 * i)));
    }
    return out;
}

// A file from a header written by hand and data_bytes bytes of data.
std::vector<unsigned char> file_of(const std::string& header, std::size_t data_bytes) {
    std::vector<unsigned char> out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(header.size()) >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    out.resize(out.size() + data_bytes, 0x5A);
    return out;
}

std::string header_of(const std::vector<unsigned char>& file) {
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(file[static_cast<std::size_t>(i)]) << (8 * i);
    return std::string(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(n));
}

// file with the first `from` of its header replaced by `to` (the header length rewritten).
std::vector<unsigned char> corrupt(const std::vector<unsigned char>& file, const std::string& from, const std::string& to) {
    std::string header = header_of(file);
    const std::size_t at = header.find(from);
    REQUIRE(at != std::string::npos);
    header.replace(at, from.size(), to);
    std::vector<unsigned char> out = file_of(header, 0);
    out.insert(out.end(), file.begin() + 8 + static_cast<std::ptrdiff_t>(header_of(file).size()), file.end());
    return out;
}

std::string load_error_of(const std::vector<unsigned char>& bytes) {
    return error_of([&] { llm::safetensors::from_bytes(bytes, "bad.safetensors"); });
}

}  // namespace

TEST_CASE("safetensors: write_safetensors round trip", "[safetensors]") {
    // F16 bit patterns worked out by hand (sign, 5-bit exponent biased by 15, 10-bit fraction).
    const std::vector<std::uint16_t> f16_bits = {0x3C00, 0xC100, 0x3000, 0x7BFF, 0x0001, 0x8000};
    const std::vector<float> f16_values = {1.0f, -2.5f, 0.125f, 65504.0f, std::ldexp(1.0f, -24), -0.0f};
    // BF16 is the high half of an F32: exact for values with at most 8 significant bits.
    const std::vector<float> bf16_values = pattern(9, 11);
    std::vector<std::uint16_t> bf16_bits;
    for (const float v : bf16_values) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, &v, sizeof bits);
        REQUIRE((bits & 0xFFFF) == 0);
        bf16_bits.push_back(static_cast<std::uint16_t>(bits >> 16));
    }
    const std::vector<float> f32_values = pattern(63, 3);
    const std::vector<std::int32_t> i32_values = {INT32_MIN, -1, 0, 7, INT32_MAX};
    const std::vector<std::int64_t> i64_values = {INT64_MIN, -(1LL << 53) - 1, 0, INT64_MAX};

    const std::vector<llm::tensor_to_write> tensors = {
        {"model.embed_tokens.weight", "F32", {7, 9}, little_endian(f32_values)},
        {"h.f16", "F16", {2, 3}, little_endian(f16_bits)},
        {"empty", "BF16", {4, 0, 2}, {}},
        {"h.bf16", "BF16", {9}, little_endian(bf16_bits)},
        {"ids", "I32", {5}, little_endian(i32_values)},
        {"big \"quoted\" \\ name\n", "I64", {1, 4}, little_endian(i64_values)},
        {"mask", "U8", {3}, {1, 0, 255}},
    };
    const std::vector<std::pair<std::string, std::string>> metadata = {{"format", "pt"}, {"escaped", "a\"b\\c\td"}};
    const std::vector<unsigned char> bytes = llm::write_safetensors(tensors, metadata);
    CHECK(header_of(bytes).size() % 8 == 0);
    CHECK((header_of(bytes).back() == '}' || header_of(bytes).back() == ' '));

    const llm::safetensors file = llm::safetensors::from_bytes(bytes);
    REQUIRE(file.tensors().size() == tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const llm::tensor_entry& entry = file.tensors()[i];
        INFO("tensor " << tensors[i].name);
        CHECK(entry.name == tensors[i].name);
        CHECK(entry.dtype == tensors[i].dtype);
        CHECK(entry.shape == tensors[i].shape);
        REQUIRE(entry.end - entry.begin == tensors[i].data.size());
        CHECK(std::equal(tensors[i].data.begin(), tensors[i].data.end(), file.bytes(entry)));
    }
    CHECK(file.metadata() == metadata);
    CHECK(file.floats("model.embed_tokens.weight", {7, 9}) == f32_values);
    const std::vector<float> f16_read = file.floats("h.f16", {2, 3});
    CHECK(f16_read == f16_values);
    CHECK(std::signbit(f16_read[5]));
    CHECK(file.floats("h.bf16", {9}) == bf16_values);
    CHECK(file.floats("empty", {4, 0, 2}).empty());
    CHECK(file.ints("ids", {5}) == std::vector<std::int64_t>(i32_values.begin(), i32_values.end()));
    CHECK(file.ints("big \"quoted\" \\ name\n", {1, 4}) == i64_values);

    SECTION("an empty file of tensors") {
        const llm::safetensors none = llm::safetensors::from_bytes(llm::write_safetensors({}));
        CHECK(none.tensors().empty());
        CHECK(none.metadata().empty());
    }
    SECTION("save_safetensors and open") {
        const std::string path = "attune_llm_loader_test_roundtrip.safetensors";
        llm::save_safetensors(path, tensors, metadata);
        const llm::safetensors saved = llm::safetensors::open(path);
        std::remove(path.c_str());
        CHECK(saved.floats("model.embed_tokens.weight", {7, 9}) == f32_values);
        CHECK(saved.source() == path);
    }
    SECTION("the writer validates its input") {
        CHECK_THAT(error_of([&] {
                       llm::write_safetensors({tensors[0], tensors[0]});
                   }),
                   Catch::Contains("tensor \"model.embed_tokens.weight\": duplicate name"));
        CHECK_THAT(error_of([] {
                       llm::write_safetensors({{"x", "F32", {2, 2}, std::vector<unsigned char>(15)}});
                   }),
                   Catch::Contains("tensor \"x\": data of 15 bytes, shape [2, 2] of F32 needs 16"));
        CHECK_THAT(error_of([] {
                       llm::write_safetensors({{"x", "F31", {1}, std::vector<unsigned char>(4)}});
                   }),
                   Catch::Contains("unknown dtype \"F31\""));
        CHECK_THAT(error_of([] { llm::write_safetensors({{"x", "F32", {-1}, {}}}); }), Catch::Contains("negative dimension"));
        CHECK_THAT(error_of([] { llm::write_safetensors({{"x", "I64", {1LL << 62, 4}, {}}}); }), Catch::Contains("overflows"));
        CHECK_THAT(error_of([] { llm::write_safetensors({{"__metadata__", "U8", {0}, {}}}); }), Catch::Contains("reserved"));
        CHECK_THAT(error_of([] { llm::write_safetensors({}, {{"k", "1"}, {"k", "2"}}); }), Catch::Contains("duplicate metadata key \"k\""));
        CHECK_THAT(error_of([] { llm::save_safetensors("/nonexistent-dir/x.safetensors", {}); }),
                   Catch::Contains("/nonexistent-dir/x.safetensors: cannot open file for writing"));
    }
}

TEST_CASE("safetensors: hostile files are rejected naming the tensor and field", "[safetensors][hostile]") {
    // A valid file: a F32 [2, 3] (bytes 0..24) and b I64 [2] (bytes 24..40).
    const std::vector<unsigned char> good = llm::write_safetensors(
        {{"a", "F32", {2, 3}, std::vector<unsigned char>(24, 1)}, {"b", "I64", {2}, std::vector<unsigned char>(16, 2)}});
    REQUIRE(llm::safetensors::from_bytes(good).tensors().size() == 2);
    REQUIRE(header_of(corrupt(good, "\"a\"", "\"a\"")) == header_of(good));
    REQUIRE_NOTHROW(llm::safetensors::from_bytes(corrupt(good, "{", "  \n{")));

    struct bad {
        const char* what;
        std::vector<unsigned char> bytes;
        std::string expected;
    };
    std::vector<unsigned char> huge_length = good;
    huge_length[7] = 0x80;  // N = 2^63 + ...
    std::vector<unsigned char> long_length = good;
    long_length[0] = static_cast<unsigned char>(good.size() - 8 + 1);
    long_length[1] = 0;
    std::vector<unsigned char> short_length = good;
    short_length[0] = static_cast<unsigned char>(short_length[0] - 8);
    std::vector<unsigned char> trailing = good;
    trailing.push_back(0);
    std::vector<unsigned char> bad_utf8 = corrupt(good, "\"a\"", "\"\xc3\x28\"");

    const std::vector<bad> cases = {
        {"header length over the limit", huge_length, "larger than the limit of 100000000"},
        {"header length past the file", long_length, "larger than the " + std::to_string(good.size() - 8) + " bytes after it"},
        {"header length cutting the JSON", short_length, "bad.safetensors (header): byte"},
        {"header not an object", file_of("[]", 0), "header is a JSON array, expected an object"},
        {"empty header", file_of("", 0), "unexpected end of input"},
        {"header of spaces", file_of("        ", 0), "unexpected end of input"},
        {"invalid UTF-8 in a name", bad_utf8, "invalid UTF-8"},
        {"unknown dtype", corrupt(good, "\"F32\"", "\"F33\""), "bad.safetensors: tensor \"a\": unknown dtype \"F33\""},
        {"lower-case dtype", corrupt(good, "\"I64\"", "\"i64\""), "tensor \"b\": unknown dtype \"i64\""},
        {"dtype not a string", corrupt(good, "\"F32\"", "32"), "tensor \"a\": field \"dtype\" is a number, expected a string"},
        {"missing dtype", corrupt(good, "\"dtype\":\"F32\",", ""), "tensor \"a\": missing field \"dtype\""},
        {"missing shape", corrupt(good, "\"shape\":[2],", ""), "tensor \"b\": missing field \"shape\""},
        {"missing offsets", corrupt(good, ",\"data_offsets\":[0,24]", ""), "tensor \"a\": missing field \"data_offsets\""},
        {"extra field", corrupt(good, "\"dtype\"", "\"extra\":1,\"dtype\""), "tensor \"a\": unknown field \"extra\""},
        {"entry not an object", corrupt(good, "{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]}", "[24,40]"),
         "tensor \"b\" is an array, expected an object"},
        {"shape not an array", corrupt(good, "[2,3]", "6"), "tensor \"a\": field \"shape\" is a number, expected an array"},
        {"negative dimension", corrupt(good, "[2,3]", "[-2,-3]"), "tensor \"a\": field \"shape\" has a negative dimension -2"},
        {"fractional dimension", corrupt(good, "[2,3]", "[2.5,3]"),
         "tensor \"a\": field \"shape\" has a non-integer or out-of-range dimension"},
        {"dimension written 2.0", corrupt(good, "[2,3]", "[2.0,3]"),
         "tensor \"a\": field \"shape\" has a non-integer or out-of-range dimension"},
        {"dimension written 3e0", corrupt(good, "[2,3]", "[2,3e0]"), "non-integer or out-of-range dimension"},
        {"offset written 24.0", corrupt(good, "[0,24]", "[0,24.0]"), "tensor \"a\": field \"data_offsets\" is not two integers"},
        {"dimension past int64", corrupt(good, "[2,3]", "[9223372036854775808]"), "non-integer or out-of-range dimension"},
        {"dimension a string", corrupt(good, "[2,3]", "[\"2\",3]"), "field \"shape\" has a string, expected integers"},
        {"element count overflowing int64", corrupt(good, "[2,3]", "[4294967296,4294967296]"),
         "tensor \"a\": shape [4294967296, 4294967296] of F32 overflows"},
        {"elements fit, bytes overflow", corrupt(good, "[2]", "[2305843009213693952,2]"),
         "tensor \"b\": shape [2305843009213693952, 2] of I64 overflows"},
        {"overflow before a zero dimension", corrupt(good, "[2,3]", "[4294967296,4294967296,0]"), "overflows"},
        {"sub-byte tensor not filling bytes", corrupt(corrupt(good, "\"F32\"", "\"F4\""), "[2,3]", "[3]"),
         "overflows (or is not whole bytes)"},
        {"offsets not an array", corrupt(good, "[0,24]", "0"), "tensor \"a\": field \"data_offsets\" is not two integers"},
        {"one offset", corrupt(good, "[0,24]", "[0]"), "tensor \"a\": field \"data_offsets\" is not two integers"},
        {"three offsets", corrupt(good, "[0,24]", "[0,24,24]"), "field \"data_offsets\" is not two integers"},
        {"offset a string", corrupt(good, "[0,24]", "[\"0\",24]"), "field \"data_offsets\" is not two integers"},
        {"fractional offset", corrupt(good, "[0,24]", "[0,24.5]"), "field \"data_offsets\" is not two integers"},
        {"offset past int64", corrupt(good, "[0,24]", "[0,18446744073709551616]"), "field \"data_offsets\" is not two integers"},
        {"negative offset", corrupt(good, "[0,24]", "[-24,0]"), "tensor \"a\": field \"data_offsets\" has a negative offset"},
        {"begin after end", corrupt(good, "[0,24]", "[24,0]"), "tensor \"a\": field \"data_offsets\" begins at 24 after its end 0"},
        {"end past the data", corrupt(good, "[24,40]", "[24,48]"),
         "tensor \"b\": field \"data_offsets\" ends at 48, past the data section's 40 bytes"},
        {"span not the shape's size", corrupt(good, "[2,3]", "[2,2]"),
         "tensor \"a\": field \"data_offsets\" spans 24 bytes, shape [2, 2] of F32 needs 16"},
        {"overlapping tensors", corrupt(good, "[24,40]", "[16,32]"), "tensor \"b\" (bytes 16 to 32) overlaps tensor \"a\" (ending at 24)"},
        {"the same bytes twice",
         corrupt(good, "\"I64\",\"shape\":[2],\"data_offsets\":[24,40]", "\"I64\",\"shape\":[3],\"data_offsets\":[0,24]"), "overlaps"},
        {"a hole", corrupt(corrupt(good, "[2,3]", "[2,2]"), "[0,24]", "[0,16]"),
         "hole in the data section: bytes 16 to 24 belong to no tensor (before \"b\")"},
        {"a hole at the start", corrupt(corrupt(good, "[2,3]", "[1,2]"), "[0,24]", "[16,24]"), "hole in the data section: bytes 0 to 16"},
        {"trailing bytes", trailing, "data section of 41 bytes, tensors cover only 40"},
        {"duplicate tensor name", corrupt(good, "\"b\"", "\"a\""), "bad.safetensors (header): byte"},
        {"metadata not an object", corrupt(good, "{\"a\"", "{\"__metadata__\":[],\"a\""),
         "\"__metadata__\" is an array, expected an object"},
        {"metadata value not a string", corrupt(good, "{\"a\"", "{\"__metadata__\":{\"k\":1},\"a\""),
         "\"__metadata__\" field \"k\" is a number, expected a string"},
        {"metadata twice", corrupt(good, "{\"a\"", "{\"__metadata__\":{},\"__metadata__\":{},\"a\""), "duplicate key \"__metadata__\""},
    };
    for (const bad& c : cases) {
        INFO(c.what);
        const std::string message = load_error_of(c.bytes);
        CHECK_THAT(message, Catch::Contains(c.expected));
        CHECK_THAT(message, Catch::StartsWith("bad.safetensors"));
    }
    CHECK_THAT(load_error_of(corrupt(good, "\"b\"", "\"a\"")), Catch::Contains("duplicate key \"a\""));

    SECTION("every truncation of a valid file") {
        for (std::size_t length = 0; length < good.size(); ++length) {
            INFO("length " << length);
            const std::string message =
                load_error_of(std::vector<unsigned char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)));
            if (length < 8) CHECK_THAT(message, Catch::Contains("shorter than the 8-byte header length"));
        }
    }
    SECTION("zero-element tensors are valid anywhere in the data") {
        const std::vector<unsigned char> with_empty = llm::write_safetensors({{"e0", "F32", {0}, {}},
                                                                              {"a", "U8", {2}, {1, 2}},
                                                                              {"e1", "I64", {3, 0}, {}},
                                                                              {"b", "U8", {1}, {3}},
                                                                              {"e2", "BF16", {0, 5}, {}}});
        const llm::safetensors file = llm::safetensors::from_bytes(with_empty);
        CHECK(file.at("e1").begin == 2);
        CHECK(file.at("e2").begin == 3);
        CHECK(file.at("e2").end == 3);
    }
}
