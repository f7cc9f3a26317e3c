"""The register hooks of the core's built-in plugins (import strings: nothing loads until a run needs it)."""

from benchbench.hookspecs import hookimpl


@hookimpl
def benchbench_register_datasets(register):
    register("simulated", "benchbench.data.simulate:SimulatedDataset")
    register("flyd", "benchbench.data.flyd:FlydDataset")


@hookimpl
def benchbench_register_generators(register):
    register("physics", "benchbench.builtins.physics:PhysicsGenerator", uses_guidance=False, gives_boxes=True)


@hookimpl
def benchbench_register_detectors(register):
    register("classic", "benchbench.builtins.classic:ClassicDetector")


@hookimpl
def benchbench_register_executors(register):
    # options: the model `-x KEY=VALUE` and the matrix's executor mapping are checked against
    register("local", "benchbench.executors.local:LocalExecutor", options="benchbench.executors.local:LocalOptions")
    register("ray", "benchbench.executors.ray:RayExecutor", extra="ray", options="benchbench.executors.ray:RayOptions")
    register("submitit", "benchbench.executors.submitit:SubmititExecutor", extra="slurm",
             options="benchbench.executors.submitit:SubmititOptions")


@hookimpl
def benchbench_register_feature_extractors(register):
    register("physics", "benchbench.analysis.genscore.features:PhysicsDescriptor")
    register("cnn", "benchbench.analysis.genscore.cnn:CrackCNN", extra="torch")
    register("inception", "benchbench.analysis.genscore.pretrained:InceptionExtractor", extra="torch")
    register("dinov2", "benchbench.analysis.genscore.pretrained:Dinov2Extractor", extra="torch")
