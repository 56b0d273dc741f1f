"""Test hooks shared by the torch modules of the workload (stdlib only).

test_pipeline_logic.py runs the pipeline on CPU tensors with fake CUDA
events and streams (the control flow, buffer reuse, NVTX nesting and
bookkeeping are device-independent): it sets DEVICE_TYPE "cpu" and
PIN_MEMORY False here, and every module reads them at call time.
"""

DEVICE_TYPE = "cuda"
PIN_MEMORY = True


class WorkloadError(RuntimeError):
    """WorkloadError is a run that cannot give honest numbers (the message
    says why); it is not a bug."""

    plain = True
