//! The CUDA C source of the training kernels: the model's step ([`super::model`]) as
//! six kernels, one thread per output element, each running the sequential sum the CPU
//! runs with every operation an `_rn` intrinsic (PTX never contracts an add or multiply
//! that carries an explicit rounding mode into an FMA), after `gm_exp` from
//! [`super::ops::cuda_exp_source`]. Compiled by NVRTC in [`super::cuda`].
//!
//! Kernels, in launch order per step: `gm_hidden` (batch·hidden threads, step 1),
//! `gm_logits_softmax` (batch threads, steps 2 and 3), `gm_grad_out` (classes·(hidden+1),
//! step 4, the last column the bias), `gm_back_hidden` (batch·hidden, step 5),
//! `gm_grad_in` (hidden·(input+1), step 6), `gm_update` (one per parameter, step 7).

use super::ops::cuda_exp_source;

const KERNELS: &str = r#"
extern "C" __global__ void gm_hidden(const float* P, const float* X, const unsigned int* idx,
        float* H, unsigned int B, unsigned int n, unsigned int hd, unsigned int w1,
        unsigned int b1) {
    const unsigned int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= B * hd) return;
    const unsigned int b = t / hd, i = t % hd;
    const float* x = X + (size_t)idx[b] * n;
    const float* w = P + w1 + (size_t)i * n;
    float a = P[b1 + i];
    for (unsigned int k = 0; k < n; ++k) a = __fadd_rn(a, __fmul_rn(w[k], x[k]));
    H[t] = a > 0.0f ? a : 0.0f;
}

extern "C" __global__ void gm_logits_softmax(const float* P, const float* H,
        const unsigned int* idx, const unsigned int* labels, float* Z, float* DZ,
        unsigned int B, unsigned int hd, unsigned int c, unsigned int w2, unsigned int b2,
        float inv_b) {
    const unsigned int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    const float* h = H + (size_t)b * hd;
    float* z = Z + (size_t)b * c;
    float* dz = DZ + (size_t)b * c;
    for (unsigned int j = 0; j < c; ++j) {
        const float* w = P + w2 + (size_t)j * hd;
        float a = P[b2 + j];
        for (unsigned int i = 0; i < hd; ++i) a = __fadd_rn(a, __fmul_rn(w[i], h[i]));
        z[j] = a;
    }
    float m = z[0];
    for (unsigned int j = 1; j < c; ++j) if (z[j] > m) m = z[j];
    float s = 0.0f;
    for (unsigned int j = 0; j < c; ++j) {
        const float e = gm_exp(__fsub_rn(z[j], m));
        dz[j] = e;
        s = __fadd_rn(s, e);
    }
    const unsigned int label = labels[idx[b]];
    for (unsigned int j = 0; j < c; ++j) {
        const float target = j == label ? 1.0f : 0.0f;
        dz[j] = __fmul_rn(__fsub_rn(__fdiv_rn(dz[j], s), target), inv_b);
    }
}

extern "C" __global__ void gm_grad_out(const float* H, const float* DZ, float* G,
        unsigned int B, unsigned int hd, unsigned int c, unsigned int w2, unsigned int b2) {
    const unsigned int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= c * (hd + 1)) return;
    const unsigned int j = t / (hd + 1), i = t % (hd + 1);
    float a = 0.0f;
    if (i < hd) {
        for (unsigned int b = 0; b < B; ++b)
            a = __fadd_rn(a, __fmul_rn(DZ[(size_t)b * c + j], H[(size_t)b * hd + i]));
        G[w2 + j * hd + i] = a;
    } else {
        for (unsigned int b = 0; b < B; ++b) a = __fadd_rn(a, DZ[(size_t)b * c + j]);
        G[b2 + j] = a;
    }
}

extern "C" __global__ void gm_back_hidden(const float* P, const float* H, const float* DZ,
        float* DH, unsigned int B, unsigned int hd, unsigned int c, unsigned int w2) {
    const unsigned int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= B * hd) return;
    const unsigned int b = t / hd, i = t % hd;
    float a = 0.0f;
    if (H[t] > 0.0f) {
        for (unsigned int j = 0; j < c; ++j)
            a = __fadd_rn(a, __fmul_rn(P[w2 + j * hd + i], DZ[(size_t)b * c + j]));
    }
    DH[t] = a;
}

extern "C" __global__ void gm_grad_in(const float* X, const unsigned int* idx,
        const float* DH, float* G, unsigned int B, unsigned int n, unsigned int hd,
        unsigned int w1, unsigned int b1) {
    const unsigned int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= hd * (n + 1)) return;
    const unsigned int i = t / (n + 1), k = t % (n + 1);
    float a = 0.0f;
    if (k < n) {
        for (unsigned int b = 0; b < B; ++b)
            a = __fadd_rn(a, __fmul_rn(DH[(size_t)b * hd + i], X[(size_t)idx[b] * n + k]));
        G[w1 + i * n + k] = a;
    } else {
        for (unsigned int b = 0; b < B; ++b) a = __fadd_rn(a, DH[(size_t)b * hd + i]);
        G[b1 + i] = a;
    }
}

extern "C" __global__ void gm_update(float* P, float* V, const float* G, unsigned int len,
        float mu, float lr) {
    const unsigned int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= len) return;
    const float v = __fadd_rn(__fmul_rn(mu, V[t]), G[t]);
    V[t] = v;
    P[t] = __fsub_rn(P[t], __fmul_rn(lr, v));
}
"#;

/// The full CUDA C program: `gm_exp`, then the kernels.
pub fn kernel_source() -> String {
    format!("{}{KERNELS}", cuda_exp_source())
}
