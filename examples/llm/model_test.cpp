// examples/llm's model side: config.json read into the three architectures' layer kinds, weights
// checked against the config, and hostile configs, checkpoints and batches — each an
// llm::load_error (or attune::error) naming what is wrong, never a crash. The runs against
// transformers' logits are the ctest tests model.<arch>.<run> (attune_llm check).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "config.hpp"
#include "kv_stores.hpp"
#include "model.hpp"
#include "safetensors.hpp"
#include "weights.hpp"

namespace {

const std::string fixtures = LLM_FIXTURE_DIR;

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

// The message of the load_error f throws; fails the test when it returns or throws another type.
std::string load_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const llm::load_error& e) {
        return e.what();
    }
    FAIL("no llm::load_error thrown");
    return {};
}

// The llama fixture's config.json with `from` replaced by `to` (which must occur once).
std::string llama_config_with(const std::string& from, const std::string& to) {
    std::string text = read_text(fixtures + "/llama/config.json");
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    REQUIRE(text.find(from, at + 1) == std::string::npos);
    return text.replace(at, from.size(), to);
}

// A checkpoint's tensors, each copied (edit one before writing the file back).
std::vector<llm::tensor_to_write> tensors_of(const llm::safetensors& f) {
    std::vector<llm::tensor_to_write> out;
    for (const llm::tensor_entry& e : f.tensors()) {
        const unsigned char* b = f.bytes(e);
        out.push_back({e.name, e.dtype, e.shape, std::vector<unsigned char>(b, b + (e.end - e.begin))});
    }
    return out;
}

}  // namespace

TEST_CASE("llm config: the three fixtures read as their architectures", "[model]") {
    const llm::config llama = llm::load_config(fixtures + "/llama");
    CHECK(llama.heads == 4);
    CHECK(llama.kv_heads == 1);
    CHECK(llama.head_dim == 32);
    CHECK(llama.rope.theta == 10000.0);
    CHECK(llama.rope.scaling == attune::rope_scaling::none);
    CHECK(llama.kinds == std::vector<llm::layer_kind>(2, llm::layer_kind::full));
    CHECK_FALSE(llama.sinks);
    CHECK(llama.mlp == llm::mlp_kind::swiglu);

    const llm::config mistral = llm::load_config(fixtures + "/mistral");
    CHECK(mistral.window == 12);
    CHECK(mistral.kinds == std::vector<llm::layer_kind>(2, llm::layer_kind::sliding));
    CHECK(mistral.head_dim == 64);
    CHECK(mistral.rope.theta == 1000000.0);
    // transformers' window of W tokens counts the query: attune's left = W − 1.
    CHECK(mistral.window_mask().left() == 11);
    CHECK(mistral.window_mask().right() == 0);

    const llm::config oss = llm::load_config(fixtures + "/gpt_oss");
    CHECK(oss.kinds == std::vector<llm::layer_kind>{llm::layer_kind::sliding, llm::layer_kind::full});
    CHECK(oss.sinks);
    CHECK(oss.attention_bias);
    CHECK(oss.mlp == llm::mlp_kind::gpt_oss_moe);
    CHECK(oss.experts == 4);
    CHECK(oss.experts_per_token == 2);
    CHECK(oss.rope.scaling == attune::rope_scaling::yarn);
    CHECK(oss.rope.factor == 32.0);
    CHECK(oss.rope.theta == 150000.0);
    CHECK_FALSE(oss.rope.truncate);
    CHECK(oss.rope.original_max_position_embeddings == 4096);
}

TEST_CASE("llm config: transformers 4.x's rope_theta and rope_scaling read as 5.x's rope_parameters", "[model]") {
    const std::string v4 = llama_config_with(R"("rope_parameters": {
    "rope_theta": 10000.0,
    "rope_type": "default"
  },)",
                                             R"("rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},)");
    const llm::config c = llm::parse_config(v4, "v4.json");
    CHECK(c.rope.theta == 500000.0);
    CHECK(c.rope.scaling == attune::rope_scaling::llama3);
    CHECK(c.rope.factor == 8.0);
    CHECK(c.rope.original_max_position_embeddings == 8192);
}

