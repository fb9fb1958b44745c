// Fused norm-GRU on the CPU (LayerNorm, RMSNorm or none): sequence forward and backward
// through time.
//
// Semantics (nn.GRUCell gate order r, z, n; the norm without shift over the 3H vector,
// lngru_norm.h):
//   a = norm(x W_ih^T) * gamma_ih + b_ih        c = norm(h W_hh^T) * gamma_hh + b_hh
//   r = sigmoid(a_r + c_r)   z = sigmoid(a_z + c_z)   n = tanh(a_n + r * c_n)
//   h' = (1 - z) * n + z * h
// Without a norm there are no gains either (exactly nn.GRUCell). reset[t, b] zeroes the
// state entering step t. The cell op is this with T = 1. One code path for all three
// norms: the row functions are templates on the norm kind.
//
// Cost structure: the input projection of all T steps is one product, each step is one
// recurrent product plus ONE fused pass per row (reset, norm, gates, new state); backward
// per step is one fused pass per row (reset cut, gates backward, recurrent-side norm
// backward) plus one product, then one pass over all rows (bias and gain gradients, the
// input-side norm backward) and three large products for the input and weight gradients.
// Every product goes straight to torch's BLAS on raw pointers (no ATen dispatch, views or
// allocations per step): at A3C sizes the per-step overhead is what a fused op can save.
// (Where torch's BLAS cannot be found, through at::mm: see torch_blas().)
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/mm_ops.h>

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define PYRL_HAVE_DLFCN 1
#else
#define PYRL_HAVE_DLFCN 0
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu_isa.h"
#include "gemm.h"
#include "lngru_checks.h"
#include "lngru_cpu.h"
#include "portability.h"
#include "pyrl.h"

namespace pyrl {
namespace {

using lngru_checks::check_arg;
using lngru_checks::check_inputs;
using lngru_checks::Dims;

// Rows of a step are independent; run them in parallel only when a chunk is worth a
// thread wake-up (A3C sizes run serially, which is also what one worker thread wants).
int64_t row_grain(int64_t row_len) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(row_len, 1)); }

// ---- matrix products: torch's own BLAS, called directly on raw pointers ----
// The per-step products are small (B rows): ATen's mm_out with its dispatch, views and
// checks cost about as much as the product itself at A3C sizes. So the products call the
// sgemm_/dgemm_ that ATen's CPU mm calls in the end (at::native::cpublas::gemm, which is
// not exported), with the same threading (torch's thread setting reaches the BLAS).
//
// They are looked up at run time, not linked: in the library that holds ATen's mm (and its
// dependencies), so it is the BLAS torch itself uses (MKL in the x86-64 wheels, OpenBLAS
// in others), never one another module brought into the process. Where that library has
// no such symbols (a torch without a BLAS, one that hides them, no dlfcn), the products go
// through at::mm_out / addmm_ on views of the same pointers instead: same results, only
// the per-step overhead comes back. set_lngru_cpu_blas("aten") forces that path (tests).
using sgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*,
                          const float*, const float*, const int*, const float*, const int*,
                          const float*, float*, const int*);
using dgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*,
                          const double*, const double*, const int*, const double*, const int*,
                          const double*, double*, const int*);

struct TorchBlas {
  sgemm_fn sgemm = nullptr;
  dgemm_fn dgemm = nullptr;
  bool found() const { return sgemm != nullptr && dgemm != nullptr; }
};

TorchBlas find_torch_blas() {
  TorchBlas blas;
#if PYRL_HAVE_DLFCN
  // at::_ops::mm::call is defined in torch's CPU library (libtorch_cpu): its file is where
  // ATen's mm, and so ATen's BLAS, lives. dlsym on that library's handle searches it and
  // its dependencies, in load order.
  using mm_call = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
  const mm_call probe = &at::_ops::mm::call;
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(probe), &info) == 0 || info.dli_fname == nullptr)
    return blas;
  void* lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);  // already loaded: a handle only
  if (lib == nullptr) return blas;
  blas.sgemm = reinterpret_cast<sgemm_fn>(dlsym(lib, "sgemm_"));
  blas.dgemm = reinterpret_cast<dgemm_fn>(dlsym(lib, "dgemm_"));
  dlclose(lib);  // torch stays loaded (the probe's library is in use): the pointers stay valid
  if (!blas.found()) blas = TorchBlas{};
