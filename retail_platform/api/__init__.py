"""The real-time inventory API: reads the serving views, writes inventory_update events to Kafka."""
