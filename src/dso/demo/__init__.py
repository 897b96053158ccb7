"""The end-to-end demo: built-in model + built-in world -> label -> DRO/DPO/SFT -> evaluation."""

from dso.demo.config import DemoConfig
from dso.demo.pipeline import run_demo

__all__ = ["DemoConfig", "run_demo"]