#endif
  return blas;
}

// ---- the self-test the direct path must pass before it is used ----
// The BLAS is found by name, so its integer width is assumed, not known: an ILP64 BLAS (MKL
// ILP64, OpenBLAS with INTERFACE64) exporting the unsuffixed names reads 8 bytes per integer
// argument. So before the first product, one small product with known integer results runs
// through the found function with each integer argument followed in memory by a sentinel
// of -1: an LP64 BLAS reads the 4-byte value alone; an ILP64 one reads a negative size
// (little-endian), refuses the call (xerbla) and leaves C alone. (MKL's and OpenBLAS's xerbla
// print and return; netlib's reference xerbla stops the process, but no torch wheel links it.) The product uses both
// transposes, leading dimensions larger than the rows, alpha 2 and beta 1, and C's padding
// must come back untouched: a mismatch anywhere and the direct path is not used.
struct LP64Int {  // an integer argument followed by its sentinel
  int value;
  int sentinel = -1;
};

template <typename scalar_t, typename fn_t>
bool lp64_gemm_passes(fn_t gemm) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  // Column-major C[m,n] = 2 * A^T B^T + C with A stored [k,m] (lda k+1), B stored [n,k]
  // (ldb n+2), C [m,n] (ldc m+1): m 3, n 2, k 4.
  constexpr int m = 3, n = 2, k = 4, lda = k + 1, ldb = n + 2, ldc = m + 1;
  // A and B with room for either reading of their layout (a BLAS that got the transposes
  // wrong reads up to lda * k and ldb * n elements: numbers, never beyond the arrays)
  constexpr int a_len = lda * (m > k ? m : k), b_len = ldb * (k > n ? k : n);
  scalar_t a[a_len], b[b_len], c[ldc * n], want[ldc * n];
  for (int i = 0; i < a_len; ++i) a[i] = scalar_t(i < lda * m && i % lda < k ? (i * 7) % 5 - 2 : 99);
  for (int i = 0; i < b_len; ++i) b[i] = scalar_t(i < ldb * k && i % ldb < n ? (i * 3) % 7 - 3 : 99);
  for (int i = 0; i < ldc * n; ++i) c[i] = want[i] = scalar_t(i % ldc < m ? i - 4 : -77);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      scalar_t acc = 0;
      for (int l = 0; l < k; ++l) acc += a[i * lda + l] * b[l * ldb + j];  // A^T[i,l] B^T[l,j]
      want[j * ldc + i] += scalar_t(2) * acc;
    }
  const char ta = 'T', tb = 'T';
  const LP64Int M{m}, N{n}, K{k}, LDA{lda}, LDB{ldb}, LDC{ldc};
  const scalar_t alpha = 2, beta = 1;
  gemm(&ta, &tb, &M.value, &N.value, &K.value, &alpha, a, &LDA.value, b, &LDB.value, &beta, c,
       &LDC.value);
  return std::memcmp(c, want, sizeof(c)) == 0;  // small integers: exact in any order
#else
  (void)gemm;
  return false;  // the sentinel reads as a negative size only on little-endian machines
#endif
}

const TorchBlas& torch_blas() {
  static const TorchBlas blas = find_torch_blas();
  return blas;
}

// Whether torch's sgemm_ and dgemm_ (found) pass the self-test.
bool torch_blas_passes() {
  return lp64_gemm_passes<float>(torch_blas().sgemm) && lp64_gemm_passes<double>(torch_blas().dgemm);
}

// PYRL_CPU_BLAS=aten|direct|auto (unset: auto), read once: auto takes the direct path where
// torch's BLAS was found and passes the self-test, aten never does, direct insists (an op
// call fails, saying why, where it cannot).
struct BlasChoice {
  bool direct = false;
  std::string error;  // set where PYRL_CPU_BLAS is invalid or cannot be honoured
};

