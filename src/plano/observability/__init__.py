"""Observability: tracing, metrics, access logs and overhead accounting.

Feature code never calls OpenTelemetry or prometheus-client directly: handlers fill a
`RequestRecord` with timestamps and facts, and `Telemetry` turns finished records into spans,
metric samples and access-log lines. Importable from L3 up; imports only L0 and its libraries.
"""
