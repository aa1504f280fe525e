"""The local profile's runtime: starting, checking and stopping the platform's services."""
