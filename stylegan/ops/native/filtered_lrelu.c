/* filtered_lrelu on the CPU: bias, upsampling, leaky ReLU and clamp, downsampling, one image plane at a time.

   Each plane goes through four separable FIR passes (up along x, up along y, the nonlinearity, down along x,
   down along y) in buffers small enough to stay in the core's cache, so no intermediate signal goes back to
   memory. Upsampling is polyphase: sample u = q * up + r of the upsampled signal is a short FIR over the
   input at q + offset[r]. Along x the upsampled rows are stored by phase, which keeps every pass a sum of
   contiguous, shifted rows; since the upsampling factor is a multiple of the downsampling factor, the phases
   are already the decimated signals the x down-pass reads when the two factors are equal.

   Every pass is one routine, fir(): a few output rows at once, each a weighted sum of the same window of
   input rows, so that each input vector is loaded once for all the outputs that read it (the phases of an
   upsampling, two neighbouring rows of a downsampling). It computes whole vectors: buffers have a vector of
   slack, and the lanes past the end of a row are computed and discarded.

   Built by stylegan/ops/native/__init__.py with the machine's C compiler. */

#include <stdlib.h>

#include "vectors.h"

int filtered_lrelu_parallel(void) { return built_with_openmp(); }

#define MAX_ROWS 8      /* output rows of one fir() call: the largest upsampling factor */
#define MAX_WINDOW 64   /* input rows of one fir() call */
#define MAX_VECTORS 4   /* output vectors of each row that one step of fir() computes */

typedef struct {
    int up;              /* upsampling factor */
    int taps;            /* taps of each phase */
    int size;            /* samples of the padded, upsampled signal that the nonlinearity sees */
    const int *offset;   /* [up] input index of the first tap of sample u = q * up + r, minus q */
    const float *weight; /* [up][taps] */
} upsampling;


/* Output vectors o .. o + vectors - 1 of each row: rows * vectors independent sums, so that a few rows still
   keep the core's multiply-add units busy instead of waiting on one chain of additions. */
static inline __attribute__((always_inline)) void fir_block(
    const float *const *src, int window, const float *w, int rows, float *const *dst, int o, int vectors) {
    vf acc[MAX_ROWS][MAX_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < vectors; j++) acc[r][j] = (vf){0};
    for (int i = 0; i < window; i++) {
        for (int j = 0; j < vectors; j++) {
            vf v = load(src[i] + o + j * VL);
            for (int r = 0; r < rows; r++) acc[r][j] += w[r * window + i] * v;
        }
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < vectors; j++) store(dst[r] + o + j * VL, acc[r][j]);
}

static inline __attribute__((always_inline)) void fir_rows(
    const float *const *src, int window, const float *w, int rows, float *const *dst, int count, int vectors) {
    int o = 0;
    for (; o + vectors * VL <= round_up(count); o += vectors * VL) fir_block(src, window, w, rows, dst, o, vectors);
    switch ((round_up(count) - o) / VL) { /* the rest of the row in one step too */
        case 1: fir_block(src, window, w, rows, dst, o, 1); break;
        case 2: fir_block(src, window, w, rows, dst, o, 2); break;
        case 3: fir_block(src, window, w, rows, dst, o, 3); break;
    }
}

/* dst[r][o] = sum_i w[r * window + i] * src[i][o] for r < rows and o < round_up(count). */
static void fir(const float *const *src, int window, const float *w, int rows, float *const *dst, int count) {
    switch (rows) {
        case 1: fir_rows(src, window, w, 1, dst, count, 4); break;
        case 2: fir_rows(src, window, w, 2, dst, count, 2); break;
        case 4: fir_rows(src, window, w, 4, dst, count, 1); break;
        default: fir_rows(src, window, w, rows, dst, count, 1);
    }
}

/* The x down-pass of factor 2 (every layer of the presets), taps <= 2 * MAX_SHIFT: tap k = 2 s + d reads phase d
   of the row, shifted by s. Instead of one unaligned load per tap, each phase is loaded once as two vectors
   and shifted in registers; the taps are summed in four independent chains. */
