// Host emulation of the small CUDA subset that ganctl's kernels use, so that the SAME .cu sources compile with a
// plain C++ compiler (g++ -x c++) and run on the CPU. It exists for testing: this project's CI machines have no GPU,
// and without it the CUDA kernels would only ever be compiled, never run, until a GPU session.
//
// Owns: the CUDA keywords (__global__, __device__, __shared__, __launch_bounds__), the thread-position builtins
// (threadIdx, blockIdx, blockDim, gridDim), __syncthreads, atomicOr, dynamic shared memory, the kernel launch and the
// GANCTL_EMU_CHECK invariants (cuda_types.cuh) that kernels assert only under emulation.
//
// Execution model: a launch runs its blocks one after another; each block runs on blockDim real std::threads (a
// process-wide pool, reused for every block and launch), so missing __syncthreads show up as races, not as
// silently sequential code. Because only one block runs at a time, `__shared__` becomes `static`: a function-local
// static is exactly one block's shared storage (launches are serialised by a process-wide mutex). Dynamic shared
// memory is a per-launch buffer refilled with 0xFF bytes (NaN for every float type) before each block, so a kernel
// that reads shared memory it never wrote gives NaN instead of a plausible stale value (static __shared__ arrays
// keep the previous block's values: kernels guard their indices with GANCTL_EMU_CHECK instead).
//
// Checked like a real launch would be: block size <= 1024 threads, grid.y/z <= 65535, dynamic shared memory
// <= 48 KiB (the default limit without opting in); a failed check sets the error that GANCTL_LAST_ERROR() returns
// and runs nothing. Divergent __syncthreads (threads of a block calling it a different number of times - a hang
// or undefined behaviour on a GPU) are reported as cudaErrorLaunchFailure instead of hanging.
//
// Include it only through cuda_types.cuh, after cuda_fp16.h / cuda_bf16.h (their host code needs the original
// attribute macros), and only when __CUDACC__ is not defined.
#pragma once

#if defined(__CUDACC__)
#error "cuda_emulation.h is the host emulation of CUDA; nvcc compiles the kernels natively"
#endif

#include <cuda_runtime_api.h>  // cudaError_t, cudaStream_t (types only: nothing here calls the runtime)
#include <vector_types.h>      // dim3, uint3, float4 (host-usable structs)

#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

// CUDA's host_defines.h maps these to GNU attributes that g++ ignores (with a warning); `__shared__` must instead
// make one object per block (see above).
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(...)

// `#pragma unroll` is nvcc's; g++ would warn about every one of them.
#pragma GCC diagnostic ignored "-Wunknown-pragmas"