BlasChoice choose_blas() {
  BlasChoice choice;
  const char* env = std::getenv("PYRL_CPU_BLAS");
  const std::string asked = env == nullptr || *env == '\0' ? "auto" : env;
  if (asked != "auto" && asked != "aten" && asked != "direct") {
    choice.error = "PYRL_CPU_BLAS must be aten, direct or auto, got \"" + asked + "\"";
    return choice;
  }
  if (asked == "aten") return choice;
  std::string why;
  if (!torch_blas().found()) {
    why = "torch's BLAS (sgemm_/dgemm_) was not found in its CPU library";
  } else if (!torch_blas_passes()) {
    why = "torch's sgemm_/dgemm_ failed pyrl's 32-bit-integer self-test (an ILP64 or different BLAS?)";
  } else {
    choice.direct = true;
    return choice;
  }
  if (asked == "direct") {
    choice.error = "PYRL_CPU_BLAS=direct, but " + why;
  } else if (torch_blas().found()) {  // auto: say once why the products go through at::mm
    std::fprintf(stderr, "pyrl: %s; the CPU ops multiply through at::mm instead\n", why.c_str());
  }
  return choice;
}

const BlasChoice& blas_choice() {
  static const BlasChoice choice = choose_blas();
  return choice;
}

std::atomic<bool>& use_direct_blas() {
  static std::atomic<bool> use{blas_choice().direct};
  return use;
}

// torch's float32 matmul setting for the CPU (oneDNN's, which at::mm honours): bf16 or tf32
// allowed means float32 products go through at::mm, which applies it; the direct call
// would compute them in full precision.
bool float32_reduced_precision() {
  const at::Float32Precision p =
      at::globalContext().float32Precision(at::Float32Backend::MKLDNN, at::Float32Op::MATMUL);
  return p == at::Float32Precision::BF16 || p == at::Float32Precision::TF32;
}

inline void blas_gemm(char ta, char tb, int m, int n, int k, float alpha, const float* a, int lda,
                      const float* b, int ldb, float beta, float* c, int ldc) {
  torch_blas().sgemm(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}
inline void blas_gemm(char ta, char tb, int m, int n, int k, double alpha, const double* a,
                      int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  torch_blas().dgemm(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}

// A row-major [rows, cols] view with row stride ld of torch-owned memory (no copy, no owner).
template <typename scalar_t>
at::Tensor view_of(const scalar_t* p, int64_t rows, int64_t cols, int64_t ld) {
  return at::from_blob(const_cast<scalar_t*>(p), {rows, cols}, {ld, 1},
                       at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value));
}

}  // namespace

// Row-major C[M,N] = op(A) op(B) + beta * C, beta 0 (C is not read) or 1, where op
// transposes when asked: A is stored [M,K] (trans_a: [K,M]) with row stride lda, B [K,N]
// (trans_b: [N,K]) with ldb, C with ldc. The BLAS is column-major, where a row-major matrix
// reads as its transpose, so this is C^T = op(B)^T op(A)^T there. Sizes are positive and fit
// in int (check_inputs, check_blas_sizes).
template <typename scalar_t>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const scalar_t* A,
          int64_t lda, const scalar_t* B, int64_t ldb, scalar_t beta, scalar_t* C, int64_t ldc) {
  if (use_direct_blas().load(std::memory_order_relaxed) &&
      (!std::is_same_v<scalar_t, float> || !float32_reduced_precision())) {
    blas_gemm(trans_b ? 'T' : 'N', trans_a ? 'T' : 'N', static_cast<int>(N), static_cast<int>(M),
              static_cast<int>(K), scalar_t(1), B, static_cast<int>(ldb), A,
              static_cast<int>(lda), beta, C, static_cast<int>(ldc));
    return;
  }
  const at::Tensor a = trans_a ? view_of(A, K, M, lda).t() : view_of(A, M, K, lda);
  const at::Tensor b = trans_b ? view_of(B, N, K, ldb).t() : view_of(B, K, N, ldb);
  at::Tensor c = view_of(static_cast<const scalar_t*>(C), M, N, ldc);
  if (beta == scalar_t(0)) at::mm_out(c, a, b);
  else c.addmm_(a, b);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

namespace {

// The BLAS takes 32-bit sizes: the largest product dimension here is T*B rows.
void check_blas_sizes(const Dims& d) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  TORCH_CHECK(d.T * d.B <= kMax && 3 * d.H <= kMax && d.I <= kMax,
              "lngru: T*B, 3H and I must each be below 2^31 on the CPU, got T=", d.T, " B=", d.B,
              " I=", d.I, " H=", d.H);
}

// The instruction sets (cpu_isa.h): AVX2 + FMA and AVX where the CPU has them and the build
// could compile them (GCC or clang on x86-64). Tests switch sets to hold each to the reference.
CpuIsa best_cpu_isa() {
#if PYRL_X86_SETS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::kAvx2;
  if (__builtin_cpu_supports("avx")) return CpuIsa::kAvx;
#endif
  return CpuIsa::kDefault;
}

std::atomic<int>& isa_in_use() {
  static std::atomic<int> isa{static_cast<int>(best_cpu_isa())};
  return isa;
}

// The norm-GRU's row passes come in two sets: AVX2 + FMA, and the baseline (also under AVX).
template <typename scalar_t>
const lngru_cpu::Rows<scalar_t>& rows_for_this_cpu() {
  static const lngru_cpu::Rows<scalar_t> avx2 = lngru_cpu::cpu_avx2::rows<scalar_t>();
  static const lngru_cpu::Rows<scalar_t> baseline = lngru_cpu::cpu_default::rows<scalar_t>();
  return cpu_isa() == CpuIsa::kAvx2 ? avx2 : baseline;
}

}  // namespace

