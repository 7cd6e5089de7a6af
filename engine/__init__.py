"""riskflow engine package."""
