#pragma once
// A small reader for NumPy .npy files: format version 1.0, little-endian float32 ('<f4'), float64
// ('<f8') or uint8 ('|u1', e.g. quantized bytes), C order; the values are widened to double.
// Anything else is refused with an npy_error naming the file and the problem (bad magic, version,
// dtype, Fortran order, shape, truncated data).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace npy {

struct npy_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct array {
    std::string descr;               // '<f4', '<f8' or '|u1'
    std::vector<std::size_t> shape;  // C order
    std::vector<double> data;        // values widened to double
    std::size_t size() const {
        std::size_t n = 1;
        for (auto s : shape) n *= s;
        return n;
    }
};

namespace detail {
[[noreturn]] inline void fail(const std::string& where, const std::string& what) { throw npy_error("npy: " + where + ": " + what); }

// The value text of 'key' in the header dict, up to the next top-level ',' or '}'.
inline std::string dict_value(const std::string& header, const std::string& key, const std::string& where) {
    const std::string k = "'" + key + "'";
    const std::size_t at = header.find(k);
    if (at == std::string::npos) fail(where, "header has no " + k + " entry");
    std::size_t i = header.find(':', at + k.size());
    if (i == std::string::npos) fail(where, "malformed header near " + k);
    ++i;
    while (i < header.size() && header[i] == ' ') ++i;
    int depth = 0;
    std::size_t j = i;
    for (; j < header.size(); ++j) {
        const char c = header[j];
        if (c == '(') ++depth;
        else if (c == ')') --depth;
        else if (depth == 0 && (c == ',' || c == '}')) break;
    }
    if (depth != 0 || j == header.size()) fail(where, "malformed header near " + k);
    std::string v = header.substr(i, j - i);
    while (!v.empty() && v.back() == ' ') v.pop_back();
    return v;
}

inline std::vector<std::size_t> parse_shape(const std::string& text, const std::string& where) {
    if (text.size() < 2 || text.front() != '(' || text.back() != ')') fail(where, "shape is not a tuple: " + text);
    std::vector<std::size_t> shape;
    std::size_t i = 1;
    while (i + 1 < text.size()) {
        while (i + 1 < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
        if (i + 1 >= text.size()) break;
        if (text[i] < '0' || text[i] > '9') fail(where, "shape has a non-integer entry: " + text);
        std::size_t v = 0;
        while (i + 1 < text.size() && text[i] >= '0' && text[i] <= '9') v = v * 10 + static_cast<std::size_t>(text[i++] - '0');
        shape.push_back(v);
        while (i + 1 < text.size() && text[i] == ' ') ++i;
        if (i + 1 < text.size() && text[i] != ',') fail(where, "shape has a non-integer entry: " + text);
    }
    return shape;
}
}  // namespace detail

// Parses an in-memory .npy image; `where` names it in error messages.
inline array parse(const std::string& bytes, const std::string& where = "<memory>") {
    using detail::fail;
    static const char magic[] = "\x93NUMPY";
    if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0) fail(where, "not a .npy file (bad magic)");
    const auto major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
    if (major != 1 || minor != 0)
        fail(where, "unsupported format version " + std::to_string(major) + "." + std::to_string(minor) + " (only 1.0)");
    const std::size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    if (bytes.size() < 10 + hlen) fail(where, "truncated header");
    const std::string header = bytes.substr(10, hlen);
    if (header.empty() || header.find('{') == std::string::npos) fail(where, "malformed header (no dict)");

    array a;
    std::string descr = detail::dict_value(header, "descr", where);
    if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"')) fail(where, "malformed descr " + descr);
    a.descr = descr.substr(1, descr.size() - 2);
    if (a.descr != "<f4" && a.descr != "<f8" && a.descr != "|u1")
        fail(where, "unsupported dtype '" + a.descr + "' (only '<f4', '<f8' and '|u1')");
    const std::string fortran = detail::dict_value(header, "fortran_order", where);
    if (fortran == "True") fail(where, "Fortran order is not supported (only C order)");
    if (fortran != "False") fail(where, "malformed fortran_order " + fortran);
    a.shape = detail::parse_shape(detail::dict_value(header, "shape", where), where);

    const std::size_t item = a.descr == "<f4" ? 4 : a.descr == "<f8" ? 8 : 1;
    const std::size_t n = a.size();
    const std::size_t offset = 10 + hlen;
    if (bytes.size() - offset != n * item)
        fail(where, "data size " + std::to_string(bytes.size() - offset) + " bytes does not match shape (" + std::to_string(n) + " × " +
                        std::to_string(item) + " bytes)");
    a.data.resize(n);
    const char* p = bytes.data() + offset;
    for (std::size_t i = 0; i < n; ++i) {
        if (item == 1) {
            a.data[i] = static_cast<unsigned char>(p[i]);
        } else if (item == 4) {
            float f;
            std::memcpy(&f, p + 4 * i, 4);
            a.data[i] = f;
        } else {
            std::memcpy(&a.data[i], p + 8 * i, 8);
        }
    }
    return a;
}

inline array load(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) detail::fail(path, "cannot open file");
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return parse(bytes, path);
}

// Builds a version-1.0 .npy image (used by the reader's own tests).
inline std::string make_image(const std::string& header_dict, const std::string& payload, unsigned char major = 1,
                              unsigned char minor = 0) {
    std::string header = header_dict;
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out("\x93NUMPY", 6);
    out += static_cast<char>(major);
    out += static_cast<char>(minor);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>((header.size() >> 8) & 0xff);
    return out + header + payload;
}

}  // namespace npy
