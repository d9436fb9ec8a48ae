#pragma once
// Rotary position embedding (RoPE; Su et al., "RoFormer", 2021) as a pre-pass on queries and keys:
// rotate them once when they enter the cache, then run attune::attention on the rotated copies.
//   attune::rope r;  r.head_dim = 128;  r.theta = 500000;
//   attune::apply_rope_qk(r, q, k, attune::rope_positions::from_offset(cache_len));  // in place
// The description is plain data: the pairing (GPT-NeoX's rotate_half or GPT-J's interleaved pairs),
// θ, a partial rotary dimension, and the frequency scalings of Hugging Face transformers'
// modeling_rope_utils (linear, dynamic NTK, YaRN, Llama 3), whose float32 inverse frequencies
// rope_frequencies() reproduces step by step (each float32 operation of transformers' torch code
// done here in float, transcendental ones in double and rounded), so a model run through attune
// sees the frequencies transformers computes.
//
// Angles. transformers forms the angle as the float32 product inv_freq · float(position): at
// position 2^20 its rounding alone moves the angle by up to 2^20 · 2^−24 rad. rope_angles::exact
// (the default) forms it in double and evaluates cos/sin in double (the rotation is exact to float
// rounding at any position below 2^31); rope_angles::float32 rounds the angle as transformers does,
// for token-for-token parity with it at long positions.
//
// StreamingLLM (Xiao et al., "Efficient Streaming Language Models with Attention Sinks", 2023)
// rotates keys by their position in the cache, not in the text: either keep the keys before RoPE
// and rotate them to their cache positions each step (rotate_keys_to_cache), or rotate the
// already-rotated keys by the change of position when the cache evicts (rerotate_keys).
//
// Storage float, bf16 or half; arithmetic in float; cos/sin tables built in double per token and
// shared by every head of that token (and by q and k in apply_rope_qk).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "attune/core/buffer.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/ragged.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/simd/vec.hpp"

namespace attune {

/// Which elements of the rotary part form the rotated pairs.
enum class rope_pairing {
    neox,  ///< GPT-NeoX / Llama rotate_half: element i pairs with i + rotary_dim/2
    gptj,  ///< GPT-J interleaved: element 2i pairs with 2i + 1
};

/// The frequency scaling, as transformers' rope_type.
enum class rope_scaling {
    none,    ///< "default": inv_freq_i = θ^(−2i/rotary_dim)
    linear,  ///< "linear" (position interpolation): inv_freq / factor
    ntk,     ///< "dynamic" (dynamic NTK): θ grows with the sequence length past original_max_position_embeddings
    yarn,    ///< "yarn" (Peng et al. 2023): ramp between interpolated and extrapolated frequencies, attention scaling
    llama3,  ///< "llama3": low frequencies / factor, high ones kept, a smooth ramp between
};

/// How the rotation angle inv_freq · position is formed.
enum class rope_angles {
    exact,    ///< in double: exact to float rounding of cos/sin at any position
    float32,  ///< rounded to float as transformers' float32 product is (parity with it at long positions)
};

/// A RoPE description as plain data (transformers' config fields in brackets).
struct rope {
    index_t head_dim = 0;    ///< D of the rotated views
    index_t rotary_dim = 0;  ///< leading elements rotated (even, ≤ head_dim); 0: all of them [head_dim · partial_rotary_factor]
    double theta = 10000.0;  ///< base θ > 0 [rope_theta]
    rope_pairing pairing = rope_pairing::neox;     ///< which elements pair
    rope_scaling scaling = rope_scaling::none;     ///< frequency scaling [rope_type]
    double factor = 1.0;                           ///< scaling factor > 0 (linear, ntk, yarn, llama3) [factor]
    index_t original_max_position_embeddings = 0;  ///< ntk: [max_position_embeddings]; yarn, llama3: [original_max_position_embeddings]
    double beta_fast = 32.0;                       ///< yarn: [beta_fast]
    double beta_slow = 1.0;                        ///< yarn: [beta_slow]
    double attention_factor = 0.0;                 ///< yarn: cos/sin scale; 0 derives it from factor and mscale [attention_factor]
    double mscale = 0.0;                           ///< yarn: with mscale_all_dim, the derived scale's numerator [mscale]
    double mscale_all_dim = 0.0;                   ///< yarn: the derived scale's denominator [mscale_all_dim]
    bool truncate = true;                          ///< yarn: floor/ceil the correction range [truncate]
    double low_freq_factor = 1.0;                  ///< llama3: [low_freq_factor]
    double high_freq_factor = 4.0;                 ///< llama3: [high_freq_factor], > low_freq_factor
    rope_angles angles = rope_angles::exact;       ///< how the angle is rounded

