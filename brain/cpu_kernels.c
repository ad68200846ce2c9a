/* cpu_kernels.c: the CPU backend's arithmetic on one x-slab: the 3x3x3 box
 * sums, the picks and draws of the sparse steps, the fused pass with its
 * per-row reductions, and the sums of a field written from outside. Why the
 * pass is shaped so is at the top of brain_cpu.c. */
#include "cpu_internal.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* The loops that carry a cycle are compiled three times, for AVX-512
 * (x86-64-v4), AVX2 and any x86-64, and chosen when the program loads; all
 * round the same (no contraction, no reassociation: every sum is added in the
 * same order at any vector width). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define CPU_HOT
#endif
#if defined(__SSE__)
#include <immintrin.h>
#endif

/* ---- step 3: the 3x3x3 box sum, one (y, z) plane and one x at a time ---- */

/* out = in[z-1] + in[z] + in[z+1] per channel, zero outside the row. */
CPU_HOT static void cpu_zsum_row(size_t Z, size_t C, const float *restrict in, float *restrict out)
{
    if (Z == 1) {
        memcpy(out, in, C * sizeof(float));
        return;
    }
    for (size_t c = 0; c < C; c++)
        out[c] = in[c] + in[C + c];
    for (size_t i = C; i < (Z - 1) * C; i++)
        out[i] = (in[i - C] + in[i]) + in[i + C];
    for (size_t i = (Z - 1) * C; i < Z * C; i++)
        out[i] = in[i - C] + in[i];
}

/* out = (lo + mid) + hi, n floats. */
CPU_HOT static void cpu_add3(size_t n, const float *restrict lo, const float *restrict mid, const float *restrict hi,
                             float *restrict out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (lo[i] + mid[i]) + hi[i];
}

/* The z sums of row y+1 into hi (as cpu_zsum_row) and, in the same loop,
 * out = (lo + mid) + hi: row y's (y, z) box sums, added in the order of
 * cpu_add3. One loop over the row instead of two: hi is not loaded again
 * after its store, and the loads of the field overlap the y sums. */
CPU_HOT static void cpu_zsum_add3(size_t Z, size_t C, const float *restrict in, const float *restrict lo,
                                  const float *restrict mid, float *restrict hi, float *restrict out)
{
    if (Z == 1) {
        for (size_t c = 0; c < C; c++) {
            hi[c] = in[c];
            out[c] = (lo[c] + mid[c]) + in[c];
        }
        return;
    }
    for (size_t c = 0; c < C; c++) {
        float h = in[c] + in[C + c];
        hi[c] = h;
        out[c] = (lo[c] + mid[c]) + h;
    }
    for (size_t i = C; i < (Z - 1) * C; i++) {
        float h = (in[i - C] + in[i]) + in[i + C];
        hi[i] = h;
        out[i] = (lo[i] + mid[i]) + h;
    }
    for (size_t i = (Z - 1) * C; i < Z * C; i++) {
        float h = in[i - C] + in[i];
        hi[i] = h;
        out[i] = (lo[i] + mid[i]) + h;
    }
}

/* Rows [ya, yb) of the 3x3 (y, z) box sum of plane x of the field, into out
 * (yb - ya rows). halo_in: the z sums of row ya-1 when ya > 0 (that row may be
 * overwritten already; NULL: read it from the field); halo_out (if not NULL)
 * receives the z sums of row yb-1, for the tile after this one. The z sums of
 * three rows at a time live in w->zrows. */
static void cpu_box_rows(const cpu_brain *cb, cpu_worker *w, uint32_t x, uint32_t ya, uint32_t yb,
                         const float *halo_in, float *halo_out, float *out)
{
    const size_t row = (size_t)cb->Z * cb->C;
    const float *plane = cb->field + (size_t)x * cb->Y * row;
    /* the z sums of row y go to slot (y + 1) mod 3, so rows y-1, y, y+1 never share one */
#define CPU_ZSLOT(y) (w->zrows + (size_t)(((y) + 1) % 3) * row)
    const float *lo = cb->zero_row, *mid, *hi;
    if (ya > 0 && halo_in) {
        lo = halo_in;
    } else if (ya > 0) {
        cpu_zsum_row(cb->Z, cb->C, plane + (ya - 1) * row, CPU_ZSLOT(ya - 1));
        lo = CPU_ZSLOT(ya - 1);
    }
    cpu_zsum_row(cb->Z, cb->C, plane + ya * row, CPU_ZSLOT(ya));
    mid = CPU_ZSLOT(ya);
    for (uint32_t y = ya; y < yb; y++) {
        hi = cb->zero_row;
        if (y + 1 < cb->Y) {
            hi = CPU_ZSLOT(y + 1);
            cpu_zsum_add3(cb->Z, cb->C, plane + (y + 1) * row, lo, mid, CPU_ZSLOT(y + 1), out + (y - ya) * row);
        } else {
            cpu_add3(row, lo, mid, hi, out + (y - ya) * row);
        }
        lo = mid;
        mid = hi;
    }
    if (halo_out)
        memcpy(halo_out, lo, row * sizeof(float)); /* row yb-1 */
#undef CPU_ZSLOT
}

/* ---- before the pass: the noise picks and the box sums next to the slab;
 * S and W of a field written from outside ---- */

/* S and W of this slab, into w->sum and w->wsum (a read of the field). */
static void cpu_measure_sums(cpu_brain *cb, cpu_worker *w, uint32_t x0, uint32_t x1)
{
    const uint32_t Y = cb->Y, Z = cb->Z, C = cb->C;
    float *rs = w->row_sum;
    for (uint32_t x = x0; x < x1; x++)
        for (uint32_t y = 0; y < Y; y++) {
            const float *f = cb->field + ((size_t)x * Y + y) * Z * C;
            memset(rs, 0, C * sizeof(float));
            for (uint32_t z = 0; z < Z; z++)
                for (uint32_t c = 0; c < C; c++)
                    rs[c] += f[(size_t)z * C + c];
            double nxy = (double)(cpu__neighbours(x, cb->X) * cpu__neighbours(y, Y));
            const float *last = f + (size_t)(Z - 1) * C;
            for (uint32_t c = 0; c < C; c++) {
                w->sum[c] += rs[c];
                w->wsum[c] += nxy * (3.0 * rs[c] - f[c] - last[c]);
            }
        }
}

/* ---- rng.h, CPU_NORMAL_BLOCK draws at a time ---- */

