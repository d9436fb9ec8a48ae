// A small strict JSON parser (RFC 8259) for the model runner's config.json and safetensors headers.
// Strict because both files come from outside: anything RFC 8259 does not allow is an error, and a
// duplicated key is one too (a tensor named twice in a safetensors header would be ambiguous).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace llm {

/// Any failure to read a model file (config.json, safetensors): the message names the source and
/// where (byte offset, key path or tensor) and what is wrong.
class load_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/**
 * @brief A parsed JSON value: null, bool, number, string, array or object (members in file order).
 *
 * Every value remembers its source and key path (e.g. `config.json: $["rope_scaling"]["factor"]`)
 * so that an accessor called on the wrong kind throws an llm::load_error that says where.
 */
class json {
public:
    /// The six JSON kinds.
    enum class kind { null, boolean, number, string, array, object };

    /// Deepest nesting of arrays and objects accepted: hostile input cannot overflow the stack.
    static constexpr int max_depth = 128;

    /**
     * @brief Parses one JSON text (RFC 8259), surrounding whitespace allowed, nothing else after it.
     * @param text the document, UTF-8.
     * @param source a name for messages (the file's path).
     * @throws llm::load_error naming the source, the byte offset and what is wrong.
     */
    static json parse(std::string_view text, const std::string& source);

    /// This value's kind.
    kind type() const { return kind_; }
    /// True for `null`.
    bool is_null() const { return kind_ == kind::null; }
    /// True for `true` / `false`.
    bool is_bool() const { return kind_ == kind::boolean; }
    /// True for a number.
    bool is_number() const { return kind_ == kind::number; }
    /// True for a number written as an integer literal: no fraction, no exponent (`2`, not `2.0` or `2e0`).
    bool is_integer_literal() const { return kind_ == kind::number && text_.find_first_of(".eE") == std::string::npos; }
    /// True for a string.
    bool is_string() const { return kind_ == kind::string; }
    /// True for an array.
    bool is_array() const { return kind_ == kind::array; }
    /// True for an object.
    bool is_object() const { return kind_ == kind::object; }

    /// Where this value is: `source: $["key"][index]...`.
    const std::string& where() const { return where_; }

    /// The member named @p key of an object; throws naming the key when it is missing.
    const json& at(std::string_view key) const {
        if (const json* found = find(key)) return *found;
        throw load_error(where_ + ": missing key \"" + std::string(key) + "\"");
    }
    /// The member named @p key of an object, nullptr when missing (throws when this is not an object).
    const json* find(std::string_view key) const {
        expect(kind::object);
        for (const auto& member : members_)
            if (member.first == key) return &member.second;
        return nullptr;
    }
    /// Element @p index of an array; throws when out of range.
    const json& operator[](std::size_t index) const {
        expect(kind::array);
        if (index >= elements_.size())
            throw load_error(where_ + ": index " + std::to_string(index) + " out of range (array of " + std::to_string(elements_.size()) +
                             ")");
        return elements_[index];
    }
    /// Number of elements of an array or members of an object.
    std::size_t size() const {
        if (kind_ == kind::array) return elements_.size();
        if (kind_ == kind::object) return members_.size();
        throw load_error(where_ + ": expected an array or an object, found " + kind_name(kind_));
    }
    /// The value of `true` / `false`.
    bool as_bool() const {
        expect(kind::boolean);
        return bool_;
    }
    /// A number's value as the nearest double.
    double as_double() const {
        expect(kind::number);
        return number_;
    }
    /**
     * @brief A number that is an integer in [-2^63, 2^63 - 1].
     *
     * An integer literal (no fraction, no exponent) is read from its digits, never through a double,
     * so every int64 is exact. A literal with a fraction or exponent (`1e3`, `2.0`) is accepted when
     * its value is an integer of magnitude at most 2^53 (where the double is exact); `1.5`, `1e300`
     * and integers beyond int64 throw.
     */
    std::int64_t as_int64() const;
    /// A string's value, decoded to UTF-8.
    const std::string& as_string() const {
        expect(kind::string);
        return text_;
    }
    /// An object's members in file order.
    const std::vector<std::pair<std::string, json>>& members() const {
        expect(kind::object);
        return members_;
    }
    /// An array's elements.
    const std::vector<json>& elements() const {
        expect(kind::array);
        return elements_;
    }

    /// "null", "bool", "number", "string", "array" or "object".
    static const char* kind_name(kind k) {
        switch (k) {
            case kind::null:
                return "null";
            case kind::boolean:
                return "bool";
            case kind::number:
                return "number";
            case kind::string:
                return "string";
            case kind::array:
                return "array";
            case kind::object:
                return "object";
        }
        return "?";
    }

private:
    class parser;

