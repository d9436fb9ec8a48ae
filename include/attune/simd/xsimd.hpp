#pragma once
// The single include of xsimd. GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512
// intrinsic headers (the _mm512_undefined_* idiom) wherever they are inlined; silencing it for
// those headers here keeps users' -Werror builds clean without hiding warnings in their code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