#define CPU_NORMAL_BLOCK 16

/* out[i] = scale * rng_normal(key, point, c0 + i) for i < CPU_NORMAL_BLOCK,
 * given h = rng_mix32(key ^ point): rng_bits, rng_log, rng_cos2pi and
 * rng_normal written out with the same operations in the same order, so the
 * same floats bit for bit. What differs is only how: a fixed trip count (so
 * the loop vectorises without a scalar tail); the branches of rng_log and
 * rng_cos2pi as integer selects (a conditional float operation keeps the loop
 * scalar); floorf(q + 0.5) as a truncation (the argument is in [0.5, 4.5));
 * and sqrt outside the loop through _mm_sqrt_ps, because sqrtf sets errno and
 * so cannot be vectorised without -fno-math-errno. */
static inline __attribute__((always_inline)) void cpu_normal_block(uint32_t h, uint32_t c0, float scale,
                                                                    float *restrict out)
{
    float rad[CPU_NORMAL_BLOCK], cosine[CPU_NORMAL_BLOCK];
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++) {
        const uint32_t draw = 2U * (c0 + i) + 1U;
        const uint32_t b1 = rng_mix32(h + draw * 0x9E3779B9U);
        const uint32_t b2 = rng_mix32(h + (draw + 1U) * 0x9E3779B9U);
        /* both below 2^25: exact through int32 */
        const float u1 = (float)(int32_t)((b1 >> 8) + 1U) * 5.9604645e-08f;
        const float u2 = (float)(int32_t)(b2 >> 8) * 5.9604645e-08f;

        /* rng_log(u1) */
        uint32_t bits;
        memcpy(&bits, &u1, sizeof bits);
        int32_t e = (int32_t)((bits >> 23) & 0xFFU) - 127;
        const uint32_t mbits = (bits & 0x007FFFFFU) | 0x3F800000U;
        float m;
        memcpy(&m, &mbits, sizeof m);
        const uint32_t big = m > 1.41421356f;
        const uint32_t halve_bits = 0x3F800000U - (big << 23); /* 0.5f or 1.0f */
        float halve;
        memcpy(&halve, &halve_bits, sizeof halve);
        m = m * halve;
        e = e + (int32_t)big;
        const float s = (m - 1.0f) / (m + 1.0f);
        const float s2 = s * s;
        const float poly = 1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
        const float log_u1 = (float)e * 0.693147181f + 2.0f * s * poly;

        /* rng_cos2pi(u2) */
        const float q = u2 * 4.0f;
        const int32_t k = (int32_t)(q + 0.5f);
        const float x = (q - (float)k) * 1.57079633f;
        const float x2 = x * x;
        const float c = 1.0f - x2 * (0.5f - x2 * (0.0416666667f - x2 * (0.00138888889f - x2 * 0.0000248015873f)));
        const float sn = x * (1.0f - x2 * (0.166666667f - x2 * (0.00833333333f - x2 * (0.000198412698f -
                                                                                      x2 * 0.00000275573192f))));
        /* quadrant 0: c, 1: -s, 2: -c, 3: s */
        const uint32_t quadrant = (uint32_t)k & 3U, odd = 0U - (quadrant & 1U);
        uint32_t cbits, sbits;
        memcpy(&cbits, &c, sizeof cbits);
        memcpy(&sbits, &sn, sizeof sbits);
        cbits = ((sbits & odd) | (cbits & ~odd)) ^ (((quadrant + 1U) & 2U) << 30);
        memcpy(&cosine[i], &cbits, sizeof cbits);
        rad[i] = -2.0f * log_u1;
    }
#if defined(__SSE__)
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i += 4)
        _mm_storeu_ps(rad + i, _mm_sqrt_ps(_mm_loadu_ps(rad + i)));
#else
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++)
        rad[i] = sqrtf(rad[i]);
#endif
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++)
        out[i] = scale * (rad[i] * cosine[i]);
}

/* out[c] = scale * rng_normal(key, point, c) for c < C, bit for bit. The
 * clone is this loop, with cpu_normal_block inlined: one call per point
 * instead of one per 16 draws (through the clones' indirect call, with the
 * draws' long chains cut at each): about a fifth off the draws, 14 % off a
 * brain's initial field (BENCHMARKS.md). */
CPU_HOT static void cpu_normals(uint32_t key, uint32_t point, uint32_t C, float scale, float *out)
{
    const uint32_t h = rng_mix32(key ^ point);
    uint32_t c0 = 0;
    for (; c0 + CPU_NORMAL_BLOCK <= C; c0 += CPU_NORMAL_BLOCK)
        cpu_normal_block(h, c0, scale, out + c0);
    if (c0 < C) {
        float tail[CPU_NORMAL_BLOCK];
        cpu_normal_block(h, c0, scale, tail);
        memcpy(out + c0, tail, (C - c0) * sizeof(float));
    }
}

/* The points p of [first, end) that a sparse step picks (rng_bits(key, p, 0)
 * below threshold), in point order, into points; returns how many. Blocks of
 * 16 points hashed at once, and passed over when none is picked, as most are
 * (1 % or 5 % of the points are picked): a branch per point cost twice the
 * hashes. */
CPU_HOT static uint32_t cpu_pick_points(uint32_t key, uint32_t first, uint32_t end, uint32_t threshold,
                                        uint32_t *restrict points)
{
    uint32_t bits[CPU_NORMAL_BLOCK], n = 0;
    for (uint32_t p0 = first; p0 < end; p0 += CPU_NORMAL_BLOCK) {
        uint32_t any = 0;
        for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++) {
            bits[i] = rng_mix32(rng_mix32(key ^ (p0 + i)));
            any |= bits[i] < threshold;
        }
        if (!any)
            continue;
        const uint32_t in_range = end - p0 < CPU_NORMAL_BLOCK ? end - p0 : CPU_NORMAL_BLOCK;
        for (uint32_t i = 0; i < in_range; i++)
            if (bits[i] < threshold)
                points[n++] = p0 + i;
    }
    return n;
}

/* One pick's draws v into a slab's sums: sum[c] += v[c], and *abs += |v[c]|
 * in channel order. The |v| sum in a local and restrict on the arrays: with
 * *abs written through a pointer that might alias sum, every element waited
 * on a store and a reload of *abs, and no channel's sum ran in a vector
 * (a noise cycle's picks cost more than their draws). */
