/* What the compiled kernels share: vectors of VL floats as GCC/Clang vector extensions (compiled for this CPU
   with -march=native), unaligned loads and stores, and whether OpenMP shares the work.

   Built with OpenMP, a kernel's items are shared among the threads of the OpenMP runtime already in the
   process: PyTorch's own libgomp, whose threads are awake between its ops and follow torch.set_num_threads. */

#include <string.h>

#define VL 16 /* floats per vector */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static inline vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }
/* Keeps v in a register: the compiler would otherwise load it again for each multiply-add that reads it (where
   a vector is one register: with AVX-512). */
#if defined(__AVX512F__)
#define in_register(v) __asm__("" : "+v"(v))
#else
#define in_register(v) (void)(v)
#endif
static inline int round_up(int n) { return (n + VL - 1) / VL * VL; }

/* 1 where a vector is one register (AVX-512): what the kernels are written for (see native/__init__.py, mode()).
   Defined here, so every kernel library has it. */
int vectors_in_registers(void) {
#if defined(__AVX512F__)
    return 1;
#else
    return 0;
#endif
}

static inline int built_with_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Lane shuffles of two vectors with constant patterns (GCC 12 and Clang), else lane by lane. */
#if defined(__clang__) || __GNUC__ >= 12
#define HAS_SHUFFLES 1
#else
#define HAS_SHUFFLES 0
#endif

/* Lanes s .. s + VL - 1 of the 2 VL lanes of a followed by b, for a constant s in 1 .. VL - 1. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define shift_lanes(a, b, s) ((vf)_mm512_alignr_epi32((__m512i)(b), (__m512i)(a), (s)))
#elif HAS_SHUFFLES
#define LANES(s) s, s + 1, s + 2, s + 3, s + 4, s + 5, s + 6, s + 7, s + 8, s + 9, s + 10, s + 11, s + 12, s + 13, \
                 s + 14, s + 15
#define shift_lanes(a, b, s) __builtin_shufflevector(a, b, LANES(s))
#else
static inline vf shift_lanes(vf a, vf b, int s) {
    vf out;
    for (int j = 0; j < VL; j++) out[j] = j + s < VL ? a[j + s] : b[j + s - VL];
    return out;
}
#endif

/* Lanes 0..7 of a and b alternated (a0 b0 a1 b1 ...), and lanes 8..15. */
static inline vf zip_low(vf a, vf b) {
#if HAS_SHUFFLES
    return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
#else
    vf out;
    for (int j = 0; j < VL / 2; j++) out[2 * j] = a[j], out[2 * j + 1] = b[j];
    return out;
#endif
}

static inline vf zip_high(vf a, vf b) {
#if HAS_SHUFFLES
    return __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
#else
    vf out;
    for (int j = 0; j < VL / 2; j++) out[2 * j] = a[VL / 2 + j], out[2 * j + 1] = b[VL / 2 + j];
    return out;
#endif
}

/* The even and the odd lanes of the 32 lanes of a followed by b: zip_low and zip_high undone. */
static inline vf even_lanes(vf a, vf b) {
#if HAS_SHUFFLES
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
#else
    vf out;
    for (int j = 0; j < VL / 2; j++) out[j] = a[2 * j], out[VL / 2 + j] = b[2 * j];
    return out;
#endif
}

static inline vf odd_lanes(vf a, vf b) {
#if HAS_SHUFFLES
    return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#else
    vf out;
    for (int j = 0; j < VL / 2; j++) out[j] = a[2 * j + 1], out[VL / 2 + j] = b[2 * j + 1];
    return out;
#endif
}