    void expect(kind k) const {
        if (kind_ != k) throw load_error(where_ + ": expected " + kind_name(k) + ", found " + kind_name(kind_));
    }

    kind kind_ = kind::null;
    bool bool_ = false;
    double number_ = 0.0;
    std::string text_;  // a string's value, or a number's literal (as_int64 reads integers from it)
    std::vector<json> elements_;
    std::vector<std::pair<std::string, json>> members_;
    std::string where_;
};

/// Recursive-descent parser over RFC 8259's grammar; depth-limited.
class json::parser {
public:
    parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

    json document() {
        skip_whitespace();
        json value = parse_value(source_ + ": $", 0);
        skip_whitespace();
        if (pos_ != text_.size()) fail("unexpected text after the JSON value");
        return value;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
    [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
        throw load_error(source_ + ": byte " + std::to_string(offset) + ": " + what);
    }

    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return text_[pos_]; }

    void skip_whitespace() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
    }

    void expect_char(char c, const char* context) {
        if (at_end()) fail(std::string("unexpected end of input, expected '") + c + "' " + context);
        if (peek() != c) fail(std::string("expected '") + c + "' " + context);
        ++pos_;
    }

    void expect_literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) fail("invalid literal (expected \"" + std::string(word) + "\")");
        pos_ += word.size();
    }

    json parse_value(std::string where, int depth) {
        if (at_end()) fail("unexpected end of input, expected a value");
        json value;
        value.where_ = std::move(where);
        const char c = peek();
        if (c == '{' || c == '[') {
            if (depth >= max_depth) fail("nesting deeper than " + std::to_string(max_depth));
            if (c == '{') parse_object(value, depth + 1);
            else parse_array(value, depth + 1);
        } else if (c == '"') {
            value.kind_ = kind::string;
            value.text_ = parse_string();
        } else if (c == 't') {
            expect_literal("true");
            value.kind_ = kind::boolean;
            value.bool_ = true;
        } else if (c == 'f') {
            expect_literal("false");
            value.kind_ = kind::boolean;
        } else if (c == 'n') {
            expect_literal("null");
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            parse_number(value);
        } else {
            fail(std::string("unexpected character '") + printable(c) + "', expected a value");
        }
        return value;
    }

    void parse_object(json& value, int depth) {
        value.kind_ = kind::object;
        ++pos_;  // '{'
        skip_whitespace();
        if (!at_end() && peek() == '}') {
            ++pos_;
            return;
        }
        std::unordered_set<std::string> seen;
        for (;;) {
            skip_whitespace();
            if (at_end()) fail("unexpected end of input, expected a key");
            if (peek() != '"') fail(peek() == '}' ? "trailing comma in object" : "expected a string key");
            const std::size_t key_offset = pos_;
            std::string key = parse_string();
            if (!seen.insert(key).second) fail_at(key_offset, "duplicate key \"" + key + "\"");
            skip_whitespace();
            expect_char(':', "after a key");
            skip_whitespace();
            json member = parse_value(value.where_ + "[\"" + key + "\"]", depth);
            value.members_.emplace_back(std::move(key), std::move(member));
            skip_whitespace();
            if (at_end()) fail("unexpected end of input, expected ',' or '}'");
            if (peek() == '}') {
                ++pos_;
                return;
            }
            expect_char(',', "or '}' in object");
        }
    }

    void parse_array(json& value, int depth) {
        value.kind_ = kind::array;
        ++pos_;  // '['
        skip_whitespace();
        if (!at_end() && peek() == ']') {
            ++pos_;
            return;
        }
        for (;;) {
            skip_whitespace();
            if (!at_end() && peek() == ']') fail("trailing comma in array");
            value.elements_.push_back(parse_value(value.where_ + "[" + std::to_string(value.elements_.size()) + "]", depth));
            skip_whitespace();
            if (at_end()) fail("unexpected end of input, expected ',' or ']'");
            if (peek() == ']') {
                ++pos_;
                return;
            }
            expect_char(',', "or ']' in array");
        }
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    // RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    void parse_number(json& value) {
        const std::size_t start = pos_;
        if (peek() == '-') ++pos_;
        if (at_end() || !is_digit(peek())) fail("expected a digit in number");
        if (peek() == '0') {
            ++pos_;
            if (!at_end() && is_digit(peek())) fail("leading zero in number");
        } else {
            while (!at_end() && is_digit(peek())) ++pos_;
        }
        if (!at_end() && peek() == '.') {
            ++pos_;
            if (at_end() || !is_digit(peek())) fail("expected a digit after the decimal point");
            while (!at_end() && is_digit(peek())) ++pos_;
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            ++pos_;
            if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
            if (at_end() || !is_digit(peek())) fail("expected a digit in the exponent");
            while (!at_end() && is_digit(peek())) ++pos_;
        }
        value.kind_ = kind::number;
        value.text_ = std::string(text_.substr(start, pos_ - start));
        // strtod in the "C" locale (never changed by this program); underflow rounds to 0 or a
        // subnormal, which is the nearest double, but overflow has no double to give.
        value.number_ = std::strtod(value.text_.c_str(), nullptr);
        if (std::isinf(value.number_)) fail_at(start, "number out of double range");
    }

    static unsigned hex_value(char c) {
        if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
        return 16;
    }

    unsigned parse_hex4() {
        if (text_.size() - pos_ < 4) fail("unexpected end of input in \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            const unsigned digit = hex_value(text_[pos_]);
            if (digit == 16) fail("invalid hex digit in \\u escape");
            code = code * 16 + digit;
            ++pos_;
        }
        return code;
    }

    static void append_utf8(std::string& out, unsigned code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    // One well-formed UTF-8 sequence (Unicode 15, table 3-7: no overlong forms, no surrogates, at
    // most U+10FFFF) copied to out; RFC 8259 section 8.1 requires UTF-8 text.
    void copy_utf8_sequence(std::string& out) {
        const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text_[pos_ + i]); };
        const unsigned char lead = byte(0);
        std::size_t length = 0;
        unsigned char low = 0x80, high = 0xBF;  // the second byte's range
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        } else {
            fail("invalid UTF-8 byte in string");
        }
        if (text_.size() - pos_ < length) fail("truncated UTF-8 sequence in string");
        if (byte(1) < low || byte(1) > high) fail("invalid UTF-8 sequence in string");
        for (std::size_t i = 2; i < length; ++i)
            if (byte(i) < 0x80 || byte(i) > 0xBF) fail("invalid UTF-8 sequence in string");
        out.append(text_.substr(pos_, length));
        pos_ += length;
    }

    std::string parse_string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (at_end()) fail("unexpected end of input in string");
            const char c = peek();
            const auto u = static_cast<unsigned char>(c);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (u < 0x20) fail("control character in string (must be escaped)");
            if (u >= 0x80) {
                copy_utf8_sequence(out);
                continue;
            }
            if (c != '\\') {
                out += c;
                ++pos_;
                continue;
            }
            const std::size_t escape_offset = pos_;
            ++pos_;
            if (at_end()) fail("unexpected end of input in escape");
            const char e = peek();
            ++pos_;
            switch (e) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    unsigned code = parse_hex4();
                    if (code >= 0xDC00 && code <= 0xDFFF) fail_at(escape_offset, "lone low surrogate in \\u escape");
                    if (code >= 0xD800 && code <= 0xDBFF) {
                        // RFC 8259 section 7: a character outside the BMP is a UTF-16 surrogate pair.
                        if (text_.substr(pos_, 2) != "\\u") fail_at(escape_offset, "lone high surrogate in \\u escape");
                        pos_ += 2;
                        const unsigned low = parse_hex4();
                        if (low < 0xDC00 || low > 0xDFFF) fail_at(escape_offset, "lone high surrogate in \\u escape");
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(out, code);
                    break;
                }
                default:
                    fail_at(escape_offset, std::string("invalid escape '\\") + printable(e) + "'");
            }
        }
    }

    static std::string printable(char c) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7F) return std::string(1, c);
        static const char digits[] = "0123456789abcdef";
        return std::string("\\x") + digits[u >> 4] + digits[u & 15];
    }

    std::string_view text_;
    const std::string& source_;
    std::size_t pos_ = 0;
};

inline json json::parse(std::string_view text, const std::string& source) { return parser(text, source).document(); }

inline std::int64_t json::as_int64() const {
    expect(kind::number);
    if (is_integer_literal()) {
        // An integer literal: its digits, accumulated as a negative number (|INT64_MIN| > INT64_MAX).
        const bool negative = text_[0] == '-';
        std::int64_t value = 0;
        for (std::size_t i = negative ? 1 : 0; i < text_.size(); ++i) {
            const int digit = text_[i] - '0';
            if (value < (INT64_MIN + digit) / 10) throw load_error(where_ + ": integer " + text_ + " out of int64 range");
            value = value * 10 - digit;
        }
        if (!negative) {
            if (value == INT64_MIN) throw load_error(where_ + ": integer " + text_ + " out of int64 range");
            value = -value;
        }
        return value;
    }
    // 2^53: beyond it a double's integer is not necessarily the literal's value.
    constexpr double exact_limit = 9007199254740992.0;
    if (number_ != std::floor(number_) || std::fabs(number_) > exact_limit)
        throw load_error(where_ + ": expected an integer, found " + text_);
    return static_cast<std::int64_t>(number_);
}

}  // namespace llm