CPU_HOT static void cpu_add_draws(size_t C, const float *restrict v, double *restrict sum, double *restrict abs)
{
    double a = *abs;
    for (size_t c = 0; c < C; c++) {
        sum[c] += v[c];
        a += fabs((double)v[c]);
    }
    *abs = a;
}

/* A sparse step's picks and draws for the points [first, end) of a slab, in
 * point order, into list (and the sum of the draws per channel into sum, if
 * not NULL). */
static void cpu_pick_sparse(const cpu_brain *cb, uint32_t first, uint32_t end, uint32_t key, uint32_t threshold,
                            float sd, cpu_sparse *list, double *sum, double *abs)
{
    const uint32_t C = cb->C;
    list->n = cpu_pick_points(key, first, end, threshold, list->points);
    for (uint32_t i = 0; i < list->n; i++) {
        float *v = list->draws + (size_t)i * C;
        cpu_normals(key, list->points[i], C, sd, v);
        if (sum)
            cpu_add_draws(C, v, sum, abs);
    }
}

/* Step s's picks and draws (key, threshold, sd) of the planes
 * [ahead_x[s], x_end) of a worker's slab, after those made already, so the
 * list stays in point order; the noise's sums go on from where they are. */
static void cpu_sparse_more(cpu_brain *cb, cpu_worker *w, int s, uint32_t x_end, uint32_t key, uint32_t threshold,
                            float sd)
{
    const uint32_t YZ = cb->Y * cb->Z;
    cpu_sparse *list = s == CPU_NOISE ? &w->noise : &w->energy;
    cpu_sparse more = {.points = list->points + w->ahead_n[s], .draws = list->draws + (size_t)w->ahead_n[s] * cb->C};
    cpu_pick_sparse(cb, w->ahead_x[s] * YZ, x_end * YZ, key, threshold, sd, &more,
                    s == CPU_NOISE ? w->noise_sum : NULL, s == CPU_NOISE ? &w->noise_abs : NULL);
    w->ahead_x[s] = x_end;
    w->ahead_n[s] += more.n;
}

void cpu__job_measure(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    cpu_worker *w = &cb->workers[worker];
    memset(w->sum, 0, cb->C * sizeof(double));
    memset(w->wsum, 0, cb->C * sizeof(double));
    cpu_measure_sums(cb, w, x0, x1);
}

/* Before a pass, as cb->prep_* say: step 4's picks and draws, step 6's, and
 * the box sums next to the slab. */
void cpu__job_prepare(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    cpu_worker *w = &cb->workers[worker];
    const brain_cycle *cyc = cb->cyc;
    /* after what was made ahead (none unless it was for this cycle) */
    if (cb->prep_noise) {
        cpu_sparse_more(cb, w, CPU_NOISE, x1, cyc->noise_key, cyc->noise_threshold, cb->p.noise_std);
        w->noise.n = w->ahead_n[CPU_NOISE];
    }
    if (cb->prep_energy) {
        cpu_sparse_more(cb, w, CPU_ENERGY, x1, cyc->energy_key, cyc->energy_threshold, cb->p.energy_std);
        w->energy.n = w->ahead_n[CPU_ENERGY];
    }
    if (x0 == x1)
        return;
    if (cb->prep_planes) {
        /* planes another thread writes in the pass: before it starts */
        if (x0 > 0)
            cpu_box_rows(cb, w, x0 - 1, 0, cb->Y, NULL, NULL, w->edge_lo);
        if (x1 < cb->X)
            cpu_box_rows(cb, w, x1, 0, cb->Y, NULL, NULL, w->edge_hi);
    }
}

/* ---- the pass: steps 2-5 (advance), 6 (energy), 8 (clamp) per point ---- */

/* Step 8 on one value. Written so that it compiles to min and max: a NaN
 * (which nothing lets in) would come out as -lim, as from fminf(fmaxf()). */
static inline float cpu_clamp(float v, float lim)
{
    float below = lim < v ? lim : v;
    return -lim < below ? below : -lim;
}

/* The constants of the hot loops. */
typedef struct {
    float decay, keep_in, keep_box, lim;
} cpu_consts;

/* Steps 2-5 on one point, from f into g: decay (with diffusion when box0 is
 * not NULL: the (y, z) box sums of planes x-1, x, x+1 at this point), then
 * the noise draws (NULL: not picked) and the momentum offset (step 6 is
 * added by the caller, see "Activity in the same pass"). restrict on
 * parameters (GCC ignores it on locals); g never overlaps the rest. */
CPU_HOT static void cpu_advance1(cpu_consts k, size_t C, float *restrict g, const float *restrict f,
                                 const float *restrict box0, const float *restrict box1,
                                 const float *restrict box2, const float *restrict noise,
                                 const float *restrict off)
{
    if (box0)
        for (size_t c = 0; c < C; c++)
            g[c] = k.keep_in * f[c] + k.keep_box * ((box0[c] + box1[c]) + box2[c]);
    else
        for (size_t c = 0; c < C; c++)
            g[c] = k.decay * f[c];
    if (noise)
        for (size_t c = 0; c < C; c++)
            g[c] += noise[c];
    for (size_t c = 0; c < C; c++)
        g[c] += off[c];
}

/* Step 8 on one point, from g into f, with its row's reductions; returns the
 * number of elements at the clamp. */
CPU_HOT static uint32_t cpu_clamp1(float lim, size_t C, float *restrict f, const float *restrict g,
                                   float *restrict rs, float *restrict ra)
{
    uint32_t sat = 0;
    for (size_t c = 0; c < C; c++) {
        float v = cpu_clamp(g[c], lim);
        f[c] = v;
        rs[c] += v;
        ra[c] += fabsf(v);
        sat += fabsf(v) == lim;
    }
    return sat;
}

/* ra += |g| (|F| after step 5, on an activity cycle). */
CPU_HOT static void cpu_abs_add1(size_t C, const float *restrict g, float *restrict ra)
{
    for (size_t c = 0; c < C; c++)
        ra[c] += fabsf(g[c]);
}

