// <immintrin.h> for the AVX2 / AVX-512 image kernels. GCC 12 reports the intrinsics' deliberately
// undefined registers (_mm512_undefined_*) as (maybe) uninitialised where they are inlined (GCC bug
// 105593), so its warnings are silenced for the header alone.
#pragma once

#ifdef __x86_64__
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif
