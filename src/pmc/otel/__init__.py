"""OpenTelemetry spans and metrics for the runtime (the ``event-sourcery-pmc[otel]`` extra).

``instrument()`` installs ``OpenTelemetry`` as the runtime's telemetry
(``pmc.runtime.telemetry``), with the application's global tracer and meter
providers unless others are given. docs/operations.md ("Metrics and traces")
lists every span, metric and attribute.
"""

from pmc.otel.instrument import (
    INSTRUMENTATION_NAME,
    OpenTelemetry,
    instrument,
    uninstrument,
)

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetry", "instrument", "uninstrument"]
