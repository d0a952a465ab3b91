// Host emulation of the CUDA preprocessing kernel: a stand-in for a GPU, for machines without
// one. It compiles cuda/preprocess.cu with g++ (the CUDA qualifiers and rounding intrinsics
// mapped to plain IEEE operations, which is what the intrinsics are), runs every "thread" of
// the grid one after another, and writes the tensor. tests/cuda_host_emulation.rs drives it.
//
// Usage: emulate IN OUT. IN (little-endian): i32 batch, dst_w, dst_h, dtype, layout, order;
// f32 mul[3], add[3], pad[3]; i32 pad_u8; per frame u64 length + bytes; per frame 24 u64
// descriptor words (word 0 is replaced by the frame's host address).
#define ES_HOST_EMULATION 1

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

struct EsDim3 {
    unsigned x, y, z;
};
static EsDim3 blockIdx, threadIdx, blockDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__

using std::max;
using std::min;
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __double2float_rn(double a) { return static_cast<float>(a); }
static inline double __longlong_as_double(long long v)
{
    double d;
    std::memcpy(&d, &v, sizeof d);
    return d;
}

// f32 -> f16 bits, round to nearest even (what cvt.rn.f16.f32 does), in integer arithmetic so
// it does not depend on the compiler's _Float16 support.
static inline unsigned short es_host_f32_to_f16(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mant = x & 0x7fffffu;
    int exp = static_cast<int>((x >> 23) & 0xffu);
    if (exp == 255) {
        return static_cast<unsigned short>(sign | 0x7c00u | (mant != 0 ? 0x200u | (mant >> 13) : 0u));
    }
    int e = exp - 127 + 15;
    if (e >= 31) {
        return static_cast<unsigned short>(sign | 0x7c00u);
    }
    if (e <= 0) {
        if (e < -10) {
            return static_cast<unsigned short>(sign);
        }
        uint32_t m = mant | 0x800000u;
        int shift = 14 - e;
        uint32_t h = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) {
            ++h;
        }
        return static_cast<unsigned short>(sign | h);
    }
    uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) {
        ++h; // a carry into the exponent is right, up to infinity
    }
    return static_cast<unsigned short>(sign | h);
}

#include "preprocess.cu"

template <typename T>
static T take(const std::vector<char>& in, std::size_t& at)
{
    T v;
    std::memcpy(&v, in.data() + at, sizeof v);
    at += sizeof v;
    return v;
}

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: emulate IN OUT\n");
        return 2;
    }
    std::ifstream f(argv[1], std::ios::binary);
    std::vector<char> in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::size_t at = 0;
    int ints[6];
    for (int& i : ints) {
        i = take<int32_t>(in, at);
    }
    float fl[9];
    for (float& v : fl) {
        v = take<float>(in, at);
    }
    int pad_u8 = take<int32_t>(in, at);
    int batch = ints[0], dst_w = ints[1], dst_h = ints[2], dtype = ints[3];
    std::vector<std::vector<unsigned char>> frames(batch);
    for (auto& fr : frames) {
        uint64_t len = take<uint64_t>(in, at);
        fr.assign(in.begin() + at, in.begin() + at + len);
        at += len;
    }
    std::vector<unsigned long long> desc(static_cast<std::size_t>(batch) * ES_DESC_WORDS);
    for (auto& w : desc) {
        w = take<uint64_t>(in, at);
    }
    for (int b = 0; b < batch; ++b) {
        desc[static_cast<std::size_t>(b) * ES_DESC_WORDS] =
            reinterpret_cast<unsigned long long>(frames[b].data());
    }
    std::size_t elem = dtype == 0 ? 1 : dtype == 1 ? 2 : 4;
    std::vector<unsigned char> out(static_cast<std::size_t>(batch) * dst_w * dst_h * 3 * elem, 0xAB);
    blockDim = {32, 8, 1};
    unsigned gx = (dst_w + 31) / 32, gy = (dst_h + 7) / 8;
    for (unsigned z = 0; z < static_cast<unsigned>(batch); ++z)
        for (unsigned by = 0; by < gy; ++by)
            for (unsigned bx = 0; bx < gx; ++bx)
                for (unsigned ty = 0; ty < blockDim.y; ++ty)
                    for (unsigned tx = 0; tx < blockDim.x; ++tx) {
                        blockIdx = {bx, by, z};
                        threadIdx = {tx, ty, 0};
                        es_preprocess_batch(desc.data(), batch, out.data(), dst_w, dst_h, dtype,
                                            ints[4], ints[5], fl[0], fl[1], fl[2], fl[3], fl[4],
                                            fl[5], fl[6], fl[7], fl[8], pad_u8);
                    }
    std::ofstream o(argv[2], std::ios::binary);
    o.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return o.good() ? 0 : 1;
}
