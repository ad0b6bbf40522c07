/* 3x3 convolution (stride 1) on the CPU by Winograd's minimal filtering F(4x4, 3x3).

   The output is cut into 4x4 tiles; tile t reads a 6x6 window d of the padded input. With the transforms
   V = B^T d B of each window and U = G g G^T of each 3x3 filter g (computed by the caller), the tile is
   A^T (sum over input channels of U * V) A, the product taken element by element. The sum is 36 matrix
   products, one per element k of the 6x6 transforms: M[k] = U[k] (O x C) times V[k] (C x tiles), with 36
   multiply-adds per 16 outputs of each channel pair instead of 144. (Lavin and Gray, "Fast Algorithms for
   Convolutional Neural Networks", 2015, give the matrices.)

   Three passes, each split over independent items so that the caller can share them among threads:
     winograd_input:    channel c of the input -> V[k][c][tile] for all k;
     winograd_multiply: item (k, block of 16 output channels) -> M[k][o][tile];
     winograd_output:   output channel o -> its output plane.
   Tiles are numbered row by row, t = ty * tiles_x + tx, and the tile axis of V and M is padded to a whole
   number of vectors (its last columns are computed and discarded). U comes packed as
   [36][output blocks][C][16], the 16 filters of a block side by side for each input channel.

   Built by stylegan/ops/native/__init__.py with the machine's C compiler. */

#include <stdlib.h>

#include "vectors.h"

int winograd_parallel(void) { return built_with_openmp(); }

#define BLOCK 16 /* output channels of one block of U */

