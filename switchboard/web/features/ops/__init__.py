"""Operations: liveness, Prometheus metrics and the OpenAPI document."""
