"""Transfer evaluation: the comparison grid, statistics, reports (Markdown, HTML), robustness sweeps."""