/* B^T d of a column of six: the input transform along one axis. */
static inline void input_transform(const vf d[6], vf out[6]) {
    out[0] = 4 * d[0] - 5 * d[2] + d[4];
    out[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
    out[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
    out[3] = 2 * (d[3] - d[1]) - d[2] + d[4];
    out[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
    out[5] = 4 * d[1] - 5 * d[3] + d[5];
}

/* A^T m of a column of six: the output transform along one axis. */
static inline void output_transform(const vf m[6], vf out[4]) {
    vf sum12 = m[1] + m[2], diff12 = m[1] - m[2], sum34 = m[3] + m[4], diff34 = m[3] - m[4];
    out[0] = m[0] + sum12 + sum34;
    out[1] = diff12 + 2 * diff34;
    out[2] = sum12 + 4 * sum34;
    out[3] = diff12 + 8 * diff34 + m[5];
}

/* U of output channels [16 b, 16 b + 16) of group g for items g * blocks + b in [begin, end), from the
   filters w [groups * per_group][C][3][3]: U[g][k][b][c][lane], zero past the group's channels. The 16
   filters of a block are the lanes of the vectors, so the transform is a few vector operations a channel. */
int winograd_filters(const float *w, int per_group, int C, int blocks, float *U, int begin, int end) {
    static const float G[6][3] = {{1.f / 4, 0, 0}, {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
                                  {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};
#pragma omp parallel for schedule(static) if (end - begin > 1)
    for (int item = begin; item < end; item++) {
        const int group = item / blocks, block = item % blocks;
        const int first = block * BLOCK, count = per_group - first < BLOCK ? per_group - first : BLOCK;
        for (int c = 0; c < C; c++) {
            vf g[9] = {{0}};
            for (int lane = 0; lane < count; lane++) {
                const float *filter = w + (((size_t)group * per_group + first + lane) * C + c) * 9;
                for (int e = 0; e < 9; e++) g[e][lane] = filter[e];
            }
            vf t[6][3]; /* G g */
            for (int i = 0; i < 6; i++)
                for (int l = 0; l < 3; l++) t[i][l] = G[i][0] * g[l] + G[i][1] * g[3 + l] + G[i][2] * g[6 + l];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    const vf u = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    store(U + ((((size_t)group * 36 + i * 6 + j) * blocks + block) * C + c) * BLOCK, u);
                }
        }
    }
    return 0;
}

/* The four phases of 64 consecutive samples: phase r gets samples 4 q + r. */
static inline void deinterleave4(const float *src, vf phase[4]) {
    const vf v0 = load(src), v1 = load(src + VL), v2 = load(src + 2 * VL), v3 = load(src + 3 * VL);
    const vf even01 = even_lanes(v0, v1), odd01 = odd_lanes(v0, v1);
    const vf even23 = even_lanes(v2, v3), odd23 = odd_lanes(v2, v3);
    phase[0] = even_lanes(even01, even23);
    phase[2] = odd_lanes(even01, even23);
    phase[1] = even_lanes(odd01, odd23);
    phase[3] = odd_lanes(odd01, odd23);
}

/* V[k][c][t] for channels [begin, end) of x [C][H][W], zero-padded by pad_y rows and pad_x columns.
   The padded window of tile (ty, tx) starts at row 4 ty and column 4 tx. Along x, each padded row is first
   split into its four phases (column 4 q + r at phase[r][q]), so that column 4 tx + m of every tile is the
   contiguous phase[m % 4][tx + m / 4]; the transform along x then runs over whole vectors of tiles, and the
   one along y over whole rows of them. Returns 1 where scratch memory cannot be had. */
int winograd_input(const float *x, int C, int H, int W, int pad_y, int pad_x, int tiles_y, int tiles_x,
                   int tile_stride, float *V, int begin, int end) {
    const int rows = 4 * tiles_y + 2;
    const int span = round_up(tiles_x + 1) + VL; /* one phase, or one transformed row, with a vector of slack */
    const int row_length = 4 * span;              /* a padded row, whole groups of 4 vectors */
    int status = 0;
#pragma omp parallel reduction(| : status) if (end - begin > 1)
    {
        float *row_buffer = calloc((size_t)row_length, sizeof(float));
        float *phase = calloc((size_t)4 * span, sizeof(float));
        float *across = malloc((size_t)6 * rows * span * sizeof(float)); /* [l][padded row][tx] */
        if (!row_buffer || !phase || !across) {
            status = 1;
        } else {
#pragma omp for schedule(static)
            for (int c = begin; c < end; c++) {
                const float *plane = x + (size_t)c * H * W;
                for (int row = 0; row < rows; row++) {
                    const int source_row = row - pad_y;
                    if (source_row >= 0 && source_row < H) {
                        memcpy(row_buffer + pad_x, plane + (size_t)source_row * W, W * sizeof(float));
                    } else {
                        memset(row_buffer + pad_x, 0, W * sizeof(float));
                    }
                    for (int q = 0; q < span - VL; q += VL) {
                        vf split[4];
                        deinterleave4(row_buffer + 4 * q, split);
                        for (int r = 0; r < 4; r++) store(phase + r * span + q, split[r]);
                    }
                    for (int tx = 0; tx < tiles_x; tx += VL) {
                        vf d[6], out[6];
                        for (int m = 0; m < 6; m++) d[m] = load(phase + (m & 3) * span + tx + (m >> 2));
                        input_transform(d, out);
                        for (int l = 0; l < 6; l++) store(across + ((size_t)l * rows + row) * span + tx, out[l]);
                    }
                }
                for (int ty = 0; ty < tiles_y; ty++) {
                    for (int l = 0; l < 6; l++) {
                        const float *column = across + ((size_t)l * rows + 4 * ty) * span;
                        for (int tx = 0; tx < tiles_x; tx += VL) {
                            vf d[6], out[6];
                            for (int j = 0; j < 6; j++) d[j] = load(column + (size_t)j * span + tx);
                            input_transform(d, out);
                            /* Lanes past the row's tiles land on the next tile rows, written after this one,
                               or on the padding, zeroed last; a store that would reach past the plane's row of V
                               is cut to the row's tiles. */
                            const int first = ty * tiles_x + tx;
                            const int count = tiles_x - tx < VL ? tiles_x - tx : VL;
                            const int whole = first + VL <= tile_stride;
                            for (int i = 0; i < 6; i++) {
                                float *dst = V + ((size_t)(i * 6 + l) * C + c) * tile_stride + first;
                                if (whole) store(dst, out[i]);
                                else memcpy(dst, &out[i], count * sizeof(float));
                            }
                        }
                    }
                }
                /* The padding columns of the tile axis: zeros, so the products there stay finite. */
                for (int k = 0; k < 36; k++) {
                    float *dst = V + ((size_t)k * C + c) * tile_stride;
                    memset(dst + tiles_y * tiles_x, 0, (tile_stride - tiles_y * tiles_x) * sizeof(float));
                }
            }
        }
        free(row_buffer);
        free(phase);
        free(across);
    }
    return status;
}

/* M[k][o][t] = sum_c U[k][o][c] V[k][c][t] for items k * blocks + b in [begin, end): block b holds output
   channels 16 b .. 16 b + 15 (rows of M past the real channels are computed from U's zero padding). Each
   step of the inner loop loads one vector of tiles of V and adds it, times one weight each, into the 16
   channels' accumulators. */
int winograd_multiply(const float *U, const float *V, float *M, int C, int blocks, int tile_stride,
                      int begin, int end) {
#pragma omp parallel for schedule(static) if (end - begin > 1)
    for (int item = begin; item < end; item++) {
        const int k = item / blocks, block = item % blocks;
        const float *u = U + (size_t)item * C * BLOCK;
        const float *v = V + (size_t)k * C * tile_stride;
        float *m = M + ((size_t)k * blocks * BLOCK + (size_t)block * BLOCK) * tile_stride;
        for (int t = 0; t < tile_stride; t += VL) {
            vf acc[BLOCK];
            for (int r = 0; r < BLOCK; r++) acc[r] = (vf){0};
            for (int c = 0; c < C; c++) {
                const vf tiles = load(v + (size_t)c * tile_stride + t);
                const float *weights = u + (size_t)c * BLOCK;
                for (int r = 0; r < BLOCK; r++) acc[r] += weights[r] * tiles;
            }
            for (int r = 0; r < BLOCK; r++) store(m + (size_t)r * tile_stride + t, acc[r]);
        }
    }
    return 0;
}

/* 64 consecutive samples from their four phases: sample 4 q + r from phase[r][q] (deinterleave4 undone). */
static inline void interleave4(const vf phase[4], float *dst) {
    const vf even_low = zip_low(phase[0], phase[2]), even_high = zip_high(phase[0], phase[2]);
    const vf odd_low = zip_low(phase[1], phase[3]), odd_high = zip_high(phase[1], phase[3]);
    store(dst, zip_low(even_low, odd_low));
    store(dst + VL, zip_high(even_low, odd_low));
    store(dst + 2 * VL, zip_low(even_high, odd_high));
    store(dst + 3 * VL, zip_high(even_high, odd_high));
}

/* Output channels [begin, end) of y [O][out_h][out_w] from M [36][padded O][tile_stride] (with a vector of
   slack at its end): a tile row at a time, over whole vectors of its tiles, whose 4x4 outputs are
   interleaved back into the four output rows. */
int winograd_output(const float *M, float *y, int padded_channels, int tile_stride, int tiles_y, int tiles_x,
                    int out_h, int out_w, int begin, int end) {
    static const float AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
#pragma omp parallel for schedule(static) if (end - begin > 1)
    for (int o = begin; o < end; o++) {
        float *plane = y + (size_t)o * out_h * out_w;
        for (int ty = 0; ty < tiles_y; ty++) {
            for (int tx = 0; tx < tiles_x; tx += VL) {
                vf out[4][4] = {{{0}}};
                for (int i = 0; i < 6; i++) {
                    vf m[6], along_x[4];
                    for (int l = 0; l < 6; l++)
                        m[l] = load(M + ((size_t)(i * 6 + l) * padded_channels + o) * tile_stride + ty * tiles_x + tx);
                    output_transform(m, along_x);
                    for (int a = 0; a < 4; a++) /* the transform along y, one row of the window at a time */
                        if (AT[a][i] != 0)
                            for (int b = 0; b < 4; b++) out[a][b] += AT[a][i] * along_x[b];
                }
                const int count = out_w - 4 * tx < 4 * VL ? out_w - 4 * tx : 4 * VL;
                for (int a = 0; a < 4 && 4 * ty + a < out_h; a++) {
                    float row[4 * VL];
                    interleave4(out[a], row);
                    memcpy(plane + (size_t)(4 * ty + a) * out_w + 4 * tx, row, count * sizeof(float));
                }
            }
        }
    }
    return 0;
}

/* For the weight gradient, dW[o][c] = G^T [sum over tiles of (A gy A^T) * (B^T d B)] G: two transforms with
   the channels innermost, so that the products over tiles run through winograd_multiply with the tiles as the
   summed axis. Both read channels-innermost copies padded to whole blocks of 16 channels (the caller's).

   winograd_input_by_channel: items (tile, block of 16 channels) of x [rows][cols][channels] (zero-padded to
   4 tiles_y + 2 rows and 4 tiles_x + 2 columns; the items say how many tile rows) -> V [36][tile_stride]
   [channels] at tile first_tile + t. */
int winograd_input_by_channel(const float *x, int channels, int tiles_x, float *V, int tile_stride,
                              int first_tile, int begin, int end) {
    const int cols = 4 * tiles_x + 2, blocks = channels / VL;
#pragma omp parallel for schedule(static) if (end - begin > 1)
    for (int item = begin; item < end; item++) {
        const int t = item / blocks, block = item % blocks, ty = t / tiles_x, tx = t % tiles_x;
        vf rows[6][6]; /* B^T d: the transform along y, then along x in place */
        for (int m = 0; m < 6; m++) {
            vf d[6];
            for (int j = 0; j < 6; j++) d[j] = load(x + ((size_t)(4 * ty + j) * cols + 4 * tx + m) * channels + block * VL);
            vf out[6];
            input_transform(d, out);
            for (int i = 0; i < 6; i++) rows[i][m] = out[i];
        }
        for (int i = 0; i < 6; i++) {
            vf out[6];
            input_transform(rows[i], out);
            for (int l = 0; l < 6; l++)
                store(V + ((size_t)(i * 6 + l) * tile_stride + first_tile + t) * channels + block * VL, out[l]);
        }
    }
    return 0;
}

/* A g of a column of four: the transform of the output's gradient along one axis (A is A^T transposed). */
static inline void gradient_transform(const vf g[4], vf out[6]) {
    const vf even = g[0] + g[2], odd = g[1] + g[3], even4 = g[0] + 4 * g[2], odd2 = 2 * g[1] + 8 * g[3];
    out[0] = g[0];
    out[1] = even + odd;
    out[2] = even - odd;
    out[3] = even4 + odd2;
    out[4] = even4 - odd2;
    out[5] = g[3];
}

/* winograd_gradient_by_channel: items (tile, block of 16 channels) of the output's gradient gy
   [4 tiles_y][4 tiles_x][channels] (zero-padded) -> GY [36][blocks][tile_stride][16] at tile first_tile + t:
   for each block the tiles in a row, the block's 16 channels side by side, as winograd_multiply reads U. */
int winograd_gradient_by_channel(const float *gy, int channels, int tiles_x, float *GY, int tile_stride,
                                 int first_tile, int begin, int end) {
    const int cols = 4 * tiles_x, blocks = channels / VL;
#pragma omp parallel for schedule(static) if (end - begin > 1)
    for (int item = begin; item < end; item++) {
        const int t = item / blocks, block = item % blocks, ty = t / tiles_x, tx = t % tiles_x;
        vf rows[6][4]; /* A g along y, then along x */
        for (int b = 0; b < 4; b++) {
            vf g[4], out[6];
            for (int a = 0; a < 4; a++) g[a] = load(gy + ((size_t)(4 * ty + a) * cols + 4 * tx + b) * channels + block * VL);
            gradient_transform(g, out);
            for (int i = 0; i < 6; i++) rows[i][b] = out[i];
        }
        for (int i = 0; i < 6; i++) {
            vf out[6];
            gradient_transform(rows[i], out);
            for (int l = 0; l < 6; l++)
                store(GY + (((size_t)(i * 6 + l) * blocks + block) * tile_stride + first_tile + t) * VL, out[l]);
        }
    }
    return 0;
}