TEST_CASE("llm config: hostile configs are load_errors naming the field", "[model][hostile]") {
    const auto error_for = [](const std::string& from, const std::string& to) {
        const std::string text = llama_config_with(from, to);
        return load_error_of([&] { (void)llm::parse_config(text, "bad.json"); });
    };
    CHECK_THAT(error_for(R"("model_type": "llama")", R"("model_type": "bert")"), Catch::Contains("model_type \"bert\""));
    CHECK_THAT(error_for(R"("num_key_value_heads": 1)", R"("num_key_value_heads": 3)"), Catch::Contains("not a multiple"));
    CHECK_THAT(error_for(R"("num_key_value_heads": 1)", R"("num_key_value_heads": 0)"), Catch::Contains("num_key_value_heads"));
    CHECK_THAT(error_for(R"("vocab_size": 1000)", R"("vocab_size": -5)"), Catch::Contains("vocab_size"));
    CHECK_THAT(error_for(R"("vocab_size": 1000)", R"("vocab_size": 1e40)"), Catch::Contains("vocab_size"));
    CHECK_THAT(error_for(R"("vocab_size": 1000)", R"("vocab_size": "1000")"), Catch::Contains("vocab_size"));
    CHECK_THAT(error_for(R"("hidden_size": 64,)", ""), Catch::Contains("hidden_size"));
    CHECK_THAT(error_for(R"("head_dim": 32)", R"("head_dim": 33)"), Catch::Contains("head_dim"));
    CHECK_THAT(error_for(R"("hidden_act": "silu")", R"("hidden_act": "gelu")"), Catch::Contains("hidden_act"));
    CHECK_THAT(error_for(R"("rms_norm_eps": 1e-05)", R"("rms_norm_eps": 0)"), Catch::Contains("rms_norm_eps"));
    CHECK_THAT(error_for(R"("rope_type": "default")", R"("rope_type": "longrope")"), Catch::Contains("longrope"));
    CHECK_THAT(error_for(R"("rope_type": "default")", R"("rope_type": "yarn", "factor": 4.0, "beta_fast": -1.0)"),
               Catch::Contains("beta_fast"));
    CHECK_THAT(error_for(R"("rope_theta": 10000.0)", R"("rope_theta": -1.0)"), Catch::Contains("theta"));
    CHECK_THAT(error_for(R"("num_hidden_layers": 2,)", R"("num_hidden_layers": 2, "layer_types": ["full_attention"],)"),
               Catch::Contains("layer_types has 1 entries for 2 layers"));
    CHECK_THAT(error_for(R"("num_hidden_layers": 2,)", R"("num_hidden_layers": 2, "layer_types": ["full_attention", "chunked"],)"),
               Catch::Contains("layer_types[1]"));
    CHECK_THAT(
        error_for(R"("num_hidden_layers": 2,)", R"("num_hidden_layers": 2, "layer_types": ["full_attention", "sliding_attention"],)"),
        Catch::Contains("no sliding_window"));
    CHECK_THAT(load_error_of([] { (void)llm::load_config(fixtures + "/does_not_exist"); }), Catch::Contains("cannot open"));
}

