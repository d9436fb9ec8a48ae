// Golden cases: outputs computed by PyTorch in float64 from float32 inputs (../shared/golden, see
// its README.md). Each case reads q, k, v and out from <dir>/<case>/*.npy and its kind (softmax,
// sigmoid), mask, scale, GQA factor and variant parameters (alibi_slopes, softcap, bias,
// max_distance; sinks.npy, table.npy) from <dir>/manifest.json; dir is $ATTUNE_GOLDEN_DIR, or ATTUNE_GOLDEN_DEFAULT_DIR (baked in
// by CMake: ../shared/golden next to the source tree). A missing directory or file FAILS the test.
// Tolerance (golden/README.md): max |ours − ref| ≤ 1e-4 and ‖ours − ref‖/‖ref‖ ≤ 1e-5.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <catch2/catch.hpp>

#include "attune/mask/sinks_window.hpp"
#include "npy.hpp"
#include "support.hpp"

#ifndef ATTUNE_TEST_ARCH
#error "ATTUNE_TEST_ARCH must name the arch type the kernels are instantiated with"
#endif
#ifndef ATTUNE_GOLDEN_DEFAULT_DIR
#error "ATTUNE_GOLDEN_DEFAULT_DIR must name the default golden directory"
#endif

using attune::index_t;
using namespace attune_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

std::string golden_dir() {
    const char* env = std::getenv("ATTUNE_GOLDEN_DIR");
    return env != nullptr && *env != '\0' ? std::string(env) : std::string(ATTUNE_GOLDEN_DEFAULT_DIR);
}

