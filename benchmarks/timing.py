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
    return median_ms_in_turns({"call": call}, warmup_calls, calls, calls)["call"]


def median_ms_in_turns(calls, warmup_calls, timed_calls, block):
    """Median wall time of each of `calls` (`{name: call}`) in milliseconds, timed in turns.

    Each call gets `warmup_calls` untimed calls, then `timed_calls` timed ones in blocks of
    `block`, the calls taking turns block by block: a shared machine's drift reaches every call
    alike, and within a block a call follows itself, its weights in cache, as in a server that
    serves one model.
    """
    times = seconds_in_turns(calls, warmup_calls, timed_calls, block)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def seconds_in_turns(calls, warmup_calls, timed_calls, block):
    """`{name: [seconds of each timed call]}` of `calls`, timed as `median_ms_in_turns` times them."""
    for call in calls.values():
        for _ in range(warmup_calls):
            call()
    times = {name: [] for name in calls}
    for done in range(0, timed_calls, block):
        for name, call in calls.items():
            for _ in range(min(block, timed_calls - done)):
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    return times


def describe_machine(*modules):
    """`Machine: <cpu>, N CPUs, <platform>; Python x, <module> <version>, ...`."""
    versions = ", ".join(f"{module.__name__} {module.__version__}" for module in modules)
    processor = platform.processor() or platform.machine()
    return (
        f"Machine: {processor}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"Python {platform.python_version()}, {versions}"
    )