TEST_CASE("llm weights: a checkpoint missing a tensor, of another shape or with a NaN sink is refused by name", "[model][hostile]") {
    const llm::config c = llm::load_config(fixtures + "/gpt_oss");
    const llm::safetensors good = llm::safetensors::open(fixtures + "/gpt_oss/model.safetensors");
    REQUIRE_NOTHROW(llm::load_weights(c, good));

    std::vector<llm::tensor_to_write> t = tensors_of(good);
    const auto without = [&](const std::string& name) {
        std::vector<llm::tensor_to_write> out;
        for (const auto& x : t)
            if (x.name != name) out.push_back(x);
        return llm::safetensors::from_bytes(llm::write_safetensors(out), "edited.safetensors");
    };
    CHECK_THAT(load_error_of([&] { llm::load_weights(c, without("model.layers.1.self_attn.sinks")); }),
               Catch::Contains("model.layers.1.self_attn.sinks"));
    CHECK_THAT(load_error_of([&] { llm::load_weights(c, without("model.layers.0.mlp.experts.down_proj_bias")); }),
               Catch::Contains("down_proj_bias"));

    // q_proj read as [vocab-sized] garbage: another shape.
    for (auto& x : t)
        if (x.name == "model.layers.0.self_attn.q_proj.weight") x.shape = {64, 256};
    const auto reshaped = llm::safetensors::from_bytes(llm::write_safetensors(t), "reshaped.safetensors");
    CHECK_THAT(load_error_of([&] { llm::load_weights(c, reshaped); }), Catch::Contains("has shape [64, 256], expected [256, 64]"));

    // A NaN sink logit (bf16 0x7fc0).
    t = tensors_of(good);
    for (auto& x : t)
        if (x.name == "model.layers.0.self_attn.sinks") x.data[0] = 0xc0, x.data[1] = 0x7f;
    const auto nan_sink = llm::safetensors::from_bytes(llm::write_safetensors(t), "nan.safetensors");
    CHECK_THAT(load_error_of([&] { llm::load_weights(c, nan_sink); }), Catch::Contains("sinks"));
}

TEST_CASE("llm forward: tokens, positions and offsets from outside are checked before anything runs", "[model][hostile]") {
    const llm::config c = llm::load_config(fixtures + "/llama");
    llm::model<float> m(c, llm::load_weights(c, llm::safetensors::open(fixtures + "/llama/model.safetensors")));
    llm::sequence_store<float> store(c);
    const attune::serial_executor exec{};
    const auto run = [&](llm::batch b) { return load_error_of([&] { m.forward(b, store, exec); }); };
    CHECK_THAT(run({{5, 1000}, {0, 1}, {0, 2}, {0}}), Catch::Contains("token 1000 at row 1 is outside the vocabulary"));
    CHECK_THAT(run({{5, -1}, {0, 1}, {0, 2}, {0}}), Catch::Contains("token -1"));
    CHECK_THAT(run({{5, 6}, {0, -1}, {0, 2}, {0}}), Catch::Contains("position at row 1 is negative"));
    CHECK_THAT(run({{5, 6}, {0, 1}, {0, 3}, {0}}), Catch::Contains("cu.back()"));
    CHECK_THAT(run({{5, 6}, {0, 1}, {0, 2, 2}, {0, 0}}), Catch::Contains("cu must increase"));
    CHECK_THAT(run({{5, 6}, {0, 1}, {1, 2}, {0}}), Catch::Contains("start at 0"));
    CHECK_THAT(run({{5, 6}, {0, 1}, {0, 2}, {}}), Catch::Contains("requests"));
    CHECK(store.held(0) == 0);  // nothing appended by a refused batch

    // A valid batch after them runs, and equals the same tokens run in a fresh store.
    const llm::matrix a = m.forward({{5, 6, 7}, {0, 1, 2}, {0, 3}, {0}}, store, exec);
    llm::sequence_store<float> fresh(c);
    const llm::matrix b = m.forward({{5, 6, 7}, {0, 1, 2}, {0, 3}, {0}}, fresh, exec);
    CHECK((a - b).cwiseAbs().maxCoeff() == 0.0f);
    CHECK(store.held(0) == 3);
}

TEST_CASE("llm paged store: a pool too small for the batch is an attune::error, not a crash", "[model][hostile]") {
    const llm::config c = llm::load_config(fixtures + "/llama");
    llm::model<float> m(c, llm::load_weights(c, llm::safetensors::open(fixtures + "/llama/model.safetensors")));
    llm::paged_store<float> store(c, /*page_size*/ 4, /*pages*/ 2);
    const int r = store.add_request();
    llm::batch b{std::vector<std::int32_t>(9, 3), {0, 1, 2, 3, 4, 5, 6, 7, 8}, {0, 9}, {r}};
    CHECK_THROWS_AS(m.forward(b, store, attune::serial_executor{}), attune::error);
    CHECK(store.pages_used(0) == 0);
}
