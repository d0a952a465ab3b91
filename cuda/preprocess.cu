// Batch preprocessing on the GPU: every frame of a batch (NV12, I420, RGB, BGR, RGBA, BGRA in
// device memory) → its slot of one batch tensor (u8/f16/f32, NCHW/NHWC, letterbox/stretch),
// one launch per batch. The contract is the CPU reference's (src/preprocess/): YUV converted to
// RGB8 per pixel with the host's fixed-point coefficients, nearest chroma; bilinear, pixel-centre
// aligned taps computed in double exactly as the host does; U8 with 11-bit fixed-point weights;
// F32/F16 interpolated in float with explicitly rounded operations (no FMA contraction), so the
// results match the CPU's arithmetic step by step. F16 is the F32 value rounded to nearest even.
//
// Launch: grid (ceil(dst_w / bx), ceil(dst_h / by), batch), one thread per output pixel.
// Per frame, ES_DESC_WORDS 64-bit words at desc[b * ES_DESC_WORDS] (written by
// src/gpu/preprocess.rs, which checks everything before launching; nothing is checked here).
//
// Compiled at run time by NVRTC for the device's own sm_XY; no headers needed. Tests also compile
// this file with the host's C++ compiler (ES_HOST_EMULATION, tests/cuda_host/emulate.cpp) to
// check the kernel's logic against the CPU reference where there is no GPU.

enum DescWord {
    D_DATA = 0,     // device pointer to the frame's bytes
    D_FORMAT = 1,   // 0 NV12, 1 I420, 2 RGB, 3 BGR, 4 RGBA, 5 BGRA
    D_WIDTH = 2,
    D_HEIGHT = 3,
    D_OFFSET0 = 4,  // plane offsets (bytes), planes 0..2
    D_STRIDE0 = 7,  // plane strides (bytes), planes 0..2
    D_NEW_W = 10,   // content size in model pixels
    D_NEW_H = 11,
    D_OFF_X = 12,   // content origin in model pixels
    D_OFF_Y = 13,
    D_INV_SX = 14,  // source pixels per content pixel (double bits)
    D_INV_SY = 15,
    D_Y_OFFSET = 16, // YUV coefficients (signed 32-bit values), see src/preprocess/color.rs
    D_Y_MUL = 17,
    D_R_V = 18,
    D_G_U = 19,
    D_G_V = 20,
    D_B_U = 21,
    ES_DESC_WORDS = 24
};

#define ES_FRAC_BITS 11
#define ES_ONE (1u << ES_FRAC_BITS)
#define ES_SHIFT (2 * ES_FRAC_BITS)
#define ES_ROUND (1u << (ES_SHIFT - 1))
#define ES_YUV_FRAC_BITS 16

struct Tap {
    int i0, i1;
    unsigned int w0, w1;
    float f0, f1;
};

// Same arithmetic as src/preprocess/plan.rs `tap`.
__device__ __forceinline__ Tap es_tap(int dst, double inv_scale, int src_len)
{
    int last = src_len - 1;
    double s = __dadd_rn(__dmul_rn(__dadd_rn((double)dst, 0.5), inv_scale), -0.5);
    s = fmin(fmax(s, 0.0), (double)last);
    int i0 = min((int)floor(s), last);
    Tap t;
    t.i0 = i0;
    t.i1 = min(i0 + 1, last);
    double f = __dadd_rn(s, -(double)i0);
    unsigned int w1 = (unsigned int)round(__dmul_rn(f, (double)ES_ONE));
    t.w1 = min(w1, ES_ONE);
    t.w0 = ES_ONE - t.w1;
    t.f0 = __double2float_rn(__dadd_rn(1.0, -f));
    t.f1 = __double2float_rn(f);
    return t;
}

__device__ __forceinline__ int es_clamp255(int v)
{
    return min(max(v, 0), 255);
}

// Source pixel (x, y) as R, G, B.
__device__ __forceinline__ void es_fetch(const unsigned long long* d, int x, int y, int rgb[3])
{
    const unsigned char* data = (const unsigned char*)d[D_DATA];
    int format = (int)d[D_FORMAT];
    if (format <= 1) {
        int yv = data[d[D_OFFSET0] + (unsigned long long)y * d[D_STRIDE0] + x];
        int u, v;
        unsigned long long crow = (unsigned long long)(y >> 1);
        if (format == 0) {
            const unsigned char* uv = data + d[D_OFFSET0 + 1] + crow * d[D_STRIDE0 + 1] + (x >> 1) * 2;
            u = uv[0];
            v = uv[1];
        } else {
            u = data[d[D_OFFSET0 + 1] + crow * d[D_STRIDE0 + 1] + (x >> 1)];
            v = data[d[D_OFFSET0 + 2] + crow * d[D_STRIDE0 + 2] + (x >> 1)];
        }
        int y_mul = (int)d[D_Y_MUL];
        int c = y_mul * yv + ((1 << (ES_YUV_FRAC_BITS - 1)) - y_mul * (int)d[D_Y_OFFSET]);
        u -= 128;
        v -= 128;
        int rv = (int)d[D_R_V] * v;
        int guv = -(int)d[D_G_U] * u - (int)d[D_G_V] * v;
        int bu = (int)d[D_B_U] * u;
        rgb[0] = es_clamp255((c + rv) >> ES_YUV_FRAC_BITS);
        rgb[1] = es_clamp255((c + guv) >> ES_YUV_FRAC_BITS);
        rgb[2] = es_clamp255((c + bu) >> ES_YUV_FRAC_BITS);
    } else {
        int bpp = format >= 4 ? 4 : 3;
        const unsigned char* p = data + d[D_OFFSET0] + (unsigned long long)y * d[D_STRIDE0] + x * bpp;
        bool bgr = format == 3 || format == 5;
        rgb[0] = p[bgr ? 2 : 0];
        rgb[1] = p[1];
        rgb[2] = p[bgr ? 0 : 2];
    }
}

