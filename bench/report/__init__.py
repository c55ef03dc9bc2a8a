"""Reports regenerated from a run folder (`results/<run>/`) alone: plots, junit.xml, report.pdf."""
from bench.report.junit import write_junit
from bench.report.render import RenderResult, render_all

__all__ = ["RenderResult", "render_all", "write_junit"]
