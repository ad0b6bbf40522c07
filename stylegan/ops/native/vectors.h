/* What the compiled kernels share: vectors of VL floats as GCC/Clang vector extensions (compiled for this CPU
   with -march=native), unaligned loads and stores, and whether OpenMP shares the work.

   Built with OpenMP, a kernel's items are shared among the threads of the OpenMP runtime already in the
   process: PyTorch's own libgomp, whose threads are awake between its ops and follow torch.set_num_threads. */

#include <string.h>

#define VL 16 /* floats per vector */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static inline vf load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline int round_up(int n) { return (n + VL - 1) / VL * VL; }

static inline int built_with_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