    /// The number of rotated elements: rotary_dim, or head_dim when it is 0.
    index_t rotated() const noexcept { return rotary_dim == 0 ? head_dim : rotary_dim; }
};

/// Inverse frequencies (rotated()/2 of them, float32 as transformers holds them) and the scale
/// applied to cos and sin (YaRN's attention factor; 1 otherwise).
struct rope_table {
    std::vector<float> inv_freq;     ///< [rotated()/2]
    double attention_scaling = 1.0;  ///< multiplies cos and sin
};

/// Each token's position. Positions are ≥ 0 and < 2^31.
struct rope_positions {
    /// Where the positions come from.
    enum class source {
        offset,     ///< token t (of every sequence) at offset + t
        per_token,  ///< token t of batch row b at ids[b · batch_stride + t]
        ragged,     ///< packed ragged batch (one batch row): token t of sequence s at starts[s] + t − seqs.at[s]
    };
    source from = source::offset;          ///< which of the forms below
    index_t offset = 0;                    ///< source::offset: position of token 0
    const std::int32_t* ids = nullptr;     ///< source::per_token: [B][batch_stride] positions
    index_t batch_stride = 0;              ///< source::per_token: ids of batch row b start at ids + b · batch_stride (0: shared)
    seq_offsets seqs{};                    ///< source::ragged: the sequences' packed rows
    const std::int32_t* starts = nullptr;  ///< source::ragged: [sequences] first positions (null: all 0)