bool is_directory(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The few fields of a manifest entry the softmax cases use.
struct manifest_entry {
    std::string kind, mask;
    double scale = 0.0;
    index_t gqa = 0;                  // 0: absent
    index_t window = -1, sinks = -1;  // mask "causal+window": -1 when absent
    std::map<std::string, std::vector<std::size_t>> shapes;
    std::string obj;  // the entry's raw text, for the score modifier / sink / family parameters
};

// Ad-hoc reader for manifest.json: finds "<case>": { … } (braces matched outside strings) and
// reads flat fields and the "shapes" object from it. Enough for this file's fixed structure.
std::string object_text(const std::string& json, const std::string& key, std::size_t from = 0) {
    const std::string k = "\"" + key + "\"";
    std::size_t at = json.find(k, from);
    if (at == std::string::npos) return {};
    std::size_t open = json.find_first_not_of(" \n\r\t:", at + k.size());
    if (open == std::string::npos || json[open] != '{') return {};
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = open; i < json.size(); ++i) {
        const char c = json[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') in_string = true;
        else if (c == '{') ++depth;
        else if (c == '}' && --depth == 0) return json.substr(open, i - open + 1);
    }
    return {};
}

// The raw value text of "key" at nesting depth 1 of an object's text.
std::string field(const std::string& obj, const std::string& key) {
    const std::string k = "\"" + key + "\"";
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < obj.size(); ++i) {
        const char c = obj[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') --depth;
        else if (c == '"') {
            if (depth == 1 && obj.compare(i, k.size(), k) == 0) {
                std::size_t v = obj.find_first_not_of(" \n\r\t:", i + k.size());
                if (obj[v] == '"') return obj.substr(v + 1, obj.find('"', v + 1) - v - 1);
                std::size_t e = obj.find_first_of(",}\n", v);
                if (obj[v] == '[') e = obj.find(']', v) + 1;
                return obj.substr(v, e - v);
            }
            in_string = true;
        }
    }
    return {};
}

std::vector<std::size_t> int_list(const std::string& text) {
    std::vector<std::size_t> out;
    std::istringstream is(text);
    char c;
    std::size_t v;
    while (is >> c) {
        if (c >= '0' && c <= '9') {
            is.putback(c);
            is >> v;
            out.push_back(v);
        }
    }
    return out;
}

manifest_entry read_manifest(const std::string& dir, const std::string& name) {
    std::ifstream f(dir + "/manifest.json");
    INFO("manifest " << dir << "/manifest.json");
    REQUIRE(f.good());
    const std::string json((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::string obj = object_text(json, name);
    INFO("case " << name);
    REQUIRE(!obj.empty());
    manifest_entry m;
    m.obj = obj;
    m.kind = field(obj, "kind");
    m.mask = field(obj, "mask");
    const std::string scale = field(obj, "scale");
    REQUIRE(!scale.empty());
    m.scale = std::stod(scale);
    const std::string gqa = field(obj, "gqa");
    if (!gqa.empty()) m.gqa = std::stol(gqa);
    const std::string window = field(obj, "window"), sinks = field(obj, "sinks");
    if (!window.empty()) m.window = std::stol(window);
    if (!sinks.empty()) m.sinks = std::stol(sinks);
    const std::string shapes = object_text(obj, "shapes");
    for (const char* a : {"q", "k", "v", "out", "sinks"}) m.shapes[a] = int_list(field(shapes, a));
    return m;
}

std::vector<float> as_float(const npy::array& a) { return std::vector<float>(a.data.begin(), a.data.end()); }

// Calls f with the manifest's mask as an attune mask.
//  "causal+window" (softmax_sink_window): "key j visible to query i iff j<=i and (i-j<window or
//  j<sinks)" is sinks_window{sinks, window} term for term (window counts the query itself, i.e. a
//  sliding_window left of window − 1, and i is the bottom-right position, here Lq = Lk).
template <class F>
void with_mask(const manifest_entry& m, F&& f) {
    if (m.mask == "causal+window") {
        REQUIRE(m.window >= 0);
        REQUIRE(m.sinks >= 0);
        f(attune::sinks_window(m.sinks, m.window));
    } else if (m.mask == "none") {
        f(attune::no_mask{});
    } else {
        f(attune::causal{});
    }
}

// A number field of the entry (REQUIREd present), and a list of numbers ("[0.5, 0.25]").
double number(const manifest_entry& m, const std::string& key) {
    const std::string t = field(m.obj, key);
    INFO("manifest field " << key);
    REQUIRE(!t.empty());
    return std::stod(t);
}
std::vector<float> number_list(const manifest_entry& m, const std::string& key) {
    std::string t = field(m.obj, key);
    INFO("manifest field " << key);
    REQUIRE(!t.empty());
    for (char& c : t)
        if (c == '[' || c == ']' || c == ',') c = ' ';
    std::istringstream is(t);
    std::vector<float> out;
    double x;
    while (is >> x) out.push_back(static_cast<float>(x));
    return out;
}

// Calls f with the case's whole variant: its mask (with_mask), the family from `kind`, and the
// score modifier or sink its parameters name (alibi_slopes, softcap, max_distance + table.npy,
// sinks.npy; sigmoid's bias).
template <class F>
void with_variant(const std::string& dir, const std::string& name, const manifest_entry& m, F&& f) {
    with_mask(m, [&](const auto& mask) {
        if (m.kind == "sigmoid") {
            f(attune::variant(attune::sigmoid{static_cast<float>(number(m, "bias"))}, mask));
        } else if (!field(m.obj, "alibi_slopes").empty()) {
            f(attune::variant(mask, attune::alibi{number_list(m, "alibi_slopes")}));
        } else if (!field(m.obj, "softcap").empty()) {
            f(attune::variant(mask, attune::softcap{static_cast<float>(number(m, "softcap"))}));
        } else if (!field(m.obj, "max_distance").empty()) {
            const npy::array t = npy::load(dir + "/" + name + "/table.npy");
            const auto R = static_cast<index_t>(number(m, "max_distance"));
            REQUIRE(t.shape.size() == 2);
            REQUIRE(t.shape[1] == static_cast<std::size_t>(2 * R + 1));
            f(attune::variant(mask, attune::relative_bias{as_float(t), R}));
        } else if (!m.shapes.at("sinks").empty()) {
            const npy::array z = npy::load(dir + "/" + name + "/sinks.npy");
            REQUIRE(z.shape == m.shapes.at("sinks"));
            f(attune::variant(mask, attune::sink_logit{as_float(z)}));
        } else {
            f(attune::variant(mask));
        }
    });
}

void run_golden(const std::string& name) {
    const std::string dir = golden_dir();
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ", golden case " << name << " in " << dir
                 << " (set ATTUNE_GOLDEN_DIR to the directory holding manifest.json)");
    REQUIRE(is_directory(dir));
    const manifest_entry m = read_manifest(dir, name);
    INFO("manifest: kind " << m.kind << " mask " << m.mask << " scale " << m.scale << " gqa " << m.gqa);
    REQUIRE((m.kind == "softmax" || m.kind == "sigmoid"));
    const bool causal = m.mask == "causal" || m.mask == "causal_bottom_right";
    REQUIRE((causal || m.mask == "none" || m.mask == "causal+window"));

    const npy::array qa = npy::load(dir + "/" + name + "/q.npy"), ka = npy::load(dir + "/" + name + "/k.npy"),
                     va = npy::load(dir + "/" + name + "/v.npy"), oa = npy::load(dir + "/" + name + "/out.npy");
    REQUIRE(qa.descr == "<f4");
    REQUIRE(ka.descr == "<f4");
    REQUIRE(va.descr == "<f4");
    REQUIRE(qa.shape == m.shapes.at("q"));
    REQUIRE(ka.shape == m.shapes.at("k"));
    REQUIRE(va.shape == m.shapes.at("v"));
    REQUIRE(oa.shape == m.shapes.at("out"));
    REQUIRE(qa.shape.size() == 4);
    const auto dim = [](const npy::array& a, int i) { return static_cast<index_t>(a.shape[static_cast<std::size_t>(i)]); };
    const index_t B = dim(qa, 0), Hq = dim(qa, 1), Lq = dim(qa, 2), Dk = dim(qa, 3), Hkv = dim(ka, 1), Lk = dim(ka, 2), Dv = dim(va, 3);
    if (m.gqa != 0) REQUIRE(Hq / Hkv == m.gqa);
    else REQUIRE(Hq == Hkv);

    std::vector<float> q = as_float(qa), k = as_float(ka), v = as_float(va);
    attune::reference::result ref;
    ref.batch = B, ref.heads = Hq, ref.tokens = Lq, ref.dim = Dv;
    ref.out = oa.data;
    ref.lse.assign(static_cast<std::size_t>(B * Hq * Lq), 0.0);

    // The tests' oracle, attune::reference, must agree with PyTorch's float64 result to double rounding.
    {
        const auto qv = attune::view_bhld(static_cast<const float*>(q.data()), B, Hq, Lq, Dk);
        const auto kv = attune::view_bhld(static_cast<const float*>(k.data()), B, Hkv, Lk, Dk);
        const auto vv = attune::view_bhld(static_cast<const float*>(v.data()), B, Hkv, Lk, Dv);
        attune::reference::result mine;
        with_variant(dir, name, m, [&](const auto& var) { mine = attune::reference::attention(qv, kv, vv, var, m.scale); });
        double worst = 0.0;
        for (std::size_t i = 0; i < mine.out.size(); ++i) worst = std::max(worst, std::abs(mine.out[i] - ref.out[i]));
        INFO("attune::reference vs golden: max abs difference " << worst);
        // Parameters given in float32 (the kernels take them so: sigmoid's bias, a float64 table)
        // move the result by float rounding; exactly representable ones keep double rounding.
        const bool float_params = m.kind == "sigmoid" || !field(m.obj, "max_distance").empty();
        CHECK(worst <= (float_params ? 1e-6 : 1e-9));
    }

    // Default executor and automatic splits, then serial with forced splits: both must match.
    for (index_t splits : {0, 3}) {
        CAPTURE(splits);
        tensor<float> out(B, Hq, Lq, Dv);
        out.poison();
        lse_buffer lse(B, Hq, Lq);
        attune::options opt;
        opt.scale = static_cast<float>(m.scale);
        opt.lse = lse.view;
        opt.kv_splits = splits;
        const auto qv = attune::view_bhld(static_cast<const float*>(q.data()), B, Hq, Lq, Dk);
        const auto kv = attune::view_bhld(static_cast<const float*>(k.data()), B, Hkv, Lk, Dk);
        const auto vv = attune::view_bhld(static_cast<const float*>(v.data()), B, Hkv, Lk, Dv);
        bool has_lse = true;
        with_variant(dir, name, m, [&](const auto& var) {
            using family = typename std::decay_t<decltype(var)>::family_type;
            has_lse = family::has_lse;
            if (!has_lse) opt.lse = {};  // sigmoid: no LSE
            if (splits == 0) attune::attention<arch>(qv, kv, vv, out.view, var, opt);
            else attune::attention<arch>(qv, kv, vv, out.view, var, opt, attune::serial_executor{});
        });
        check_against_reference(out, ref, fp32_tolerance());
        index_t bad_lse = 0;  // every golden row sees at least one key: finite LSE
        for (float x : lse.data) bad_lse += !std::isfinite(x);
        if (has_lse) CHECK(bad_lse == 0);
    }
}

}  // namespace

TEST_CASE("golden softmax_plain", "[golden]") { run_golden("softmax_plain"); }
TEST_CASE("golden softmax_causal", "[golden]") { run_golden("softmax_causal"); }
TEST_CASE("golden softmax_causal_gqa_chunk", "[golden]") { run_golden("softmax_causal_gqa_chunk"); }
TEST_CASE("golden softmax_decode_gqa", "[golden]") { run_golden("softmax_decode_gqa"); }
TEST_CASE("golden softmax_d80_scale", "[golden]") { run_golden("softmax_d80_scale"); }
TEST_CASE("golden softmax_sink_window", "[golden]") { run_golden("softmax_sink_window"); }
TEST_CASE("golden softmax_alibi", "[golden]") { run_golden("softmax_alibi"); }
TEST_CASE("golden softmax_softcap", "[golden]") { run_golden("softmax_softcap"); }
TEST_CASE("golden softmax_sink_logit", "[golden]") { run_golden("softmax_sink_logit"); }
TEST_CASE("golden softmax_relbias", "[golden]") { run_golden("softmax_relbias"); }
TEST_CASE("golden sigmoid_causal", "[golden]") { run_golden("sigmoid_causal"); }
