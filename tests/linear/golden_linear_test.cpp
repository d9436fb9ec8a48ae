// Golden cases of the linear family (../shared/golden, see its README.md): PyTorch float64 outputs of
// out_i = Σ_j (φ(q_i)·φ(k_j)) v_j / Σ_j φ(q_i)·φ(k_j), φ = elu+1, non-causal and causal. The kernels add
// ε = 1e-6 to the normaliser (SPEC.md §3); here the normaliser is ~10³, so ε moves outputs by ~1e-9.
// The manifest's kind, feature map and mask are checked, so a renamed or changed case fails here.
// Tolerance (golden/README.md): max |ours − ref| ≤ 1e-4 and ‖ours − ref‖/‖ref‖ ≤ 1e-5.
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>

#include "linear/helpers.hpp"
#include "npy.hpp"

#ifndef ATTUNE_GOLDEN_DEFAULT_DIR
#error "ATTUNE_GOLDEN_DEFAULT_DIR must name the default golden directory"
#endif

using namespace linear_test;
using arch = ATTUNE_TEST_ARCH;

namespace {

std::string golden_dir() {
    const char* env = std::getenv("ATTUNE_GOLDEN_DIR");
    return env != nullptr && *env != '\0' ? std::string(env) : std::string(ATTUNE_GOLDEN_DEFAULT_DIR);
}

// The text of the manifest object "<name>": { … } (braces matched; the manifest has no braces in strings).
std::string manifest_entry(const std::string& json, const std::string& name) {
    const std::size_t at = json.find("\"" + name + "\"");
    if (at == std::string::npos) return {};
    const std::size_t open = json.find('{', at);
    int depth = 0;
    for (std::size_t i = open; i < json.size(); ++i) {
        if (json[i] == '{') ++depth;
        else if (json[i] == '}' && --depth == 0) return json.substr(open, i - open + 1);
    }
    return {};
}

bool has_field(const std::string& obj, const std::string& key, const std::string& value) {
    const std::size_t at = obj.find("\"" + key + "\"");
    if (at == std::string::npos) return false;
    const std::size_t q1 = obj.find('"', obj.find(':', at) + 1), q2 = obj.find('"', q1 + 1);
    return obj.substr(q1 + 1, q2 - q1 - 1) == value;
}

void run_golden(const std::string& name, bool causal) {
    const std::string dir = golden_dir();
    INFO("arch " << ATTUNE_TEST_ARCH_NAME << ", golden case " << name << " in " << dir
                 << " (set ATTUNE_GOLDEN_DIR to the directory holding manifest.json)");
    std::ifstream f(dir + "/manifest.json");
    REQUIRE(f.good());
    const std::string json((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::string entry = manifest_entry(json, name);
    REQUIRE(!entry.empty());
    CHECK(has_field(entry, "kind", "linear"));
    CHECK(has_field(entry, "feature_map", "elu+1"));
    CHECK(has_field(entry, "mask", causal ? "causal" : "none"));

    const npy::array qa = npy::load(dir + "/" + name + "/q.npy"), ka = npy::load(dir + "/" + name + "/k.npy"),
                     va = npy::load(dir + "/" + name + "/v.npy"), oa = npy::load(dir + "/" + name + "/out.npy");
    REQUIRE(qa.shape.size() == 4);
    REQUIRE(ka.shape.size() == 4);
    REQUIRE(va.shape.size() == 4);
    REQUIRE(oa.shape.size() == 4);
    const auto dim = [](const npy::array& a, int i) { return static_cast<index_t>(a.shape[static_cast<std::size_t>(i)]); };
    const index_t B = dim(qa, 0), Hq = dim(qa, 1), Lq = dim(qa, 2), Dk = dim(qa, 3), Hkv = dim(ka, 1), Lk = dim(ka, 2), Dv = dim(va, 3);
    REQUIRE(oa.shape == std::vector<std::size_t>{qa.shape[0], qa.shape[1], qa.shape[2], va.shape[3]});
    const std::vector<float> q(qa.data.begin(), qa.data.end()), k(ka.data.begin(), ka.data.end()), v(va.data.begin(), va.data.end());
    const auto qv = attune::view_bhld(q.data(), B, Hq, Lq, Dk);
    const auto kv = attune::view_bhld(k.data(), B, Hkv, Lk, Dk);
    const auto vv = attune::view_bhld(v.data(), B, Hkv, Lk, Dv);
    for (index_t chunk : {64, 16, 7}) {
        CAPTURE(chunk);
        auto out = poisoned(B, Hq, Lq, Dv);
        if (causal) attune::linear::causal<arch>(qv, kv, vv, out.view, attune::linear::elu_plus_one{}, {chunk});
        else attune::linear::attention<arch>(qv, kv, vv, out.view);
        double max_err = 0, err2 = 0, ref2 = 0;
        index_t nan = 0;
        for (index_t i = 0; i < B * Hq * Lq * Dv; ++i) {
            const double o = out.buf[static_cast<std::size_t>(i)], r = oa.data[static_cast<std::size_t>(i)];
            nan += std::isnan(o);
            max_err = std::max(max_err, std::abs(o - r));
            err2 += (o - r) * (o - r);
            ref2 += r * r;
        }
        INFO("max abs error " << max_err << ", rel L2 " << std::sqrt(err2 / ref2));
        CHECK(nan == 0);
        CHECK(max_err <= 1e-4);
        CHECK(std::sqrt(err2 / ref2) <= 1e-5);
        if (!causal) break;
    }
}

}  // namespace

TEST_CASE("golden linear_elu_noncausal", "[golden]") { run_golden("linear_elu_noncausal", false); }
TEST_CASE("golden linear_elu_causal", "[golden]") { run_golden("linear_elu_causal", true); }
