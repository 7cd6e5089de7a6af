"""riskflow webui package."""