    /// Token t at offset + t (a prefill after `offset` cached tokens, or one decode step).
    static rope_positions from_offset(index_t offset) {
        rope_positions p;
        p.offset = offset;
        return p;
    }
    /// Per-token positions: token t of batch row b at ids[b · batch_stride + t] (dense [B][L]; a
    /// packed ragged batch is one batch row of its packed tokens' ids).
    static rope_positions per_token(const std::int32_t* ids, index_t batch_stride = 0) {
        rope_positions p;
        p.from = source::per_token;
        p.ids = ids;
        p.batch_stride = batch_stride;
        return p;
    }
    /// A packed ragged batch: sequence s's rows continue from starts[s] (its cached length).
    static rope_positions ragged(seq_offsets seqs, const std::int32_t* starts = nullptr) {
        rope_positions p;
        p.from = source::ragged;
        p.seqs = seqs;
        p.starts = starts;
        return p;
    }
};

namespace detail {

inline constexpr index_t rope_max_position = std::numeric_limits<std::int32_t>::max();

inline bool finite_positive(double x) { return std::isfinite(x) && x > 0.0; }

// Every field `r` uses, checked; `fn` names the caller.
inline void check_rope(const rope& r, const char* fn) {
    require(r.head_dim > 0, fn, ": rope::head_dim must be > 0, got ", r.head_dim);
    require(r.rotary_dim >= 0 && r.rotary_dim <= r.head_dim, fn, ": rope::rotary_dim must lie in [0, head_dim = ", r.head_dim, "], got ",
            r.rotary_dim);
    require(r.rotated() % 2 == 0, fn, ": rope::rotary_dim (", r.rotated(), ") must be even: elements rotate in pairs");
    require(finite_positive(r.theta), fn, ": rope::theta must be finite and > 0, got ", r.theta);
    require(r.pairing == rope_pairing::neox || r.pairing == rope_pairing::gptj, fn, ": rope::pairing is not a rope_pairing");
    require(r.angles == rope_angles::exact || r.angles == rope_angles::float32, fn, ": rope::angles is not a rope_angles");
    switch (r.scaling) {
        case rope_scaling::none:
            return;
        case rope_scaling::linear:
            break;
        case rope_scaling::ntk:
            require(r.rotated() > 2, fn, ": rope::rotary_dim must be > 2 for ntk scaling (its exponent is d / (d − 2))");
            break;
        case rope_scaling::yarn:
            require(r.theta != 1.0, fn, ": rope::theta must differ from 1 for yarn scaling (its correction range divides by log θ)");
            require(finite_positive(r.beta_fast), fn, ": rope::beta_fast must be finite and > 0, got ", r.beta_fast);
            require(finite_positive(r.beta_slow), fn, ": rope::beta_slow must be finite and > 0, got ", r.beta_slow);
            require(std::isfinite(r.attention_factor) && r.attention_factor >= 0.0, fn,
                    ": rope::attention_factor must be finite and ≥ 0 (0 derives it), got ", r.attention_factor);
            require(std::isfinite(r.mscale) && std::isfinite(r.mscale_all_dim), fn, ": rope::mscale and mscale_all_dim must be finite");
            break;
        case rope_scaling::llama3:
            require(finite_positive(r.low_freq_factor), fn, ": rope::low_freq_factor must be finite and > 0, got ", r.low_freq_factor);
            require(std::isfinite(r.high_freq_factor) && r.high_freq_factor > r.low_freq_factor, fn,
                    ": rope::high_freq_factor must be finite and > low_freq_factor, got ", r.high_freq_factor);
            break;
        default:
            fail(fn, ": rope::scaling is not a rope_scaling");
    }
    require(finite_positive(r.factor), fn, ": rope::factor must be finite and > 0, got ", r.factor);
    if (r.scaling != rope_scaling::linear)
        require(r.original_max_position_embeddings > 0, fn, ": rope::original_max_position_embeddings must be > 0, got ",
                r.original_max_position_embeddings);
}

// transformers' θ^(−2i/d) in float32: the exponent arange(0, d, 2).float() / d rounded to float, θ
// to float (torch's pow of a float32 tensor), the power and the reciprocal each rounded to float.
inline float rope_default_inv_freq(double theta, index_t i, index_t d) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(d);
    const float p = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(theta)), static_cast<double>(e)));
    return 1.0f / p;
}

// YaRN's attention scale for a factor: 0.1 · m · ln(s) + 1 (1 for s ≤ 1).
inline double yarn_mscale(double s, double m) { return s <= 1.0 ? 1.0 : 0.1 * m * std::log(s) + 1.0; }

