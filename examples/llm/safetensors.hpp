// A safetensors reader (and a small writer for tests and tools), validating the whole file before use.
// Format (huggingface/safetensors, safetensors/src/tensor.rs): an 8-byte little-endian u64 N, N bytes
// of a UTF-8 JSON object header (right-padded with spaces), then the data section. Every tensor is
// `{"dtype", "shape", "data_offsets": [begin, end]}` with offsets relative to the data section; the
// optional "__metadata__" is an object of strings.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <system_error>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json.hpp"

namespace llm {

/// One tensor of a safetensors file: its name, dtype, shape and bytes [begin, end) in the data section.
struct tensor_entry {
    std::string name;                 ///< the header's key
    std::string dtype;                ///< "F32", "BF16", "I64", ... as written in the file
    std::vector<std::int64_t> shape;  ///< dimensions, each >= 0
    std::uint64_t begin = 0;          ///< first byte, relative to the data section
    std::uint64_t end = 0;            ///< one past the last byte
    std::int64_t elements = 0;        ///< product of shape (1 for a scalar)
};

/// A tensor for write_safetensors: name, dtype, shape and its little-endian bytes.
struct tensor_to_write {
    std::string name;                 ///< unique, not "__metadata__"
    std::string dtype;                ///< one of safetensors' dtype names
    std::vector<std::int64_t> shape;  ///< dimensions, each >= 0
    std::vector<unsigned char> data;  ///< exactly elements x dtype size bytes
};

/// Bits per element of a safetensors dtype name, 0 when the name is not one (safetensors' Dtype enum,
/// including the sub-byte F4 and F6 types, whose tensors must fill whole bytes).
inline std::size_t safetensors_dtype_bits(const std::string& dtype) {
    static const std::unordered_map<std::string, std::size_t> bits = {
        {"BOOL", 8},    {"F4", 4},          {"F6_E2M3", 6},     {"F6_E3M2", 6}, {"U8", 8},   {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8},
        {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16}, {"F16", 16}, {"BF16", 16},   {"I32", 32},
        {"U32", 32},    {"F32", 32},        {"C64", 64},        {"F64", 64},    {"I64", 64}, {"U64", 64}};
    const auto found = bits.find(dtype);
    return found == bits.end() ? 0 : found->second;
}

namespace detail {

/// Product of the dimensions and its size in bytes, each multiplication checked (no overflow UB).
/// Returns false on overflow or when the elements do not fill whole bytes.
inline bool tensor_byte_size(const std::vector<std::int64_t>& shape, std::size_t bits, std::int64_t& elements, std::uint64_t& bytes) {
    std::int64_t count = 1;
    for (const std::int64_t dim : shape) {
        if (dim != 0 && count > INT64_MAX / dim) return false;
        count *= dim;
    }
    const auto unsigned_count = static_cast<std::uint64_t>(count);
    if (unsigned_count != 0 && bits > UINT64_MAX / unsigned_count) return false;
    const std::uint64_t total_bits = unsigned_count * bits;
    if (total_bits % 8 != 0) return false;
    elements = count;
    bytes = total_bits / 8;
    return true;
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
}

// Little-endian loads from an unaligned byte pointer: bytes assembled arithmetically, so neither
// alignment nor the host's byte order matters.
inline std::uint16_t load_le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
inline std::uint32_t load_le32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) | (static_cast<std::uint32_t>(p[2]) << 16) |
           (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t load_le64(const unsigned char* p) {
    return static_cast<std::uint64_t>(load_le32(p)) | (static_cast<std::uint64_t>(load_le32(p + 4)) << 32);
}

inline std::string json_quote(const std::string& text) {
    static const char digits[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += "\\u00";
            out += digits[u >> 4];
            out += digits[u & 15];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace detail

/**
 * @brief A safetensors file held in memory, its header fully validated.
 *
 * open / from_bytes check everything the official loader checks (header size, JSON, dtypes, shapes,
 * offsets, and a data section covered by the tensors without holes or overlaps) plus duplicate keys
 * and unknown fields; any failure is an llm::load_error naming the source, the tensor and the field.
 */
class safetensors {
public:
    /// Largest header accepted (safetensors' MAX_HEADER_SIZE).
    static constexpr std::uint64_t max_header_bytes = 100000000;

    /// Reads and validates the file at @p path (whole file into memory).
    static safetensors open(const std::string& path) {
        std::ifstream file(path, std::ios::binary | std::ios::ate);
        if (!file) throw load_error(path + ": cannot open file");
        // A directory opens on Linux and reports a meaningless size: regular files only.
        std::error_code ignored;
        if (!std::filesystem::is_regular_file(path, ignored)) throw load_error(path + ": cannot read file (not a regular file)");
        // One read of the whole size (a model is gigabytes: no per-byte stream iteration).
        const std::streamoff size = file.tellg();
        if (size < 0 || !file.seekg(0)) throw load_error(path + ": cannot read file");
        std::vector<unsigned char> bytes;
        try {
            bytes.resize(static_cast<std::size_t>(size));
        } catch (const std::bad_alloc&) {
            throw load_error(path + ": cannot hold its " + std::to_string(size) + " bytes in memory");
        }
        if (!file.read(reinterpret_cast<char*>(bytes.data()), size) || file.gcount() != size) throw load_error(path + ": cannot read file");
        return from_bytes(std::move(bytes), path);
    }

    /// Validates @p bytes as a safetensors file; @p source names it in messages.
    static safetensors from_bytes(std::vector<unsigned char> bytes, std::string source = "<memory>") {
        safetensors file;
        file.source_ = std::move(source);
        file.bytes_ = std::move(bytes);
        file.validate();
        return file;
    }

    /// The tensors in header order.
    const std::vector<tensor_entry>& tensors() const { return tensors_; }
    /// True when a tensor is named @p name.
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    /// The tensor named @p name; throws naming it and the source when missing.
    const tensor_entry& at(const std::string& name) const {
        const auto found = index_.find(name);
        if (found == index_.end()) throw load_error(source_ + ": no tensor \"" + name + "\"");
        return tensors_[found->second];
    }
    /// "__metadata__"'s string pairs in header order (empty when absent).
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
    /// The file's name as given to open / from_bytes.
    const std::string& source() const { return source_; }

    /// The first byte of @p tensor's data (not aligned in general; read it with memcpy or byte loads).
    const unsigned char* bytes(const tensor_entry& tensor) const { return bytes_.data() + data_start_ + tensor.begin; }

    /// Tensor @p name as floats, converting F32, F16 and BF16; any other dtype throws.
    std::vector<float> floats(const std::string& name) const {
        const tensor_entry& tensor = at(name);
        const unsigned char* p = bytes(tensor);
        const auto count = static_cast<std::size_t>(tensor.elements);
        std::vector<float> out(count);
        if (tensor.dtype == "F32") {
            for (std::size_t i = 0; i < count; ++i) {
                const std::uint32_t bits = detail::load_le32(p + 4 * i);
                std::memcpy(&out[i], &bits, sizeof(float));
            }
        } else if (tensor.dtype == "F16") {
            for (std::size_t i = 0; i < count; ++i)
                out[i] = static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(detail::load_le16(p + 2 * i)));
        } else if (tensor.dtype == "BF16") {
            for (std::size_t i = 0; i < count; ++i)
                out[i] = static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(detail::load_le16(p + 2 * i)));
        } else {
            throw load_error(source_ + ": tensor \"" + name + "\" has dtype " + tensor.dtype + ", expected F32, F16 or BF16");
        }
        return out;
    }
    /// floats(name) after checking the tensor's shape is @p expected_shape.
    std::vector<float> floats(const std::string& name, const std::vector<std::int64_t>& expected_shape) const {
        check_shape(name, expected_shape);
        return floats(name);
    }

    /// Tensor @p name as int64, converting I32 and I64; any other dtype throws.
    std::vector<std::int64_t> ints(const std::string& name) const {
        const tensor_entry& tensor = at(name);
        const unsigned char* p = bytes(tensor);
        const auto count = static_cast<std::size_t>(tensor.elements);
        std::vector<std::int64_t> out(count);
        if (tensor.dtype == "I32") {
            for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::int32_t>(detail::load_le32(p + 4 * i));
        } else if (tensor.dtype == "I64") {
            for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::int64_t>(detail::load_le64(p + 8 * i));
        } else {
            throw load_error(source_ + ": tensor \"" + name + "\" has dtype " + tensor.dtype + ", expected I32 or I64");
        }
        return out;
    }
    /// ints(name) after checking the tensor's shape is @p expected_shape.
    std::vector<std::int64_t> ints(const std::string& name, const std::vector<std::int64_t>& expected_shape) const {
        check_shape(name, expected_shape);
        return ints(name);
    }

private:
    safetensors() = default;

    void check_shape(const std::string& name, const std::vector<std::int64_t>& expected) const {
        const tensor_entry& tensor = at(name);
        if (tensor.shape != expected)
            throw load_error(source_ + ": tensor " + name + " has shape " + detail::shape_text(tensor.shape) + ", expected " +
                             detail::shape_text(expected));
    }

    [[noreturn]] void fail(const std::string& what) const { throw load_error(source_ + ": " + what); }

    static std::string a_kind(json::kind k) {
        return std::string(k == json::kind::array || k == json::kind::object ? "an " : "a ") + json::kind_name(k);
    }

    void validate() {
        if (bytes_.size() < 8) fail("file of " + std::to_string(bytes_.size()) + " bytes, shorter than the 8-byte header length");
        const std::uint64_t header_bytes = detail::load_le64(bytes_.data());
        if (header_bytes > max_header_bytes)
            fail("header length " + std::to_string(header_bytes) + " larger than the limit of " + std::to_string(max_header_bytes));
        if (header_bytes > bytes_.size() - 8)
            fail("header length " + std::to_string(header_bytes) + " larger than the " + std::to_string(bytes_.size() - 8) +
                 " bytes after it");
        data_start_ = 8 + static_cast<std::size_t>(header_bytes);
        const std::uint64_t data_bytes = bytes_.size() - data_start_;

        const std::string_view header_text(reinterpret_cast<const char*>(bytes_.data() + 8), static_cast<std::size_t>(header_bytes));
        const json header = json::parse(header_text, source_ + " (header)");
        if (!header.is_object()) fail("header is a JSON " + std::string(json::kind_name(header.type())) + ", expected an object");

        for (const auto& [name, value] : header.members()) {
            if (name == "__metadata__") {
                read_metadata(value);
                continue;
            }
            tensors_.push_back(read_entry(name, value, data_bytes));
        }

        // The official loader's rule: sorted by begin, each tensor starts where the previous ended and
        // the last one ends at the end of the file (no overlaps, no holes, no trailing bytes).
        std::vector<std::size_t> order(tensors_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return tensors_[a].begin != tensors_[b].begin ? tensors_[a].begin < tensors_[b].begin : tensors_[a].end < tensors_[b].end;
        });
        std::uint64_t covered = 0;
        const tensor_entry* previous = nullptr;
        for (const std::size_t i : order) {
            const tensor_entry& tensor = tensors_[i];
            if (tensor.begin < covered)
                fail("tensor \"" + tensor.name + "\" (bytes " + std::to_string(tensor.begin) + " to " + std::to_string(tensor.end) +
                     ") overlaps tensor \"" + previous->name + "\" (ending at " + std::to_string(covered) + ")");
            if (tensor.begin > covered)
                fail("hole in the data section: bytes " + std::to_string(covered) + " to " + std::to_string(tensor.begin) +
                     " belong to no tensor (before \"" + tensor.name + "\")");
            covered = tensor.end;
            previous = &tensor;
        }
        if (covered != data_bytes)
            fail("data section of " + std::to_string(data_bytes) + " bytes, tensors cover only " + std::to_string(covered) +
                 " (trailing bytes belong to no tensor)");

        for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
    }

    void read_metadata(const json& value) {
        if (!value.is_object()) fail("\"__metadata__\" is " + a_kind(value.type()) + ", expected an object");
        for (const auto& [key, text] : value.members()) {
            if (!text.is_string()) fail("\"__metadata__\" field \"" + key + "\" is " + a_kind(text.type()) + ", expected a string");
            metadata_.emplace_back(key, text.as_string());
        }
    }

    tensor_entry read_entry(const std::string& name, const json& value, std::uint64_t data_bytes) const {
        const std::string tensor = "tensor \"" + name + "\"";
        if (!value.is_object()) fail(tensor + " is " + a_kind(value.type()) + ", expected an object");
        for (const auto& member : value.members())
            if (member.first != "dtype" && member.first != "shape" && member.first != "data_offsets")
                fail(tensor + ": unknown field \"" + member.first + "\"");
        const auto field = [&](const char* key) -> const json& {
            const json* found = value.find(key);
            if (!found) fail(tensor + ": missing field \"" + key + "\"");
            return *found;
        };

        tensor_entry entry;
        entry.name = name;
        const json& dtype = field("dtype");
        if (!dtype.is_string()) fail(tensor + ": field \"dtype\" is " + a_kind(dtype.type()) + ", expected a string");
        entry.dtype = dtype.as_string();
        const std::size_t bits = safetensors_dtype_bits(entry.dtype);
        if (bits == 0) fail(tensor + ": unknown dtype \"" + entry.dtype + "\"");

        const json& shape = field("shape");
        if (!shape.is_array()) fail(tensor + ": field \"shape\" is " + a_kind(shape.type()) + ", expected an array");
        for (const json& dim : shape.elements()) {
            if (!dim.is_number()) fail(tensor + ": field \"shape\" has " + a_kind(dim.type()) + ", expected integers");
            // The reference loader (serde_json into usize) takes integer literals only: 2.0 and 2e0 are not.
            if (!dim.is_integer_literal()) fail(tensor + ": field \"shape\" has a non-integer or out-of-range dimension");
            std::int64_t extent = 0;
            try {
                extent = dim.as_int64();
            } catch (const load_error&) {
                fail(tensor + ": field \"shape\" has a non-integer or out-of-range dimension");
            }
            if (extent < 0) fail(tensor + ": field \"shape\" has a negative dimension " + std::to_string(extent));
            entry.shape.push_back(extent);
        }
        std::uint64_t size = 0;
        if (!detail::tensor_byte_size(entry.shape, bits, entry.elements, size))
            fail(tensor + ": shape " + detail::shape_text(entry.shape) + " of " + entry.dtype + " overflows (or is not whole bytes)");

        const json& offsets = field("data_offsets");
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_integer_literal() || !offsets[1].is_integer_literal())
            fail(tensor + ": field \"data_offsets\" is not two integers");
        std::int64_t begin = 0, end = 0;
        try {
            begin = offsets[0].as_int64();
            end = offsets[1].as_int64();
        } catch (const load_error&) {
            fail(tensor + ": field \"data_offsets\" is not two integers");
        }
        if (begin < 0 || end < 0) fail(tensor + ": field \"data_offsets\" has a negative offset");
        if (begin > end)
            fail(tensor + ": field \"data_offsets\" begins at " + std::to_string(begin) + " after its end " + std::to_string(end));
        entry.begin = static_cast<std::uint64_t>(begin);
        entry.end = static_cast<std::uint64_t>(end);
        if (entry.end > data_bytes)
            fail(tensor + ": field \"data_offsets\" ends at " + std::to_string(end) + ", past the data section's " +
                 std::to_string(data_bytes) + " bytes");
        if (entry.end - entry.begin != size)
            fail(tensor + ": field \"data_offsets\" spans " + std::to_string(entry.end - entry.begin) + " bytes, shape " +
                 detail::shape_text(entry.shape) + " of " + entry.dtype + " needs " + std::to_string(size));
        return entry;
    }

