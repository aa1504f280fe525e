"""The Kafka topic contract: names, partition counts and retention.

Events are keyed by store_id so one store's events stay ordered within a partition.

Every topic stamps its records with the broker's clock (``message.timestamp.type=LogAppendTime``): a
record's Kafka timestamp is when the platform received it, whatever the producer's clock says. The
stream takes it as the record's arrival (deduplication watermark, event-time bounds) and retention
counts from it, so a producer with a wrong clock or a replayed old timestamp cannot make an event look
late, early or expired. Topic configs are reconciled on every ``up``, existing topics included.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int = SEVEN_DAYS_MS

    @property
    def configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "message.timestamp.type": "LogAppendTime"}


SALES = Topic("retail-sales-transactions", 3)
INVENTORY = Topic("retail-inventory-updates", 3)
PRICES = Topic("retail-price-changes", 2)
RESTOCK_ALERTS = Topic("retail-restock-alerts", 1)
PURCHASE_ORDERS = Topic("retail-purchase-orders", 3)
DEAD_LETTER = Topic("retail-dead-letter", 1)
# Stock anomalies the stream detected: one message per episode (retail_platform/streaming/anomalies.py).
ANOMALY_ALERTS = Topic("retail-anomaly-alerts", 1)

ALL_TOPICS: tuple[Topic, ...] = (
    SALES,
    INVENTORY,
    PRICES,
    RESTOCK_ALERTS,
    PURCHASE_ORDERS,
    DEAD_LETTER,
    ANOMALY_ALERTS,
)