// The inverse frequencies of `r` at sequence length `seq_len` into out[0, rotated()/2), as
// transformers' init functions compute them; returns the attention scaling. `r` is checked.
inline double rope_inv_freq(const rope& r, index_t seq_len, float* out) {
    const index_t d = r.rotated(), half = d / 2;
    switch (r.scaling) {
        case rope_scaling::none:
        case rope_scaling::linear:
        case rope_scaling::llama3:
            for (index_t i = 0; i < half; ++i) out[i] = rope_default_inv_freq(r.theta, i, d);
            break;
        default:
            break;
    }
    if (r.scaling == rope_scaling::linear) {
        const float f = static_cast<float>(r.factor);
        for (index_t i = 0; i < half; ++i) out[i] /= f;
    } else if (r.scaling == rope_scaling::ntk) {
        // base · (factor · L / L₀ − (factor − 1))^(d/(d−2)), L = max(seq_len, L₀). Up to L₀ the base is θ
        // (transformers' init); past it, transformers' forward pass computes the new base from a
        // length tensor, in float32, step by step as here.
        const index_t l0 = r.original_max_position_embeddings;
        if (seq_len <= l0) {
            for (index_t i = 0; i < half; ++i) out[i] = rope_default_inv_freq(r.theta, i, d);
        } else {
            float t = static_cast<float>(r.factor) * static_cast<float>(seq_len);
            t = t / static_cast<float>(l0);
            t = t - static_cast<float>(r.factor - 1.0);
            t = static_cast<float>(std::pow(static_cast<double>(t),
                                            static_cast<double>(static_cast<float>(static_cast<double>(d) / static_cast<double>(d - 2)))));
            const float base = static_cast<float>(r.theta) * t;
            for (index_t i = 0; i < half; ++i) out[i] = rope_default_inv_freq(base, i, d);
        }
    } else if (r.scaling == rope_scaling::yarn) {
        const double factor = r.factor;
        double attention = r.attention_factor;
        if (attention == 0.0)
            attention = (r.mscale != 0.0 && r.mscale_all_dim != 0.0) ? yarn_mscale(factor, r.mscale) / yarn_mscale(factor, r.mscale_all_dim)
                                                                     : yarn_mscale(factor, 1.0);
        const double pi = 3.14159265358979323846;
        const double l0 = static_cast<double>(r.original_max_position_embeddings), dd = static_cast<double>(d);
        const auto correction_dim = [&](double rotations) {
            return dd * std::log(l0 / (rotations * 2.0 * pi)) / (2.0 * std::log(r.theta));
        };
        double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
        if (r.truncate) low = std::floor(low), high = std::ceil(high);
        low = std::max(low, 0.0), high = std::min(high, dd - 1.0);
        if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
        const float flow = static_cast<float>(low), fspan = static_cast<float>(high - low);
        const float ffactor = static_cast<float>(factor);
        for (index_t i = 0; i < half; ++i) {
            const float e = static_cast<float>(2 * i) / static_cast<float>(d);
            const float pos_freq = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(r.theta)), static_cast<double>(e)));
            const float extrapolation = 1.0f / pos_freq, interpolation = 1.0f / (ffactor * pos_freq);
            const float ramp = std::min(std::max((static_cast<float>(i) - flow) / fspan, 0.0f), 1.0f);
            const float extrapolation_factor = 1.0f - ramp;
            out[i] = interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
        }
        return attention;
    } else if (r.scaling == rope_scaling::llama3) {
        // Wavelengths compared in float32, as transformers does (a band edge decides a frequency's branch).
        const float factor = static_cast<float>(r.factor), lo = static_cast<float>(r.low_freq_factor),
                    hi = static_cast<float>(r.high_freq_factor);
        const double old_len = static_cast<double>(r.original_max_position_embeddings);
        const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
        const float two_pi = static_cast<float>(2.0 * 3.14159265358979323846), fold = static_cast<float>(old_len);
        for (index_t i = 0; i < half; ++i) {
            const float inv = out[i], wavelen = two_pi / inv;
            const float scaled = static_cast<double>(wavelen) > low_wavelen ? inv / factor : inv;
            const float smooth = (fold / wavelen - lo) / (hi - lo);
            const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
            const bool medium = !(static_cast<double>(wavelen) < high_wavelen) && !(static_cast<double>(wavelen) > low_wavelen);
            out[i] = medium ? smoothed : scaled;
        }
    }
    return 1.0;
}