// Thread-position builtins: thread_local, set by the launcher for each emulated thread.
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace ganctl {
namespace emu {

// A block's __syncthreads barrier. Unlike std::barrier it lets a thread that has returned from the kernel leave
// (drop) without deadlocking the others, so a divergence bug becomes a reported error rather than a hang.
class BlockBarrier {
 public:
  void reset(int n) {
    std::lock_guard<std::mutex> l(m_);
    expected_ = n;
    arrived_ = 0;
  }
  void arrive_and_wait() {
    std::unique_lock<std::mutex> l(m_);
    const uint64_t gen = gen_;
    if (++arrived_ >= expected_) {
      release();
    } else {
      cv_.wait(l, [&] { return gen_ != gen; });
    }
  }
  void drop() {
    std::lock_guard<std::mutex> l(m_);
    --expected_;
    if (arrived_ > 0 && arrived_ >= expected_) release();
  }

 private:
  void release() {
    arrived_ = 0;
    ++gen_;
    cv_.notify_all();
  }
  std::mutex m_;
  std::condition_variable cv_;
  int expected_ = 0, arrived_ = 0;
  uint64_t gen_ = 0;
};

struct BlockContext {
  BlockBarrier barrier;
  unsigned char* dynamic_smem = nullptr;
  std::vector<int> syncs;  // __syncthreads calls per thread in the current block
};

inline thread_local BlockContext* tl_block = nullptr;
inline thread_local int tl_thread = 0;

// The error of the last failed launch (atomic: GANCTL_EMU_CHECK may set it from any emulated thread).
inline std::atomic<int>& last_error_code() {
  static std::atomic<int> e{cudaSuccess};
  return e;
}

inline void set_error(cudaError_t e) { last_error_code().store(int(e)); }

// Like cudaGetLastError: returns the error of the last failed launch and clears it.
inline cudaError_t take_last_error() { return cudaError_t(last_error_code().exchange(int(cudaSuccess))); }

inline void check(bool ok) {
  if (!ok) set_error(cudaErrorAssert);
}

inline unsigned char* dynamic_smem() { return tl_block->dynamic_smem; }

inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

constexpr size_t kMaxDynamicSmem = 48 * 1024;

// Worker threads kept for the whole process (creating 256 threads per launch dominated the test time): run(n, f)
// calls f(0) .. f(n - 1) on n distinct threads at once and returns when all have finished. Never destroyed: the
// idle workers simply end with the process.
class ThreadPool {
 public:
  static ThreadPool& get() {
    static ThreadPool* pool = new ThreadPool;
    return *pool;
  }
  template <typename F>
  void run(int n, F& f) {
    std::unique_lock<std::mutex> l(m_);
    while ((int)workers_.size() < n) {
      const int id = (int)workers_.size();
      workers_.emplace_back([this, id] { loop(id); }).detach();
    }
    job_ = [&f](int t) { f(t); };
    job_n_ = n;
    remaining_ = n;
    ++job_gen_;
    job_cv_.notify_all();
    done_cv_.wait(l, [&] { return remaining_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop(int id) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      job_cv_.wait(l, [&] { return job_gen_ != seen; });
      seen = job_gen_;
      if (id >= job_n_) continue;
      l.unlock();
      job_(id);
      l.lock();
      if (--remaining_ == 0) done_cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable job_cv_, done_cv_;
  std::vector<std::thread> workers_;
  std::function<void(int)> job_;
  int job_n_ = 0, remaining_ = 0;
  uint64_t job_gen_ = 0;
};

template <typename... P>
class Launch {
 public:
  Launch(dim3 grid, dim3 block, size_t smem, void (*kernel)(P...))
      : grid_(grid), block_(block), smem_(smem), kernel_(kernel) {}

  template <typename... A>
  void operator()(A&&... args) const {
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);  // converted once, like kernel arguments
    const uint64_t nthreads = uint64_t(block_.x) * block_.y * block_.z;
    if (nthreads == 0 || nthreads > 1024 || block_.z > 64 || grid_.x == 0 || grid_.y == 0 || grid_.z == 0 ||
        grid_.y > 65535 || grid_.z > 65535 || uint64_t(grid_.x) > 0x7fffffffULL) {
      set_error(cudaErrorInvalidConfiguration);
      return;
    }
    if (smem_ > kMaxDynamicSmem) {
      set_error(cudaErrorInvalidValue);
      return;
    }
    std::lock_guard<std::mutex> serial(launch_mutex());
    const int n = int(nthreads);
    const uint64_t nblocks = uint64_t(grid_.x) * grid_.y * grid_.z;
    BlockContext ctx;
    std::unique_ptr<unsigned char[]> smem(new unsigned char[smem_ + 16]);
    ctx.dynamic_smem = smem.get();
    ctx.syncs.assign(n, 0);
    bool divergent = false;
    auto start_block = [&]() noexcept {
      ctx.barrier.reset(n);
      std::memset(ctx.dynamic_smem, 0xFF, smem_ + 16);
      for (int& s : ctx.syncs) s = 0;
    };
    auto end_block = [&]() noexcept {
      for (int s : ctx.syncs) divergent |= s != ctx.syncs[0];
      start_block();  // prepares the next block while every thread waits at `done`
    };
    start_block();
    std::barrier done(n, end_block);
    auto body = [&](int t) {
      tl_block = &ctx;
      tl_thread = t;
      blockDim = block_;
      gridDim = grid_;
      threadIdx = uint3{unsigned(t % block_.x), unsigned(t / block_.x % block_.y), unsigned(t / (block_.x * block_.y))};
      for (uint64_t b = 0; b < nblocks; ++b) {
        blockIdx = uint3{unsigned(b % grid_.x), unsigned(b / grid_.x % grid_.y),
                         unsigned(b / (uint64_t(grid_.x) * grid_.y))};
        std::apply(kernel_, params);
        ctx.barrier.drop();
        done.arrive_and_wait();
      }
      tl_block = nullptr;
    };
    ThreadPool::get().run(n, body);
    if (divergent) set_error(cudaErrorLaunchFailure);
  }

 private:
  dim3 grid_, block_;
  size_t smem_;
  void (*kernel_)(P...);
};

template <typename... P>
Launch<P...> make_launch(dim3 grid, dim3 block, size_t smem, void (*kernel)(P...)) {
  return Launch<P...>(grid, block, smem, kernel);
}

}  // namespace emu
}  // namespace ganctl

inline void __syncthreads() {
  ganctl::emu::BlockContext* b = ganctl::emu::tl_block;
  ++b->syncs[ganctl::emu::tl_thread];
  b->barrier.arrive_and_wait();
}

// atomicOr on a 32-bit word (filtered_lrelu's packed mask): emulated threads run concurrently, so a real atomic.
inline unsigned int atomicOr(unsigned int* address, unsigned int val) {
  return std::atomic_ref<unsigned int>(*address).fetch_or(val);
}
