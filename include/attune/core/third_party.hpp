#pragma once
// The single include of Eigen and xsimd. GCC 12 reports -W(maybe-)uninitialized inside its own
// AVX-512 intrinsic headers (the _mm512_undefined_* idiom) wherever they are inlined, also in the
// user's Eigen code. Including the intrinsic headers here, first, with that warning silenced keeps
// -Werror builds clean without hiding warnings in anyone's own code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <Eigen/Core>
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