// A checked view of the positions for a call over `batch` rows of `tokens` tokens: position(b, t),
// and the largest position (for ntk's sequence length). `name` names the argument.
class position_source {
public:
    position_source(const rope_positions& p, index_t batch, index_t tokens, const char* fn, const char* name) : p_(p) {
        switch (p.from) {
            case rope_positions::source::offset:
                require(p.offset >= 0, fn, ": ", name, ".offset is negative (", p.offset, ")");
                require(tokens == 0 || p.offset <= rope_max_position - (tokens - 1), fn, ": ", name, ": offset ", p.offset, " + ", tokens,
                        " tokens passes position 2^31 − 1");
                max_ = tokens > 0 ? p.offset + tokens - 1 : -1;
                break;
            case rope_positions::source::per_token:
                require(p.batch_stride >= 0, fn, ": ", name, ".batch_stride is negative (", p.batch_stride, ")");
                require(batch <= 1 || p.batch_stride == 0 || p.batch_stride >= tokens, fn, ": ", name, ".batch_stride (", p.batch_stride,
                        ") is shorter than the ", tokens, " tokens of a row");
                if (batch > 0 && tokens > 0) {
                    require(p.ids != nullptr, fn, ": ", name, ".ids is null");
                    checked_add(checked_mul(batch - 1, p.batch_stride, name), tokens, name);
                }
                for (index_t b = 0; b < batch; ++b)
                    for (index_t t = 0; t < tokens; ++t) {
                        const index_t v = p.ids[b * p.batch_stride + t];
                        require(v >= 0, fn, ": ", name, ".ids[", b, "][", t, "] is negative (", v, ")");
                        max_ = std::max(max_, v);
                    }
                break;
            case rope_positions::source::ragged:
                require(batch <= 1, fn, ": ", name, " is ragged (packed sequences), which needs a view of one batch row, not ", batch);
                check_offsets(name, p.seqs, batch == 0 ? 0 : tokens);
                for (index_t s = 0; s < p.seqs.sequences; ++s) {
                    const index_t start = p.starts != nullptr ? p.starts[s] : 0, len = p.seqs.length(s);
                    require(start >= 0, fn, ": ", name, ".starts[", s, "] is negative (", start, ")");
                    require(len == 0 || start <= rope_max_position - (len - 1), fn, ": ", name, ": sequence ", s, " from ", start, " with ",
                            len, " tokens passes position 2^31 − 1");
                    if (len > 0) max_ = std::max(max_, start + len - 1);
                }
                break;
            default:
                fail(fn, ": ", name, ".from is not a rope_positions::source");
        }
    }
    // Whether every batch row has the same positions (the tables are then shared across rows).
    bool shared_by_rows() const noexcept {
        return p_.from == rope_positions::source::offset || (p_.from == rope_positions::source::per_token && p_.batch_stride == 0);
    }
    index_t max_position() const noexcept { return max_; }
    index_t operator()(index_t b, index_t t) const noexcept {
        switch (p_.from) {
            case rope_positions::source::offset:
                return p_.offset + t;
            case rope_positions::source::per_token:
                return p_.ids[b * p_.batch_stride + t];
            default: {
                const std::int32_t* end = p_.seqs.at + p_.seqs.sequences + 1;
                const index_t s = (std::upper_bound(p_.seqs.at, end, static_cast<std::int32_t>(t)) - p_.seqs.at) - 1;
                return (p_.starts != nullptr ? p_.starts[s] : 0) + t - p_.seqs.at[s];
            }
        }
    }

private:
    rope_positions p_;
    index_t max_ = -1;
};

struct rope_scratch {
    grow_buffer<float> freq, table, row;
    static rope_scratch& local() {
        thread_local rope_scratch s;
        return s;
    }
};

// cos/sin of each rotated element for one angle multiplier `pos` (a position, or a change of
// position): c[j] the cosine of j's pair and s[j] its signed sine, so out[j] = x[j]·c[j] + x[mate(j)]·s[j].
inline void rope_fill_table(const rope& r, const float* inv_freq, double scale, index_t pos, float* c, float* s) {
    const index_t half = r.rotated() / 2;
    const float fscale = static_cast<float>(scale);
    for (index_t i = 0; i < half; ++i) {
        float ci, si;
        if (r.angles == rope_angles::float32) {
            // transformers: freqs = float(position) · inv_freq in float32; cos(freqs) · scaling in float32.
            const float a = static_cast<float>(pos) * inv_freq[i];
            ci = static_cast<float>(std::cos(static_cast<double>(a))) * fscale;
            si = static_cast<float>(std::sin(static_cast<double>(a))) * fscale;
        } else {
            const double a = static_cast<double>(inv_freq[i]) * static_cast<double>(pos);
            ci = static_cast<float>(std::cos(a) * scale);
            si = static_cast<float>(std::sin(a) * scale);
        }
        if (r.pairing == rope_pairing::neox) {
            c[i] = c[i + half] = ci;
            s[i] = -si, s[i + half] = si;
        } else {
            c[2 * i] = c[2 * i + 1] = ci;
            s[2 * i] = -si, s[2 * i + 1] = si;
        }
    }
}

