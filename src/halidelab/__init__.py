"""halidelab: design, predict and measure halide solid-state electrolytes."""

__version__ = "0.1.0"