CpuIsa cpu_isa() { return static_cast<CpuIsa>(isa_in_use().load(std::memory_order_relaxed)); }

namespace {
constexpr const char* kIsaNames[] = {"default", "avx", "avx2"};
}  // namespace

std::vector<std::string> cpu_capabilities() {
  std::vector<std::string> names;
  for (int i = 0; i <= static_cast<int>(best_cpu_isa()); ++i) names.emplace_back(kIsaNames[i]);
  return names;
}

std::string cpu_capability() { return kIsaNames[static_cast<int>(cpu_isa())]; }

void set_cpu_capability(const std::string& name) {
  for (int i = 0; i < 3; ++i) {
    if (name != kIsaNames[i]) continue;
    TORCH_CHECK(i <= static_cast<int>(best_cpu_isa()), "cpu capability \"", name,
                "\" is not usable here (this CPU or this build); usable: ",
                c10::Join(", ", cpu_capabilities()));
    isa_in_use().store(i);
    return;
  }
  TORCH_CHECK(false, "cpu capability must be \"default\", \"avx\" or \"avx2\", got \"", name, "\"");
}

void check_blas_choice() {
  const BlasChoice& choice = blas_choice();
  TORCH_CHECK(choice.error.empty(), choice.error);
}

// "direct" means float64 products, and float32 ones unless torch allows reduced precision for
// CPU matmuls (then those go through at::mm, float32_reduced_precision()).
std::string lngru_cpu_blas() { return use_direct_blas().load() ? "direct" : "aten"; }

void set_lngru_cpu_blas(const std::string& name) {
  TORCH_CHECK(name == "direct" || name == "aten",
              "lngru: cpu blas must be \"direct\" or \"aten\", got \"", name, "\"");
  TORCH_CHECK(name == "aten" || torch_blas().found(),
              "lngru: torch's BLAS (sgemm_/dgemm_) was not found in its CPU library");
  TORCH_CHECK(name == "aten" || torch_blas_passes(),
              "lngru: torch's sgemm_/dgemm_ failed pyrl's 32-bit-integer self-test");
  use_direct_blas().store(name == "direct");
}

