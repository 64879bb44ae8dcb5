"""Day simulation and the service-level report (HAL-03, HAL-05)."""
