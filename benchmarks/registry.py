"""The benchmarks of the suite, in the order they run, and how each one's worker process is started."""

from __future__ import annotations

from dataclasses import dataclass, field

# One core, one thread: the simulator target is "frames/s on one core", and BLAS/OpenMP pools
# would otherwise spread numpy's matrix products over every core.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Spec:
    module: str
    title: str
    timeout_s: int  # a worker that runs longer is killed and recorded as an error
    env: dict[str, str] = field(default_factory=dict)


BENCHMARKS: dict[str, Spec] = {
    "startup": Spec("benchmarks.startup", "CLI start-up", 1800),
    "evaluation": Spec("benchmarks.evaluation", "COCO evaluation", 1800),
    "harness": Spec("benchmarks.harness", "harness overhead and resume", 1800),
    "generation": Spec("benchmarks.generation", "generation reuse", 900),
    "scheduling": Spec("benchmarks.scheduling", "worker utilisation: dependency vs stage scheduling", 600),
    "simulator": Spec("benchmarks.simulator", "physics simulator throughput", 900, ONE_THREAD),
    "models": Spec("benchmarks.models", "plugin throughput (tiny configs, CPU)", 1200),
    "fidelity": Spec("benchmarks.fidelity", "benchbench yolo vs plain ultralytics on real frames", 5400),
    "quickstart": Spec("benchmarks.quickstart", "the make-demo budget (10 min on 2 CPUs)", 2400),
}