namespace {
// Naive column-major gemms with the BLAS signature, for testing the self-test itself: one
// reading 32-bit integers (passes), one reading 64-bit integers as an ILP64 BLAS would
// (refuses negative sizes like xerbla, so it must fail), one that ignores transposes.
template <typename I, bool honour_trans>
void naive_sgemm(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                 const float* alpha, const float* a, const int* lda, const float* b,
                 const int* ldb, const float* beta, float* c, const int* ldc) {
  auto read = [](const int* p) {  // an I at p, as a BLAS of that integer width reads it
    I v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  const I M = read(m), N = read(n), K = read(k), LDA = read(lda), LDB = read(ldb), LDC = read(ldc);
  if (M < 0 || N < 0 || K < 0 || LDA < 1 || LDB < 1 || LDC < 1) return;  // as xerbla would
  const bool tra = honour_trans && (*ta == 'T' || *ta == 't');
  const bool trb = honour_trans && (*tb == 'T' || *tb == 't');
  for (I j = 0; j < N; ++j)
    for (I i = 0; i < M; ++i) {
      float acc = 0;
      for (I l = 0; l < K; ++l)
        acc += (tra ? a[i * LDA + l] : a[l * LDA + i]) * (trb ? b[l * LDB + j] : b[j * LDB + l]);
      c[j * LDC + i] = *alpha * acc + (*beta == 0 ? 0.f : *beta * c[j * LDC + i]);
    }
}
}  // namespace

bool cpu_blas_self_test(const std::string& against) {
  if (against == "torch") {
    TORCH_CHECK(torch_blas().found(), "torch's BLAS (sgemm_/dgemm_) was not found");
    return torch_blas_passes();
  }
  if (against == "lp64") return lp64_gemm_passes<float>(&naive_sgemm<int, true>);
  if (against == "ilp64") return lp64_gemm_passes<float>(&naive_sgemm<int64_t, true>);
  if (against == "no-transpose") return lp64_gemm_passes<float>(&naive_sgemm<int, false>);
  TORCH_CHECK(false, "cpu_blas_self_test: against must be torch, lp64, ilp64 or no-transpose");
}

std::vector<at::Tensor> lngru_forward(
    const at::Tensor& x, const at::Tensor& h0, const at::Tensor& reset,
    const at::Tensor& weight_ih, const at::Tensor& weight_hh, const at::Tensor& bias_ih,
    const at::Tensor& bias_hh, const std::optional<at::Tensor>& gamma_ih,
    const std::optional<at::Tensor>& gamma_hh, double eps, const std::string& norm_name) {
  const Norm norm = lngru_checks::parse_norm(norm_name);
  const Dims d = check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh, &bias_ih, norm);
  check_blas_choice();
  TORCH_CHECK(x.device().is_cpu(), "lngru: the CPU op got tensors on ", x.device());
  TORCH_CHECK(eps > 0, "lngru: eps must be positive, got ", eps);
  check_blas_sizes(d);
  const int64_t T = d.T, B = d.B, H = d.H, G = 3 * d.H;
  const auto opt = x.options();
  at::Tensor xhat = at::empty({T, B, G}, opt);   // [T,B,3H]
  at::Tensor hhat = at::empty({T, B, G}, opt);   // [T,B,3H]
  at::Tensor out = at::empty({T, B, H}, opt);    // [T,B,H]
  at::Tensor rstd = at::empty({T, B, 2}, opt);   // [T,B,2] (x side, h side)
  at::Tensor gates = at::empty({T, B, G}, opt);  // [T,B,3H] r,z,n
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_forward", [&] {
    const bool gain = norm != Norm::kNone;
    const std::vector<scalar_t> zeros(H, scalar_t(0));
    const lngru_cpu::ForwardArgs<scalar_t> args{
        T, B, d.I, H, h0.data_ptr<scalar_t>(), reset.data_ptr<bool>(),
        bias_ih.data_ptr<scalar_t>(), bias_hh.data_ptr<scalar_t>(),
        gain ? gamma_ih->data_ptr<scalar_t>() : nullptr,
        gain ? gamma_hh->data_ptr<scalar_t>() : nullptr, zeros.data(), eps,
        xhat.data_ptr<scalar_t>(), hhat.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
        rstd.data_ptr<scalar_t>(), gates.data_ptr<scalar_t>()};
    const auto& rows = rows_for_this_cpu<scalar_t>();
    const scalar_t* w_hh = weight_hh.data_ptr<scalar_t>();
    // Input projection for all T steps in one product; normalised step by step below.
    gemm<scalar_t>(false, true, T * B, G, d.I, x.data_ptr<scalar_t>(), d.I,
                   weight_ih.data_ptr<scalar_t>(), d.I, 0, args.xhat, G);
    for (int64_t t = 0; t < T; ++t) {
      // h W_hh^T of the state before resets; the row pass replaces a reset row's product
      // by that of the zero state (zeros), so resets need no copy of the state.
      const scalar_t* hprev = t == 0 ? args.h0 : args.out + (t - 1) * B * H;  // [B,H]
      gemm<scalar_t>(false, true, B, G, H, hprev, H, w_hh, H, 0, args.hhat + t * B * G, G);
      at::parallel_for(0, B, row_grain(G), [&](int64_t b0, int64_t b1) {
        rows.forward(args, norm, t, b0, b1);
      });
    }
  });
  return {out, xhat, hhat, rstd, gates};
}

