// Device helpers for kernels templated on their element type (float, __nv_bfloat16, __half):
// scalar conversions and eight consecutive elements loaded or stored as f32 in one access (16
// bytes for the half types, two float4 for f32; the address must be 16-byte aligned).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace glimpse::ops::cuda_kernels {

__device__ inline float to_f32(float v) {
  return v;
}
__device__ inline float to_f32(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
__device__ inline float to_f32(__half v) {
  return __half2float(v);
}

// Round to nearest even.
template <typename T>
__device__ inline T from_f32(float v);
template <>
__device__ inline float from_f32<float>(float v) {
  return v;
}
template <>
__device__ inline __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ inline __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}

__device__ inline void load8(const float* p, float out[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
  out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}
__device__ inline void load8(const __nv_bfloat16* p, float out[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __bfloat1622float2(pairs[j]);
    out[2 * j] = f.x, out[2 * j + 1] = f.y;
  }
}
__device__ inline void load8(const __half* p, float out[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const auto* pairs = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 f = __half22float2(pairs[j]);
    out[2 * j] = f.x, out[2 * j + 1] = f.y;
  }
}

__device__ inline void store8(float* p, const float v[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ inline void store8(__nv_bfloat16* p, const float v[8]) {
  uint4 raw;
  auto* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) pairs[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}
__device__ inline void store8(__half* p, const float v[8]) {
  uint4 raw;
  auto* pairs = reinterpret_cast<__half2*>(&raw);
#pragma unroll
  for (int j = 0; j < 4; ++j) pairs[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}

// Four elements as f32 (16, or 8 bytes for the half types; aligned to that).
__device__ inline float4 load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ inline float4 load4(const __nv_bfloat16* p) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
  const float2 a = __bfloat1622float2(pairs[0]), b = __bfloat1622float2(pairs[1]);
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ inline float4 load4(const __half* p) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const auto* pairs = reinterpret_cast<const __half2*>(&raw);
  const float2 a = __half22float2(pairs[0]), b = __half22float2(pairs[1]);
  return make_float4(a.x, a.y, b.x, b.y);
}

// Four elements from f32 (16, or 8 bytes for the half types; aligned to that).
__device__ inline void store4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}
__device__ inline void store4(__nv_bfloat16* p, float4 v) {
  __nv_bfloat162 pairs[2] = {__floats2bfloat162_rn(v.x, v.y), __floats2bfloat162_rn(v.z, v.w)};
  *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(pairs);
}
__device__ inline void store4(__half* p, float4 v) {
  __half2 pairs[2] = {__floats2half2_rn(v.x, v.y), __floats2half2_rn(v.z, v.w)};
  *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(pairs);
}

}  // namespace glimpse::ops::cuda_kernels
