#!/usr/bin/env bash
# The GPU acceptance check, one script, under 8 minutes on one GPU (an H100/H200-class card):
#
#   benchmarks/gpu_check.sh DATA_DIR          # DATA_DIR holds MNIST/raw/*.gz and cats_and_dogs_small/
#   benchmarks/gpu_check.sh DATA_DIR --cpu    # the same sections with tiny settings on the CPU: the script runs
#
# 1. the precision litzoo chose and the dtype the forward pass actually ran in;
# 2. experiment=mnist_convnet (5 epochs): test accuracy and wall time;
# 3. experiment=mnist_fast: wall time and whether it reached test accuracy >= 0.99;
# 4. benchmarks/bench_overhead.py on the device (plain loop with and without Lightning's NVML check, bare
#    Lightning, litzoo per step);
# 5. training images/s of cats_dogs_small_convnet with DLwP's augmentation running on the device;
# 6. a 2-GPU DDP run when two GPUs are present (with --cpu: 2 gloo processes).
# It installs nothing: run it from the repository root with the project's environment (`make test` builds
# .venv; PYTHON=... picks another interpreter with litzoo installed). Runs go to a temporary folder.
set -euo pipefail

DATA=${1:?usage: benchmarks/gpu_check.sh DATA_DIR [--cpu]}
DATA=$(cd "$DATA" && pwd)
CPU=${2:-}
PY=${PYTHON:-.venv/bin/python}
OUT=$(mktemp -d -t litzoo-gpu-check-XXXX)
START=$SECONDS
export LITZOO_DATA=$DATA

if [[ $CPU == --cpu ]]; then
    DEVICE=(trainer.accelerator=cpu)
    # tiny: enough to show every section runs, not to train anything
    TINY=(+trainer.limit_train_batches=20 +trainer.limit_val_batches=4 +trainer.limit_test_batches=4
          trainer.max_epochs=1)
    PICTURES=(callbacks.conv_visualizer.filters=4 callbacks.conv_visualizer.steps=5)
    BENCH=(--cpu --steps 100 --reps 1)
else
    DEVICE=(trainer.accelerator=gpu)
    TINY=()
    PICTURES=()
    BENCH=(--device cuda)
fi

section() { printf '\n=== %s (%ds so far)\n' "$1" $((SECONDS - START)); }

# litzoo-train with the data folder and a run folder under $OUT; prints the lines of results.json asked for
train() {
    local name=$1; shift
    "$PY" -m litzoo.cli.train "paths.data_dir=$DATA" data.download=false "paths.root_dir=$OUT" \
        "hydra.run.dir=$OUT/$name" "${DEVICE[@]}" "$@" > "$OUT/$name.log" 2>&1 \
        || { tail -n 30 "$OUT/$name.log"; return 1; }
    "$PY" - "$OUT/$name/results.json" "$name" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["metrics"]
acc = m.get("test/acc")
print(f"{sys.argv[2]} (experiment {r['name']}): status {r['status']}, {r['epochs']} epochs, {r['global_step']} steps, precision {r['precision']}, "
      f"test acc {acc:.4f}, wall {r['wall_seconds']:.1f}s (run record, start to end)"
      + ("" if r["name"] != "mnist_fast" else f"; reaches 0.99: {'yes' if acc >= 0.99 else 'NO'}"))
EOF
}

section "hardware"
"$PY" - <<'EOF'
import os, torch
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(f"CPU {cpu}, {os.cpu_count()} cores; GPUs: {', '.join(gpus) or 'none'}; torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}")
EOF

section "1. precision and the dtype of the forward pass"
"$PY" - "$OUT" "${DEVICE[@]}" <<'EOF'
import sys
import torch
from litzoo.run.compose import compose_config
from litzoo.run.build import build

out, device = sys.argv[1], sys.argv[2:]
cfg = compose_config(["experiment=mnist_convnet", "data.download=false", f"paths.root_dir={out}",
                      f"paths.output_dir={out}/precision", "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
                      "+trainer.limit_val_batches=1", "callbacks=minimal", "logger=none", *device])
datamodule, task, trainer = build(cfg)
seen = {}


def record(name):
    def hook(module, inputs, output):  # returns None: the output is left as it is
        seen.setdefault(name, (inputs[0].dtype, output.dtype))
    return hook


conv = next(m for m in task.net.modules() if isinstance(m, torch.nn.Conv2d))
conv.register_forward_hook(record("conv"))
task.net.register_forward_hook(record("output"))
trainer.fit(task, datamodule=datamodule)
print(f"precision chosen: {trainer.precision} (config trainer.precision={cfg.trainer.precision}, null = litzoo's "
      f"choice); first Conv2D ran {seen['conv'][0]} -> {seen['conv'][1]}, the network's output "
      f"{seen['output'][1]}; weights {conv.weight.dtype} on {conv.weight.device}; "
      f"optimizer step: {'direct' if task._direct else 'through Lightning'} (task.optimization={task.optimization})")
EOF

section "2. mnist_convnet, 5 epochs"
train mnist_convnet experiment=mnist_convnet "${TINY[@]}" "${PICTURES[@]}"

section "3. mnist_fast"
train mnist_fast experiment=mnist_fast "${TINY[@]}" "${PICTURES[@]}"

section "4. per-step overhead: plain loop, bare Lightning, litzoo"
"$PY" benchmarks/bench_overhead.py --data-dir "$DATA" "${BENCH[@]}" 2>&1 \
    | grep -E '^(hardware|data|rep [0-9]|µs|  (plain loop|plain, no NVML|bare Lightning|litzoo) |  {10,}wall)'

section "5. cats_dogs_small_convnet with augmentation=dlwp on the device: training images/s"
"$PY" - "$OUT" "${DEVICE[@]}" "${TINY[@]}" <<'EOF'
import sys, time
import pytorch_lightning as pl
import torch
from litzoo.run.compose import compose_config
from litzoo.run.build import build


class Throughput(pl.Callback):
    """Training images/s of the last epoch, first to last batch (the first epoch warms the device up)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.images, self.start = 0, time.perf_counter()
        self.images += len(batch[0])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == trainer.num_training_batches - 1:  # one wait for the device, at the epoch's end
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self.start


out, overrides = sys.argv[1], sys.argv[2:]
epochs = [] if any(o.startswith("trainer.max_epochs") for o in overrides) else ["trainer.max_epochs=2"]
cfg = compose_config(["experiment=cats_dogs_small_convnet", "augmentation=dlwp", f"paths.root_dir={out}",
                      f"paths.output_dir={out}/cats_dogs", "callbacks=minimal", "logger=none", *epochs, *overrides])
datamodule, task, trainer = build(cfg)
meter = Throughput()
trainer.callbacks.append(meter)
trainer.fit(task, datamodule=datamodule)
x = datamodule.datasets["train"].tensors[0]
print(f"cats_dogs_small_convnet + augmentation=dlwp: {meter.images / meter.seconds:.0f} training images/s "
      f"(last epoch, {meter.images} images, batch {cfg.data.batch_size}, precision {trainer.precision}); "
      f"the images live on {x.device} as {x.dtype}, augmented there")
EOF

section "6. DDP"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [[ $CPU == --cpu ]]; then
    train ddp experiment=mnist_convnet trainer=ddp trainer.devices=2 "${TINY[@]}" "${PICTURES[@]}"
elif (( GPUS >= 2 )); then
    train ddp experiment=mnist_convnet trainer=ddp trainer.devices=2 trainer.max_epochs=1
else
    echo "skipped: $GPUS GPU(s) here, DDP needs 2"
fi

section "done"
echo "runs and logs in $OUT"