    std::string source_;
    std::vector<unsigned char> bytes_;
    std::size_t data_start_ = 0;
    std::vector<tensor_entry> tensors_;
    std::unordered_map<std::string, std::size_t> index_;
    std::vector<std::pair<std::string, std::string>> metadata_;
};

/**
 * @brief A safetensors file's bytes: @p tensors laid out in the order given, @p metadata as "__metadata__".
 *
 * The header is padded with spaces to a multiple of 8 bytes as the reference writer does. Throws
 * llm::load_error on a duplicate or reserved name, an unknown dtype, a negative dimension or data
 * whose size is not the shape's.
 */
inline std::vector<unsigned char> write_safetensors(const std::vector<tensor_to_write>& tensors,
                                                    const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
    std::string header = "{";
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        for (std::size_t i = 0; i < metadata.size(); ++i) {
            for (std::size_t j = 0; j < i; ++j)
                if (metadata[j].first == metadata[i].first)
                    throw load_error("write_safetensors: duplicate metadata key \"" + metadata[i].first + "\"");
            header += (i ? "," : "") + detail::json_quote(metadata[i].first) + ":" + detail::json_quote(metadata[i].second);
        }
        header += "}";
    }
    std::unordered_map<std::string, bool> seen;
    std::uint64_t offset = 0;
    for (const tensor_to_write& tensor : tensors) {
        const std::string what = "write_safetensors: tensor \"" + tensor.name + "\"";
        if (tensor.name == "__metadata__") throw load_error(what + ": the name is reserved for metadata");
        if (!seen.emplace(tensor.name, true).second) throw load_error(what + ": duplicate name");
        const std::size_t bits = safetensors_dtype_bits(tensor.dtype);
        if (bits == 0) throw load_error(what + ": unknown dtype \"" + tensor.dtype + "\"");
        for (const std::int64_t dim : tensor.shape)
            if (dim < 0) throw load_error(what + ": negative dimension in shape " + detail::shape_text(tensor.shape));
        std::int64_t elements = 0;
        std::uint64_t size = 0;
        if (!detail::tensor_byte_size(tensor.shape, bits, elements, size))
            throw load_error(what + ": shape " + detail::shape_text(tensor.shape) + " overflows (or is not whole bytes)");
        if (tensor.data.size() != size)
            throw load_error(what + ": data of " + std::to_string(tensor.data.size()) + " bytes, shape " +
                             detail::shape_text(tensor.shape) + " of " + tensor.dtype + " needs " + std::to_string(size));
        if (header.size() > 1) header += ",";
        header += detail::json_quote(tensor.name) + ":{\"dtype\":" + detail::json_quote(tensor.dtype) + ",\"shape\":[";
        for (std::size_t i = 0; i < tensor.shape.size(); ++i) header += (i ? "," : "") + std::to_string(tensor.shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + size) + "]}";
        offset += size;
    }
    header += "}";
    header.resize((header.size() + 7) / 8 * 8, ' ');

    std::vector<unsigned char> out;
    out.reserve(8 + header.size() + static_cast<std::size_t>(offset));
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(n >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    for (const tensor_to_write& tensor : tensors) out.insert(out.end(), tensor.data.begin(), tensor.data.end());
    return out;
}

/// write_safetensors(tensors, metadata) saved to @p path; throws naming the path when it cannot be written.
inline void save_safetensors(const std::string& path, const std::vector<tensor_to_write>& tensors,
                             const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
    const std::vector<unsigned char> bytes = write_safetensors(tensors, metadata);
    std::ofstream file(path, std::ios::binary);
    if (!file) throw load_error(path + ": cannot open file for writing");
    file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!file) throw load_error(path + ": cannot write file");
}

}  // namespace llm