// One row: out[0, d) = rotation of in's rotary part by the table, the rest copied. `xf` and `xm`
// hold d floats each (the row and its pair mates), so in == out is safe.
template <class Arch, class TI, class TO>
inline void rope_row(const rope& r, const TI* in, TO* out, const float* c, const float* s, float* xf, float* xm) {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    const index_t d = r.rotated(), half = d / 2, n = r.head_dim;
    simd::convert_row<Arch>(in, xf, d);
    if (r.pairing == rope_pairing::neox) {
        for (index_t j = 0; j < half; ++j) xm[j] = xf[j + half], xm[j + half] = xf[j];
    } else {
        for (index_t j = 0; j < d; j += 2) xm[j] = xf[j + 1], xm[j + 1] = xf[j];
    }
    index_t j = 0;
    for (; j + W <= d; j += W)
        simd::store<Arch>(xf + j,
                          simd::fma(simd::load<Arch>(xm + j), simd::load<Arch>(s + j), simd::load<Arch>(xf + j) * simd::load<Arch>(c + j)));
    for (; j < d; ++j) xf[j] = std::fma(xm[j], s[j], xf[j] * c[j]);
    copy_row(xf, out, d);
    if (static_cast<const void*>(in) != static_cast<const void*>(out)) copy_row(in + d, out + d, n - d);
}

template <class TI, class TO>
inline void check_rope_views(const rope& r, const tensor_view<TI>& in, const tensor_view<TO>& out, const char* fn, const char* in_name,
                             const char* out_name) {
    static_assert(!std::is_const_v<TO>, "attune::rope: the output must be a view of non-const elements");
    require(in.data() != nullptr || in.size() == 0, fn, ": ", in_name, " has null data");
    require(out.data() != nullptr || out.size() == 0, fn, ": ", out_name, " has null data");
    require(in.shape() == out.shape(), fn, ": ", out_name, " shape [", out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ", out.dim(),
            "] differs from ", in_name, " shape [", in.batch(), ", ", in.heads(), ", ", in.tokens(), ", ", in.dim(), "]");
    require(in.dim() == r.head_dim, fn, ": ", in_name, " head dim ", in.dim(), " differs from rope::head_dim ", r.head_dim);
    require(!overlaps_itself(out, out_name), fn, ": ", out_name, " overlaps itself: two of its rows share memory (check its strides)");
    // Exactly in place (same data, strides and type) is allowed; any other shared element is not.
    const bool same = static_cast<const void*>(in.data()) == static_cast<const void*>(out.data()) && in.strides() == out.strides() &&
                      std::is_same_v<std::remove_const_t<TI>, TO>;
    require(same || !shares_elements(out, in), fn, ": ", out_name, " overlaps ", in_name,
            " without being the same view (in place needs the same data and strides)");
}