/* Steps 2, 5 and 8 fused on 4 consecutive points of a row that have neither
 * noise, energy nor a motor (the hot loop): the arithmetic of cpu_advance1,
 * then cpu_clamp1, element for element, with the row's per-channel sums
 * loaded and stored once for the 4 points and the saturated elements counted
 * in integers (CPU_HOT). restrict on parameters: the 4 points, the box sums
 * (box0/1/2, NULL: no diffusion; 4 points each), the offset and the row sums
 * never overlap. size_t indices: wrapping ones cannot be vectorised. */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep4(cpu_consts k, size_t C, float *restrict f0, float *restrict f1, float *restrict f2, float *restrict f3,
           const float *restrict box0, const float *restrict box1, const float *restrict box2,
           const float *restrict off, float *restrict rs, float *restrict ra)
{
    const float d = k.decay, ka = k.keep_in, kb = k.keep_box, lim = k.lim;
    uint32_t sat = 0;
    if (box0) {
        for (size_t c = 0; c < C; c++) {
            float g0 = cpu_clamp((ka * f0[c] + kb * ((box0[c] + box1[c]) + box2[c])) + off[c], lim);
            float g1 = cpu_clamp((ka * f1[c] + kb * ((box0[C + c] + box1[C + c]) + box2[C + c])) + off[c], lim);
            float g2 = cpu_clamp((ka * f2[c] + kb * ((box0[2 * C + c] + box1[2 * C + c]) + box2[2 * C + c])) + off[c],
                                 lim);
            float g3 = cpu_clamp((ka * f3[c] + kb * ((box0[3 * C + c] + box1[3 * C + c]) + box2[3 * C + c])) + off[c],
                                 lim);
            f0[c] = g0;
            f1[c] = g1;
            f2[c] = g2;
            f3[c] = g3;
            rs[c] = (((rs[c] + g0) + g1) + g2) + g3;
            float a0 = fabsf(g0), a1 = fabsf(g1), a2 = fabsf(g2), a3 = fabsf(g3);
            ra[c] = (((ra[c] + a0) + a1) + a2) + a3;
            sat += (uint32_t)(a0 == lim) + (uint32_t)(a1 == lim) + (uint32_t)(a2 == lim) + (uint32_t)(a3 == lim);
        }
    } else {
        for (size_t c = 0; c < C; c++) {
            float g0 = cpu_clamp(d * f0[c] + off[c], lim);
            float g1 = cpu_clamp(d * f1[c] + off[c], lim);
            float g2 = cpu_clamp(d * f2[c] + off[c], lim);
            float g3 = cpu_clamp(d * f3[c] + off[c], lim);
            f0[c] = g0;
            f1[c] = g1;
            f2[c] = g2;
            f3[c] = g3;
            rs[c] = (((rs[c] + g0) + g1) + g2) + g3;
            float a0 = fabsf(g0), a1 = fabsf(g1), a2 = fabsf(g2), a3 = fabsf(g3);
            ra[c] = (((ra[c] + a0) + a1) + a2) + a3;
            sat += (uint32_t)(a0 == lim) + (uint32_t)(a1 == lim) + (uint32_t)(a2 == lim) + (uint32_t)(a3 == lim);
        }
    }
    return sat;
}

/* cpu_sweep4 on an activity cycle, for points that neither energy nor noise
 * picked: the same values and sums, and also |F| after step 5 (before the
 * clamp) into act, and (both) the clamped values once more into rs_e and ra_e
 * (the sums as they are if energy is added: the same additions in the same
 * order wherever energy adds nothing). */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep4_act_body(bool diffuse, bool both, cpu_consts k, size_t C, float *restrict f0, float *restrict f1, float *restrict f2,
                    float *restrict f3, const float *restrict box0, const float *restrict box1,
                    const float *restrict box2, const float *restrict off, float *restrict rs, float *restrict ra,
                    float *restrict act, float *restrict rs_e, float *restrict ra_e)
{
    const float d = k.decay, ka = k.keep_in, kb = k.keep_box, lim = k.lim;
    uint32_t sat = 0;
    for (size_t c = 0; c < C; c++) {
        float g0, g1, g2, g3;
        if (diffuse) {
            g0 = (ka * f0[c] + kb * ((box0[c] + box1[c]) + box2[c])) + off[c];
            g1 = (ka * f1[c] + kb * ((box0[C + c] + box1[C + c]) + box2[C + c])) + off[c];
            g2 = (ka * f2[c] + kb * ((box0[2 * C + c] + box1[2 * C + c]) + box2[2 * C + c])) + off[c];
            g3 = (ka * f3[c] + kb * ((box0[3 * C + c] + box1[3 * C + c]) + box2[3 * C + c])) + off[c];
        } else {
            g0 = d * f0[c] + off[c];
            g1 = d * f1[c] + off[c];
            g2 = d * f2[c] + off[c];
            g3 = d * f3[c] + off[c];
        }
        act[c] = (((act[c] + fabsf(g0)) + fabsf(g1)) + fabsf(g2)) + fabsf(g3);
        g0 = cpu_clamp(g0, lim);
        g1 = cpu_clamp(g1, lim);
        g2 = cpu_clamp(g2, lim);
        g3 = cpu_clamp(g3, lim);
        f0[c] = g0;
        f1[c] = g1;
        f2[c] = g2;
        f3[c] = g3;
        const float s = (((rs[c] + g0) + g1) + g2) + g3;
        rs[c] = s;
        float a0 = fabsf(g0), a1 = fabsf(g1), a2 = fabsf(g2), a3 = fabsf(g3);
        ra[c] = (((ra[c] + a0) + a1) + a2) + a3;
        if (both) {
            rs_e[c] = (((rs_e[c] + g0) + g1) + g2) + g3;
            ra_e[c] = (((ra_e[c] + a0) + a1) + a2) + a3;
        }
        sat += (uint32_t)(a0 == lim) + (uint32_t)(a1 == lim) + (uint32_t)(a2 == lim) + (uint32_t)(a3 == lim);
    }
    return sat;
}

/* (the body once for each case, so that no loop tests for diffusion or both
 * outcomes; rs_e and ra_e are not touched unless both) */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep4_act(bool both, cpu_consts k, size_t C, float *restrict f0, float *restrict f1, float *restrict f2,
               float *restrict f3, const float *restrict box0, const float *restrict box1,
               const float *restrict box2, const float *restrict off, float *restrict rs, float *restrict ra,
               float *restrict act, float *restrict rs_e, float *restrict ra_e)
{
    if (box0 && both)
        return cpu_sweep4_act_body(true, true, k, C, f0, f1, f2, f3, box0, box1, box2, off, rs, ra, act, rs_e, ra_e);
    if (box0)
        return cpu_sweep4_act_body(true, false, k, C, f0, f1, f2, f3, box0, box1, box2, off, rs, ra, act, NULL, NULL);
    if (both)
        return cpu_sweep4_act_body(false, true, k, C, f0, f1, f2, f3, NULL, NULL, NULL, off, rs, ra, act, rs_e, ra_e);
    return cpu_sweep4_act_body(false, false, k, C, f0, f1, f2, f3, NULL, NULL, NULL, off, rs, ra, act, NULL, NULL);
}

