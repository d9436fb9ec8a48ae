// Randomized differential test (random_test.cpp), variants 43–49: the linear family
// (attune/linear/) against the double references of tests/linear/reference.hpp.
#include "attune/linear.hpp"
#include "linear/reference.hpp"
#include "random/random.hpp"

namespace attune_random {

// ---- the linear family (attune/linear/): against tests/linear/reference.hpp ----

// Tokens [t0, t0 + n) of a view, same strides.
template <class T>
attune::tensor_view<T> token_slice(const attune::tensor_view<T>& x, index_t t0, index_t n) {
    return attune::tensor_view<T>(x.data() + t0 * x.strides()[2], {x.batch(), x.heads(), n, x.dim()}, x.strides());
}

// As tests/linear/helpers.hpp's expect_close: max |ours − ref| ≤ rel · max(1, max |ref|), plus the
// output type's rounding of |ref|; every element written, nothing outside the view touched.
// `slack` is added to the bound (InLine's cancellation, below).
template <class T>
std::string compare_linear(const tensor<T>& out, const attune::reference::result& ref, double rel, double slack = 0.0) {
    const auto& v = out.view;
    const double round = std::is_same_v<T, attune::bf16> ? 1.0 / 256 : std::is_same_v<T, attune::half> ? 1.0 / 1024 : 0.0;
    double mag = 1.0;
    for (double r : ref.out) mag = std::max(mag, std::abs(r));
    index_t nan = 0, over = 0;
    double max_err = 0.0;
    std::ostringstream first;
    for (index_t b = 0; b < v.batch(); ++b)
        for (index_t h = 0; h < v.heads(); ++h)
            for (index_t t = 0; t < v.tokens(); ++t)
                for (index_t e = 0; e < v.dim(); ++e) {
                    const double o = static_cast<double>(attune::to_float(v(b, h, t, e))), r = ref.at(b, h, t, e);
                    if (std::isnan(o)) {
                        if (nan++ == 0 && over == 0) first << "NaN at [" << b << "," << h << "," << t << "," << e << "] (ref " << r << ")";
                        continue;
                    }
                    const double err = std::abs(o - r);
                    max_err = std::max(max_err, err);
                    if (err > rel * mag + slack + round * std::abs(r) && over++ == 0 && nan == 0)
                        first << "out [" << b << "," << h << "," << t << "," << e << "]: ours " << o << " ref " << r;
                }
    std::ostringstream os;
    if (nan > 0) os << nan << " output elements NaN/unwritten; ";
    if (over > 0)
        os << over << " elements beyond " << rel << " · max(1, max |ref| = " << mag << ") + " << slack << " (max abs error " << max_err
           << "); ";
    if (const index_t n = out.clobbered_padding(); n > 0) os << n << " padding elements written; ";
    if (os.str().empty()) return {};
    return os.str() + "first: " + first.str();
}

// fn(map, reference map, name) for a random feature map; identity only where `signed_ok`.
template <class F>
std::string with_map(draw& d, bool signed_ok, F&& fn) {
    namespace lin = attune::linear;
    switch (d.uniform(0, signed_ok ? 2 : 1)) {
        case 0:
            return fn(lin::elu_plus_one{}, linear_ref::fmap(linear_ref::elu1), "elu+1");
        case 1:
            return fn(lin::relu{}, linear_ref::fmap(linear_ref::relu), "relu");
        default:
            return fn(lin::identity{}, linear_ref::fmap(linear_ref::ident), "identity");
    }
}

template <class TQ, class TKV, class TO>
std::string run_linear_typed(rcase& c) {
    namespace lin = attune::linear;
    std::mt19937 rng(static_cast<std::uint32_t>(splitmix(c.seed + 7 * static_cast<std::uint64_t>(c.index))));
    draw d(c.params);
    const bool causal = linear_causal(c);
    const index_t Lo = c.variant == lin_aaren ? c.Lk : c.Lq;  // Aaren: one query, an output per key
    tensor<TQ> q(c.B, c.Hq, c.Lq, c.Dk, c.lq, c.pad);
    tensor<TKV> k(c.B, c.Hkv, c.Lk, c.Dk, c.lk, c.pad), v(c.B, c.Hkv, c.Lk, c.Dv, c.lk, c.pad);
    q.fill_random(rng, c.sigma);
    k.fill_random(rng, c.sigma);
    v.fill_random(rng);
    tensor<TO> out(c.B, c.Hq, Lo, c.Dv, c.lo, c.pad);
    out.poison();
    const auto exec = make_pool_executor(pool_of(c.workers));
    const auto qv = q.cview();
    const auto kv = k.cview();
    const auto vv = v.cview();
    std::ostringstream name;
    try {
        switch (c.variant) {
            case lin_noncausal:
            case lin_causal:
            case lin_recurrent:
                return with_map(d, true, [&](const auto& map, const linear_ref::fmap& ref_map, const char* map_name) {
                    using Map = std::decay_t<decltype(map)>;
                    lin::options opt;
                    // Signed features (identity): the normaliser may cross 0, so unnormalised only.
                    opt.normalize = !std::is_same_v<Map, lin::identity> && d.chance(0.85);
                    opt.eps = d.pick<float>({1e-6f, 1e-6f, 0.0f, 1e-3f});
                    opt.chunk = d.chance(0.4) ? 64 : d.uniform(1, 200);
                    name << map_name << (opt.normalize ? ", normalised" : "") << ", eps " << opt.eps;
                    if (c.variant == lin_noncausal) {
                        name << " (linear::attention)";
                        lin::attention<arch>(qv, kv, vv, out.view, map, opt, exec);
                    } else if (c.variant == lin_causal) {
                        name << ", chunk " << opt.chunk << " (linear::causal)";
                        lin::causal<arch>(qv, kv, vv, out.view, map, opt, exec);
                    } else {  // prefill P tokens, then recurrent steps of 1–3 tokens (or a second prefill)
                        const index_t P = d.uniform(0, c.Lq);
                        name << ", chunk " << opt.chunk << " (linear::prefill of " << P << " tokens, then linear::step)";
                        lin::state st(c.B, c.Hkv, c.Dk, c.Dv);
                        lin::prefill<arch>(token_slice(qv, 0, P), token_slice(kv, 0, P), token_slice(vv, 0, P), token_slice(out.view, 0, P),
                                           st, map, opt, exec);
                        for (index_t t = P; t < c.Lq;) {
                            const index_t n = std::min(d.uniform(1, 3), c.Lq - t);
                            if (d.chance(0.1))
                                lin::prefill<arch>(token_slice(qv, t, n), token_slice(kv, t, n), token_slice(vv, t, n),
                                                   token_slice(out.view, t, n), st, map, opt, exec);
                            else
                                lin::step<arch>(token_slice(qv, t, n), token_slice(kv, t, n), token_slice(vv, t, n),
                                                token_slice(out.view, t, n), st, map, opt, exec);
                            t += n;
                        }
                        if (st.tokens() != c.Lq)
                            return "linear::state counts " + std::to_string(st.tokens()) + " tokens, expected " + std::to_string(c.Lq);
                    }
                    c.policies = "linear: " + name.str();
                    return compare_linear(
                        out, linear_ref::kernelised(qv, kv, vv, ref_map, causal, opt.normalize, static_cast<double>(opt.eps)), 2e-5);
                });
            case lin_inline:
                return with_map(d, true, [&](const auto& map, const linear_ref::fmap& ref_map, const char* map_name) {
                    lin::inline_options io;
                    io.scale = d.chance(0.6) ? 0.0f : d.real(0.05f, 1.0f);
                    name << "linear: InLine, " << map_name << ", scale " << io.scale;
                    c.policies = name.str();
                    lin::inline_attention<arch>(qv, kv, vv, out.view, map, io, exec);
                    const double scale =
                        io.scale > 0.0f ? static_cast<double>(io.scale) : 1.0 / std::sqrt(static_cast<double>(static_cast<float>(c.Dk)));
                    // The kernel's form c·φqᵀ(Σ φk vᵀ) + (1 − c·φq·Σ φk)·v̄ cancels terms of size
                    // c·Σ_j |φq·φk_j|·max|v| (with one key: the whole output cancels to v): float keeps
                    // ~1e-6 of it, as in tests/linear/variants_test.cpp.
                    double big = 0.0, vmax = 0.0;
                    for (index_t b = 0; b < c.B; ++b)
                        for (index_t h = 0; h < c.Hq; ++h) {
                            const index_t hk = h / (c.Hq / c.Hkv);
                            std::vector<std::vector<double>> K;
                            for (index_t j = 0; j < c.Lk; ++j) K.push_back(linear_ref::row(kv, b, hk, j, ref_map));
                            for (index_t i = 0; i < c.Lq; ++i) {
                                const auto Q = linear_ref::row(qv, b, h, i, ref_map);
                                double sum = 0.0;
                                for (const auto& kj : K) sum += std::abs(linear_ref::dot(Q, kj));
                                big = std::max(big, sum);
                            }
                            for (index_t j = 0; j < c.Lk; ++j)
                                for (double x : linear_ref::row(vv, b, hk, j)) vmax = std::max(vmax, std::abs(x));
                        }
                    const double slack = 1e-6 * scale / static_cast<double>(c.Lk) * big * vmax;
                    return compare_linear(out, linear_ref::inline_attn(qv, kv, vv, ref_map, scale, true), 2e-5, slack);
                });
            case lin_flow: {
                lin::flow_options fo;
                fo.chunk = d.chance(0.4) ? 64 : d.uniform(1, 200);
                name << "linear: Flowformer " << (causal ? "causal, chunk " + std::to_string(fo.chunk) : std::string("non-causal"));
                c.policies = name.str();
                if (causal) lin::flow_causal<arch>(qv, kv, vv, out.view, fo, exec);
                else lin::flow_attention<arch>(qv, kv, vv, out.view, fo, exec);
                return compare_linear(out, linear_ref::flow(qv, kv, vv, causal), 5e-5);
            }
            case lin_gated_delta: {
                lin::gated_delta_options opt;
                opt.normalize_qk = d.chance(0.75);
                opt.scale = d.chance(0.6) ? 0.0f : d.real(0.1f, 1.0f);
                opt.chunk = d.chance(0.4) ? 64 : d.uniform(1, 100);
                if (!opt.normalize_qk) {  // keys of norm ~0.8 keep the delta rule contracting (β‖k‖² < 2)
                    k.fill_random(rng, 0.8f / std::sqrt(static_cast<float>(c.Dk)));
                    q.fill_random(rng, 1.0f / std::sqrt(static_cast<float>(c.Dk)));
                }
                const float gmin = d.pick<float>({-0.5f, -0.5f, -3.0f, -8.0f});
                std::vector<float> g, beta;
                for (index_t i = 0; i < c.B * c.Hkv * c.Lk; ++i) g.push_back(d.real(gmin, 0.0f)), beta.push_back(d.real(0.05f, 0.95f));
                const auto gv = lin::token_scalars(g.data(), c.B, c.Hkv, c.Lk), bv = lin::token_scalars(beta.data(), c.B, c.Hkv, c.Lk);
                const int mode = static_cast<int>(d.uniform(0, 2));
                const index_t P = mode == 2 ? d.uniform(0, c.Lq) : c.Lq;
                name << "linear: gated delta " << (mode == 1 ? "recurrent" : "chunked")
                     << (mode == 2 ? " for " + std::to_string(P) + " tokens, then recurrent" : "") << ", chunk " << opt.chunk
                     << (opt.normalize_qk ? ", q/k normalised" : "") << ", g ≥ " << gmin << ", scale " << opt.scale;
                c.policies = name.str();
                lin::state st(c.B, c.Hkv, c.Dk, c.Dv);
                if (mode == 1) {
                    lin::gated_delta_step<arch>(qv, kv, vv, gv, bv, out.view, st, opt, exec);
                } else {
                    lin::gated_delta_chunked<arch>(token_slice(qv, 0, P), token_slice(kv, 0, P), token_slice(vv, 0, P),
                                                   token_slice(gv, 0, P), token_slice(bv, 0, P), token_slice(out.view, 0, P), st, opt,
                                                   exec);
                    const index_t n = c.Lq - P;
                    if (n > 0)
                        lin::gated_delta_step<arch>(token_slice(qv, P, n), token_slice(kv, P, n), token_slice(vv, P, n),
                                                    token_slice(gv, P, n), token_slice(bv, P, n), token_slice(out.view, P, n), st, opt,
                                                    exec);
                }
                const double tau =
                    opt.scale > 0.0f ? static_cast<double>(opt.scale) : 1.0 / std::sqrt(static_cast<double>(static_cast<float>(c.Dk)));
                return compare_linear(out, linear_ref::gated_delta(qv, kv, vv, g, beta, tau, opt.normalize_qk), 5e-5);
            }
            case lin_aaren: {
                lin::aaren_options opt;
                opt.scale = d.chance(0.7) ? 0.0f : d.real(0.05f, 0.6f);
                opt.block = d.chance(0.3) ? 256 : d.uniform(1, 300);
                const bool scan = d.chance(0.6);
                name << "linear: Aaren " << (scan ? "scan, block " + std::to_string(opt.block) : std::string("incremental updates"))
                     << ", scale " << opt.scale;
                c.policies = name.str();
                if (scan) {
                    lin::aaren_scan<arch>(qv, kv, vv, out.view, opt, exec);
                } else {
                    lin::aaren_state st(c.B, c.Hq, c.Dv);
                    for (index_t t = 0; t < c.Lk;) {
                        const index_t n = std::min(d.chance(0.5) ? index_t{1} : d.uniform(1, 100), c.Lk - t);
                        lin::aaren_update<arch>(qv, token_slice(kv, t, n), token_slice(vv, t, n), token_slice(out.view, t, n), st, opt,
                                                exec);
                        t += n;
                    }
                }
                const double tau =
                    opt.scale > 0.0f ? static_cast<double>(opt.scale) : 1.0 / std::sqrt(static_cast<double>(static_cast<float>(c.Dk)));
                return compare_linear(out, linear_ref::prefix_softmax(qv, kv, vv, tau), 2e-5);
            }
        }
    } catch (const std::exception& e) {
        return "attune::linear threw: " + std::string(e.what()) + " (" + name.str() + ")";
    }
    return "unknown linear variant";
}

// Float, bf16 or half throughout (make_case draws only these for the linear variants: each storage
// instantiates every linear kernel once more, and the mixed ones are the softmax engine's concern).
std::string run_linear_case(rcase& c) {
    switch (c.st) {
        case storage::f32:
            return run_linear_typed<float, float, float>(c);
        case storage::bf16:
            return run_linear_typed<attune::bf16, attune::bf16, attune::bf16>(c);
        case storage::f16:
            return run_linear_typed<attune::half, attune::half, attune::half>(c);
        default:
            return "storage not drawn for the linear variants";
    }
}

}  // namespace attune_random