std::vector<at::Tensor> lngru_backward(
    const at::Tensor& grad_out_in, const at::Tensor& grad_hT_in, const at::Tensor& x,
    const at::Tensor& h0, const at::Tensor& reset, const at::Tensor& weight_ih,
    const at::Tensor& weight_hh, const at::Tensor& bias_hh,
    const std::optional<at::Tensor>& gamma_ih, const std::optional<at::Tensor>& gamma_hh,
    const at::Tensor& out, const at::Tensor& xhat, const at::Tensor& hhat,
    const at::Tensor& rstd, const at::Tensor& gates, const std::string& norm_name) {
  const Norm norm = lngru_checks::parse_norm(norm_name);
  const Dims d = check_inputs(x, h0, reset, weight_ih, weight_hh, bias_hh, gamma_ih, gamma_hh, nullptr, norm);
  check_blas_choice();
  TORCH_CHECK(x.device().is_cpu(), "lngru: the CPU op got tensors on ", x.device());
  check_blas_sizes(d);
  const int64_t T = d.T, B = d.B, H = d.H, G = 3 * d.H;
  const bool gain = norm != Norm::kNone;
  // Upstream gradients may be expanded zeros or other views: make them plain.
  const at::Tensor grad_out = grad_out_in.contiguous();
  check_arg(grad_out, "grad_out", {T, B, H}, x);
  check_arg(out, "out", {T, B, H}, x);
  check_arg(xhat, "xhat", {T, B, G}, x);
  check_arg(hhat, "hhat", {T, B, G}, x);
  check_arg(rstd, "rstd", {T, B, 2}, x);
  check_arg(gates, "gates", {T, B, G}, x);
  at::Tensor dh = grad_hT_in.contiguous().clone();  // [B,H] grad of the state leaving step t
  check_arg(dh, "grad_hT", {B, H}, x);

  const auto opt = x.options();
  at::Tensor hprev = at::empty({T, B, H}, opt);  // [T,B,H] state entering each step, resets applied
  at::Tensor da = at::empty({T, B, G}, opt);     // grad of a (input side, post gain+bias)
  at::Tensor dc = at::empty({T, B, G}, opt);     // grad of c (recurrent side)
  at::Tensor dhw = gain ? at::empty({T, B, G}, opt) : dc;  // grad of h W_hh^T
  at::Tensor dx = at::empty({T, B, d.I}, opt);
  at::Tensor dweight_ih = at::empty({G, d.I}, opt);
  at::Tensor dweight_hh = at::empty({G, H}, opt);
  at::Tensor dbias_ih = at::empty({G}, opt);
  at::Tensor dbias_hh = at::empty({G}, opt);
  at::Tensor dgamma_ih = at::empty({gain ? G : 0}, opt);
  at::Tensor dgamma_hh = at::empty({gain ? G : 0}, opt);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lngru_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    // The state entering each step: h0, then out[t-1]; a select zeroes the reset rows, so an
    // inf or NaN state a reset discards cannot reach the weight gradients (no h * 0).
    const bool* rst = reset.data_ptr<bool>();
    scalar_t* hp = hprev.data_ptr<scalar_t>();
    const scalar_t* h0p = h0.data_ptr<scalar_t>();
    const scalar_t* outp = out.data_ptr<scalar_t>();
    for (int64_t row = 0; row < T * B; ++row) {
      const scalar_t* src = row < B ? h0p + row * H : outp + (row - B) * H;
      if (rst[row]) std::fill(hp + row * H, hp + (row + 1) * H, scalar_t(0));
      else std::memcpy(hp + row * H, src, H * sizeof(scalar_t));
    }
    const std::vector<scalar_t> zeros(H, scalar_t(0));
    const lngru_cpu::BackwardArgs<scalar_t> args{
        T, B, d.I, H, grad_out.data_ptr<scalar_t>(), rst, bias_hh.data_ptr<scalar_t>(),
        gain ? gamma_ih->data_ptr<scalar_t>() : nullptr,
        gain ? gamma_hh->data_ptr<scalar_t>() : nullptr, xhat.data_ptr<scalar_t>(),
        hhat.data_ptr<scalar_t>(), rstd.data_ptr<scalar_t>(), gates.data_ptr<scalar_t>(), hp,
        zeros.data(), dh.data_ptr<scalar_t>(), da.data_ptr<scalar_t>(), dc.data_ptr<scalar_t>(),
        dhw.data_ptr<scalar_t>()};
    const auto& rows = rows_for_this_cpu<scalar_t>();
    const scalar_t* w_hh = weight_hh.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      at::parallel_for(0, B, row_grain(G), [&](int64_t b0, int64_t b1) {
        rows.backward(args, norm, t, b0, b1);
      });
      // dh <- z*dh + dhw[t] W_hh: the grad of the (reset) state entering step t.
      gemm<scalar_t>(false, false, B, H, G, args.dhw + t * B * G, G, w_hh, H, 1, args.dh, H);
    }
    // Nothing flows through a reset at step 0 into h0 (a select, as above).
    for (int64_t b = 0; b < B; ++b)
      if (rst[b]) std::fill(args.dh + b * H, args.dh + (b + 1) * H, scalar_t(0));

    // Off the recurrence: bias and gain gradients and the input-side norm backward, one pass
    // over all T*B rows, in blocks whose float sums are added into the totals (accurate
    // float sums without a second pass).
    constexpr int64_t kBlock = 64;
    std::vector<acc_t> total(4 * G, acc_t(0)), part(4 * G);  // db_ih, db_hh, dg_ih, dg_hh
    for (int64_t r0 = 0; r0 < T * B; r0 += kBlock) {
      std::fill(part.begin(), part.end(), acc_t(0));
      rows.backward_final(args, norm, r0, std::min(T * B, r0 + kBlock), part.data());
      for (int64_t k = 0; k < 4 * G; ++k) total[k] += part[k];
    }
    scalar_t* outs[4] = {dbias_ih.data_ptr<scalar_t>(), dbias_hh.data_ptr<scalar_t>(),
                         gain ? dgamma_ih.data_ptr<scalar_t>() : nullptr,
                         gain ? dgamma_hh.data_ptr<scalar_t>() : nullptr};
    for (int q = 0; q < (gain ? 4 : 2); ++q)
      for (int64_t k = 0; k < G; ++k) outs[q][k] = static_cast<scalar_t>(total[q * G + k]);
    // Input and weight gradients: large products over all T*B rows (da is now dxw).
    const scalar_t* w_ih = weight_ih.data_ptr<scalar_t>();
    gemm<scalar_t>(false, false, T * B, d.I, G, args.da, G, w_ih, d.I, 0,
                   dx.data_ptr<scalar_t>(), d.I);                               // dxw W_ih
    gemm<scalar_t>(true, false, G, d.I, T * B, args.da, G, x.data_ptr<scalar_t>(), d.I, 0,
                   dweight_ih.data_ptr<scalar_t>(), d.I);                       // dxw^T x
    gemm<scalar_t>(true, false, G, H, T * B, args.dhw, G, hp, H, 0,
                   dweight_hh.data_ptr<scalar_t>(), H);                         // dhw^T hprev
  });
  return {dx, dh, dweight_ih, dweight_hh, dbias_ih, dbias_hh, dgamma_ih, dgamma_hh};
}

}  // namespace pyrl