/* cpu_sweep4 and cpu_sweep4_act on one point, for the points of a run
 * one at a time and the points noise or energy picked (not motors): the
 * arithmetic of cpu_advance1 (noise added after steps 2-3, then the offset),
 * of cpu_clamp1 and, on an activity cycle (act), of cpu_abs_add1 and of step
 * 6 as cpu_pass_row does it, element for element in the same order, without
 * the scratch rows. With both outcomes (spec), energy (not NULL: the pick's
 * draws) is overwritten with the clamped values with energy, the sums of
 * that outcome go to rs_e, ra_e and *sat_e, and f gets the values without;
 * otherwise f gets the values with energy. Returns the elements at the
 * clamp of what f gets. */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep1_body(bool diffuse, bool act_sum, bool spec, cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                const float *restrict box1, const float *restrict box2, const float *restrict noise,
                float *restrict energy, const float *restrict off, float *restrict rs, float *restrict ra,
                float *restrict act, float *restrict rs_e, float *restrict ra_e, uint32_t *sat_e)
{
    const float d = k.decay, ka = k.keep_in, kb = k.keep_box, lim = k.lim;
    uint32_t sat = 0, se = 0;
    for (size_t c = 0; c < C; c++) {
        float g = diffuse ? ka * f[c] + kb * ((box0[c] + box1[c]) + box2[c]) : d * f[c];
        if (noise)
            g += noise[c];
        g += off[c];
        if (act_sum)
            act[c] += fabsf(g);
        const float v = cpu_clamp(!spec && energy ? g + energy[c] : g, lim), a = fabsf(v);
        f[c] = v;
        rs[c] += v;
        ra[c] += a;
        sat += a == lim;
        if (!spec)
            continue;
        if (energy) {
            const float ve = cpu_clamp(g + energy[c], lim), ae = fabsf(ve);
            energy[c] = ve;
            rs_e[c] += ve;
            ra_e[c] += ae;
            se += ae == lim;
        } else {
            rs_e[c] += v;
            ra_e[c] += a;
        }
    }
    if (spec)
        *sat_e += energy ? se : sat;
    return sat;
}

/* (the body once for each kind of point, so that no loop tests what it is;
 * inlined into cpu_sweep_span, and called through cpu_sweep1 for a point
 * on its own) */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep1_point(cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                 const float *restrict box1, const float *restrict box2, const float *restrict noise,
                 const float *restrict off, float *restrict rs, float *restrict ra)
{
    if (box0) {
        if (noise)
            return cpu_sweep1_body(true, false, false, k, C, f, box0, box1, box2, noise, NULL, off, rs, ra, NULL,
                                   NULL, NULL, NULL);
        return cpu_sweep1_body(true, false, false, k, C, f, box0, box1, box2, NULL, NULL, off, rs, ra, NULL, NULL,
                               NULL, NULL);
    }
    if (noise)
        return cpu_sweep1_body(false, false, false, k, C, f, NULL, NULL, NULL, noise, NULL, off, rs, ra, NULL, NULL,
                               NULL, NULL);
    return cpu_sweep1_body(false, false, false, k, C, f, NULL, NULL, NULL, NULL, NULL, off, rs, ra, NULL, NULL, NULL,
                           NULL);
}

static inline __attribute__((always_inline)) uint32_t
cpu_sweep1_act_point(bool spec, cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                     const float *restrict box1, const float *restrict box2, const float *restrict noise,
                     float *restrict energy, const float *restrict off, float *restrict rs, float *restrict ra,
                     float *restrict act, float *restrict rs_e, float *restrict ra_e, uint32_t *sat_e)
{
#define CPU_SWEEP1_ACT(diffuse, nz, en)                                                                          \
    (spec ? cpu_sweep1_body(diffuse, true, true, k, C, f, box0, box1, box2, nz, en, off, rs, ra, act, rs_e, ra_e,   \
                            sat_e)                                                                                 \
          : cpu_sweep1_body(diffuse, true, false, k, C, f, box0, box1, box2, nz, en, off, rs, ra, act, NULL, NULL,  \
                            NULL))
    if (box0) {
        if (noise)
            return energy ? CPU_SWEEP1_ACT(true, noise, energy) : CPU_SWEEP1_ACT(true, noise, NULL);
        return energy ? CPU_SWEEP1_ACT(true, NULL, energy) : CPU_SWEEP1_ACT(true, NULL, NULL);
    }
    if (noise)
        return energy ? CPU_SWEEP1_ACT(false, noise, energy) : CPU_SWEEP1_ACT(false, noise, NULL);
    return energy ? CPU_SWEEP1_ACT(false, NULL, energy) : CPU_SWEEP1_ACT(false, NULL, NULL);
#undef CPU_SWEEP1_ACT
}

CPU_HOT static uint32_t cpu_sweep1(cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                                   const float *restrict box1, const float *restrict box2,
                                   const float *restrict noise, const float *restrict off, float *restrict rs,
                                   float *restrict ra)
{
    return cpu_sweep1_point(k, C, f, box0, box1, box2, noise, off, rs, ra);
}

CPU_HOT static uint32_t cpu_sweep1_act(bool spec, cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                                       const float *restrict box1, const float *restrict box2,
                                       const float *restrict noise, float *restrict energy,
                                       const float *restrict off, float *restrict rs, float *restrict ra,
                                       float *restrict act, float *restrict rs_e, float *restrict ra_e,
                                       uint32_t *sat_e)
{
    return cpu_sweep1_act_point(spec, k, C, f, box0, box1, box2, noise, energy, off, rs, ra, act, rs_e, ra_e, sat_e);
}

/* A run of a row's points that neither noise, energy nor a motor has (see
 * cpu_pass_row). */
