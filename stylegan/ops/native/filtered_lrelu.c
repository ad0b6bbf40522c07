/* filtered_lrelu on the CPU: bias, upsampling, leaky ReLU and clamp, downsampling, one image plane at a time.

   Each plane goes through separable FIR passes (up along x, up along y, the nonlinearity, down along x, down
   along y) in buffers of about a plane, which stay in the core's cache. Upsampling is polyphase: sample
   u = q * up + r of the upsampled signal is a short FIR over the input at q + offset[r]. Every signal is kept
   by phase, and along x the upsampling's phases are interleaved into the downsampling's, so that every pass is
   a sum of contiguous, shifted rows (see filtered_lrelu_forward).

   Most passes are one routine, fir(): a few output rows at once, each a weighted sum of the same window of
   input rows, so that each input vector is loaded once for all the outputs that read it (the phases of an
   upsampling). It computes whole vectors: buffers have a vector of slack, and the lanes past the end of a row
   are computed and discarded. The x down-pass is shifted_sum().

   Built by stylegan/ops/native/__init__.py with the machine's C compiler. */

#include <stdlib.h>

#include "vectors.h"

int filtered_lrelu_parallel(void) { return built_with_openmp(); }

#define MAX_ROWS 8      /* output rows of one fir() call: the largest upsampling factor */
#define MAX_WINDOW 64   /* input rows of one fir() call */
#define MAX_VECTORS 8   /* output vectors of each row that one step of fir() computes */

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
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 8
        for (int j = 0; j < vectors; j++) acc[r][j] = (vf){0};
    for (int i = 0; i < window; i++) {
#pragma GCC unroll 8
        for (int j = 0; j < vectors; j++) {
            vf v = load(src[i] + o + j * VL);
            in_register(v);
#pragma GCC unroll 8
            for (int r = 0; r < rows; r++) acc[r][j] += w[r * window + i] * v;
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 8
        for (int j = 0; j < vectors; j++) store(dst[r] + o + j * VL, acc[r][j]);
}

static inline __attribute__((always_inline)) void fir_rows(
    const float *const *src, int window, const float *w, int rows, float *const *dst, int count, int vectors) {
    int o = 0, end = round_up(count);
    for (; o + vectors * VL <= end; o += vectors * VL) fir_block(src, window, w, rows, dst, o, vectors);
    for (int left = vectors / 2; left >= 1; left /= 2)  /* the rest of the row in halving steps */
        if (o + left * VL <= end) {
            if (left == 4) fir_block(src, window, w, rows, dst, o, 4);
            else if (left == 2) fir_block(src, window, w, rows, dst, o, 2);
            else fir_block(src, window, w, rows, dst, o, 1);
            o += left * VL;
        }
}

/* dst[r][o] = sum_i w[r * window + i] * src[i][o] for r < rows and o < round_up(count). */
static void fir(const float *const *restrict src, int window, const float *restrict w, int rows,
                float *const *restrict dst, int count) {
    /* restrict: the stores cannot change src, w or dst, so they are not read again after each store */
    switch (rows) {
        case 1: fir_rows(src, window, w, 1, dst, count, 8); break;
        case 2: fir_rows(src, window, w, 2, dst, count, 4); break;
        case 4: fir_rows(src, window, w, 4, dst, count, 2); break;
        default: fir_rows(src, window, w, rows, dst, count, 1);
    }
}

/* dst[o] = sum_j sum_s w[j][s] * plane_j[o + s] for o < round_up(count), with plane j at base + j * stride and
   shifts s < MAX_SHIFT: the x down-pass, whose taps read the phases of the upsampled row shifted by a few samples.
   Instead of an unaligned load per tap, each plane is loaded once as two vectors and shifted in registers.
   The numbers of planes and of shifts are compile-time constants here, so the weights stay in registers. */
#define MAX_SHIFT 8
#define MAX_PLANES 8
static inline __attribute__((always_inline)) void shifted_sum_body(
    const float *base, size_t stride, const int planes, const float *w, const int shifts, float *dst, int count) {
    vf weight[MAX_PLANES][MAX_SHIFT];
#pragma GCC unroll 8
    for (int j = 0; j < planes; j++)
#pragma GCC unroll 8
        for (int k = 0; k < shifts; k++) weight[j][k] = (vf){0} + w[j * MAX_SHIFT + k];
    for (int o = 0; o < count; o += VL) {
        vf acc[4] = {{0}};
#pragma GCC unroll 8
        for (int j = 0; j < planes; j++) {
            const vf a = load(base + j * stride + o), b = load(base + j * stride + o + VL);
            acc[0] += weight[j][0] * a;  /* shift k for k < shifts, spelled out: shift_lanes takes a constant */
#define SHIFTED(k) if (k < shifts) acc[k & 3] += weight[j][k] * shift_lanes(a, b, k);
            SHIFTED(1) SHIFTED(2) SHIFTED(3) SHIFTED(4) SHIFTED(5) SHIFTED(6) SHIFTED(7)
#undef SHIFTED
        }
        store(dst + o, (acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}

#define SHIFTED_SUM_CASE(planes, shifts) \
    case planes * 16 + shifts: shifted_sum_body(base, stride, planes, w, shifts, dst, count); return;

static void shifted_sum(const float *base, size_t stride, int planes, const float *restrict w_, int shifts,
                        float *dst, int count) {
    float w[MAX_PLANES * MAX_SHIFT];  /* a local copy, which the stores cannot change */
    memcpy(w, w_, sizeof w);
    switch (planes * 16 + shifts) {
        SHIFTED_SUM_CASE(1, 1) SHIFTED_SUM_CASE(1, 2) SHIFTED_SUM_CASE(1, 3) SHIFTED_SUM_CASE(1, 4)
        SHIFTED_SUM_CASE(1, 5) SHIFTED_SUM_CASE(1, 6) SHIFTED_SUM_CASE(1, 7) SHIFTED_SUM_CASE(1, 8)
        SHIFTED_SUM_CASE(2, 1) SHIFTED_SUM_CASE(2, 2) SHIFTED_SUM_CASE(2, 3) SHIFTED_SUM_CASE(2, 4)
        SHIFTED_SUM_CASE(2, 5) SHIFTED_SUM_CASE(2, 6) SHIFTED_SUM_CASE(2, 7) SHIFTED_SUM_CASE(2, 8)
        SHIFTED_SUM_CASE(4, 1) SHIFTED_SUM_CASE(4, 2) SHIFTED_SUM_CASE(4, 3) SHIFTED_SUM_CASE(4, 4)
    }
    for (int j = 0; j < planes; j++)  /* other shapes: one plane at a time, added up in dst */
        for (int o = 0; o < count; o += VL) {
            vf acc = j ? load(dst + o) : (vf){0};
            for (int k = 0; k < shifts; k++) acc += w[j * MAX_SHIFT + k] * load(base + j * stride + o + k);
            store(dst + o, acc);
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

static int max2(int a, int b) { return a > b ? a : b; }
static int min2(int a, int b) { return a < b ? a : b; }
static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Returns 0; 1 when scratch memory cannot be had, 2 for arguments the caller should have refused.
   derivative (may be NULL) receives, for the backward pass, the derivative of the activation at each sample
   of the upsampled signal: 1 or slope by the sign, 0 where the clamp holds it; stored by phase along x,
   [size_y][up][P] with P = ceil(size_x / up), sample u = q * up + r at [r][q].

   A plane's signals are kept by phase, each phase a flat array of rows a whole number of vectors apart, so
   that a pass over a phase is one fir() call over all its rows at once (the few lanes past each row's end
   computed and discarded) with aligned loads and stores, instead of a call per row. Zeros around the input
   (its padding) are zero rows, and the zero tail of each row. Along x, the phases of the upsampling are
   interleaved into the phases of the downsampling as soon as they are made (up 4, down 2: phases 0 and 2,
   1 and 3), so that the x down-pass sums shifted copies of `down` phases. */
int filtered_lrelu_forward(
    const float *x, const float *bias, float *out, float *derivative,
    int plane_begin, int plane_end, int channels, int height, int width,
    const upsampling *ax, const upsampling *ay,
    int down, int down_taps, const float *down_x, const float *down_y, int out_height, int out_width,
    float slope, float limit)
{
    phase_window wx, wy;
    if (!make_window(ax, &wx) || !make_window(ay, &wy) || ax->up % down || ay->up % down || down > MAX_ROWS
        || down_taps > MAX_WINDOW) return 2;
    const int ux = ax->up, uy = ay->up, sx = ax->size, sy = ay->size;
    const int nx = ceil_div(sx, ux), ny = ceil_div(sy, uy);  /* the longest phase along each axis */
    const int step_x = ux / down, step_y = uy / down;
    /* Only the input the upsampling's taps reach: columns c0 .. c0 + cols - 1, rows r0 .. r0 + rows_in - 1,
       which the taps read from lo_x <= 0 and lo_y <= 0 on (negative padding crops the input) */
    int c0 = max2(0, wx.lo), cols = max2(0, min2(width, nx + wx.lo + wx.window - 1) - c0), lo_x = wx.lo - c0;
    int r0 = max2(0, wy.lo), rows_in = max2(0, min2(height, ny + wy.lo + wy.window - 1) - r0), lo_y = wy.lo - r0;
    int S = round_up(nx);  /* the row stride of the x upsampling's phases */
    int T = step_x * S;    /* the row stride of the downsampling's phases: `step_x` upsampling phases each */
    /* The x upsampling is one fir() call over all rows where a row of S floats holds the input row and the
       zeros its taps reach on the right, the previous row's tail serving as the zeros on the left; else a
       call per row, on rows of row_in floats. */
    int margin = -lo_x, flat = max2(cols - lo_x, nx + lo_x + wx.window - 1) <= S;
    int row_in = flat ? S : max2(margin + cols, wx.window + S);
    size_t in_floats = flat ? margin + (size_t)(rows_in + 2) * S : (size_t)rows_in * row_in;
    int top = -lo_y, bottom = max2(0, ny + lo_y + wy.window - 1 - rows_in);  /* zero rows around them */
    int a_rows = top + rows_in + bottom + 1;
    size_t a_plane = (size_t)a_rows * S + VL, d_plane = (size_t)a_rows * T + 2 * VL;
    int shifts = (down_taps - 1) / down + 1;  /* of each phase in the x down-pass */
    int tile = max2(1, 6144 / (down * uy * T));  /* rows of each phase of the activation's input at once */
    if (tile > ny) tile = ny;
    size_t b_plane = (size_t)tile * T + shifts + 2 * VL;
    size_t c_plane = (size_t)(ny + 1) * T + VL;
    size_t o_plane = (size_t)ceil_div(out_height, step_y) * T + VL;
    float x_taps[MAX_PLANES * MAX_SHIFT] = {0};  /* tap k = s * down + d of the x down-pass: phase d, shift s */
    int shifts_fit = shifts <= MAX_SHIFT && down <= MAX_PLANES;
    for (int k = 0; shifts_fit && k < down_taps; k++) x_taps[(k % down) * MAX_SHIFT + k / down] = down_x[k];

    int status = 0;
#pragma omp parallel reduction(| : status) if (plane_end - plane_begin > 1)
    {
    float *I = buffer(in_floats), *A = buffer(ux * a_plane), *D = step_x > 1 ? buffer(down * d_plane) : A;
    float *B = buffer((size_t)down * uy * b_plane), *C = buffer((size_t)uy * c_plane);
    float *O = buffer((size_t)step_y * o_plane);
    status = !(I && A && D && B && C && O);
    const float *src[MAX_WINDOW];
    float *dst[MAX_ROWS];
    size_t x_plane = step_x > 1 ? d_plane : a_plane;  /* of the downsampling's phases, D */
#pragma omp for schedule(static)
    for (int p = plane_begin; p < plane_end; p++) {
        if (status) continue;
        const float *xp = x + (size_t)p * height * width;
        float b = bias ? bias[p % channels] : 0.f;
        for (int h = 0; h < rows_in; h++) {  /* bias, first for all rows: no load waits on a store just made */
            const float *xr = xp + (size_t)(r0 + h) * width + c0;
            float *ir = I + margin + (size_t)h * row_in;
            for (int j = 0; j < cols; j++) ir[j] = xr[j] + b;
        }
        if (flat) {  /* upsample along x */
            for (int i = 0; i < wx.window; i++) src[i] = I + margin + lo_x + i;
            for (int r = 0; r < ux; r++) dst[r] = A + r * a_plane + (size_t)top * S;
            fir(src, wx.window, wx.dense, ux, dst, rows_in * S);
        } else {
            for (int h = 0; h < rows_in; h++) {
                for (int i = 0; i < wx.window; i++) src[i] = I + margin + (size_t)h * row_in + lo_x + i;
                for (int r = 0; r < ux; r++) dst[r] = A + r * a_plane + (size_t)(top + h) * S;
                fir(src, wx.window, wx.dense, ux, dst, nx);
            }
        }
        for (int r = 0; r < ux; r++)  /* the whole vectors fir() wrote past the last row */
            memset(A + r * a_plane + (size_t)(top + rows_in) * S, 0, sizeof(float) * VL);
        for (int d = 0; d < down && step_x > 1; d++) {  /* phase d of the downsampling: d, d + down, ... */
            float *xd = D + d * d_plane;
            if (step_x == 2) {
                interleave2(A + d * a_plane, A + (d + down) * a_plane, xd, a_rows * S);
            } else {
                for (int j = 0; j < step_x; j++) {
                    const float *ar = A + (d + down * j) * a_plane;
                    for (int t = 0; t < a_rows * S; t++) xd[t * step_x + j] = ar[t];
                }
            }
        }
        float *dp = derivative ? derivative + (size_t)p * sy * ux * nx : NULL;
        for (int q0 = 0; q0 < ny; q0 += tile) {
            int rows = ny - q0 < tile ? ny - q0 : tile, count = rows * T;
            for (int d = 0; d < down; d++) {  /* upsample along y: all y phases of one x phase at once */
                const float *xd = D + d * x_plane + (size_t)q0 * T;  /* row q0 + lo_y of the input */
                for (int i = 0; i < wy.window; i++) src[i] = xd + (size_t)i * T;
                for (int ry = 0; ry < uy; ry++) dst[ry] = B + (size_t)(ry * down + d) * b_plane;
                fir(src, wy.window, wy.dense, uy, dst, count);
            }
            for (int ry = 0; dp && ry < uy; ry++)
                for (int q = q0; q < q0 + rows && q * uy + ry < sy; q++)
                    for (int rx = 0; rx < ux; rx++) {  /* x phase rx: lanes rx / down of phase rx % down */
                        const float *t = B + (size_t)(ry * down + rx % down) * b_plane + (size_t)(q - q0) * T
                                         + rx / down;
                        float *dr = dp + ((size_t)(q * uy + ry) * ux + rx) * nx;
                        for (int u = 0, n = (sx - rx + ux - 1) / ux; u < n; u++) {
                            float v = t[u * step_x], a = v > 0.f ? v : v * slope;
                            dr[u] = (a >= limit || a <= -limit) ? 0.f : (v > 0.f ? 1.f : slope);
                        }
                    }
            for (int k = 0; k < down * uy; k++) {  /* leaky ReLU and clamp */
                float *bv = B + (size_t)k * b_plane;
                if (slope > 1.f) {  /* slope >= 0: filtered_lrelu refuses others */
                    for (int u = 0; u < count; u++) {
                        float t = bv[u], a = t > 0.f ? t : t * slope;
                        bv[u] = a > limit ? limit : (a < -limit ? -limit : a);
                    }
                } else {  /* for 0 <= slope <= 1 the leaky ReLU is max(t, slope t): three vector operations */
                    for (int u = 0; u < count; u++) {
                        float t = bv[u], scaled = t * slope, a = t > scaled ? t : scaled;
                        bv[u] = a > limit ? limit : (a < -limit ? -limit : a);
                    }
                }
            }
            for (int ry = 0; ry < uy; ry++) {  /* downsample along x */
                const float *bp = B + (size_t)ry * down * b_plane;
                float *c = C + ry * c_plane + (size_t)q0 * T;
                if (shifts_fit) {
                    shifted_sum(bp, b_plane, down, x_taps, shifts, c, count);
                } else {
                    for (int k = 0; k < down_taps; k++) src[k] = bp + (k % down) * b_plane + k / down;
                    fir(src, down_taps, down_x, 1, &c, count);
                }
            }
        }
        for (int e = 0; e < step_y; e++) {  /* downsample along y: output rows step_y * o + e */
            for (int k = 0; k < down_taps; k++) {
                int v = down * e + k;  /* sample v of the first output row: phase v % uy, row v / uy */
                src[k] = C + (v % uy) * c_plane + (size_t)(v / uy) * T;
            }
            float *o = O + e * o_plane;
            fir(src, down_taps, down_y, 1, &o, ceil_div(out_height - e, step_y) * T);
        }
        float *op = out + (size_t)p * out_height * out_width;
        for (int oy = 0; oy < out_height; oy++)
            memcpy(op + (size_t)oy * out_width, O + (oy % step_y) * o_plane + (size_t)(oy / step_y) * T,
                   sizeof(float) * out_width);
    }
    if (D != A) free(D);
    free(I); free(A); free(B); free(C); free(O);
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
