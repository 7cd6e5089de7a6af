"""riskflow casework package."""