typedef struct {
    cpu_consts k;
    size_t C;
    uint32_t step, steps;             /* `steps` steps of `step` points: 4 (cpu_sweep4) or 1 (cpu_sweep1), */
    uint32_t rest;                    /* then `rest` points one at a time */
    float *f;                         /* the run's first point */
    const float *box0, *box1, *box2;  /* the box sums at f's offset (NULL: no diffusion) */
    const float *off;                 /* the momentum offset */
    float *rs, *ra;                   /* the row's sums */
    float *act;                       /* activity cycles: the row's sum of |F| after step 5 (else NULL) */
    float *rs_e, *ra_e;               /* with both outcomes: the row's sums with energy (else NULL) */
    const float *ahead;               /* diffusion: the field rows the next box sums read, at f's offset */
} cpu_span;

/* The run in one call, its steps' arithmetic inlined (a call through the
 * clones' resolver for every 4 points cost about a tenth of a plain cycle
 * at 16 and 64 channels: BENCHMARKS.md); returns the elements at the clamp. */
CPU_HOT static uint32_t cpu_sweep_span(const cpu_span *s)
{
    const size_t C = s->C;
    const bool diffuse = s->box0 != NULL, both = s->rs_e != NULL;
    uint32_t sat = 0, sat_e = 0; /* sat_e: the same as sat in a run; the caller counts it */
    size_t at = 0; /* the step's offset from the run's first point */
    for (uint32_t i = 0; i < s->steps + s->rest; i++) {
        const uint32_t step = i < s->steps ? s->step : 1;
        const size_t width = (size_t)step * C;
        float *f = s->f + at;
        /* without diffusion nothing has read the field ahead of the pass:
         * ask for the points 16 on (a 4 KB lead at 64 channels; the
         * hardware's prefetch alone leaves the cores waiting) */
        for (size_t o = 0; !diffuse && o < width; o += 16)
            __builtin_prefetch(f + 16 * C + o, 1);
        /* with diffusion: the field rows the next box sums read (see
         * cpu__job_pass), as many bytes as this step writes */
        for (size_t o = 0; s->ahead && o < width; o += 16)
            __builtin_prefetch(s->ahead + at + o, 0, 3);
        const float *b0 = diffuse ? s->box0 + at : NULL, *b1 = diffuse ? s->box1 + at : NULL,
                    *b2 = diffuse ? s->box2 + at : NULL;
        if (step == 1 && s->act)
            sat += cpu_sweep1_act_point(both, s->k, C, f, b0, b1, b2, NULL, NULL, s->off, s->rs, s->ra, s->act,
                                        s->rs_e, s->ra_e, &sat_e);
        else if (step == 1)
            sat += cpu_sweep1_point(s->k, C, f, b0, b1, b2, NULL, s->off, s->rs, s->ra);
        else if (s->act)
            sat += cpu_sweep4_act(both, s->k, C, f, f + C, f + 2 * C, f + 3 * C, b0, b1, b2, s->off, s->rs, s->ra,
                                  s->act, s->rs_e, s->ra_e);
        else
            sat += cpu_sweep4(s->k, C, f, f + C, f + 2 * C, f + 3 * C, b0, b1, b2, s->off, s->rs, s->ra);
        at += width;
    }
    return sat;
}

/* rs += v, ra += |v|: a clamped point into a row's sums. */
CPU_HOT static void cpu_row_add1(size_t C, const float *restrict v, float *restrict rs, float *restrict ra)
{
    for (size_t c = 0; c < C; c++) {
        rs[c] += v[c];
        ra[c] += fabsf(v[c]);
    }
}

/* Step 7 at a motor spot: the sum over channels before the clamp, into sums
 * (cb->motor_sum, or cb->motor_sum_e for the outcome with energy). */
static void cpu_record_motors(cpu_brain *cb, uint32_t point, const float *v, double *sums)
{
    double s = 0.0;
    for (uint32_t c = 0; c < cb->C; c++)
        s += v[c];
    for (uint32_t j = 0; j < cb->p.motors; j++) {
        const uint32_t *m = cb->motor_spots + 3 * j;
        if ((m[0] * cb->Y + m[1]) * cb->Z + m[2] == point)
            sums[j] = s;
    }
}

