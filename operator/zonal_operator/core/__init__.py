"""The pure core: every decision the operator takes, as functions of plain values. No kopf, no
API client, no asyncio, no I/O, no module-level mutable state (see docs/architecture.md)."""
