#!/usr/bin/env bash
# Everything that needs a GPU, in stages that each fit one 10-minute call of a lent GPU machine.
#
#   bash tests/benchmarks/gpu_session.sh ops        # build CUDA kernels, CUDA correctness tests (filtered_lrelu
#                                                   # included), bench_ops on CUDA (+ --flrelu rows)
#   bash tests/benchmarks/gpu_session.sh stylegan   # StyleGAN2 256 s/kimg (eager variants) + generation img/s, engine tests
#   bash tests/benchmarks/gpu_session.sh compile    # StyleGAN2 256 s/kimg with torch.compile and CUDA graphs (compiling
#                                                   # takes minutes per variant, hence a stage of its own)
#   bash tests/benchmarks/gpu_session.sh metrics    # FID throughput vs pytorch-fid on CUDA (wheels/ holds pytorch-fid)
#   bash tests/benchmarks/gpu_session.sh stylegan3  # StyleGAN3 -t/-r 256 training s/kimg (native vs reference ops),
#                                                   # generation img/s, filtered_lrelu CUDA correctness
#   bash tests/benchmarks/gpu_session.sh sr         # x4 upscale (RealESRGAN_x4plus shape) and the esrgan-x4 step on CUDA
#   bash tests/benchmarks/gpu_session.sh translate  # translate 256 px (unet_256, resnet_9blocks) and the CycleGAN step at
#                                                   # 256 px on CUDA; REF=<pytorch-CycleGAN-and-pix2pix checkout> adds
#                                                   # the reference code's side (it needs `pip install dominate`)
#
# Runs the checkout without installing it (PYTHONPATH), so the GPU image's own torch is used. Every command's output
# goes to $OUT/<stage>-<step>.txt (OUT defaults to ./gpu-results) and to the terminal; a failing step is reported and
# the stage goes on, so one call yields every number it can.
set -u
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export GANCTL_CACHE=${GANCTL_CACHE:-$PWD/.gpu-cache}
stage=${1:-ops}
PY=${PYTHON:-python3}

step() {  # step NAME COMMAND...: run, tee to $OUT, record the exit status
  local name=$1
  shift
  echo "== $stage/$name: $*" | tee -a "$OUT/summary.txt"
  local t0=$SECONDS
  "$@" > >(tee "$OUT/$stage-$name.txt") 2>&1
  local rc=$?
  echo "== $stage/$name: exit $rc in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
}

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>&1
  $PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  command -v nvcc && nvcc --version | tail -1
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

case "$stage" in
  ops)
    step build $PY -m ganctl ops build --verbose
    step doctor $PY -m ganctl doctor
    step test-cuda $PY -m pytest -q -p no:cacheprovider tests/ops/test_cuda.py tests/ops/test_native_cpu.py
    step bench-ops $PY tests/benchmarks/bench_ops.py --device cuda --reps 20
    # The fused filtered_lrelu kernel (fp32 and fp16) on the stylegan3 256 layers, vs composed native and reference.
    step bench-flrelu $PY tests/benchmarks/bench_ops.py --device cuda --reps 20 --flrelu
    # Shared-memory races and out-of-bounds accesses, which the CPU emulation cannot see (Firecracker machines only).
    if command -v compute-sanitizer > /dev/null; then
      step racecheck compute-sanitizer --tool racecheck --error-exitcode 1 $PY -m pytest -q -x -p no:cacheprovider \
        tests/ops/test_cuda.py -k "upfirdn2d or filtered_lrelu"
      step memcheck compute-sanitizer --tool memcheck --error-exitcode 1 $PY -m pytest -q -x -p no:cacheprovider \
        tests/ops/test_cuda.py
    fi
    ;;
  stylegan)
    $PY -m ganctl ops build > "$OUT/stylegan-build.txt" 2>&1
    step bench-256 $PY tests/benchmarks/bench_stylegan2.py --config 256 --device cuda --iters 10 \
      --variants "${VARIANTS:-eager,eager-ref,channels-last}"
    step bench-sample $PY tests/benchmarks/bench_sample.py --res 1024 --n 64
    # Projector s/step at 256 px on CUDA (ganctl only: NVlabs' code is not on the GPU machine; unmeasured so far).
    step bench-project $PY tests/benchmarks/bench_project.py --config 256 --device cuda --short 5 --long 25 --batch 8
    step test-engine $PY -m pytest -q -p no:cacheprovider -m "gpu" tests/engine tests/models tests/metrics
    ;;
  compile)
    $PY -m ganctl ops build > "$OUT/compile-build.txt" 2>&1
    step bench-256 $PY tests/benchmarks/bench_stylegan2.py --config 256 --device cuda --iters 10 \
      --variants "${VARIANTS:-eager,compile,cudagraphs}"
    ;;
  stylegan3)
    $PY -m ganctl ops build > "$OUT/stylegan3-build.txt" 2>&1
    step test-ops $PY -m pytest -q -p no:cacheprovider tests/ops/test_filtered_lrelu.py
    step bench-t-256 $PY tests/benchmarks/bench_stylegan2.py --config sg3-t-256 --device cuda --iters 5 \
      --variants "${VARIANTS:-eager,eager-ref}"
    step bench-r-256 $PY tests/benchmarks/bench_stylegan2.py --config sg3-r-256 --device cuda --iters 5 \
      --variants "${VARIANTS:-eager}"
    step test-models $PY -m pytest -q -p no:cacheprovider tests/models/test_stylegan3.py tests/interop/test_nvlabs_sg3_pickle.py
    ;;
  metrics)
    if ls wheels/*.whl > /dev/null 2>&1; then $PY -m pip install -q --no-deps wheels/*.whl; fi
    step bench-fid $PY tests/benchmarks/bench_fid.py --device cuda --n 2000 --size 256 --workers 8
    ;;
  sr)
    # Real-ESRGAN / BasicSR baselines when $REALESRGAN_DIR and $BASICSR_DIR name local copies (+ opencv), else ganctl only
    step bench-sr $PY tests/benchmarks/bench_sr.py --device cuda --threads 8 --size 256 --n 16 --num-block 23 --tile 128 \
      --train-block 23 --batch 16 --steps 10
    step test-sr $PY -m pytest -q -p no:cacheprovider tests/engine/test_image_family.py tests/sampling/test_upscale.py
    ;;
  translate)
    # ganctl only unless REF names a reference checkout (the GPU machine has none of its own); a few minutes in all
    step bench-translate $PY tests/benchmarks/bench_translate.py ${REF:-} --device cuda --n 64 --size 256 --threads 4 \
      --skip train
    step bench-cyclegan-step $PY tests/benchmarks/bench_translate.py ${REF:-} --device cuda --train-size 256 --steps 20 \
      --threads 4 --skip translate
    step test-translate $PY -m pytest -q -p no:cacheprovider tests/interop/test_pix2pix_parity.py \
      tests/interop/test_pix2pix_reference.py
    ;;
  *)
    echo "unknown stage '$stage': use ops, stylegan, compile, metrics, stylegan3, sr or translate" >&2
    exit 2
    ;;
esac
echo "results in $OUT"