// The rotation of (in_a → out_a) and, when it has heads, (in_b → out_b) — the same batch, tokens
// and head dim — by the angle multiplier delta(b, t) of each token, with inverse frequencies for
// sequence length `seq_len` and cos/sin scaled by `scale` (or 1 when `unscaled`). Checked inputs.
template <class Arch, class IA, class OA, class IB, class OB, class Delta, class Exec>
void rope_run(const rope& r, index_t seq_len, bool unscaled, const tensor_view<IA>& in_a, const tensor_view<OA>& out_a,
              const tensor_view<IB>& in_b, const tensor_view<OB>& out_b, const Delta& delta, bool shared_by_rows, const Exec& exec) {
    const index_t B = in_a.batch(), L = in_a.tokens(), d = r.rotated();
    if (B == 0 || L == 0 || (in_a.heads() == 0 && in_b.heads() == 0)) return;
    const index_t half = d / 2;
    auto& main = rope_scratch::local();
    float* inv_freq = main.freq.get(half);
    double scale = rope_inv_freq(r, seq_len, inv_freq);
    if (unscaled) scale = 1.0;
    const index_t items = shared_by_rows ? L : checked_mul(B, L, "rope tokens");
    parallel_for(exec, items, [&](index_t item) {
        auto& ws = rope_scratch::local();
        float* c = ws.table.get(2 * d);
        float* s = c + d;
        float* row = ws.row.get(2 * d);
        const index_t t = shared_by_rows ? item : item % L;
        const index_t b_first = shared_by_rows ? 0 : item / L, b_end = shared_by_rows ? B : b_first + 1;
        rope_fill_table(r, inv_freq, scale, delta(b_first, t), c, s);
        for (index_t b = b_first; b < b_end; ++b) {
            for (index_t h = 0; h < in_a.heads(); ++h) rope_row<Arch>(r, in_a.row(b, h, t), out_a.row(b, h, t), c, s, row, row + d);
            for (index_t h = 0; h < in_b.heads(); ++h) rope_row<Arch>(r, in_b.row(b, h, t), out_b.row(b, h, t), c, s, row, row + d);
        }
    });
}

}  // namespace detail

/// The inverse frequencies and attention scaling of `r` for a sequence of `seq_len` tokens, equal to
/// transformers' (default / linear / dynamic / yarn / llama3 init function); only dynamic NTK
/// depends on seq_len (transformers passes max(position_ids) + 1).
inline rope_table rope_frequencies(const rope& r, index_t seq_len) {
    detail::check_rope(r, "rope_frequencies");
    detail::require(seq_len >= 0, "rope_frequencies: seq_len is negative (", seq_len, ")");
    rope_table t;
    detail::checked_resize(t.inv_freq, r.rotated() / 2, "rope_frequencies");
    t.attention_scaling = detail::rope_inv_freq(r, seq_len, t.inv_freq.data());
    return t;
}

/// Rotates `x` [B, H, L, D] in place by each token's position (dynamic NTK takes the sequence length
/// max position + 1 of this call, as transformers does).
template <class Arch = default_arch, class T, class Exec = default_executor>
void apply_rope(const rope& r, tensor_view<T> x, const rope_positions& positions, const Exec& exec = {}) {
    detail::check_rope(r, "apply_rope");
    detail::check_rope_views(r, x, x, "apply_rope", "x", "x");
    const detail::position_source pos(positions, x.batch(), x.tokens(), "apply_rope", "positions");
    detail::rope_run<Arch>(r, pos.max_position() + 1, false, x, x, tensor_view<const float>(), tensor_view<float>(), pos,
                           pos.shared_by_rows(), exec);
}

/// out = `in` rotated by each token's position; out may be `in` itself (same data and strides),
/// no other overlap.
template <class Arch = default_arch, class TI, class TO, class Exec = default_executor>
void apply_rope(const rope& r, tensor_view<TI> in, tensor_view<TO> out, const rope_positions& positions, const Exec& exec = {}) {
    detail::check_rope(r, "apply_rope");
    detail::check_rope_views(r, in, out, "apply_rope", "in", "out");
    const detail::position_source pos(positions, in.batch(), in.tokens(), "apply_rope", "positions");
    detail::rope_run<Arch>(r, pos.max_position() + 1, false, in, out, tensor_view<const float>(), tensor_view<float>(), pos,
                           pos.shared_by_rows(), exec);
}

