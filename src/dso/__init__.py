"""dso: Direct Simulation Optimization for image-to-3D generators."""

__version__ = "0.1.0"