#define MAX_SHIFT 8
#define LANES(s) s, s + 1, s + 2, s + 3, s + 4, s + 5, s + 6, s + 7, s + 8, s + 9, s + 10, s + 11, s + 12, s + 13, \
                 s + 14, s + 15
static void down2(const float *row, int phase_stride, const float *w, int taps, float *dst, int count) {
    for (int o = 0; o < count; o += VL) {
        vf acc[4] = {{0}};
        for (int d = 0; d < 2; d++) {
            const vf a = load(row + d * phase_stride + o), b = load(row + d * phase_stride + o + VL);
            const int n = (taps - d + 1) / 2; /* the taps of phase d */
            const float *wd = w + d;
#if HAS_SHUFFLES
#define TAP(s, v) if (s < n) acc[2 * d + (s & 1)] += wd[2 * s] * (v);
            TAP(0, a)
            TAP(1, __builtin_shufflevector(a, b, LANES(1)))
            TAP(2, __builtin_shufflevector(a, b, LANES(2)))
            TAP(3, __builtin_shufflevector(a, b, LANES(3)))
            TAP(4, __builtin_shufflevector(a, b, LANES(4)))
            TAP(5, __builtin_shufflevector(a, b, LANES(5)))
            TAP(6, __builtin_shufflevector(a, b, LANES(6)))
            TAP(7, __builtin_shufflevector(a, b, LANES(7)))
#undef TAP
#else
            for (int s = 0; s < n; s++) acc[2 * d + (s & 1)] += wd[2 * s] * load(row + d * phase_stride + o + s);
            (void)a, (void)b;
#endif
        }
        store(dst + o, (acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}

/* dst[2 i] = even[i], dst[2 i + 1] = odd[i] for i < round_up(count). */
static void interleave2(const float *even, const float *odd, float *dst, int count) {
    for (int i = 0; i < count; i += VL) {
        const vf a = load(even + i), b = load(odd + i);
        store(dst + 2 * i, zip_low(a, b));
        store(dst + 2 * i + VL, zip_high(a, b));
    }
}

static float *buffer(size_t floats) {  /* zeroed, vector-aligned, with a vector of slack */
    size_t bytes = (floats + 2 * VL) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

/* The phases of an upsampling as one window: phase r reads input lo + i for i < window, with weights
   dense[r][i] (zero outside its own taps). */
typedef struct { int lo, window; float dense[MAX_ROWS * MAX_WINDOW]; } phase_window;

static int make_window(const upsampling *a, phase_window *pw) {
    int lo = a->offset[0], hi = a->offset[0];
    for (int r = 1; r < a->up; r++) {
        if (a->offset[r] < lo) lo = a->offset[r];
        if (a->offset[r] > hi) hi = a->offset[r];
    }
    pw->lo = lo;
    pw->window = hi - lo + a->taps;
    if (a->up > MAX_ROWS || pw->window > MAX_WINDOW) return 0;
    memset(pw->dense, 0, sizeof pw->dense);
    for (int r = 0; r < a->up; r++)
        for (int m = 0; m < a->taps; m++)
            pw->dense[r * pw->window + a->offset[r] - lo + m] = a->weight[r * a->taps + m];
    return 1;
}

/* Returns 0; 1 when scratch memory cannot be had, 2 for arguments the caller should have refused.
   derivative (may be NULL) receives, for the backward pass, the derivative of the activation at each sample
   of the upsampled signal: 1 or slope by the sign, 0 where the clamp holds it; stored by phase along x,
   [size_y][up][P] with P = ceil(size_x / up), sample u = q * up + r at [r][q]. */
int filtered_lrelu_forward(
    const float *x, const float *bias, float *out, float *derivative,
    int plane_begin, int plane_end, int channels, int height, int width,
    const upsampling *ax, const upsampling *ay,
    int down, int down_taps, const float *down_x, const float *down_y, int out_height, int out_width,
    float slope, float limit)
{
    phase_window wx, wy;
    int down_window = down_taps + down;  /* two output rows of the y down-pass */
    if (!make_window(ax, &wx) || !make_window(ay, &wy) || ax->up % down || down > MAX_ROWS
        || down_window > MAX_WINDOW || ay->up > MAX_ROWS) return 2;
    int sx = ax->size, sy = ay->size, up = ax->up, step = up / down, longest = (sx + up - 1) / up;
    int phase = round_up(longest), row = up * phase;  /* a row of the x-upsampled signal */
    int margin = wx.lo < 0 ? -wx.lo : 0;  /* zeros before the input row, as far as the taps reach */
    int row_in = margin + wx.lo + wx.window + phase;
    if (row_in < margin + width) row_in = margin + width;
    int decimated = (sx + down - 1) / down;
    int reach = (down_taps - 1) / down + round_up(out_width);
    if (reach > decimated) decimated = reach;
    int c_row = round_up(out_width);
    /* Tap k of the x down-pass reads phase k % down of the decimated row, shifted by k / down: its offset
       from the row's start, with the phases `phase` apart in B (step 1) or `decimated` apart in Y. */
    int tap_offset[MAX_WINDOW];
    for (int k = 0; k < down_taps; k++) tap_offset[k] = (k % down) * (step == 1 ? phase : decimated) + k / down;
    float pair[2 * MAX_WINDOW] = {0};  /* the y down-pass weights of output rows o and o + 1 */
    for (int k = 0; k < down_taps; k++) {
        pair[k] = down_y[k];
        pair[down_window + down + k] = down_y[k];
    }

    int status = 0;
#pragma omp parallel reduction(| : status) if (plane_end - plane_begin > 1)
    {
    float *xr = buffer(row_in), *A = buffer((size_t)height * row), *B = buffer((size_t)MAX_ROWS * row);
    float *D = buffer(row), *C = buffer((size_t)sy * c_row);
    float *Y = buffer((size_t)down * decimated + 2 * VL); /* interleave2 writes whole vectors past the last row */
    float *out_rows = buffer(2 * (size_t)c_row);
    status = !(xr && A && B && D && Y && C && out_rows);
    const float *src[MAX_WINDOW];
    float *dst[MAX_ROWS], w[MAX_ROWS * MAX_WINDOW];
#pragma omp for schedule(static)
    for (int p = plane_begin; p < plane_end; p++) {
        if (status) continue;
        const float *xp = x + (size_t)p * height * width;
        float b = bias ? bias[p % channels] : 0.f;
        for (int h = 0; h < height; h++) {  /* bias, then upsample along x */
            const float *in = xp + (size_t)h * width;
            for (int j = 0; j < width; j++) xr[margin + j] = in[j] + b;
            for (int i = 0; i < wx.window; i++) src[i] = xr + margin + wx.lo + i;
            for (int r = 0; r < up; r++) dst[r] = A + (size_t)h * row + r * phase;
            fir(src, wx.window, wx.dense, up, dst, longest);
        }
        float *dp = derivative ? derivative + (size_t)p * sy * up * longest : NULL;
        for (int q = 0; q * ay->up < sy; q++) {  /* upsample along y: the rows of one input window at once */
            int rows = sy - q * ay->up < ay->up ? sy - q * ay->up : ay->up;
            int first = q + wy.lo < 0 ? -(q + wy.lo) : 0;  /* rows outside the input are zeros: left out */
            int last = q + wy.lo + wy.window > height ? height - q - wy.lo : wy.window;
            int n = last > first ? last - first : 0;
            for (int i = 0; i < n; i++) src[i] = A + (size_t)(q + wy.lo + first + i) * row;
            for (int r = 0; r < rows; r++) {
                dst[r] = B + (size_t)r * row;
                for (int i = 0; i < n; i++) w[r * n + i] = wy.dense[r * wy.window + first + i];
            }
            fir(src, n, w, rows, dst, row);
            for (int r = 0; r < rows; r++) {  /* activate, then downsample along x */
                int v = q * ay->up + r;
                float *bv = B + (size_t)r * row;
                if (dp || slope > 1.f) { /* slope >= 0: filtered_lrelu refuses others */
                    for (int u = 0; u < row; u++) {
                        float t = bv[u], a = t > 0.f ? t : t * slope;
                        if (dp) D[u] = (a >= limit || a <= -limit) ? 0.f : (t > 0.f ? 1.f : slope);
                        bv[u] = a > limit ? limit : (a < -limit ? -limit : a);
                    }
                } else { /* for 0 <= slope <= 1 the leaky ReLU is max(t, slope t): three vector operations */
                    for (int u = 0; u < row; u++) {
                        float t = bv[u], scaled = t * slope, a = t > scaled ? t : scaled;
                        bv[u] = a > limit ? limit : (a < -limit ? -limit : a);
                    }
                }
                if (dp) {
                    float *d = dp + (size_t)v * up * longest;
                    for (int r2 = 0; r2 < up; r2++)
                        memcpy(d + r2 * longest, D + r2 * phase, sizeof(float) * ((sx - r2 + up - 1) / up));
                }
                const float *decimated_row = bv;
                if (step == 2 && down == 2) { /* up 4, down 2: decimated phase d alternates phases d and d + 2 */
                    for (int d = 0; d < 2; d++)
                        interleave2(bv + d * phase, bv + (d + 2) * phase, Y + d * decimated, longest);
                    decimated_row = Y;
                } else if (step != 1) {
                    for (int r2 = 0; r2 < up; r2++) {
                        float *yp = Y + (r2 % down) * decimated + r2 / down;
                        const float *bp = bv + r2 * phase;
                        for (int i = 0, u = r2; u < sx; i++, u += up) yp[i * step] = bp[i];
                    }
                    decimated_row = Y;
                }
                float *c = C + (size_t)v * c_row;
                if (down == 2 && down_taps <= 2 * MAX_SHIFT) {
                    down2(decimated_row, step == 1 ? phase : decimated, down_x, down_taps, c, out_width);
                } else {
                    for (int k = 0; k < down_taps; k++) src[k] = decimated_row + tap_offset[k];
                    fir(src, down_taps, down_x, 1, &c, out_width);
                }
            }
        }
        float *op = out + (size_t)p * out_height * out_width;
        for (int o = 0; o < out_height; o += 2) {  /* downsample along y, two output rows at once */
            int rows = out_height - o < 2 ? 1 : 2, window = rows == 2 ? down_window : down_taps;
            for (int i = 0; i < window; i++) src[i] = C + (size_t)(o * down + i) * c_row;
            dst[0] = out_rows;
            dst[1] = out_rows + c_row;
            fir(src, window, rows == 2 ? pair : down_y, rows, dst, out_width);
            for (int r = 0; r < rows; r++)
                memcpy(op + (size_t)(o + r) * out_width, dst[r], sizeof(float) * out_width);
        }
    }
    free(xr); free(A); free(B); free(D); free(Y); free(C); free(out_rows);
    }
    return status;
}

/* The gradient with respect to the biased input x of the forward pass above, from the gradient of its output
   and the derivative the forward pass saved: every pass transposed, in the opposite order. The transposed
   x passes read shifted rows on both sides of each sample, so the rows they read carry zeros around their
   samples (left margins, and the lanes past each phase's end). */
int filtered_lrelu_backward(
    const float *grad_out, const float *derivative, float *grad_x,
    int plane_begin, int plane_end, int height, int width,
    const upsampling *ax, const upsampling *ay,
    int down, int down_taps, const float *down_x, const float *down_y, int out_height, int out_width)
{
    phase_window wx;  /* its span of input offsets: lo to lo + window - 1 */
    if (!make_window(ax, &wx) || ax->up % down || down > MAX_ROWS || ax->up * ax->taps > MAX_WINDOW
        || ay->up * ay->taps > MAX_WINDOW || down_taps > MAX_WINDOW) return 2;
    int sx = ax->size, sy = ay->size, up = ax->up, step = up / down;
    int c_row = round_up(out_width), g_margin = round_up((down_taps + down - 1) / down);
    int decimated = round_up((sx + down - 1) / down) + VL;
    int t_margin = wx.lo + wx.window - 1 > 0 ? wx.lo + wx.window - 1 : 0;
    int reach = round_up(width) - wx.lo, longest = (sx + up - 1) / up;
    int t_phase = round_up(t_margin + (reach > longest ? reach : longest) + VL), t_row = up * t_phase;

    int status = 0;
#pragma omp parallel reduction(| : status) if (plane_end - plane_begin > 1)
    {
    float *G = buffer((size_t)out_height * c_row);              /* grad_out, rows padded to vectors */
    float *gc = buffer(g_margin + decimated + c_row);           /* one row of the y down-pass gradient */
    float *gy = buffer((size_t)down * decimated);               /* its x down-pass gradient, by phase */
    float *T = buffer((size_t)sy * t_row);                      /* the activation's input gradient, by phase */
    float *ga = buffer(t_row), *gx = buffer(round_up(width));
    status = !(G && gc && gy && T && ga && gx);
    const float *src[MAX_WINDOW];
    float *dst[1], w[MAX_WINDOW];
#pragma omp for schedule(static)
    for (int p = plane_begin; p < plane_end; p++) {
        if (status) continue;
        const float *gp = grad_out + (size_t)p * out_height * out_width;
        for (int o = 0; o < out_height; o++) memcpy(G + (size_t)o * c_row, gp + (size_t)o * out_width, sizeof(float) * out_width);
        const float *dp = derivative + (size_t)p * sy * up * longest;
        for (int v = 0; v < sy; v++) {
            int n = 0;  /* y down-pass, transposed: the output rows o that read row v, tap v - o * down */
            for (int o = v / down; o >= 0 && v - o * down < down_taps; o--) {
                if (o >= out_height) continue;
                src[n] = G + (size_t)o * c_row;
                w[n++] = down_y[v - o * down];
            }
            dst[0] = gc + g_margin;
            fir(src, n, w, 1, dst, out_width);
            for (int d = 0; d < down; d++) {  /* x down-pass, transposed, one decimation phase at a time */
                int m = 0;
                for (int k = d; k < down_taps; k += down, m++) {
                    src[m] = gc + g_margin - m;
                    w[m] = down_x[k];
                }
                dst[0] = gy + d * decimated;
                fir(src, m, w, 1, dst, (sx - d + down - 1) / down);
            }
            float *t = T + (size_t)v * t_row;  /* times the derivative, into the upsampling's phases */
            const float *dv = dp + (size_t)v * up * longest;
            for (int r = 0; r < up; r++) {
                const float *yp = gy + (r % down) * decimated + r / down, *dr = dv + r * longest;
                float *tp = t + r * t_phase + t_margin;
                int count = (sx - r + up - 1) / up;
                if (step == 1) {
                    for (int q = 0; q < count; q++) tp[q] = yp[q] * dr[q];
                } else {
                    for (int q = 0; q < count; q++) tp[q] = yp[q * step] * dr[q];
                }
            }
        }
        float *xp = grad_x + (size_t)p * height * width;
        for (int h = 0; h < height; h++) {
            int n = 0;  /* y upsampling, transposed: row v = q * up + r reads input row q + offset[r] + m */
            for (int r = 0; r < ay->up; r++)
                for (int m = 0; m < ay->taps; m++) {
                    int q = h - ay->offset[r] - m, v = q * ay->up + r;
                    if (q < 0 || v >= sy) continue;
                    src[n] = T + (size_t)v * t_row;
                    w[n++] = ay->weight[r * ay->taps + m];
                }
            for (int r = 0; r < up; r++) {  /* each phase's samples only: the lanes around them stay zero */
                const float *shifted[MAX_WINDOW];
                for (int i = 0; i < n; i++) shifted[i] = src[i] + r * t_phase + t_margin;
                dst[0] = ga + r * t_phase + t_margin;
                fir(shifted, n, w, 1, dst, (sx - r + up - 1) / up);
            }
            n = 0;  /* x upsampling, transposed: phase r at q reads input q + offset[r] + m */
            for (int r = 0; r < up; r++)
                for (int m = 0; m < ax->taps; m++) {
                    src[n] = ga + r * t_phase + t_margin - ax->offset[r] - m;
                    w[n++] = ax->weight[r * ax->taps + m];
                }
            dst[0] = gx;
            fir(src, n, w, 1, dst, width);
            memcpy(xp + (size_t)h * width, gx, sizeof(float) * width);
        }
    }
    free(G); free(gc); free(gy); free(T); free(ga); free(gx);
    }
    return status;
}
