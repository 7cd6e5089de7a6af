"""riskflow tasks package."""