/// The fused pre-pass: q [B, Hq, L, D] and k [B, Hk, L, D] rotated in place by the same positions,
/// each token's cos/sin table built once for both.
template <class Arch = default_arch, class TQ, class TK, class Exec = default_executor>
void apply_rope_qk(const rope& r, tensor_view<TQ> q, tensor_view<TK> k, const rope_positions& positions, const Exec& exec = {}) {
    detail::check_rope(r, "apply_rope_qk");
    detail::check_rope_views(r, q, q, "apply_rope_qk", "q", "q");
    detail::check_rope_views(r, k, k, "apply_rope_qk", "k", "k");
    detail::require(q.batch() == k.batch() && q.tokens() == k.tokens(), "apply_rope_qk: k has ", k.batch(), " batch rows and ", k.tokens(),
                    " tokens, q ", q.batch(), " and ", q.tokens());
    detail::require(!detail::shares_elements(q, k), "apply_rope_qk: q overlaps k: both would be rotated twice");
    const detail::position_source pos(positions, q.batch(), q.tokens(), "apply_rope_qk", "positions");
    detail::rope_run<Arch>(r, pos.max_position() + 1, false, q, q, k, k, pos, pos.shared_by_rows(), exec);
}

/// StreamingLLM with pre-RoPE keys in the cache: out = `pre_rope_keys` rotated to their positions in
/// the cache (`cache_positions`, usually from_offset(0) over the cache's rows), ready for attention
/// with queries rotated at their own cache positions. The same operation as apply_rope, named for
/// the use.
template <class Arch = default_arch, class TI, class TO, class Exec = default_executor>
void rotate_keys_to_cache(const rope& r, tensor_view<TI> pre_rope_keys, tensor_view<TO> out, const rope_positions& cache_positions,
                          const Exec& exec = {}) {
    detail::check_rope(r, "rotate_keys_to_cache");
    detail::check_rope_views(r, pre_rope_keys, out, "rotate_keys_to_cache", "pre_rope_keys", "out");
    const detail::position_source pos(cache_positions, pre_rope_keys.batch(), pre_rope_keys.tokens(), "rotate_keys_to_cache",
                                      "cache_positions");
    detail::rope_run<Arch>(r, pos.max_position() + 1, false, pre_rope_keys, out, tensor_view<const float>(), tensor_view<float>(), pos,
                           pos.shared_by_rows(), exec);
}

/// Keys already rotated at `from` re-rotated in place to `to` (StreamingLLM after an eviction moves
/// keys down the cache): R(to) = R(to − from) · R(from), so each key turns by its change of position,
/// which costs one rotation instead of a pre-RoPE copy of the cache. YaRN's attention factor m scales
/// cos and sin (m · R(p)), and (m · R(a)) · (m · R(b)) = m² · R(a + b): the change of position is
/// therefore applied without m, leaving the keys' single m in place — exact for every scaling whose
/// frequencies do not depend on the sequence length. Dynamic NTK's do: the frequencies used here are
/// those of sequence length max(to) + 1, exact only if the keys were rotated with the same ones
/// (keep pre-RoPE keys and use rotate_keys_to_cache instead). Rounding: the keys are stored rounded,
/// so a chain of re-rotations accumulates one storage rounding per step (bf16: ~2^−9 each).
template <class Arch = default_arch, class T, class Exec = default_executor>
void rerotate_keys(const rope& r, tensor_view<T> keys, const rope_positions& from, const rope_positions& to, const Exec& exec = {}) {
    detail::check_rope(r, "rerotate_keys");
    detail::check_rope_views(r, keys, keys, "rerotate_keys", "keys", "keys");
    const detail::position_source src(from, keys.batch(), keys.tokens(), "rerotate_keys", "from");
    const detail::position_source dst(to, keys.batch(), keys.tokens(), "rerotate_keys", "to");
    const auto delta = [&](index_t b, index_t t) { return dst(b, t) - src(b, t); };
    detail::rope_run<Arch>(r, dst.max_position() + 1, true, keys, keys, tensor_view<const float>(), tensor_view<float>(), delta,
                           src.shared_by_rows() && dst.shared_by_rows(), exec);
}

}  // namespace attune