/* The index of the first pick at or after point in a sparse list. */
static uint32_t cpu_first_pick(const cpu_sparse *list, uint32_t point)
{
    uint32_t lo = 0, hi = list->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (list->points[mid] < point)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The point of pick i of a sparse list (CPU_NO_POINT: none left). */
static inline uint32_t cpu_next_pick(const cpu_sparse *list, uint32_t i)
{
    return i < list->n ? list->points[i] : CPU_NO_POINT;
}

/* A row's float sums into a slab's double sums: sum += rs and, unless wsum
 * is NULL, wsum += nxy (3 rs - first - last) and abs += ra (first, last: the
 * row's end points). restrict, so that it vectorises: through the fields of
 * cpu_worker the compiler must assume the sums overlap. */
CPU_HOT static void cpu_row_into(size_t C, double nxy, const float *restrict rs, const float *restrict ra,
                                 const float *restrict first, const float *restrict last, double *restrict sum,
                                 double *restrict wsum, double *restrict abs)
{
    for (size_t c = 0; c < C; c++)
        sum[c] += rs[c];
    if (!wsum)
        return;
    for (size_t c = 0; c < C; c++)
        wsum[c] += nxy * (3.0 * rs[c] - first[c] - last[c]);
    for (size_t c = 0; c < C; c++)
        abs[c] += ra[c];
}

/* One row of Z points at (x, y) through this cycle's pass (the rows of a
 * slab are not visited in point order when it diffuses: each row finds its
 * first noise and energy pick; the energy list is empty unless this is an
 * activity cycle). On an activity cycle (cb->speculate) the row is written
 * without energy, and the energy picks' values with energy go to their slots
 * of the draws list (see "Activity in the same pass"); on one whose outcome
 * is known (cb->measure_act) the row is written with any energy picked, and
 * |F| after step 5 summed. */
static void cpu_pass_row(cpu_brain *cb, cpu_worker *w, uint32_t x, uint32_t y, const float *const *box_rows,
                         const float *ahead)
{
    const brain_params *p = &cb->p;
    const uint32_t Z = cb->Z, C = cb->C;
    const uint32_t point0 = (x * cb->Y + y) * Z;
    const bool spec = cb->speculate, act = spec || cb->measure_act;
    const bool has_motor = cb->motor_rows[x * cb->Y + y];
    uint32_t next_noise = w->noise.n ? cpu_first_pick(&w->noise, point0) : 0;
    uint32_t next_energy = w->energy.n ? cpu_first_pick(&w->energy, point0) : 0;
    float *row = cb->field + (size_t)point0 * C;
    /* the first and last point of the row with energy (for W) */
    const float *first_e = row, *last_e = row + (size_t)(Z - 1) * C;
    memset(w->row_sum, 0, C * sizeof(float));
    memset(w->row_abs, 0, C * sizeof(float));
    w->row_sat = 0;
    if (act)
        memset(w->row_act, 0, C * sizeof(float));
    if (spec) {
        memset(w->row_sum_e, 0, C * sizeof(float));
        memset(w->row_abs_e, 0, C * sizeof(float));
        w->row_sat_e = 0;
    }
    const cpu_consts k = {p->decay, cb->keep_in, cb->keep_box, p->clamp_limit};
    /* The runs between picks go through cpu_sweep_span: cpu_sweep4's
     * arithmetic, 4 points at once, where 4 points are at most 1 KB (64
     * channels), and cpu_sweep1's, point by point, above: cpu_sweep4's 4
     * streams C floats apart (16 with the box sums) are more than the cores'
     * prefetch follows once they are that far apart, and at 192 channels a
     * plain cycle ran 1.5x faster point by point, at 32 channels 1.8x slower
     * (BENCHMARKS.md). The additions are the same, in the same order, either
     * way. */
    const uint32_t step = C <= 64 ? 4 : 1;
    for (uint32_t z = 0; z < Z; z++) {
        const uint32_t noise_point = cpu_next_pick(&w->noise, next_noise);
        const uint32_t energy_point = cpu_next_pick(&w->energy, next_energy);
        /* the points up to the next one with noise, energy or a motor, in
         * steps of `step` points (both picks lie at or after this point) */
        uint32_t end = z;
        if (has_motor) {
            while (end < Z && point0 + end != noise_point && point0 + end != energy_point &&
                   !cb->motor_mask[point0 + end])
                end++;
        } else {
            const uint64_t pick = noise_point < energy_point ? noise_point : energy_point;
            end = pick - point0 < Z ? (uint32_t)(pick - point0) : Z;
        }
        if (z < end) {
            const uint32_t steps = (end - z) / step, rest = (end - z) % step;
            const size_t at = (size_t)z * C;
            const cpu_span span = {
                .k = k, .C = C, .step = step, .steps = steps, .rest = rest, .f = row + at,
                .box0 = box_rows ? box_rows[0] + at : NULL, .box1 = box_rows ? box_rows[1] + at : NULL,
                .box2 = box_rows ? box_rows[2] + at : NULL, .off = cb->offset, .rs = w->row_sum, .ra = w->row_abs,
                .act = act ? w->row_act : NULL, .rs_e = spec ? w->row_sum_e : NULL, .ra_e = spec ? w->row_abs_e : NULL,
                .ahead = ahead ? ahead + at : NULL,
            };
            const uint32_t sat = cpu_sweep_span(&span);
            w->row_sat += sat;
            if (spec)
                w->row_sat_e += sat; /* energy adds nothing in a run */
            z = end;
        }
        if (z == Z)
            break;
        /* one point at a time: a point with noise, energy or a motor */
        const uint32_t here = point0 + z;
        float *f = row + (size_t)z * C;
        const float *b0 = NULL, *b1 = NULL, *b2 = NULL, *noise = NULL;
        float *energy = NULL;
        if (box_rows) {
            b0 = box_rows[0] + (size_t)z * C;
            b1 = box_rows[1] + (size_t)z * C;
            b2 = box_rows[2] + (size_t)z * C;
        }
        if (here == noise_point)
            noise = w->noise.draws + (size_t)next_noise++ * C;
        if (here == energy_point)
            energy = w->energy.draws + (size_t)next_energy++ * C;
        if (!cb->motor_mask[here]) {
            if (!act) {
                w->row_sat += cpu_sweep1(k, C, f, b0, b1, b2, noise, cb->offset, w->row_sum, w->row_abs);
                continue;
            }
            w->row_sat += cpu_sweep1_act(spec, k, C, f, b0, b1, b2, noise, energy, cb->offset, w->row_sum, w->row_abs,
                                         w->row_act, w->row_sum_e, w->row_abs_e, &w->row_sat_e);
            if (spec && energy && z == 0)
                first_e = energy;
            if (spec && energy && z == Z - 1)
                last_e = energy;
            continue;
        }
        /* a motor spot: steps 2-5 */
        cpu_advance1(k, C, w->scratch, f, b0, b1, b2, noise, cb->offset);
        if (!act) {
            cpu_record_motors(cb, here, w->scratch, cb->motor_sum);
            w->row_sat += cpu_clamp1(k.lim, C, f, w->scratch, w->row_sum, w->row_abs);
            continue;
        }
        cpu_abs_add1(C, w->scratch, w->row_act);
        const float *with_energy = w->scratch;
        if (energy) {
            /* step 6, after step 5 */
            for (uint32_t c = 0; c < C; c++)
                w->scratch_e[c] = w->scratch[c] + energy[c];
            with_energy = w->scratch_e;
        }
        if (!spec) {
            /* the outcome is known: energy (if picked) is due */
            cpu_record_motors(cb, here, with_energy, cb->motor_sum);
            w->row_sat += cpu_clamp1(k.lim, C, f, with_energy, w->row_sum, w->row_abs);
            continue;
        }
        {
            cpu_record_motors(cb, here, w->scratch, cb->motor_sum);
            cpu_record_motors(cb, here, with_energy, cb->motor_sum_e);
        }
        uint32_t sat = cpu_clamp1(k.lim, C, f, w->scratch, w->row_sum, w->row_abs);
        w->row_sat += sat;
        if (energy) {
            w->row_sat_e += cpu_clamp1(k.lim, C, energy, w->scratch_e, w->row_sum_e, w->row_abs_e);
            if (z == 0)
                first_e = energy;
            if (z == Z - 1)
                last_e = energy;
        } else {
            cpu_row_add1(C, f, w->row_sum_e, w->row_abs_e);
            w->row_sat_e += sat;
        }
    }

    /* S, W (the weights of z are 3 inside and 2 at the ends: 3 S - ends),
     * |F| and the saturated count of the clamped row */
    const double nxy = (double)(cpu__neighbours(x, cb->X) * cpu__neighbours(y, cb->Y));
    cpu_row_into(C, nxy, w->row_sum, w->row_abs, row, row + (size_t)(Z - 1) * C, w->sum, w->wsum, w->abs_sum);
    w->sat_count += w->row_sat;
    if (act)
        cpu_row_into(C, 0.0, w->row_act, NULL, NULL, NULL, w->act_sum, NULL, NULL);
    if (!spec)
        return;
    cpu_row_into(C, nxy, w->row_sum_e, w->row_abs_e, first_e, last_e, w->sum_e, w->wsum_e, w->abs_sum_e);
    w->sat_count_e += w->row_sat_e;
}

/* This cycle's share of each sparse step's next cycle (cb->ahead,
 * brain_cpu.c "Sparse draws ahead"): 1 / cycles_left of the slab's planes
 * not yet made, rounded up. */
static void cpu_sparse_ahead(cpu_brain *cb, cpu_worker *w, uint32_t x1)
{
    for (int s = 0; s < CPU_SPARSE_STEPS; s++) {
        const cpu_ahead *a = &cb->ahead[s];
        if (!a->now)
            continue;
        const uint64_t left = x1 - w->ahead_x[s];
        const uint32_t planes = (uint32_t)((left + a->cycles_left - 1) / a->cycles_left);
        cpu_sparse_more(cb, w, s, w->ahead_x[s] + planes, a->key, a->threshold, a->sd);
    }
}

/* The pass over one slab. Diffusion runs in place, in tiles of tile_rows
 * rows of y across the slab: for each x the (y, z) box sums of the tile's rows
 * of plane x+1 are computed before plane x is written (three planes' worth in
 * turn in w->ring, small enough to stay in the core's cache, where whole
 * planes would not); the z sums of each plane's last row of a tile are kept
 * in w->halo for the next tile, whose first box sums need that row as it was;
 * the planes next to the slab, which other threads write, were summed by
 * cpu__job_prepare. While it writes plane x, the pass asks for the rows of
 * the field that the next box sums will read (plane x+2, or the next tile's
 * first planes): those are the cycle's first reads of them from memory, and
 * the sweep's arithmetic hides them where the box sums alone would wait. */
void cpu__job_pass(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    const uint32_t Y = cb->Y, C = cb->C;
    const size_t row = (size_t)cb->Z * C;
    cpu_worker *w = &cb->workers[worker];
    memset(w->sum, 0, C * sizeof(double));
    memset(w->wsum, 0, C * sizeof(double));
    memset(w->abs_sum, 0, C * sizeof(double));
    w->sat_count = 0;
    if (cb->speculate || cb->measure_act)
        memset(w->act_sum, 0, C * sizeof(double));
    if (cb->speculate) {
        memset(w->sum_e, 0, C * sizeof(double));
        memset(w->wsum_e, 0, C * sizeof(double));
        memset(w->abs_sum_e, 0, C * sizeof(double));
        w->sat_count_e = 0;
    }
    if (!cb->cyc->diffusion) {
        for (uint32_t x = x0; x < x1; x++)
            for (uint32_t y = 0; y < Y; y++)
                cpu_pass_row(cb, w, x, y, NULL, NULL);
        cpu_sparse_ahead(cb, w, x1);
        return;
    }
    const uint32_t T = cb->tile_rows;
    for (uint32_t ya = 0; ya < Y; ya += T) {
        const uint32_t yb = ya + T < Y ? ya + T : Y;
        float *halo = w->halo;  /* the row of plane x: halo + (x - x0) * row */
        float *slot[3];         /* the box sums of the tile in plane x: slot[(x - x0) % 3] */
        for (int i = 0; i < 3; i++)
            slot[i] = w->ring + (size_t)i * T * row;
        cpu_box_rows(cb, w, x0, ya, yb, halo, yb < Y ? halo : NULL, slot[0]);
        for (uint32_t x = x0; x < x1; x++) {
            const float *before = x > x0 ? slot[(x - x0 + 2) % 3] : x > 0 ? w->edge_lo + (size_t)ya * row : NULL;
            const float *here = slot[(x - x0) % 3];
            const float *after = NULL;
            if (x + 1 < x1) {
                float *h = halo + (size_t)(x + 1 - x0) * row;
                cpu_box_rows(cb, w, x + 1, ya, yb, h, yb < Y ? h : NULL, slot[(x + 1 - x0) % 3]);
                after = slot[(x + 1 - x0) % 3];
            } else if (x + 1 < cb->X) {
                after = w->edge_hi + (size_t)ya * row;
            }
            /* the plane and tile whose box sums come next after this
             * sweep: x + 2, or wrapping into the next tile */
            uint32_t ax = x + 2, aya = ya;
            if (ax >= x1) {
                ax = x0 + (ax - x1);
                aya = yb;
            }
            const bool pf = ax < x1 && aya < Y;
            for (uint32_t y = ya; y < yb; y++) {
                const size_t at = (size_t)(y - ya) * row;
                const float *box_rows[3] = {before ? before + at : cb->zero_row, here + at,
                                            after ? after + at : cb->zero_row};
                const uint32_t ay = aya + (y - ya);
                const float *ahead = pf && ay < Y ? cb->field + ((size_t)ax * Y + ay) * row : NULL;
                cpu_pass_row(cb, w, x, y, box_rows, ahead);
            }
        }
    }
}

/* Step 6 after an activity cycle's pass that found it due: each energy
 * pick's values with energy (clamped, in its slot of the draws list) into
 * the field, and the slab's sums of that outcome in place of the others. */
void cpu__job_energize(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    (void)x0;
    (void)x1;
    cpu_worker *w = &cb->workers[worker];
    const size_t C = cb->C;
    for (uint32_t i = 0; i < w->energy.n; i++)
        memcpy(cb->field + (size_t)w->energy.points[i] * C, w->energy.draws + (size_t)i * C, C * sizeof(float));
    memcpy(w->sum, w->sum_e, C * sizeof(double));
    memcpy(w->wsum, w->wsum_e, C * sizeof(double));
    memcpy(w->abs_sum, w->abs_sum_e, C * sizeof(double));
    w->sat_count = w->sat_count_e;
}


void cpu__job_init(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    (void)worker;
    const uint32_t C = cb->C, YZ = cb->Y * cb->Z;
    uint32_t key = rng_key(cb->p.seed, 0, RNG_STREAM_INIT);
    for (uint32_t point = x0 * YZ; point < x1 * YZ; point++)
        cpu_normals(key, point, C, cb->p.init_std, cb->field + (size_t)point * C);
}