__device__ __forceinline__ unsigned short es_f32_to_f16(float x)
{
    unsigned short h;
#ifdef ES_HOST_EMULATION
    h = es_host_f32_to_f16(x); // round to nearest even, like cvt.rn
#else
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
#endif
    return h;
}

// dtype: 0 u8, 1 f16, 2 f32. layout: 0 NCHW, 1 NHWC. order: 0 RGB, 1 BGR.
// mul/add: per output channel normalisation (value = pixel * mul + add); pad_f: the normalised
// pad value per output channel; pad_u8: the raw pad value.
extern "C" __global__ void es_preprocess_batch(
    const unsigned long long* __restrict__ desc, int batch, void* __restrict__ out, int dst_w,
    int dst_h, int dtype, int layout, int order, float mul0, float mul1, float mul2, float add0,
    float add1, float add2, float pad0, float pad1, float pad2, int pad_u8)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int b = blockIdx.z;
    if (x >= dst_w || y >= dst_h || b >= batch) {
        return;
    }
    const unsigned long long* d = desc + (unsigned long long)b * ES_DESC_WORDS;
    int new_w = (int)d[D_NEW_W], new_h = (int)d[D_NEW_H];
    int off_x = (int)d[D_OFF_X], off_y = (int)d[D_OFF_Y];
    bool inside = x >= off_x && x < off_x + new_w && y >= off_y && y < off_y + new_h;

    unsigned int vu8[3];
    float vf[3];
    float mul[3] = {mul0, mul1, mul2};
    float add[3] = {add0, add1, add2};
    if (!inside) {
        vu8[0] = vu8[1] = vu8[2] = (unsigned int)pad_u8;
        vf[0] = pad0;
        vf[1] = pad1;
        vf[2] = pad2;
    } else {
        int sw = (int)d[D_WIDTH], sh = (int)d[D_HEIGHT];
        Tap tx = es_tap(x - off_x, __longlong_as_double((long long)d[D_INV_SX]), sw);
        Tap ty = es_tap(y - off_y, __longlong_as_double((long long)d[D_INV_SY]), sh);
        int p00[3], p10[3], p01[3], p11[3];
        es_fetch(d, tx.i0, ty.i0, p00);
        es_fetch(d, tx.i1, ty.i0, p10);
        es_fetch(d, tx.i0, ty.i1, p01);
        es_fetch(d, tx.i1, ty.i1, p11);
        for (int k = 0; k < 3; ++k) {
            int c = order == 0 ? k : 2 - k;
            if (dtype == 0) {
                unsigned int top = (unsigned int)p00[c] * tx.w0 + (unsigned int)p10[c] * tx.w1;
                unsigned int bot = (unsigned int)p01[c] * tx.w0 + (unsigned int)p11[c] * tx.w1;
                vu8[k] = (top * ty.w0 + bot * ty.w1 + ES_ROUND) >> ES_SHIFT;
            } else {
                float top = __fadd_rn(__fmul_rn((float)p00[c], tx.f0), __fmul_rn((float)p10[c], tx.f1));
                float bot = __fadd_rn(__fmul_rn((float)p01[c], tx.f0), __fmul_rn((float)p11[c], tx.f1));
                float v = __fadd_rn(__fmul_rn(top, ty.f0), __fmul_rn(bot, ty.f1));
                vf[k] = __fadd_rn(__fmul_rn(v, mul[k]), add[k]);
            }
        }
    }

    unsigned long long plane = (unsigned long long)dst_w * dst_h;
    unsigned long long base = (unsigned long long)b * plane * 3;
    unsigned long long pix = (unsigned long long)y * dst_w + x;
    for (int k = 0; k < 3; ++k) {
        unsigned long long i = base + (layout == 0 ? k * plane + pix : pix * 3 + k);
        if (dtype == 0) {
            ((unsigned char*)out)[i] = (unsigned char)vu8[k];
        } else if (dtype == 1) {
            ((unsigned short*)out)[i] = es_f32_to_f16(vf[k]);
        } else {
            ((float*)out)[i] = vf[k];
        }
    }
}
