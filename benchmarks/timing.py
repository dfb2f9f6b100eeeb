"""What every benchmark shares: its timing loops and a line describing the machine."""

import os
import platform
import statistics
import time


def seconds_per_step(step, warmup_steps, steps):
    """Mean wall time of `step()` over `steps` calls, after `warmup_steps` calls."""
    for _ in range(warmup_steps):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def median_ms(call, warmup_calls, calls):
    """Median wall time of `call()` in milliseconds, after `warmup_calls` calls."""
    for _ in range(warmup_calls):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def describe_machine(*modules):
    """`Machine: <cpu>, N CPUs, <platform>; Python x, <module> <version>, ...`."""
    versions = ", ".join(f"{module.__name__} {module.__version__}" for module in modules)
    processor = platform.processor() or platform.machine()
    return (
        f"Machine: {processor}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"Python {platform.python_version()}, {versions}"
    )
